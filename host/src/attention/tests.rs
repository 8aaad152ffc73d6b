use std::path::Path;

use mote_core::check::XorShift32;
use mote_core::model::Workspace;
use mote_core::recurrent::Dims;

use super::linearize::{Target, to_mote};
use super::lora::{LoraConfig, finetune, parse_spec};
use super::model::{AttentionModel, Block};
use super::net::{Mixer, Net};
use super::safetensors::{from_safetensors, to_safetensors};
use super::train::{AttentionConfig, Split, raw_batch, train};
use crate::data::basicmotions::{Series, SeriesSet};
use crate::model::AlignedModel;
use crate::recurrent::weights::WeightScheme;

fn random_model(seed: u32, dims: Dims, blocks: usize, channels: usize) -> AttentionModel {
    let mut rng = XorShift32(seed);
    let mut r = |n: usize, fan_in: usize| -> Vec<f32> {
        let a = 1.5 / (fan_in as f32).sqrt();
        (0..n).map(|_| (rng.next_f32() * 2.0 - 1.0) * a).collect()
    };
    let (dm, qk, vd) = (dims.d_model, dims.qk(), dims.vd());
    let blocks = (0..blocks)
        .map(|_| Block {
            wq: r(qk * dm, dm),
            wk: r(qk * dm, dm),
            wv: r(vd * dm, dm),
            wo: r(dm * vd, vd),
            pre_norm: None,
        })
        .collect();
    AttentionModel {
        channels,
        classes: 3,
        dims,
        pool: super::model::Pool::Mean,
        rope_theta: 100.0,
        w_in: r(dm * channels, channels),
        b_in: r(dm, 4),
        blocks,
        w_head: r(3 * dm, dm),
        b_head: r(3, 4),
        final_norm: None,
        rms_eps: super::model::DEFAULT_RMS_EPS,
    }
}

/// [`random_model`] with Llama-style pre-norm residual blocks: MLP width `ffn`, gains away
/// from 1 so that they are tested too.
fn random_pre_norm_model(seed: u32, blocks: usize, channels: usize, ffn: usize) -> AttentionModel {
    let mut m = random_model(seed, dims(), blocks, channels);
    let dm = m.dims.d_model;
    let mut rng = XorShift32(seed ^ 0x5EED);
    let mut r = |n: usize, lo: f32, hi: f32| -> Vec<f32> {
        (0..n).map(|_| lo + (hi - lo) * rng.next_f32()).collect()
    };
    for b in &mut m.blocks {
        b.pre_norm = Some(super::model::PreNorm {
            attn_norm: r(dm, 0.5, 1.5),
            mlp_norm: r(dm, 0.5, 1.5),
            w_up: r(ffn * dm, -0.5, 0.5),
            w_down: r(dm * ffn, -0.3, 0.3),
        });
    }
    m.final_norm = Some(r(dm, 0.5, 1.5));
    m.rms_eps = 1e-5;
    m
}

fn rms64(x: &[f64], gain: &[f32], eps: f32) -> Vec<f64> {
    let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let inv = 1.0 / (ms + eps as f64).sqrt();
    x.iter()
        .zip(gain)
        .map(|(v, &g)| v * inv * g as f64)
        .collect()
}

fn dims() -> Dims {
    Dims {
        d_model: 8,
        heads: 2,
        d_k: 4,
        d_v: 3,
        math: mote_core::recurrent::Math::Libm,
    }
}

fn random_tokens(seed: u32, t: usize, c: usize) -> Vec<f32> {
    let mut rng = XorShift32(seed);
    (0..t * c).map(|_| rng.next_f32() * 4.0 - 2.0).collect()
}

// --- An independent f64 re-implementation of the SPEC §5.3 decode-step pseudo-code ----------

#[derive(Clone, Copy, PartialEq)]
enum Branches {
    Grm,
    Swa,
    Both,
}

fn matvec(w: &[f32], x: &[f64], rows: usize) -> Vec<f64> {
    let cols = x.len();
    (0..rows)
        .map(|r| (0..cols).map(|c| w[r * cols + c] as f64 * x[c]).sum())
        .collect()
}

fn softmax64(x: &mut [f64]) {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = x.iter().map(|v| (v - m).exp()).sum();
    x.iter_mut().for_each(|v| *v = (*v - m).exp() / s);
}

/// `rope(x, pos)` per head, rotate-half pairing (i, i + d_k/2), `θ_i = base^(−2i/d_k)`.
fn rope64(x: &[f64], pos: usize, dk: usize, base: f64) -> Vec<f64> {
    let mut y = x.to_vec();
    let half = dk / 2;
    for h in 0..x.len() / dk {
        for i in 0..half {
            let a = pos as f64 * base.powf(-2.0 * i as f64 / dk as f64);
            let (x1, x2) = (x[h * dk + i], x[h * dk + i + half]);
            y[h * dk + i] = x1 * a.cos() - x2 * a.sin();
            y[h * dk + i + half] = x1 * a.sin() + x2 * a.cos();
        }
    }
    y
}

/// One block over a whole stream, token by token, as SPEC §5.3 writes it.
fn reference_block(
    b: &Block,
    d: Dims,
    base: f64,
    window: usize,
    which: Branches,
    hs: &[Vec<f64>],
) -> Vec<Vec<f64>> {
    let (dk, dv, nh) = (d.d_k, d.d_v, d.heads);
    let mut s = vec![0.0f64; nh * dk * dv];
    let mut ring: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    let mut out = Vec::new();
    for (pos, x) in hs.iter().enumerate() {
        let q = matvec(&b.wq, x, d.qk());
        let k = matvec(&b.wk, x, d.qk());
        let v = matvec(&b.wv, x, d.vd());
        // log_a = logsigmoid(k_raw) / 16
        let log_a: Vec<f64> = k.iter().map(|&z| -(1.0 + (-z).exp()).ln() / 16.0).collect();
        let (mut qf, mut kf) = (q.clone(), k.clone());
        qf.chunks_mut(dk).for_each(softmax64);
        kf.chunks_mut(dk).for_each(softmax64);
        let mut o_grm = vec![0.0; d.vd()];
        for h in 0..nh {
            for i in 0..dk {
                let a = log_a[h * dk + i].exp();
                for j in 0..dv {
                    let sij = &mut s[(h * dk + i) * dv + j];
                    *sij = a * *sij + kf[h * dk + i] * v[h * dv + j];
                    o_grm[h * dv + j] += qf[h * dk + i] * *sij;
                }
            }
        }
        let (qr, kr) = (rope64(&q, pos, dk, base), rope64(&k, pos, dk, base));
        ring.push((kr, v.clone()));
        if ring.len() > window {
            ring.remove(0);
        }
        let mut o_swa = vec![0.0; d.vd()];
        for h in 0..nh {
            let mut sc: Vec<f64> = ring
                .iter()
                .map(|(kk, _)| {
                    (0..dk)
                        .map(|i| qr[h * dk + i] * kk[h * dk + i])
                        .sum::<f64>()
                        / (dk as f64).sqrt()
                })
                .collect();
            softmax64(&mut sc);
            for (p, (_, vv)) in sc.iter().zip(&ring) {
                for j in 0..dv {
                    o_swa[h * dv + j] += p * vv[h * dv + j];
                }
            }
        }
        let mixed: Vec<f64> = match which {
            Branches::Grm => o_grm,
            Branches::Swa => o_swa,
            Branches::Both => o_grm
                .iter()
                .zip(&o_swa)
                .map(|(g, w)| 0.5 * g + 0.5 * w)
                .collect(),
        };
        out.push(matvec(&b.wo, &mixed, d.d_model));
    }
    out
}

/// Logits of the stream so far after every token.
fn reference_logits(
    m: &AttentionModel,
    window: usize,
    which: Branches,
    xs: &[f32],
) -> Vec<Vec<f64>> {
    let c = m.channels;
    let dm = m.dims.d_model;
    let mut hs: Vec<Vec<f64>> = xs
        .chunks(c)
        .map(|x| {
            let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let mut h = matvec(&m.w_in, &x, dm);
            h.iter_mut().zip(&m.b_in).for_each(|(a, b)| *a += *b as f64);
            h
        })
        .collect();
    for b in &m.blocks {
        let Some(r) = &b.pre_norm else {
            hs = reference_block(b, m.dims, m.rope_theta as f64, window, which, &hs);
            continue;
        };
        // h ← h + attention(rms(h)); h ← h + down(relu(up(rms(h))))
        let normed: Vec<Vec<f64>> = hs
            .iter()
            .map(|h| rms64(h, &r.attn_norm, m.rms_eps))
            .collect();
        let o = reference_block(b, m.dims, m.rope_theta as f64, window, which, &normed);
        let ffn = r.w_up.len() / dm;
        for (h, o) in hs.iter_mut().zip(o) {
            h.iter_mut().zip(o).for_each(|(a, b)| *a += b);
            let up: Vec<f64> = matvec(&r.w_up, &rms64(h, &r.mlp_norm, m.rms_eps), ffn)
                .into_iter()
                .map(|v| v.max(0.0))
                .collect();
            let down = matvec(&r.w_down, &up, dm);
            h.iter_mut().zip(down).for_each(|(a, b)| *a += b);
        }
    }
    if let Some(g) = &m.final_norm {
        hs = hs.iter().map(|h| rms64(h, g, m.rms_eps)).collect();
    }
    let mut sum = vec![0.0; dm];
    hs.iter()
        .enumerate()
        .map(|(t, h)| {
            sum.iter_mut().zip(h).for_each(|(s, v)| *s += v);
            let mean: Vec<f64> = sum.iter().map(|s| s / (t + 1) as f64).collect();
            let mut l = matvec(&m.w_head, &mean, m.classes);
            l.iter_mut()
                .zip(&m.b_head)
                .for_each(|(a, b)| *a += *b as f64);
            l
        })
        .collect()
}

/// The model file's output after every token (mote-core's executor).
fn file_logits(bytes: &[u8], xs: &[f32]) -> Vec<Vec<f32>> {
    let file = AlignedModel::new(bytes);
    let m = file.parse().expect("parses");
    let ram = m.ram();
    let (mut af, mut aq, mut st) = (
        vec![0.0f32; ram.arena_f32],
        vec![0i8; ram.arena_i8],
        vec![0.0f32; ram.state_f32],
    );
    let mut ws = Workspace {
        arena_f32: &mut af,
        arena_i8: &mut aq,
        state: &mut st,
    };
    m.reset(&mut ws).expect("reset");
    let mut y = vec![0.0; m.output_len()];
    xs.chunks(m.input_len())
        .map(|x| {
            m.step(x, &mut ws, &mut y).expect("step");
            y.clone()
        })
        .collect()
}

fn max_rel_diff(a: &[Vec<f32>], b: &[Vec<f64>]) -> f64 {
    let mut worst = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        for (&p, &q) in x.iter().zip(y) {
            worst = worst.max((p as f64 - q).abs() / (1.0 + q.abs()));
        }
    }
    worst
}

#[test]
fn zero_step_conversion_equals_the_spec_pseudo_code() {
    let (t, c) = (23, 3);
    let models = [
        (7u32, random_model(7, dims(), 1, c)),
        (11, random_model(11, dims(), 2, c)),
        (17, random_pre_norm_model(17, 2, c, 12)),
    ];
    for (seed, m) in models {
        let blocks = m.blocks.len();
        let xs = random_tokens(seed + 1, t, c);
        for (target, window, which) in [
            (Target::Liger { window: 5 }, 5, Branches::Both),
            (Target::Liger { window: 1 }, 1, Branches::Both),
            (Target::Gla, 1, Branches::Grm),
            (Target::Swa { window: t }, t, Branches::Swa),
            (Target::Swa { window: 4 }, 4, Branches::Swa),
            // the zero-router MoM is the GLA conversion (module docs of `linearize`)
            (
                Target::Mom {
                    memories: 3,
                    top_k: 2,
                },
                1,
                Branches::Grm,
            ),
        ] {
            let bytes = to_mote(&m, target, WeightScheme::F32).expect("converts");
            let got = file_logits(&bytes, &xs);
            let want = reference_logits(&m, window, which, &xs);
            assert_eq!(got.len(), t);
            let diff = max_rel_diff(&got, &want);
            assert!(
                diff < 2e-5,
                "{target:?}, {blocks} blocks: max rel diff {diff}"
            );
        }
    }
}

#[test]
fn zero_router_mom_is_the_gla_conversion_bit_for_bit_at_top_two() {
    // equal memories, weights 1/2 each: 0 + r/2 + r/2 = r exactly, in every scheme
    let (t, c) = (29, 3);
    let m = random_model(13, dims(), 2, c);
    let xs = random_tokens(14, t, c);
    for scheme in WeightScheme::ALL {
        let gla = file_logits(&to_mote(&m, Target::Gla, scheme).expect("gla"), &xs);
        for memories in [2, 4] {
            let target = Target::Mom { memories, top_k: 2 };
            let mom = file_logits(&to_mote(&m, target, scheme).expect("mom"), &xs);
            let bits =
                |v: &[Vec<f32>]| -> Vec<u32> { v.iter().flatten().map(|x| x.to_bits()).collect() };
            assert_eq!(bits(&mom), bits(&gla), "{scheme:?}, {memories} memories");
        }
    }
}

#[test]
fn the_training_forward_equals_the_token_by_token_file() {
    // The candle mixers (what training and fine-tuning optimise) against the reference; the
    // file is checked against the same reference above.
    let (t, c) = (19, 3);
    for m in [
        random_model(5, dims(), 2, c),
        random_pre_norm_model(6, 2, c, 10),
    ] {
        let xs = random_tokens(9, t, c);
        let x = candle_core::Tensor::from_vec(xs.clone(), (1, t, c), &candle_core::Device::Cpu)
            .expect("tensor");
        let net = Net::frozen(&m).expect("net");
        for (mixer, window, which) in [
            (Mixer::Softmax { window: None }, t, Branches::Swa),
            (Mixer::Softmax { window: Some(3) }, 3, Branches::Swa),
            (Mixer::Gla, 1, Branches::Grm),
            (Mixer::Liger { window: 4 }, 4, Branches::Both),
        ] {
            let got = net.forward(&x, mixer).expect("forward");
            let got = got
                .flatten_all()
                .expect("flat")
                .to_vec1::<f32>()
                .expect("vec");
            let want = reference_logits(&m, window, which, &xs);
            let diff = max_rel_diff(&[got], &want[t - 1..]);
            assert!(
                diff < 1e-4,
                "{mixer:?}, pre-norm {}: max rel diff {diff}",
                m.final_norm.is_some()
            );
        }
    }
}

#[test]
fn every_scheme_converts_and_quantized_files_stay_close() {
    let (t, c) = (17, 3);
    for m in [
        random_model(3, dims(), 1, c),
        random_pre_norm_model(4, 1, c, 16),
    ] {
        let xs = random_tokens(4, t, c);
        let want = reference_logits(&m, 6, Branches::Both, &xs);
        for scheme in WeightScheme::ALL {
            let bytes = to_mote(&m, Target::Liger { window: 6 }, scheme).expect("converts");
            let got = file_logits(&bytes, &xs);
            let diff = max_rel_diff(&got, &want);
            let tol = if scheme == WeightScheme::F32 {
                2e-5
            } else {
                0.15
            };
            assert!(diff < tol, "{scheme:?}: {diff}");
        }
    }
}

#[test]
fn bad_targets_are_refused() {
    let m = random_model(3, dims(), 1, 3);
    let e = Target::Liger { window: 101 }
        .validate(Some(100))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("--window 101 is longer than the 100-sample series"),
        "{e}"
    );
    assert!(Target::Liger { window: 100 }.validate(Some(100)).is_ok());
    let e = to_mote(&m, Target::Liger { window: 0 }, WeightScheme::F32).unwrap_err();
    assert!(e.to_string().contains("--window 0"), "{e}");
    let e = to_mote(
        &m,
        Target::Mom {
            memories: 2,
            top_k: 3,
        },
        WeightScheme::F32,
    )
    .unwrap_err();
    assert!(e.to_string().contains("--top-k 3"), "{e}");
    let e = to_mote(
        &m,
        Target::Mom {
            memories: 17,
            top_k: 1,
        },
        WeightScheme::F32,
    )
    .unwrap_err();
    assert!(e.to_string().contains("--memories 17"), "{e}");
}

#[test]
fn safetensors_round_trip_with_pytorch_names() {
    let m = random_model(8, dims(), 2, 3);
    let bytes = to_safetensors(&m).expect("writes");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid");
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    assert!(names.contains(&"layers.1.self_attn.o_proj.weight".to_string()));
    assert_eq!(names.len(), 4 + 2 * 4);
    let back = from_safetensors(&bytes, Path::new("m.safetensors")).expect("loads");
    assert_eq!(back, m);
    // pre-norm blocks: 4 more tensors per block and norm.weight, eps in the metadata
    let m = random_pre_norm_model(9, 2, 3, 12);
    let bytes = to_safetensors(&m).expect("writes");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid");
    let names: Vec<String> = st.names().into_iter().map(String::from).collect();
    assert_eq!(names.len(), 4 + 2 * 8 + 1);
    for n in [
        "layers.1.input_layernorm.weight",
        "layers.1.post_attention_layernorm.weight",
        "layers.1.mlp.up_proj.weight",
        "layers.1.mlp.down_proj.weight",
        "norm.weight",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    let back = from_safetensors(&bytes, Path::new("m.safetensors")).expect("loads");
    assert_eq!(back, m);
}

#[test]
fn pre_norm_files_name_the_missing_or_misshapen_tensor() {
    let p = |n: &str| format!("layers.0.{n}.weight");
    let pre_norm = |spec: &mut Spec| {
        spec.extend([
            (p("input_layernorm"), vec![8]),
            (p("post_attention_layernorm"), vec![8]),
            (p("mlp.up_proj"), vec![16, 8]),
            (p("mlp.down_proj"), vec![8, 16]),
            ("norm.weight".into(), vec![8]),
        ])
    };
    let heads = [("num_attention_heads", "2")];
    let path = Path::new("pn.safetensors");
    let mut ok = good_tensors();
    pre_norm(&mut ok);
    let m = from_safetensors(&tensor_file(&ok, &heads, None), path).expect("loads");
    assert_eq!(m.ffn(), 16);
    assert_eq!(m.rms_eps, super::model::DEFAULT_RMS_EPS);
    let without = |name: &str| -> Spec { ok.iter().filter(|(n, _)| n != name).cloned().collect() };
    let reshaped = |name: &str, shape: Vec<usize>| -> Spec {
        ok.iter()
            .map(|(n, s)| (n.clone(), if n == name { shape.clone() } else { s.clone() }))
            .collect()
    };
    let mut gated = ok.clone();
    gated.push((p("mlp.gate_proj"), vec![16, 8]));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            tensor_file(&without(&p("mlp.down_proj")), &heads, None),
            "missing tensor `layers.0.mlp.down_proj.weight`",
        ),
        (
            tensor_file(&without("norm.weight"), &heads, None),
            "missing tensor `norm.weight`",
        ),
        (
            tensor_file(
                &{
                    let mut s = good_tensors();
                    s.push(("norm.weight".into(), vec![8]));
                    s
                },
                &heads,
                None,
            ),
            "missing tensor `layers.0.input_layernorm.weight` (with norm.weight every block",
        ),
        (
            tensor_file(&reshaped(&p("mlp.down_proj"), vec![8, 12]), &heads, None),
            "tensor `layers.0.mlp.down_proj.weight` has shape [8, 12], expected [8, 16]",
        ),
        (
            tensor_file(&reshaped(&p("input_layernorm"), vec![7]), &heads, None),
            "tensor `layers.0.input_layernorm.weight` has shape [7], expected [8]",
        ),
        (
            tensor_file(&gated, &heads, None),
            "tensor `layers.0.mlp.gate_proj.weight`: gated MLPs (SwiGLU) are not supported",
        ),
        (
            tensor_file(
                &ok,
                &[("num_attention_heads", "2"), ("hidden_act", "silu")],
                None,
            ),
            "metadata `hidden_act` = \"silu\"",
        ),
        (
            tensor_file(
                &ok,
                &[("num_attention_heads", "2"), ("rms_norm_eps", "0")],
                None,
            ),
            "metadata `rms_norm_eps` = \"0\", expected a finite number > 0",
        ),
    ];
    for (bytes, want) in cases {
        let e = format!("{:#}", from_safetensors(&bytes, path).expect_err(want));
        assert!(e.starts_with("pn.safetensors: "), "{e}");
        assert!(e.contains(want), "{e}\n  does not contain: {want}");
    }
}

/// Tensor names and shapes of a test file.
type Spec = Vec<(String, Vec<usize>)>;

fn tensor_file(
    tensors: &[(String, Vec<usize>)],
    meta: &[(&str, &str)],
    half_key: Option<&str>,
) -> Vec<u8> {
    let data: Vec<(String, Vec<usize>, Vec<u8>, safetensors::Dtype)> = tensors
        .iter()
        .map(|(n, s)| {
            let count: usize = s.iter().product();
            if half_key == Some(n.as_str()) {
                let b = (0..count)
                    .flat_map(|i| half::f16::from_f32(0.01 * i as f32).to_le_bytes())
                    .collect();
                (n.clone(), s.clone(), b, safetensors::Dtype::F16)
            } else {
                let b = (0..count)
                    .flat_map(|i| (0.01 * i as f32).to_le_bytes())
                    .collect();
                (n.clone(), s.clone(), b, safetensors::Dtype::F32)
            }
        })
        .collect();
    let views = data.iter().map(|(n, s, b, dt)| {
        (
            n.clone(),
            safetensors::tensor::TensorView::new(*dt, s.clone(), b).expect("view"),
        )
    });
    let meta = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize(views, Some(meta)).expect("serialises")
}

fn good_tensors() -> Spec {
    let p = |n: &str| format!("layers.0.self_attn.{n}.weight");
    vec![
        ("input_proj.weight".into(), vec![8, 3]),
        ("input_proj.bias".into(), vec![8]),
        (p("q_proj"), vec![8, 8]),
        (p("k_proj"), vec![8, 8]),
        (p("v_proj"), vec![6, 8]),
        (p("o_proj"), vec![8, 6]),
        ("head.weight".into(), vec![4, 8]),
        ("head.bias".into(), vec![4]),
    ]
}

#[test]
fn pytorch_files_load_and_bad_ones_name_the_tensor() {
    let path = Path::new("att.safetensors");
    let heads = [("num_attention_heads", "2")];
    // a good file, one tensor in f16
    let ok = tensor_file(
        &good_tensors(),
        &heads,
        Some("layers.0.self_attn.k_proj.weight"),
    );
    let m = from_safetensors(&ok, path).expect("loads");
    assert_eq!(
        (m.dims.heads, m.dims.d_k, m.dims.d_v, m.classes, m.channels),
        (2, 4, 3, 4, 3)
    );
    assert_eq!(m.rope_theta, 10_000.0);
    let edit = |f: &dyn Fn(&mut Spec)| {
        let mut t = good_tensors();
        f(&mut t);
        t
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            tensor_file(
                &edit(&|t| {
                    t.retain(|(n, _)| !n.contains("k_proj"));
                }),
                &heads,
                None,
            ),
            "missing tensor `layers.0.self_attn.k_proj.weight`",
        ),
        (
            tensor_file(&good_tensors(), &[("num_attention_heads", "3")], None),
            "tensor `layers.0.self_attn.q_proj.weight` has 8 rows, which do not split into 3 heads",
        ),
        (
            tensor_file(&good_tensors(), &[("num_attention_heads", "4")], None),
            "tensor `layers.0.self_attn.v_proj.weight` has 6 rows, which do not split into 4 key/value heads",
        ),
        (
            tensor_file(
                &edit(&|t| {
                    t[4].1 = vec![8, 8];
                    t[5].1 = vec![8, 8];
                }),
                &[("num_attention_heads", "8")],
                None,
            ),
            "head size d_k = 8/8 = 1 is odd",
        ),
        (
            tensor_file(&good_tensors(), &[], None),
            "missing metadata `num_attention_heads`",
        ),
        (
            tensor_file(&edit(&|t| t[3].1 = vec![4, 8]), &heads, None),
            "tensor `layers.0.self_attn.k_proj.weight` has shape [4, 8], expected [8, 8] (2 key/value heads of 4 values",
        ),
        (
            tensor_file(&edit(&|t| t[5].1 = vec![8, 5]), &heads, None),
            "tensor `layers.0.self_attn.o_proj.weight` has shape [8, 5], expected [8, 6]",
        ),
        (
            tensor_file(
                &edit(&|t| t.push(("layers.0.self_attn.q_proj.bias".into(), vec![8]))),
                &heads,
                None,
            ),
            "unexpected tensor `layers.0.self_attn.q_proj.bias`",
        ),
        (
            tensor_file(
                &edit(&|t| {
                    for (n, _) in t.iter_mut() {
                        *n = n.replace("layers.0.", "layers.1.");
                    }
                }),
                &heads,
                None,
            ),
            "missing tensor `layers.0.self_attn.q_proj.weight`",
        ),
        (
            tensor_file(&edit(&|t| t[6].1 = vec![4, 7]), &heads, None),
            "tensor `head.weight` has shape [4, 7]",
        ),
        (
            tensor_file(
                &good_tensors(),
                &[("num_attention_heads", "2"), ("rope_theta", "0.5")],
                None,
            ),
            "metadata `rope_theta` = \"0.5\"",
        ),
        (
            tensor_file(
                &good_tensors(),
                &[("num_attention_heads", "2"), ("num_key_value_heads", "3")],
                None,
            ),
            "metadata `num_key_value_heads` = \"3\", expected a whole number ≥ 1 that divides num_attention_heads = 2",
        ),
        (b"garbage".to_vec(), "not a valid safetensors file"),
    ];
    for (bytes, want) in cases {
        let e = from_safetensors(&bytes, path).expect_err(want);
        let e = format!("{e:#}");
        assert!(e.starts_with("att.safetensors: "), "{e}");
        assert!(e.contains(want), "{e}\n  does not contain: {want}");
    }
}

#[test]
fn grouped_query_attention_repeats_each_key_value_head_for_its_query_heads() {
    // 4 query heads of d_k 2 over 2 key/value heads (d_v 3): query heads 0, 1 read kv head 0,
    // heads 2, 3 kv head 1 (Hugging Face's repeat_kv)
    let p = |n: &str| format!("layers.0.self_attn.{n}.weight");
    let spec: Spec = vec![
        ("input_proj.weight".into(), vec![8, 3]),
        ("input_proj.bias".into(), vec![8]),
        (p("q_proj"), vec![8, 8]),
        (p("k_proj"), vec![4, 8]),
        (p("v_proj"), vec![6, 8]),
        (p("o_proj"), vec![8, 12]),
        ("head.weight".into(), vec![4, 8]),
        ("head.bias".into(), vec![4]),
    ];
    let meta = [("num_attention_heads", "4"), ("num_key_value_heads", "2")];
    let m = from_safetensors(
        &tensor_file(&spec, &meta, None),
        Path::new("gqa.safetensors"),
    )
    .expect("loads");
    assert_eq!((m.dims.heads, m.dims.d_k, m.dims.d_v), (4, 2, 3));
    // tensor_file fills tensor values with 0.01 · flat index
    let value = |i: usize| 0.01 * i as f32;
    let b = &m.blocks[0];
    assert_eq!(b.wk.len(), 4 * 2 * 8);
    assert_eq!(b.wv.len(), 4 * 3 * 8);
    for h in 0..4 {
        let kv = h / 2;
        for i in 0..2 * 8 {
            assert_eq!(b.wk[h * 16 + i], value(kv * 16 + i), "k head {h}");
        }
        for i in 0..3 * 8 {
            assert_eq!(b.wv[h * 24 + i], value(kv * 24 + i), "v head {h}");
        }
    }
    // the rows of k_proj must be H_kv heads of d_k
    let mut bad = spec.clone();
    bad[3].1 = vec![6, 8];
    let e = from_safetensors(
        &tensor_file(&bad, &meta, None),
        Path::new("gqa.safetensors"),
    )
    .expect_err("k_proj of 3 heads");
    assert!(
        format!("{e:#}").contains(
            "tensor `layers.0.self_attn.k_proj.weight` has shape [6, 8], expected [4, 8] (2 \
             key/value heads of 2 values"
        ),
        "{e:#}"
    );
}

fn toy_set(seed: u32, n: usize, t: usize) -> SeriesSet {
    // class = sign of channel 0's offset (±0.6) under uniform noise in ±0.5 on both channels
    let mut rng = XorShift32(seed);
    let series = (0..n)
        .map(|i| {
            let label = i % 2;
            let values = (0..t * 2)
                .map(|j| {
                    let noise = rng.next_f32() - 0.5;
                    if j % 2 == 0 {
                        noise + if label == 1 { 0.6 } else { -0.6 }
                    } else {
                        noise
                    }
                })
                .collect();
            Series { values, label }
        })
        .collect();
    SeriesSet {
        classes: vec!["a".into(), "b".into()],
        channels: 2,
        length: t,
        series,
    }
}

#[test]
fn softmax_model_trains_and_lora_trains_only_adapters() {
    let (tr, te) = (
        Split::series(toy_set(1, 24, 16)),
        Split::series(toy_set(2, 24, 16)),
    );
    let cfg = AttentionConfig {
        d_model: 8,
        heads: 2,
        d_head: 4,
        epochs: 200,
        lr: 3e-2,
        ..AttentionConfig::default()
    };
    let (m, rep) = train(&tr, &te, &cfg, |_, _| {}).expect("trains");
    assert!(rep.train_accuracy >= 0.9, "{rep:?}");
    // zero steps: the merged model is the base model, bit for bit
    let lcfg = LoraConfig {
        rank: 2,
        alpha: 2.0,
        steps: 0,
        batch: 0,
        lr: 1e-2,
        seed: 1,
    };
    let (same, r0) =
        finetune(&m, Mixer::Liger { window: 4 }, &tr, &te, &lcfg, |_, _| {}).expect("zero steps");
    assert_eq!(same, m);
    // rank r on q, k, v of one block: r·(d + H·d_k) · 2 + r·(d + H·d_v)
    assert_eq!(r0.parameters, 2 * (8 + 8) * 2 + 2 * (8 + 8));
    let mut losses = Vec::new();
    let lcfg = LoraConfig { steps: 30, ..lcfg };
    let (tuned, r1) =
        finetune(&m, Mixer::Gla, &tr, &te, &lcfg, |_, l| losses.push(l)).expect("fine-tunes");
    assert_eq!(losses.len(), 30);
    assert!(losses[29] < losses[0], "{losses:?}");
    assert_eq!(r1.fit.final_loss, losses[29]);
    // only q, k, v moved
    assert_eq!(
        (&tuned.w_in, &tuned.b_in, &tuned.w_head, &tuned.b_head),
        (&m.w_in, &m.b_in, &m.w_head, &m.b_head)
    );
    assert_eq!(tuned.blocks[0].wo, m.blocks[0].wo);
    // (q reaches the loss only through the softmax feature map: a softmax without a backward
    // pass would leave it untouched)
    assert_ne!(tuned.blocks[0].wq, m.blocks[0].wq);
    assert_ne!(tuned.blocks[0].wk, m.blocks[0].wk);
    assert_ne!(tuned.blocks[0].wv, m.blocks[0].wv);
    // the merged weights compute what the adapted network computed
    let (x, y) = raw_batch(&tr.ds).expect("batch");
    let logits = Net::frozen(&tuned)
        .expect("net")
        .forward(&x, Mixer::Gla)
        .expect("fwd");
    let merged_loss = candle_nn::loss::cross_entropy(&logits, &y)
        .and_then(|l| l.to_scalar::<f32>())
        .expect("loss");
    assert!(
        (merged_loss - r1.adapted_loss).abs() < 1e-5,
        "{merged_loss} vs {}",
        r1.adapted_loss
    );
    assert!(r1.adapted_loss < losses[0]);
}

#[test]
fn linearized_mixers_train_from_scratch() {
    // the native recurrent baseline: the same architecture trained through GLA / Liger
    let (tr, te) = (
        Split::series(toy_set(3, 24, 16)),
        Split::series(toy_set(4, 24, 16)),
    );
    for mixer in [Mixer::Gla, Mixer::Liger { window: 4 }] {
        let cfg = AttentionConfig {
            d_model: 8,
            heads: 2,
            d_head: 4,
            epochs: 150,
            lr: 3e-2,
            mixer,
            ..AttentionConfig::default()
        };
        let (_, rep) = train(&tr, &te, &cfg, |_, _| {}).expect("trains");
        assert!(rep.train_accuracy >= 0.9, "{mixer:?}: {rep:?}");
    }
}

#[test]
fn last_token_pooling_file_equals_the_reference_and_the_forward() {
    // no MeanPool layer: the head reads each token's block output
    let (t, c) = (13, 3);
    let mut m = random_model(21, dims(), 1, c);
    m.pool = super::model::Pool::Last;
    let xs = random_tokens(22, t, c);
    let bytes = to_mote(&m, Target::Liger { window: 4 }, WeightScheme::F32).expect("converts");
    let got = file_logits(&bytes, &xs);
    // the reference's running mean over one token is the token itself: rerun it per prefix
    let want: Vec<Vec<f64>> = (1..=t)
        .map(|n| {
            let mut mean = m.clone();
            mean.pool = super::model::Pool::Mean;
            let per = reference_logits(&mean, 4, Branches::Both, &xs[..n * c]);
            let prev = if n > 1 {
                reference_logits(&mean, 4, Branches::Both, &xs[..(n - 1) * c])
            } else {
                vec![]
            };
            // head(mean_n) · n − head(mean_{n−1}) · (n − 1) = head(h_n) (the head is affine)
            let a = &per[n - 1];
            match prev.last() {
                None => a.clone(),
                Some(b) => a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| x * n as f64 - y * (n - 1) as f64)
                    .collect(),
            }
        })
        .collect();
    let diff = max_rel_diff(&got, &want);
    assert!(diff < 1e-4, "{diff}");
    let x = candle_core::Tensor::from_vec(xs, (1, t, c), &candle_core::Device::Cpu).expect("x");
    let f = Net::frozen(&m)
        .expect("net")
        .forward(&x, Mixer::Liger { window: 4 })
        .expect("fwd")
        .flatten_all()
        .expect("flat")
        .to_vec1::<f32>()
        .expect("vec");
    assert!(max_rel_diff(&[f], &want[t - 1..]) < 1e-4);
    // the pooling survives the safetensors round trip
    let back =
        from_safetensors(&to_safetensors(&m).expect("writes"), Path::new("p")).expect("loads");
    assert_eq!(back.pool, super::model::Pool::Last);
}

#[test]
fn recall_streams_hold_the_answers() {
    use super::mqar::{MqarConfig, generate};
    // a small case checked by hand: 12 tokens, 3 pairs (tokens 0-2), 3 queries after them
    let cfg = MqarConfig::with_pairs(12, 3).expect("fits");
    let rs = generate(&cfg, 200, 3).expect("generates");
    let c = cfg.keys + cfg.values;
    let ds = &rs.streams;
    assert_eq!((ds.channels, ds.length, ds.classes.len()), (80, 12, 16));
    assert_eq!(rs.queries.len(), 200);
    let mut positions = std::collections::BTreeSet::new();
    for (s, qs) in ds.series.iter().zip(&rs.queries) {
        let tok = |t: usize| &s.values[t * c..(t + 1) * c];
        let ones = |x: &[f32]| -> Vec<usize> { (0..x.len()).filter(|&i| x[i] != 0.0).collect() };
        // pairs: one key and one value each, distinct keys
        let mut pair_of = std::collections::HashMap::new();
        for t in 0..3 {
            let on = ones(tok(t));
            assert_eq!(on.len(), 2, "{on:?}");
            assert!(on[0] < cfg.keys && on[1] >= cfg.keys, "{on:?}");
            assert!(tok(t).iter().all(|&v| v == 0.0 || v == 1.0));
            assert!(
                pair_of.insert(on[0], on[1] - cfg.keys).is_none(),
                "keys repeat"
            );
        }
        // queries: after the pairs, increasing, the last at the last token, each a key only,
        // every pair key once, labelled with its pair's value
        assert_eq!(qs.len(), 3);
        assert!(qs[0].token >= 3 && qs.windows(2).all(|w| w[0].token < w[1].token));
        assert_eq!(qs[2].token, 11);
        assert_eq!(s.label, qs[2].value);
        let mut asked = Vec::new();
        for q in qs {
            let on = ones(tok(q.token));
            assert_eq!(on.len(), 1);
            assert_eq!(pair_of[&on[0]], q.value, "the answer is the paired value");
            asked.push(on[0]);
            positions.insert(q.token);
        }
        asked.sort_unstable();
        let mut keys: Vec<usize> = pair_of.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(asked, keys);
        // every other token is filler
        for t in 3..12 {
            if qs.iter().all(|q| q.token != t) {
                assert!(tok(t).iter().all(|&v| v == 0.0));
            }
        }
    }
    // the queries reach every token after the pairs
    assert_eq!(positions, (3..12).collect());
    assert_eq!(generate(&cfg, 200, 3).expect("again"), rs);
    assert_ne!(generate(&cfg, 200, 4).expect("another seed"), rs);
    // mqar:LENGTH: LENGTH / 8 pairs; the splits hold 2^18 and 2^16 tokens
    let m = MqarConfig::new(512).expect("512");
    assert_eq!((m.pairs, m.keys, m.values), (64, 64, 16));
    let (tr, te) = super::mqar::splits(&MqarConfig::new(256).expect("256")).expect("splits");
    assert_eq!(
        (tr.streams.series.len(), te.streams.series.len()),
        (1024, 256)
    );
    assert!(te.queries.iter().all(|q| q.len() == 32));
}

#[test]
fn recall_specs_and_bad_sizes() {
    use super::mqar::parse_spec;
    assert_eq!(parse_spec("basicmotions").map(|r| r.is_ok()), None);
    let ok = parse_spec("mqar:128").expect("a spec").expect("valid");
    assert_eq!((ok.length, ok.pairs), (128, 16));
    let ok = parse_spec("mqar:64:4").expect("a spec").expect("valid");
    assert_eq!((ok.length, ok.pairs), (64, 4));
    for (bad, want) in [
        ("mqar:3", "hold no pair"),
        ("mqar:160:80", "80 pairs need 80 distinct keys"),
        (
            "mqar:64:40",
            "40 pairs and their 40 queries do not fit in 64 tokens",
        ),
        ("mqar:1024", "128 pairs need 128 distinct keys"),
        (
            "mqar:20:12",
            "12 pairs and their 12 queries do not fit in 20 tokens",
        ),
        ("mqar:64:0", "hold no pair"),
        ("mqar:x", "expected mqar:LENGTH"),
        ("mqar:64:y", "expected mqar:LENGTH"),
        ("mqar:64:4:1", "expected mqar:LENGTH"),
    ] {
        let e = parse_spec(bad).expect("a spec").expect_err(bad);
        let e = format!("{e:#}");
        assert!(e.contains(want) && e.contains(bad), "{bad}: {e}");
    }
}

#[test]
fn query_loss_by_hand() {
    // 1 series of 2 tokens, 3 classes; only token 1 is a query (answer 2): the loss is
    // −log softmax(logits[0, 1])[2], whatever token 0's logits are
    let logits = candle_core::Tensor::from_vec(
        vec![9.0f32, -3.0, 4.0, 1.0, 2.0, 3.0],
        (1, 2, 3),
        &candle_core::Device::Cpu,
    )
    .expect("logits");
    let got = super::train::query_loss(&logits, &[(0, 1)], &[2])
        .and_then(|l| Ok(l.to_scalar::<f32>()?))
        .expect("loss");
    let want = -(3f64.exp() / (1f64.exp() + 2f64.exp() + 3f64.exp())).ln();
    assert!((got as f64 - want).abs() < 1e-6, "{got} vs {want}");
    // two queries (token 0 answer 0, token 1 answer 1): the mean of the two terms
    let got = super::train::query_loss(&logits, &[(0, 0), (0, 1)], &[0, 1])
        .and_then(|l| Ok(l.to_scalar::<f32>()?))
        .expect("loss");
    let lse = |a: [f64; 3]| a.iter().map(|x| x.exp()).sum::<f64>().ln();
    let want = ((lse([9.0, -3.0, 4.0]) - 9.0) + (lse([1.0, 2.0, 3.0]) - 2.0)) / 2.0;
    assert!((got as f64 - want).abs() < 1e-6, "{got} vs {want}");
    assert!(super::train::query_loss(&logits, &[], &[]).is_err());
}

#[test]
fn per_token_logits_are_the_files() {
    // forward_tokens == the model file's logits after every token, both poolings; its last
    // token == forward
    let (t, c) = (13, 3);
    let xs = random_tokens(31, t, c);
    let x =
        candle_core::Tensor::from_vec(xs.clone(), (1, t, c), &candle_core::Device::Cpu).expect("x");
    for pool in [super::model::Pool::Mean, super::model::Pool::Last] {
        let mut m = random_model(32, dims(), 1, c);
        m.pool = pool;
        let bytes = to_mote(&m, Target::Gla, WeightScheme::F32).expect("converts");
        let want: Vec<Vec<f64>> = file_logits(&bytes, &xs)
            .iter()
            .map(|r| r.iter().map(|&v| v as f64).collect())
            .collect();
        let net = Net::frozen(&m).expect("net");
        let got = net
            .forward_tokens(&x, Mixer::Gla)
            .and_then(|l| Ok(l.squeeze(0)?.to_vec2::<f32>()?))
            .expect("tokens");
        assert!(max_rel_diff(&got, &want) < 1e-4, "{pool:?}");
        let last = net
            .forward(&x, Mixer::Gla)
            .and_then(|l| Ok(l.squeeze(0)?.to_vec1::<f32>()?))
            .expect("fwd");
        assert!(max_rel_diff(&[last], &want[t - 1..]) < 1e-5, "{pool:?}");
    }
}

#[test]
fn recall_file_accuracy_counts_queries_and_matches_the_float() {
    use super::mqar::{MqarConfig, generate};
    let cfg = MqarConfig::with_pairs(16, 4).expect("fits");
    let split = Split::recall(generate(&cfg, 20, 5).expect("generates"));
    assert_eq!((split.scored(), split.scored_on()), (80, "queries"));
    let mut m = random_model(40, dims(), 1, 80);
    m.pool = super::model::Pool::Last;
    m.classes = 16;
    let mut rng = XorShift32(41);
    m.w_head = (0..16 * 8).map(|_| rng.next_f32() - 0.5).collect();
    m.b_head = vec![0.0; 16];
    for (target, mixer) in [
        (Target::Gla, Mixer::Gla),
        (Target::Liger { window: 4 }, Mixer::Liger { window: 4 }),
    ] {
        let bytes = to_mote(&m, target, WeightScheme::F32).expect("converts");
        let file = AlignedModel::new(&bytes);
        let parsed = file.parse().expect("parses");
        let f = super::train::file_accuracy(&parsed, &split).expect("file");
        // by hand: the file's logits at each query token
        let mut correct = 0;
        for (s, qs) in split
            .ds
            .series
            .iter()
            .zip(split.queries.as_ref().expect("queries"))
        {
            let per = file_logits(&bytes, &s.values);
            correct += qs
                .iter()
                .filter(|q| mote_core::kernels::argmax(&per[q.token]) == q.value)
                .count();
        }
        assert_eq!(f, correct as f64 / 80.0);
        let float = super::train::batched_accuracy(&m, mixer, &split).expect("float");
        assert!(
            (float - f).abs() <= 1.0 / 80.0,
            "{target:?}: {float} vs {f}"
        );
    }
}

#[test]
fn mini_batches_are_deterministic_and_train() {
    use super::train::Batches;
    // every series once per pass, the same order for a seed
    let mut a = Batches::new(10, 4, 7);
    let mut b = Batches::new(10, 4, 7);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let x = a.next_batch().to_vec();
        assert_eq!(x, b.next_batch());
        seen.extend(x);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 8);
    let mut full = Batches::new(10, 0, 7);
    assert!(full.full());
    assert_eq!(full.next_batch(), (0..10).collect::<Vec<_>>());
    // recall with per-query loss, mini-batches of 16: softmax attention learns it
    use super::mqar::{MqarConfig, generate};
    let cfg = MqarConfig::with_pairs(16, 2).expect("fits");
    let (tr, te) = (
        Split::recall(generate(&cfg, 512, 1).expect("train")),
        Split::recall(generate(&cfg, 64, 2).expect("test")),
    );
    let acfg = AttentionConfig {
        d_model: 16,
        heads: 1,
        d_head: 16,
        pool: super::model::Pool::Last,
        epochs: 300,
        batch: 16,
        lr: 1e-2,
        standardize: false,
        ..AttentionConfig::default()
    };
    let (_, rep) = train(&tr, &te, &acfg, |_, _| {}).expect("trains");
    let (_, again) = train(&tr, &te, &acfg, |_, _| {}).expect("trains");
    assert_eq!(rep.final_loss, again.final_loss, "deterministic");
    // chance is 1/16; 0.883 on this run (train 0.995)
    assert!(rep.test_accuracy >= 0.8, "{rep:?}");
}

#[test]
fn lora_specs_and_ranks() {
    assert_eq!(parse_spec("lora:8").unwrap(), 8);
    for bad in ["lora:0", "lora:x", "8", "lora:"] {
        assert!(parse_spec(bad).is_err(), "{bad}");
    }
    let m = random_model(3, dims(), 1, 2);
    let (tr, te) = (
        Split::series(toy_set(1, 4, 8)),
        Split::series(toy_set(2, 4, 8)),
    );
    let mut m2 = m.clone();
    m2.classes = 2;
    m2.w_head.truncate(2 * 8);
    m2.b_head.truncate(2);
    let cfg = LoraConfig {
        rank: 7,
        alpha: 7.0,
        steps: 1,
        batch: 0,
        lr: 1e-3,
        seed: 1,
    };
    let e = finetune(&m2, Mixer::Gla, &tr, &te, &cfg, |_, _| {}).unwrap_err();
    assert!(
        e.to_string().contains("LoRA rank 7 must lie in 1..=6"),
        "{e}"
    );
    let e = finetune(&m, Mixer::Gla, &tr, &te, &cfg, |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("2 classes"), "{e}");
}
