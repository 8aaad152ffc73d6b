//! Recurrent memories with a per-token update rule, and the single-memory cell built on them.

use super::{Cell, CellError, Dims, check, check_at_least, check_linear, l2_normalize, project};
use crate::kernels::Linear;

/// The family of a memory's update, which decides the shape of its gate features and how the
/// host's chunked forms treat it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `S ← diag(a) S + kᵀ v` with a decay `a ∈ (0, 1]` per key dimension (gate features: `H·d_k`).
    Diagonal,
    /// `S ← α (I − β kᵀ k) S + β kᵀ v` with scalars `α, β` per head (gate features: `α[H], β[H]`).
    Delta,
}

/// A memory: how a token becomes key/value/gate features, how the query is mapped, and how the
/// state is updated and read.
pub trait MemoryRule {
    /// The update family.
    const KIND: RuleKind;
    /// Checks that the projections fit `d`.
    fn validate(&self, d: &Dims) -> Result<(), CellError>;
    /// Feature map applied to the (shared) query projection.
    fn query_map(d: &Dims, q: &mut [f32]);
    /// Writes the token's key `k` (`H·d_k`), value `v` (`H·d_v`) and gate features.
    fn token(
        &self,
        d: &Dims,
        x: &[f32],
        k: &mut [f32],
        v: &mut [f32],
        gate: &mut [f32],
        qs: &mut [i8],
    ) -> Result<(), CellError>;
    /// Elements of the gate features.
    fn gate_len(d: &Dims) -> usize {
        match Self::KIND {
            RuleKind::Diagonal => d.qk(),
            RuleKind::Delta => 2 * d.heads,
        }
    }
    /// Updates one memory's `state` with the token and writes the readout `q S` (`H·d_v`).
    fn apply(
        d: &Dims,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        gate: &[f32],
        state: &mut [f32],
        r: &mut [f32],
    ) {
        match Self::KIND {
            RuleKind::Diagonal => apply_diagonal(d, q, k, v, gate, state, r),
            RuleKind::Delta => apply_delta(d, q, k, v, gate, state, r),
        }
    }
}

/// One step of the diagonal-decay rule for all heads (slices sized as in [`MemoryRule`]).
///
/// ```text
/// for each head h, i < d_k, j < d_v:
///     S[h][i][j] = a[h][i] · S[h][i][j] + k[h][i] · v[h][j]
///     r[h][j]    = Σ_i q[h][i] · S[h][i][j]          (sequential in i)
/// ```
pub fn apply_diagonal(
    d: &Dims,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    a: &[f32],
    state: &mut [f32],
    r: &mut [f32],
) {
    let (dk, dv) = (d.d_k, d.d_v);
    for h in 0..d.heads {
        let s = &mut state[h * dk * dv..(h + 1) * dk * dv];
        let (qh, kh, ah) = (&q[h * dk..][..dk], &k[h * dk..][..dk], &a[h * dk..][..dk]);
        let vh = &v[h * dv..][..dv];
        let rh = &mut r[h * dv..][..dv];
        rh.fill(0.0);
        for i in 0..dk {
            let row = &mut s[i * dv..(i + 1) * dv];
            let (ai, ki, qi) = (ah[i], kh[i], qh[i]);
            for ((sij, &vj), rj) in row.iter_mut().zip(vh).zip(rh.iter_mut()) {
                *sij = ai * *sij + ki * vj;
                *rj += qi * *sij;
            }
        }
    }
}

/// One step of the gated delta rule (fla convention, SPEC §5.2) for all heads; `g = [α[H], β[H]]`.
///
/// ```text
/// for each head h:  u[j]    = Σ_i k[i] · S[i][j]
///                   S[i][j] = α · (S[i][j] − β · k[i] · u[j]) + β · k[i] · v[j]
///                   r[j]    = Σ_i q[i] · S[i][j]
/// ```
pub fn apply_delta(
    d: &Dims,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    g: &[f32],
    state: &mut [f32],
    r: &mut [f32],
) {
    let (dk, dv, nh) = (d.d_k, d.d_v, d.heads);
    for h in 0..nh {
        let s = &mut state[h * dk * dv..(h + 1) * dk * dv];
        let (qh, kh) = (&q[h * dk..][..dk], &k[h * dk..][..dk]);
        let vh = &v[h * dv..][..dv];
        let rh = &mut r[h * dv..][..dv];
        let (alpha, beta) = (g[h], g[nh + h]);
        // r holds u = kᵀ S first, then the readout.
        rh.fill(0.0);
        for i in 0..dk {
            for (uj, &sij) in rh.iter_mut().zip(&s[i * dv..(i + 1) * dv]) {
                *uj += kh[i] * sij;
            }
        }
        for i in 0..dk {
            let bk = beta * kh[i];
            for ((sij, &uj), &vj) in s[i * dv..(i + 1) * dv].iter_mut().zip(rh.iter()).zip(vh) {
                *sij = alpha * (*sij - bk * uj) + bk * vj;
            }
        }
        rh.fill(0.0);
        for i in 0..dk {
            for (rj, &sij) in rh.iter_mut().zip(&s[i * dv..(i + 1) * dv]) {
                *rj += qh[i] * sij;
            }
        }
    }
}

/// ALiBi slopes turned into Lightning-Attention decays `λ_h = exp(−s_h)` (SPEC §5.1): for `H` a
/// power of two `s_h = 2^(−8h/H)`, `h = 1..H`; otherwise ALiBi's interleaving rule.
pub fn alibi_decays(out: &mut [f32]) {
    let heads = out.len();
    if heads == 0 {
        return;
    }
    let slope = |h: usize, n: usize| libm::exp2(-8.0 * h as f64 / n as f64);
    let n = 1usize << (usize::BITS - 1 - heads.leading_zeros());
    for (i, o) in out.iter_mut().enumerate() {
        let s = if i < n {
            slope(i + 1, n)
        } else {
            // the odd-indexed slopes of 2n heads, 2^(−8(2j+1)/2n)
            slope(2 * (i - n) + 1, 2 * n)
        };
        *o = libm::exp(-s) as f32;
    }
}

fn each_head(x: &mut [f32], size: usize, mut f: impl FnMut(&mut [f32])) {
    for h in x.chunks_exact_mut(size) {
        f(h);
    }
}

/// Lightning Attention-2 memory (TransNormerLLM, SPEC §5.1): `k = SiLU(W_k x)`,
/// `v = SiLU(W_v x)`, query `SiLU(W_q x)`, decay `λ_h` per head, no normaliser.
///
/// ```text
/// kv_t = λ_h · kv_{t−1} + k_tᵀ v_t ,   o_t = q_t kv_t ,   kv_0 = 0
/// ```
#[derive(Clone, Copy, Debug)]
pub struct La2Memory<'a> {
    /// Key projection `d → H·d_k`.
    pub wk: Linear<'a>,
    /// Value projection `d → H·d_v`.
    pub wv: Linear<'a>,
    /// `λ_h` per head, in `(0, 1]` (see [`alibi_decays`]).
    pub decay: &'a [f32],
}

impl MemoryRule for La2Memory<'_> {
    const KIND: RuleKind = RuleKind::Diagonal;
    fn validate(&self, d: &Dims) -> Result<(), CellError> {
        check_linear("la2.wk", &self.wk, d.qk(), d.d_model)?;
        check_linear("la2.wv", &self.wv, d.vd(), d.d_model)?;
        check("la2.decay", self.decay.len(), d.heads)?;
        if self.decay.iter().any(|l| !(*l > 0.0 && *l <= 1.0)) {
            return Err(CellError::Config("la2.decay must lie in (0, 1]"));
        }
        Ok(())
    }
    fn query_map(d: &Dims, q: &mut [f32]) {
        q.iter_mut().for_each(|x| *x = d.math.silu(*x));
    }
    fn token(
        &self,
        d: &Dims,
        x: &[f32],
        k: &mut [f32],
        v: &mut [f32],
        gate: &mut [f32],
        qs: &mut [i8],
    ) -> Result<(), CellError> {
        project("la2.wk", &self.wk, x, k, qs)?;
        project("la2.wv", &self.wv, x, v, qs)?;
        k.iter_mut()
            .chain(v.iter_mut())
            .for_each(|x| *x = d.math.silu(*x));
        for (g, &l) in gate.chunks_exact_mut(d.d_k).zip(self.decay) {
            g.fill(l);
        }
        Ok(())
    }
}

/// GLA memory with the Liger gate (SPEC §5.3): the gate comes from the raw key projection,
/// `log α = logsigmoid(k)/16` per key dimension; keys and queries use a softmax feature map over
/// each head; values are the raw projection; no denominator.
///
/// ```text
/// S_t = diag(α_t) S_{t−1} + φ(k_t)ᵀ v_t ,   o_t = φ(q_t) S_t ,   φ = softmax over the head
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GlaMemory<'a> {
    /// Key projection `d → H·d_k` (also the gate's input).
    pub wk: Linear<'a>,
    /// Value projection `d → H·d_v`.
    pub wv: Linear<'a>,
}

/// GLA's gate temperature: `log α = logsigmoid(k) / 16`.
const GLA_GATE_TEMPERATURE: f32 = 16.0;

/// Liger's GLA features from a raw key projection `k` (`H·d_k`): writes the gate
/// `α = exp(logsigmoid(k)/16)` into `gate`, then replaces `k` by its per-head softmax.
pub fn gla_key_features(d: &Dims, k: &mut [f32], gate: &mut [f32]) {
    for (g, &kr) in gate.iter_mut().zip(k.iter()) {
        *g = d.math.exp(d.math.log_sigmoid(kr) / GLA_GATE_TEMPERATURE);
    }
    each_head(k, d.d_k, |h| d.math.softmax(h));
}

impl MemoryRule for GlaMemory<'_> {
    const KIND: RuleKind = RuleKind::Diagonal;
    fn validate(&self, d: &Dims) -> Result<(), CellError> {
        check_linear("gla.wk", &self.wk, d.qk(), d.d_model)?;
        check_linear("gla.wv", &self.wv, d.vd(), d.d_model)
    }
    fn query_map(d: &Dims, q: &mut [f32]) {
        each_head(q, d.d_k, |h| d.math.softmax(h));
    }
    fn token(
        &self,
        d: &Dims,
        x: &[f32],
        k: &mut [f32],
        v: &mut [f32],
        gate: &mut [f32],
        qs: &mut [i8],
    ) -> Result<(), CellError> {
        project("gla.wk", &self.wk, x, k, qs)?;
        project("gla.wv", &self.wv, x, v, qs)?;
        gla_key_features(d, k, gate);
        Ok(())
    }
}

/// Gated DeltaNet memory (the MoM default, SPEC §5.2), without the short convolutions:
/// `k = l2norm(SiLU(W_k x))` per head, `v = SiLU(W_v x)`, query `l2norm(SiLU(W_q x))`,
/// `α = exp(−exp(A_log) · softplus(W_a x + dt_bias))`, `β = σ(W_b x)` per head.
///
/// ```text
/// S_t = α_t (I − β_t k_tᵀ k_t) S_{t−1} + β_t k_tᵀ v_t ,   o_t = q_t S_t
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DeltaMemory<'a> {
    /// Key projection `d → H·d_k`.
    pub wk: Linear<'a>,
    /// Value projection `d → H·d_v`.
    pub wv: Linear<'a>,
    /// Decay-rate projection `d → H`.
    pub wa: Linear<'a>,
    /// Write-strength projection `d → H`.
    pub wb: Linear<'a>,
    /// `A_log` per head.
    pub a_log: &'a [f32],
    /// `dt_bias` per head.
    pub dt_bias: &'a [f32],
}

impl MemoryRule for DeltaMemory<'_> {
    const KIND: RuleKind = RuleKind::Delta;
    fn validate(&self, d: &Dims) -> Result<(), CellError> {
        check_linear("delta.wk", &self.wk, d.qk(), d.d_model)?;
        check_linear("delta.wv", &self.wv, d.vd(), d.d_model)?;
        check_linear("delta.wa", &self.wa, d.heads, d.d_model)?;
        check_linear("delta.wb", &self.wb, d.heads, d.d_model)?;
        check("delta.a_log", self.a_log.len(), d.heads)?;
        check("delta.dt_bias", self.dt_bias.len(), d.heads)
    }
    fn query_map(d: &Dims, q: &mut [f32]) {
        q.iter_mut().for_each(|x| *x = d.math.silu(*x));
        each_head(q, d.d_k, l2_normalize);
    }
    fn token(
        &self,
        d: &Dims,
        x: &[f32],
        k: &mut [f32],
        v: &mut [f32],
        gate: &mut [f32],
        qs: &mut [i8],
    ) -> Result<(), CellError> {
        project("delta.wk", &self.wk, x, k, qs)?;
        project("delta.wv", &self.wv, x, v, qs)?;
        k.iter_mut()
            .chain(v.iter_mut())
            .for_each(|x| *x = d.math.silu(*x));
        each_head(k, d.d_k, l2_normalize);
        let (a, b) = gate.split_at_mut(d.heads);
        project("delta.wa", &self.wa, x, a, qs)?;
        project("delta.wb", &self.wb, x, b, qs)?;
        for h in 0..d.heads {
            let m = d.math;
            a[h] = m.exp(-m.exp(self.a_log[h]) * m.softplus(a[h] + self.dt_bias[h]));
            b[h] = m.sigmoid(b[h]);
        }
        Ok(())
    }
}

/// A single-memory recurrent layer: shared query projection, one [`MemoryRule`], output
/// projection. `MemoryCell<La2Memory>` is Lightning Attention-2, `MemoryCell<GlaMemory>` the
/// Liger GLA layer, `MemoryCell<DeltaMemory>` Gated DeltaNet.
///
/// ```text
/// q = query_map(W_q x);  (k, v, gate) = rule.token(x)
/// S ← rule.update(S, k, v, gate);  y = W_o (q S)
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MemoryCell<'a, R> {
    dims: Dims,
    wq: Linear<'a>,
    memory: R,
    wo: Linear<'a>,
}

impl<'a, R: MemoryRule> MemoryCell<'a, R> {
    /// Checks every projection against `dims`.
    pub fn new(dims: Dims, wq: Linear<'a>, memory: R, wo: Linear<'a>) -> Result<Self, CellError> {
        dims.validate()?;
        check_linear("wq", &wq, dims.qk(), dims.d_model)?;
        check_linear("wo", &wo, dims.d_model, dims.vd())?;
        memory.validate(&dims)?;
        Ok(MemoryCell {
            dims,
            wq,
            memory,
            wo,
        })
    }
    /// The memory rule.
    pub fn memory(&self) -> &R {
        &self.memory
    }
    /// The query projection.
    pub fn wq(&self) -> &Linear<'a> {
        &self.wq
    }
    /// The output projection.
    pub fn wo(&self) -> &Linear<'a> {
        &self.wo
    }
}

impl<R: MemoryRule> Cell for MemoryCell<'_, R> {
    fn dims(&self) -> Dims {
        self.dims
    }
    fn state_len(&self) -> usize {
        self.dims.state()
    }
    fn scratch_len(&self) -> usize {
        2 * self.dims.qk() + 2 * self.dims.vd() + R::gate_len(&self.dims)
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
        let (r, rest) = rest.split_at_mut(d.vd());
        let gate = &mut rest[..R::gate_len(d)];
        project("wq", &self.wq, x, q, qs)?;
        R::query_map(d, q);
        self.memory.token(d, x, k, v, gate, qs)?;
        R::apply(d, q, k, v, gate, state, r);
        project("wo", &self.wo, r, out, qs)
    }
}
