//! A learned dictionary as the feature stage of a model file: `mote dict -o dict.mote` writes it
//! (an optional min–max layer for data-file inputs, then the `OrthoDict` layer), `mote train
//! --dict dict.mote` trains a classifier on its outputs, and `mote quantize --dict dict.mote`
//! puts the same layers in front of the classifier's, so the device computes the features the
//! classifier was trained on, bit for bit (the host computes them with `mote-core`'s executor).

use std::path::Path;

use anyhow::{Context, Result, bail};
use mote_core::model::{DictMode, Layer, LayerInfo, Model};
use serde::Serialize;

use crate::data::Dataset;
use crate::model::AlignedModel;
use crate::model::quantize::encode;
use crate::model::scaling::InputScaling;
use crate::model::simulate::for_each_output;

/// What the dictionary stage outputs (`--mode` of `mote dict -o`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureMode {
    /// The full code `A x` (n values).
    Encode,
    /// The code with all but the k largest-magnitude coefficients zeroed (n values).
    TopK,
    /// The top-k reconstruction `Aᵀ top_k(A x)` (n values): a denoised window.
    Denoise,
    /// The RMS error of that reconstruction (1 value): an anomaly score.
    Anomaly,
}

impl FeatureMode {
    fn core(self) -> DictMode {
        match self {
            FeatureMode::Encode => DictMode::Encode,
            FeatureMode::TopK => DictMode::TopK,
            FeatureMode::Denoise => DictMode::Denoise,
            FeatureMode::Anomaly => DictMode::Anomaly,
        }
    }
}

/// The feature model's bytes: `scaling`'s min–max layer if given, then the dictionary of `n`
/// atoms (`atoms`: `n × n`, row-major) in `mode` keeping `k` coefficients (ignored for
/// [`FeatureMode::Encode`]).
pub fn dict_model(
    atoms: &[f32],
    n: usize,
    mode: FeatureMode,
    k: usize,
    scaling: Option<&InputScaling>,
) -> Result<Vec<u8>> {
    if mode != FeatureMode::Encode && !(1..=n).contains(&k) {
        bail!("--k {k} must be between 1 and the window size {n}");
    }
    let out_len = if mode == FeatureMode::Anomaly { 1 } else { n };
    let dict = LayerInfo {
        layer: Layer::OrthoDict {
            atoms,
            mode: mode.core(),
            k: if mode == FeatureMode::Encode { 0 } else { k },
        },
        in_len: n,
        out_len,
    };
    let layers: Vec<LayerInfo<'_>> = scaling
        .map(InputScaling::layer)
        .into_iter()
        .chain([dict])
        .collect();
    encode(&layers, n)
}

/// A feature model read from a file: stateless, made of min–max and dictionary layers only.
pub struct DictFeatures {
    file: AlignedModel,
}

impl DictFeatures {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<DictFeatures> {
        let file = AlignedModel::read(path)?;
        let m = file
            .parse()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut has_dict = false;
        for i in 0..m.layer_count() {
            match m.layer(i)?.layer {
                Layer::MinMaxScale { .. } if i == 0 => {}
                Layer::OrthoDict { .. } => has_dict = true,
                other => bail!(
                    "{}: layer {i} is a {} layer; a feature model (`mote dict -o`) holds an \
                     optional min-max layer and dictionary layers",
                    path.display(),
                    other.name()
                ),
            }
        }
        if !has_dict {
            bail!(
                "{}: no dictionary layer (write one with `mote dict -o`)",
                path.display()
            );
        }
        Ok(DictFeatures { file })
    }

    /// The parsed model.
    pub fn model(&self) -> Result<Model<'_>> {
        self.file.parse().map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Its layers, to put in front of a classifier's.
    pub fn layers(&self) -> Result<Vec<LayerInfo<'_>>> {
        let m = self.model()?;
        (0..m.layer_count())
            .map(|i| m.layer(i).map_err(|e| anyhow::anyhow!("{e}")))
            .collect()
    }

    /// The features of every sample of `data` (as the device computes them).
    pub fn apply(&self, data: &Dataset) -> Result<Dataset> {
        let m = self.model()?;
        if data.d != m.input_len() {
            bail!(
                "the data has {} values per sample; the dictionary takes windows of {}",
                data.d,
                m.input_len()
            );
        }
        let d = m.output_len();
        let mut features = Vec::with_capacity(data.n * d);
        for_each_output(&m, data, |_, y| features.extend_from_slice(y))
            .context("dictionary features")?;
        Ok(Dataset {
            features,
            labels: data.labels.clone(),
            n: data.n,
            d,
            classes: data.classes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use mote_core::check::XorShift32;

    fn mote(args: &[&str]) {
        let cli =
            crate::cli::Cli::try_parse_from(std::iter::once("mote").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        crate::cli::run(cli).unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
    }

    /// A 3-axis recording in mg with a label per row: 16 stretches of 128 rows, "still" (gravity
    /// plus noise) and "shake" (a 4 Hz swing at 64 Hz) alternating.
    fn recording() -> String {
        let mut rng = XorShift32(11);
        let mut text = String::from("ax,ay,az,activity\r\n");
        for row in 0..2048 {
            let shake = (row / 128) % 2 == 1;
            let t = row as f32 / 64.0;
            let swing = if shake {
                400.0 * (t * 4.0 * std::f32::consts::TAU).sin()
            } else {
                0.0
            };
            let mut n = || 20.0 * (rng.next_f32() - 0.5);
            text += &format!(
                "{:.1},{:.1},{:.1},{}\r\n",
                swing + n(),
                0.5 * swing + n(),
                1000.0 + n(),
                if shake { "shake" } else { "still" }
            );
        }
        text
    }

    #[test]
    fn csv_to_dictionary_features_to_a_classifier_file_that_takes_raw_windows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(p("walk.csv"), recording()).expect("writes");
        let (csv, dict, clf, mote_file) = (
            p("walk.csv"),
            p("dict.mote"),
            p("clf.safetensors"),
            p("clf.mote"),
        );
        fn with<'a>(args: &[&'a str]) -> Vec<&'a str> {
            [
                args,
                &["--window", "16", "--hop", "8", "--label", "activity"],
            ]
            .concat()
        }
        mote(&with(&[
            "dict", "--data", &csv, "--batch", "4", "--k", "6", "--json", "-o", &dict,
        ]));
        let d = DictFeatures::read(Path::new(&dict)).expect("a feature model");
        assert!(crate::model::scaling::scales_its_inputs(
            &d.model().expect("parses")
        ));
        let m = d.model().expect("parses");
        assert_eq!(
            (m.input_len(), m.output_len(), m.layer_count()),
            (48, 48, 2)
        );
        mote(&with(&[
            "train",
            "--data",
            &csv,
            "--dict",
            &dict,
            "--hidden",
            "16",
            "--epochs",
            "30",
            "--batch-size",
            "16",
            "--lr",
            "0.01",
            "--json",
            "-o",
            &clf,
        ]));
        mote(&with(&[
            "quantize", &clf, "--dict", &dict, "--scheme", "int8", "--calib", &csv, "-o",
            &mote_file,
        ]));
        let file = AlignedModel::read(Path::new(&mote_file)).expect("reads");
        let model = file.parse().expect("parses");
        let kinds: Vec<&str> = (0..model.layer_count())
            .map(|i| model.layer(i).expect("layer").layer.name())
            .collect();
        assert_eq!(
            kinds,
            [
                "min-max scale",
                "ortho-dict",
                "quantize",
                "dense int8",
                "dense int8",
                "dequantize"
            ]
        );
        // The classifier file on raw windows = the feature file then the classifier alone on
        // its features: the stages compose exactly, and the windows are told apart.
        let catalog = crate::data::Catalog::default().with_files(crate::data::file::FileOptions {
            window: Some(16),
            hop: Some(8),
            label: Some("activity".into()),
            ..Default::default()
        });
        let (_, raw) = catalog.load_unscaled(&csv).expect("loads");
        let report = crate::model::simulate::simulate(&model, &raw).expect("runs");
        assert!(report.accuracy >= 0.9, "accuracy {}", report.accuracy);
        let features = d.apply(&raw).expect("features");
        assert_eq!(features.d, 48);
        let e = DictFeatures::read(Path::new(&mote_file))
            .err()
            .expect("not a feature model");
        assert!(
            format!("{e:#}").contains("layer 2 is a quantize layer"),
            "{e:#}"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let atoms = {
            let mut a = vec![0.0f32; 64];
            mote_core::dict::dct_basis(8, &mut a).expect("dct");
            a
        };
        let e = dict_model(&atoms, 8, FeatureMode::TopK, 9, None).unwrap_err();
        assert!(format!("{e}").contains("--k 9 must be between 1 and the window size 8"));
        let bytes = dict_model(&atoms, 8, FeatureMode::Anomaly, 2, None).expect("writes");
        let m = AlignedModel::new(&bytes);
        assert_eq!(m.parse().expect("parses").output_len(), 1);
    }
}
