//! The polar factor `U Vᵀ` of a square matrix `M = U Σ Vᵀ` (SPEC §4.2: the Frank–Wolfe linear
//! maximisation oracle over the spectral-norm ball, and the re-projection onto O(n)), by one-sided
//! (Hestenes) Jacobi, `no_std`, no allocation, in f32 with `libm`.
//!
//! Jacobi rotations are applied from the left to the rows of a working copy `W` of `M` and to an
//! accumulated orthogonal `R`, until the rows of `W = R M` are mutually orthogonal:
//! `R M = diag(s) Q` with orthonormal rows `Q`. Then `M = Rᵀ diag(s) Q` is an SVD and the polar
//! factor is `Rᵀ Q`. Rows are used (not columns) because the matrices are row-major: every inner
//! loop walks contiguous memory.
//!
//! **Warm start.** The oracle is called on a slowly changing matrix (the averaged gradient, or an
//! iterate just off the orthogonal group). Starting from the previous `R` instead of the identity
//! leaves `R M` nearly row-orthogonal, so one or two sweeps suffice instead of six to ten.
//!
//! **Rank deficiency.** Early averaged gradients have rank ≤ the mini-batch size. Rows of `W` whose
//! norm is negligible carry no direction; they are replaced by an orthonormal completion
//! (Gram–Schmidt of unit vectors), which gives *a* maximiser of `⟨S, M⟩` over the spectral ball
//! (it is not unique then) and keeps the factor exactly orthogonal.

use super::{DictError, MAX_N, check_square};

/// Relative cosine between two rows below which they count as orthogonal (not rotated). A few f32
/// ulps times √64: tighter thresholds are not reachable in single precision.
const ORTHO_TOL: f32 = 2.0e-6;
/// Jacobi converges quadratically (also for clustered singular values): once the largest cosine a
/// sweep meets is below `STOP_TOL`, the rotations of that sweep leave cosines of order
/// `STOP_TOL²` ≈ 1e-7, below [`ORTHO_TOL`], so a last sweep that would rotate nothing is skipped.
/// Without this, f32 rounding keeps a few cosines hovering around `ORTHO_TOL` for several sweeps.
const STOP_TOL: f32 = 3.0e-4;
/// Rows whose norm is below this fraction of the largest row norm are treated as null directions.
const RANK_TOL: f32 = 1.0e-5;
/// Cap on sweeps; a cold start on a 64×64 matrix converges in about 8–10.
pub const MAX_SWEEPS: u32 = 30;

/// What one polar decomposition did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolarStats {
    /// Jacobi sweeps run (when `converged`, the last one met only cosines below the stopping
    /// tolerance).
    pub sweeps: u32,
    /// Whether the sweeps stopped by tolerance (not by [`MAX_SWEEPS`]).
    pub converged: bool,
    /// Null directions that were filled by orthonormal completion (`n − rank`).
    pub completed: u32,
}

/// Computes the polar factor of the `n×n` row-major matrix `m` into `out`.
///
/// `rot` (n×n) holds the accumulated rotation: with `warm = false` it is reset to the identity;
/// with `warm = true` its current content (an orthogonal matrix, e.g. the `rot` of the previous
/// call) is the starting point. It is updated either way, ready for the next warm start.
/// `work` (n×n) is scratch. `m` may be any finite matrix, including zero (then the result is the
/// identity completed from nothing, i.e. `Rᵀ`).
pub fn polar_factor(
    n: usize,
    m: &[f32],
    out: &mut [f32],
    rot: &mut [f32],
    work: &mut [f32],
    warm: bool,
) -> Result<PolarStats, DictError> {
    check_square(n, m.len())?;
    check_square(n, out.len())?;
    check_square(n, rot.len())?;
    check_square(n, work.len())?;
    if m.iter().any(|v| !v.is_finite()) {
        return Err(DictError::NotFinite);
    }
    if warm {
        // The accumulated rotation slowly loses orthogonality to rounding over thousands of warm
        // starts; re-orthonormalise it (any orthogonal start is valid) before using it.
        orthonormalise_rows(n, rot);
        matmul(n, rot, m, work);
    } else {
        set_identity(n, rot);
        work.copy_from_slice(m);
    }
    let mut norms = [0.0f32; MAX_N];
    let mut stats = PolarStats::default();
    while stats.sweeps < MAX_SWEEPS {
        stats.sweeps += 1;
        let mut max_norm2 = 0.0f32;
        for (i, nrm) in norms.iter_mut().enumerate().take(n) {
            *nrm = dot(&work[i * n..(i + 1) * n], &work[i * n..(i + 1) * n]);
            max_norm2 = max_norm2.max(*nrm);
        }
        let floor = max_norm2 * RANK_TOL * RANK_TOL;
        let mut max_cos2 = 0.0f32;
        for i in 0..n {
            for j in i + 1..n {
                let (a, b) = (norms[i], norms[j]);
                if a <= floor || b <= floor {
                    continue;
                }
                let (wi, wj) = rows_mut(work, n, i, j);
                let c = dot(wi, wj);
                let cos2 = (c * c) / (a * b);
                max_cos2 = max_cos2.max(cos2);
                if cos2 <= ORTHO_TOL * ORTHO_TOL {
                    continue;
                }
                // Rotation angle that zeroes the (i, j) Gram entry (Rutishauser's formulas).
                let zeta = (b - a) / (2.0 * c);
                let t = libm::copysignf(1.0, zeta)
                    / (libm::fabsf(zeta) + libm::sqrtf(1.0 + zeta * zeta));
                let cs = 1.0 / libm::sqrtf(1.0 + t * t);
                let sn = cs * t;
                rotate(wi, wj, cs, sn);
                let (ri, rj) = rows_mut(rot, n, i, j);
                rotate(ri, rj, cs, sn);
                norms[i] = a - t * c;
                norms[j] = b + t * c;
            }
        }
        if max_cos2 <= STOP_TOL * STOP_TOL {
            stats.converged = true;
            break;
        }
    }
    // Normalise rows of W into Q; rows with no direction are completed afterwards.
    let mut max_norm2 = 0.0f32;
    for i in 0..n {
        norms[i] = dot(&work[i * n..(i + 1) * n], &work[i * n..(i + 1) * n]);
        max_norm2 = max_norm2.max(norms[i]);
    }
    let floor = max_norm2 * RANK_TOL * RANK_TOL;
    let mut null_rows: u64 = 0;
    for i in 0..n {
        if norms[i] > floor && norms[i] > 0.0 {
            let inv = 1.0 / libm::sqrtf(norms[i]);
            work[i * n..(i + 1) * n].iter_mut().for_each(|v| *v *= inv);
        } else {
            null_rows |= 1 << i;
        }
    }
    stats.completed = null_rows.count_ones();
    if null_rows != 0 {
        complete_rows(n, work, null_rows);
    }
    // out = Rᵀ Q.
    out.iter_mut().for_each(|v| *v = 0.0);
    for k in 0..n {
        let rk = &rot[k * n..(k + 1) * n];
        let qk = &work[k * n..(k + 1) * n];
        for i in 0..n {
            let r = rk[i];
            let oi = &mut out[i * n..(i + 1) * n];
            for (o, &q) in oi.iter_mut().zip(qk) {
                *o += r * q;
            }
        }
    }
    Ok(stats)
}

/// Fills the rows flagged in `null_rows` with unit vectors orthogonal to every other row
/// (the others must be orthonormal): Gram–Schmidt of e_0, e_1, ... , twice for f32 accuracy.
fn complete_rows(n: usize, q: &mut [f32], mut null_rows: u64) {
    let mut done: u64 = !null_rows & mask(n);
    let mut candidate = 0usize;
    while null_rows != 0 {
        let i = null_rows.trailing_zeros() as usize;
        loop {
            if candidate >= n {
                // Unreachable for orthonormal accepted rows (they span < n dims); leave a zero
                // row rather than loop forever if the input violated that.
                return;
            }
            let row = &mut q[i * n..(i + 1) * n];
            row.iter_mut().for_each(|v| *v = 0.0);
            row[candidate] = 1.0;
            candidate += 1;
            for _ in 0..2 {
                let mut d = done;
                while d != 0 {
                    let k = d.trailing_zeros() as usize;
                    d &= d - 1;
                    let (ri, rk) = rows_mut(q, n, i, k);
                    let p = dot(ri, rk);
                    ri.iter_mut().zip(rk.iter()).for_each(|(a, &b)| *a -= p * b);
                }
            }
            let row = &mut q[i * n..(i + 1) * n];
            let nrm2 = dot(row, row);
            if nrm2 > 0.25 {
                let inv = 1.0 / libm::sqrtf(nrm2);
                row.iter_mut().for_each(|v| *v *= inv);
                break;
            }
        }
        done |= 1 << i;
        null_rows &= null_rows - 1;
    }
}

fn mask(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// `c = a b` for n×n row-major matrices (sequential f32 accumulation in `k` order).
pub(crate) fn matmul(n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    c.iter_mut().for_each(|v| *v = 0.0);
    for i in 0..n {
        let ci = &mut c[i * n..(i + 1) * n];
        for k in 0..n {
            let aik = a[i * n + k];
            let bk = &b[k * n..(k + 1) * n];
            for (cv, &bv) in ci.iter_mut().zip(bk) {
                *cv += aik * bv;
            }
        }
    }
}

pub(crate) fn set_identity(n: usize, m: &mut [f32]) {
    m.iter_mut().for_each(|v| *v = 0.0);
    for i in 0..n {
        m[i * n + i] = 1.0;
    }
}

/// f32 dot product in a fixed order: eight interleaved partial sums (lane `i % 8`), combined
/// pairwise, then the tail. The order is part of the host = device contract; eight independent
/// chains also let the host vectorise and the M4F pipeline its FPU.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

/// Modified Gram–Schmidt on the rows of an n×n matrix (a row that collapses is left as is: the
/// callers pass matrices that are orthogonal up to rounding).
fn orthonormalise_rows(n: usize, m: &mut [f32]) {
    for i in 0..n {
        for k in 0..i {
            let (rk, ri) = rows_mut(m, n, k, i);
            let p = dot(ri, rk);
            ri.iter_mut().zip(rk.iter()).for_each(|(a, &b)| *a -= p * b);
        }
        let row = &mut m[i * n..(i + 1) * n];
        let nrm2 = dot(row, row);
        if nrm2 > 0.0 {
            let inv = 1.0 / libm::sqrtf(nrm2);
            row.iter_mut().for_each(|v| *v *= inv);
        }
    }
}

/// Rows `i < j` of an n-column row-major matrix, both mutable.
fn rows_mut(m: &mut [f32], n: usize, i: usize, j: usize) -> (&mut [f32], &mut [f32]) {
    let (lo, hi) = if i < j { (i, j) } else { (j, i) };
    let (head, tail) = m.split_at_mut(hi * n);
    let a = &mut head[lo * n..(lo + 1) * n];
    let b = &mut tail[..n];
    if i < j { (a, b) } else { (b, a) }
}

fn rotate(x: &mut [f32], y: &mut [f32], c: f32, s: f32) {
    for (u, v) in x.iter_mut().zip(y.iter_mut()) {
        let (a, b) = (*u, *v);
        *u = c * a - s * b;
        *v = s * a + c * b;
    }
}
