//! Model file round trip across crates: train a digits MLP on the host, quantize it in every
//! scheme, run it in the host simulator (mote-core) and on the firmware under QEMU (Cortex-M4F and
//! Cortex-M3), and require identical outputs bit for bit.

use std::sync::OnceLock;

use mote_host::data::{Catalog, Dataset};
use mote_host::device::infer::SampleWorkload;
use mote_host::device::runner::run_on_device;
use mote_host::device::{Board, Firmware};
use mote_host::model::AlignedModel;
use mote_host::model::quantize::{Scheme, quantize};
use mote_host::model::simulate::simulate;
use mote_host::nn::Mlp;
use mote_host::nn::train::{TrainConfig, train_mlp};

/// The digits MLP of the README's accuracy table (64-64-32-10), trained once per test run.
fn trained() -> &'static (Mlp, Dataset, Dataset) {
    static MODEL: OnceLock<(Mlp, Dataset, Dataset)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let (train, test) = Catalog::default().load("digits").expect("bundled digits");
        let cfg = TrainConfig {
            hidden: vec![64, 32],
            epochs: 40,
            batch_size: 32,
            lr: 3e-3,
            seed: 7,
            progress: false,
        };
        let mlp = train_mlp(&cfg, &train).expect("trains");
        (mlp, train, test)
    })
}

fn device_equals_host(scheme: Scheme, board: Board) {
    let (mlp, train, test) = trained();
    model_on_device_equals_host(mlp, train, test, scheme, board);
}

fn model_on_device_equals_host(
    mlp: &Mlp,
    train: &Dataset,
    test: &Dataset,
    scheme: Scheme,
    board: Board,
) {
    let bytes = quantize(mlp, scheme, Some(train)).expect("quantizes");
    let file = AlignedModel::new(&bytes);
    let host = simulate(&file.parse().expect("parses"), test).expect("simulates");
    let workload = SampleWorkload::new(test, &host).expect("one output per sample");
    let report = run_on_device(&Firmware::default(), file.bytes(), &workload, board, false)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(report.samples, test.n);
    assert_eq!(
        report.mismatches,
        0,
        "{} on {}: outputs differ from the host",
        scheme.name(),
        board.machine()
    );
    assert_eq!(report.accuracy, report.host_accuracy);
}

#[test]
fn f32_model_bit_identical_on_m4f_and_m3() {
    device_equals_host(Scheme::F32, Board::Mps2An386);
    device_equals_host(Scheme::F32, Board::Lm3s6965evb);
}

#[test]
fn int8_model_bit_identical_on_m4f_and_m3() {
    device_equals_host(Scheme::Int8, Board::Mps2An386);
    device_equals_host(Scheme::Int8, Board::Lm3s6965evb);
}

#[test]
fn lmul_e4m3_model_bit_identical_on_m4f_and_m3() {
    device_equals_host(Scheme::LmulE4m3, Board::Mps2An386);
    device_equals_host(Scheme::LmulE4m3, Board::Lm3s6965evb);
}

#[test]
fn lmul_e4m3_fixed_model_bit_identical_on_m4f_and_m3() {
    device_equals_host(Scheme::LmulE4m3Fixed, Board::Mps2An386);
    device_equals_host(Scheme::LmulE4m3Fixed, Board::Lm3s6965evb);
}

#[test]
fn pleas_merged_model_bit_identical_on_m4f_and_m3() {
    // PLeaS to uneven widths, one group wider than the inputs (48 of 2·32) and one narrower
    // (20 of 32): the merged model is an ordinary MLP file, run bit for bit like every other.
    use mote_host::align::pleas::{PleasConfig, PleasMatch, PleasSize, pleas};
    let (_, train, test) = trained();
    let t = |seed| {
        let cfg = TrainConfig {
            hidden: vec![32, 32],
            epochs: 10,
            batch_size: 32,
            lr: 3e-3,
            seed,
            progress: false,
        };
        train_mlp(&cfg, train).expect("trains")
    };
    let (a, b) = (t(31), t(32));
    let cfg = PleasConfig {
        size: PleasSize::Widths(vec![48, 20]),
        matching: PleasMatch::Activation,
        least_squares: true,
        ridge: 1e-6,
        seed: 0,
    };
    let merged = pleas(&a, &b, Some(train), &cfg).expect("merges").model;
    assert_eq!(merged.widths(), vec![64, 48, 20, 10]);
    for scheme in [Scheme::F32, Scheme::Int8] {
        for board in [Board::Mps2An386, Board::Lm3s6965evb] {
            model_on_device_equals_host(&merged, train, test, scheme, board);
        }
    }
}

#[test]
fn quantized_accuracy_within_budget() {
    let (mlp, train, test) = trained();
    let acc = |s: Scheme| {
        let bytes = quantize(mlp, s, Some(train)).expect("quantizes");
        let file = AlignedModel::new(&bytes);
        simulate(&file.parse().expect("parses"), test)
            .expect("runs")
            .accuracy
    };
    let (f, i, l) = (acc(Scheme::F32), acc(Scheme::Int8), acc(Scheme::LmulE4m3));
    let x = acc(Scheme::LmulE4m3Fixed);
    // The fixed split tests on the last 360 rows (other writers than the training rows): ~91%.
    assert!(f > 0.88, "f32 digits accuracy {f}");
    assert!(f - i <= 0.01, "int8 {i} vs f32 {f}");
    assert!(f - l <= 0.02, "lmul-e4m3 {l} vs f32 {f}");
    assert!(f - x <= 0.02, "lmul-e4m3-fixed {x} vs f32 {f}");
}

#[test]
fn a_users_csv_to_a_model_on_the_device() {
    // The README's path: a CSV as pandas writes it (a header, class names, CRLF), then the CLI's
    // train and quantize on the file path, then the model file in QEMU against the simulator.
    use clap::Parser;
    use mote_host::cli::{Cli, run};
    use mote_host::data::file::FileOptions;
    let (_, train, test) = trained();
    let dir = std::env::temp_dir().join(format!("mote-csv-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let names = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    let mut csv: String = (0..64).map(|i| format!("px{i},")).collect();
    csv += "digit\r\n";
    for d in [train, test] {
        for i in 0..d.n {
            for v in d.row(i) {
                csv += &format!("{},", v * 16.0);
            }
            csv += names[usize::from(d.labels[i])];
            csv += "\r\n";
        }
    }
    let path = dir.join("digits.csv");
    std::fs::write(&path, csv).expect("writes");
    let (model, file) = (dir.join("m.safetensors"), dir.join("m.mote"));
    let cli = |args: &[&str]| {
        run(Cli::try_parse_from(args).expect("parses"))
            .unwrap_or_else(|e| panic!("{args:?}: {e:#}"))
    };
    let p = path.to_str().expect("utf-8 path");
    cli(&[
        "mote",
        "train",
        "--data",
        p,
        "--label",
        "digit",
        "--hidden",
        "32",
        "--epochs",
        "20",
        "--batch-size",
        "32",
        "--lr",
        "3e-3",
        "--json",
        "-o",
        model.to_str().expect("utf-8"),
    ]);
    cli(&[
        "mote",
        "quantize",
        model.to_str().expect("utf-8"),
        "--scheme",
        "int8",
        "--calib",
        p,
        "--label",
        "digit",
        "-o",
        file.to_str().expect("utf-8"),
    ]);
    let opts = FileOptions {
        label: Some("digit".into()),
        ..FileOptions::default()
    };
    // The model file scales its inputs itself (its first layer holds the training ranges), so
    // it is fed the CSV's own values, as a device reading the raw sensor would be.
    let (ftrain, ftest) = Catalog::default()
        .with_files(opts)
        .load_unscaled(p)
        .expect("loads");
    // Classes sorted by name: eight, five, four, nine, one, seven, six, three, two, zero.
    assert_eq!((ftrain.classes, ftrain.n + ftest.n), (10, train.n + test.n));
    let bytes = std::fs::read(&file).expect("reads");
    let model_file = AlignedModel::new(&bytes);
    let parsed = model_file.parse().expect("parses");
    assert!(mote_host::model::scaling::scales_its_inputs(&parsed));
    let host = simulate(&parsed, &ftest).expect("simulates");
    assert!(
        host.accuracy > 0.85,
        "accuracy on the CSV's test split {}",
        host.accuracy
    );
    let workload = SampleWorkload::new(&ftest, &host).expect("one output per sample");
    for board in [Board::Mps2An386, Board::Lm3s6965evb] {
        let r = run_on_device(
            &Firmware::default(),
            model_file.bytes(),
            &workload,
            board,
            false,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(r.mismatches, 0, "{}", board.machine());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
