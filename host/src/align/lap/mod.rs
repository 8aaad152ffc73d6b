//! Exact linear assignment (maximisation) and the [`Permutation`] type.
//!
//! [`solve_max`] finds, for a square score matrix `C`, the permutation `σ` maximising
//! `Σ_r C[r, σ(r)]`: the same problem as scipy's `linear_sum_assignment(C, maximize=True)`.
//! Method: Jonker–Volgenant (column reduction, augmenting row reduction, then shortest
//! augmenting paths with dual prices; O(n³) worst case) on `-C`. Each row left after the
//! reductions is added by a Dijkstra search over reduced costs, so the result is optimal to
//! floating-point precision; with ties the chosen optimum may differ from scipy's, without ties
//! it is the same. [`LapSolver`] keeps the prices and the answer for warm starts. Scores may be
//! f64 or f32 ([`Score`]): f32 entries are widened exactly where they are read, so an f32
//! matrix is solved exactly as its f64 widening would be.

mod simd;
#[cfg(test)]
mod tests;
pub mod timing;

use std::fmt;

use super::Permutation;
use simd::{RelaxRow, TwoCheapest, row_max};

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

/// A score matrix entry: `f64`, or `f32` (widened exactly to f64 wherever it is read, so the
/// solver's arithmetic is the same f64 arithmetic for both).
pub trait Score: Copy + Send + Sync + 'static + sealed::Sealed {
    /// The value, exactly, as f64.
    fn to_f64(self) -> f64;
    /// Vector register `c` of a row (entries `c·L .. (c+1)·L` for `L` f64 lanes), widened.
    fn register<S: pulp::Simd>(row: &[Self], c: usize) -> S::f64s;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Score for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }

    #[inline(always)]
    fn register<S: pulp::Simd>(row: &[Self], c: usize) -> S::f64s {
        let lanes = S::F64_LANES;
        pulp::bytemuck::pod_read_unaligned(pulp::bytemuck::cast_slice(
            &row[c * lanes..(c + 1) * lanes],
        ))
    }
}

impl Score for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }

    #[inline(always)]
    fn register<S: pulp::Simd>(row: &[Self], c: usize) -> S::f64s {
        // Widened through a lane array; the compiler turns this into one conversion
        // instruction per register (`vcvtps2pd` on AVX2).
        let lanes = S::F64_LANES;
        let mut wide = [0.0f64; 16];
        for (w, &x) in wide.iter_mut().zip(&row[c * lanes..(c + 1) * lanes]) {
            *w = f64::from(x);
        }
        pulp::bytemuck::pod_read_unaligned(pulp::bytemuck::cast_slice(&wide[..lanes]))
    }
}

/// Solves `max_σ Σ_r scores[r·n + σ(r)]` exactly for a row-major `n × n` matrix.
pub fn solve_max<T: Score>(scores: &[T], n: usize) -> Result<Permutation, LapError> {
    LapSolver::new(n).solve_max(scores)
}

const FREE: usize = usize::MAX;

/// Most augmenting-row-reduction steps per pass, per free row: the reduction only speeds up
/// the exact phase, so it is cut off rather than trusted to terminate on float ties.
const ARR_STEPS_PER_ROW: usize = 8;

/// An assignment solver that keeps its column prices and answer between calls, so a problem
/// whose scores changed a little (as in the sweeps of weight matching) is re-solved warm: rows
/// whose previous column is still their cheapest under the old prices keep it, and only the
/// others are re-assigned. Every call returns an exact optimum; only the work differs.
///
/// Method (Jonker and Volgenant, 1987), on costs `-score`, read straight from the score matrix
/// (no copy): with column prices `p` (the negated duals `v` of the textbook's `c - u - v`),
/// the reduced cost of `(i, j)` is `p[j] - score[i][j] - u_i`; row duals are implicit
/// (each assigned row sits on its cheapest reduced column), a cold
/// start reduces columns, two passes of augmenting row reduction assign most free rows cheaply,
/// and each remaining row is added by a shortest augmenting path (Dijkstra over reduced costs,
/// one nearest column at a time; each step relaxes a whole row in vector registers, see
/// `RelaxRow`).
#[derive(Debug, Clone)]
pub struct LapSolver {
    n: usize,
    /// Column prices: the negated column duals of the costs `-score`.
    price: Vec<f64>,
    /// The previous answer (row → column), if any.
    previous: Option<Vec<usize>>,
    /// Scratch, kept to avoid reallocating in every sweep: the assignment both ways.
    x: Vec<usize>,
    y: Vec<usize>,
    /// Shortest-path search: tentative distances of the columns not reached yet (+inf once
    /// reached); the price a column had when it was reached (its entry in `price` is +inf
    /// while the search runs, so relaxing a row leaves it alone without a branch); the
    /// distance at which each column was reached, and how many rows had been relaxed by then;
    /// the relaxed rows in order with their shifted duals; the reached columns in order.
    d: Vec<f64>,
    reached_price: Vec<f64>,
    reached_at: Vec<f64>,
    reached_after: Vec<usize>,
    relaxed: Vec<(usize, f64)>,
    reached: Vec<usize>,
    /// The vector unit found at run time (AVX2 or none on x86-64, NEON on aarch64).
    arch: pulp::Arch,
}

impl LapSolver {
    /// A solver for `n × n` problems with no previous solution.
    pub fn new(n: usize) -> Self {
        Self {
            n,
            price: vec![0.0; n],
            previous: None,
            x: vec![FREE; n],
            y: vec![FREE; n],
            d: vec![0.0; n],
            reached_price: vec![0.0; n],
            reached_at: vec![0.0; n],
            reached_after: vec![0; n],
            relaxed: Vec::with_capacity(n),
            reached: Vec::with_capacity(n),
            arch: pulp::Arch::new(),
        }
    }

    /// Solves `max_σ Σ_r scores[r·n + σ(r)]`, warm-started from the previous call. The scores
    /// are read where they are (no copy).
    pub fn solve_max<T: Score>(&mut self, scores: &[T]) -> Result<Permutation, LapError> {
        self.check_len(scores.len())?;
        let n = self.n;
        if n == 0 {
            return Ok(Permutation::from_assignment(Vec::new()));
        }
        self.x.fill(FREE);
        self.y.fill(FREE);
        let warm = self.previous.is_some();
        let mut free = Vec::new();
        for (i, row) in scores.chunks_exact(n).enumerate() {
            // A branch-free check (vectorised), the position only on failure.
            if !row.iter().fold(true, |ok, c| ok & c.to_f64().is_finite()) {
                let col = row
                    .iter()
                    .position(|c| !c.to_f64().is_finite())
                    .unwrap_or(0);
                return Err(LapError::NonFinite { row: i, col });
            }
            // On a warm start each row gets its initial column while it is in cache.
            if warm {
                self.assign_initial(scores, i, &mut free);
            }
        }
        if !warm {
            // Row reduction, then column reduction (the Hungarian method's first two steps):
            // a column's price is its best score less that row's best. Column reduction alone
            // hands most columns to the few rows whose units have large weights (they score
            // high everywhere) and leaves most rows free with poor prices; subtracting each
            // row's best first spreads the cheapest columns over the rows. On the real 512×512
            // fixture the Dijkstra steps fall from 34 000 to 9 500 (cold solve 6.8 → 2.4 ms).
            self.price.fill(f64::NEG_INFINITY);
            for row in scores.chunks_exact(n) {
                let best = row_max(row);
                for (p, &s) in self.price.iter_mut().zip(row) {
                    *p = p.max(s.to_f64() - best);
                }
            }
            for i in 0..n {
                self.assign_initial(scores, i, &mut free);
            }
        }
        for _ in 0..2 {
            if free.is_empty() {
                break;
            }
            free = self.augmenting_row_reduction(scores, free);
        }
        for f in free {
            self.augment(scores, f);
        }
        let map = self.x.clone();
        self.previous = Some(map.clone());
        Ok(Permutation::from_assignment(map))
    }

    fn check_len(&self, len: usize) -> Result<(), LapError> {
        if len == self.n * self.n {
            Ok(())
        } else {
            Err(LapError::NotSquare { n: self.n, len })
        }
    }

    /// Cheapest and second-cheapest reduced cost of row `i`: `(u1, j1, u2, j2)`, each at its
    /// lowest column on ties (`j2 != j1`).
    fn two_cheapest<T: Score>(&self, scores: &[T], i: usize) -> (f64, usize, f64, usize) {
        let n = self.n;
        self.arch.dispatch(TwoCheapest {
            row: &scores[i * n..(i + 1) * n],
            price: &self.price,
        })
    }

    /// Gives row `i` its cheapest reduced column if still free (its previous column, on a warm
    /// start, if that is still a cheapest one), else adds it to `free`.
    fn assign_initial<T: Score>(&mut self, scores: &[T], i: usize, free: &mut Vec<usize>) {
        let n = self.n;
        let (u1, j1, _, _) = self.two_cheapest(scores, i);
        let want = match &self.previous {
            Some(prev) if self.price[prev[i]] - scores[i * n + prev[i]].to_f64() == u1 => prev[i],
            _ => j1,
        };
        if self.y[want] == FREE {
            self.x[i] = want;
            self.y[want] = i;
        } else {
            free.push(i);
        }
    }

    /// One pass of augmenting row reduction: a free row takes its cheapest column, raising
    /// that column's price until the row's reduced cost there reaches its second-cheapest
    /// level, and evicts the column's owner, which is re-processed at once if the price really
    /// rose (else next pass). A higher price only makes that column dearer for every row, so
    /// every other assigned row stays on a cheapest column. Returns the rows still free.
    fn augmenting_row_reduction<T: Score>(
        &mut self,
        scores: &[T],
        mut free: Vec<usize>,
    ) -> Vec<usize> {
        let mut next = Vec::new();
        let mut steps = free.len() * ARR_STEPS_PER_ROW;
        let mut k = 0;
        while k < free.len() {
            let i = free[k];
            k += 1;
            if steps == 0 {
                next.push(i);
                continue;
            }
            steps -= 1;
            let (u1, mut j1, u2, j2) = self.two_cheapest(scores, i);
            let mut owner = self.y[j1];
            if u1 < u2 {
                self.price[j1] += u2 - u1;
            } else if owner != FREE {
                j1 = j2;
                owner = self.y[j2];
            }
            if owner != FREE {
                self.x[owner] = FREE;
                if u1 < u2 {
                    k -= 1;
                    free[k] = owner;
                } else {
                    next.push(owner);
                }
            }
            self.x[i] = j1;
            self.y[j1] = i;
        }
        next
    }

    /// Adds free row `f` by a shortest augmenting path (Dijkstra over reduced costs: reach the
    /// nearest column, relax the row assigned to it, until a free column is reached), then
    /// updates the prices of the reached columns so every reduced cost stays non-negative.
    fn augment<T: Score>(&mut self, scores: &[T], f: usize) {
        let n = self.n;
        let arch = self.arch;
        let (price, y, d) = (&mut self.price, &self.y, &mut self.d);
        self.reached.clear();
        self.relaxed.clear();
        d.fill(f64::INFINITY);
        let (mut i, mut h) = (f, 0.0);
        let sink = loop {
            self.relaxed.push((i, h));
            let row = &scores[i * n..(i + 1) * n];
            let (mu, j) = arch.dispatch(RelaxRow { row, price, h, d });
            self.reached.push(j);
            self.reached_at[j] = mu;
            self.reached_after[j] = self.relaxed.len();
            self.reached_price[j] = price[j];
            d[j] = f64::INFINITY;
            price[j] = f64::INFINITY;
            if y[j] == FREE {
                break j;
            }
            i = y[j];
            // Row i sits on column j at zero reduced cost, so its dual is price[j] - score[i][j];
            // the distance through it to any column is mu plus that column's reduced cost.
            h = self.reached_price[j] - scores[i * n + j].to_f64() - mu;
        };
        // Walk the path back from the sink: a column's predecessor is the first row, among
        // those relaxed before it was reached, whose relaxation gave it its distance (the
        // kernel keeps no predecessor array, whose blended stores would cost more than this).
        let mut j = sink;
        loop {
            let i = self.predecessor(scores, j);
            self.y[j] = i;
            let previous = std::mem::replace(&mut self.x[i], j);
            if i == f {
                break;
            }
            j = previous;
        }
        let mu = self.reached_at[sink];
        for &j in &self.reached {
            self.price[j] = self.reached_price[j] - (self.reached_at[j] - mu);
        }
    }

    /// The row whose relaxation set the distance of reached column `j` (prices not yet
    /// updated): the same operations as the kernel, so the match is exact.
    fn predecessor<T: Score>(&self, scores: &[T], j: usize) -> usize {
        let n = self.n;
        let candidates = &self.relaxed[..self.reached_after[j]];
        let distance =
            |&(i, h): &(usize, f64)| self.reached_price[j] - scores[i * n + j].to_f64() - h;
        candidates
            .iter()
            .find(|c| distance(c) == self.reached_at[j])
            // Unreachable: the distance was computed by one of these rows. Should float
            // arithmetic ever disagree, the closest row is still a valid path.
            .or_else(|| {
                candidates.iter().min_by(|a, b| {
                    let (da, db) = (distance(a), distance(b));
                    (da - self.reached_at[j])
                        .abs()
                        .total_cmp(&(db - self.reached_at[j]).abs())
                })
            })
            .map_or(self.relaxed[0].0, |&(i, _)| i)
    }
}

/// `Σ_r scores[r·n + σ(r)]`.
pub fn assignment_score<T: Score>(scores: &[T], n: usize, perm: &Permutation) -> f64 {
    perm.map()
        .iter()
        .enumerate()
        .map(|(r, &c)| scores[r * n + c].to_f64())
        .sum()
}
