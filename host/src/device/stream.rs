//! A stateful model far into one long stream, on the `stream_bench` firmware: the instructions of
//! the steps at tokens 1, 100, 1 000 and 10 000 ([`MARKS`]) under the counting plugin, and the
//! whole stream's outputs compared with the host simulator bit for bit. The firmware's buffers
//! are sized for the model by the build, so a softmax model with a KV cache as long as the stream
//! (megabytes at 10 000 tokens) runs on the 4 MiB MPS2 boards.

use std::ffi::OsString;

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Serialize;

use super::firmware::BuildTarget;
use super::samples::samples_blob_of;
use super::{Board, Firmware};
use crate::recurrent::classifier::stream_series;
pub use crate::recurrent::cost::MARKS;

/// What one stream measured.
#[derive(Clone, Debug, Serialize)]
pub struct StreamCount {
    /// The stream positions measured (the [`MARKS`] within the stream).
    pub marks: Vec<usize>,
    /// Instructions of the step at each mark.
    pub instructions: Vec<u64>,
    /// Whether every token's outputs (their digest) and the last token's outputs were the host
    /// simulator's, bit for bit.
    pub identical_to_host: bool,
}

/// Streams `stream` (tokens × the model's inputs, time-major) through `model_bytes` on `board`.
pub fn count_stream(
    fw: &Firmware,
    board: Board,
    model_bytes: &[u8],
    stream: &[f32],
) -> Result<StreamCount> {
    let aligned = crate::model::AlignedModel::new(model_bytes);
    let model = aligned.parse().map_err(|e| anyhow!("{e}"))?;
    ensure!(
        model.is_stateful(),
        "the model is stateless: it has no stream position to measure"
    );
    let d_in = model.input_len();
    ensure!(
        !stream.is_empty() && stream.len().is_multiple_of(d_in),
        "a stream of {} values is not a whole number of {d_in}-input tokens",
        stream.len()
    );
    let tokens = stream.len() / d_in;
    let (logits, digest) = stream_series(&model, stream)?;
    let want = format!(
        "digest {digest} logits [{}]",
        logits
            .iter()
            .map(|l| l.to_bits().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let model_path = dir.path().join("model.mote");
    std::fs::write(&model_path, model_bytes).context("writing the model file")?;
    let samples_path = dir.path().join("stream.bin");
    std::fs::write(&samples_path, samples_blob_of(stream.len(), stream, &[0])?)
        .context("writing the stream")?;
    let ram = model.ram();
    let num = |v: usize| OsString::from(v.to_string());
    let env: Vec<(&str, OsString)> = vec![
        ("MOTE_MODEL", model_path.into()),
        ("MOTE_SAMPLES", samples_path.into()),
        ("MOTE_APP_ARENA_F32", num(ram.arena_f32)),
        ("MOTE_APP_ARENA_I8", num(ram.arena_i8)),
        ("MOTE_APP_STATE", num(ram.state_f32)),
        ("MOTE_APP_LAYERS", num(model.layer_count())),
        ("MOTE_APP_IO", num(d_in.max(model.output_len()))),
    ];
    let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let target = BuildTarget {
        triple: board.target(),
        features: board.feature(),
        name: board.machine(),
    };
    let elf = fw.build_for(target, "stream_bench", &env).map_err(|e| {
        super::firmware::explain_overflow(e, || {
            format!(
                "the model's {} B of RAM and its {tokens}-token stream do not fit {}",
                ram.bytes(),
                board.machine()
            )
        })
    })?;
    let (run, instructions) = fw.count_regions(&elf, board)?;
    let marks: Vec<usize> = MARKS.iter().copied().filter(|&m| m <= tokens).collect();
    if instructions.len() != marks.len() {
        bail!(
            "stream_bench on {}: {} measured regions for {} marks",
            board.machine(),
            instructions.len(),
            marks.len()
        );
    }
    let got = run
        .messages("stream done ")
        .next()
        .with_context(|| format!("stream_bench on {}: no `stream done` line", board.machine()))?;
    Ok(StreamCount {
        marks,
        instructions,
        identical_to_host: got == want,
    })
}
