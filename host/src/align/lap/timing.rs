//! `mote bench lap`: cold and warm solves of a score matrix read from a file.

use std::fmt;

use super::{LapSolver, assignment_score};
use crate::align::Permutation;

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

/// A raw square score matrix (little-endian f64, row-major) and its side.
pub(crate) fn read_square_f64(path: &std::path::Path) -> anyhow::Result<(Vec<f64>, usize)> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
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
