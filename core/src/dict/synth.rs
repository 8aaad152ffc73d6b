//! The synthetic model of SPEC §4.5, generated deterministically (same bits on host and device):
//! `y = D x` with `D` orthogonal (QR of a Gaussian matrix) and `x` Bernoulli(θ)–Gaussian.

use super::polar::dot;
use super::{DictError, check_square};
use crate::check::XorShift32;

/// Deterministic Bernoulli(θ)–Gaussian sparse vectors and Gaussian matrices.
#[derive(Clone, Debug)]
pub struct SparseSource {
    rng: XorShift32,
    theta: f32,
}

impl SparseSource {
    /// A source with activation probability `theta` (clamped to [0, 1]); seed 0 is replaced by 1.
    pub fn new(seed: u32, theta: f32) -> Self {
        SparseSource {
            rng: XorShift32(if seed == 0 { 1 } else { seed }),
            theta: theta.clamp(0.0, 1.0),
        }
    }

    /// Uniform in (0, 1], 24-bit grid.
    fn uniform(&mut self) -> f32 {
        ((self.rng.next_u32() >> 8) + 1) as f32 / (1u32 << 24) as f32
    }

    /// A standard normal variate (Box–Muller with `libm`, one of the pair used).
    pub fn gaussian(&mut self) -> f32 {
        let u1 = self.uniform();
        let u2 = self.uniform();
        libm::sqrtf(-2.0 * libm::logf(u1)) * libm::cosf(2.0 * core::f32::consts::PI * u2)
    }

    /// Fills `x` with Bernoulli(θ)–Gaussian entries.
    pub fn sparse(&mut self, x: &mut [f32]) {
        for v in x.iter_mut() {
            let on = self.uniform() <= self.theta;
            let g = self.gaussian();
            *v = if on { g } else { 0.0 };
        }
    }

    /// Fills `d` (n×n, row-major) with the Q factor of a Gaussian matrix: columns orthonormalised by
    /// modified Gram–Schmidt (twice), so `D` is orthogonal.
    pub fn orthogonal(&mut self, n: usize, d: &mut [f32]) -> Result<(), DictError> {
        check_square(n, d.len())?;
        // Work on rows of Dᵀ (contiguous), then transpose in place.
        let mut i = 0;
        while i < n {
            for j in 0..n {
                d[i * n + j] = self.gaussian();
            }
            for _ in 0..2 {
                for k in 0..i {
                    let (head, tail) = d.split_at_mut(i * n);
                    let row = &mut tail[..n];
                    let q = &head[k * n..(k + 1) * n];
                    let p = dot(row, q);
                    row.iter_mut().zip(q).for_each(|(x, &qv)| *x -= p * qv);
                }
            }
            let row = &mut d[i * n..(i + 1) * n];
            let nrm2 = dot(row, row);
            if nrm2 > 1e-6 {
                let inv = 1.0 / libm::sqrtf(nrm2);
                row.iter_mut().for_each(|v| *v *= inv);
                i += 1;
            }
        }
        for r in 0..n {
            for c in r + 1..n {
                d.swap(r * n + c, c * n + r);
            }
        }
        Ok(())
    }

    /// One sample `y = D x` (n = `y.len()`); `x` (same length) receives the sparse code.
    pub fn sample(&mut self, d: &[f32], x: &mut [f32], y: &mut [f32]) -> Result<(), DictError> {
        let n = y.len();
        check_square(n, d.len())?;
        super::check_len(n, x.len())?;
        self.sparse(x);
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = dot(&d[i * n..(i + 1) * n], x);
        }
        Ok(())
    }
}
