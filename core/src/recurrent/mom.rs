//! Mixture-of-Memories (SPEC §5.2).

use super::{Cell, CellError, Dims, MemoryRule, check, check_at_least, check_linear, project};
use crate::kernels::Linear;

/// How tokens are routed to memories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routing {
    /// Routed memories `M`.
    pub memories: usize,
    /// Memories activated per token `k` (`1 ≤ k ≤ M`).
    pub top_k: usize,
    /// Whether a shared memory (always active, weight 1) is present.
    pub shared: bool,
}

impl Routing {
    /// Memories holding state: `M` plus the shared one.
    pub fn stored(&self) -> usize {
        self.memories + usize::from(self.shared)
    }
}

/// Weight written by [`Mom::route`] for a memory the token does not activate.
pub const INACTIVE: f32 = -1.0;

/// Mixture-of-Memories over any [`MemoryRule`]: a softmax router picks the top-k memories, their
/// probabilities are renormalised, only those memories are updated (the others stay bit-for-bit
/// unchanged, no decay), a shared memory is always updated with weight 1, and the readouts are
/// mixed. The query projection is shared; keys, values and gates are per memory. There is no
/// capacity limit (every routed token is kept), so the recurrent and chunked forms agree.
///
/// ```text
/// p = softmax(W_g x);  A = topk(p, k) (ties: lower index);  g_m = p_m / Σ_{A} p   (sum in index order)
/// q = query_map(W_q x);  y = 0
/// for m in A (ascending):  S_m ← rule_m(S_m, x);  y += g_m · (q S_m)
/// if shared:               S_s ← rule_s(S_s, x);  y += q S_s
/// out = W_o y
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Mom<'a, R> {
    dims: Dims,
    routing: Routing,
    router: Linear<'a>,
    wq: Linear<'a>,
    memories: &'a [R],
    shared: Option<R>,
    wo: Linear<'a>,
}

impl<'a, R: MemoryRule> Mom<'a, R> {
    /// Checks every projection against `dims` and the routing.
    pub fn new(
        dims: Dims,
        router: Linear<'a>,
        wq: Linear<'a>,
        memories: &'a [R],
        shared: Option<R>,
        top_k: usize,
        wo: Linear<'a>,
    ) -> Result<Self, CellError> {
        dims.validate()?;
        let routing = Routing {
            memories: memories.len(),
            top_k,
            shared: shared.is_some(),
        };
        if memories.is_empty() {
            return Err(CellError::Config("mom needs at least one routed memory"));
        }
        if top_k == 0 || top_k > memories.len() {
            return Err(CellError::Config("mom.top_k must lie in 1..=memories"));
        }
        check_linear("mom.router", &router, memories.len(), dims.d_model)?;
        check_linear("wq", &wq, dims.qk(), dims.d_model)?;
        check_linear("wo", &wo, dims.d_model, dims.vd())?;
        for m in memories.iter().chain(shared.iter()) {
            m.validate(&dims)?;
        }
        Ok(Mom {
            dims,
            routing,
            router,
            wq,
            memories,
            shared,
            wo,
        })
    }

    /// Routing configuration.
    pub fn routing(&self) -> Routing {
        self.routing
    }
    /// Routed memories.
    pub fn memories(&self) -> &'a [R] {
        self.memories
    }
    /// Shared memory.
    pub fn shared(&self) -> Option<&R> {
        self.shared.as_ref()
    }
    /// Query projection.
    pub fn wq(&self) -> &Linear<'a> {
        &self.wq
    }
    /// Output projection.
    pub fn wo(&self) -> &Linear<'a> {
        &self.wo
    }

    /// Routes one token: `weights[m]` is the renormalised gate of memory `m`, or [`INACTIVE`].
    /// `probs` (length `M`) is work space.
    pub fn route(
        &self,
        x: &[f32],
        probs: &mut [f32],
        weights: &mut [f32],
        qs: &mut [i8],
    ) -> Result<(), CellError> {
        let m = self.routing.memories;
        check("mom.probs", probs.len(), m)?;
        check("mom.weights", weights.len(), m)?;
        project("mom.router", &self.router, x, probs, qs)?;
        self.dims.math.softmax(probs);
        weights.fill(INACTIVE);
        for _ in 0..self.routing.top_k {
            // probabilities are ≥ 0, chosen ones are marked with −1 so they are not taken twice
            let mut best = None;
            for (i, &p) in probs.iter().enumerate() {
                if p >= 0.0 && best.is_none_or(|b: usize| p > probs[b]) {
                    best = Some(i);
                }
            }
            let Some(b) = best else {
                return Err(CellError::Config("mom router produced NaN probabilities"));
            };
            weights[b] = probs[b];
            probs[b] = -1.0;
        }
        let mut sum = 0.0f32;
        for &w in weights.iter() {
            if w >= 0.0 {
                sum += w;
            }
        }
        for w in weights.iter_mut() {
            if *w >= 0.0 {
                *w /= sum;
            }
        }
        Ok(())
    }
}

impl<R: MemoryRule> Cell for Mom<'_, R> {
    fn dims(&self) -> Dims {
        self.dims
    }
    fn state_len(&self) -> usize {
        self.routing.stored() * self.dims.state()
    }
    fn scratch_len(&self) -> usize {
        2 * self.dims.qk()
            + 3 * self.dims.vd()
            + R::gate_len(&self.dims)
            + 2 * self.routing.memories
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
        let nm = self.routing.memories;
        let (q, rest) = scratch.split_at_mut(d.qk());
        let (k, rest) = rest.split_at_mut(d.qk());
        let (v, rest) = rest.split_at_mut(d.vd());
        let (r, rest) = rest.split_at_mut(d.vd());
        let (y, rest) = rest.split_at_mut(d.vd());
        let (probs, rest) = rest.split_at_mut(nm);
        let (weights, rest) = rest.split_at_mut(nm);
        let gate = &mut rest[..R::gate_len(d)];
        self.route(x, probs, weights, qs)?;
        project("wq", &self.wq, x, q, qs)?;
        R::query_map(d, q);
        y.fill(0.0);
        let ds = d.state();
        for (m, mem) in self.memories.iter().enumerate() {
            let w = weights[m];
            if w < 0.0 {
                continue;
            }
            mem.token(d, x, k, v, gate, qs)?;
            R::apply(d, q, k, v, gate, &mut state[m * ds..(m + 1) * ds], r);
            for (yi, &ri) in y.iter_mut().zip(r.iter()) {
                *yi += w * ri;
            }
        }
        if let Some(mem) = &self.shared {
            mem.token(d, x, k, v, gate, qs)?;
            R::apply(d, q, k, v, gate, &mut state[nm * ds..(nm + 1) * ds], r);
            for (yi, &ri) in y.iter_mut().zip(r.iter()) {
                *yi += ri;
            }
        }
        project("wo", &self.wo, y, out, qs)
    }
}
