//! Parameter averaging, after alignment.
//!
//! Two models: B is weight-matched to A (SPEC §2.3), then `½(θ_A + π(θ_B))`.
//! Three or more: merge-many (SPEC §2.7): starting from identity permutations, repeat rounds
//! until no permutation changes (at most [`MAX_ROUNDS`]): visit the models in a fresh random
//! order; for model `i`, the target is the mean of all other models under their current
//! permutations, and `π_i ← WeightMatching(target, θ_i)`. The result is `mean_i π_i(θ_i)`.

use anyhow::{Result, bail};

use super::{AlignOptions, Alignment, Method, Permutation, align, permute, weight_matching};
use crate::data::Dataset;
use crate::nn::{Dense, Mlp};
use crate::plugin::MergeRule;
use crate::rng::Rng;

/// Round limit of merge-many.
pub const MAX_ROUNDS: usize = 100;

/// Element-wise mean of models with equal architecture.
pub fn average(models: &[Mlp]) -> Result<Mlp> {
    let Some(first) = models.first() else {
        bail!("nothing to average");
    };
    let k = models.len() as f64;
    let mean = |get: &dyn Fn(&Mlp) -> &[f32]| -> Vec<f32> {
        let mut acc = vec![0f64; get(first).len()];
        for m in models {
            for (a, &x) in acc.iter_mut().zip(get(m)) {
                *a += f64::from(x);
            }
        }
        acc.into_iter().map(|a| (a / k) as f32).collect()
    };
    Ok(Mlp {
        layers: (0..first.layers.len())
            .map(|l| Dense {
                out_dim: first.layers[l].out_dim,
                in_dim: first.layers[l].in_dim,
                weight: mean(&|m: &Mlp| &m.layers[l].weight),
                bias: mean(&|m: &Mlp| &m.layers[l].bias),
            })
            .collect(),
    })
}

/// Merges aligned `models` tensor by tensor with `rule` (`base`, if given, in the same frame).
/// Tensors are named as in the saved file (`0.weight`, `0.bias`, `2.weight`, ...), so plugin
/// errors point at the tensor the user can find in the safetensors file.
pub fn merge_with_rule(
    rule: &MergeRule,
    models: &[Mlp],
    base: Option<&Mlp>,
    params: &[(String, String)],
) -> Result<Mlp> {
    let Some(first) = models.first() else {
        bail!("nothing to merge");
    };
    let layers = (0..first.layers.len())
        .map(|l| {
            let (out_dim, in_dim) = (first.layers[l].out_dim, first.layers[l].in_dim);
            let tensor = |part: &str, shape: &[usize], get: &dyn Fn(&Mlp) -> &[f32]| {
                let inputs: Vec<&[f32]> = models.iter().map(get).collect();
                let name = format!("{}.{part}", 2 * l);
                rule.merge_tensor(&name, shape, &inputs, base.map(get), params)
            };
            Ok(Dense {
                out_dim,
                in_dim,
                weight: tensor("weight", &[out_dim, in_dim], &|m: &Mlp| &m.layers[l].weight)?,
                bias: tensor("bias", &[out_dim], &|m: &Mlp| &m.layers[l].bias)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Mlp { layers })
}

/// Aligns every model after the first to the first with `method` (the common reference of Ito
/// et al., SPEC §2.8: models 2..N are never matched to each other). Returns the aligned models,
/// the first unchanged, and each alignment (none for the first).
pub fn align_to_reference(
    models: &[Mlp],
    method: Method,
    data: Option<&Dataset>,
    opts: &AlignOptions,
) -> Result<Vec<(Mlp, Option<Alignment>)>> {
    let Some((reference, others)) = models.split_first() else {
        bail!("nothing to align");
    };
    let mut out = vec![(reference.clone(), None)];
    for m in others {
        let al = align(reference, m, method, data, opts)?;
        let aligned = match &al {
            Some(al) => permute(m, &al.perms),
            None => m.clone(),
        };
        out.push((aligned, al));
    }
    Ok(out)
}

/// The result of merge-many.
#[derive(Debug, Clone)]
pub struct MergeMany {
    /// The averaged aligned models.
    pub merged: Mlp,
    /// Hidden permutations applied to each input model.
    pub perms: Vec<Vec<Permutation>>,
    /// Rounds run.
    pub rounds: usize,
    /// True if the last round changed no permutation.
    pub converged: bool,
}

/// Merge-many (SPEC §2.7) for two or more models with equal architecture.
pub fn merge_many(models: &[Mlp], seed: u64) -> Result<MergeMany> {
    if models.len() < 2 {
        bail!("merge needs at least two models");
    }
    let ident: Vec<Permutation> = models[0].layers[..models[0].layers.len() - 1]
        .iter()
        .map(|l| Permutation::identity(l.out_dim))
        .collect();
    let mut perms = vec![ident; models.len()];
    let mut aligned: Vec<Mlp> = models.to_vec();
    let mut rng = Rng::new(seed);
    let (mut rounds, mut converged) = (0, false);
    while rounds < MAX_ROUNDS {
        rounds += 1;
        let mut order: Vec<usize> = (0..models.len()).collect();
        rng.shuffle(&mut order);
        let mut changed = false;
        for &i in &order {
            let others: Vec<Mlp> = (0..models.len())
                .filter(|&j| j != i)
                .map(|j| aligned[j].clone())
                .collect();
            let target = average(&others)?;
            let al = weight_matching(&target, &models[i], rng.next_u64())?;
            if al.perms != perms[i] {
                changed = true;
                aligned[i] = permute(&models[i], &al.perms);
                perms[i] = al.perms;
            }
        }
        if !changed {
            converged = true;
            break;
        }
    }
    Ok(MergeMany {
        merged: average(&aligned)?,
        perms,
        rounds,
        converged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::random_mlp;

    #[test]
    fn average_is_elementwise_mean() {
        let mut rng = Rng::new(1);
        let a = random_mlp(&[3, 4, 2], &mut rng);
        let b = random_mlp(&[3, 4, 2], &mut rng);
        let m = average(&[a.clone(), b.clone()]).expect("averages");
        assert_eq!(m, a.lerp(&b, 0.5));
        assert!(average(&[]).is_err());
    }

    #[test]
    fn merge_with_rule_names_tensors_like_the_file() {
        let mut rng = Rng::new(3);
        let a = random_mlp(&[3, 4, 2], &mut rng);
        let b = random_mlp(&[3, 4, 2], &mut rng);
        let m = merge_with_rule(
            &MergeRule::NativeAverage,
            &[a.clone(), b.clone()],
            None,
            &[],
        )
        .expect("merges");
        let want = average(&[a.clone(), b.clone()]).expect("averages");
        for (x, y) in m.flat_params().iter().zip(want.flat_params()) {
            assert!((x - y).abs() <= 1e-6 * y.abs(), "{x} vs {y}");
        }
        let e = merge_with_rule(
            &MergeRule::NativeAverage,
            &[a, b],
            None,
            &[("t".into(), "1".into())],
        )
        .unwrap_err();
        assert!(e.to_string().contains("`0.weight`"), "{e}");
    }

    #[test]
    fn merge_many_undoes_planted_permutations() {
        // Three copies of one model, two of them permuted: merge-many must align them all, so the
        // merge is the model itself (up to the permutation of the first reference it settles on).
        let mut rng = Rng::new(2);
        let a = random_mlp(&[10, 24, 24, 3], &mut rng);
        let perm = |rng: &mut Rng| -> Vec<Permutation> {
            vec![Permutation::random(24, rng), Permutation::random(24, rng)]
        };
        let b = permute(&a, &perm(&mut rng));
        let c = permute(&a, &perm(&mut rng));
        let r = merge_many(&[a.clone(), b, c], 7).expect("merges");
        assert!(r.converged);
        let x: Vec<f32> = (0..30).map(|i| (i as f32 * 0.7).cos()).collect();
        let (ya, ym) = (a.forward(&x, 3), r.merged.forward(&x, 3));
        assert!(
            ya.iter().zip(&ym).all(|(p, q)| (p - q).abs() < 1e-4),
            "{ya:?} {ym:?}"
        );
    }

    #[test]
    fn every_method_undoes_planted_permutations_of_many_models() {
        // Four copies of a trained model, three with their hidden units shuffled: aligning to the
        // reference with any method, then averaging, gives the model back: exactly with weight
        // matching and STE; as a function on the data with activation matching, which cannot
        // tell apart units that are dead on every sample (any order of them fits the data, and
        // the mean of dead units is dead: pre-activations average).
        let (train, _) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let a = crate::nn::train::train_mlp(
            &crate::nn::train::TrainConfig {
                hidden: vec![20, 12],
                epochs: 3,
                batch_size: 64,
                lr: 3e-3,
                seed: 6,
                progress: false,
            },
            &train,
        )
        .expect("trains");
        let mut rng = Rng::new(8);
        let mut models = vec![a.clone()];
        for _ in 0..3 {
            let p = vec![
                Permutation::random(20, &mut rng),
                Permutation::random(12, &mut rng),
            ];
            models.push(permute(&a, &p));
        }
        let opts = AlignOptions {
            seed: 1,
            ste: crate::align::ste::SteConfig {
                epochs: 1,
                batch_size: 400,
                ..Default::default()
            },
        };
        for method in [Method::Weight, Method::Activation, Method::Ste] {
            let aligned = align_to_reference(&models, method, Some(&train), &opts).expect("aligns");
            let only: Vec<Mlp> = aligned.into_iter().map(|(m, _)| m).collect();
            if method != Method::Activation {
                assert!(
                    only.iter().all(|m| *m == a),
                    "{method:?} undoes every permutation"
                );
            }
            let merged = average(&only).expect("averages");
            let (ya, ym) = (
                a.forward(&train.features, train.n),
                merged.forward(&train.features, train.n),
            );
            assert!(
                ya.iter().zip(&ym).all(|(p, q)| (p - q).abs() < 1e-4),
                "{method:?}"
            );
        }
        // Merge-many (weight matching of each model to the mean of the others) too.
        let r = merge_many(&models, 3).expect("merges");
        let x: Vec<f32> = train.features[..64 * 5].to_vec();
        let (ya, ym) = (a.forward(&x, 5), r.merged.forward(&x, 5));
        assert!(ya.iter().zip(&ym).all(|(p, q)| (p - q).abs() < 1e-4));
    }
}
