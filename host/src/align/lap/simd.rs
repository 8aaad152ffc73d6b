//! The solver's inner loops in vector registers (pulp, run-time CPU dispatch): the row
//! maximum of the cold start, the two cheapest columns of a row, and one relaxation step of the
//! shortest-path search. Every lane width does the same IEEE operations, so the answer does not
//! depend on the CPU.

use super::Score;

/// The largest score of a (finite) row, in eight independent running maxima so that the
/// compiler can keep them in vector registers (one chain would wait on every comparison).
pub(super) fn row_max<T: Score>(row: &[T]) -> f64 {
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
pub(super) struct TwoCheapest<'a, T> {
    pub(super) row: &'a [T],
    pub(super) price: &'a [f64],
}

/// The running two smallest `(value, column)` of one lane, or of the scalar tail.
#[derive(Clone, Copy)]
pub(super) struct TwoSmallest {
    pub(super) u1: f64,
    pub(super) j1: usize,
    pub(super) u2: f64,
    pub(super) j2: usize,
}

impl TwoSmallest {
    pub(super) const EMPTY: Self = Self {
        u1: f64::INFINITY,
        j1: usize::MAX,
        u2: f64::INFINITY,
        j2: usize::MAX,
    };

    /// Adds `(h, j)`, for columns seen in increasing order.
    pub(super) fn push(&mut self, h: f64, j: usize) {
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
pub(super) struct RelaxRow<'a, T> {
    pub(super) row: &'a [T],
    pub(super) price: &'a [f64],
    pub(super) h: f64,
    pub(super) d: &'a mut [f64],
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
