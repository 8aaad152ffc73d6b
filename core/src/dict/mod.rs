//! Orthogonal dictionaries (SPEC §4): learning one online from a sensor stream in fixed memory, and
//! using one (learned or fixed, e.g. a DCT) as a feature stage: sparse codes for compression and
//! denoising, and a reconstruction-error anomaly score.
//!
//! Conventions. A dictionary is an orthogonal `n×n` matrix `A`, row-major, whose **rows are the
//! atoms**: the code of a window `x` is `c = A x` and the reconstruction is `x̂ = Aᵀ c`. The learner
//! estimates `A ≈ Dᵀ` (up to a signed permutation) for data `y = D x` with sparse `x` (SPEC §4.1).
//! Sizes are runtime values `1..=MAX_N` for [`OrthoDict`] (a model file gives them) and compile-time
//! constants for the learner [`OnlineOdl`] (its state lives in fixed arrays).
//!
//! - [`polar`]: the polar factor (one-sided Jacobi SVD), the Frank–Wolfe oracle.
//! - [`online`]: [`OnlineOdl`], the online Frank–Wolfe learner of SPEC §4.3 (NoncvxSFW and SFW).
//! - [`synth`]: the Bernoulli–Gaussian synthetic model of SPEC §4.5, deterministic.
//! - [`OrthoDict`]: encode, top-k, reconstruct, anomaly score on slices.
//! - [`ortho_error`]: the recovery error of SPEC §4.5; [`dct_basis`]: the orthonormal DCT-II.

pub mod online;
pub mod polar;
pub mod synth;

pub use online::{OnlineOdl, StepRule, UpdateStats};
pub use polar::{PolarStats, polar_factor};

/// Largest supported dictionary size (windows of at most 64 samples; top-k masks fit a `u64`).
pub const MAX_N: usize = 64;

/// Why a dictionary operation was refused. mote-core never panics on malformed input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DictError {
    /// `n` is 0 or larger than [`MAX_N`].
    BadSize {
        /// The size given.
        n: usize,
    },
    /// A slice has the wrong length.
    Length {
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A mini-batch is empty or not a whole number of windows.
    Batch {
        /// Samples given.
        len: usize,
        /// Window size.
        n: usize,
    },
    /// An input contains NaN or ±inf.
    NotFinite,
}

impl core::fmt::Display for DictError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            DictError::BadSize { n } => write!(f, "dictionary size {n} is not in 1..={MAX_N}"),
            DictError::Length { expected, got } => {
                write!(f, "slice has {got} values, expected {expected}")
            }
            DictError::Batch { len, n } => write!(
                f,
                "mini-batch of {len} values is not a non-empty whole number of {n}-sample windows"
            ),
            DictError::NotFinite => write!(f, "input contains NaN or infinity"),
        }
    }
}

impl core::error::Error for DictError {}

fn check_size(n: usize) -> Result<(), DictError> {
    if n == 0 || n > MAX_N {
        Err(DictError::BadSize { n })
    } else {
        Ok(())
    }
}

fn check_len(expected: usize, got: usize) -> Result<(), DictError> {
    if expected == got {
        Ok(())
    } else {
        Err(DictError::Length { expected, got })
    }
}

fn check_square(n: usize, len: usize) -> Result<(), DictError> {
    check_size(n)?;
    check_len(n * n, len)
}

/// The recovery error of SPEC §4.5: `err(A) = | ||A D||_4^4 / n − 1 |` for `n×n` row-major `A`
/// (learned, ≈ Dᵀ) and `D` (ground truth). Zero iff `A D` is a signed permutation (for orthogonal
/// `A`); in `[0, 1 − 1/n]` for orthogonal `A`.
pub fn ortho_error(n: usize, a: &[f32], d: &[f32]) -> Result<f32, DictError> {
    check_square(n, a.len())?;
    check_square(n, d.len())?;
    // Accumulate the 4th powers in f64 on purpose: this is an evaluation metric whose useful range
    // goes down to ~1e-6, where the f32 sum of n² terms would lose the last digits.
    let mut s = 0.0f64;
    for i in 0..n {
        let ai = &a[i * n..(i + 1) * n];
        for j in 0..n {
            let mut p = 0.0f32;
            for (k, &aik) in ai.iter().enumerate() {
                p += aik * d[k * n + j];
            }
            let p2 = (p as f64) * (p as f64);
            s += p2 * p2;
        }
    }
    Ok(libm::fabs(s / n as f64 - 1.0) as f32)
}

/// Writes the orthonormal DCT-II basis (rows are atoms, row 0 the constant) into `out` (n×n):
/// `out[k][i] = s_k cos(π (2i + 1) k / (2n))` with `s_0 = √(1/n)`, `s_k = √(2/n)`.
pub fn dct_basis(n: usize, out: &mut [f32]) -> Result<(), DictError> {
    check_square(n, out.len())?;
    let nf = n as f32;
    for k in 0..n {
        let s = if k == 0 {
            libm::sqrtf(1.0 / nf)
        } else {
            libm::sqrtf(2.0 / nf)
        };
        for i in 0..n {
            let arg = core::f32::consts::PI * (2 * i + 1) as f32 * k as f32 / (2.0 * nf);
            out[k * n + i] = s * libm::cosf(arg);
        }
    }
    Ok(())
}

/// A borrowed orthogonal dictionary: `n×n` row-major atoms (rows). The feature stage of a model
/// file borrows its weights this way; the learner lends its iterate the same way.
#[derive(Clone, Copy, Debug)]
pub struct OrthoDict<'a> {
    n: usize,
    atoms: &'a [f32],
}

impl<'a> OrthoDict<'a> {
    /// Wraps `atoms` (row-major `n×n`, rows are unit-norm, mutually orthogonal atoms). Only the
    /// shape and finiteness are checked; orthogonality is the caller's contract (see
    /// [`OrthoDict::orthogonality_defect`]).
    pub fn new(n: usize, atoms: &'a [f32]) -> Result<Self, DictError> {
        check_square(n, atoms.len())?;
        if atoms.iter().any(|v| !v.is_finite()) {
            return Err(DictError::NotFinite);
        }
        Ok(OrthoDict { n, atoms })
    }

    /// Window size = number of atoms.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The atoms, row-major.
    pub fn atoms(&self) -> &'a [f32] {
        self.atoms
    }

    /// `max_ij |(A Aᵀ − I)_ij|`: 0 for an exactly orthogonal dictionary; +inf if an entry of
    /// `A Aᵀ` overflows or is NaN (huge atoms), so a tolerance check never passes by accident.
    pub fn orthogonality_defect(&self) -> f32 {
        let n = self.n;
        let mut worst = 0.0f32;
        for i in 0..n {
            for j in 0..n {
                let g = polar::dot(
                    &self.atoms[i * n..(i + 1) * n],
                    &self.atoms[j * n..(j + 1) * n],
                );
                let e = if i == j { g - 1.0 } else { g };
                if !e.is_finite() {
                    return f32::INFINITY;
                }
                worst = worst.max(libm::fabsf(e));
            }
        }
        worst
    }

    /// Analysis: `code = A x`.
    pub fn encode(&self, x: &[f32], code: &mut [f32]) -> Result<(), DictError> {
        let n = self.n;
        check_len(n, x.len())?;
        check_len(n, code.len())?;
        for (i, c) in code.iter_mut().enumerate() {
            *c = polar::dot(&self.atoms[i * n..(i + 1) * n], x);
        }
        Ok(())
    }

    /// Synthesis: `x̂ = Aᵀ code`.
    pub fn reconstruct(&self, code: &[f32], out: &mut [f32]) -> Result<(), DictError> {
        let n = self.n;
        check_len(n, code.len())?;
        check_len(n, out.len())?;
        out.iter_mut().for_each(|v| *v = 0.0);
        for (i, &c) in code.iter().enumerate() {
            if c == 0.0 {
                continue;
            }
            for (o, &a) in out.iter_mut().zip(&self.atoms[i * n..(i + 1) * n]) {
                *o += c * a;
            }
        }
        Ok(())
    }

    /// Encodes `x`, keeps the `k` largest-magnitude coefficients and reconstructs; returns the RMS
    /// reconstruction error `sqrt(mean((x − x̂)²))` (the anomaly score). `code` receives the sparse
    /// code, `recon` the reconstruction.
    pub fn sparse_approx(
        &self,
        x: &[f32],
        k: usize,
        code: &mut [f32],
        recon: &mut [f32],
    ) -> Result<f32, DictError> {
        if x.iter().any(|v| !v.is_finite()) {
            return Err(DictError::NotFinite);
        }
        self.encode(x, code)?;
        top_k(code, k);
        self.reconstruct(code, recon)?;
        let mut s = 0.0f32;
        for (a, b) in x.iter().zip(recon.iter()) {
            let d = a - b;
            s += d * d;
        }
        Ok(libm::sqrtf(s / self.n as f32))
    }

    /// Anomaly score of a window: RMS error of its best `k`-term approximation in this dictionary
    /// (windows the dictionary was learned on are sparse in it and score low). Uses `scratch`
    /// (2n values) so no allocation is needed.
    pub fn anomaly_score(
        &self,
        x: &[f32],
        k: usize,
        scratch: &mut [f32],
    ) -> Result<f32, DictError> {
        let n = self.n;
        check_len(2 * n, scratch.len())?;
        let (code, recon) = scratch.split_at_mut(n);
        self.sparse_approx(x, k, code, recon)
    }
}

/// Keeps the `k` largest-magnitude entries of `code` (at most [`MAX_N`] entries) and zeroes the
/// rest; ties go to the lower index, so the result is deterministic. `k ≥ len` keeps everything.
/// NaN entries are never kept.
pub fn top_k(code: &mut [f32], k: usize) {
    let n = code.len().min(MAX_N);
    let mut keep: u64 = 0;
    for i in 0..n {
        let ci = libm::fabsf(code[i]);
        if ci.is_nan() {
            continue;
        }
        let mut rank = 0usize;
        for (j, &cj) in code[..n].iter().enumerate() {
            let cj = libm::fabsf(cj);
            if cj > ci || (cj == ci && j < i) {
                rank += 1;
            }
        }
        if rank < k {
            keep |= 1 << i;
        }
    }
    for (i, c) in code.iter_mut().enumerate() {
        if i >= n || keep & (1 << i) == 0 {
            *c = 0.0;
        }
    }
}

#[cfg(test)]
mod tests;
