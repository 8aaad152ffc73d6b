//! Online orthogonal dictionary learning by stochastic Frank–Wolfe (SPEC §4.3), in fixed memory.
//!
//! One call to [`OnlineOdl::update`] consumes one mini-batch of windows and forgets it:
//! ```text
//! g   = (|A Y|² ⊙ sign(A Y)) Yᵀ / B          gradient of (1/3)||A y||₃³, batch mean
//! G   = (1 − ρ_t) G + ρ_t g                  recursive gradient estimate
//! S   = polar(G)                             linear maximisation oracle over ||S||₂ ≤ 1
//! A   = (1 − γ_t) A + γ_t S                  Frank–Wolfe step
//! A   = polar(A)                             NoncvxSFW only: back onto O(n)
//! ```
//! State: six `N×N` f32 matrices (A, G, the oracle output/scratch, a Jacobi work matrix and the
//! two warm-start rotations of the polar factor), i.e. `24 N²` bytes: 96 KiB at N = 64.

use super::polar::{self, PolarStats};
use super::{DictError, MAX_N, OrthoDict};
use crate::check::XorShift32;

/// Step-size rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepRule {
    /// The paper's non-convex rule: `ρ_t = min(1, 4/(t+1)^(1/2))`, `γ_t = 2/(t+2)^(3/4)`, with
    /// re-projection onto O(n) after every step.
    NoncvxSfw,
    /// The convex-case baseline (Mokhtari et al.): `ρ_t = min(1, 4/(t+8)^(2/3))`, `γ_t = 2/(t+8)`,
    /// no re-projection (the iterate stays inside the spectral ball; project it to evaluate).
    ConvexSfw,
}

impl StepRule {
    /// `(ρ_t, γ_t)` for iteration `t` (from 0). `ρ_t` is clamped to 1 so the gradient estimate is a
    /// convex combination (SPEC §4.3 pitfall: unclamped, ρ_t > 1 for the first 15 NoncvxSFW steps).
    pub fn weights(self, t: u32) -> (f32, f32) {
        let t = t as f32;
        match self {
            StepRule::NoncvxSfw => (
                (4.0 / libm::sqrtf(t + 1.0)).min(1.0),
                2.0 / libm::powf(t + 2.0, 0.75),
            ),
            StepRule::ConvexSfw => (
                (4.0 / libm::powf(t + 8.0, 2.0 / 3.0)).min(1.0),
                2.0 / (t + 8.0),
            ),
        }
    }
}

/// What one update did (for diagnostics and the firmware log).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateStats {
    /// The oracle's polar decomposition.
    pub lmo: PolarStats,
    /// The re-projection (NoncvxSFW only; default otherwise).
    pub projection: PolarStats,
}

/// The online learner for windows of `N` samples (`1 ≤ N ≤ 64`, checked at compile time).
#[derive(Clone, Debug)]
pub struct OnlineOdl<const N: usize> {
    rule: StepRule,
    t: u32,
    a: [[f32; N]; N],
    g: [[f32; N]; N],
    s: [[f32; N]; N],
    work: [[f32; N]; N],
    rot_lmo: [[f32; N]; N],
    rot_proj: [[f32; N]; N],
}

impl<const N: usize> OnlineOdl<N> {
    const SIZE_OK: () = assert!(N >= 1 && N <= MAX_N, "OnlineOdl: N must be in 1..=64");

    /// A learner whose initial dictionary is the QR factor (modified Gram–Schmidt on rows) of a
    /// uniform random matrix drawn from `XorShift32(seed)` (seed 0 is replaced by 1). The same seed
    /// gives the same bits on the host and the device.
    pub fn new(rule: StepRule, seed: u32) -> Self {
        let () = Self::SIZE_OK;
        let mut me = OnlineOdl {
            rule,
            t: 0,
            a: [[0.0; N]; N],
            g: [[0.0; N]; N],
            s: [[0.0; N]; N],
            work: [[0.0; N]; N],
            rot_lmo: [[0.0; N]; N],
            rot_proj: [[0.0; N]; N],
        };
        let mut rng = XorShift32(if seed == 0 { 1 } else { seed });
        random_orthogonal(&mut me.a, &mut rng);
        me
    }

    /// Iterations (mini-batches) done so far.
    pub fn iterations(&self) -> u32 {
        self.t
    }

    /// The step rule.
    pub fn rule(&self) -> StepRule {
        self.rule
    }

    /// The current iterate, row-major (orthogonal for NoncvxSFW; inside the spectral ball for SFW).
    pub fn atoms(&self) -> &[f32] {
        self.a.as_flattened()
    }

    /// The current iterate as a dictionary. For [`StepRule::ConvexSfw`] it is not orthogonal:
    /// project it first (see [`polar_factor`](super::polar_factor)).
    pub fn dictionary(&self) -> OrthoDict<'_> {
        OrthoDict {
            n: N,
            atoms: self.a.as_flattened(),
        }
    }

    /// One Frank–Wolfe step on a mini-batch: `batch` holds `B ≥ 1` windows of `N` samples, one
    /// after the other. Refuses (and leaves the state untouched) an empty or ragged batch or one with
    /// non-finite samples.
    pub fn update(&mut self, batch: &[f32]) -> Result<UpdateStats, DictError> {
        if batch.is_empty() || !batch.len().is_multiple_of(N) {
            return Err(DictError::Batch {
                len: batch.len(),
                n: N,
            });
        }
        if batch.iter().any(|v| !v.is_finite()) {
            return Err(DictError::NotFinite);
        }
        let b = (batch.len() / N) as f32;
        // Mini-batch gradient into `s`: Σ_b (|z| ⊙ z) yᵀ, z = A y.
        self.s = [[0.0; N]; N];
        for y in batch.chunks_exact(N) {
            for (ai, si) in self.a.iter().zip(self.s.iter_mut()) {
                let z = polar::dot(ai, y);
                let w = libm::fabsf(z) * z;
                for (sv, &yv) in si.iter_mut().zip(y) {
                    *sv += w * yv;
                }
            }
        }
        let (rho, gamma) = self.rule.weights(self.t);
        let inv_b = 1.0 / b;
        for (gi, si) in self.g.iter_mut().zip(self.s.iter()) {
            for (gv, &sv) in gi.iter_mut().zip(si) {
                *gv = (1.0 - rho) * *gv + rho * (sv * inv_b);
            }
        }
        let warm = self.t > 0;
        let lmo = polar::polar_factor(
            N,
            self.g.as_flattened(),
            self.s.as_flattened_mut(),
            self.rot_lmo.as_flattened_mut(),
            self.work.as_flattened_mut(),
            warm,
        )?;
        for (si, ai) in self.s.iter_mut().zip(self.a.iter()) {
            for (sv, &av) in si.iter_mut().zip(ai) {
                *sv = (1.0 - gamma) * av + gamma * *sv;
            }
        }
        let projection = match self.rule {
            StepRule::NoncvxSfw => polar::polar_factor(
                N,
                self.s.as_flattened(),
                self.a.as_flattened_mut(),
                self.rot_proj.as_flattened_mut(),
                self.work.as_flattened_mut(),
                false,
            )?,
            StepRule::ConvexSfw => {
                self.a = self.s;
                PolarStats::default()
            }
        };
        self.t += 1;
        Ok(UpdateStats { lmo, projection })
    }
}

/// Rows of `a` ← orthonormalised rows of a uniform `[-1, 1)` random matrix (modified Gram–Schmidt,
/// twice; a row that collapses is redrawn).
fn random_orthogonal<const N: usize>(a: &mut [[f32; N]; N], rng: &mut XorShift32) {
    let mut i = 0;
    while i < N {
        a[i].iter_mut().for_each(|v| *v = rng.next_f32());
        for _ in 0..2 {
            for k in 0..i {
                let (head, tail) = a.split_at_mut(i);
                let p = polar::dot(&tail[0], &head[k]);
                tail[0]
                    .iter_mut()
                    .zip(head[k].iter())
                    .for_each(|(x, &q)| *x -= p * q);
            }
        }
        let nrm2 = polar::dot(&a[i], &a[i]);
        if nrm2 > 1e-6 {
            let inv = 1.0 / libm::sqrtf(nrm2);
            a[i].iter_mut().for_each(|v| *v *= inv);
            i += 1;
        }
    }
}
