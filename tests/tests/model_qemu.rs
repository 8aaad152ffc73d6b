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
    // The fixed split tests on the last 360 rows (other writers than the training rows): ~91%.
    assert!(f > 0.88, "f32 digits accuracy {f}");
    assert!(f - i <= 0.01, "int8 {i} vs f32 {f}");
    assert!(f - l <= 0.02, "lmul-e4m3 {l} vs f32 {f}");
}
