//! The recurrent BasicMotions classifier: trained on the host, written as a `.mote` model file,
//! streamed token by token through `mote-core`'s executor on the firmware under QEMU in every
//! weight scheme, bit-identical to the host simulator (per-token output digest and logits).

use mote_core::recurrent::Math;
use mote_host::data::Catalog;
use mote_host::data::file::FileOptions;
use mote_host::device::{Board, Firmware};
use mote_host::recurrent::classifier::{TrainConfig, train};
use mote_host::recurrent::streams::{load_splits, run_on_device};
use mote_host::recurrent::weights::WeightScheme;

#[test]
fn recurrent_classifier_bit_identical_on_firmware() {
    let (train_ds, test_ds) =
        load_splits(&Catalog::default(), None, &FileOptions::default(), &[]).unwrap();
    let cfg = TrainConfig::default();
    let (model, report) = train(&train_ds, &test_ds, &cfg, |_, _| {}).unwrap();
    assert!(report.train_accuracy >= 0.9, "{report:?}");
    let mut fast = model.clone();
    fast.dims.math = Math::Fast;
    for (board, scheme, model) in [
        (Board::Mps2An386, WeightScheme::F32, &model),
        (Board::Mps2An386, WeightScheme::Int8Dynamic, &model),
        (Board::Mps2An386, WeightScheme::LmulE4m3, &model),
        (Board::Mps2An386, WeightScheme::LmulE4m3Fixed, &model),
        (Board::Lm3s6965evb, WeightScheme::F32, &model),
        (Board::Lm3s6965evb, WeightScheme::LmulE4m3Fixed, &model),
        // micromath's exp in the cell (the model file's fast-math flag): other bits, still equal
        (Board::Mps2An386, WeightScheme::F32, &fast),
        (Board::Lm3s6965evb, WeightScheme::F32, &fast),
    ] {
        let m = model.to_scheme(scheme);
        let sim = m.accuracy(&test_ds).unwrap();
        // run_on_device fails unless every window's per-token digest and logits match the host
        let dev = run_on_device(&Firmware::default(), board, &m, &test_ds)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(dev.report.samples, 40);
        assert_eq!(dev.report.accuracy, sim, "{board:?} {scheme:?}");
        // LA2 state 2 × 8 × 8, running sum 16, token count 1: constant in the stream length
        assert_eq!(dev.state_floats, 145);
        eprintln!(
            "{} {} {:?}: accuracy {sim:.3}, {} tokens bit-identical",
            board.machine(),
            scheme.name(),
            model.dims.math,
            dev.tokens
        );
    }
}
