//! `mote bench lap`: cold and warm solves of a score matrix read from a file.

use std::fmt;

use super::{LapSolver, assignment_score};
use crate::align::Permutation;
use crate::input::Limit;

/// Timings of [`bench_file`], in milliseconds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LapBench {
    /// The matrix file.
    pub matrix: String,
    /// Side of the square matrix.
    pub n: usize,
    /// Total score of the optimal assignment.
    pub score: f64,
    /// Solves per measurement.
    pub repeats: usize,
    /// A fresh solver each time: best and median.
    pub cold_best_ms: f64,
    /// See `cold_best_ms`.
    pub cold_median_ms: f64,
    /// The same matrix again on the solver that just solved it (the warm-start overhead).
    pub warm_best_ms: f64,
    /// See `warm_best_ms`.
    pub warm_median_ms: f64,
}

impl fmt::Display for LapBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {n}x{n}, optimal score {:.6}",
            self.matrix,
            self.score,
            n = self.n
        )?;
        writeln!(
            f,
            "cold solve  best {:.2} ms, median {:.2} ms ({} runs)",
            self.cold_best_ms, self.cold_median_ms, self.repeats
        )?;
        writeln!(
            f,
            "warm re-solve  best {:.2} ms, median {:.2} ms",
            self.warm_best_ms, self.warm_median_ms
        )
    }
}

/// Times cold and warm solves of the score matrix in `path` (raw little-endian f64, row-major,
/// square).
pub fn bench_file(path: &std::path::Path, repeats: usize) -> anyhow::Result<LapBench> {
    use anyhow::Context;
    let (scores, n) = read_square_f64(path)?;
    let repeats = repeats.max(1);
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let mut answer = Permutation::identity(n);
    for _ in 0..repeats {
        let mut solver = LapSolver::new(n);
        let start = std::time::Instant::now();
        answer = solver
            .solve_max(&scores)
            .with_context(|| format!("{}", path.display()))?;
        cold.push(start.elapsed().as_secs_f64() * 1e3);
        let start = std::time::Instant::now();
        solver.solve_max(&scores)?;
        warm.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let stats = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        (xs[0], xs[xs.len() / 2])
    };
    let ((cold_best_ms, cold_median_ms), (warm_best_ms, warm_median_ms)) =
        (stats(cold), stats(warm));
    Ok(LapBench {
        matrix: path.display().to_string(),
        n,
        score: assignment_score(&scores, n, &answer),
        repeats,
        cold_best_ms,
        cold_median_ms,
        warm_best_ms,
        warm_median_ms,
    })
}

/// Largest score matrix read: 1 GiB, a 11585×11585 matrix of f64 (data/lap/cost0.f64 is
/// 512×512, 2 MB).
pub const MAX_MATRIX_BYTES: u64 = 1 << 30;

/// A raw square score matrix (little-endian f64, row-major) and its side. The read is bounded
/// ([`MAX_MATRIX_BYTES`], and half the memory available: the bytes are decoded into a second
/// buffer of the same size).
pub(crate) fn read_square_f64(path: &std::path::Path) -> anyhow::Result<(Vec<f64>, usize)> {
    let mut memory = Limit::memory();
    memory.bytes /= 2;
    memory.reason = format!("half {} (the decoded copy needs as much)", memory.reason);
    read_square_f64_within(
        path,
        &memory.min(Limit::cap(MAX_MATRIX_BYTES, "a LAP score matrix")),
    )
}

fn read_square_f64_within(
    path: &std::path::Path,
    limit: &Limit,
) -> anyhow::Result<(Vec<f64>, usize)> {
    let bytes = crate::input::read_limited(path, limit)?;
    let len = bytes.len() / 8;
    let n = (len as f64).sqrt().round() as usize;
    if bytes.len() % 8 != 0 || n * n != len || n == 0 {
        anyhow::bail!(
            "{}: {} bytes is not a non-empty square matrix of little-endian f64",
            path.display(),
            bytes.len()
        );
    }
    let scores = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect();
    Ok((scores, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn reads_are_bounded() {
        // /dev/zero holds valid f64 zeros: only the limit stops it, one byte past it.
        let e = read_square_f64_within(Path::new("/dev/zero"), &Limit::cap(1 << 20, "a test"))
            .expect_err("endless");
        let e = format!("{e:#}");
        assert!(
            e.starts_with("/dev/zero: read more than the 1.0 MB allowed for a test"),
            "{e}"
        );
        let dir = tempfile::tempdir().expect("tmp");
        let big = dir.path().join("big.f64");
        std::fs::write(&big, [0u8; 8 * 16]).expect("write");
        let e = read_square_f64_within(&big, &Limit::cap(64, "a test")).expect_err("big");
        assert!(
            format!("{e:#}")
                .ends_with("big.f64: 128 B (128 bytes) is more than the 64 B allowed for a test"),
            "{e:#}"
        );
        assert_eq!(read_square_f64(&big).expect("4x4").1, 4);
        let e = read_square_f64(dir.path()).expect_err("dir");
        assert!(format!("{e:#}").contains("is a directory"), "{e:#}");
    }
}
