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

/// A quantized digits model on disk, for the output tests below.
fn quantized_model(dir: &std::path::Path) -> std::path::PathBuf {
    let st = dir.join("m.safetensors");
    small_digits_mlp().save(&st).expect("saves");
    let out = dir.join("m.mote");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_mote"))
        .arg("quantize")
        .arg(&st)
        .args(["--scheme", "f32", "-o"])
        .arg(&out)
        .status()
        .expect("runs mote");
    assert!(status.success());
    out
}

#[test]
fn output_to_a_device_is_written_through_not_replaced() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let st = dir.path().join("m.safetensors");
    small_digits_mlp().save(&st).expect("saves");
    let before = std::fs::symlink_metadata("/dev/null").expect("/dev/null");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mote"))
        .arg("quantize")
        .arg(&st)
        .args(["--scheme", "f32", "-o", "/dev/null"])
        .output()
        .expect("runs mote");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = std::fs::symlink_metadata("/dev/null").expect("/dev/null");
    assert!(after.file_type().is_char_device(), "/dev/null was replaced");
    assert_eq!(before.ino(), after.ino());
    // `-` is standard output.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mote"))
        .arg("quantize")
        .arg(&st)
        .args(["--scheme", "f32", "-o", "-"])
        .output()
        .expect("runs mote");
    assert!(out.status.success());
    let file = mote_host::model::AlignedModel::new(&out.stdout);
    assert!(
        file.parse().is_ok(),
        "standard output holds the model file and nothing else"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote -"));
}

#[test]
fn killed_writers_leave_only_complete_files() {
    // recurrent-synth writes 24 model files one after another; kill it at different moments.
    let mote = env!("CARGO_BIN_EXE_mote");
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = std::process::Command::new(mote)
            .args(["recurrent-synth", "--out-dir"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("runs mote");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for entry in std::fs::read_dir(dir.path()).expect("ls") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            assert!(
                !name.starts_with('.') && name.ends_with(".mote"),
                "after SIGKILL at {delay_ms} ms: {name} left behind"
            );
            let bytes = std::fs::read(&path).expect("reads");
            let file = mote_host::model::AlignedModel::new(&bytes);
            assert!(
                file.parse().is_ok(),
                "after SIGKILL at {delay_ms} ms: {name} is incomplete"
            );
        }
    }
}

#[test]
fn closed_pipe_ends_quietly_and_a_full_disk_is_an_error() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("tempdir");
    let model = quantized_model(dir.path());
    let mote = env!("CARGO_BIN_EXE_mote");
    // `mote run --json | head -c 1`: the reader takes one byte and leaves.
    let mut child = std::process::Command::new(mote)
        .arg("run")
        .arg(&model)
        .args(["--data", "digits", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs mote");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut one = [0u8; 1];
    stdout.read_exact(&mut one).expect("one byte");
    drop(stdout);
    let out = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.is_empty(),
        "a closed pipe must end quietly: {stderr}"
    );
    // `mote inspect m.mote > /dev/full`: a clear error, not a panic.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = std::process::Command::new(mote)
        .arg("inspect")
        .arg(&model)
        .stdout(full)
        .output()
        .expect("runs mote");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("writing to standard output") && stderr.contains("No space left"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_cell_sizes_are_refused_before_training_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.mote");
    for (args, says) in [
        (
            &["--cell", "liger", "--swa-window", "200"][..],
            "--swa-window 200",
        ),
        (&["--cell", "liger", "--head-dim", "3"][..], "--head-dim 3"),
        (&["--cell", "gla", "--head-dim", "3"][..], "--head-dim 3"),
        (&["--cell", "gla", "--heads", "0"][..], "--heads 0"),
    ] {
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_mote"))
            .arg("recurrent-train")
            .args(args)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
}
