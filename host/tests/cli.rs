//! The `mote` binary end to end: train → quantize → inspect → run, and bad input.

use mote_host::data::Catalog;
use mote_host::model::quantize::Scheme;
use mote_host::nn::Mlp;
use mote_host::nn::train::{TrainConfig, train_mlp};

fn small_digits_mlp() -> Mlp {
    let (train, _) = Catalog::default().load("digits").expect("bundled digits");
    let cfg = TrainConfig {
        hidden: vec![16],
        epochs: 3,
        batch_size: 64,
        lr: 3e-3,
        seed: 1,
        progress: false,
    };
    train_mlp(&cfg, &train).expect("trains")
}

#[test]
fn cli_quantize_inspect_run_round_trip() {
    let mlp = &small_digits_mlp();
    let dir = tempfile::tempdir().expect("tempdir");
    let st = dir.path().join("m.safetensors");
    mlp.save(&st).expect("saves");
    let mote = env!("CARGO_BIN_EXE_mote");
    for scheme in Scheme::ALL {
        let out = dir.path().join(format!("m-{}.mote", scheme.name()));
        let status = std::process::Command::new(mote)
            .args([
                "quantize",
                st.to_str().expect("utf-8"),
                "--scheme",
                scheme.name(),
                "--calib",
                "digits",
                "-o",
            ])
            .arg(&out)
            .status()
            .expect("runs mote");
        assert!(status.success());
        let inspect = std::process::Command::new(mote)
            .arg("inspect")
            .arg(&out)
            .arg("--json")
            .output()
            .expect("runs");
        let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
        assert_eq!(v["input_len"], 64);
        assert_eq!(v["output_len"], 10);
        assert_eq!(
            v["flash_bytes"].as_u64(),
            Some(std::fs::metadata(&out).expect("exists").len())
        );
    }
    // Bad input: a truncated model file is rejected with a clear error, non-zero exit.
    let bad = dir.path().join("bad.mote");
    let good = std::fs::read(dir.path().join("m-f32.mote")).expect("reads");
    std::fs::write(&bad, &good[..good.len() - 3]).expect("writes");
    let out = std::process::Command::new(mote)
        .arg("inspect")
        .arg(&bad)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("truncated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
