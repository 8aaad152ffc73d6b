//! Sequence forms of the recurrences on precomputed per-token features: quadratic ("parallel"),
//! chunked (Lightning Attention-2 tiling) and chunk-parallel (LASP-2: per-chunk states in
//! parallel, combined by a prefix scan). All produce the readouts `r_t = q_t S_t` (`T × H·d_v`)
//! that the per-token recurrence in `mote_core::recurrent` produces.

// The loops index several arrays with the formulas' indices (t, s, i, j); iterator chains would
// hide the correspondence with the equations in the docs.
#![allow(clippy::needless_range_loop)]

use mote_core::recurrent::{Dims, RuleKind};
use rayon::prelude::*;

/// Per-token features of one memory over a sequence, row-major `T × len`.
#[derive(Clone, Debug, Default)]
pub struct Features {
    /// Tokens.
    pub t: usize,
    /// Mapped queries `T × H·d_k`.
    pub q: Vec<f32>,
    /// Keys `T × H·d_k`.
    pub k: Vec<f32>,
    /// Values `T × H·d_v`.
    pub v: Vec<f32>,
    /// Gates: `T × H·d_k` decays for [`RuleKind::Diagonal`], `T × 2H` (`α`, `β`) for
    /// [`RuleKind::Delta`].
    pub gate: Vec<f32>,
}

/// How a sequence is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// All pairs `(t, s ≤ t)` at once, `O(T²)`.
    Parallel,
    /// Blocks of `chunk` tokens: intra-block quadratic, inter-block through the carried state.
    Chunked(usize),
    /// Chunk states computed in parallel (rayon), combined by a prefix scan, then each chunk's
    /// outputs in parallel (for the delta rule the scan composes affine chunk maps).
    ChunkParallel(usize),
}

/// Readouts of a memory over a sequence in the given form.
pub fn mix(kind: RuleKind, d: &Dims, f: &Features, form: Form) -> Vec<f32> {
    match (kind, form) {
        (RuleKind::Diagonal, Form::Parallel) => diag_parallel(d, f),
        (RuleKind::Diagonal, Form::Chunked(b)) => diag_chunked(d, f, b.max(1)),
        (RuleKind::Diagonal, Form::ChunkParallel(b)) => diag_chunk_parallel(d, f, b.max(1)),
        (RuleKind::Delta, Form::Parallel) => delta_chunked(d, f, f.t.max(1)),
        (RuleKind::Delta, Form::Chunked(b)) => delta_chunked(d, f, b.max(1)),
        (RuleKind::Delta, Form::ChunkParallel(b)) => delta_chunk_parallel(d, f, b.max(1)),
    }
}

/// Natural logs of the diagonal decays.
fn log_gates(f: &Features) -> Vec<f32> {
    f.gate.iter().map(|&a| a.ln()).collect()
}

/// Inclusive cumulative log decays `L_t` of tokens `[c0, c1)` relative to `c0`, `(c1−c0) × qk`.
fn cumulative_log_decays(qk: usize, lg: &[f32], c0: usize, c1: usize) -> Vec<f32> {
    let n = c1 - c0;
    let mut cum = vec![0.0f32; n * qk];
    for t in 0..n {
        for i in 0..qk {
            cum[t * qk + i] =
                lg[(c0 + t) * qk + i] + if t > 0 { cum[(t - 1) * qk + i] } else { 0.0 };
        }
    }
    cum
}

/// `r_t = Σ_{s≤t} Σ_i q_t[i] k_s[i] exp(L_t[i] − L_s[i]) v_s`, `L` the inclusive cumulative log
/// decay (the current token is not decayed).
pub fn diag_parallel(d: &Dims, f: &Features) -> Vec<f32> {
    let (qk, vd, dk, dv) = (d.qk(), d.vd(), d.d_k, d.d_v);
    let cum = cumulative_log_decays(qk, &log_gates(f), 0, f.t);
    let mut r = vec![0.0f32; f.t * vd];
    for t in 0..f.t {
        for s in 0..=t {
            for h in 0..d.heads {
                let mut w = 0.0f32;
                for i in h * dk..(h + 1) * dk {
                    w += f.q[t * qk + i]
                        * f.k[s * qk + i]
                        * (cum[t * qk + i] - cum[s * qk + i]).exp();
                }
                for j in h * dv..(h + 1) * dv {
                    r[t * vd + j] += w * f.v[s * vd + j];
                }
            }
        }
    }
    r
}

/// Largest |cumulative log decay| inside a chunk for which the decays are factored into queries
/// and keys: `exp(±30)` keeps every factor and product far from f32 overflow and underflow.
/// Chunks with stronger decay (small data-dependent gates) evaluate `exp(L_t − L_s)` per pair.
const FACTORED_LOG_DECAY_LIMIT: f32 = 30.0;

/// One chunk `[c0, c1)` with incoming state `s_in`: writes the readouts into `r` (rows of the
/// chunk) and returns the local cumulative log decays (inclusive, relative to the chunk start).
fn diag_chunk_outputs(
    d: &Dims,
    f: &Features,
    lg: &[f32],
    c0: usize,
    c1: usize,
    s_in: &[f32],
    r: &mut [f32],
) -> Vec<f32> {
    let (qk, vd, dk, dv) = (d.qk(), d.vd(), d.d_k, d.d_v);
    let n = c1 - c0;
    let cum = cumulative_log_decays(qk, lg, c0, c1);
    if cum.iter().all(|l| l.abs() <= FACTORED_LOG_DECAY_LIMIT) {
        // exp(L_t − L_s) = exp(L_t) · exp(−L_s): decay the queries and "undecay" the keys once
        // per token, and the intra-chunk block becomes plain masked (Q̃ K̃ᵀ) V.
        let q_dec: Vec<f32> = (0..n * qk)
            .map(|x| f.q[c0 * qk + x] * cum[x].exp())
            .collect();
        let k_inv: Vec<f32> = (0..n * qk)
            .map(|x| f.k[c0 * qk + x] * (-cum[x]).exp())
            .collect();
        for t in 0..n {
            let rt = &mut r[t * vd..(t + 1) * vd];
            let qt = &q_dec[t * qk..(t + 1) * qk];
            for h in 0..d.heads {
                let (qh, rh) = (&qt[h * dk..(h + 1) * dk], &mut rt[h * dv..(h + 1) * dv]);
                // inter-chunk: (q_t ⊙ exp(L_t)) S_in
                for (i, &qi) in qh.iter().enumerate() {
                    let srow = &s_in[(h * dk + i) * dv..(h * dk + i + 1) * dv];
                    for (o, &sv) in rh.iter_mut().zip(srow) {
                        *o += qi * sv;
                    }
                }
                // intra-chunk
                for s in 0..=t {
                    let ks = &k_inv[s * qk + h * dk..s * qk + (h + 1) * dk];
                    let w: f32 = qh.iter().zip(ks).map(|(a, b)| a * b).sum();
                    let vs = &f.v[(c0 + s) * vd + h * dv..(c0 + s) * vd + (h + 1) * dv];
                    for (o, &vv) in rh.iter_mut().zip(vs) {
                        *o += w * vv;
                    }
                }
            }
        }
        return cum;
    }
    for t in 0..n {
        let rt = &mut r[t * vd..(t + 1) * vd];
        let qt = &f.q[(c0 + t) * qk..(c0 + t + 1) * qk];
        // inter-chunk: (q_t ⊙ exp(L_t)) S_in
        for h in 0..d.heads {
            for i in 0..dk {
                let qi = qt[h * dk + i] * cum[t * qk + h * dk + i].exp();
                let srow = &s_in[(h * dk + i) * dv..(h * dk + i + 1) * dv];
                for j in 0..dv {
                    rt[h * dv + j] += qi * srow[j];
                }
            }
        }
        // intra-chunk: masked, decayed (Q Kᵀ) V
        for s in 0..=t {
            for h in 0..d.heads {
                let mut w = 0.0f32;
                for i in h * dk..(h + 1) * dk {
                    w += qt[i] * f.k[(c0 + s) * qk + i] * (cum[t * qk + i] - cum[s * qk + i]).exp();
                }
                for j in h * dv..(h + 1) * dv {
                    rt[j] += w * f.v[(c0 + s) * vd + j];
                }
            }
        }
    }
    cum
}

/// The chunk's own contribution to the state at its end, `Σ_s diag(exp(L_end − L_s)) k_sᵀ v_s`.
fn diag_chunk_state(d: &Dims, f: &Features, cum: &[f32], c0: usize, n: usize) -> Vec<f32> {
    let (qk, vd, dk, dv) = (d.qk(), d.vd(), d.d_k, d.d_v);
    let mut ds = vec![0.0f32; d.state()];
    let end = &cum[(n - 1) * qk..n * qk];
    for s in 0..n {
        for h in 0..d.heads {
            for i in 0..dk {
                let hi = h * dk + i;
                let w = f.k[(c0 + s) * qk + hi] * (end[hi] - cum[s * qk + hi]).exp();
                for j in 0..dv {
                    ds[hi * dv + j] += w * f.v[(c0 + s) * vd + h * dv + j];
                }
            }
        }
    }
    ds
}

/// `S ← diag(exp(L_end)) S + ΔS`.
fn diag_advance(d: &Dims, s: &mut [f32], end: &[f32], ds: &[f32]) {
    let dv = d.d_v;
    for hi in 0..d.qk() {
        let a = end[hi].exp();
        for j in 0..dv {
            s[hi * dv + j] = a * s[hi * dv + j] + ds[hi * dv + j];
        }
    }
}

/// Lightning Attention-2 tiling generalised to per-dimension decays: intra-chunk quadratic,
/// inter-chunk through the state, which is carried sequentially.
pub fn diag_chunked(d: &Dims, f: &Features, chunk: usize) -> Vec<f32> {
    let (qk, vd) = (d.qk(), d.vd());
    let lg = log_gates(f);
    let mut r = vec![0.0f32; f.t * vd];
    let mut s = vec![0.0f32; d.state()];
    let mut c0 = 0;
    while c0 < f.t {
        let c1 = (c0 + chunk).min(f.t);
        let n = c1 - c0;
        let cum = diag_chunk_outputs(d, f, &lg, c0, c1, &s, &mut r[c0 * vd..c1 * vd]);
        let ds = diag_chunk_state(d, f, &cum, c0, n);
        diag_advance(d, &mut s, &cum[(n - 1) * qk..n * qk], &ds);
        c0 = c1;
    }
    r
}

/// LASP-2-style prefill on the current rayon pool: (1) every chunk's local state and total decay
/// in parallel, (2) a sequential prefix scan over chunks (`T/B` small state updates), (3) every
/// chunk's outputs in parallel from its incoming state.
pub fn diag_chunk_parallel(d: &Dims, f: &Features, chunk: usize) -> Vec<f32> {
    let (qk, vd) = (d.qk(), d.vd());
    let lg = log_gates(f);
    let starts: Vec<usize> = (0..f.t).step_by(chunk).collect();
    let local: Vec<(Vec<f32>, Vec<f32>)> = starts
        .par_iter()
        .map(|&c0| {
            let c1 = (c0 + chunk).min(f.t);
            let n = c1 - c0;
            let cum = cumulative_log_decays(qk, &lg, c0, c1);
            (
                diag_chunk_state(d, f, &cum, c0, n),
                cum[(n - 1) * qk..].to_vec(),
            )
        })
        .collect();
    let mut incoming = Vec::with_capacity(starts.len());
    let mut s = vec![0.0f32; d.state()];
    for (ds, end) in &local {
        incoming.push(s.clone());
        diag_advance(d, &mut s, end, ds);
    }
    let mut r = vec![0.0f32; f.t * vd];
    r.par_chunks_mut(chunk * vd)
        .zip(starts.par_iter())
        .zip(incoming.par_iter())
        .for_each(|((rc, &c0), s_in)| {
            let c1 = (c0 + chunk).min(f.t);
            diag_chunk_outputs(d, f, &lg, c0, c1, s_in, rc);
        });
    r
}

/// Gated delta rule in chunks (UT/WY form, derived in docs/recurrent.md): within a chunk with
/// incoming state `S_0` and cumulative decays `γ_r = Π_{i≤r} α_i`,
///
/// ```text
/// S_r = γ_r S_0 + Σ_{i≤r} (γ_r/γ_i) k_iᵀ u_i
/// u_r = β_r v_r − β_r γ_r k_r S_0 − Σ_{i<r} β_r (γ_r/γ_i) (k_r·k_i) u_i      (forward substitution)
/// o_r = γ_r q_r S_0 + Σ_{i≤r} (γ_r/γ_i) (q_r·k_i) u_i
/// ```
///
/// One chunk of the whole sequence is the quadratic ("parallel") form.
pub fn delta_chunked(d: &Dims, f: &Features, chunk: usize) -> Vec<f32> {
    let (vd, dk, dv) = (d.vd(), d.d_k, d.d_v);
    let mut r = vec![0.0f32; f.t * vd];
    for h in 0..d.heads {
        let mut s = vec![0.0f32; dk * dv];
        let mut c0 = 0;
        while c0 < f.t {
            let c1 = (c0 + chunk).min(f.t);
            delta_chunk(d, f, h, c0, c1, &mut s, &mut r[c0 * vd..c1 * vd]);
            c0 = c1;
        }
    }
    r
}

/// The gated delta rule chunk-parallel (LASP-2 with a non-diagonal transition). In the UT form
/// of [`delta_chunked`] the chunk's `u` is affine in the incoming state, `u = u⁰ − W S_in`, with
///
/// ```text
/// u⁰_r = β_r v_r        − Σ_{i<r} β_r (γ_r/γ_i) (k_r·k_i) u⁰_i
/// w_r  = β_r γ_r k_r    − Σ_{i<r} β_r (γ_r/γ_i) (k_r·k_i) w_i
/// ```
///
/// so the chunk maps its state affinely, `S_out = A S_in + B` per head, with
/// `A = γ_n I − Σ_i (γ_n/γ_i) k_iᵀ w_i` and `B = Σ_i (γ_n/γ_i) k_iᵀ u⁰_i`. Every chunk's
/// `(u⁰, W, A, B)` in parallel, a sequential scan over chunks (`T/B` products of `d_k × d_k` by
/// `d_k × d_v`), then every chunk's outputs in parallel from `u = u⁰ − W S_in`.
pub fn delta_chunk_parallel(d: &Dims, f: &Features, chunk: usize) -> Vec<f32> {
    let (vd, dk, dv, nh) = (d.vd(), d.d_k, d.d_v, d.heads);
    let starts: Vec<usize> = (0..f.t).step_by(chunk).collect();
    // maps[c][h]
    let maps: Vec<Vec<DeltaChunkMap>> = starts
        .par_iter()
        .map(|&c0| {
            let c1 = (c0 + chunk).min(f.t);
            (0..nh)
                .map(|h| DeltaChunkMap::new(d, f, h, c0, c1))
                .collect()
        })
        .collect();
    // incoming[c] = per-head states entering chunk c, heads concatenated.
    let mut incoming = Vec::with_capacity(starts.len());
    let mut s = vec![0.0f32; nh * dk * dv];
    for per_head in &maps {
        incoming.push(s.clone());
        for (h, map) in per_head.iter().enumerate() {
            let sh = &mut s[h * dk * dv..(h + 1) * dk * dv];
            let mut next = map.b.clone();
            for i in 0..dk {
                for m in 0..dk {
                    let aim = map.a[i * dk + m];
                    for j in 0..dv {
                        next[i * dv + j] += aim * sh[m * dv + j];
                    }
                }
            }
            sh.copy_from_slice(&next);
        }
    }
    let mut r = vec![0.0f32; f.t * vd];
    r.par_chunks_mut(chunk * vd)
        .zip(maps.par_iter().zip(incoming.par_iter()))
        .for_each(|(rc, (per_head, s_in))| {
            for (h, map) in per_head.iter().enumerate() {
                map.outputs(d, f, &s_in[h * dk * dv..(h + 1) * dk * dv], rc);
            }
        });
    r
}

/// One head's chunk of the gated delta rule as an affine function of its incoming state (see
/// [`delta_chunk_parallel`]).
struct DeltaChunkMap {
    /// Head, chunk and decays.
    span: DeltaSpan,
    /// `u⁰`, `n × d_v`.
    u0: Vec<f32>,
    /// `W`, `n × d_k`.
    w: Vec<f32>,
    /// `A`, `d_k × d_k`.
    a: Vec<f32>,
    /// `B`, `d_k × d_v`.
    b: Vec<f32>,
}

impl DeltaChunkMap {
    fn new(d: &Dims, f: &Features, h: usize, c0: usize, c1: usize) -> Self {
        let (dk, dv) = (d.d_k, d.d_v);
        let n = c1 - c0;
        let span = DeltaSpan::new(d, f, h, c0, c1);
        let (key, val, beta) = (
            |t| span.key(d, f, t),
            |t| span.val(d, f, t),
            |t| span.beta(d, f, t),
        );
        let lgam = &span.lgam;
        let (mut u0, mut w) = (vec![0.0f32; n * dv], vec![0.0f32; n * dk]);
        for t in 0..n {
            let (bt, g) = (beta(t), lgam[t].exp());
            for j in 0..dv {
                u0[t * dv + j] = bt * val(t)[j];
            }
            for x in 0..dk {
                w[t * dk + x] = bt * g * key(t)[x];
            }
            for i in 0..t {
                let c = bt * (lgam[t] - lgam[i]).exp() * dot(key(t), key(i));
                for j in 0..dv {
                    u0[t * dv + j] -= c * u0[i * dv + j];
                }
                for x in 0..dk {
                    w[t * dk + x] -= c * w[i * dk + x];
                }
            }
        }
        let gl = lgam[n - 1];
        let mut a = vec![0.0f32; dk * dk];
        for x in 0..dk {
            a[x * dk + x] = gl.exp();
        }
        for i in 0..n {
            let g = (gl - lgam[i]).exp();
            for x in 0..dk {
                let kx = g * key(i)[x];
                for y in 0..dk {
                    a[x * dk + y] -= kx * w[i * dk + y];
                }
            }
        }
        let mut b = vec![0.0f32; dk * dv];
        span.absorb(d, f, &u0, &mut b);
        Self { span, u0, w, a, b }
    }

    /// Writes the head's readouts of the chunk into `r` (the chunk's rows, all heads), given
    /// the head's incoming state `s_in` (`d_k × d_v`).
    fn outputs(&self, d: &Dims, f: &Features, s_in: &[f32], r: &mut [f32]) {
        let (dk, dv) = (d.d_k, d.d_v);
        // u = u⁰ − W S_in
        let mut u = self.u0.clone();
        let mut tmp = vec![0.0f32; dv];
        for (ut, wt) in u.chunks_exact_mut(dv).zip(self.w.chunks_exact(dk)) {
            times_state(wt, s_in, &mut tmp);
            for (x, y) in ut.iter_mut().zip(&tmp) {
                *x -= y;
            }
        }
        self.span.readouts(d, f, s_in, &u, r);
    }
}

/// `Σ a_i b_i` in f32, in index order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `out = x S` for a head state `S` (`d_k × d_v`, row-major) and a row `x` (`d_k`).
fn times_state(x: &[f32], s: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for (xi, srow) in x.iter().zip(s.chunks_exact(out.len())) {
        for (o, &sv) in out.iter_mut().zip(srow) {
            *o += xi * sv;
        }
    }
}

/// One head's chunk `[c0, c0 + n)` of the gated delta rule and its cumulative log decays.
struct DeltaSpan {
    h: usize,
    c0: usize,
    /// `ln γ_t`, inclusive, relative to the chunk start (`n` values).
    lgam: Vec<f32>,
}

impl DeltaSpan {
    fn new(d: &Dims, f: &Features, h: usize, c0: usize, c1: usize) -> Self {
        let nh = d.heads;
        let mut lgam = vec![0.0f32; c1 - c0];
        for t in 0..c1 - c0 {
            lgam[t] = f.gate[(c0 + t) * 2 * nh + h].ln() + if t > 0 { lgam[t - 1] } else { 0.0 };
        }
        Self { h, c0, lgam }
    }

    /// The head's key of token `t` of the chunk.
    fn key<'f>(&self, d: &Dims, f: &'f Features, t: usize) -> &'f [f32] {
        &f.k[(self.c0 + t) * d.qk() + self.h * d.d_k..][..d.d_k]
    }

    /// The head's value of token `t` of the chunk.
    fn val<'f>(&self, d: &Dims, f: &'f Features, t: usize) -> &'f [f32] {
        &f.v[(self.c0 + t) * d.vd() + self.h * d.d_v..][..d.d_v]
    }

    /// The head's write strength `β` of token `t` of the chunk.
    fn beta(&self, d: &Dims, f: &Features, t: usize) -> f32 {
        f.gate[(self.c0 + t) * 2 * d.heads + d.heads + self.h]
    }

    /// Readouts `o_t = γ_t q_t S_in + Σ_{i≤t} (γ_t/γ_i) (q_t·k_i) u_i`, written into `r` (the
    /// chunk's rows, all heads).
    fn readouts(&self, d: &Dims, f: &Features, s_in: &[f32], u: &[f32], r: &mut [f32]) {
        let (qk, vd, dk, dv) = (d.qk(), d.vd(), d.d_k, d.d_v);
        let (h, c0, lgam) = (self.h, self.c0, &self.lgam);
        let qry = |t: usize| &f.q[(c0 + t) * qk + h * dk..][..dk];
        let mut tmp = vec![0.0f32; dv];
        for t in 0..lgam.len() {
            times_state(qry(t), s_in, &mut tmp);
            let g = lgam[t].exp();
            let rt = &mut r[t * vd + h * dv..][..dv];
            for j in 0..dv {
                rt[j] = g * tmp[j];
            }
            for i in 0..=t {
                let a = (lgam[t] - lgam[i]).exp() * dot(qry(t), self.key(d, f, i));
                for j in 0..dv {
                    rt[j] += a * u[i * dv + j];
                }
            }
        }
    }

    /// The state at the end of the chunk: `s ← γ_n s + Σ_i (γ_n/γ_i) k_iᵀ u_i`.
    fn absorb(&self, d: &Dims, f: &Features, u: &[f32], s: &mut [f32]) {
        let (dk, dv, lgam) = (d.d_k, d.d_v, &self.lgam);
        let gl = lgam[lgam.len() - 1];
        let g_end = gl.exp();
        for x in s.iter_mut() {
            *x *= g_end;
        }
        for i in 0..lgam.len() {
            let w = (gl - lgam[i]).exp();
            let k = self.key(d, f, i);
            for a in 0..dk {
                let ka = w * k[a];
                for j in 0..dv {
                    s[a * dv + j] += ka * u[i * dv + j];
                }
            }
        }
    }
}

/// One chunk `[c0, c1)` of head `h` in the UT form of [`delta_chunked`]: advances `s` (the
/// head's `d_k × d_v` state) over the chunk and writes the head's readouts into `r` (the
/// chunk's rows, all heads).
fn delta_chunk(
    d: &Dims,
    f: &Features,
    h: usize,
    c0: usize,
    c1: usize,
    s: &mut [f32],
    r: &mut [f32],
) {
    let dv = d.d_v;
    let n = c1 - c0;
    let span = DeltaSpan::new(d, f, h, c0, c1);
    let (key, val, beta) = (
        |t| span.key(d, f, t),
        |t| span.val(d, f, t),
        |t| span.beta(d, f, t),
    );
    let lgam = &span.lgam;
    let mut u = vec![0.0f32; n * dv];
    let mut tmp = vec![0.0f32; dv];
    for t in 0..n {
        let (b, g) = (beta(t), lgam[t].exp());
        times_state(key(t), s, &mut tmp);
        for j in 0..dv {
            u[t * dv + j] = b * val(t)[j] - b * g * tmp[j];
        }
        for i in 0..t {
            let a = b * (lgam[t] - lgam[i]).exp() * dot(key(t), key(i));
            for j in 0..dv {
                u[t * dv + j] -= a * u[i * dv + j];
            }
        }
    }
    span.readouts(d, f, s, &u, r);
    span.absorb(d, f, &u, s);
}

/// Sliding-window softmax attention over a whole sequence: query `t` attends to
/// `s ∈ (t − w, t]`, RoPE applied by relative age from `table` (as the ring-buffer cell does).
/// `Parallel` builds each query's row directly; `Chunked(b)` scores a block of `b` queries
/// against the block's keys plus the `w − 1` keys before it, then masks.
#[allow(clippy::too_many_arguments)]
pub fn swa_form(
    d: &Dims,
    window: usize,
    table: Option<&[f32]>,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    t_len: usize,
    form: Form,
) -> Vec<f32> {
    let chunk = match form {
        Form::Parallel => t_len.max(1),
        Form::Chunked(b) | Form::ChunkParallel(b) => b.max(1),
    };
    let (qk, vd, dk, dv) = (d.qk(), d.vd(), d.d_k, d.d_v);
    let scale = 1.0 / (dk as f32).sqrt();
    let half = dk / 2;
    let mut r = vec![0.0f32; t_len * vd];
    let mut c0 = 0;
    while c0 < t_len {
        let c1 = (c0 + chunk).min(t_len);
        let k0 = (c0 + 1).saturating_sub(window);
        for h in 0..d.heads {
            // block of scores: rows c0..c1, columns k0..c1 (masked outside the window)
            let cols = c1 - k0;
            let mut sc = vec![f32::NEG_INFINITY; (c1 - c0) * cols];
            let mut qrot = vec![0.0f32; dk];
            for t in c0..c1 {
                let qh = &q[t * qk + h * dk..][..dk];
                for s in k0..=t {
                    let age = t - s;
                    if age >= window {
                        continue;
                    }
                    let qj: &[f32] = match table {
                        Some(tb) => {
                            let row = &tb[age * dk..][..dk];
                            for i in 0..half {
                                let (c, sn) = (row[2 * i], row[2 * i + 1]);
                                qrot[i] = qh[i] * c - qh[i + half] * sn;
                                qrot[i + half] = qh[i] * sn + qh[i + half] * c;
                            }
                            &qrot
                        }
                        None => qh,
                    };
                    let kh = &k[s * qk + h * dk..][..dk];
                    sc[(t - c0) * cols + (s - k0)] =
                        qj.iter().zip(kh).map(|(a, b)| a * b).sum::<f32>() * scale;
                }
            }
            for t in c0..c1 {
                let row = &mut sc[(t - c0) * cols..(t - c0 + 1) * cols];
                let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let mut z = 0.0f32;
                for x in row.iter_mut() {
                    *x = (*x - m).exp();
                    z += *x;
                }
                let rt = &mut r[t * vd + h * dv..][..dv];
                for (c, &p) in row.iter().enumerate() {
                    if p == 0.0 {
                        continue;
                    }
                    for j in 0..dv {
                        rt[j] += p / z * v[(k0 + c) * vd + h * dv + j];
                    }
                }
            }
        }
        c0 = c1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use mote_core::check::XorShift32;

    /// Random diagonal-rule features whose gates lie in `[lo, hi]`.
    fn features(d: &Dims, t: usize, lo: f32, hi: f32, seed: u32) -> Features {
        let mut rng = XorShift32(seed);
        let mut u = |n: usize, a: f32, b: f32| -> Vec<f32> {
            (0..n).map(|_| a + (b - a) * rng.next_f32()).collect()
        };
        Features {
            t,
            q: u(t * d.qk(), -1.0, 1.0),
            k: u(t * d.qk(), -1.0, 1.0),
            v: u(t * d.vd(), -1.0, 1.0),
            gate: u(t * d.qk(), lo, hi),
        }
    }

    #[test]
    fn factored_and_per_pair_decays_agree_with_the_parallel_form() {
        let d = Dims {
            d_model: 8,
            heads: 2,
            d_k: 4,
            d_v: 3,
            math: mote_core::recurrent::Math::Libm,
        };
        // Mild gates keep |L| ≤ 30 in a 64-token chunk (factored path); gates near 0.2 drive
        // |L| past the limit within ~19 tokens (per-pair path for chunks of 64, factored for 4).
        for (lo, hi) in [(0.9, 1.0), (0.15, 0.25)] {
            let f = features(&d, 100, lo, hi, 3);
            let want = diag_parallel(&d, &f);
            for form in [Form::Chunked(4), Form::Chunked(64), Form::ChunkParallel(64)] {
                let got = mix(RuleKind::Diagonal, &d, &f, form);
                let err = got
                    .iter()
                    .zip(&want)
                    .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                assert!(
                    err <= 1e-6 * scale,
                    "gates [{lo}, {hi}], {form:?}: max |diff| {err}, outputs up to {scale}"
                );
            }
        }
    }
}
