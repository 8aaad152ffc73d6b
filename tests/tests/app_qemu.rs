//! The sensor application end to end: a recurrent BasicMotions classifier trained on the three
//! accelerometer axes, built into the application, fed the test recording through the replayed
//! LSM303AGR and the real `lsm303agr` driver under QEMU, every decision bit-identical to the
//! host simulator on the Cortex-M4F and the Cortex-M3; drops appear and are counted when the
//! rate is too high; boards, sensors and models that do not fit are refused with the numbers.

use std::sync::OnceLock;

use mote_core::check::XorShift32;
use mote_host::data::{Catalog, basicmotions};
use mote_host::device::Firmware;
use mote_host::device::app::{
    AppBoard, Sensor, Stream, Windows, build, run_replay, stream_from_ts,
};
use mote_host::model::quantize::{Scheme, quantize};
use mote_host::nn::{Dense, Mlp};
use mote_host::recurrent::classifier::{TrainConfig, to_mote, train};
use mote_host::recurrent::weights::WeightScheme;

fn test_file() -> std::path::PathBuf {
    Catalog::default()
        .data_dir()
        .expect("data directory")
        .join("basicmotions/BasicMotions_TEST.ts")
}

/// The classifier's model file in each scheme.
type Files = Vec<(WeightScheme, Vec<u8>)>;

/// The classifier on the accelerometer axes (0, 1, 2) in every scheme, and the test stream.
fn trained() -> &'static (Files, Stream) {
    static MODEL: OnceLock<(Files, Stream)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let root = test_file().parent().expect("dir").to_path_buf();
        let axes = [0, 1, 2];
        let tr = basicmotions::load(&root.join("BasicMotions_TRAIN.ts"))
            .and_then(|d| d.select_channels(&axes))
            .expect("train set");
        let te = basicmotions::load(&root.join("BasicMotions_TEST.ts"))
            .and_then(|d| d.select_channels(&axes))
            .expect("test set");
        let (model, report) = train(&tr, &te, &TrainConfig::default(), |_, _| {}).expect("trains");
        assert!(report.train_accuracy >= 0.8, "{report:?}");
        let files = WeightScheme::ALL
            .iter()
            .map(|&s| (s, to_mote(&model.to_scheme(s)).expect("model file")))
            .collect();
        let stream = stream_from_ts(&test_file(), &axes, 10.0).expect("stream");
        (files, stream)
    })
}

fn model(scheme: WeightScheme) -> &'static [u8] {
    &trained()
        .0
        .iter()
        .find(|(s, _)| *s == scheme)
        .expect("scheme")
        .1
}

const SERIES: Windows = Windows {
    window: 100,
    hop: 100,
};

fn replay_is_bit_identical(board: AppBoard, scheme: WeightScheme) {
    let stream = &trained().1;
    let r = run_replay(&Firmware::default(), model(scheme), board, stream, SERIES)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        (r.mismatches, r.identical, r.summary.decisions),
        (0, 40, 40),
        "{board:?} {scheme:?}: {:?}",
        r.first_mismatch
    );
    assert_eq!((r.summary.samples, r.summary.dropped), (4000, 0));
    assert!(r.instructions_per_sample > 100.0, "{r:?}");
    assert!(r.summary.stack_bytes > 0 && r.summary.stack_bytes < 16 << 10);
    eprintln!(
        "{} {}: accuracy {:?}, {:.0} instructions/sample, max {:.0} Hz at 64 MHz, flash {} B (model {}), RAM {} + stack {}",
        board.name(),
        scheme.name(),
        r.accuracy,
        r.instructions_per_sample,
        r.max_rate_hz_at_64mhz,
        r.footprint.flash(),
        r.footprint.model,
        r.footprint.data + r.footprint.bss,
        r.summary.stack_bytes
    );
}

#[test]
fn replayed_sensor_decisions_bit_identical_on_m4f_f32() {
    replay_is_bit_identical(AppBoard::Mps2An386, WeightScheme::F32);
}

#[test]
fn replayed_sensor_decisions_bit_identical_on_m4f_int8() {
    replay_is_bit_identical(AppBoard::Mps2An386, WeightScheme::Int8Dynamic);
}

#[test]
fn replayed_sensor_decisions_bit_identical_on_m3_f32() {
    replay_is_bit_identical(AppBoard::Mps2An385, WeightScheme::F32);
}

#[test]
fn a_rate_too_high_drops_samples_counts_them_and_stays_bit_identical() {
    let mut stream = trained().1.clone();
    stream.rate_millihertz = 20_000_000; // 20 kHz: a period of ~3,000 instructions
    let r = run_replay(
        &Firmware::default(),
        model(WeightScheme::F32),
        AppBoard::Mps2An386,
        &stream,
        SERIES,
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(r.summary.dropped > 0, "{r:?}");
    assert_eq!(r.summary.samples + r.summary.dropped, 4000);
    assert_eq!(r.summary.max_queue, 32, "the queue filled before dropping");
    assert_eq!(r.mismatches, 0, "{:?}", r.first_mismatch);
    eprintln!(
        "20 kHz: {} of 4000 samples dropped, {} decisions bit-identical",
        r.summary.dropped, r.identical
    );
}

/// A random stateless MLP over `window` samples × 3 axes.
fn window_mlp(window: usize, hidden: usize, classes: usize) -> Mlp {
    let mut rng = XorShift32(9);
    let mut dense = |o: usize, i: usize| Dense {
        out_dim: o,
        in_dim: i,
        weight: (0..o * i).map(|_| rng.next_f32() - 0.5).collect(),
        bias: (0..o).map(|_| rng.next_f32() - 0.5).collect(),
    };
    Mlp {
        layers: vec![dense(hidden, window * 3), dense(classes, hidden)],
    }
}

#[test]
fn a_stateless_model_on_a_sliding_window_is_bit_identical() {
    let bytes = quantize(&window_mlp(20, 16, 4), Scheme::LmulE4m3, None).expect("quantizes");
    let mut stream = trained().1.clone();
    stream.milli_g.truncate(3 * 500);
    let w = Windows { window: 20, hop: 5 };
    let r = run_replay(
        &Firmware::default(),
        &bytes,
        AppBoard::Mps2An385,
        &stream,
        w,
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    // (500 - 20) / 5 + 1 decisions
    assert_eq!(
        (r.mismatches, r.identical),
        (0, 97),
        "{:?}",
        r.first_mismatch
    );
}

#[test]
fn the_real_board_builds_and_what_does_not_fit_is_refused() {
    let fw = Firmware::default();
    let m = model(WeightScheme::Int8Dynamic);
    let built = build(
        &fw,
        m,
        AppBoard::MicrobitV2,
        &Sensor::Hardware,
        None,
        10_000,
        SERIES,
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(built.footprint.flash() < 512 << 10 && built.footprint.recording == 0);
    // A stateful model keeps no window: a decision every 100,000 samples costs no RAM.
    let long = build(
        &fw,
        m,
        AppBoard::MicrobitV2,
        &Sensor::Hardware,
        None,
        10_000,
        Windows {
            window: 100_000,
            hop: 100_000,
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        long.footprint.bss <= built.footprint.bss,
        "{:?}",
        long.footprint
    );
    // A 784-wide window model: 180 KiB of f32 weights per 64 hidden units.
    let big = quantize(&window_mlp(261, 256, 4), Scheme::F32, None).expect("quantizes");
    let e = build(
        &fw,
        &big,
        AppBoard::MicrobitV2,
        &Sensor::Hardware,
        None,
        10_000,
        Windows {
            window: 261,
            hop: 261,
        },
    )
    .expect_err("does not fit");
    let msg = format!("{e:#}");
    assert!(
        msg.contains("bytes of flash") && msg.contains("524288"),
        "{msg}"
    );
    eprintln!("refused: {msg}");
    // The 6-channel classifier is not a 3-axis model.
    let six = {
        let root = test_file().parent().expect("dir").to_path_buf();
        let tr = basicmotions::load(&root.join("BasicMotions_TRAIN.ts")).expect("train");
        let cfg = TrainConfig {
            epochs: 2,
            ..TrainConfig::default()
        };
        let (model, _) = train(&tr, &tr, &cfg, |_, _| {}).expect("trains");
        to_mote(&model.to_scheme(WeightScheme::F32)).expect("file")
    };
    let e = build(
        &fw,
        &six,
        AppBoard::Mps2An386,
        &Sensor::Replay("x".into()),
        None,
        10_000,
        SERIES,
    )
    .expect_err("6 inputs per token");
    assert!(
        format!("{e:#}").contains("takes 6 inputs per token"),
        "{e:#}"
    );
    let e = build(
        &fw,
        m,
        AppBoard::Mps2An386,
        &Sensor::Hardware,
        None,
        10_000,
        SERIES,
    )
    .expect_err("QEMU has no sensor");
    assert!(format!("{e:#}").contains("replay:FILE"), "{e:#}");
}

#[test]
fn the_cli_streams_a_stateful_model_and_refuses_unknown_boards_and_sensors() {
    use clap::Parser;
    use mote_host::cli::{Cli, run};
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("accel.mote");
    std::fs::write(&path, model(WeightScheme::F32)).expect("write");
    let p = path.to_str().expect("utf-8");
    let cli = |args: &[&str]| Cli::try_parse_from(args);
    run(cli(&[
        "mote",
        "run",
        p,
        "--data",
        "basicmotions",
        "--channels",
        "0,1,2",
    ])
    .expect("parses"))
    .expect("streams the test series");
    let e = run(cli(&["mote", "run", p, "--data", "basicmotions"]).expect("parses"))
        .expect_err("6 channels for a 3-input model");
    assert!(format!("{e:#}").contains("--channels"), "{e:#}");
    let e = run(cli(&["mote", "run", p, "--data", "digits"]).expect("parses"))
        .expect_err("not a stream");
    assert!(format!("{e:#}").contains("runs on streams"), "{e:#}");
    // Instructions per token of the stateful model, windows compared with the host.
    run(cli(&[
        "mote",
        "bench",
        "model",
        p,
        "--data",
        "basicmotions",
        "--channels",
        "0,1,2",
        "--samples",
        "1",
    ])
    .expect("parses"))
    .expect("benchmarks the stream");
    let e = cli(&["mote", "firmware", "build", p, "--board", "esp32"]).expect_err("board");
    assert!(e.to_string().contains("mps2-an386"), "{e}");
    let e = cli(&[
        "mote",
        "firmware",
        "run",
        p,
        "--board",
        "mps2-an386",
        "--sensor",
        "camera",
    ])
    .expect_err("sensor");
    assert!(e.to_string().contains("replay:FILE"), "{e}");
    let e = run(cli(&["mote", "firmware", "run", p, "--board", "mps2-an386"]).expect("parses"))
        .expect_err("no recording");
    assert!(format!("{e:#}").contains("replay:FILE"), "{e:#}");
}
