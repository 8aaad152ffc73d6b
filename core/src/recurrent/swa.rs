//! Sliding-window softmax attention over a ring buffer, and the Liger Attention hybrid.

use super::{
    Cell, CellError, Dims, apply_diagonal, check, check_at_least, check_linear, gla_key_features,
    project,
};
use crate::kernels::Linear;

/// Rotary position embedding of the attention branch (Llama's half-split pairs `(i, i + d_k/2)`,
/// frequencies `θ_i = base^(−2i/d_k)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rope {
    /// Frequency base (10 000 in Llama).
    pub base: f32,
}

/// Fills `out` (`window · d_k`) with `cos(j θ_i), sin(j θ_i)` for ages `j < window` and pairs
/// `i < d_k/2`, computed in `f64` and rounded once, so every target gets the same table.
pub fn rope_table(d_k: usize, window: usize, rope: Rope, out: &mut [f32]) -> Result<(), CellError> {
    check("rope table", out.len(), window * d_k)?;
    let half = d_k / 2;
    for j in 0..window {
        for i in 0..half {
            let theta = libm::pow(rope.base as f64, -2.0 * i as f64 / d_k as f64);
            let a = j as f64 * theta;
            out[j * d_k + 2 * i] = libm::cos(a) as f32;
            out[j * d_k + 2 * i + 1] = libm::sin(a) as f32;
        }
    }
    Ok(())
}

/// Softmax attention of the query `q` (`H·d_k`) over the `filled` most recent ring entries
/// (`newest` is the slot of the current token), writing `out` (`H·d_v`). With RoPE the score of
/// the entry of age `j` is `(R_j q) · k / √d_k`: relative rotation, so positions never grow and
/// the cell runs forever with the same accuracy.
///
/// ```text
/// for each head h:  s_j = (R_j q_h) · K[newest − j]_h / √d_k   for j < filled
///                   p = softmax(s);  out_h = Σ_j p_j · V[newest − j]_h   (sequential in j)
/// ```
#[allow(clippy::too_many_arguments)]
pub fn swa_attend(
    d: &Dims,
    window: usize,
    rope: Option<&[f32]>,
    filled: usize,
    newest: usize,
    q: &[f32],
    kring: &[f32],
    vring: &[f32],
    work: &mut [f32],
    out: &mut [f32],
) {
    let (dk, dv, qk, vd) = (d.d_k, d.d_v, d.qk(), d.vd());
    let scale = 1.0 / libm::sqrtf(dk as f32);
    let (scores, qrot) = work.split_at_mut(window);
    let half = dk / 2;
    for h in 0..d.heads {
        let qh = &q[h * dk..][..dk];
        for j in 0..filled {
            let slot = (newest + window - j) % window;
            let kh = &kring[slot * qk + h * dk..][..dk];
            let qj: &[f32] = match rope {
                Some(t) => {
                    let row = &t[j * dk..][..dk];
                    for i in 0..half {
                        let (c, s) = (row[2 * i], row[2 * i + 1]);
                        qrot[i] = qh[i] * c - qh[i + half] * s;
                        qrot[i + half] = qh[i] * s + qh[i + half] * c;
                    }
                    if !dk.is_multiple_of(2) {
                        qrot[dk - 1] = qh[dk - 1];
                    }
                    &qrot[..dk]
                }
                None => qh,
            };
            let mut acc = 0.0f32;
            for (a, b) in qj.iter().zip(kh) {
                acc += a * b;
            }
            scores[j] = acc * scale;
        }
        d.math.softmax(&mut scores[..filled]);
        let oh = &mut out[h * dv..][..dv];
        oh.fill(0.0);
        for (j, &p) in scores[..filled].iter().enumerate() {
            let slot = (newest + window - j) % window;
            for (o, &vv) in oh.iter_mut().zip(&vring[slot * vd + h * dv..][..dv]) {
                *o += p * vv;
            }
        }
    }
}

/// State layout shared by [`Swa`] and [`Liger`]'s attention branch:
/// `[filled, next, ready, rope table (window·d_k, if RoPE), K ring (window·H·d_k), V ring]`.
#[derive(Clone, Copy, Debug)]
struct Ring {
    window: usize,
    rope: Option<Rope>,
}

const RING_HEADER: usize = 3;

impl Ring {
    fn table_len(&self, d: &Dims) -> usize {
        if self.rope.is_some() {
            self.window * d.d_k
        } else {
            0
        }
    }
    fn len(&self, d: &Dims) -> usize {
        RING_HEADER + self.table_len(d) + self.window * (d.qk() + d.vd())
    }
    fn reset(&self, d: &Dims, state: &mut [f32]) -> Result<(), CellError> {
        state.fill(0.0);
        if let Some(r) = self.rope {
            rope_table(
                d.d_k,
                self.window,
                r,
                &mut state[RING_HEADER..][..self.table_len(d)],
            )?;
        }
        state[2] = 1.0;
        Ok(())
    }
    fn work_len(&self, d: &Dims) -> usize {
        self.window + d.d_k
    }
    /// Pushes `(k, v)`, then attends with `q`.
    #[allow(clippy::too_many_arguments)]
    fn push_attend(
        &self,
        d: &Dims,
        state: &mut [f32],
        q: &[f32],
        k: &[f32],
        v: &[f32],
        work: &mut [f32],
        out: &mut [f32],
    ) -> Result<(), CellError> {
        if state[2] != 1.0 {
            return Err(CellError::Config(
                "attention state was not reset (call Cell::reset)",
            ));
        }
        let w = self.window;
        // The header holds small integers (< window), exact in f32.
        let filled = state[0] as usize;
        let next = state[1] as usize;
        if filled > w || next >= w {
            return Err(CellError::Config("attention ring header is corrupt"));
        }
        let (header, rest) = state.split_at_mut(RING_HEADER);
        let (table, rest) = rest.split_at_mut(self.table_len(d));
        let (kring, vring) = rest.split_at_mut(w * d.qk());
        kring[next * d.qk()..][..d.qk()].copy_from_slice(k);
        vring[next * d.vd()..][..d.vd()].copy_from_slice(v);
        let filled = (filled + 1).min(w);
        header[0] = filled as f32;
        header[1] = ((next + 1) % w) as f32;
        let rope = self.rope.map(|_| &*table);
        swa_attend(d, w, rope, filled, next, q, kring, vring, work, out);
        Ok(())
    }
}

/// Sliding-window softmax attention (window `w`, optional RoPE) with a ring buffer of the last
/// `w` keys and values: constant memory, `O(w·d)` work per token. The current token is included.
///
/// ```text
/// q, k, v = W_q x, W_k x, W_v x;  ring ← (k, v)  (overwrites the entry of age w)
/// o = softmax over the ring of (R_age q)·k/√d_k, mixed with V;  y = W_o o
/// ```
///
/// The state holds constant tables: start each stream with [`Cell::reset`].
#[derive(Clone, Copy, Debug)]
pub struct Swa<'a> {
    dims: Dims,
    wq: Linear<'a>,
    wk: Linear<'a>,
    wv: Linear<'a>,
    wo: Linear<'a>,
    ring: Ring,
}

fn check_qkvo(
    dims: &Dims,
    wq: &Linear<'_>,
    wk: &Linear<'_>,
    wv: &Linear<'_>,
    wo: &Linear<'_>,
    window: usize,
    rope: Option<Rope>,
) -> Result<(), CellError> {
    dims.validate()?;
    check_linear("wq", wq, dims.qk(), dims.d_model)?;
    check_linear("wk", wk, dims.qk(), dims.d_model)?;
    check_linear("wv", wv, dims.vd(), dims.d_model)?;
    check_linear("wo", wo, dims.d_model, dims.vd())?;
    if window == 0 {
        return Err(CellError::Config("attention window must be at least 1"));
    }
    if let Some(r) = rope {
        if !dims.d_k.is_multiple_of(2) {
            return Err(CellError::Config("RoPE needs an even d_k"));
        }
        if !(r.base > 1.0 && r.base.is_finite()) {
            return Err(CellError::Config("RoPE base must be a finite number > 1"));
        }
    }
    Ok(())
}

impl<'a> Swa<'a> {
    /// Checks the projections and the window.
    pub fn new(
        dims: Dims,
        wq: Linear<'a>,
        wk: Linear<'a>,
        wv: Linear<'a>,
        wo: Linear<'a>,
        window: usize,
        rope: Option<Rope>,
    ) -> Result<Self, CellError> {
        check_qkvo(&dims, &wq, &wk, &wv, &wo, window, rope)?;
        Ok(Swa {
            dims,
            wq,
            wk,
            wv,
            wo,
            ring: Ring { window, rope },
        })
    }
    /// Window length.
    pub fn window(&self) -> usize {
        self.ring.window
    }
    /// RoPE configuration.
    pub fn rope(&self) -> Option<Rope> {
        self.ring.rope
    }
    /// The output projection.
    pub fn wo(&self) -> &Linear<'a> {
        &self.wo
    }
    /// Raw projections of one token.
    pub fn project(
        &self,
        x: &[f32],
        q: &mut [f32],
        k: &mut [f32],
        v: &mut [f32],
        qs: &mut [i8],
    ) -> Result<(), CellError> {
        project("wq", &self.wq, x, q, qs)?;
        project("wk", &self.wk, x, k, qs)?;
        project("wv", &self.wv, x, v, qs)
    }
}

impl Cell for Swa<'_> {
    fn dims(&self) -> Dims {
        self.dims
    }
    fn state_len(&self) -> usize {
        self.ring.len(&self.dims)
    }
    fn scratch_len(&self) -> usize {
        2 * self.dims.qk() + 2 * self.dims.vd() + self.ring.work_len(&self.dims)
    }
    fn reset(&self, state: &mut [f32]) -> Result<(), CellError> {
        check("state", state.len(), self.state_len())?;
        self.ring.reset(&self.dims, state)
    }
    fn step(
        &self,
        x: &[f32],
        state: &mut [f32],
        scratch: &mut [f32],
        qs: &mut [i8],
        out: &mut [f32],
    ) -> Result<(), CellError> {
        let d = &self.dims;
        check("x", x.len(), d.d_model)?;
        check("out", out.len(), d.d_model)?;
        check("state", state.len(), self.state_len())?;
        check_at_least("scratch", scratch.len(), self.scratch_len())?;
        let (q, rest) = scratch.split_at_mut(d.qk());
        let (k, rest) = rest.split_at_mut(d.qk());
        let (v, rest) = rest.split_at_mut(d.vd());
        let (o, work) = rest.split_at_mut(d.vd());
        self.project(x, q, k, v, qs)?;
        self.ring.push_attend(d, state, q, k, v, work, o)?;
        project("wo", &self.wo, o, out, qs)
    }
}

/// Liger Attention (SPEC §5.3): one set of q/k/v projections feeds a GLA branch (Liger gate
/// from the raw key, softmax feature maps) and a sliding-window softmax branch, mixed 0.5/0.5.
///
/// ```text
/// q, k, v = W_q x, W_k x, W_v x
/// o_swa  = SWA_w(q, k, v)                                   (ring buffer, RoPE optional)
/// α = exp(logsigmoid(k)/16);  S = diag(α) S + softmax_h(k)ᵀ v;  o_grm = softmax_h(q) S
/// y = W_o (0.5 · o_grm + 0.5 · o_swa)
/// ```
///
/// The state holds constant tables: start each stream with [`Cell::reset`].
#[derive(Clone, Copy, Debug)]
pub struct Liger<'a> {
    swa: Swa<'a>,
}

impl<'a> Liger<'a> {
    /// Checks the projections and the window.
    pub fn new(
        dims: Dims,
        wq: Linear<'a>,
        wk: Linear<'a>,
        wv: Linear<'a>,
        wo: Linear<'a>,
        window: usize,
        rope: Option<Rope>,
    ) -> Result<Self, CellError> {
        Ok(Liger {
            swa: Swa::new(dims, wq, wk, wv, wo, window, rope)?,
        })
    }
    /// The attention branch (its projections are shared with the GLA branch).
    pub fn attention(&self) -> &Swa<'a> {
        &self.swa
    }
}

impl Cell for Liger<'_> {
    fn dims(&self) -> Dims {
        self.swa.dims
    }
    fn state_len(&self) -> usize {
        self.swa.dims.state() + self.swa.state_len()
    }
    fn scratch_len(&self) -> usize {
        self.swa.scratch_len() + self.swa.dims.qk() + self.swa.dims.vd()
    }
    fn reset(&self, state: &mut [f32]) -> Result<(), CellError> {
        check("state", state.len(), self.state_len())?;
        let (gla, ring) = state.split_at_mut(self.swa.dims.state());
        gla.fill(0.0);
        self.swa.ring.reset(&self.swa.dims, ring)
    }
    fn step(
        &self,
        x: &[f32],
        state: &mut [f32],
        scratch: &mut [f32],
        qs: &mut [i8],
        out: &mut [f32],
    ) -> Result<(), CellError> {
        let d = &self.swa.dims;
        check("x", x.len(), d.d_model)?;
        check("out", out.len(), d.d_model)?;
        check("state", state.len(), self.state_len())?;
        check_at_least("scratch", scratch.len(), self.scratch_len())?;
        let (q, rest) = scratch.split_at_mut(d.qk());
        let (k, rest) = rest.split_at_mut(d.qk());
        let (v, rest) = rest.split_at_mut(d.vd());
        let (o_swa, rest) = rest.split_at_mut(d.vd());
        let (gate, rest) = rest.split_at_mut(d.qk());
        let (o_grm, work) = rest.split_at_mut(d.vd());
        let (gla, ring) = state.split_at_mut(d.state());
        self.swa.project(x, q, k, v, qs)?;
        self.swa.ring.push_attend(d, ring, q, k, v, work, o_swa)?;
        gla_key_features(d, k, gate);
        for qh in q.chunks_exact_mut(d.d_k) {
            d.math.softmax(qh);
        }
        apply_diagonal(d, q, k, v, gate, gla, o_grm);
        for (g, &s) in o_grm.iter_mut().zip(o_swa.iter()) {
            *g = 0.5 * *g + 0.5 * s;
        }
        project("wo", &self.swa.wo, o_grm, out, qs)
    }
}
