//! The Liger conversion on the device: a softmax-attention classifier trained on BasicMotions,
//! converted with no training (`mote linearize`: GLA, Liger Attention with window 64, MoM) and
//! streamed token by token on the `recurrent` firmware under QEMU, bit-identical to the host
//! simulator on Cortex-M4F and Cortex-M3 (per-token output digest and final logits of every test
//! window), and the softmax model's growing KV cache against GLA far into a stream.

use mote_host::attention::AttentionModel;
use mote_host::attention::linearize::{Target, to_mote};
use mote_host::attention::train::{AttentionConfig, Split, train};
use mote_host::data::Catalog;
use mote_host::data::basicmotions::SeriesSet;
use mote_host::data::file::FileOptions;
use mote_host::device::runner::run_on_device;
use mote_host::device::{Board, Firmware};
use mote_host::model::AlignedModel;
use mote_host::recurrent::classifier::file_accuracy;
use mote_host::recurrent::streams::{StreamWorkload, load_splits};
use mote_host::recurrent::weights::WeightScheme;

/// The bundled BasicMotions softmax model after `epochs` steps (`ffn` 0: attention-only
/// blocks), and the test split.
fn trained(epochs: usize, ffn: usize) -> (AttentionModel, SeriesSet) {
    let (train_ds, test_ds) =
        load_splits(&Catalog::default(), None, &FileOptions::default(), &[]).unwrap();
    let cfg = AttentionConfig {
        epochs,
        ffn,
        ..AttentionConfig::default()
    };
    let (train_split, test_split) = (Split::series(train_ds), Split::series(test_ds.clone()));
    let (model, report) = train(&train_split, &test_split, &cfg, |_, _| {}).unwrap();
    if epochs >= 100 {
        assert!(report.train_accuracy >= 0.8, "{report:?}");
    }
    (model, test_ds)
}

#[test]
fn linearized_attention_bit_identical_on_firmware() {
    let (model, test_ds) = trained(100, 0);
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
        check_on_device(&model, &test_ds, board, target, scheme, state);
    }
}

/// The same with Llama-style pre-norm residual blocks (RMS norms, residual adds, a ReLU MLP of
/// width 32, a final norm: `mote attention-train --ffn 32`), 14 layers per file.
#[test]
fn pre_norm_blocks_bit_identical_on_firmware() {
    let (model, test_ds) = trained(100, 32);
    // + 2 × 16 floats: the two residual branches' saved inputs
    for (board, target, scheme, state) in [
        (
            Board::Mps2An386,
            Target::Liger { window: 64 },
            WeightScheme::F32,
            2708 + 32,
        ),
        (
            Board::Mps2An386,
            Target::Gla,
            WeightScheme::Int8Dynamic,
            145 + 32,
        ),
        (
            Board::Lm3s6965evb,
            Target::Liger { window: 64 },
            WeightScheme::F32,
            2708 + 32,
        ),
    ] {
        check_on_device(&model, &test_ds, board, target, scheme, state);
    }
}

fn check_on_device(
    model: &AttentionModel,
    test_ds: &SeriesSet,
    board: Board,
    target: Target,
    scheme: WeightScheme,
    state: usize,
) {
    let bytes = to_mote(model, target, scheme).unwrap();
    let file = AlignedModel::new(&bytes);
    let parsed = file.parse().unwrap();
    assert_eq!(parsed.ram().state_f32, state, "{target:?}");
    let sim = file_accuracy(&parsed, test_ds).unwrap();
    let workload = StreamWorkload::from_file(&parsed, test_ds).unwrap();
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

/// `mote bench linearized` in small: the same trained weights as softmax attention with a KV
/// cache of the whole stream and as GLA, streamed over 150 BasicMotions samples on the
/// `stream_bench` firmware (marks at tokens 1 and 100), bit-identical to the host; the KV cache
/// grows by one token's keys, values and RoPE entry per token, the GLA state does not.
#[test]
fn softmax_kv_cache_grows_where_the_conversion_stays_flat() {
    use mote_host::attention::cost::{cycled_stream, stream_costs};
    // the cost does not depend on how well the weights are trained
    let (model, test_ds) = trained(20, 0);
    let stream = cycled_stream(&test_ds, 150).unwrap();
    let targets = [
        ("softmax".to_string(), Target::Swa { window: 150 }),
        ("gla".to_string(), Target::Gla),
    ];
    let rows = stream_costs(
        &Firmware::default(),
        Board::Mps2An386,
        &model,
        &targets,
        WeightScheme::F32,
        &stream,
        |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let (softmax, gla) = (&rows[0], &rows[1]);
    for r in &rows {
        assert_eq!(r.count.marks, [1, 100], "{}", r.model);
        assert!(r.count.identical_to_host, "{}: device differs", r.model);
    }
    // d_k 8 (RoPE entry) + 2 heads × (8 key + 8 value) floats per cached token
    assert_eq!(
        softmax.state_bytes[1] - softmax.state_bytes[0],
        99 * 4 * (8 + 2 * 16)
    );
    // 2 heads × 8 × 8 GLA state + the mean pool's 16 sums and count
    assert_eq!(gla.state_bytes, [4 * 145, 4 * 145]);
    assert!(
        softmax.count.instructions[1] > 4 * softmax.count.instructions[0],
        "{:?}",
        softmax.count.instructions
    );
    let (a, b) = (gla.count.instructions[0], gla.count.instructions[1]);
    assert!(a.abs_diff(b) * 20 < a, "GLA per token {a} then {b}");
}
