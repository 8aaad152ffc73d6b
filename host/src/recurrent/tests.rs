//! Recurrent == chunked == chunk-parallel == parallel, for every cell, several chunk sizes and
//! every weight scheme.

use super::weights::{OwnedLinear, WeightScheme};
use super::*;
use mote_core::check::XorShift32;
use mote_core::recurrent::{DeltaMemory, GlaMemory, La2Memory, Rope, alibi_decays};

const D: Dims = Dims {
    d_model: 8,
    heads: 2,
    d_k: 4,
    d_v: 4,
    math: mote_core::recurrent::Math::Libm,
};
const T: usize = 37;
const TOL: f32 = 1e-5;

struct Rng(XorShift32);
impl Rng {
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| (self.0.next_u32() as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale)
            .collect()
    }
    fn lin(&mut self, rows: usize, cols: usize, scheme: WeightScheme) -> OwnedLinear {
        let w = self.vec(rows * cols, 0.5);
        OwnedLinear::new(rows, cols, w, None, scheme)
    }
}

fn forms() -> Vec<Form> {
    let mut f = vec![Form::Parallel];
    for b in [1, 4, 16, 64] {
        f.push(Form::Chunked(b));
        f.push(Form::ChunkParallel(b));
    }
    f
}

fn assert_forms<C: Prefill>(name: &str, cell: &C, xs: &[f32]) {
    let want = recurrent(cell, xs).expect("recurrent");
    for form in forms() {
        let got = cell.prefill(xs, form).expect("prefill");
        let err = got
            .iter()
            .zip(&want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            err <= TOL,
            "{name} {form:?}: max |diff| {err} (outputs up to {scale})"
        );
    }
}

struct Proj {
    q: OwnedLinear,
    k: OwnedLinear,
    v: OwnedLinear,
    o: OwnedLinear,
    a: OwnedLinear,
    b: OwnedLinear,
    router: OwnedLinear,
    mk: Vec<(OwnedLinear, OwnedLinear, OwnedLinear, OwnedLinear)>,
}

fn proj(seed: u32, scheme: WeightScheme) -> (Proj, Vec<f32>) {
    let mut r = Rng(XorShift32(seed));
    let p = Proj {
        q: r.lin(D.qk(), 8, scheme),
        k: r.lin(D.qk(), 8, scheme),
        v: r.lin(D.vd(), 8, scheme),
        o: r.lin(8, D.vd(), scheme),
        a: r.lin(2, 8, scheme),
        b: r.lin(2, 8, scheme),
        router: r.lin(4, 8, scheme),
        mk: (0..5)
            .map(|_| {
                (
                    r.lin(D.qk(), 8, scheme),
                    r.lin(D.vd(), 8, scheme),
                    r.lin(2, 8, scheme),
                    r.lin(2, 8, scheme),
                )
            })
            .collect(),
    };
    let xs = r.vec(T * 8, 1.0);
    (p, xs)
}

fn all_cells(scheme: WeightScheme, seed: u32) {
    let (p, xs) = proj(seed, scheme);
    let (q, k, v, o) = (p.q.view(), p.k.view(), p.v.view(), p.o.view());
    let mut decay = [0.0f32; 2];
    alibi_decays(&mut decay);
    let la2 = MemoryCell::new(
        D,
        q,
        La2Memory {
            wk: k,
            wv: v,
            decay: &decay,
        },
        o,
    )
    .unwrap();
    assert_forms("la2", &la2, &xs);
    let gla = MemoryCell::new(D, q, GlaMemory { wk: k, wv: v }, o).unwrap();
    assert_forms("gla-liger", &gla, &xs);
    let (a_log, dt) = ([0.2f32, -1.0], [0.5f32, -0.3]);
    let delta = |i: usize| {
        let m = &p.mk[i];
        DeltaMemory {
            wk: m.0.view(),
            wv: m.1.view(),
            wa: m.2.view(),
            wb: m.3.view(),
            a_log: &a_log,
            dt_bias: &dt,
        }
    };
    let gdn = MemoryCell::new(
        D,
        q,
        DeltaMemory {
            wk: k,
            wv: v,
            wa: p.a.view(),
            wb: p.b.view(),
            a_log: &a_log,
            dt_bias: &dt,
        },
        o,
    )
    .unwrap();
    assert_forms("gated-delta", &gdn, &xs);
    let glas: Vec<GlaMemory> =
        p.mk.iter()
            .map(|m| GlaMemory {
                wk: m.0.view(),
                wv: m.1.view(),
            })
            .collect();
    let mom = Mom::new(D, p.router.view(), q, &glas[..4], Some(glas[4]), 2, o).unwrap();
    assert_forms("mom-gla (4 memories, top-2, shared)", &mom, &xs);
    let deltas: Vec<DeltaMemory> = (0..5).map(delta).collect();
    let mom = Mom::new(D, p.router.view(), q, &deltas[..4], Some(deltas[4]), 2, o).unwrap();
    assert_forms("mom-gated-delta (4 memories, top-2, shared)", &mom, &xs);
    let la2s: Vec<La2Memory> =
        p.mk.iter()
            .map(|m| La2Memory {
                wk: m.0.view(),
                wv: m.1.view(),
                decay: &decay,
            })
            .collect();
    let mom = Mom::new(D, p.router.view(), q, &la2s[..4], None, 1, o).unwrap();
    assert_forms("mom-la2 (4 memories, top-1)", &mom, &xs);
    for rope in [None, Some(Rope { base: 10000.0 })] {
        let swa = Swa::new(D, q, k, v, o, 5, rope).unwrap();
        assert_forms("swa w=5", &swa, &xs);
        let liger = Liger::new(D, q, k, v, o, 5, rope).unwrap();
        assert_forms("liger w=5", &liger, &xs);
    }
}

#[test]
fn forms_agree_f32() {
    all_cells(WeightScheme::F32, 1);
    all_cells(WeightScheme::F32, 2);
}

#[test]
fn forms_agree_int8() {
    all_cells(WeightScheme::Int8Dynamic, 3);
}

#[test]
fn forms_agree_lmul_e4m3() {
    all_cells(WeightScheme::LmulE4m3, 4);
}

#[test]
fn forms_agree_lmul_e4m3_fixed() {
    all_cells(WeightScheme::LmulE4m3Fixed, 5);
}

#[test]
fn ragged_input_is_an_error() {
    let (p, _) = proj(5, WeightScheme::F32);
    let cell = Swa::new(D, p.q.view(), p.k.view(), p.v.view(), p.o.view(), 3, None).unwrap();
    let err = cell.prefill(&[0.0; 7], Form::Parallel).unwrap_err();
    assert!(err.to_string().contains("8-wide"), "{err}");
    assert!(recurrent(&cell, &[0.0; 9]).is_err());
}

/// The classifier written as a model file and streamed by the executor gives the direct
/// `StreamClassifier`'s logits bit for bit, in every scheme (random weights, no training).
#[test]
fn classifier_model_file_streams_like_the_cell_api() {
    use super::classifier::{FloatModel, stream_series, to_mote};
    use crate::model::AlignedModel;
    let mut r = Rng(XorShift32(21));
    let (c, k) = (6, 4);
    let mut decay = vec![0.0; D.heads];
    alibi_decays(&mut decay);
    let fm = FloatModel {
        dims: D,
        channels: c,
        classes: k,
        w_in: r.vec(D.d_model * c, 0.5),
        b_in: r.vec(D.d_model, 0.1),
        wq: r.vec(D.qk() * D.d_model, 0.5),
        wk: r.vec(D.qk() * D.d_model, 0.5),
        wv: r.vec(D.vd() * D.d_model, 0.5),
        wo: r.vec(D.d_model * D.vd(), 0.5),
        w_head: r.vec(k * D.d_model, 0.5),
        b_head: r.vec(k, 0.1),
        decay,
    };
    let xs = r.vec(c * 25, 2.0);
    for scheme in WeightScheme::ALL {
        let m = fm.to_scheme(scheme);
        let bytes = to_mote(&m).unwrap();
        let file = AlignedModel::new(&bytes);
        let parsed = file.parse().unwrap();
        assert_eq!(
            parsed.ram().state_f32,
            D.state() + D.d_model + 1,
            "LA2 state, running sum, token count"
        );
        let (got, _) = stream_series(&parsed, &xs).unwrap();
        let (want, _) = m.run_series(&xs).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{scheme:?}");
    }
}
