//! Recurrent layers in the model file: bit identity with the direct cell API for every cell type
//! and weight scheme, the stream-classifier stack against `StreamClassifier`, the mean pool by
//! hand, and one distinct `ParseError` per malformed field.

use super::*;
use crate::check::XorShift32;
use crate::lmul::Fp8E4M3;
use crate::model::format::header as h;
use crate::model::{ExecError, Layer, LayerInfo, Workspace, crc32, encoded_len, write};
use crate::recurrent::{StreamClassifier, alibi_decays};
use proptest::prelude::*;

/// A 16-byte aligned buffer, as the device's flash image is.
#[repr(C, align(16))]
struct Aligned([u8; 1 << 16]);

/// Weights of one projection in every scheme.
struct Owned {
    rows: usize,
    cols: usize,
    f: Vec<f32>,
    q8: Vec<i8>,
    e4: Vec<u8>,
    scale8: Vec<f32>,
    scale4: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl Owned {
    fn random(rng: &mut XorShift32, rows: usize, cols: usize, bias: bool) -> Owned {
        let a = 1.0 / (cols as f32).sqrt();
        let mut r = || (rng.next_f32() * 2.0 - 1.0) * a;
        let f: Vec<f32> = (0..rows * cols).map(|_| r()).collect();
        let bias = bias.then(|| (0..rows).map(|_| r()).collect());
        let (mut q8, mut e4, mut scale8, mut scale4) = (vec![], vec![], vec![], vec![]);
        for row in f.chunks_exact(cols) {
            let m = row.iter().fold(0.0f32, |a, b| a.max(b.abs())).max(1e-6);
            scale8.push(m / 127.0);
            scale4.push(m / 448.0);
            q8.extend(row.iter().map(|x| libm::roundf(x / (m / 127.0)) as i8));
            e4.extend(row.iter().map(|x| Fp8E4M3::from_f32(x / (m / 448.0)).0));
        }
        Owned {
            rows,
            cols,
            f,
            q8,
            e4,
            scale8,
            scale4,
            bias,
        }
    }
    fn view(&self, s: LinearScheme) -> Linear<'_> {
        let weights = match s {
            LinearScheme::F32 => Weights::F32(&self.f),
            LinearScheme::Int8Dynamic => Weights::Int8 {
                q: &self.q8,
                scale: &self.scale8,
            },
            LinearScheme::LmulE4m3 => Weights::LmulE4m3 {
                q: &self.e4,
                scale: &self.scale4,
            },
            LinearScheme::LmulE4m3Fixed => Weights::LmulE4m3Fixed {
                q: &self.e4,
                scale: &self.scale4,
            },
        };
        Linear {
            rows: self.rows,
            cols: self.cols,
            weights,
            bias: self.bias.as_deref(),
        }
    }
}

const SCHEMES: [LinearScheme; 4] = [
    LinearScheme::F32,
    LinearScheme::Int8Dynamic,
    LinearScheme::LmulE4m3,
    LinearScheme::LmulE4m3Fixed,
];

fn config(cell: CellType, scheme: LinearScheme) -> RecurrentConfig {
    let routing = match cell {
        CellType::MomLa2 => Some(Routing {
            memories: 2,
            top_k: 1,
            shared: false,
        }),
        c if c.is_mom() => Some(Routing {
            memories: 3,
            top_k: 2,
            shared: true,
        }),
        _ => None,
    };
    RecurrentConfig {
        cell,
        scheme,
        dims: Dims {
            d_model: 8,
            heads: 2,
            d_k: 4,
            d_v: 3,
            math: crate::recurrent::Math::Libm,
        },
        routing,
        window: if cell.is_attention() { 5 } else { 0 },
        rope: (cell == CellType::Liger).then_some(Rope { base: 100.0 }),
    }
}

/// Random projections and parameter vectors for `cfg`, shapes written out per cell type (not
/// taken from the code under test).
fn random_params(cfg: &RecurrentConfig, seed: u32) -> (Vec<Owned>, Vec<Vec<f32>>) {
    let d = cfg.dims;
    let (dm, qk, vd, hh) = (d.d_model, d.qk(), d.vd(), d.heads);
    let mut shapes = vec![];
    let mem: &[(usize, usize)] = match cfg.cell {
        CellType::Delta | CellType::MomDelta => &[(qk, dm), (vd, dm), (hh, dm), (hh, dm)],
        _ => &[(qk, dm), (vd, dm)],
    };
    let vecs_per = match cfg.cell {
        CellType::La2 | CellType::MomLa2 => 1,
        CellType::Delta | CellType::MomDelta => 2,
        _ => 0,
    };
    let mut memories = 1;
    match cfg.cell {
        CellType::Swa | CellType::Liger => {
            shapes.extend([(qk, dm), (qk, dm), (vd, dm), (dm, vd)]);
            memories = 0;
        }
        c if c.is_mom() => {
            let r = cfg.routing.unwrap();
            shapes.extend([(r.memories, dm), (qk, dm), (dm, vd)]);
            memories = r.stored();
            for _ in 0..memories {
                shapes.extend_from_slice(mem);
            }
        }
        _ => {
            shapes.extend([(qk, dm), (dm, vd)]);
            shapes.extend_from_slice(mem);
        }
    }
    let mut rng = XorShift32(seed);
    let lins = shapes
        .iter()
        .enumerate()
        .map(|(j, &(r, c))| Owned::random(&mut rng, r, c, j % 2 == 0))
        .collect();
    let mut vecs = vec![];
    for _ in 0..memories {
        match vecs_per {
            1 => {
                let mut decay = vec![0.0; hh];
                alibi_decays(&mut decay);
                vecs.push(decay);
            }
            2 => {
                vecs.push((0..hh).map(|_| rng.next_f32() * 2.0 - 1.0).collect());
                vecs.push((0..hh).map(|_| rng.next_f32() - 0.5).collect());
            }
            _ => {}
        }
    }
    (lins, vecs)
}

/// The cell built directly with the `recurrent` API.
fn direct<T>(
    cfg: &RecurrentConfig,
    l: &[Linear<'_>],
    v: &[&[f32]],
    f: impl FnOnce(&dyn Cell) -> T,
) -> T {
    let d = cfg.dims;
    let la2 = |p: usize, m: usize| La2Memory {
        wk: l[p],
        wv: l[p + 1],
        decay: v[m],
    };
    let gla = |p: usize| GlaMemory {
        wk: l[p],
        wv: l[p + 1],
    };
    let delta = |p: usize, m: usize| DeltaMemory {
        wk: l[p],
        wv: l[p + 1],
        wa: l[p + 2],
        wb: l[p + 3],
        a_log: v[2 * m],
        dt_bias: v[2 * m + 1],
    };
    let r = cfg.routing;
    match cfg.cell {
        CellType::La2 => f(&MemoryCell::new(d, l[0], la2(2, 0), l[1]).unwrap()),
        CellType::Gla => f(&MemoryCell::new(d, l[0], gla(2), l[1]).unwrap()),
        CellType::Delta => f(&MemoryCell::new(d, l[0], delta(2, 0), l[1]).unwrap()),
        CellType::MomLa2 => {
            let r = r.unwrap();
            let mems: Vec<_> = (0..r.memories).map(|m| la2(3 + 2 * m, m)).collect();
            let sh = r.shared.then(|| la2(3 + 2 * r.memories, r.memories));
            f(&Mom::new(d, l[0], l[1], &mems, sh, r.top_k, l[2]).unwrap())
        }
        CellType::MomGla => {
            let r = r.unwrap();
            let mems: Vec<_> = (0..r.memories).map(|m| gla(3 + 2 * m)).collect();
            let sh = r.shared.then(|| gla(3 + 2 * r.memories));
            f(&Mom::new(d, l[0], l[1], &mems, sh, r.top_k, l[2]).unwrap())
        }
        CellType::MomDelta => {
            let r = r.unwrap();
            let mems: Vec<_> = (0..r.memories).map(|m| delta(3 + 4 * m, m)).collect();
            let sh = r.shared.then(|| delta(3 + 4 * r.memories, r.memories));
            f(&Mom::new(d, l[0], l[1], &mems, sh, r.top_k, l[2]).unwrap())
        }
        CellType::Swa => f(&Swa::new(d, l[0], l[1], l[2], l[3], cfg.window, cfg.rope).unwrap()),
        CellType::Liger => f(&Liger::new(d, l[0], l[1], l[2], l[3], cfg.window, cfg.rope).unwrap()),
    }
}

fn encode(layers: &[LayerInfo<'_>], input_len: usize) -> (Box<Aligned>, usize) {
    let mut buf = Box::new(Aligned([0; 1 << 16]));
    let n = write(layers, input_len, &mut buf.0).expect("writes");
    assert_eq!(n, encoded_len(layers, input_len).unwrap());
    (buf, n)
}

struct Stream {
    af: Vec<f32>,
    aq: Vec<i8>,
    st: Vec<f32>,
}

impl Stream {
    fn new(m: &Model<'_>) -> Stream {
        let r = m.ram();
        Stream {
            af: vec![0.0; r.arena_f32],
            aq: vec![0; r.arena_i8],
            st: vec![f32::NAN; r.state_f32],
        }
    }
    fn ws(&mut self) -> Workspace<'_> {
        Workspace {
            arena_f32: &mut self.af,
            arena_i8: &mut self.aq,
            state: &mut self.st,
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn tokens(seed: u32, n: usize, d: usize) -> Vec<f32> {
    let mut rng = XorShift32(seed);
    (0..n * d).map(|_| rng.next_f32() * 4.0 - 2.0).collect()
}

#[test]
fn every_cell_and_scheme_is_bit_identical_to_the_cell_api() {
    for cell in CellType::ALL {
        for scheme in SCHEMES {
            let cfg = config(cell, scheme);
            let (owned, vecs) = random_params(&cfg, 7 + cell.code() as u32);
            let lins: Vec<Linear<'_>> = owned.iter().map(|o| o.view(scheme)).collect();
            let vs: Vec<&[f32]> = vecs.iter().map(|v| &v[..]).collect();
            let layer = RecurrentLayer::new(cfg, &lins, &vs);
            let d = cfg.dims.d_model;
            let (buf, n) = encode(
                &[LayerInfo {
                    layer: Layer::Recurrent(layer),
                    in_len: d,
                    out_len: d,
                }],
                d,
            );
            let m =
                Model::parse(&buf.0[..n]).unwrap_or_else(|e| panic!("{cell:?} {scheme:?}: {e}"));
            // The lowest minor holding the layer: 1.3 only for the fixed-point L-Mul scheme.
            let minor = if scheme == LinearScheme::LmulE4m3Fixed {
                format::MINOR_LMUL_FIXED
            } else {
                format::MINOR_RECURRENT
            };
            assert_eq!(m.version(), (1, minor));
            if scheme == LinearScheme::LmulE4m3Fixed {
                // A 1.2 reader does not know the scheme: the same file sealed as 1.2 is refused.
                let mut old = Box::new(Aligned([0; 1 << 16]));
                old.0[..n].copy_from_slice(&buf.0[..n]);
                old.0[h::VERSION_MINOR..h::VERSION_MINOR + 2]
                    .copy_from_slice(&format::MINOR_RECURRENT.to_le_bytes());
                let head = crc32(&old.0[..h::HEADER_CRC32]);
                old.0[h::HEADER_CRC32..h::HEADER_CRC32 + 4].copy_from_slice(&head.to_le_bytes());
                assert!(
                    matches!(
                        Model::parse(&old.0[..n]),
                        Err(ParseError::UnknownLayer { scheme: 4, .. })
                    ),
                    "{cell:?}"
                );
            }
            assert!(m.is_stateful());
            let parsed = match m.layer(0).unwrap().layer {
                Layer::Recurrent(r) => r,
                other => panic!("{other:?}"),
            };
            assert_eq!(parsed.config(), &cfg);
            direct(&cfg, &lins, &vs, |c| {
                assert_eq!(m.ram().state_f32, c.state_len(), "{cell:?}");
                let mut state = vec![0.0; c.state_len()];
                let mut scratch = vec![0.0; c.scratch_len()];
                let mut qs = vec![0i8; c.qscratch_len()];
                let mut want = vec![0.0; d];
                let (mut got, mut got2) = (vec![0.0; d], vec![0.0; d]);
                let mut s = Stream::new(&m);
                // The layers read once, the cell built once (every type but MoM).
                let mut lbuf = [None; 1];
                m.read_layers(&mut lbuf).unwrap();
                let prepared = lbuf[0].as_ref().and_then(|p| p.cell()).is_some();
                assert_eq!(prepared, !cell.is_mom(), "{cell:?}");
                let layers = m.read_layers(&mut lbuf).unwrap();
                let mut s2 = Stream::new(&m);
                // two streams: reset must restart the second one exactly
                for _ in 0..2 {
                    c.reset(&mut state).unwrap();
                    m.reset(&mut s.ws()).unwrap();
                    layers.reset(&mut s2.ws()).unwrap();
                    for (t, x) in tokens(3, 23, d).chunks_exact(d).enumerate() {
                        c.step(x, &mut state, &mut scratch, &mut qs, &mut want)
                            .unwrap();
                        m.step(x, &mut s.ws(), &mut got).unwrap();
                        layers.step(x, &mut s2.ws(), &mut got2).unwrap();
                        assert_eq!(bits(&got), bits(&want), "{cell:?} {scheme:?} token {t}");
                        assert_eq!(bits(&got2), bits(&want), "{cell:?} {scheme:?} prepared {t}");
                    }
                }
                assert_eq!(bits(&s.st), bits(&state), "{cell:?} {scheme:?} state");
                assert_eq!(
                    bits(&s2.st),
                    bits(&state),
                    "{cell:?} {scheme:?} prepared state"
                );
            });
            assert_eq!(
                m.run(&[0.0; 8], &mut Stream::new(&m).ws(), &mut [0.0; 8]),
                Err(ExecError::Stateful)
            );
        }
    }
}

/// A Dense layer with `o`'s weights in `scheme`.
fn dense(o: &Owned, scheme: LinearScheme) -> Layer<'_> {
    let b = o.bias.as_deref().expect("dense layers have a bias");
    match scheme {
        LinearScheme::F32 => Layer::DenseF32 { w: &o.f, b },
        LinearScheme::Int8Dynamic => Layer::DenseInt8Dynamic {
            w: &o.q8,
            scale: &o.scale8,
            b,
        },
        LinearScheme::LmulE4m3 => Layer::DenseLmulE4m3 {
            w: &o.e4,
            scale: &o.scale4,
            b,
        },
        LinearScheme::LmulE4m3Fixed => Layer::DenseLmulE4m3Fixed {
            w: &o.e4,
            scale: &o.scale4,
            b,
        },
    }
}

/// `input → cell → mean pool → head` as a model file equals `StreamClassifier` bit for bit:
/// every token's output is the logits of the stream so far.
#[test]
fn stream_classifier_stack_matches_stream_classifier() {
    for cell in [CellType::La2, CellType::MomDelta, CellType::Liger] {
        for scheme in SCHEMES {
            let cfg = config(cell, scheme);
            let (owned, vecs) = random_params(&cfg, 11);
            let lins: Vec<Linear<'_>> = owned.iter().map(|o| o.view(scheme)).collect();
            let vs: Vec<&[f32]> = vecs.iter().map(|v| &v[..]).collect();
            let d = cfg.dims.d_model;
            let mut rng = XorShift32(5);
            let input = Owned::random(&mut rng, d, 3, true);
            let head = Owned::random(&mut rng, 4, d, true);
            let layers = [
                LayerInfo {
                    layer: dense(&input, scheme),
                    in_len: 3,
                    out_len: d,
                },
                LayerInfo {
                    layer: Layer::Recurrent(RecurrentLayer::new(cfg, &lins, &vs)),
                    in_len: d,
                    out_len: d,
                },
                LayerInfo {
                    layer: Layer::MeanPool,
                    in_len: d,
                    out_len: d,
                },
                LayerInfo {
                    layer: dense(&head, scheme),
                    in_len: d,
                    out_len: 4,
                },
            ];
            let (buf, n) = encode(&layers, 3);
            let m = Model::parse(&buf.0[..n]).unwrap();
            direct(&cfg, &lins, &vs, |c| {
                let sc = StreamClassifier::new(input.view(scheme), c, head.view(scheme)).unwrap();
                assert_eq!(m.ram().state_f32, sc.state_len() + 1);
                let mut state = vec![0.0; sc.state_len()];
                let mut scratch = vec![0.0; sc.scratch_len()];
                let mut qs = vec![0i8; sc.qscratch_len().max(d)];
                let (mut y, mut want, mut got) = (vec![0.0; d], vec![0.0; 4], vec![0.0; 4]);
                let mut s = Stream::new(&m);
                let mut s2 = Stream::new(&m);
                let mut buf = [None; 4];
                let layers = m.read_layers(&mut buf).unwrap();
                let mut got2 = vec![0.0; 4];
                sc.reset(&mut state).unwrap();
                m.reset(&mut s.ws()).unwrap();
                layers.reset(&mut s2.ws()).unwrap();
                for (t, x) in tokens(9, 17, 3).chunks_exact(3).enumerate() {
                    sc.step(x, &mut state, &mut scratch, &mut qs, &mut y)
                        .unwrap();
                    sc.logits(&state, t as u32 + 1, &mut scratch, &mut qs, &mut want)
                        .unwrap();
                    m.step(x, &mut s.ws(), &mut got).unwrap();
                    layers.step(x, &mut s2.ws(), &mut got2).unwrap();
                    assert_eq!(bits(&got), bits(&want), "{cell:?} {scheme:?} token {t}");
                    assert_eq!(bits(&got2), bits(&want), "{cell:?} {scheme:?} token {t}");
                }
                assert!(matches!(
                    m.read_layers(&mut [None; 3]),
                    Err(ExecError::WorkspaceTooSmall {
                        buffer: "layers",
                        need: 4,
                        have: 3
                    })
                ));
            });
        }
    }
}

#[test]
fn mean_pool_by_hand() {
    let layers = [LayerInfo {
        layer: Layer::MeanPool,
        in_len: 2,
        out_len: 2,
    }];
    let (buf, n) = encode(&layers, 2);
    let m = Model::parse(&buf.0[..n]).unwrap();
    assert_eq!(m.version(), (1, 2));
    assert_eq!(m.ram().state_f32, 3);
    let mut s = Stream::new(&m);
    m.reset(&mut s.ws()).unwrap();
    let mut y = [0.0f32; 2];
    for (x, want) in [
        ([1.0, 2.0], [1.0, 2.0]),
        ([3.0, 4.0], [2.0, 3.0]),
        ([-4.0, 0.0], [0.0, 2.0]),
    ] {
        m.step(&x, &mut s.ws(), &mut y).unwrap();
        assert_eq!(y, want);
    }
    m.reset(&mut s.ws()).unwrap();
    m.step(&[5.0, 6.0], &mut s.ws(), &mut y).unwrap();
    assert_eq!(y, [5.0, 6.0]);
    // too little state is refused, not indexed past
    let (mut af, mut st) = (vec![0.0; m.ram().arena_f32], vec![0.0; 2]);
    let mut ws = Workspace {
        arena_f32: &mut af,
        arena_i8: &mut [],
        state: &mut st,
    };
    assert!(matches!(
        m.step(&[1.0, 1.0], &mut ws, &mut y),
        Err(ExecError::WorkspaceTooSmall {
            buffer: "state",
            need: 3,
            have: 2
        })
    ));
}

/// A single LA2 layer (f32) whose configuration tensor is tensor 0.
fn la2_file() -> (Box<Aligned>, usize) {
    let cfg = config(CellType::La2, LinearScheme::F32);
    let (owned, vecs) = random_params(&cfg, 1);
    let lins: Vec<Linear<'_>> = owned.iter().map(|o| o.view(cfg.scheme)).collect();
    let vs: Vec<&[f32]> = vecs.iter().map(|v| &v[..]).collect();
    encode(
        &[LayerInfo {
            layer: Layer::Recurrent(RecurrentLayer::new(cfg, &lins, &vs)),
            in_len: 8,
            out_len: 8,
        }],
        8,
    )
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn reseal(b: &mut [u8]) {
    let body = crc32(&b[64..]);
    b[h::CRC32..h::CRC32 + 4].copy_from_slice(&body.to_le_bytes());
    let head = crc32(&b[..60]);
    b[h::HEADER_CRC32..h::HEADER_CRC32 + 4].copy_from_slice(&head.to_le_bytes());
}

#[test]
fn distinct_errors_for_malformed_recurrent_layers() {
    let (good, n) = la2_file();
    let table = word(&good.0, h::TENSOR_TABLE) as usize;
    let data = |t: usize| word(&good.0, table + 16 * t) as usize;
    let cfg_at = data(0);
    let mut c = Box::new(Aligned([0; 1 << 16]));
    let mut with = |f: &dyn Fn(&mut [u8])| {
        c.0[..n].copy_from_slice(&good.0[..n]);
        f(&mut c.0[..n]);
        reseal(&mut c.0[..n]);
        Model::parse(&c.0[..n]).map(|_| ())
    };
    let set = |k: usize, v: i32| {
        move |b: &mut [u8]| b[cfg_at + 4 * k..cfg_at + 4 * k + 4].copy_from_slice(&v.to_le_bytes())
    };
    let cfg_err = |field| Err(ParseError::BadRecurrentConfig { layer: 0, field });
    assert_eq!(with(&|_| {}), Ok(()));
    // p0 = cell type
    assert_eq!(with(&|b| b[64 + 24] = 99), cfg_err("cell type"));
    assert_eq!(with(&set(rec::HEADS, 0)), cfg_err("heads"));
    assert_eq!(with(&set(rec::D_K, -3)), cfg_err("d_k"));
    assert_eq!(with(&set(rec::MEMORIES, 2)), cfg_err("memories"));
    assert_eq!(with(&set(rec::TOP_K, 1)), cfg_err("top_k"));
    assert_eq!(with(&set(rec::SHARED, 1)), cfg_err("shared"));
    assert_eq!(with(&set(rec::WINDOW, 4)), cfg_err("window"));
    assert_eq!(with(&set(rec::ROPE_BASE, 1)), cfg_err("rope base"));
    // heads 4 × d_k 2 keeps H·d_k but not H·d_v: the value projection no longer fits
    let r = with(&|b: &mut [u8]| {
        set(rec::HEADS, 4)(b);
        set(rec::D_K, 2)(b);
    });
    assert!(
        matches!(r, Err(ParseError::BadRecurrentTensor { layer: 0, .. })),
        "{r:?}"
    );
    // an index out of range, and a scale slot on an f32 projection
    let slot = rec::HEADER;
    assert_eq!(
        with(&set(slot, 999)),
        Err(ParseError::BadRecurrentTensor {
            layer: 0,
            slot: slot as u32,
            role: "wq"
        })
    );
    assert_eq!(
        with(&set(slot + 1, 1)),
        Err(ParseError::BadRecurrentTensor {
            layer: 0,
            slot: slot as u32 + 1,
            role: "wq"
        })
    );
    // the decay vector is the last tensor: λ = 1.5 and λ = 0 are out of (0, 1]
    let decay_slot = rec::HEADER + 3 * 4;
    let tensors = word(&good.0, h::TENSOR_COUNT) as usize;
    let decay_at = data(tensors - 1);
    for bad in [1.5f32, 0.0] {
        assert_eq!(
            with(&|b| b[decay_at..decay_at + 4].copy_from_slice(&bad.to_le_bytes())),
            Err(ParseError::BadDecay {
                layer: 0,
                slot: decay_slot as u32
            })
        );
    }
    // the declared state must equal the cell's
    assert_eq!(
        with(&|b| b[h::STATE_F32] += 1),
        Err(ParseError::RamMismatch("recurrent state"))
    );
    assert_eq!(
        with(&|b| b[h::ARENA_F32] += 2),
        Err(ParseError::RamMismatch("f32 arena"))
    );
    // a 1.1 file cannot hold the 1.2 layer kind
    assert_eq!(
        with(&|b| b[h::VERSION_MINOR] = 1),
        Err(ParseError::UnknownLayer {
            layer: 0,
            kind: format::kind::RECURRENT,
            scheme: 0
        })
    );
    // static int8 (scheme 1) is not a projection scheme
    assert!(matches!(
        with(&|b| b[64 + 2] = format::scheme::INT8),
        Err(ParseError::UnknownLayer { layer: 0, .. })
    ));
}

#[test]
fn gated_delta_a_log_must_have_a_finite_exponential() {
    let cfg = config(CellType::Delta, LinearScheme::F32);
    let (owned, mut vecs) = random_params(&cfg, 2);
    vecs[0][1] = 100.0;
    let lins: Vec<Linear<'_>> = owned.iter().map(|o| o.view(cfg.scheme)).collect();
    let vs: Vec<&[f32]> = vecs.iter().map(|v| &v[..]).collect();
    let info = [LayerInfo {
        layer: Layer::Recurrent(RecurrentLayer::new(cfg, &lins, &vs)),
        in_len: 8,
        out_len: 8,
    }];
    // the writer sizes the layer through the same checks and refuses it
    assert_eq!(
        encoded_len(&info, 8),
        Err(crate::model::WriteError::BadLayer(0))
    );
}

#[test]
fn attention_state_must_be_reset() {
    let cfg = config(CellType::Swa, LinearScheme::F32);
    let (owned, _) = random_params(&cfg, 4);
    let lins: Vec<Linear<'_>> = owned.iter().map(|o| o.view(cfg.scheme)).collect();
    let (buf, n) = encode(
        &[LayerInfo {
            layer: Layer::Recurrent(RecurrentLayer::new(cfg, &lins, &[])),
            in_len: 8,
            out_len: 8,
        }],
        8,
    );
    let m = Model::parse(&buf.0[..n]).unwrap();
    let mut s = Stream::new(&m);
    s.st.fill(0.0);
    let mut y = [0.0f32; 8];
    assert!(matches!(
        m.step(&[0.5; 8], &mut s.ws(), &mut y),
        Err(ExecError::Cell(CellError::Config(_)))
    ));
    m.reset(&mut s.ws()).unwrap();
    assert_eq!(m.step(&[0.5; 8], &mut s.ws(), &mut y), Ok(()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Hostile bytes never panic: random mutations and truncations of recurrent files (MoM with
    /// gated-delta memories and Liger with RoPE, int8-dynamic), parsed, reset and streamed.
    #[test]
    fn mutated_recurrent_files_never_panic(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
        seal in any::<bool>(),
    ) {
        let cell = [CellType::MomDelta, CellType::Liger][which];
        let cfg = config(cell, LinearScheme::Int8Dynamic);
        let (owned, vecs) = random_params(&cfg, 3);
        let lins: Vec<Linear<'_>> = owned.iter().map(|o| o.view(cfg.scheme)).collect();
        let vs: Vec<&[f32]> = vecs.iter().map(|v| &v[..]).collect();
        let layers = [
            LayerInfo { layer: Layer::Recurrent(RecurrentLayer::new(cfg, &lins, &vs)), in_len: 8, out_len: 8 },
            LayerInfo { layer: Layer::MeanPool, in_len: 8, out_len: 8 },
        ];
        let (mut buf, n) = encode(&layers, 8);
        // Mutations land in the header, the tables or the configuration tensor half the time.
        let hot = word(&buf.0, h::TENSOR_TABLE) as usize + 16 * 40;
        for (at, v) in edits {
            let at = if at % 2 == 0 { at % hot.min(n) } else { at % n };
            buf.0[at] = v;
        }
        if seal {
            reseal(&mut buf.0[..n]);
        }
        let len = if cut % 3 == 0 { cut % n } else { n };
        if let Ok(m) = Model::parse(&buf.0[..len]) {
            let mut s = Stream::new(&m);
            let mut y = vec![0.0f32; m.output_len()];
            if m.reset(&mut s.ws()).is_ok() {
                for x in tokens(1, 4, m.input_len()).chunks_exact(m.input_len()) {
                    let _ = m.step(x, &mut s.ws(), &mut y);
                }
            }
        }
    }
}

#[test]
fn the_fast_math_flag_round_trips_needs_format_1_3_and_changes_the_bits() {
    use crate::model::format::flags::FAST_MATH;
    use crate::recurrent::Math;
    // A GLA cell: softmax feature maps and the exp(logsigmoid/16) gate, all through `Math`.
    let mut cfg = config(CellType::Gla, LinearScheme::F32);
    let (owned, vecs) = random_params(&cfg, 3);
    let xs = tokens(9, 6, 8);
    let run = |cfg: RecurrentConfig| {
        let lins: Vec<Linear<'_>> = owned.iter().map(|o| o.view(cfg.scheme)).collect();
        let vs: Vec<&[f32]> = vecs.iter().map(|v| &v[..]).collect();
        let (mut buf, n) = encode(
            &[LayerInfo {
                layer: Layer::Recurrent(RecurrentLayer::new(cfg, &lins, &vs)),
                in_len: 8,
                out_len: 8,
            }],
            8,
        );
        let (minor, flags) = (buf.0[h::VERSION_MINOR], buf.0[64 + 3]);
        let m = Model::parse(&buf.0[..n]).expect("parses");
        let Layer::Recurrent(r) = m.layer(0).expect("layer").layer else {
            panic!("not recurrent")
        };
        assert_eq!(r.config().dims.math, cfg.dims.math);
        let mut s = Stream::new(&m);
        m.reset(&mut s.ws()).expect("resets");
        let mut out = Vec::new();
        let mut y = [0.0f32; 8];
        for x in xs.chunks_exact(8) {
            m.step(x, &mut s.ws(), &mut y).expect("steps");
            out.extend(bits(&y));
        }
        // The flag in a 1.2 file is refused, not ignored.
        buf.0[h::VERSION_MINOR] = 2;
        reseal(&mut buf.0[..n]);
        let old = Model::parse(&buf.0[..n]).map(|_| ());
        (out, minor, flags, old)
    };
    let (libm, minor, flags, old) = run(cfg);
    assert_eq!((minor, flags, old), (2, 0, Ok(())));
    cfg.dims.math = Math::Fast;
    let (fast, minor, flags, old) = run(cfg);
    assert_eq!((minor, flags), (3, FAST_MATH));
    assert_eq!(
        old,
        Err(ParseError::BadParameter {
            layer: 0,
            what: "fast-math flag before format 1.3"
        })
    );
    assert_ne!(libm, fast);
}
