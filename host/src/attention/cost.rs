//! The trained softmax model against its conversions on the device, far into a stream: the
//! instructions of the step at tokens 1, 100, 1 000 and 10 000 and the RAM in use there, for the
//! same weights. The softmax model is the SWA cell with a window as long as the stream, i.e.
//! causal softmax attention with a KV cache that never evicts (docs/attention.md); the
//! conversions are [`to_mote`] files. The stream is the data's test series played one after
//! the other (cycled) until it has the tokens asked for, so every token is a real sample.

use anyhow::{Result, anyhow, ensure};
use serde::Serialize;

use super::linearize::{Target, to_mote};
use super::model::AttentionModel;
use crate::data::basicmotions::SeriesSet;
use crate::device::stream::{StreamCount, count_stream};
use crate::device::{Board, Firmware};
use crate::recurrent::weights::WeightScheme;

/// One model's cost along the stream.
#[derive(Clone, Debug, Serialize)]
pub struct StreamCost {
    /// `softmax (KV cache)` or the conversion's cell.
    pub model: String,
    /// The file's cell and its sizes.
    pub target: Target,
    /// Instructions at each mark, and whether the device matched the host.
    #[serde(flatten)]
    pub count: StreamCount,
    /// Recurrent state in use after each mark's token, bytes: a KV cache or an SWA window
    /// holds `min(t, window)` tokens; a linear recurrence is the same at every token.
    pub state_bytes: Vec<usize>,
    /// All working RAM in use at each mark (state, activations and the attention scores over
    /// the cached tokens), bytes.
    pub ram_bytes: Vec<usize>,
    /// The model file's bytes (the weights, in flash).
    pub flash_bytes: usize,
}

/// `tokens` tokens of `ds`'s series, one series after the other, cycled.
pub fn cycled_stream(ds: &SeriesSet, tokens: usize) -> Result<Vec<f32>> {
    let c = ds.channels;
    let all: Vec<f32> = ds.series.iter().flat_map(|s| s.values.clone()).collect();
    ensure!(
        c > 0 && !all.is_empty(),
        "the data has no samples to stream"
    );
    Ok(all.iter().copied().cycle().take(tokens * c).collect())
}

/// The file of `target` as it is after `t` tokens: a window (KV cache) holding `min(t, w)`
/// tokens. Its RAM is what the stream uses at that point.
fn at_token(target: Target, t: usize) -> Target {
    match target {
        Target::Liger { window } => Target::Liger {
            window: window.min(t),
        },
        Target::Swa { window } => Target::Swa {
            window: window.min(t),
        },
        other => other,
    }
}

/// Measures `model` converted to each of `targets` (a `Target::Swa` whose window is the stream
/// length being the softmax model) on `board`, streaming `stream`.
pub fn stream_costs(
    fw: &Firmware,
    board: Board,
    model: &AttentionModel,
    targets: &[(String, Target)],
    scheme: WeightScheme,
    stream: &[f32],
    mut progress: impl FnMut(usize, &str),
) -> Result<Vec<StreamCost>> {
    let mut out = Vec::with_capacity(targets.len());
    for (i, (name, target)) in targets.iter().enumerate() {
        progress(i, name);
        let bytes = to_mote(model, *target, scheme)?;
        let count = count_stream(fw, board, &bytes, stream)
            .map_err(|e| anyhow!("{name} on {}: {e:#}", board.machine()))?;
        let mut state_bytes = Vec::with_capacity(count.marks.len());
        let mut ram_bytes = Vec::with_capacity(count.marks.len());
        for &t in &count.marks {
            let file = to_mote(model, at_token(*target, t), scheme)?;
            let aligned = crate::model::AlignedModel::new(&file);
            let ram = aligned.parse().map_err(|e| anyhow!("{e}"))?.ram();
            state_bytes.push(ram.state_f32 * 4);
            ram_bytes.push(ram.bytes());
        }
        out.push(StreamCost {
            model: name.clone(),
            target: *target,
            count,
            state_bytes,
            ram_bytes,
            flash_bytes: bytes.len(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::basicmotions::Series;

    #[test]
    fn the_stream_cycles_through_the_series_in_order() {
        let ds = SeriesSet {
            classes: vec!["a".into()],
            channels: 2,
            length: 2,
            series: vec![
                Series {
                    values: vec![1.0, 2.0, 3.0, 4.0],
                    label: 0,
                },
                Series {
                    values: vec![5.0, 6.0, 7.0, 8.0],
                    label: 0,
                },
            ],
        };
        let s = cycled_stream(&ds, 5).unwrap();
        assert_eq!(s, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0, 2.0]);
        let empty = SeriesSet {
            series: vec![],
            ..ds
        };
        assert!(cycled_stream(&empty, 5).is_err());
    }

    #[test]
    fn a_window_holds_the_tokens_seen_so_far() {
        assert_eq!(
            at_token(Target::Swa { window: 10_000 }, 100),
            Target::Swa { window: 100 }
        );
        assert_eq!(
            at_token(Target::Liger { window: 64 }, 1_000),
            Target::Liger { window: 64 }
        );
        assert_eq!(at_token(Target::Gla, 1), Target::Gla);
    }
}
