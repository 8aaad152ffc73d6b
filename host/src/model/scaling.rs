//! The input scaling of a model trained on a data file: `mote train` stores the training split's
//! per-channel ranges in the safetensors metadata (`mote.input_scaling`), and `mote quantize`
//! turns them into the model file's first layer (min–max scale), so the device and the host
//! simulator take the sensor's or the file's own units and scale them as training did.

use std::path::Path;

use anyhow::{Context, Result, bail};
use mote_core::model::{Layer, LayerInfo, Model};
use serde::{Deserialize, Serialize};

use crate::data::file::Scaling;

/// Per-channel training ranges: value `i` of a row belongs to channel `i / channel_length`
/// (rows are channel-major) and becomes `clamp((x − min[c]) / (max[c] − min[c]), 0, 1)`, or 0
/// where `max[c] = min[c]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputScaling {
    /// The rule, for a reader of the metadata (not read back).
    #[serde(default)]
    pub rule: String,
    /// Values per channel in a row.
    pub channel_length: usize,
    /// Per channel, the smallest training value.
    pub min: Vec<f32>,
    /// Per channel, the largest training value.
    pub max: Vec<f32>,
}

impl InputScaling {
    /// The safetensors metadata key.
    pub const KEY: &'static str = "mote.input_scaling";

    /// The ranges `scaling` applied to rows of `width` values.
    pub fn of(scaling: &Scaling, width: usize) -> InputScaling {
        InputScaling {
            rule: "x' = clamp((x - min[c]) / (max[c] - min[c]), 0, 1); 0 where max[c] = min[c]"
                .into(),
            channel_length: scaling.channel_length(width),
            min: scaling.min.clone(),
            max: scaling.max.clone(),
        }
    }

    /// The metadata entry.
    pub fn to_metadata(&self) -> Result<(String, String)> {
        Ok((Self::KEY.to_string(), serde_json::to_string(self)?))
    }

    /// The scaling a safetensors file's metadata holds, if any, checked against the model's
    /// input width `in_dim`; `path` names the file in errors.
    pub fn from_safetensors(bytes: &[u8], path: &Path, in_dim: usize) -> Result<Option<Self>> {
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let Some(text) = meta.metadata().as_ref().and_then(|m| m.get(Self::KEY)) else {
            return Ok(None);
        };
        let s: InputScaling = serde_json::from_str(text).with_context(|| {
            format!(
                "{}: metadata `{}` is not {{channel_length, min, max}} with finite numbers",
                path.display(),
                Self::KEY
            )
        })?;
        s.check(in_dim)
            .with_context(|| format!("{}: metadata `{}`", path.display(), Self::KEY))?;
        Ok(Some(s))
    }

    fn check(&self, in_dim: usize) -> Result<()> {
        if self.min.len() != self.max.len() {
            bail!("{} minima but {} maxima", self.min.len(), self.max.len());
        }
        if self.channel_length == 0 || self.channel_length * self.min.len() != in_dim {
            bail!(
                "{} channels of {} values do not make the model's {in_dim} inputs",
                self.min.len(),
                self.channel_length
            );
        }
        for (c, (a, b)) in self.min.iter().zip(&self.max).enumerate() {
            if !(a.is_finite() && b.is_finite() && a <= b) {
                bail!("channel {c}: range [{a}, {b}] is not a finite min ≤ max");
            }
        }
        Ok(())
    }

    /// The model file's min–max layer.
    pub fn layer(&self) -> LayerInfo<'_> {
        let n = self.channel_length * self.min.len();
        LayerInfo {
            layer: Layer::MinMaxScale {
                min: &self.min,
                max: &self.max,
                channel_len: self.channel_length,
            },
            in_len: n,
            out_len: n,
        }
    }
}

/// Whether a parsed model scales its own inputs (its first layer is a min–max scale): then it
/// is fed unscaled data ([`crate::data::Catalog::load_unscaled`]).
pub fn scales_its_inputs(model: &Model<'_>) -> bool {
    model
        .layer(0)
        .is_ok_and(|l| matches!(l.layer, Layer::MinMaxScale { .. }))
}

/// `(train, test)` of `data` as `model` takes them: unscaled if the model scales its own inputs,
/// else as the catalog's loaders scale them.
pub fn inputs_for(
    model: &Model<'_>,
    catalog: &crate::data::Catalog,
    data: &str,
) -> Result<(crate::data::Dataset, crate::data::Dataset)> {
    Ok(if scales_its_inputs(model) {
        catalog.load_unscaled(data)?
    } else {
        catalog.load(data)?
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::data::file::Table;
    use crate::model::AlignedModel;
    use crate::model::quantize::{Scheme, quantize, quantize_with};
    use crate::model::simulate::simulate;
    use crate::nn::Mlp;
    use mote_core::check::XorShift32;

    /// A table of `rows` rows of 2 channels × 3 values in wild units, labels alternating.
    fn table(rows: usize, seed: u32) -> Table {
        let mut rng = XorShift32(seed);
        let values = (0..rows * 6)
            .map(|i| {
                let ch = (i % 6) / 3;
                if ch == 0 {
                    900.0 + 200.0 * rng.next_f32()
                } else {
                    -0.01 * rng.next_f32()
                }
            })
            .collect();
        Table {
            path: "t.csv".into(),
            values,
            rows,
            width: 6,
            channels: 2,
            channel_names: vec!["a".into(), "b".into()],
            labels: (0..rows as u32).map(|i| i % 2).collect(),
            class_names: vec!["x".into(), "y".into()],
            dropped: 0,
        }
    }

    fn mlp() -> Mlp {
        crate::nn::testing::random_mlp(&[6, 5, 2], &mut crate::rng::Rng::new(5))
    }

    fn outputs(bytes: &[u8], data: &Dataset) -> Vec<Vec<u32>> {
        let file = AlignedModel::new(bytes);
        let m = file.parse().expect("parses");
        simulate(&m, data)
            .expect("runs")
            .outputs
            .iter()
            .map(|o| o.output.iter().map(|v| v.to_bits()).collect())
            .collect()
    }

    #[test]
    fn a_file_that_scales_its_inputs_computes_what_the_scaled_data_gives() {
        let (train, test) = (table(30, 1), table(12, 2));
        let scaling = Scaling::of(&train);
        let s = InputScaling::of(&scaling, train.width);
        assert_eq!(s.channel_length, 3);
        let scaled = scaling.into_dataset(test.clone());
        let raw = crate::data::file::table::unscaled(test);
        for scheme in [Scheme::F32, Scheme::LmulE4m3] {
            let plain = quantize(&mlp(), scheme, None).expect("quantizes");
            let with = quantize_with(&mlp(), scheme, None, &[s.layer()]).expect("quantizes");
            let file = AlignedModel::new(&with);
            assert!(scales_its_inputs(&file.parse().expect("parses")));
            // Raw inputs through the file's min-max layer = the loader's scaling, bit for bit.
            assert_eq!(outputs(&with, &raw), outputs(&plain, &scaled), "{scheme:?}");
        }
    }

    #[test]
    fn metadata_round_trips_and_bad_metadata_is_refused_naming_the_key() {
        let s = InputScaling::of(&Scaling::of(&table(4, 3)), 6);
        let st = |meta: (String, String)| mlp().to_safetensors_with(&[meta]);
        let path = Path::new("m.safetensors");
        let back = InputScaling::from_safetensors(&st(s.to_metadata().unwrap()), path, 6)
            .expect("reads")
            .expect("present");
        assert_eq!((back.min, back.max), (s.min.clone(), s.max.clone()));
        assert!(
            InputScaling::from_safetensors(&mlp().to_safetensors(), path, 6)
                .expect("reads")
                .is_none()
        );
        let err = |json: &str| {
            format!(
                "{:#}",
                InputScaling::from_safetensors(
                    &st((InputScaling::KEY.into(), json.into())),
                    path,
                    6
                )
                .unwrap_err()
            )
        };
        let e = err(r#"{"channel_length": 3, "min": [0, null], "max": [1, 1]}"#);
        assert!(
            e.contains("m.safetensors") && e.contains(InputScaling::KEY),
            "{e}"
        );
        let e = err(r#"{"channel_length": 2, "min": [0, 0], "max": [1, 1]}"#);
        assert!(e.contains("do not make the model's 6 inputs"), "{e}");
        let e = err(r#"{"channel_length": 3, "min": [0, 2], "max": [1, 1]}"#);
        assert!(e.contains("channel 1"), "{e}");
    }
}
