// Reference implementations index several arrays with the formulas' indices.
#![allow(clippy::needless_range_loop)]

use super::*;
use crate::check::XorShift32;
use crate::kernels::{Linear, Weights};

fn rand_vec(rng: &mut XorShift32, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.next_u32() as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale)
        .collect()
}

fn lin(w: &[f32], rows: usize, cols: usize) -> Linear<'_> {
    Linear {
        rows,
        cols,
        weights: Weights::F32(w),
        bias: None,
    }
}

fn matvec(w: &[f32], rows: usize, x: &[f64]) -> Vec<f64> {
    let cols = x.len();
    (0..rows)
        .map(|o| (0..cols).map(|i| w[o * cols + i] as f64 * x[i]).sum())
        .collect()
}

fn silu64(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

const D: Dims = Dims {
    d_model: 6,
    heads: 2,
    d_k: 4,
    d_v: 3,
    math: crate::recurrent::Math::Libm,
};

struct W {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    o: Vec<f32>,
    xs: Vec<Vec<f32>>,
}

fn weights(seed: u32, t: usize) -> W {
    let mut r = XorShift32(seed);
    W {
        q: rand_vec(&mut r, D.qk() * D.d_model, 0.6),
        k: rand_vec(&mut r, D.qk() * D.d_model, 0.6),
        v: rand_vec(&mut r, D.vd() * D.d_model, 0.6),
        o: rand_vec(&mut r, D.d_model * D.vd(), 0.6),
        xs: (0..t).map(|_| rand_vec(&mut r, D.d_model, 1.0)).collect(),
    }
}

fn run<C: Cell>(c: &C, xs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut state = vec![0.0; c.state_len()];
    c.reset(&mut state).unwrap();
    let mut scratch = vec![0.0; c.scratch_len()];
    let mut qs = vec![0i8; c.qscratch_len()];
    xs.iter()
        .map(|x| {
            let mut y = vec![0.0; c.dims().d_model];
            c.step(x, &mut state, &mut scratch, &mut qs, &mut y)
                .unwrap();
            y
        })
        .collect()
}

/// LA2 against SPEC §5.1's parallel form `o_t = q_t Σ_{s≤t} λ^{t−s} k_sᵀ v_s`, in f64.
#[test]
fn la2_matches_parallel_formula() {
    let w = weights(7, 20);
    let decay = [0.9f32, 0.5];
    let mem = La2Memory {
        wk: lin(&w.k, D.qk(), 6),
        wv: lin(&w.v, D.vd(), 6),
        decay: &decay,
    };
    let cell = MemoryCell::new(D, lin(&w.q, D.qk(), 6), mem, lin(&w.o, 6, D.vd())).unwrap();
    let got = run(&cell, &w.xs);
    let x64: Vec<Vec<f64>> =
        w.xs.iter()
            .map(|x| x.iter().map(|&v| v as f64).collect())
            .collect();
    let act = |wm: &[f32], rows: usize, x: &[f64]| -> Vec<f64> {
        matvec(wm, rows, x).into_iter().map(silu64).collect()
    };
    for t in 0..w.xs.len() {
        let q = act(&w.q, D.qk(), &x64[t]);
        let mut r = vec![0.0f64; D.vd()];
        for s in 0..=t {
            let k = act(&w.k, D.qk(), &x64[s]);
            let v = act(&w.v, D.vd(), &x64[s]);
            for h in 0..2 {
                let qk: f64 = (0..4).map(|i| q[h * 4 + i] * k[h * 4 + i]).sum();
                let g = (decay[h] as f64).powi((t - s) as i32);
                for j in 0..3 {
                    r[h * 3 + j] += g * qk * v[h * 3 + j];
                }
            }
        }
        let want = matvec(&w.o, 6, &r);
        for (a, b) in got[t].iter().zip(&want) {
            assert!((*a as f64 - b).abs() < 1e-5, "t={t}: {a} vs {b}");
        }
    }
}

/// λ = 1 is causal unnormalised linear attention (SPEC §5.1 target ii): all-equal tokens give a
/// readout growing linearly in t.
#[test]
fn la2_without_decay_accumulates_linearly() {
    let w = weights(3, 1);
    let decay = [1.0f32, 1.0];
    let mem = La2Memory {
        wk: lin(&w.k, D.qk(), 6),
        wv: lin(&w.v, D.vd(), 6),
        decay: &decay,
    };
    let cell = MemoryCell::new(D, lin(&w.q, D.qk(), 6), mem, lin(&w.o, 6, D.vd())).unwrap();
    let xs = vec![w.xs[0].clone(); 8];
    let ys = run(&cell, &xs);
    for t in 0..8 {
        for (a, b) in ys[t].iter().zip(&ys[0]) {
            assert!((a - (t + 1) as f32 * b).abs() < 1e-4 * (1.0 + b.abs()) * (t + 1) as f32);
        }
    }
}

/// The GLA-Liger cell against an f64 re-implementation of SPEC §5.3's pseudo-code.
#[test]
fn gla_liger_matches_reference() {
    let w = weights(11, 12);
    let mem = GlaMemory {
        wk: lin(&w.k, D.qk(), 6),
        wv: lin(&w.v, D.vd(), 6),
    };
    let cell = MemoryCell::new(D, lin(&w.q, D.qk(), 6), mem, lin(&w.o, 6, D.vd())).unwrap();
    let got = run(&cell, &w.xs);
    let mut s = vec![0.0f64; D.state()];
    let sm = |x: &[f64]| -> Vec<f64> {
        let m = x.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
        let z: f64 = e.iter().sum();
        e.into_iter().map(|v| v / z).collect()
    };
    for (t, x) in w.xs.iter().enumerate() {
        let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let (q, k, v) = (
            matvec(&w.q, 8, &x),
            matvec(&w.k, 8, &x),
            matvec(&w.v, 6, &x),
        );
        let mut r = vec![0.0; 6];
        for h in 0..2 {
            let (qf, kf) = (sm(&q[h * 4..h * 4 + 4]), sm(&k[h * 4..h * 4 + 4]));
            for i in 0..4 {
                let ki = k[h * 4 + i];
                let a = (-(1.0 + (-ki).exp()).ln() / 16.0).exp();
                for j in 0..3 {
                    let sij = &mut s[h * 12 + i * 3 + j];
                    *sij = a * *sij + kf[i] * v[h * 3 + j];
                    r[h * 3 + j] += qf[i] * *sij;
                }
            }
        }
        let want = matvec(&w.o, 6, &r);
        for (a, b) in got[t].iter().zip(&want) {
            assert!((*a as f64 - b).abs() < 1e-5, "t={t}: {a} vs {b}");
        }
    }
}

fn delta_params(seed: u32) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut r = XorShift32(seed);
    (
        rand_vec(&mut r, 2 * 6, 0.8),
        rand_vec(&mut r, 2 * 6, 0.8),
        vec![0.1, -0.5],
        vec![0.2, -0.3],
    )
}

/// Gated delta rule with β = 1, α = 1 overwrites: writing (k, v1) then (k, v2) and reading with
/// q = k returns v2 (hand-worked case of `S = (I − kᵀk) S + kᵀ v`).
#[test]
fn delta_rule_overwrites_hand_case() {
    let d = Dims {
        d_model: 1,
        heads: 1,
        d_k: 2,
        d_v: 1,
        math: crate::recurrent::Math::Libm,
    };
    let k = [0.6f32, 0.8];
    let g = [1.0f32, 1.0];
    let mut s = [0.0f32; 2];
    let mut r = [0.0f32; 1];
    apply_delta(&d, &k, &k, &[3.0], &g, &mut s, &mut r);
    assert!((r[0] - 3.0).abs() < 1e-6);
    apply_delta(&d, &k, &k, &[-2.0], &g, &mut s, &mut r);
    assert!((r[0] + 2.0).abs() < 1e-6, "{}", r[0]);
    // writing an orthogonal key leaves the first association intact (β = 0 reads only)
    let k2 = [0.8f32, -0.6];
    apply_delta(&d, &k2, &k2, &[5.0], &g, &mut s, &mut r);
    assert!((r[0] - 5.0).abs() < 1e-5, "{}", r[0]);
    apply_delta(&d, &k, &k, &[9.0], &[1.0, 0.0], &mut s, &mut r);
    assert!((r[0] + 2.0).abs() < 1e-5, "{}", r[0]);
}

fn mom_case<R: MemoryRule + Copy>(base: MemoryCell<'_, R>, mem: R, w: &W) {
    let router = [0.3f32; 6];
    let mems = [mem];
    let mom = Mom::new(
        D,
        lin(&router, 1, 6),
        *base.wq(),
        &mems,
        None,
        1,
        *base.wo(),
    )
    .unwrap();
    let a = run(&base, &w.xs);
    let b = run(&mom, &w.xs);
    assert_eq!(
        a, b,
        "MoM(M=1, top-1, no shared) must equal its base cell bit for bit"
    );
}

#[test]
fn mom_with_one_memory_is_its_base_cell() {
    let w = weights(5, 15);
    let decay = [0.8f32, 0.95];
    let la2 = La2Memory {
        wk: lin(&w.k, 8, 6),
        wv: lin(&w.v, 6, 6),
        decay: &decay,
    };
    mom_case(
        MemoryCell::new(D, lin(&w.q, 8, 6), la2, lin(&w.o, 6, 6)).unwrap(),
        la2,
        &w,
    );
    let gla = GlaMemory {
        wk: lin(&w.k, 8, 6),
        wv: lin(&w.v, 6, 6),
    };
    mom_case(
        MemoryCell::new(D, lin(&w.q, 8, 6), gla, lin(&w.o, 6, 6)).unwrap(),
        gla,
        &w,
    );
    let (wa, wb, a_log, dt) = delta_params(9);
    let delta = DeltaMemory {
        wk: lin(&w.k, 8, 6),
        wv: lin(&w.v, 6, 6),
        wa: lin(&wa, 2, 6),
        wb: lin(&wb, 2, 6),
        a_log: &a_log,
        dt_bias: &dt,
    };
    mom_case(
        MemoryCell::new(D, lin(&w.q, 8, 6), delta, lin(&w.o, 6, 6)).unwrap(),
        delta,
        &w,
    );
}

/// Inactive memories are left bit-for-bit unchanged and exactly `top_k` memories change.
#[test]
fn mom_updates_only_active_memories() {
    let w = weights(21, 10);
    let mut r = XorShift32(99);
    let router = rand_vec(&mut r, 4 * 6, 2.0);
    let ks: Vec<Vec<f32>> = (0..5).map(|_| rand_vec(&mut r, 8 * 6, 0.6)).collect();
    let mems: Vec<GlaMemory> = ks
        .iter()
        .map(|k| GlaMemory {
            wk: lin(k, 8, 6),
            wv: lin(&w.v, 6, 6),
        })
        .collect();
    let mom = Mom::new(
        D,
        lin(&router, 4, 6),
        lin(&w.q, 8, 6),
        &mems[..4],
        Some(mems[4]),
        2,
        lin(&w.o, 6, 6),
    )
    .unwrap();
    let mut state = vec![0.0; mom.state_len()];
    let mut scratch = vec![0.0; mom.scratch_len()];
    let mut qs = vec![0i8; mom.qscratch_len()];
    let mut y = vec![0.0; 6];
    let (mut probs, mut wts) = (vec![0.0; 4], vec![0.0; 4]);
    for x in &w.xs {
        let before = state.clone();
        mom.route(x, &mut probs, &mut wts, &mut qs).unwrap();
        mom.step(x, &mut state, &mut scratch, &mut qs, &mut y)
            .unwrap();
        let active: Vec<bool> = wts.iter().map(|&g| g >= 0.0).collect();
        assert_eq!(active.iter().filter(|&&a| a).count(), 2);
        let sum: f32 = wts.iter().filter(|&&g| g >= 0.0).sum();
        assert!((sum - 1.0).abs() < 1e-6);
        for m in 0..5 {
            let seg = m * D.state()..(m + 1) * D.state();
            let changed = before[seg.clone()] != state[seg];
            assert_eq!(changed, m == 4 || active[m], "memory {m}");
        }
    }
}

/// With a window covering the whole stream SWA is causal softmax attention; checked in f64.
#[test]
fn swa_is_causal_softmax_attention_within_window() {
    let w = weights(13, 9);
    for (window, rope) in [(16, None), (3, None), (16, Some(Rope { base: 100.0 }))] {
        let cell = Swa::new(
            D,
            lin(&w.q, 8, 6),
            lin(&w.k, 8, 6),
            lin(&w.v, 6, 6),
            lin(&w.o, 6, 6),
            window,
            rope,
        )
        .unwrap();
        let got = run(&cell, &w.xs);
        let x64: Vec<Vec<f64>> =
            w.xs.iter()
                .map(|x| x.iter().map(|&v| v as f64).collect())
                .collect();
        let rot = |v: &[f64], pos: f64| -> Vec<f64> {
            let Some(r) = rope else { return v.to_vec() };
            let mut o = v.to_vec();
            for i in 0..2 {
                let th = pos * (r.base as f64).powf(-2.0 * i as f64 / 4.0);
                o[i] = v[i] * th.cos() - v[i + 2] * th.sin();
                o[i + 2] = v[i] * th.sin() + v[i + 2] * th.cos();
            }
            o
        };
        for t in 0..w.xs.len() {
            let q = matvec(&w.q, 8, &x64[t]);
            let lo = (t + 1).saturating_sub(window);
            let mut r = vec![0.0; 6];
            for h in 0..2 {
                let qh = rot(&q[h * 4..h * 4 + 4], t as f64);
                let sc: Vec<f64> = (lo..=t)
                    .map(|s| {
                        let k = matvec(&w.k, 8, &x64[s]);
                        let kh = rot(&k[h * 4..h * 4 + 4], s as f64);
                        qh.iter().zip(&kh).map(|(a, b)| a * b).sum::<f64>() / 2.0
                    })
                    .collect();
                let m = sc.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = sc.iter().map(|s| (s - m).exp()).sum();
                for (i, s) in (lo..=t).enumerate() {
                    let v = matvec(&w.v, 6, &x64[s]);
                    for j in 0..3 {
                        r[h * 3 + j] += (sc[i] - m).exp() / z * v[h * 3 + j];
                    }
                }
            }
            let want = matvec(&w.o, 6, &r);
            for (a, b) in got[t].iter().zip(&want) {
                assert!((*a as f64 - b).abs() < 1e-5, "w={window} t={t}: {a} vs {b}");
            }
        }
    }
}

/// Liger = 0.5 · GLA-Liger + 0.5 · SWA with the same projections (W_o has no bias, so it is
/// linear).
#[test]
fn liger_is_the_even_mix_of_its_branches() {
    let w = weights(17, 12);
    let (q, k, v, o) = (
        lin(&w.q, 8, 6),
        lin(&w.k, 8, 6),
        lin(&w.v, 6, 6),
        lin(&w.o, 6, 6),
    );
    let rope = Some(Rope { base: 10000.0 });
    let liger = Liger::new(D, q, k, v, o, 4, rope).unwrap();
    let gla = MemoryCell::new(D, q, GlaMemory { wk: k, wv: v }, o).unwrap();
    let swa = Swa::new(D, q, k, v, o, 4, rope).unwrap();
    let (a, b, c) = (run(&liger, &w.xs), run(&gla, &w.xs), run(&swa, &w.xs));
    for t in 0..w.xs.len() {
        for i in 0..6 {
            assert!((a[t][i] - 0.5 * (b[t][i] + c[t][i])).abs() < 1e-5);
        }
    }
}

#[test]
fn state_is_constant_and_errors_are_typed() {
    let w = weights(1, 1);
    let cell = Swa::new(
        D,
        lin(&w.q, 8, 6),
        lin(&w.k, 8, 6),
        lin(&w.v, 6, 6),
        lin(&w.o, 6, 6),
        64,
        None,
    )
    .unwrap();
    assert_eq!(cell.state_len(), 3 + 64 * (8 + 6));
    let mut state = vec![0.0; cell.state_len()];
    let mut scratch = vec![0.0; cell.scratch_len()];
    let mut qs = vec![0i8; 8];
    let mut y = [0.0; 6];
    // not reset
    assert!(matches!(
        cell.step(&w.xs[0], &mut state, &mut scratch, &mut qs, &mut y),
        Err(CellError::Config(_))
    ));
    cell.reset(&mut state).unwrap();
    assert_eq!(
        cell.step(&w.xs[0][..5], &mut state, &mut scratch, &mut qs, &mut y),
        Err(CellError::Length {
            what: "x",
            expected: 6,
            found: 5
        })
    );
    assert!(matches!(
        cell.step(&w.xs[0], &mut state[1..], &mut scratch, &mut qs, &mut y),
        Err(CellError::Length { what: "state", .. })
    ));
    let bad = Swa::new(
        D,
        lin(&w.q, 7, 6),
        lin(&w.k, 8, 6),
        lin(&w.v, 6, 6),
        lin(&w.o, 6, 6),
        4,
        None,
    );
    assert!(matches!(bad, Err(CellError::Length { what: "wq", .. })));
    let mems = [GlaMemory {
        wk: lin(&w.k, 8, 6),
        wv: lin(&w.v, 6, 6),
    }];
    let r = [0.0f32; 6];
    let mom = Mom::new(
        D,
        lin(&r, 1, 6),
        lin(&w.q, 8, 6),
        &mems,
        None,
        2,
        lin(&w.o, 6, 6),
    );
    assert!(matches!(mom, Err(CellError::Config(_))));
    let decay = [1.5f32, 0.5];
    let la2 = La2Memory {
        wk: lin(&w.k, 8, 6),
        wv: lin(&w.v, 6, 6),
        decay: &decay,
    };
    assert!(MemoryCell::new(D, lin(&w.q, 8, 6), la2, lin(&w.o, 6, 6)).is_err());
}

#[test]
fn alibi_decays_follow_the_slopes() {
    let mut l = [0.0f32; 4];
    alibi_decays(&mut l);
    for (h, &v) in l.iter().enumerate() {
        let s = 2f64.powf(-8.0 * (h + 1) as f64 / 4.0);
        assert!((v as f64 - (-s).exp()).abs() < 1e-7);
    }
    let mut l3 = [0.0f32; 3];
    alibi_decays(&mut l3);
    // 3 heads: slopes of 2 heads (2^-4, 2^-8) then the first odd slope of 4 heads (2^-2)
    assert!((l3[2] as f64 - (-0.25f64).exp()).abs() < 1e-7);
}
