//! The Liger conversion on the device: a softmax-attention classifier trained on BasicMotions,
//! converted with no training (`mote linearize`: GLA, Liger Attention with window 64, MoM) and
//! streamed token by token on the `recurrent` firmware under QEMU, bit-identical to the host
//! simulator on Cortex-M4F and Cortex-M3 (per-token output digest and final logits of every test
//! window).

use mote_host::attention::linearize::{Target, to_mote};
use mote_host::attention::train::{AttentionConfig, Split, train};
use mote_host::data::Catalog;
use mote_host::data::file::FileOptions;
use mote_host::device::runner::run_on_device;
use mote_host::device::{Board, Firmware};
use mote_host::model::AlignedModel;
use mote_host::recurrent::classifier::file_accuracy;
use mote_host::recurrent::streams::{StreamWorkload, load_splits};
use mote_host::recurrent::weights::WeightScheme;

#[test]
fn linearized_attention_bit_identical_on_firmware() {
    let (train_ds, test_ds) =
        load_splits(&Catalog::default(), None, &FileOptions::default(), &[]).unwrap();
    let cfg = AttentionConfig {
        epochs: 100,
        ..AttentionConfig::default()
    };
    let (train_split, test_split) = (Split::series(train_ds), Split::series(test_ds.clone()));
    let (model, report) = train(&train_split, &test_split, &cfg, |_, _| {}).unwrap();
    assert!(report.train_accuracy >= 0.8, "{report:?}");
    for (board, target, scheme, state) in [
        // Liger: GLA state 2 × 8 × 8, ring header 3, RoPE table 64 × 8, K and V rings
        // 64 × (16 + 16), running sum 16 + count
        (
            Board::Mps2An386,
            Target::Liger { window: 64 },
            WeightScheme::F32,
            2708,
        ),
        (
            Board::Mps2An386,
            Target::Liger { window: 64 },
            WeightScheme::Int8Dynamic,
            2708,
        ),
        (Board::Mps2An386, Target::Gla, WeightScheme::F32, 145),
        // 4 GLA memories of 2 × 8 × 8 (zero router, top-2) + running sum and count
        (
            Board::Mps2An386,
            Target::Mom {
                memories: 4,
                top_k: 2,
            },
            WeightScheme::F32,
            529,
        ),
        (
            Board::Lm3s6965evb,
            Target::Liger { window: 64 },
            WeightScheme::F32,
            2708,
        ),
        (Board::Lm3s6965evb, Target::Gla, WeightScheme::F32, 145),
    ] {
        let bytes = to_mote(&model, target, scheme).unwrap();
        let file = AlignedModel::new(&bytes);
        let parsed = file.parse().unwrap();
        assert_eq!(parsed.ram().state_f32, state, "{target:?}");
        let sim = file_accuracy(&parsed, &test_ds).unwrap();
        let workload = StreamWorkload::from_file(&parsed, &test_ds).unwrap();
        let dev = run_on_device(&Firmware::default(), file.bytes(), &workload, board, false)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(
            dev.first_mismatch.is_none(),
            "{board:?} {target:?} {scheme:?}: {} of {} windows differ; first: {:?}",
            dev.mismatches,
            dev.samples,
            dev.first_mismatch
        );
        assert_eq!(dev.samples, 40);
        assert_eq!(dev.accuracy, sim, "{board:?} {target:?} {scheme:?}");
        eprintln!(
            "{} {} {}: accuracy {sim:.3}, 4,000 tokens bit-identical, state {state} floats",
            board.machine(),
            target.cell().name(),
            scheme.name()
        );
    }
}
