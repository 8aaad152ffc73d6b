//! Host side of the recurrent cells of `mote_core::recurrent`: whole-sequence forms for training
//! and prefill (quadratic, chunked, chunk-parallel), owned weights in every numeric scheme, the
//! BasicMotions classifier and the benchmarks.
//!
//! Every form reuses the core's per-token feature code (projections, feature maps, gates, MoM
//! routing), so the forms differ only in how the recurrence is evaluated, which is what the
//! equivalence tests check.
//!
//! - [`forms`]: the sequence algorithms on per-token features.
//! - [`weights`]: [`weights::OwnedLinear`], a projection quantized to a [`weights::WeightScheme`].
//! - [`classifier`]: the recurrent BasicMotions classifier (training, evaluation, export).
//! - [`streams`]: the classifier on the firmware under QEMU, checked bit for bit.
//! - [`synth`]: random-weight model files for every cell type and scheme.
//! - [`cost`]: instructions per token under QEMU and host prefill throughput.

pub mod classifier;
pub mod cost;
pub mod forms;
pub mod streams;
pub mod synth;
pub mod weights;

use anyhow::{Result, bail};
use mote_core::kernels::Linear;
use mote_core::recurrent::{
    Cell, Dims, Liger, MemoryCell, MemoryRule, Mom, RuleKind, Swa, gla_key_features, rope_table,
    softmax,
};
use rayon::prelude::*;

pub use forms::{Features, Form};

/// Runs `cell` token by token over `xs` (`T × d_model`, row-major): the reference the forms are
/// checked against, and what the firmware does.
pub fn recurrent<C: Cell>(cell: &C, xs: &[f32]) -> Result<Vec<f32>> {
    let d = cell.dims().d_model;
    if !xs.len().is_multiple_of(d) {
        bail!(
            "input of {} values is not a whole number of {d}-wide tokens",
            xs.len()
        );
    }
    let mut state = vec![0.0; cell.state_len()];
    cell.reset(&mut state)?;
    let mut scratch = vec![0.0; cell.scratch_len()];
    let mut qs = vec![0i8; cell.qscratch_len()];
    let mut out = vec![0.0; xs.len()];
    for (x, y) in xs.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        cell.step(x, &mut state, &mut scratch, &mut qs, y)?;
    }
    Ok(out)
}

/// A cell that also has whole-sequence forms.
pub trait Prefill: Cell {
    /// Outputs for `xs` (`T × d_model`) computed in `form`; equal to [`recurrent`] up to
    /// floating-point reassociation.
    fn prefill(&self, xs: &[f32], form: Form) -> Result<Vec<f32>>;
}

fn tokens(d: &Dims, xs: &[f32]) -> Result<usize> {
    if !xs.len().is_multiple_of(d.d_model) {
        bail!(
            "input of {} values is not a whole number of {}-wide tokens",
            xs.len(),
            d.d_model
        );
    }
    Ok(xs.len() / d.d_model)
}

/// Projects every token (tokens are independent: in parallel on the current rayon pool, each
/// token computed exactly as the per-token step computes it).
fn project_all(lin: &Linear<'_>, xs: &[f32], cols: usize, rows: usize) -> Result<Vec<f32>> {
    let mut out = vec![0.0; xs.len() / cols * rows];
    out.par_chunks_mut(rows)
        .zip(xs.par_chunks(cols))
        .try_for_each_init(|| vec![0i8; cols], |qs, (y, x)| lin.forward(x, y, qs))?;
    Ok(out)
}

fn queries<R: MemoryRule>(d: &Dims, wq: &Linear<'_>, xs: &[f32]) -> Result<Vec<f32>> {
    let mut q = project_all(wq, xs, d.d_model, d.qk())?;
    for row in q.chunks_exact_mut(d.qk()) {
        R::query_map(d, row);
    }
    Ok(q)
}

/// Features of memory `mem` on the tokens `idx` of `xs`, with queries taken from `q_all`.
fn memory_features<R: MemoryRule + Sync>(
    d: &Dims,
    mem: &R,
    xs: &[f32],
    q_all: &[f32],
    idx: &[usize],
) -> Result<Features> {
    let (qk, vd, gl) = (d.qk(), d.vd(), R::gate_len(d));
    let n = idx.len();
    let mut f = Features {
        t: n,
        q: vec![0.0; n * qk],
        k: vec![0.0; n * qk],
        v: vec![0.0; n * vd],
        gate: vec![0.0; n * gl],
    };
    for (r, &t) in idx.iter().enumerate() {
        f.q[r * qk..(r + 1) * qk].copy_from_slice(&q_all[t * qk..(t + 1) * qk]);
    }
    // Per-token features are independent: in parallel on the current rayon pool. (Rules
    // without per-token gates have `gl = 0`: every token gets an empty gate slice.)
    let gates: Vec<&mut [f32]> = if gl == 0 {
        idx.iter().map(|_| <&mut [f32]>::default()).collect()
    } else {
        f.gate.chunks_mut(gl).collect()
    };
    f.k.par_chunks_mut(qk)
        .zip(f.v.par_chunks_mut(vd))
        .zip(gates)
        .zip(idx.par_iter())
        .try_for_each_init(
            || vec![0i8; d.d_model],
            |qs, (((k, v), gate), &t)| {
                mem.token(d, &xs[t * d.d_model..(t + 1) * d.d_model], k, v, gate, qs)
            },
        )?;
    Ok(f)
}

impl<R: MemoryRule + Sync> Prefill for MemoryCell<'_, R> {
    fn prefill(&self, xs: &[f32], form: Form) -> Result<Vec<f32>> {
        let d = self.dims();
        let t = tokens(&d, xs)?;
        let q = queries::<R>(&d, self.wq(), xs)?;
        let idx: Vec<usize> = (0..t).collect();
        let f = memory_features(&d, self.memory(), xs, &q, &idx)?;
        let r = forms::mix(R::KIND, &d, &f, form);
        project_all(self.wo(), &r, d.vd(), d.d_model)
    }
}

impl<R: MemoryRule + Sync> Prefill for Mom<'_, R> {
    fn prefill(&self, xs: &[f32], form: Form) -> Result<Vec<f32>> {
        let d = self.dims();
        let t = tokens(&d, xs)?;
        let nm = self.routing().memories;
        let mut weights = vec![0.0f32; t * nm];
        let mut probs = vec![0.0f32; nm];
        let mut qs = vec![0i8; d.d_model];
        for (x, w) in xs.chunks_exact(d.d_model).zip(weights.chunks_exact_mut(nm)) {
            self.route(x, &mut probs, w, &mut qs)?;
        }
        let q = queries::<R>(&d, self.wq(), xs)?;
        let vd = d.vd();
        let mut y = vec![0.0f32; t * vd];
        for (m, mem) in self.memories().iter().enumerate() {
            // every routed token is kept: no capacity dropping (SPEC §5.2 pitfall)
            let idx: Vec<usize> = (0..t).filter(|&s| weights[s * nm + m] >= 0.0).collect();
            if idx.is_empty() {
                continue;
            }
            let f = memory_features(&d, mem, xs, &q, &idx)?;
            let r = forms::mix(R::KIND, &d, &f, form);
            for (row, &s) in idx.iter().enumerate() {
                let g = weights[s * nm + m];
                for j in 0..vd {
                    y[s * vd + j] += g * r[row * vd + j];
                }
            }
        }
        if let Some(mem) = self.shared() {
            let idx: Vec<usize> = (0..t).collect();
            let f = memory_features(&d, mem, xs, &q, &idx)?;
            let r = forms::mix(R::KIND, &d, &f, form);
            for (yi, ri) in y.iter_mut().zip(&r) {
                *yi += ri;
            }
        }
        project_all(self.wo(), &y, vd, d.d_model)
    }
}

struct Qkv {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    table: Option<Vec<f32>>,
}

fn swa_inputs(swa: &Swa<'_>, xs: &[f32]) -> Result<(usize, Qkv)> {
    let d = swa.dims();
    let t = tokens(&d, xs)?;
    let (qk, vd) = (d.qk(), d.vd());
    let mut r = Qkv {
        q: vec![0.0; t * qk],
        k: vec![0.0; t * qk],
        v: vec![0.0; t * vd],
        table: None,
    };
    let mut qs = vec![0i8; d.d_model];
    for s in 0..t {
        swa.project(
            &xs[s * d.d_model..(s + 1) * d.d_model],
            &mut r.q[s * qk..(s + 1) * qk],
            &mut r.k[s * qk..(s + 1) * qk],
            &mut r.v[s * vd..(s + 1) * vd],
            &mut qs,
        )?;
    }
    if let Some(rope) = swa.rope() {
        let mut tb = vec![0.0; swa.window() * d.d_k];
        rope_table(d.d_k, swa.window(), rope, &mut tb)?;
        r.table = Some(tb);
    }
    Ok((t, r))
}

impl Prefill for Swa<'_> {
    fn prefill(&self, xs: &[f32], form: Form) -> Result<Vec<f32>> {
        let d = self.dims();
        let (t, p) = swa_inputs(self, xs)?;
        let r = forms::swa_form(
            &d,
            self.window(),
            p.table.as_deref(),
            &p.q,
            &p.k,
            &p.v,
            t,
            form,
        );
        project_all(self.wo(), &r, d.vd(), d.d_model)
    }
}

impl Prefill for Liger<'_> {
    fn prefill(&self, xs: &[f32], form: Form) -> Result<Vec<f32>> {
        let swa = self.attention();
        let d = swa.dims();
        let (t, p) = swa_inputs(swa, xs)?;
        let r_swa = forms::swa_form(
            &d,
            swa.window(),
            p.table.as_deref(),
            &p.q,
            &p.k,
            &p.v,
            t,
            form,
        );
        let mut f = Features {
            t,
            q: p.q,
            k: p.k,
            v: p.v,
            gate: vec![0.0; t * d.qk()],
        };
        for (k, g) in
            f.k.chunks_exact_mut(d.qk())
                .zip(f.gate.chunks_exact_mut(d.qk()))
        {
            gla_key_features(&d, k, g);
        }
        for qh in f.q.chunks_exact_mut(d.d_k) {
            softmax(qh);
        }
        let mut r = forms::mix(RuleKind::Diagonal, &d, &f, form);
        for (g, s) in r.iter_mut().zip(&r_swa) {
            *g = 0.5 * *g + 0.5 * s;
        }
        project_all(swa.wo(), &r, d.vd(), d.d_model)
    }
}

#[cfg(test)]
mod tests;
