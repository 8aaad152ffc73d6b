//! Benchmarks of the recurrent cells (numbers for docs/recurrent.md, never asserted in tests):
//!
//! - `mote bench recurrent`: instructions per token under QEMU (Cortex-M4F) at stream positions
//!   1, 100, 1 000 and 10 000, and the state RAM in use, for every cell and for softmax attention
//!   with a growing KV cache (`firmware/src/bin/recurrent_bench.rs`);
//! - `mote bench prefill`: host prefill throughput of the recurrent, quadratic, chunked and
//!   chunk-parallel forms of Lightning Attention-2 and the gated delta rule on 1 and 2 threads.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use mote_core::check::XorShift32;
use mote_core::recurrent::{DeltaMemory, Dims, La2Memory, MemoryCell, alibi_decays};
use serde::Serialize;

use super::weights::{OwnedLinear, WeightScheme};
use super::{Form, Prefill, recurrent};
use crate::device::{Board, Firmware};

/// Stream positions measured by the firmware.
pub const MARKS: [usize; 4] = [1, 100, 1_000, 10_000];

/// One cell's instruction counts.
#[derive(Clone, Debug, Serialize)]
pub struct TokenCost {
    /// Cell name as logged by the firmware.
    pub cell: String,
    /// Instructions for the step at each of [`MARKS`].
    pub instructions: Vec<u64>,
    /// State bytes in use after each of [`MARKS`] tokens.
    pub state_bytes: Vec<usize>,
}

/// Runs `recurrent_bench` on the M4F board with the instruction-counting plugin.
pub fn tokens(fw: &Firmware) -> Result<Vec<TokenCost>> {
    let board = Board::Mps2An386;
    let elf = fw.build(board, "recurrent_bench", &[])?;
    let (run, regions) = fw.count_regions(&elf, board)?;
    let mut out = Vec::new();
    for line in run.messages("bench ") {
        // "<name> state_floats N ring_floats_per_token P window W"
        let f: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Result<usize> {
            f.get(i)
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("bad bench line {line:?}"))
        };
        let (state, per_token, window) = (num(2)?, num(4)?, num(6)?);
        let state_bytes = MARKS
            .iter()
            .map(|&t| 4 * (state - (window - t.min(window)) * per_token))
            .collect();
        out.push(TokenCost {
            cell: f[0].to_string(),
            instructions: Vec::new(),
            state_bytes,
        });
    }
    if regions.len() != out.len() * MARKS.len() {
        bail!(
            "expected {} measured regions, got {}",
            out.len() * MARKS.len(),
            regions.len()
        );
    }
    for (c, r) in out.iter_mut().zip(regions.chunks_exact(MARKS.len())) {
        c.instructions = r.to_vec();
    }
    Ok(out)
}

/// Throughput of one form on one thread count.
#[derive(Clone, Debug, Serialize)]
pub struct PrefillRate {
    /// Cell (`la2`, `gated-delta`).
    pub cell: String,
    /// Form (`recurrent`, `parallel`, `chunked`, `chunk-parallel`).
    pub form: String,
    /// Rayon threads.
    pub threads: usize,
    /// Chunk size (0 when not chunked).
    pub chunk: usize,
    /// Best of `repeats` runs, tokens per second.
    pub tokens_per_s: f64,
}

/// Prefill throughput of an LA2 and a gated-delta layer (d = 64, 4 heads × 16) over `tokens`
/// random tokens, every form, on 1 and 2 threads.
pub fn prefill(tokens: usize, chunk: usize, repeats: usize) -> Result<Vec<PrefillRate>> {
    let dims = Dims {
        d_model: 64,
        heads: 4,
        d_k: 16,
        d_v: 16,
        math: mote_core::recurrent::Math::Libm,
    };
    let mut rng = XorShift32(7);
    let mut mat = |r: usize, c: usize| {
        let w = (0..r * c)
            .map(|_| (rng.next_f32() * 2.0 - 1.0) / (c as f32).sqrt())
            .collect();
        OwnedLinear::new(r, c, w, None, WeightScheme::F32)
    };
    let (q, k, v, o) = (mat(64, 64), mat(64, 64), mat(64, 64), mat(64, 64));
    let (wa, wb) = (mat(4, 64), mat(4, 64));
    let mut decay = vec![0.0; 4];
    alibi_decays(&mut decay);
    let la2 = MemoryCell::new(
        dims,
        q.view(),
        La2Memory {
            wk: k.view(),
            wv: v.view(),
            decay: &decay,
        },
        o.view(),
    )?;
    // Mamba-2-style initialisation: A = e^{A_log} in [1, 16], dt through softplus.
    let (a_log, dt_bias) = ([0.0f32, 1.0, 2.0, 2.77], [-2.0f32, -1.0, -0.5, 0.0]);
    let delta = MemoryCell::new(
        dims,
        q.view(),
        DeltaMemory {
            wk: k.view(),
            wv: v.view(),
            wa: wa.view(),
            wb: wb.view(),
            a_log: &a_log,
            dt_bias: &dt_bias,
        },
        o.view(),
    )?;
    let xs: Vec<f32> = (0..tokens * dims.d_model)
        .map(|_| rng.next_f32() * 2.0 - 1.0)
        .collect();
    let time = |f: &dyn Fn() -> Result<Vec<f32>>| -> Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..repeats.max(1) {
            let t0 = Instant::now();
            std::hint::black_box(f()?);
            best = best.min(t0.elapsed().as_secs_f64());
        }
        Ok(tokens as f64 / best)
    };
    let cells: [(&str, &(dyn PrefillCell + Sync)); 2] = [("la2", &la2), ("gated-delta", &delta)];
    let mut out = Vec::new();
    for (cell_name, cell) in cells {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()?;
            let forms: [(&str, usize, Option<Form>); 4] = [
                ("recurrent", 0, None),
                ("parallel", 0, Some(Form::Parallel)),
                ("chunked", chunk, Some(Form::Chunked(chunk))),
                ("chunk-parallel", chunk, Some(Form::ChunkParallel(chunk))),
            ];
            for (name, c, form) in forms {
                let rate = pool.install(|| match form {
                    None => time(&|| cell.token_by_token(&xs)),
                    Some(f) => time(&|| cell.prefill(&xs, f)),
                })?;
                out.push(PrefillRate {
                    cell: cell_name.to_string(),
                    form: name.to_string(),
                    threads,
                    chunk: c,
                    tokens_per_s: rate,
                });
            }
        }
    }
    Ok(out)
}

/// A cell with both the per-token step and the sequence forms (object-safe for the table).
trait PrefillCell {
    fn token_by_token(&self, xs: &[f32]) -> Result<Vec<f32>>;
    fn prefill(&self, xs: &[f32], form: Form) -> Result<Vec<f32>>;
}

impl<C: mote_core::recurrent::Cell + Prefill> PrefillCell for C {
    fn token_by_token(&self, xs: &[f32]) -> Result<Vec<f32>> {
        recurrent(self, xs)
    }
    fn prefill(&self, xs: &[f32], form: Form) -> Result<Vec<f32>> {
        Prefill::prefill(self, xs, form)
    }
}
