//! Merge-rule plugins built from `plugins/` into WebAssembly components and run in the host's
//! sandbox: each rule against an independent host-side reference, and each hostile plugin
//! contained with a typed error while the host keeps working.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use mote_core::check::XorShift32;
use mote_host::cmd::plugin::{PluginCommand, run};
use mote_host::plugin::build::{build_plugins, plugin_path};
use mote_host::plugin::models::{Model, Tensor, to_safetensors};
use mote_host::plugin::{MergeRule, PluginErrorKind, PluginRule, SandboxLimits};

/// Builds the guest workspace once per test process.
fn plugin(krate: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| build_plugins(None).expect("plugins build"));
    plugin_path(dir, krate)
}

fn load(krate: &str) -> PluginRule {
    PluginRule::load(&plugin(krate), SandboxLimits::default()).expect("plugin loads")
}

fn random(rng: &mut XorShift32, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.next_f32() * scale).collect()
}

fn params(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// |got − want| ≤ 1e-6·|want| + 1e-7 everywhere (both sides round an f64 result to f32 once;
/// only libm differences in acos/sin can separate them).
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6 * w.abs() + 1e-7,
            "{what}: index {i}: got {g}, want {w}"
        );
    }
}

// ---------------------------------------------------------------- host-side references

/// SLERP as in mergekit, written directly from the formula: angle from the normalised dot
/// product, lerp when near-parallel or when a tensor is zero.
fn slerp_ref(a: &[f32], b: &[f32], t: f64, threshold: f64) -> Vec<f32> {
    let a: Vec<f64> = a.iter().map(|&x| f64::from(x)).collect();
    let b: Vec<f64> = b.iter().map(|&x| f64::from(x)).collect();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    let lerp = |s0: f64, s1: f64| -> Vec<f32> {
        a.iter()
            .zip(&b)
            .map(|(x, y)| (s0 * x + s1 * y) as f32)
            .collect()
    };
    if na <= 1e-8 || nb <= 1e-8 {
        return lerp(1.0 - t, t);
    }
    let cos: f64 = a.iter().zip(&b).map(|(x, y)| (x / na) * (y / nb)).sum();
    if cos.abs() > threshold {
        return lerp(1.0 - t, t);
    }
    let theta = cos.clamp(-1.0, 1.0).acos();
    let theta_t = theta * t;
    lerp(
        (theta - theta_t).sin() / theta.sin(),
        theta_t.sin() / theta.sin(),
    )
}

/// TIES-merging by full sort (the plugin uses a selection algorithm).
fn ties_ref(models: &[Vec<f32>], base: &[f32], density: f64, lambda: f64) -> Vec<f32> {
    let n = base.len();
    let k = (density * n as f64).floor() as usize;
    let trimmed: Vec<Vec<f64>> = models
        .iter()
        .map(|m| {
            let delta: Vec<f32> = m.iter().zip(base).map(|(x, b)| x - b).collect();
            let mut rank: Vec<usize> = (0..n).collect();
            rank.sort_by(|&i, &j| {
                delta[j]
                    .abs()
                    .partial_cmp(&delta[i].abs())
                    .expect("finite")
                    .then(i.cmp(&j))
            });
            let mut kept = vec![0.0f64; n];
            for &i in &rank[..k.min(n)] {
                kept[i] = f64::from(delta[i]);
            }
            kept
        })
        .collect();
    (0..n)
        .map(|p| {
            let total: f64 = trimmed.iter().map(|d| d[p]).sum();
            let agreeing: Vec<f64> = trimmed
                .iter()
                .map(|d| d[p])
                .filter(|&x| x != 0.0 && total != 0.0 && (x > 0.0) == (total > 0.0))
                .collect();
            let mean = if agreeing.is_empty() {
                0.0
            } else {
                agreeing.iter().sum::<f64>() / agreeing.len() as f64
            };
            (f64::from(base[p]) + lambda * mean) as f32
        })
        .collect()
}

/// FuseChat VaRM: weights ∝ mean squared change from the base.
fn fusechat_ref(models: &[Vec<f32>], base: &[f32]) -> Vec<f32> {
    let var: Vec<f64> = models
        .iter()
        .map(|m| {
            m.iter()
                .zip(base)
                .map(|(&x, &b)| (f64::from(x) - f64::from(b)).powi(2))
                .sum::<f64>()
                / base.len() as f64
        })
        .collect();
    let total: f64 = var.iter().sum();
    (0..base.len())
        .map(|p| {
            models
                .iter()
                .zip(&var)
                .map(|(m, v)| {
                    let w = if total > 0.0 {
                        v / total
                    } else {
                        1.0 / models.len() as f64
                    };
                    w * f64::from(m[p])
                })
                .sum::<f64>() as f32
        })
        .collect()
}

// ---------------------------------------------------------------- rules vs references

#[test]
fn plugin_info_declares_name_version_params() {
    let slerp = load("mote-rule-slerp");
    let i = slerp.info();
    assert_eq!((i.name.as_str(), i.version.as_str()), ("slerp", "0.1.0"));
    assert_eq!((i.min_models, i.max_models, i.needs_base), (2, 2, false));
    let names: Vec<&str> = i.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["t", "dot-threshold"]);
    let ties = load("mote-rule-ties");
    assert!(ties.info().needs_base);
    assert_eq!(ties.info().params[0].default.as_deref(), Some("0.2"));
    let text = mote_host::cmd::plugin::render_info(&ties);
    assert!(
        text.contains("ties v0.1.0") && text.contains("density"),
        "{text}"
    );
    assert!(load("mote-rule-fusechat").info().params.is_empty());
}

#[test]
fn slerp_matches_reference() {
    let rule = load("mote-rule-slerp");
    // Hand-worked: orthogonal unit vectors, t = 1/2 → both weights sin(π/4)/sin(π/2) = √½.
    let out = rule
        .merge_tensor("e", &[2], &[&[1.0, 0.0], &[0.0, 1.0]], None, &[])
        .expect("merges");
    assert_close(&out, &[0.5f32.sqrt(), 0.5f32.sqrt()], "orthogonal");

    let mut rng = XorShift32(11);
    let a = random(&mut rng, 300, 1.0);
    let b = random(&mut rng, 300, 2.0);
    for t in ["0", "0.25", "0.5", "0.9", "1"] {
        let out = rule
            .merge_tensor("w", &[3, 100], &[&a, &b], None, &params(&[("t", t)]))
            .expect("merges");
        let tf: f64 = t.parse().expect("number");
        assert_close(&out, &slerp_ref(&a, &b, tf, 0.9995), &format!("t={t}"));
    }
    // Near-parallel: b2 = 1.5·a (+ tiny noise) → cos ≈ 1 → lerp fallback.
    let b2: Vec<f32> = a.iter().map(|x| 1.5 * x + 1e-6 * rng.next_f32()).collect();
    let out = rule
        .merge_tensor("w", &[300], &[&a, &b2], None, &params(&[("t", "0.3")]))
        .expect("merges");
    let lerp: Vec<f32> = a
        .iter()
        .zip(&b2)
        .map(|(&x, &y)| (0.7 * f64::from(x) + 0.3 * f64::from(y)) as f32)
        .collect();
    assert_close(&out, &lerp, "near-parallel lerp");
    assert_close(&out, &slerp_ref(&a, &b2, 0.3, 0.9995), "near-parallel ref");
    // Zero tensor: angle undefined → lerp.
    let zero = vec![0.0f32; 300];
    let out = rule
        .merge_tensor("w", &[300], &[&zero, &b], None, &[])
        .expect("merges");
    assert_close(&out, &slerp_ref(&zero, &b, 0.5, 0.9995), "zero tensor");
}

#[test]
fn ties_matches_reference() {
    let rule = load("mote-rule-ties");
    // Hand-worked, density 1/2 of 4 → keep 2 per task vector (ties: lower index).
    // τ1 = [ 3, -1, 0.5, -2] → keep 3 (i0), -2 (i3)         → [ 3, 0, 0, -2]
    // τ2 = [-1, -4, 1,    2] → keep -4 (i1), then |2| (i3) → [ 0,-4, 0,  2]
    // sum = [3, -4, 0, 0] → γ = [+, -, 0, 0]; mean of agreeing = [3, -4, 0, 0]
    let base = [10.0f32, 10.0, 10.0, 10.0];
    let m1 = [13.0f32, 9.0, 10.5, 8.0];
    let m2 = [9.0f32, 6.0, 11.0, 12.0];
    let out = rule
        .merge_tensor(
            "hand",
            &[2, 2],
            &[&m1, &m2],
            Some(&base),
            &params(&[("density", "0.5")]),
        )
        .expect("merges");
    assert_eq!(out, vec![13.0, 6.0, 10.0, 10.0]);

    let mut rng = XorShift32(5);
    let base = random(&mut rng, 500, 1.0);
    let models: Vec<Vec<f32>> = (0..3)
        .map(|_| base.iter().map(|&b| b + 0.1 * rng.next_f32()).collect())
        .collect();
    let refs: Vec<&[f32]> = models.iter().map(Vec::as_slice).collect();
    for (density, lambda) in [("0.2", "1"), ("0.5", "0.7"), ("1", "1"), ("0", "1")] {
        let out = rule
            .merge_tensor(
                "w",
                &[500],
                &refs,
                Some(&base),
                &params(&[("density", density), ("lambda", lambda)]),
            )
            .expect("merges");
        let want = ties_ref(
            &models,
            &base,
            density.parse().expect("number"),
            lambda.parse().expect("number"),
        );
        assert_close(&out, &want, &format!("density {density} lambda {lambda}"));
    }
}

#[test]
fn fusechat_matches_reference() {
    let rule = load("mote-rule-fusechat");
    // Hand-worked: Δ1 = [2, 0] (v = 2), Δ2 = [0, 1] (v = 0.5) → w = [0.8, 0.2].
    let base = [1.0f32, 1.0];
    let out = rule
        .merge_tensor("hand", &[2], &[&[3.0, 1.0], &[1.0, 2.0]], Some(&base), &[])
        .expect("merges");
    assert_close(&out, &[2.6, 1.2], "hand");
    // Nothing moved → plain average of identical copies.
    let out = rule
        .merge_tensor("same", &[2], &[&base, &base], Some(&base), &[])
        .expect("merges");
    assert_eq!(out, vec![1.0, 1.0]);

    let mut rng = XorShift32(9);
    let base = random(&mut rng, 400, 1.0);
    let models: Vec<Vec<f32>> = [0.01f32, 0.1, 0.3]
        .iter()
        .map(|&s| base.iter().map(|&b| b + s * rng.next_f32()).collect())
        .collect();
    let refs: Vec<&[f32]> = models.iter().map(Vec::as_slice).collect();
    let out = rule
        .merge_tensor("w", &[20, 20], &refs, Some(&base), &[])
        .expect("merges");
    assert_close(&out, &fusechat_ref(&models, &base), "random");
}

#[test]
fn average_plugin_is_bit_identical_to_native() {
    let rule = MergeRule::Plugin(Box::new(load("mote-rule-average")));
    let mut rng = XorShift32(3);
    let ts: Vec<Vec<f32>> = (0..3).map(|_| random(&mut rng, 1000, 1.0)).collect();
    let refs: Vec<&[f32]> = ts.iter().map(Vec::as_slice).collect();
    let plugin = rule
        .merge_tensor("w", &[10, 100], &refs, None, &[])
        .expect("merges");
    let native = MergeRule::NativeAverage
        .merge_tensor("w", &[10, 100], &refs, None, &[])
        .expect("merges");
    assert_eq!(plugin, native);
}

#[test]
fn bad_params_and_inputs_are_clear_errors() {
    let slerp = load("mote-rule-slerp");
    let (a, b) = ([1.0f32, 2.0], [2.0f32, 1.0]);
    let e = slerp
        .merge_tensor(
            "fc1.weight",
            &[2],
            &[&a, &b],
            None,
            &params(&[("alpha", "1")]),
        )
        .unwrap_err();
    assert!(matches!(e.kind, PluginErrorKind::Params(_)), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("`alpha`") && msg.contains("t, dot-threshold"),
        "{msg}"
    );
    assert!(
        msg.contains("slerp") && msg.contains("`fc1.weight`"),
        "{msg}"
    );
    let e = slerp
        .merge_tensor("w", &[2], &[&a, &b], None, &params(&[("t", "2")]))
        .unwrap_err();
    assert!(
        matches!(e.kind, PluginErrorKind::Rejected(ref m) if m.contains("`t`")),
        "{e}"
    );
    let e = slerp.merge_tensor("w", &[2], &[&a], None, &[]).unwrap_err();
    assert!(matches!(e.kind, PluginErrorKind::Inputs(_)), "{e}");
    let e = load("mote-rule-ties")
        .merge_tensor("w", &[2], &[&a, &b], None, &[])
        .unwrap_err();
    assert!(e.to_string().contains("--base"), "{e}");
}

// ---------------------------------------------------------------- hostile plugins

/// Runs the hostile plugin on a small tensor, checks the error kind with `check`, then proves
/// the host still works by merging with a good plugin in the same process.
fn contained(krate: &str, limits: SandboxLimits, check: impl Fn(&PluginErrorKind) -> bool) {
    let rule = PluginRule::load(&plugin(krate), limits).expect("hostile plugin loads");
    let a = [1.0f32, 2.0, 3.0, 4.0];
    let t0 = Instant::now();
    let e = rule
        .merge_tensor("fc2.bias", &[4], &[&a, &a], None, &[])
        .expect_err("hostile plugin must fail");
    let elapsed = t0.elapsed();
    eprintln!("{krate}: contained in {elapsed:.2?}: {e}");
    assert!(check(&e.kind), "{krate}: unexpected error kind: {e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("hostile-{}", &krate["mote-hostile-".len()..])),
        "{msg}"
    );
    assert!(msg.contains("`fc2.bias`"), "{msg}");
    // Generous sanity bound only; the measured times are in the report.
    assert!(elapsed.as_secs() < 10, "{krate} took {elapsed:?}");
    let good = load("mote-rule-average");
    assert_eq!(
        good.merge_tensor("fc2.bias", &[4], &[&a, &a], None, &[])
            .expect("host still works"),
        a.to_vec()
    );
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    contained("mote-hostile-loop", SandboxLimits::default(), |k| {
        matches!(k, PluginErrorKind::OutOfFuel { .. })
    });
}

#[test]
fn infinite_loop_hits_the_epoch_deadline_when_fuel_allows_it() {
    let limits = SandboxLimits {
        timeout_ms: 200,
        fuel_per_value: 1 << 40,
        ..SandboxLimits::default()
    };
    contained("mote-hostile-loop", limits, |k| {
        matches!(k, PluginErrorKind::Timeout { limit_ms: 200 })
    });
}

#[test]
fn memory_bomb_hits_the_memory_cap() {
    contained(
        "mote-hostile-membomb",
        SandboxLimits::default(),
        |k| matches!(k, PluginErrorKind::MemoryLimit { limit, .. } if *limit == 256 << 20),
    );
}

#[test]
fn trap_is_reported_with_the_plugins_panic_message() {
    let rule = load("mote-hostile-trap");
    let e = rule
        .merge_tensor("w", &[1], &[&[1.0]], None, &[])
        .unwrap_err();
    assert!(matches!(e.kind, PluginErrorKind::Trap(_)), "{e}");
    assert!(
        e.log_tail
            .iter()
            .any(|l| l.contains("deliberate panic while merging `w`")),
        "{e}"
    );
    contained("mote-hostile-trap", SandboxLimits::default(), |k| {
        matches!(k, PluginErrorKind::Trap(_))
    });
}

#[test]
fn wrong_length_is_rejected() {
    contained("mote-hostile-wrong-len", SandboxLimits::default(), |k| {
        matches!(
            k,
            PluginErrorKind::BadLength {
                expected: 4,
                got: 3
            }
        )
    });
}

#[test]
fn nan_output_is_rejected() {
    contained(
        "mote-hostile-nan",
        SandboxLimits::default(),
        |k| matches!(k, PluginErrorKind::NonFinite { index: 2, value } if value.is_nan()),
    );
}

// ---------------------------------------------------------------- `mote plugin merge`

fn write_model(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let tensors: Vec<Tensor> = tensors
        .iter()
        .map(|(n, s, d)| Tensor {
            name: n.to_string(),
            shape: s.clone(),
            data: d.clone(),
        })
        .collect();
    let bytes = to_safetensors(&tensors, Default::default()).expect("serialises");
    std::fs::write(path, bytes).expect("write model");
}

#[test]
fn plugin_merge_command_writes_all_or_nothing() {
    let dir = std::env::temp_dir().join(format!("mote-plugin-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let (a, b, base, out) = (
        dir.join("a.safetensors"),
        dir.join("b.safetensors"),
        dir.join("base.safetensors"),
        dir.join("merged.safetensors"),
    );
    write_model(
        &a,
        &[
            ("w", vec![2, 2], vec![13.0, 9.0, 10.5, 8.0]),
            ("b", vec![1], vec![1.0]),
        ],
    );
    write_model(
        &b,
        &[
            ("w", vec![2, 2], vec![9.0, 6.0, 11.0, 12.0]),
            ("b", vec![1], vec![3.0]),
        ],
    );
    write_model(
        &base,
        &[("w", vec![2, 2], vec![10.0; 4]), ("b", vec![1], vec![2.0])],
    );
    let merge = |rule: PathBuf, with_base: bool| {
        run(PluginCommand::Merge {
            models: vec![a.clone(), b.clone()],
            rule: format!("plugin:{}", rule.display()),
            params: vec![("density".into(), "0.5".into())],
            base: with_base.then(|| base.clone()),
            output: out.clone(),
            limits: SandboxLimits::default(),
            json: true,
        })
    };
    merge(plugin("mote-rule-ties"), true).expect("merge succeeds");
    let merged = Model::read(&out).expect("output readable");
    assert_eq!(
        merged.tensor("w").expect("w").data,
        vec![13.0, 6.0, 10.0, 10.0]
    );
    std::fs::remove_file(&out).expect("rm");
    // A rule that fails on one tensor leaves no output file at all.
    let e = merge(plugin("mote-rule-ties"), false).unwrap_err();
    assert!(format!("{e:#}").contains("--base"), "{e:#}");
    assert!(!out.exists());
    let e = run(PluginCommand::Merge {
        models: vec![a.clone(), b.clone()],
        rule: format!("plugin:{}", plugin("mote-hostile-nan").display()),
        params: vec![],
        base: None,
        output: out.clone(),
        limits: SandboxLimits::default(),
        json: true,
    })
    .unwrap_err();
    assert!(format!("{e:#}").contains("non-finite"), "{e:#}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(&dir).expect("ls").count(),
        3,
        "no temp files left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
