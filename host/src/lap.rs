//! Exact linear assignment (maximisation) and the [`Permutation`] type.
//!
//! [`solve_max`] finds, for a square score matrix `C`, the permutation `σ` maximising
//! `Σ_r C[r, σ(r)]`: the same problem as scipy's `linear_sum_assignment(C, maximize=True)`.
//! Method: shortest augmenting paths with dual potentials (the Hungarian method in its
//! O(n³) Jonker–Volgenant form), run on `-C`, after a column and row reduction that assigns many
//! rows at once. Each remaining row is added by one Dijkstra-like search over reduced costs, so
//! the result is optimal to floating-point precision; with ties the chosen optimum may differ
//! from scipy's, without ties it is the same. [`LapSolver`] keeps the duals for warm starts.

use std::fmt;

/// A permutation of `0..n`. `p.map()[r] = c` means "position `r` takes element `c`", the
/// convention of SPEC §2.3: unit `r` of the aligned model is unit `c` of the original.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Permutation(Vec<usize>);

impl Permutation {
    /// The identity on `0..n`.
    pub fn identity(n: usize) -> Self {
        Self((0..n).collect())
    }

    /// Checks that `map` is a permutation of `0..map.len()`.
    pub fn new(map: Vec<usize>) -> Result<Self, String> {
        let mut seen = vec![false; map.len()];
        for (r, &c) in map.iter().enumerate() {
            if c >= map.len() || std::mem::replace(&mut seen[c], true) {
                return Err(format!(
                    "not a permutation: position {r} maps to {c} (n = {})",
                    map.len()
                ));
            }
        }
        Ok(Self(map))
    }

    /// A uniformly random permutation (Fisher–Yates) from a seeded generator.
    pub fn random(n: usize, rng: &mut crate::rng::Rng) -> Self {
        let mut map: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut map);
        Self(map)
    }

    /// `map()[r]` = the source index placed at position `r`.
    pub fn map(&self) -> &[usize] {
        &self.0
    }

    /// Size of the permuted set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the permutation of the empty set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if every position keeps its element.
    pub fn is_identity(&self) -> bool {
        self.0.iter().enumerate().all(|(r, &c)| r == c)
    }

    /// The inverse: `inv.map()[c] = r` where `self.map()[r] = c`.
    pub fn inverse(&self) -> Self {
        let mut inv = vec![0; self.0.len()];
        for (r, &c) in self.0.iter().enumerate() {
            inv[c] = r;
        }
        Self(inv)
    }

    /// `out[r] = xs[map[r]]` (numpy's `take`).
    pub fn take<T: Copy>(&self, xs: &[T]) -> Vec<T> {
        self.0.iter().map(|&c| xs[c]).collect()
    }

    /// Number of positions where `self` and `other` differ.
    pub fn hamming(&self, other: &Permutation) -> usize {
        self.0.iter().zip(&other.0).filter(|(a, b)| a != b).count()
    }
}

impl fmt::Display for Permutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Why an assignment problem could not be solved.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LapError {
    /// `scores.len()` is not `n * n`.
    NotSquare {
        /// The side asked for.
        n: usize,
        /// Number of scores given.
        len: usize,
    },
    /// A NaN or infinite score.
    NonFinite {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
    },
}

impl fmt::Display for LapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSquare { n, len } => {
                write!(f, "score matrix has {len} entries, expected {n}x{n}")
            }
            Self::NonFinite { row, col } => {
                write!(f, "score matrix entry ({row}, {col}) is not finite")
            }
        }
    }
}

impl std::error::Error for LapError {}

/// Solves `max_σ Σ_r scores[r·n + σ(r)]` exactly for a row-major `n × n` matrix.
pub fn solve_max(scores: &[f64], n: usize) -> Result<Permutation, LapError> {
    LapSolver::new(n).solve_max(scores)
}

const FREE: usize = usize::MAX;

/// An assignment solver that keeps its dual variables between calls, so a problem whose scores
/// changed a little (as in the sweeps of weight matching) is re-solved from the previous duals:
/// rows whose previous column is still the best under the old column prices keep it, and only
/// the others are re-augmented. Every call returns an exact optimum; only the work differs.
#[derive(Debug, Clone)]
pub struct LapSolver {
    n: usize,
    /// Row duals (for costs `-score`).
    u: Vec<f64>,
    /// Column duals; index `n` is the virtual root column of the augmenting-path search.
    v: Vec<f64>,
    /// The previous answer (row → column), if any.
    previous: Option<Vec<usize>>,
}

impl LapSolver {
    /// A solver for `n × n` problems with no previous solution.
    pub fn new(n: usize) -> Self {
        Self {
            n,
            u: vec![0.0; n],
            v: vec![0.0; n + 1],
            previous: None,
        }
    }

    /// Solves `max_σ Σ_r scores[r·n + σ(r)]`, warm-started from the previous call.
    pub fn solve_max(&mut self, scores: &[f64]) -> Result<Permutation, LapError> {
        let n = self.n;
        if scores.len() != n * n {
            return Err(LapError::NotSquare {
                n,
                len: scores.len(),
            });
        }
        if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
            return Err(LapError::NonFinite {
                row: i / n,
                col: i % n,
            });
        }
        // Minimise cost = -score with duals u (rows), v (columns): reduced cost
        // c[i][j] - u[i] - v[j] >= 0 everywhere, = 0 on assigned pairs.
        let cost: Vec<f64> = scores.iter().map(|s| -s).collect();
        let (u, v) = (&mut self.u, &mut self.v);
        if self.previous.is_none() {
            // Column reduction gives a feasible start.
            v[..n].fill(f64::INFINITY);
            for row in cost.chunks_exact(n.max(1)).take(n) {
                for (vj, &c) in v.iter_mut().zip(row) {
                    *vj = vj.min(c);
                }
            }
        }
        // Row reduction against the current column prices; a row keeps its previous column
        // (warm start) or takes its cheapest one (cold start) if that column is still free.
        let mut p = vec![FREE; n + 1]; // column -> row
        let mut free_rows = Vec::new();
        for i in 0..n {
            let row = &cost[i * n..(i + 1) * n];
            let (mut best, mut arg) = (f64::INFINITY, 0);
            for (j, (&c, &vj)) in row.iter().zip(v.iter()).enumerate() {
                if c - vj < best {
                    best = c - vj;
                    arg = j;
                }
            }
            u[i] = best;
            let want = match &self.previous {
                Some(prev) if row[prev[i]] - v[prev[i]] == best => prev[i],
                Some(_) => FREE,
                None => arg,
            };
            if want != FREE && p[want] == FREE {
                p[want] = i;
            } else {
                free_rows.push(i);
            }
        }
        let mut way = vec![n; n + 1];
        let mut minv = vec![0f64; n + 1];
        let mut used = vec![false; n + 1];
        for i in free_rows {
            // Shortest augmenting path from row i (Dijkstra on reduced costs), rooted at the
            // virtual column n.
            p[n] = i;
            let mut j0 = n;
            minv.fill(f64::INFINITY);
            used.fill(false);
            loop {
                used[j0] = true;
                let i0 = p[j0];
                let row = &cost[i0 * n..(i0 + 1) * n];
                let ui0 = u[i0];
                let (mut delta, mut j1) = (f64::INFINITY, n);
                for j in 0..n {
                    if !used[j] {
                        let cur = row[j] - ui0 - v[j];
                        if cur < minv[j] {
                            minv[j] = cur;
                            way[j] = j0;
                        }
                        if minv[j] < delta {
                            delta = minv[j];
                            j1 = j;
                        }
                    }
                }
                for j in 0..=n {
                    if used[j] {
                        u[p[j]] += delta;
                        v[j] -= delta;
                    } else {
                        minv[j] -= delta;
                    }
                }
                j0 = j1;
                if p[j0] == FREE {
                    break;
                }
            }
            // Flip the alternating path back to the root.
            while j0 != n {
                let j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
            }
        }
        let mut map = vec![0usize; n];
        for (j, &i) in p[..n].iter().enumerate() {
            map[i] = j;
        }
        self.previous = Some(map.clone());
        Ok(Permutation(map))
    }
}

/// `Σ_r scores[r·n + σ(r)]`.
pub fn assignment_score(scores: &[f64], n: usize, perm: &Permutation) -> f64 {
    perm.0
        .iter()
        .enumerate()
        .map(|(r, &c)| scores[r * n + c])
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute_force_best(scores: &[f64], n: usize) -> f64 {
        fn rec(scores: &[f64], n: usize, row: usize, used: &mut Vec<bool>, acc: f64) -> f64 {
            if row == n {
                return acc;
            }
            let mut best = f64::NEG_INFINITY;
            for c in 0..n {
                if !used[c] {
                    used[c] = true;
                    best = best.max(rec(scores, n, row + 1, used, acc + scores[row * n + c]));
                    used[c] = false;
                }
            }
            best
        }
        rec(scores, n, 0, &mut vec![false; n], 0.0)
    }

    #[test]
    fn hand_worked_3x3() {
        // Best: row0->1 (9), row1->0 (6), row2->2 (8) = 23; greedy row-wise would take 9, then
        // 7 is gone (col 1), ... the solver must find the global optimum.
        let c = [4.0, 9.0, 1.0, 6.0, 7.0, 2.0, 3.0, 5.0, 8.0];
        let p = solve_max(&c, 3).expect("solves");
        assert_eq!(p.map(), &[1, 0, 2]);
        assert_eq!(assignment_score(&c, 3, &p), 23.0);
    }

    #[test]
    fn reproduces_scipy_on_real_512_matrix() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/lap");
        let cost = std::fs::read(format!("{dir}/cost0.f64")).expect("fixture present");
        let want = std::fs::read(format!("{dir}/scipy_assign0.u32")).expect("fixture present");
        let c: Vec<f64> = cost
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        let want: Vec<usize> = want
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .collect();
        assert_eq!((c.len(), want.len()), (512 * 512, 512));
        let got = solve_max(&c, 512).expect("solves");
        assert_eq!(got.map(), &want[..]);
        let want = Permutation::new(want).expect("scipy returns a permutation");
        assert_eq!(
            assignment_score(&c, 512, &got),
            assignment_score(&c, 512, &want)
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            solve_max(&[1.0, 2.0, 3.0], 2),
            Err(LapError::NotSquare { n: 2, len: 3 })
        );
        assert_eq!(
            solve_max(&[1.0, f64::NAN, 3.0, 4.0], 2),
            Err(LapError::NonFinite { row: 0, col: 1 })
        );
        assert!(Permutation::new(vec![0, 0]).is_err());
        assert!(Permutation::new(vec![1, 2]).is_err());
        assert_eq!(solve_max(&[], 0).expect("empty").len(), 0);
    }

    proptest! {
        #[test]
        fn optimal_like_brute_force(n in 1usize..7, seed in any::<u64>(), ints in any::<bool>()) {
            let mut rng = crate::rng::Rng::new(seed);
            // Integer scores make ties common, which exercises the degenerate paths.
            let c: Vec<f64> = (0..n * n)
                .map(|_| if ints { (rng.below(5)) as f64 } else { rng.uniform() * 10.0 - 5.0 })
                .collect();
            let p = solve_max(&c, n).expect("solves");
            prop_assert!(Permutation::new(p.map().to_vec()).is_ok());
            let best = brute_force_best(&c, n);
            prop_assert!((assignment_score(&c, n, &p) - best).abs() < 1e-9);
        }

        #[test]
        fn warm_start_stays_optimal(n in 1usize..7, seed in any::<u64>()) {
            let mut rng = crate::rng::Rng::new(seed);
            let mut c: Vec<f64> = (0..n * n).map(|_| rng.uniform()).collect();
            let mut solver = LapSolver::new(n);
            for _ in 0..4 {
                let p = solver.solve_max(&c).expect("solves");
                prop_assert!((assignment_score(&c, n, &p) - brute_force_best(&c, n)).abs() < 1e-9);
                // Perturb a few entries, as a neighbouring permutation change would.
                for _ in 0..n {
                    let k = rng.below(n * n);
                    c[k] += rng.uniform() * 0.3 - 0.15;
                }
            }
        }

        #[test]
        fn inverse_round_trips(n in 0usize..50, seed in any::<u64>()) {
            let p = Permutation::random(n, &mut crate::rng::Rng::new(seed));
            let xs: Vec<usize> = (0..n).map(|i| i * 7).collect();
            prop_assert_eq!(p.inverse().take(&p.take(&xs)), xs);
        }
    }
}
