//! Tests of the dictionary module against independent references: nalgebra's SVD (f64) for the
//! polar factor, exact signed permutations for the error metric, Parseval for sparse coding.

use super::synth::SparseSource;
use super::*;
use nalgebra::DMatrix;
use proptest::prelude::*;

fn random_matrix(n: usize, seed: u32) -> Vec<f32> {
    let mut s = SparseSource::new(seed, 1.0);
    (0..n * n).map(|_| s.gaussian()).collect()
}

fn random_orthogonal(n: usize, seed: u32) -> Vec<f32> {
    let mut d = vec![0.0; n * n];
    SparseSource::new(seed, 1.0).orthogonal(n, &mut d).unwrap();
    d
}

/// Reference polar factor U Vᵀ and singular values from nalgebra's f64 SVD.
fn reference_polar(n: usize, m: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let mat = DMatrix::from_row_slice(n, n, &m.iter().map(|&v| v as f64).collect::<Vec<_>>());
    let svd = mat.svd(true, true);
    let p = svd.u.as_ref().unwrap() * svd.v_t.as_ref().unwrap();
    let mut rows = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            rows.push(p[(i, j)]);
        }
    }
    (rows, svd.singular_values.iter().copied().collect())
}

fn polar(n: usize, m: &[f32]) -> (Vec<f32>, PolarStats) {
    let mut out = vec![0.0; n * n];
    let mut rot = vec![0.0; n * n];
    let mut work = vec![0.0; n * n];
    let st = polar_factor(n, m, &mut out, &mut rot, &mut work, false).unwrap();
    (out, st)
}

fn max_diff(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y).abs())
        .fold(0.0, f64::max)
}

fn defect(n: usize, a: &[f32]) -> f32 {
    OrthoDict::new(n, a).unwrap().orthogonality_defect()
}

#[test]
fn polar_matches_nalgebra_svd() {
    for (n, seed) in [
        (1, 3),
        (2, 5),
        (3, 7),
        (10, 11),
        (16, 13),
        (50, 17),
        (64, 19),
    ] {
        let m = random_matrix(n, seed);
        let (p, st) = polar(n, &m);
        let (want, sv) = reference_polar(n, &m);
        assert!(st.converged, "n={n}: {st:?}");
        // The polar factor's sensitivity is ~1/σ_min; Gaussian matrices here have σ_min ≳ 1e-2.
        let cond = sv[0] / sv[n - 1];
        let tol = 2e-5 * cond.max(1.0);
        let d = max_diff(&p, &want);
        assert!(
            d <= tol,
            "n={n}: max |Δ| = {d:e} > {tol:e} (cond {cond:.1})"
        );
        assert!(defect(n, &p) < 2e-5 * n as f32, "n={n}");
    }
}

#[test]
fn polar_of_rank_deficient_matrix_is_an_orthogonal_maximiser() {
    // M = B C with B 12×3, C 3×12: rank 3, like an early averaged gradient of batch 3.
    let n = 12;
    let b = random_matrix(n, 23);
    let mut m = vec![0.0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            m[i * n + j] = (0..3).map(|k| b[i * n + k] * b[(k + 5) * n + j]).sum();
        }
    }
    let (p, st) = polar(n, &m);
    assert_eq!(st.completed, (n - 3) as u32);
    assert!(defect(n, &p) < 1e-5);
    // ⟨S, M⟩ attains the nuclear norm, the maximum over the spectral-norm ball.
    let inner: f64 = p.iter().zip(&m).map(|(&a, &b)| a as f64 * b as f64).sum();
    let (_, sv) = reference_polar(n, &m);
    let nuclear: f64 = sv.iter().sum();
    assert!(
        (inner - nuclear).abs() <= 1e-5 * nuclear,
        "{inner} vs {nuclear}"
    );
}

#[test]
fn polar_of_zero_is_orthogonal() {
    let (p, st) = polar(5, &[0.0; 25]);
    assert_eq!(st.completed, 5);
    assert!(defect(5, &p) < 1e-6);
}

#[test]
fn warm_start_gives_the_same_factor_in_fewer_sweeps() {
    let n = 32;
    let m = random_matrix(n, 29);
    let (cold, cold_st) = polar(n, &m);
    // Perturb M slightly and re-run warm from the previous rotation.
    let mut rot = vec![0.0; n * n];
    let mut work = vec![0.0; n * n];
    let mut out = vec![0.0; n * n];
    polar_factor(n, &m, &mut out, &mut rot, &mut work, false).unwrap();
    let m2: Vec<f32> = m
        .iter()
        .zip(random_matrix(n, 31))
        .map(|(a, b)| a + 1e-3 * b)
        .collect();
    let warm_st = polar_factor(n, &m2, &mut out, &mut rot, &mut work, true).unwrap();
    let (want, sv) = reference_polar(n, &m2);
    let cond = sv[0] / sv[n - 1];
    assert!(max_diff(&out, &want) <= 2e-5 * cond);
    assert!(
        warm_st.sweeps < cold_st.sweeps,
        "{warm_st:?} vs {cold_st:?}"
    );
    assert!(max_diff(&cold, &reference_polar(n, &m).0) <= 2e-5 * cond);
}

#[test]
fn polar_rejects_bad_input() {
    let mut o = [0.0; 4];
    let mut r = [0.0; 4];
    let mut w = [0.0; 4];
    assert_eq!(
        polar_factor(2, &[1.0, f32::NAN, 0.0, 1.0], &mut o, &mut r, &mut w, false),
        Err(DictError::NotFinite)
    );
    assert_eq!(
        polar_factor(2, &[1.0; 3], &mut o, &mut r, &mut w, false),
        Err(DictError::Length {
            expected: 4,
            got: 3
        })
    );
    assert_eq!(
        polar_factor(0, &[], &mut [], &mut [], &mut [], false),
        Err(DictError::BadSize { n: 0 })
    );
}

/// A = Π S Dᵀ for a permutation `perm` and signs `signs`.
fn signed_permutation_of_transpose(n: usize, d: &[f32], perm: &[usize], signs: &[f32]) -> Vec<f32> {
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = signs[i] * d[j * n + perm[i]];
        }
    }
    a
}

#[test]
fn error_is_zero_for_signed_permutations_of_d_transpose() {
    let n = 20;
    let d = random_orthogonal(n, 37);
    let perm: Vec<usize> = (0..n).map(|i| (7 * i + 3) % n).collect();
    let signs: Vec<f32> = (0..n)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    let a = signed_permutation_of_transpose(n, &d, &perm, &signs);
    assert!(ortho_error(n, &a, &d).unwrap() < 1e-5);
    // Hand-worked: n = 2, D = I, A = [[0, -1], [1, 0]] → ||AD||₄⁴ = 2 → err 0;
    // A = rotation by 45° → every entry ±1/√2 → ||AD||₄⁴ = 4 · 1/4 = 1 → err = |1/2 − 1| = 1/2.
    let id = [1.0, 0.0, 0.0, 1.0];
    assert_eq!(ortho_error(2, &[0.0, -1.0, 1.0, 0.0], &id).unwrap(), 0.0);
    let h = core::f32::consts::FRAC_1_SQRT_2;
    assert!((ortho_error(2, &[h, -h, h, h], &id).unwrap() - 0.5).abs() < 1e-6);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn error_of_orthogonal_matrices_is_in_range(n in 2usize..24, s1 in 1u32.., s2 in 1u32..) {
        let d = random_orthogonal(n, s1);
        let a = random_orthogonal(n, s2);
        let e = ortho_error(n, &a, &d).unwrap();
        let hi = 1.0 - 1.0 / n as f32;
        prop_assert!((0.0..=hi + 1e-5).contains(&e), "err {} not in [0, {}]", e, hi);
    }

    #[test]
    fn top_k_with_k_n_reconstructs_exactly(n in 1usize..=64, seed in 1u32..) {
        let d = random_orthogonal(n, seed);
        let dict = OrthoDict::new(n, &d).unwrap();
        let x = random_matrix(n, seed ^ 0x5555)[..n].to_vec();
        let (mut code, mut recon) = (vec![0.0; n], vec![0.0; n]);
        let rms = dict.sparse_approx(&x, n, &mut code, &mut recon).unwrap();
        let scale = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        prop_assert!(rms <= 1e-5 * scale.max(1.0));
    }

    #[test]
    fn anomaly_score_properties(n in 2usize..=64, seed in 1u32.., alpha in 0.01f32..100.0) {
        let d = random_orthogonal(n, seed);
        let dict = OrthoDict::new(n, &d).unwrap();
        let x = random_matrix(n, seed ^ 0xAAAA)[..n].to_vec();
        let mut scratch = vec![0.0; 2 * n];
        let rms_x = (x.iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt();
        let mut prev = f32::INFINITY;
        for k in 0..=n {
            let s = dict.anomaly_score(&x, k, &mut scratch).unwrap();
            // More terms never hurt (orthogonal atoms: error² = energy of dropped coefficients).
            prop_assert!(s <= prev * (1.0 + 1e-5) + 1e-6, "k={}: {} > {}", k, s, prev);
            prev = s;
            if k == 0 {
                prop_assert!((s - rms_x).abs() <= 1e-5 * rms_x.max(1.0));
            }
            // Parseval: score² · n = Σ of the dropped squared coefficients.
            let mut code = vec![0.0; n];
            dict.encode(&x, &mut code).unwrap();
            let mut kept = code.clone();
            top_k(&mut kept, k);
            let dropped: f32 = code.iter().zip(&kept).map(|(c, q)| (c - q) * (c - q)).sum();
            prop_assert!((s * s * n as f32 - dropped).abs() <= 1e-4 * (rms_x * rms_x * n as f32).max(1.0));
        }
        // Scale equivariance.
        let k = n / 3;
        let xs: Vec<f32> = x.iter().map(|v| v * alpha).collect();
        let s1 = dict.anomaly_score(&x, k, &mut scratch).unwrap();
        let s2 = dict.anomaly_score(&xs, k, &mut scratch).unwrap();
        prop_assert!((s2 - alpha * s1).abs() <= 1e-4 * (alpha * s1).max(1e-3));
    }
}

#[test]
fn top_k_keeps_largest_magnitudes_and_breaks_ties_by_index() {
    let mut c = [0.5, -3.0, 2.0, -2.0, 0.0, 1.0];
    top_k(&mut c, 3);
    assert_eq!(c, [0.0, -3.0, 2.0, -2.0, 0.0, 0.0]);
    let mut c = [1.0, -1.0, 1.0];
    top_k(&mut c, 2);
    assert_eq!(c, [1.0, -1.0, 0.0]);
    let mut c = [f32::NAN, 1.0];
    top_k(&mut c, 2);
    assert_eq!(c, [0.0, 1.0]);
}

#[test]
fn dct_basis_is_orthonormal() {
    for n in [1, 8, 50, 64] {
        let mut b = vec![0.0; n * n];
        dct_basis(n, &mut b).unwrap();
        assert!(defect(n, &b) < 2e-6 * n as f32, "n={n}");
    }
}

#[test]
fn learner_rejects_bad_batches_without_changing_state() {
    let mut l = OnlineOdl::<4>::new(StepRule::NoncvxSfw, 1);
    let before = l.atoms().to_vec();
    assert_eq!(l.update(&[]), Err(DictError::Batch { len: 0, n: 4 }));
    assert_eq!(l.update(&[1.0; 6]), Err(DictError::Batch { len: 6, n: 4 }));
    assert_eq!(
        l.update(&[1.0, 2.0, f32::INFINITY, 0.0]),
        Err(DictError::NotFinite)
    );
    assert_eq!(l.atoms(), &before[..]);
    assert_eq!(l.iterations(), 0);
}

/// Runs the learner on the synthetic model; returns the error after each iteration.
fn synthetic_run<const N: usize>(
    rule: StepRule,
    theta: f32,
    batch: usize,
    iters: usize,
    seed: u32,
) -> Vec<f32> {
    let mut src = SparseSource::new(seed, theta);
    let mut d = vec![0.0; N * N];
    src.orthogonal(N, &mut d).unwrap();
    let mut learner = OnlineOdl::<N>::new(rule, seed.wrapping_mul(7919));
    let mut x = vec![0.0; N];
    let mut y = vec![0.0; N * batch];
    let mut errs = Vec::with_capacity(iters);
    for _ in 0..iters {
        for yb in y.chunks_exact_mut(N) {
            src.sample(&d, &mut x, yb).unwrap();
        }
        learner.update(&y).unwrap();
        errs.push(ortho_error(N, learner.atoms(), &d).unwrap());
    }
    errs
}

#[test]
fn learner_stays_orthogonal_and_recovers_a_small_dictionary() {
    // SPEC §4.5's second setting (n = 10, θ = 0.5), mini-batch 10, fixed seed.
    let errs = synthetic_run::<10>(StepRule::NoncvxSfw, 0.5, 10, 600, 42);
    let last = *errs.last().unwrap();
    assert!(last < 1e-2, "err after 600 iterations: {last}");
    assert!(errs[0] > 0.1, "the random start should be far: {}", errs[0]);
}

#[test]
fn learner_is_deterministic() {
    let a = synthetic_run::<6>(StepRule::NoncvxSfw, 0.3, 2, 20, 5);
    let b = synthetic_run::<6>(StepRule::NoncvxSfw, 0.3, 2, 20, 5);
    assert_eq!(a, b);
}
