//! Exactness of the solver: brute force, a textbook Hungarian reference, scipy's answer on a
//! real matrix, warm starts, the vector kernels against plain scans.

use super::simd::{RelaxRow, TwoCheapest, TwoSmallest, row_max};
use super::timing::{bench_file, read_square_f64};
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
