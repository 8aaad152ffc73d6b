//! N models aligned to a common reference, measured as Ito, Yamada, Kumagai do (SPEC §2.8):
//! models 2..N are each aligned to model 1 (never to each other), then
//!
//! - per model: L2 distance before/after, per-layer singular values (unchanged by π) and the
//!   alignment of the top singular vectors ([`super::analyze::analyze`]);
//! - the alignment of the top-k singular vectors as a function of k, averaged over models and
//!   layers: `mean_{i ≤ k} ½(|u_i^A · u_i^B'| + |v_i^A · v_i^B'|)`, before and after;
//! - with data: test loss/accuracy of every model, of the naive and the aligned merge (the mean
//!   of all models), the test-loss barrier of each aligned model against the reference, and the
//!   barrier between every two aligned non-reference models (item 6: their permutations were
//!   found against the reference only, so a small barrier means the alignment is transitive);
//! - the truncation check: each aligned model's weights cut to their top `f · rank` singular
//!   components before merging, and the reference cut the same way — if accuracy holds, the
//!   large-σ directions that matching aligns carry the function (item 3, assumption ii).

use std::path::Path;

use anyhow::{Result, bail};
use nalgebra::DMatrix;

use super::analyze::{Analysis, analyze};
use super::barrier::split_barrier;
use super::merge::average;
use super::{AlignOptions, Method, align, permute};
use crate::data::Dataset;
use crate::nn::train::{Eval, evaluate};
use crate::nn::{Dense, Mlp};

/// Fractions of each layer's rank kept by the truncation check.
pub const TRUNCATION_FRACTIONS: [f64; 5] = [0.05, 0.1, 0.25, 0.5, 1.0];
/// Points on the interpolation paths of the barriers (test split).
pub const BARRIER_POINTS: usize = 11;

/// One aligned model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlignedEntry {
    /// Index of the model among the inputs (1-based; 1 is the reference).
    pub model: usize,
    /// Seconds the alignment took.
    pub seconds: f64,
    /// Distances, spectra and singular-vector alignment against the reference.
    pub analysis: Analysis,
}

/// The mean top-k alignment, before and after.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct TopK {
    /// Number of leading singular directions.
    pub k: usize,
    /// Mean absolute cosine, unaligned.
    pub before: f64,
    /// Mean absolute cosine, aligned.
    pub after: f64,
}

/// The test-loss barrier of a pair.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PairBarrier {
    /// 1-based model indices.
    pub pair: [usize; 2],
    /// Loss barrier (SPEC §2.5) on the test split.
    pub loss_barrier: f64,
    /// Accuracy barrier on the test split (fraction).
    pub accuracy_barrier: f64,
}

/// One row of the truncation check.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Truncation {
    /// Fraction of each layer's rank kept.
    pub fraction: f64,
    /// The reference model truncated.
    pub reference: Eval,
    /// The merge of the truncated aligned models.
    pub aligned_merge: Eval,
}

/// The merge of the first `models` inputs (for 2..N), so one run answers "how does merging
/// degrade with the number of models".
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ByCount {
    /// Number of models merged (the first ones, reference included).
    pub models: usize,
    /// Seconds of the alignments this merge needed.
    pub align_seconds: f64,
    /// Mean of those models as they are.
    pub naive_merge: Eval,
    /// Mean of those models aligned.
    pub aligned_merge: Eval,
    /// Mean test-loss barrier between their aligned non-reference models (`None` for 2).
    pub mean_barrier_between_aligned: Option<f64>,
}

/// What the test split says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestReport {
    /// Every input model, in order.
    pub models: Vec<Eval>,
    /// Mean of the models as they are.
    pub naive_merge: Eval,
    /// Mean of the aligned models.
    pub aligned_merge: Eval,
    /// Reference against each aligned model.
    pub barrier_to_reference: Vec<PairBarrier>,
    /// Every two aligned non-reference models (empty for two models).
    pub barrier_between_aligned: Vec<PairBarrier>,
    /// Mean of `barrier_between_aligned` loss barriers (`None` for two models).
    pub mean_barrier_between_aligned: Option<f64>,
    /// The truncation check.
    pub truncation: Vec<Truncation>,
    /// Merges of the first 2, 3, ..., N models.
    pub by_count: Vec<ByCount>,
}

/// The whole study.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ManyAnalysis {
    /// Alignment method.
    pub method: Method,
    /// Number of models (the reference included).
    pub models: usize,
    /// Seconds of all alignments together.
    pub align_seconds: f64,
    /// Models 2..N against the reference.
    pub aligned: Vec<AlignedEntry>,
    /// Mean top-k alignment for k = 1..K.
    pub topk: Vec<TopK>,
    /// With data: accuracy, merges, barriers, truncation.
    pub test: Option<TestReport>,
}

/// Aligns `models[1..]` to `models[0]` with `method` (activation matching and STE on `train`)
/// and measures them; `test` adds the evaluations.
pub fn analyze_many(
    models: &[Mlp],
    method: Method,
    train: Option<&Dataset>,
    test: Option<&Dataset>,
    opts: &AlignOptions,
    k: usize,
) -> Result<ManyAnalysis> {
    let Some((reference, others)) = models.split_first() else {
        bail!("the analysis needs at least two models");
    };
    if others.is_empty() {
        bail!("the analysis needs at least two models");
    }
    let mut aligned_models = vec![reference.clone()];
    let mut aligned = Vec::with_capacity(others.len());
    let mut align_seconds = 0.0;
    for (i, m) in others.iter().enumerate() {
        let start = std::time::Instant::now();
        let perms = match align(reference, m, method, train, opts)? {
            Some(al) => al.perms,
            None => Vec::new(),
        };
        let seconds = start.elapsed().as_secs_f64();
        align_seconds += seconds;
        let b = if perms.is_empty() {
            m.clone()
        } else {
            permute(m, &perms)
        };
        aligned.push(AlignedEntry {
            model: i + 2,
            seconds,
            analysis: analyze(reference, m, &b, k)?,
        });
        aligned_models.push(b);
    }
    let topk = topk_curve(&aligned, k);
    let test = match test {
        Some(data) => {
            let seconds: Vec<f64> = aligned.iter().map(|e| e.seconds).collect();
            Some(test_report(models, &aligned_models, &seconds, data)?)
        }
        None => None,
    };
    Ok(ManyAnalysis {
        method,
        models: models.len(),
        align_seconds,
        aligned,
        topk,
        test,
    })
}

fn topk_curve(aligned: &[AlignedEntry], k: usize) -> Vec<TopK> {
    (1..=k)
        .filter_map(|kk| {
            let (mut before, mut after, mut count) = (0.0, 0.0, 0usize);
            for l in aligned.iter().flat_map(|e| &e.analysis.layers) {
                if l.left_cos_after.len() < kk {
                    continue; // this layer's rank is below k
                }
                let mean = |u: &[f64], v: &[f64]| {
                    (u[..kk].iter().sum::<f64>() + v[..kk].iter().sum::<f64>()) / (2 * kk) as f64
                };
                before += mean(&l.left_cos_before, &l.right_cos_before);
                after += mean(&l.left_cos_after, &l.right_cos_after);
                count += 1;
            }
            (count > 0).then(|| TopK {
                k: kk,
                before: before / count as f64,
                after: after / count as f64,
            })
        })
        .collect()
}

/// `seconds[i]`: how long aligning model `i + 2` took.
fn test_report(
    models: &[Mlp],
    aligned: &[Mlp],
    seconds: &[f64],
    data: &Dataset,
) -> Result<TestReport> {
    let pair = |i: usize, j: usize| -> Result<PairBarrier> {
        let c = split_barrier(&aligned[i], &aligned[j], data, BARRIER_POINTS)?;
        Ok(PairBarrier {
            pair: [i + 1, j + 1],
            loss_barrier: c.loss_barrier,
            accuracy_barrier: c.accuracy_barrier,
        })
    };
    let barrier_to_reference = (1..aligned.len())
        .map(|j| pair(0, j))
        .collect::<Result<Vec<_>>>()?;
    let mut barrier_between_aligned = Vec::new();
    for i in 1..aligned.len() {
        for j in i + 1..aligned.len() {
            barrier_between_aligned.push(pair(i, j)?);
        }
    }
    // Mean barrier between the aligned non-reference models among the first `n`.
    let mean_between = |n: usize| -> Option<f64> {
        let within: Vec<f64> = barrier_between_aligned
            .iter()
            .filter(|p| p.pair[1] <= n)
            .map(|p| p.loss_barrier)
            .collect();
        (!within.is_empty()).then(|| within.iter().sum::<f64>() / within.len() as f64)
    };
    let mean_barrier_between_aligned = mean_between(aligned.len());
    let by_count = (2..=aligned.len())
        .map(|n| {
            Ok(ByCount {
                models: n,
                align_seconds: seconds[..n - 1].iter().sum(),
                naive_merge: evaluate(&average(&models[..n])?, data)?,
                aligned_merge: evaluate(&average(&aligned[..n])?, data)?,
                mean_barrier_between_aligned: mean_between(n),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let svds: Vec<Vec<LayerSvd>> = aligned
        .iter()
        .map(|m| m.layers.iter().map(LayerSvd::of).collect::<Result<_>>())
        .collect::<Result<_>>()?;
    let truncation = TRUNCATION_FRACTIONS
        .iter()
        .map(|&f| {
            let cut: Vec<Mlp> = aligned
                .iter()
                .zip(&svds)
                .map(|(m, s)| truncated(m, s, f))
                .collect();
            Ok(Truncation {
                fraction: f,
                reference: evaluate(&cut[0], data)?,
                aligned_merge: evaluate(&average(&cut)?, data)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TestReport {
        models: models
            .iter()
            .map(|m| evaluate(m, data))
            .collect::<Result<_>>()?,
        naive_merge: evaluate(&average(models)?, data)?,
        aligned_merge: evaluate(&average(aligned)?, data)?,
        barrier_to_reference,
        barrier_between_aligned,
        mean_barrier_between_aligned,
        truncation,
        by_count,
    })
}

/// A layer's weight as `U Σ Vᵀ`, σ descending.
struct LayerSvd {
    u: DMatrix<f64>,
    sigma: Vec<f64>,
    v_t: DMatrix<f64>,
}

impl LayerSvd {
    fn of(d: &Dense) -> Result<Self> {
        let m =
            DMatrix::from_row_iterator(d.out_dim, d.in_dim, d.weight.iter().map(|&x| f64::from(x)));
        let s = m.svd(true, true);
        let (Some(u), Some(v_t)) = (s.u, s.v_t) else {
            bail!("SVD did not return singular vectors");
        };
        let mut idx: Vec<usize> = (0..s.singular_values.len()).collect();
        idx.sort_by(|&i, &j| s.singular_values[j].total_cmp(&s.singular_values[i]));
        Ok(Self {
            u: u.select_columns(&idx),
            sigma: idx.iter().map(|&i| s.singular_values[i]).collect(),
            v_t: v_t.select_rows(&idx),
        })
    }

    /// The best rank-`r` approximation, row-major.
    fn rank(&self, r: usize) -> Vec<f32> {
        let r = r.min(self.sigma.len());
        let mut us = self.u.columns(0, r).into_owned();
        for (j, &s) in self.sigma[..r].iter().enumerate() {
            us.column_mut(j).scale_mut(s);
        }
        let w = us * self.v_t.rows(0, r);
        let mut out = Vec::with_capacity(w.nrows() * w.ncols());
        for row in w.row_iter() {
            out.extend(row.iter().map(|&x| x as f32));
        }
        out
    }
}

/// `m` with every layer's weight cut to its top `ceil(f · rank)` singular components (at least
/// one); biases kept.
fn truncated(m: &Mlp, svds: &[LayerSvd], f: f64) -> Mlp {
    Mlp {
        layers: m
            .layers
            .iter()
            .zip(svds)
            .map(|(l, s)| {
                let r = ((f * s.sigma.len() as f64).ceil() as usize).clamp(1, s.sigma.len());
                Dense {
                    weight: if r == s.sigma.len() {
                        l.weight.clone()
                    } else {
                        s.rank(r)
                    },
                    ..l.clone()
                }
            })
            .collect(),
    }
}

/// Draws the mean top-k alignment against k, before (grey) and after (blue); the format follows
/// the extension; rendered in memory and written atomically.
pub fn plot(r: &ManyAnalysis, path: &Path) -> Result<()> {
    let format = crate::output::plot::PlotFormat::of(path)?;
    let bytes = crate::output::plot::render(
        format,
        (800, 500),
        |root| draw(r, root),
        |root| draw(r, root),
    )?;
    crate::output::write_atomic(path, &bytes)
}

fn draw<DB: plotters::prelude::DrawingBackend>(
    r: &ManyAnalysis,
    root: plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing the plot: {e}");
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let kmax = r.topk.last().map_or(1, |t| t.k).max(2);
    let method = serde_json::to_value(r.method)?
        .as_str()
        .unwrap_or("?")
        .to_string();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "top-k singular-vector alignment, {} models, {method} matching",
                r.models
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(1f64..kmax as f64, 0f64..1.05f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("k (leading singular directions)")
        .y_desc("mean |cos|")
        .draw()
        .map_err(|e| err(&e))?;
    for (after, color, label) in [
        (false, RGBColor(140, 140, 140), "before"),
        (true, BLUE, "after"),
    ] {
        let pts: Vec<(f64, f64)> = r
            .topk
            .iter()
            .map(|t| (t.k as f64, if after { t.after } else { t.before }))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(format!("{label} alignment"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::Permutation;
    use crate::nn::testing::random_mlp;
    use crate::rng::Rng;

    #[test]
    fn rank_truncation_hand_worked() {
        // [[3, 0], [0, 1]]: rank 1 keeps the 3.
        let d = Dense {
            out_dim: 2,
            in_dim: 2,
            weight: vec![3.0, 0.0, 0.0, 1.0],
            bias: vec![0.5, 0.5],
        };
        let s = LayerSvd::of(&d).expect("svd");
        let w = s.rank(1);
        assert!(
            (w[0] - 3.0).abs() < 1e-6 && w[1].abs() < 1e-6 && w[3].abs() < 1e-6,
            "{w:?}"
        );
        assert_eq!(s.rank(2), d.weight);
    }

    #[test]
    fn permuted_copies_align_perfectly_with_every_method_that_needs_no_data() {
        // Models 2 and 3 are permutations of model 1: after weight matching, every singular
        // vector lines up (alignment 1 for every k) and the aligned merge is model 1.
        let mut rng = Rng::new(4);
        let a = random_mlp(&[9, 12, 10, 4], &mut rng);
        let perm = |rng: &mut Rng| vec![Permutation::random(12, rng), Permutation::random(10, rng)];
        let models = [
            a.clone(),
            permute(&a, &perm(&mut rng)),
            permute(&a, &perm(&mut rng)),
        ];
        let r = analyze_many(
            &models,
            Method::Weight,
            None,
            None,
            &AlignOptions::default(),
            4,
        )
        .expect("analyzes");
        assert_eq!(r.aligned.len(), 2);
        assert_eq!(r.topk.len(), 4);
        for t in &r.topk {
            assert!((t.after - 1.0).abs() < 1e-9, "{t:?}");
        }
        assert!(r.topk[0].before < 0.999, "a random permutation misaligns");
        for e in &r.aligned {
            assert_eq!(e.analysis.distance_after, 0.0);
        }
    }

    #[test]
    fn evaluation_of_a_planted_family() {
        let (train, test) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let mut rng = Rng::new(5);
        let a = crate::nn::train::init_mlp(&[64, 16, 10], &mut rng);
        let models = [
            a.clone(),
            permute(&a, &[Permutation::random(16, &mut rng)]),
            permute(&a, &[Permutation::random(16, &mut rng)]),
        ];
        for method in [Method::Weight, Method::Activation] {
            let r = analyze_many(
                &models,
                method,
                Some(&train),
                Some(&test),
                &AlignOptions::default(),
                3,
            )
            .expect("analyzes");
            let t = r.test.expect("with data");
            let ref_eval = t.models[0];
            assert!(
                (t.aligned_merge.loss - ref_eval.loss).abs() < 1e-5,
                "{method:?}"
            );
            assert!(t.mean_barrier_between_aligned.expect("3 models") < 1e-5);
            let full = t.truncation.last().expect("fractions");
            assert_eq!(full.fraction, 1.0);
            assert!((full.reference.loss - ref_eval.loss).abs() < 1e-9);
            assert_eq!(t.truncation.len(), TRUNCATION_FRACTIONS.len());
            assert_eq!(t.by_count.len(), 2);
            assert!(t.by_count[0].mean_barrier_between_aligned.is_none());
            assert_eq!(t.by_count[1].aligned_merge, t.aligned_merge);
        }
    }
}
