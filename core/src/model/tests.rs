use super::format::header as h;
use super::*;
use crate::kernels::{QuantMultiplier, e4m3_to_f32};
use crate::lmul::{Fp8E4M3, lmul_f32};
use proptest::prelude::*;

/// A 16-byte aligned byte buffer, as the device's flash image is.
#[repr(C, align(16))]
struct Aligned([u8; 4096]);

fn encode(layers: &[LayerInfo<'_>], input_len: usize) -> Box<Aligned> {
    let mut buf = Box::new(Aligned([0; 4096]));
    let n = write(layers, input_len, &mut buf.0).expect("writes");
    assert_eq!(n, encoded_len(layers, input_len).unwrap());
    buf
}

/// Recomputes both CRCs of the file `f` (after a test edits it), so that the fault under test is
/// the one the parser reports.
fn reseal(f: &mut [u8]) {
    let body = crc32(&f[64..]);
    f[h::CRC32..h::CRC32 + 4].copy_from_slice(&body.to_le_bytes());
    let head = crc32(&f[..h::HEADER_CRC32]);
    f[h::HEADER_CRC32..h::HEADER_CRC32 + 4].copy_from_slice(&head.to_le_bytes());
}

fn file_len(b: &Aligned) -> usize {
    u32::from_le_bytes(b.0[h::FILE_BYTES..h::FILE_BYTES + 4].try_into().unwrap()) as usize
}

const W1: [f32; 12] = [
    0.5, -1.0, 0.25, 2.0, 1.0, 1.0, -0.5, 0.0, -2.0, 0.75, 1.5, -0.25,
];
const B1: [f32; 3] = [0.1, -0.2, 0.3];
const W2: [f32; 6] = [1.0, -1.0, 0.5, 0.25, 2.0, -0.5];
const B2: [f32; 2] = [0.0, 1.0];
const X: [f32; 4] = [1.0, 0.5, -1.0, 2.0];

fn f32_mlp() -> [LayerInfo<'static>; 3] {
    [
        LayerInfo {
            layer: Layer::DenseF32 { w: &W1, b: &B1 },
            in_len: 4,
            out_len: 3,
        },
        LayerInfo {
            layer: Layer::Relu,
            in_len: 3,
            out_len: 3,
        },
        LayerInfo {
            layer: Layer::DenseF32 { w: &W2, b: &B2 },
            in_len: 3,
            out_len: 2,
        },
    ]
}

/// Plain-Rust reference of the f32 MLP (independent of the kernels).
fn reference_f32(x: &[f32]) -> [f32; 2] {
    let mut h = [0.0f32; 3];
    for o in 0..3 {
        let mut acc = 0.0f32;
        for i in 0..4 {
            acc += W1[o * 4 + i] * x[i];
        }
        h[o] = (acc + B1[o]).max(0.0);
    }
    let mut y = [0.0f32; 2];
    for o in 0..2 {
        let mut acc = 0.0f32;
        for i in 0..3 {
            acc += W2[o * 3 + i] * h[i];
        }
        y[o] = acc + B2[o];
    }
    y
}

/// `Model::run` with the buffers the model declares; any state (a residual branch's saved
/// input) starts as NaN, so a value read before it is written shows.
fn run(model: &Model<'_>, x: &[f32]) -> Vec<f32> {
    let ram = model.ram();
    let mut af = vec![0.0f32; ram.arena_f32];
    let mut aq = vec![0i8; ram.arena_i8];
    let mut state = vec![f32::NAN; ram.state_f32];
    let mut y = vec![0.0f32; model.output_len()];
    model
        .run(
            x,
            &mut Workspace {
                arena_f32: &mut af,
                arena_i8: &mut aq,
                state: &mut state,
            },
            &mut y,
        )
        .expect("runs");
    y
}

#[test]
fn f32_round_trip_and_run() {
    let buf = encode(&f32_mlp(), 4);
    let bytes = &buf.0[..file_len(&buf)];
    let m = Model::parse(bytes).expect("parses");
    assert_eq!((m.input_len(), m.output_len(), m.layer_count()), (4, 2, 3));
    assert_eq!(
        m.ram(),
        Ram {
            arena_f32: 8,
            arena_i8: 0,
            state_f32: 0
        }
    );
    match m.layer(0).unwrap().layer {
        Layer::DenseF32 { w, b } => assert_eq!((w, b), (&W1[..], &B1[..])),
        other => panic!("{other:?}"),
    }
    assert_eq!(run(&m, &X), reference_f32(&X));
    // Hand-checked: h = relu([0.5-0.5-0.25+4+0.1, 1+0.5+0.5+0-0.2, -2+0.375-1.5-0.5+0.3]) = [3.85, 1.8, 0]
    // y = [3.85-1.8+0, 0.25·3.85+2·1.8+1] = [2.05, 5.5625]
    let y = run(&m, &X);
    assert!(
        (y[0] - 2.05).abs() < 1e-6 && (y[1] - 5.5625).abs() < 1e-6,
        "{y:?}"
    );
}

#[test]
fn lmul_e4m3_round_trip_and_run() {
    let q1 = W1.map(|v| Fp8E4M3::from_f32(v * 64.0).0);
    let s1 = [1.0 / 64.0; 3];
    let q2 = W2.map(|v| Fp8E4M3::from_f32(v * 64.0).0);
    let s2 = [1.0 / 64.0; 2];
    let layers = [
        LayerInfo {
            layer: Layer::DenseLmulE4m3 {
                w: &q1,
                scale: &s1,
                b: &B1,
            },
            in_len: 4,
            out_len: 3,
        },
        LayerInfo {
            layer: Layer::Relu,
            in_len: 3,
            out_len: 3,
        },
        LayerInfo {
            layer: Layer::DenseLmulE4m3 {
                w: &q2,
                scale: &s2,
                b: &B2,
            },
            in_len: 3,
            out_len: 2,
        },
    ];
    let buf = encode(&layers, 4);
    let m = Model::parse(&buf.0[..file_len(&buf)]).expect("parses");
    let mut h = [0.0f32; 3];
    for o in 0..3 {
        let mut acc = 0.0f32;
        for i in 0..4 {
            acc += lmul_f32(e4m3_to_f32(q1[o * 4 + i]), X[i]);
        }
        h[o] = (acc * s1[o] + B1[o]).max(0.0);
    }
    let mut want = [0.0f32; 2];
    for o in 0..2 {
        let mut acc = 0.0f32;
        for i in 0..3 {
            acc += lmul_f32(e4m3_to_f32(q2[o * 3 + i]), h[i]);
        }
        want[o] = acc * s2[o] + B2[o];
    }
    assert_eq!(run(&m, &X), want);
}

#[test]
fn lmul_e4m3_fixed_round_trip_and_run() {
    let q1 = W1.map(|v| Fp8E4M3::from_f32(v * 64.0).0);
    let s1 = [1.0 / 64.0; 3];
    let q2 = W2.map(|v| Fp8E4M3::from_f32(v * 64.0).0);
    let s2 = [1.0 / 64.0; 2];
    let layers = [
        LayerInfo {
            layer: Layer::DenseLmulE4m3Fixed {
                w: &q1,
                scale: &s1,
                b: &B1,
            },
            in_len: 4,
            out_len: 3,
        },
        LayerInfo {
            layer: Layer::Relu,
            in_len: 3,
            out_len: 3,
        },
        LayerInfo {
            layer: Layer::DenseLmulE4m3Fixed {
                w: &q2,
                scale: &s2,
                b: &B2,
            },
            in_len: 3,
            out_len: 2,
        },
    ];
    let buf = encode(&layers, 4);
    let n = file_len(&buf);
    let m = Model::parse(&buf.0[..n]).expect("parses");
    assert_eq!(m.version(), (1, format::MINOR_LMUL_FIXED));
    assert_eq!(m.layer(0).unwrap().layer.name(), "dense lmul-e4m3-fixed");
    // The codes need `in` bytes of int8 scratch (the largest input: 4).
    assert_eq!(m.ram().arena_i8, 4);
    // The same computation by the kernel, layer by layer.
    let (mut h, mut want) = ([0.0f32; 3], [0.0f32; 2]);
    let mut codes = [0i8; 4];
    crate::kernels::dense_lmul_e4m3_fixed(&q1, &s1, Some(&B1), &X, &mut h, &mut codes).unwrap();
    h.iter_mut().for_each(|v| *v = v.max(0.0));
    crate::kernels::dense_lmul_e4m3_fixed(&q2, &s2, Some(&B2), &h, &mut want, &mut codes).unwrap();
    assert_eq!(run(&m, &X), want);
    // By hand, row 0 of layer 1: x = [1, .5, −1, 2] → e = 1, codes 0x68, 0x60, 0xE8, 0x70;
    // W1 row 0 · 64 = [32, −64, 16, 128] → 0x60, 0xE8, 0x58, 0x70. r = 0x60 + 0x68 − 0x37 =
    // 0x91 → 9 << 17; 0xE8·0x60: −(9 << 17); 0x58·0xE8: r = 0x89 → −(9 << 16); 0x70·0x70:
    // r = 0xA9 → 9 << 20. acc = 135 · 2^16; · 2^(1 − 16) = 270; · 1/64 = 4.21875 (= 3.75, the
    // exact dot product, times L-Mul's 1 + 2^−3 for mantissas 0); + 0.1.
    assert_eq!(h[0], 4.21875f32 + 0.1);
    // A 1.2 reader does not know scheme 4: the same records under minor 2 are refused.
    let mut old = Box::new(Aligned([0; 4096]));
    old.0[..n].copy_from_slice(&buf.0[..n]);
    old.0[h::VERSION_MINOR..h::VERSION_MINOR + 2].copy_from_slice(&2u16.to_le_bytes());
    let head = crc32(&old.0[..60]);
    old.0[60..64].copy_from_slice(&head.to_le_bytes());
    assert!(matches!(
        Model::parse(&old.0[..n]),
        Err(ParseError::UnknownLayer { scheme: 4, .. })
    ));
}

#[test]
fn int8_round_trip_and_run() {
    // Input scale 1/64, zp 0; weights scale 1/64 (exact for W1/W2 multiples of 1/4 · ...).
    let w1: [i8; 12] = W1.map(|v| (v * 32.0) as i8);
    let w2: [i8; 6] = W2.map(|v| (v * 32.0) as i8);
    let m1 = [QuantMultiplier::from_real((1.0 / 64.0) * (1.0 / 32.0) / (1.0 / 16.0)); 3];
    let m2 = [QuantMultiplier::from_real((1.0 / 16.0) * (1.0 / 32.0) / (1.0 / 32.0)); 2];
    let b1 = [0i32; 3];
    let b2 = [0i32; 2];
    let layers = [
        LayerInfo {
            layer: Layer::Quantize {
                scale: 1.0 / 64.0,
                zero_point: 0,
            },
            in_len: 4,
            out_len: 4,
        },
        LayerInfo {
            layer: Layer::DenseInt8 {
                w: &w1,
                b: &b1,
                m: &m1,
                input_zero_point: 0,
                output_zero_point: -128,
                relu: true,
            },
            in_len: 4,
            out_len: 3,
        },
        LayerInfo {
            layer: Layer::DenseInt8 {
                w: &w2,
                b: &b2,
                m: &m2,
                input_zero_point: -128,
                output_zero_point: 0,
                relu: false,
            },
            in_len: 3,
            out_len: 2,
        },
        LayerInfo {
            layer: Layer::Dequantize {
                scale: 1.0 / 32.0,
                zero_point: 0,
            },
            in_len: 2,
            out_len: 2,
        },
    ];
    let buf = encode(&layers, 4);
    let m = Model::parse(&buf.0[..file_len(&buf)]).expect("parses");
    assert_eq!(
        m.ram(),
        Ram {
            arena_f32: 8,
            arena_i8: 8,
            state_f32: 0
        }
    );
    // By hand: xq = [64, 32, -64, 127]; h_q = round(w1·xq / 128) - 128 (ReLU at -128);
    // y = round(w2·(h_q + 128) / 16) / 32.
    let xq = [64i32, 32, -64, 127];
    let mut hq = [0i32; 3];
    for o in 0..3 {
        let acc: i32 = (0..4).map(|i| w1[o * 4 + i] as i32 * xq[i]).sum();
        hq[o] = ((acc as f64 / 128.0).round() as i32 - 128).clamp(-128, 127);
    }
    let mut want = [0.0f32; 2];
    for o in 0..2 {
        let acc: i32 = (0..3).map(|i| w2[o * 3 + i] as i32 * (hq[i] + 128)).sum();
        want[o] = ((acc as f64 / 16.0).round() as i32).clamp(-128, 127) as f32 / 32.0;
    }
    assert_eq!(run(&m, &X), want);
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let buf = encode(&f32_mlp(), 4);
    let n = file_len(&buf);
    let mut copy = Box::new(Aligned([0; 4096]));
    for bit in 0..n * 8 {
        copy.0[..n].copy_from_slice(&buf.0[..n]);
        copy.0[bit / 8] ^= 1 << (bit % 8);
        assert!(
            Model::parse(&copy.0[..n]).is_err(),
            "bit {bit} flip accepted"
        );
    }
}

#[test]
fn distinct_errors_for_distinct_faults() {
    let buf = encode(&f32_mlp(), 4);
    let n = file_len(&buf);
    let good = &buf.0[..n];
    let mut c = Box::new(Aligned([0; 4096]));
    let mut with = |f: &dyn Fn(&mut [u8])| {
        c.0[..n].copy_from_slice(good);
        f(&mut c.0[..n]);
        // Re-seal both CRCs so the fault under test is the one reported.
        reseal(&mut c.0[..n]);
        Model::parse(&c.0[..n]).err()
    };
    assert_eq!(with(&|b| b[0] = b'X'), Some(ParseError::BadMagic));
    assert_eq!(
        with(&|b| b[8] = 2),
        Some(ParseError::UnsupportedVersion { major: 2, minor: 0 })
    );
    let next = format::VERSION_MINOR + 1;
    assert_eq!(
        with(&|b| b[10..12].copy_from_slice(&next.to_le_bytes())),
        Some(ParseError::UnsupportedVersion {
            major: 1,
            minor: next
        })
    );
    assert_eq!(with(&|b| b[12] = 65), Some(ParseError::BadHeaderSize(65)));
    assert!(matches!(
        with(&|b| b[16] += 16),
        Some(ParseError::Truncated { .. })
    ));
    assert!(matches!(
        with(&|b| b[16] -= 16),
        Some(ParseError::TrailingBytes { .. })
    ));
    assert!(matches!(
        with(&|b| b[h::ARENA_F32] = 9),
        Some(ParseError::RamMismatch(_))
    ));
    assert!(matches!(
        with(&|b| b[h::INPUT_LEN] = 5),
        Some(ParseError::ChainMismatch { layer: 0 })
    ));
    assert!(matches!(
        with(&|b| b[64] = 99),
        Some(ParseError::UnknownLayer { layer: 0, .. })
    ));
    // First tensor record's offset made misaligned.
    let t0 = 64 + 3 * 32;
    assert!(matches!(
        with(&|b| b[t0] += 4),
        Some(ParseError::OutOfBounds(_))
    ));
    // A NaN weight.
    let data = u32::from_le_bytes(good[t0..t0 + 4].try_into().unwrap()) as usize;
    assert!(matches!(
        with(&|b| b[data..data + 4].copy_from_slice(&f32::NAN.to_le_bytes())),
        Some(ParseError::NonFinite { tensor: 0 })
    ));
    // The body CRC alone.
    c.0[..n].copy_from_slice(good);
    c.0[n - 1] ^= 0x80;
    assert!(matches!(
        Model::parse(&c.0[..n]),
        Err(ParseError::CrcMismatch { .. })
    ));
    // Truncated below a header; misaligned start.
    assert!(matches!(
        Model::parse(&good[..10]),
        Err(ParseError::Truncated { .. })
    ));
    let mut shifted = Box::new(Aligned([0; 4096]));
    shifted.0[1..n + 1].copy_from_slice(good);
    assert_eq!(
        Model::parse(&shifted.0[1..n + 1]).err(),
        Some(ParseError::MisalignedBuffer)
    );
}

#[test]
fn workspace_and_io_errors() {
    let buf = encode(&f32_mlp(), 4);
    let m = Model::parse(&buf.0[..file_len(&buf)]).unwrap();
    let mut af = [0.0f32; 7];
    let mut y = [0.0f32; 2];
    let e = m.run(
        &X,
        &mut Workspace {
            arena_f32: &mut af,
            arena_i8: &mut [],
            state: &mut [],
        },
        &mut y,
    );
    assert!(matches!(
        e,
        Err(ExecError::WorkspaceTooSmall {
            need: 8,
            have: 7,
            ..
        })
    ));
    let mut af = [0.0f32; 8];
    let e = m.run(
        &X[..3],
        &mut Workspace {
            arena_f32: &mut af,
            arena_i8: &mut [],
            state: &mut [],
        },
        &mut y,
    );
    assert!(matches!(e, Err(ExecError::BadIo { which: "input", .. })));
}

#[test]
fn writer_rejects_broken_chains() {
    let mut l = f32_mlp();
    l[2].in_len = 4;
    assert_eq!(encoded_len(&l, 4), Err(WriteError::BadLayer(2)));
    assert_eq!(encoded_len(&[], 4), Err(WriteError::BadGraph));
    let q = [LayerInfo {
        layer: Layer::Quantize {
            scale: 1.0,
            zero_point: 0,
        },
        in_len: 4,
        out_len: 4,
    }];
    assert_eq!(encoded_len(&q, 4), Err(WriteError::BadGraph));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Hostile bytes never panic: random mutations and truncations of a valid file.
    #[test]
    fn mutated_files_never_panic(edits in proptest::collection::vec((0usize..400, any::<u8>()), 1..8), cut in 0usize..400) {
        let buf = encode(&f32_mlp(), 4);
        let n = file_len(&buf);
        let mut c = Box::new(Aligned([0; 4096]));
        c.0[..n].copy_from_slice(&buf.0[..n]);
        for (at, v) in edits {
            c.0[at % n] = v;
        }
        // Re-seal the CRCs half of the time so validation past the checksums is exercised.
        if cut % 2 == 0 {
            reseal(&mut c.0[..n]);
        }
        let len = if cut < n { cut } else { n };
        if let Ok(m) = Model::parse(&c.0[..len]) {
            let ram = m.ram();
            let mut af = vec![0.0f32; ram.arena_f32];
            let mut aq = vec![0i8; ram.arena_i8];
            let x = vec![0.5f32; m.input_len()];
            let mut y = vec![0.0f32; m.output_len()];
            let mut ws = Workspace { arena_f32: &mut af, arena_i8: &mut aq, state: &mut [] };
            // (a mutation that makes the file stateful is run by the recurrent mutation test)
            let ok = m.is_stateful() || m.run(&x, &mut ws, &mut y).is_ok();
            prop_assert!(ok);
        }
    }
}

/// An 8-point DCT-II dictionary stage followed by nothing else, in every mode.
fn dict_model(atoms: &[f32], mode: DictMode, k: usize) -> Box<Aligned> {
    let out_len = if mode == DictMode::Anomaly { 1 } else { 8 };
    encode(
        &[LayerInfo {
            layer: Layer::OrthoDict { atoms, mode, k },
            in_len: 8,
            out_len,
        }],
        8,
    )
}

#[test]
fn ortho_dict_stage_matches_the_dictionary_api() {
    let mut atoms = [0.0f32; 64];
    crate::dict::dct_basis(8, &mut atoms).unwrap();
    let d = crate::dict::OrthoDict::new(8, &atoms).unwrap();
    let x = [0.3f32, -1.0, 2.5, 0.0, 1.25, -0.75, 0.5, 4.0];
    let mut code = [0.0f32; 8];
    d.encode(&x, &mut code).unwrap();
    let mut top3 = code;
    crate::dict::top_k(&mut top3, 3);
    let mut recon = [0.0f32; 8];
    let mut c = [0.0f32; 8];
    let rms = d.sparse_approx(&x, 3, &mut c, &mut recon).unwrap();
    for (mode, k, want) in [
        (DictMode::Encode, 0, code.to_vec()),
        (DictMode::TopK, 3, top3.to_vec()),
        (DictMode::Denoise, 3, recon.to_vec()),
        (DictMode::Anomaly, 3, vec![rms]),
    ] {
        let buf = dict_model(&atoms, mode, k);
        let bytes = &buf.0[..file_len(&buf)];
        let model = Model::parse(bytes).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(model.version(), (1, 1));
        let got = run(&model, &x);
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{mode:?}"
        );
    }
    // Files without a dictionary stage stay version 1.0.
    let buf = encode(&f32_mlp(), 4);
    assert_eq!(
        Model::parse(&buf.0[..file_len(&buf)]).unwrap().version(),
        (1, 0)
    );
}

#[test]
fn ortho_dict_stage_rejects_bad_configurations() {
    let mut atoms = [0.0f32; 64];
    crate::dict::dct_basis(8, &mut atoms).unwrap();
    let parse = |atoms: &[f32], mode, k, out_len| {
        let buf = encode(
            &[LayerInfo {
                layer: Layer::OrthoDict { atoms, mode, k },
                in_len: 8,
                out_len,
            }],
            8,
        );
        Model::parse(&buf.0[..file_len(&buf)]).map(|_| ())
    };
    let bad = |what| Err(ParseError::BadParameter { layer: 0, what });
    assert_eq!(parse(&atoms, DictMode::TopK, 0, 8), bad("dictionary k"));
    assert_eq!(parse(&atoms, DictMode::TopK, 9, 8), bad("dictionary k"));
    assert_eq!(parse(&atoms, DictMode::Encode, 2, 8), bad("dictionary k"));
    assert_eq!(
        parse(&atoms, DictMode::Anomaly, 2, 8),
        bad("dictionary output length")
    );
    let mut skewed = atoms;
    skewed[1] += 0.01;
    assert_eq!(
        parse(&skewed, DictMode::Denoise, 2, 8),
        bad("dictionary atoms are not orthogonal")
    );
    // A 1.0 file cannot hold the 1.1 layer kind.
    let buf = dict_model(&atoms, DictMode::Encode, 0);
    let mut bytes = buf.0[..file_len(&buf)].to_vec();
    bytes[h::VERSION_MINOR] = 0;
    let crc = crc32(&bytes[..h::HEADER_CRC32]);
    bytes[h::HEADER_CRC32..h::HEADER_CRC32 + 4].copy_from_slice(&crc.to_le_bytes());
    let mut al = Box::new(Aligned([0; 4096]));
    al.0[..bytes.len()].copy_from_slice(&bytes);
    assert_eq!(
        Model::parse(&al.0[..bytes.len()]).map(|_| ()),
        Err(ParseError::UnknownLayer {
            layer: 0,
            kind: format::kind::ORTHO_DICT,
            scheme: 0
        })
    );
    // NaN windows are refused by the stage, not propagated.
    let buf = dict_model(&atoms, DictMode::Denoise, 2);
    let model = Model::parse(&buf.0[..file_len(&buf)]).unwrap();
    let mut arena = vec![0.0f32; model.ram().arena_f32];
    let mut ws = Workspace {
        arena_f32: &mut arena,
        arena_i8: &mut [],
        state: &mut [],
    };
    let mut out = [0.0f32; 8];
    let mut x = [0.0f32; 8];
    x[3] = f32::NAN;
    assert_eq!(
        model.run(&x, &mut ws, &mut out),
        Err(ExecError::Dict(crate::dict::DictError::NotFinite))
    );
}

/// Two channels of three values each, scaled before a 6 → 2 Dense.
const MIN: [f32; 2] = [0.0, -10.0];
const MAX: [f32; 2] = [4.0, -10.0];
const W_SCALED: [f32; 12] = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0];

fn scaled_model(min: &[f32], max: &[f32], channel_len: usize) -> Result<Box<Aligned>, WriteError> {
    let layers = [
        LayerInfo {
            layer: Layer::MinMaxScale {
                min,
                max,
                channel_len,
            },
            in_len: 6,
            out_len: 6,
        },
        LayerInfo {
            layer: Layer::DenseF32 {
                w: &W_SCALED,
                b: &[0.0, 0.0],
            },
            in_len: 6,
            out_len: 2,
        },
    ];
    let mut buf = Box::new(Aligned([0; 4096]));
    write(&layers, 6, &mut buf.0)?;
    Ok(buf)
}

#[test]
fn min_max_scale_round_trip_and_hand_worked_values() {
    let buf = scaled_model(&MIN, &MAX, 3).expect("writes");
    let m = Model::parse(&buf.0[..file_len(&buf)]).expect("parses");
    assert_eq!(m.version(), (1, format::MINOR_MIN_MAX_SCALE));
    match m.layer(0).unwrap().layer {
        Layer::MinMaxScale {
            min,
            max,
            channel_len,
        } => assert_eq!((min, max, channel_len), (&MIN[..], &MAX[..], 3)),
        other => panic!("{other:?}"),
    }
    // Channel 0 (range 0..4): x[0] = 1 → 0.25, x[1] = 9 → clamped to 1 (y[1] = x[1] + x[3]);
    // channel 1 is constant
    // in training (min = max = −10), so every value of it becomes 0, whatever it is.
    let y = run(&m, &[1.0, 9.0, -3.0, 5.0, -10.0, 123.0]);
    assert_eq!(y, vec![0.25, 1.0]);
    let y = run(&m, &[-1.0, 3.0, 2.0, 0.0, 0.0, 0.0]);
    assert_eq!(y, vec![0.0, 0.75]);
}

#[test]
fn min_max_scale_rejects_bad_configurations() {
    let parse = |min: &[f32], max: &[f32], channel_len| {
        let buf = scaled_model(min, max, channel_len).expect("writes");
        Model::parse(&buf.0[..file_len(&buf)]).map(|_| ())
    };
    let bad = |what| Err(ParseError::BadParameter { layer: 0, what });
    let p0 = "values per channel (p0 ≥ 1, dividing in_len)";
    assert_eq!(parse(&MIN, &MAX, 0), bad(p0));
    assert_eq!(parse(&MIN, &MAX, 4), bad(p0));
    assert_eq!(parse(&[1.0, 0.0], &[0.0, 1.0], 3), bad("min above max"));
    // Six channels of one value need six minima, not two.
    assert_eq!(
        parse(&MIN, &MAX, 1),
        Err(ParseError::BadTensor {
            layer: 0,
            role: "min"
        })
    );
}

const GAIN: [f32; 2] = [2.0, 0.5];
const W_MIX: [f32; 4] = [1.0, 1.0, 1.0, -1.0];

/// `x + relu(W · rms_norm(x))`, a pre-norm residual block, then `W` again (no bias).
fn residual_layers(eps: f32, gain: &[f32]) -> [LayerInfo<'_>; 6] {
    let l = |layer| LayerInfo {
        layer,
        in_len: 2,
        out_len: 2,
    };
    [
        l(Layer::ResidualSave),
        l(Layer::RmsNorm { gain, eps }),
        l(Layer::DenseF32 {
            w: &W_MIX,
            b: &[0.0, 0.0],
        }),
        l(Layer::Relu),
        l(Layer::ResidualAdd),
        l(Layer::DenseF32 {
            w: &W_MIX,
            b: &[0.0, 0.0],
        }),
    ]
}

#[test]
fn residual_block_round_trip_and_hand_worked_values() {
    // eps 3.5 makes the worked values exact: x = (3, 4): Σx²/2 + eps = 12.5 + 3.5 = 16, so the
    // norm is x / 4 · gain = (1.5, 0.5); W of it = (2, 1), relu keeps it, + x = (5, 5); W of
    // that = (10, 0).
    let buf = encode(&residual_layers(3.5, &GAIN), 2);
    let m = Model::parse(&buf.0[..file_len(&buf)]).expect("parses");
    assert_eq!(m.version(), (1, format::MINOR_RESIDUAL));
    assert!(
        !m.is_stateful(),
        "a residual branch keeps nothing between tokens"
    );
    // the branch input is kept in the save layer's state slot
    assert_eq!(m.ram().state_f32, 2);
    assert_eq!(run(&m, &[3.0, 4.0]), vec![10.0, 0.0]);
    // x = (−3, −4): the branch is (−2, −1), relu zeroes it, the block passes x: W x = (−7, 1)
    assert_eq!(run(&m, &[-3.0, -4.0]), vec![-7.0, 1.0]);
    match m.layer(1).unwrap().layer {
        Layer::RmsNorm { gain, eps } => assert_eq!((gain, eps), (&GAIN[..], 3.5)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn residual_branches_must_pair_and_norms_must_be_sane() {
    let mut buf = Box::new(Aligned([0; 4096]));
    let mut try_write = |layers: &[LayerInfo<'_>]| write(layers, 2, &mut buf.0).map(|_| ());
    let good = residual_layers(1e-5, &GAIN);
    // add without save, save inside a branch, a branch never closed
    assert_eq!(try_write(&good[4..]), Err(WriteError::BadLayer(0)));
    let nested = [good[0], good[0], good[4], good[4]];
    assert_eq!(try_write(&nested), Err(WriteError::BadLayer(1)));
    assert_eq!(try_write(&good[..4]), Err(WriteError::BadGraph));
    for eps in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert_eq!(
            try_write(&residual_layers(eps, &GAIN)),
            Err(WriteError::BadLayer(1)),
            "eps {eps}"
        );
    }
    assert_eq!(
        try_write(&residual_layers(1e-5, &[1.0])),
        Err(WriteError::BadLayer(1))
    );
    assert_eq!(
        try_write(&residual_layers(1e-5, &[1.0, f32::NAN])),
        Err(WriteError::BadLayer(1))
    );

    // The reader refuses the same faults in a file (records patched, CRCs re-sealed).
    let ok = encode(&good, 2);
    let n = file_len(&ok);
    let table =
        u32::from_le_bytes(ok.0[h::LAYER_TABLE..h::LAYER_TABLE + 4].try_into().unwrap()) as usize;
    let rec = |i: usize| table + i * format::LAYER_RECORD_BYTES;
    let mut c = Box::new(Aligned([0; 4096]));
    let mut with = |f: &dyn Fn(&mut [u8])| {
        c.0[..n].copy_from_slice(&ok.0[..n]);
        f(&mut c.0[..n]);
        reseal(&mut c.0[..n]);
        Model::parse(&c.0[..n]).err()
    };
    let kind_at = |b: &mut [u8], i: usize, k: u16| {
        b[rec(i)..rec(i) + 2].copy_from_slice(&k.to_le_bytes());
    };
    let bad = |layer, what| Some(ParseError::BadParameter { layer, what });
    // the add turned into a relu: the branch is never closed
    assert_eq!(
        with(&|b| kind_at(b, 4, format::kind::RELU)),
        Some(ParseError::BadGraph("a residual branch is never closed"))
    );
    // the relu turned into a second save
    assert_eq!(
        with(&|b| kind_at(b, 3, format::kind::RESIDUAL_SAVE)),
        bad(3, "residual save inside an open branch")
    );
    // the save turned into a relu: an add without a save
    assert_eq!(
        with(&|b| kind_at(b, 0, format::kind::RELU)),
        bad(4, "residual add without a save")
    );
    // eps = 0
    let p0 = rec(1) + format::layer::P0;
    assert_eq!(
        with(&|b| b[p0..p0 + 4].copy_from_slice(&0u32.to_le_bytes())),
        bad(1, "rms-norm eps (finite, > 0)")
    );
    // a file of version 1.3 cannot hold these layers
    assert!(matches!(
        with(&|b| b[h::VERSION_MINOR..h::VERSION_MINOR + 2].copy_from_slice(&3u16.to_le_bytes())),
        Some(ParseError::UnknownLayer { layer: 0, .. })
    ));
}
