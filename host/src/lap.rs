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

    /// The positions where `self` and `other` differ, in increasing order.
    pub fn moved<'a>(&'a self, other: &'a Permutation) -> impl Iterator<Item = usize> + 'a {
        self.0
            .iter()
            .zip(&other.0)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(k, _)| k)
    }

    /// Number of positions where `self` and `other` differ.
    pub fn hamming(&self, other: &Permutation) -> usize {
        self.moved(other).count()
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
            return Ok(Permutation(Vec::new()));
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
        Ok(Permutation(map))
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

/// The largest score of a (finite) row, in eight independent running maxima so that the
/// compiler can keep them in vector registers (one chain would wait on every comparison).
fn row_max<T: Score>(row: &[T]) -> f64 {
    let mut lanes = [f64::NEG_INFINITY; 8];
    let mut chunks = row.chunks_exact(lanes.len());
    for chunk in &mut chunks {
        for (m, &s) in lanes.iter_mut().zip(chunk) {
            let s = s.to_f64();
            *m = if s > *m { s } else { *m };
        }
    }
    let tail = chunks.remainder().iter().map(|s| s.to_f64());
    lanes
        .into_iter()
        .chain(tail)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The two smallest reduced costs `price[j] - row[j]` of a score row and their columns, found
/// lane by lane in vector registers and then merged. Each lane keeps its smallest and
/// second-smallest value with the lowest column on ties; the merge orders candidates by
/// (value, column), so every lane width returns the same answer as a plain scan from column 0.
struct TwoCheapest<'a, T> {
    row: &'a [T],
    price: &'a [f64],
}

/// The running two smallest `(value, column)` of one lane, or of the scalar tail.
#[derive(Clone, Copy)]
struct TwoSmallest {
    u1: f64,
    j1: usize,
    u2: f64,
    j2: usize,
}

impl TwoSmallest {
    const EMPTY: Self = Self {
        u1: f64::INFINITY,
        j1: usize::MAX,
        u2: f64::INFINITY,
        j2: usize::MAX,
    };

    /// Adds `(h, j)`, for columns seen in increasing order.
    fn push(&mut self, h: f64, j: usize) {
        if h < self.u1 {
            (self.u2, self.j2) = (self.u1, self.j1);
            (self.u1, self.j1) = (h, j);
        } else if h < self.u2 {
            (self.u2, self.j2) = (h, j);
        }
    }

    /// Adds a candidate seen out of column order: ties go to the lower column.
    fn merge(&mut self, h: f64, j: usize) {
        let before = |u: f64, k: usize| h < u || (h == u && j < k);
        if before(self.u1, self.j1) {
            (self.u2, self.j2) = (self.u1, self.j1);
            (self.u1, self.j1) = (h, j);
        } else if before(self.u2, self.j2) {
            (self.u2, self.j2) = (h, j);
        }
    }
}

impl<T: Score> pulp::WithSimd for TwoCheapest<'_, T> {
    type Output = (f64, usize, f64, usize);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Self::Output {
        let Self { row, price } = self;
        let n = row.len();
        let price = &price[..n];
        let (p_s, p_t) = S::as_simd_f64s(price);
        let row_t = &row[n - p_t.len()..];
        let lanes = S::F64_LANES;
        let step = simd.splat_u64s(lanes as u64);
        let mut column = simd.partial_load_u64s(&IOTA[..lanes.min(IOTA.len())]);
        let inf = simd.splat_f64s(f64::INFINITY);
        let none = simd.splat_u64s(u64::MAX);
        let (mut u1, mut j1, mut u2, mut j2) = (inf, none, inf, none);
        for (c, &p) in p_s.iter().enumerate() {
            let h = simd.sub_f64s(p, T::register::<S>(row, c));
            let below1 = simd.less_than_f64s(h, u1);
            let below2 = simd.less_than_f64s(h, u2);
            // u2' = u1 if h < u1, else h if h < u2, else u2 (and the columns alike).
            u2 = simd.select_f64s(below1, u1, simd.select_f64s(below2, h, u2));
            j2 = simd.select_u64s(below1, j1, simd.select_u64s(below2, column, j2));
            u1 = simd.select_f64s(below1, h, u1);
            j1 = simd.select_u64s(below1, column, j1);
            column = simd.add_u64s(column, step);
        }
        let mut tail = TwoSmallest::EMPTY;
        let body = n - row_t.len();
        for (k, (&r, &p)) in row_t.iter().zip(p_t).enumerate() {
            tail.push(p - r.to_f64(), body + k);
        }
        let mut best = tail;
        let lane_u1: &[f64] = pulp::bytemuck::cast_slice(std::slice::from_ref(&u1));
        let lane_j1: &[u64] = pulp::bytemuck::cast_slice(std::slice::from_ref(&j1));
        let lane_u2: &[f64] = pulp::bytemuck::cast_slice(std::slice::from_ref(&u2));
        let lane_j2: &[u64] = pulp::bytemuck::cast_slice(std::slice::from_ref(&j2));
        for l in 0..lanes {
            best.merge(lane_u1[l], lane_j1[l] as usize);
            best.merge(lane_u2[l], lane_j2[l] as usize);
        }
        (best.u1, best.j1, best.u2, best.j2)
    }
}

const IOTA: [u64; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// One relaxation step of the shortest-path search, through a row whose dual, shifted by the
/// current distance, is `h`: for every column not reached yet,
/// `d[j] = min(d[j], price[j] - row[j] - h)` (`row` holds scores). Returns the smallest `d` and
/// its column (the lowest column on ties). Reached columns carry `price = +inf` and
/// `d = +inf`, so they never improve and never win, and no branch depends on the data.
///
/// Two passes over whole vector registers. The first updates `d` and keeps only running
/// minima, in four independent chains (so it is bound by throughput, not by the latency of one
/// chain), and no column indices. The second finds the first column holding that minimum,
/// sixteen columns (four registers) per test, and usually stops halfway. Every lane width
/// does the same IEEE operations, so the answer does not depend on the CPU.
struct RelaxRow<'a, T> {
    row: &'a [T],
    price: &'a [f64],
    h: f64,
    d: &'a mut [f64],
}

impl<T: Score> pulp::WithSimd for RelaxRow<'_, T> {
    type Output = (f64, usize);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Self::Output {
        const CHAINS: usize = 4;
        let Self { row, price, h, d } = self;
        let n = row.len();
        let (price, d) = (&price[..n], &mut d[..n]);
        let (p_s, p_t) = S::as_simd_f64s(price);
        let (d_s, d_t) = S::as_mut_simd_f64s(d);
        let row_t = &row[n - p_t.len()..];
        let hv = simd.splat_f64s(h);
        // `min` rather than compare-and-select: a select stored back where it was loaded from
        // becomes a masked store, which is slow on some CPUs. Both give the smaller value (no
        // NaN can occur: the scores are checked finite).
        let relax = |r: S::f64s, p: S::f64s, dd: &mut S::f64s| {
            *dd = simd.min_f64s(simd.sub_f64s(simd.sub_f64s(p, r), hv), *dd);
            *dd
        };
        let mut low = [simd.splat_f64s(f64::INFINITY); CHAINS];
        let (p_c, p_1) = pulp::as_arrays::<CHAINS, _>(p_s);
        let (d_c, d_1) = pulp::as_arrays_mut::<CHAINS, _>(d_s);
        for (b, (p, dd)) in p_c.iter().zip(d_c.iter_mut()).enumerate() {
            for (k, low) in low.iter_mut().enumerate() {
                let r = T::register::<S>(row, b * CHAINS + k);
                *low = simd.min_f64s(*low, relax(r, p[k], &mut dd[k]));
            }
        }
        let done = p_c.len() * CHAINS;
        for (c, (&p, dd)) in p_1.iter().zip(d_1.iter_mut()).enumerate() {
            let r = T::register::<S>(row, done + c);
            low[0] = simd.min_f64s(low[0], relax(r, p, dd));
        }
        let low = simd.min_f64s(simd.min_f64s(low[0], low[1]), simd.min_f64s(low[2], low[3]));
        let mut mu = simd.reduce_min_f64s(low);
        for ((&r, &p), dd) in row_t.iter().zip(p_t).zip(d_t.iter_mut()) {
            *dd = dd.min(p - r.to_f64() - h);
            mu = mu.min(*dd);
        }

        let lanes = S::F64_LANES;
        let target = simd.splat_f64s(mu);
        let (d_s, d_t) = S::as_simd_f64s(d);
        let first_in = |regs: &[S::f64s]| {
            regs.iter().enumerate().find_map(|(k, &dd)| {
                let lane = simd.first_true_m64s(simd.equal_f64s(dd, target));
                (lane < lanes).then_some(k * lanes + lane)
            })
        };
        let (d_c, d_1) = pulp::as_arrays::<CHAINS, _>(d_s);
        for (c, regs) in d_c.iter().enumerate() {
            let hit = simd.or_m64s(
                simd.or_m64s(
                    simd.equal_f64s(regs[0], target),
                    simd.equal_f64s(regs[1], target),
                ),
                simd.or_m64s(
                    simd.equal_f64s(regs[2], target),
                    simd.equal_f64s(regs[3], target),
                ),
            );
            if simd.first_true_m64s(hit) < lanes
                && let Some(j) = first_in(regs)
            {
                return (mu, c * CHAINS * lanes + j);
            }
        }
        let body_c = d_c.len() * CHAINS * lanes;
        if let Some(j) = first_in(d_1) {
            return (mu, body_c + j);
        }
        let body = n - d_t.len();
        let j = d_t
            .iter()
            .position(|&x| x == mu)
            .map_or(usize::MAX, |k| body + k);
        (mu, j)
    }
}

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
fn read_square_f64(path: &std::path::Path) -> anyhow::Result<(Vec<f64>, usize)> {
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

/// `Σ_r scores[r·n + σ(r)]`.
pub fn assignment_score<T: Score>(scores: &[T], n: usize, perm: &Permutation) -> f64 {
    perm.0
        .iter()
        .enumerate()
        .map(|(r, &c)| scores[r * n + c].to_f64())
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

    /// An independent O(n³) reference: the textbook Hungarian method with explicit row and
    /// column potentials and a full dual update per Dijkstra step (no reductions, no warm
    /// start), minimising `-scores`. Returns the optimal total score.
    fn hungarian_best(scores: &[f64], n: usize) -> f64 {
        let inf = f64::INFINITY;
        let cost = |i: usize, j: usize| -scores[(i - 1) * n + (j - 1)];
        let (mut u, mut v) = (vec![0.0; n + 1], vec![0.0; n + 1]);
        let (mut p, mut way) = (vec![0usize; n + 1], vec![0usize; n + 1]);
        for i in 1..=n {
            p[0] = i;
            let mut j0 = 0;
            let mut minv = vec![inf; n + 1];
            let mut used = vec![false; n + 1];
            loop {
                used[j0] = true;
                let (i0, mut delta, mut j1) = (p[j0], inf, 0);
                for j in 1..=n {
                    if !used[j] {
                        let cur = cost(i0, j) - u[i0] - v[j];
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
                if p[j0] == 0 {
                    break;
                }
            }
            while j0 != 0 {
                let j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
            }
        }
        (1..=n).map(|j| scores[(p[j] - 1) * n + (j - 1)]).sum()
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
        let (c, _) = read_square_f64(std::path::Path::new(&format!("{dir}/cost0.f64")))
            .expect("fixture present");
        let want = std::fs::read(format!("{dir}/scipy_assign0.u32")).expect("fixture present");
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
    fn bench_reads_the_fixture_and_rejects_non_square_files() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/lap");
        let report = bench_file(std::path::Path::new(&format!("{dir}/cost0.f64")), 1)
            .expect("the fixture is a 512x512 f64 matrix");
        assert_eq!((report.n, report.repeats), (512, 1));
        let dir = tempfile::tempdir().expect("temp dir");
        let three = dir.path().join("three.f64");
        std::fs::write(&three, [0u8; 24]).expect("written");
        let err = bench_file(&three, 1).expect_err("3 f64 are not a square");
        assert!(err.to_string().contains("three.f64"), "{err}");
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
        assert_eq!(solve_max::<f64>(&[], 0).expect("empty").len(), 0);
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
        fn optimal_like_reference_hungarian_on_larger_problems(
            n in 7usize..48,
            seed in any::<u64>(),
            levels in prop_oneof![Just(0usize), Just(3), Just(12)],
        ) {
            let mut rng = crate::rng::Rng::new(seed);
            // levels = 0: continuous scores; otherwise few distinct values (heavy ties).
            let c: Vec<f64> = (0..n * n)
                .map(|_| if levels == 0 { rng.normal() } else { rng.below(levels) as f64 })
                .collect();
            let p = solve_max(&c, n).expect("solves");
            prop_assert!(Permutation::new(p.map().to_vec()).is_ok());
            let best = hungarian_best(&c, n);
            prop_assert!((assignment_score(&c, n, &p) - best).abs() < 1e-9 * (1.0 + best.abs()));
        }

        #[test]
        fn warm_start_stays_optimal_under_low_rank_changes(n in 2usize..40, seed in any::<u64>()) {
            // The changes weight matching makes: a neighbour moving k units adds a rank-k term.
            let mut rng = crate::rng::Rng::new(seed);
            let mut c: Vec<f64> = (0..n * n).map(|_| rng.normal()).collect();
            let mut solver = LapSolver::new(n);
            for _ in 0..5 {
                let p = solver.solve_max(&c).expect("solves");
                let best = hungarian_best(&c, n);
                prop_assert!((assignment_score(&c, n, &p) - best).abs() < 1e-9 * (1.0 + best.abs()));
                let rank = 1 + rng.below(3);
                for _ in 0..rank {
                    let x: Vec<f64> = (0..n).map(|_| rng.normal() * 0.3).collect();
                    let y: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
                    for (r, row) in c.chunks_exact_mut(n).enumerate() {
                        for (col, e) in row.iter_mut().enumerate() {
                            *e += x[r] * y[col];
                        }
                    }
                }
            }
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
        fn vector_kernels_match_a_plain_scan(
            n in 1usize..40,
            seed in any::<u64>(),
            levels in prop_oneof![Just(0usize), Just(2), Just(5)],
        ) {
            // Few distinct values make ties, where lane merging must still pick the lowest
            // column: the CPU's lane width (pulp::Arch) and one lane (pulp::Scalar) must agree
            // with a scan from column 0, for f64 rows and for f32 rows (widened in the
            // kernels).
            use pulp::WithSimd;
            let mut rng = crate::rng::Rng::new(seed);
            let mut draw = |k: usize| -> Vec<f64> {
                (0..k)
                    .map(|_| if levels == 0 { rng.normal() } else { rng.below(levels) as f64 })
                    .collect()
            };
            let (row, mut v, d0) = (draw(n), draw(n), draw(n));
            // Scores representable in f32, so both row types hold the same values.
            let row32: Vec<f32> = row.iter().map(|&x| x as f32).collect();
            let row: Vec<f64> = row32.iter().map(|&x| f64::from(x)).collect();
            let h = 0.25;

            let mut want2 = TwoSmallest::EMPTY;
            for j in 0..n {
                want2.push(v[j] - row[j], j);
            }
            let want2 = (want2.u1, want2.j1, want2.u2, want2.j2);
            let arch = pulp::Arch::new().dispatch(TwoCheapest { row: &row, price: &v });
            let one = TwoCheapest { row: &row, price: &v }.with_simd(pulp::Scalar::new());
            let arch32 = pulp::Arch::new().dispatch(TwoCheapest { row: &row32, price: &v });
            let one32 = TwoCheapest { row: &row32, price: &v }.with_simd(pulp::Scalar::new());
            prop_assert_eq!(arch, want2);
            prop_assert_eq!(one, want2);
            prop_assert_eq!(arch32, want2);
            prop_assert_eq!(one32, want2);

            // Reached columns: +inf price and distance.
            let mut d0 = d0;
            for (j, reached) in draw(n).iter().map(|&x| x > 0.5).enumerate() {
                if reached {
                    (v[j], d0[j]) = (f64::INFINITY, f64::INFINITY);
                }
            }
            let d_want: Vec<f64> = (0..n).map(|j| d0[j].min(v[j] - row[j] - h)).collect();
            let mut want = (f64::INFINITY, usize::MAX);
            for (j, &x) in d_want.iter().enumerate() {
                if x < want.0 {
                    want = (x, j);
                }
            }
            let (mut d_arch, mut d_one) = (d0.clone(), d0.clone());
            let (mut d_arch32, mut d_one32) = (d0.clone(), d0.clone());
            let arch = pulp::Arch::new().dispatch(RelaxRow { row: &row, price: &v, h, d: &mut d_arch });
            let one = RelaxRow { row: &row, price: &v, h, d: &mut d_one }
                .with_simd(pulp::Scalar::new());
            let arch32 = pulp::Arch::new()
                .dispatch(RelaxRow { row: &row32, price: &v, h, d: &mut d_arch32 });
            let one32 = RelaxRow { row: &row32, price: &v, h, d: &mut d_one32 }
                .with_simd(pulp::Scalar::new());
            for d in [&d_arch, &d_one, &d_arch32, &d_one32] {
                prop_assert_eq!(d, &d_want);
            }
            if want.1 != usize::MAX {
                for got in [arch, one, arch32, one32] {
                    prop_assert_eq!(got, want);
                }
            }

            // The row maximum of the cold start, in eight lanes plus a tail.
            let plain = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
            prop_assert_eq!(row_max(&row), plain);
            prop_assert_eq!(row_max(&row32), plain);
        }

        #[test]
        fn f32_scores_solve_like_their_f64_widening(n in 1usize..30, seed in any::<u64>()) {
            // The solver widens f32 entries exactly and then does the same f64 arithmetic, so
            // the answers (cold and warm) must be identical.
            let mut rng = crate::rng::Rng::new(seed);
            let mut s32: Vec<f32> = (0..n * n).map(|_| rng.normal() as f32).collect();
            let (mut a, mut b) = (LapSolver::new(n), LapSolver::new(n));
            for _ in 0..3 {
                let s64: Vec<f64> = s32.iter().map(|&x| f64::from(x)).collect();
                let (p32, p64) = (a.solve_max(&s32), b.solve_max(&s64));
                prop_assert_eq!(p32, p64);
                for x in s32.iter_mut().take(n) {
                    *x += 0.5;
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
