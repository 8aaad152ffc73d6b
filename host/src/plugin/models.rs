//! Models as plain f32 safetensors files, for `mote plugin merge` (until `mote merge` takes
//! `--rule plugin:`): every input must hold the same tensor names with the same shapes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use safetensors::{Dtype, SafeTensors};

/// One named f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Name in the file.
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// `product(shape)` values.
    pub data: Vec<f32>,
}

/// The tensors of one model file, sorted by name.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Where it was read from (for errors).
    pub path: PathBuf,
    /// Its tensors, sorted by name.
    pub tensors: Vec<Tensor>,
}

impl Model {
    /// Reads an f32 safetensors file, sizes first ([`crate::input::safetensors`]: header
    /// length, header, then only the data its offsets declare, checked against the file and
    /// the memory).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = crate::input::safetensors(path).map_err(|e| match e.kind {
            crate::input::InputErrorKind::Invalid(m) => {
                anyhow::anyhow!("{}: not a valid safetensors file: {m}", path.display())
            }
            _ => anyhow::Error::new(e),
        })?;
        Self::parse(path, &bytes)
    }

    /// Parses safetensors `bytes`; `path` is only used in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .with_context(|| format!("{}: not a valid safetensors file", path.display()))?;
        let mut tensors = Vec::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                bail!(
                    "{}: tensor `{name}` is {:?}, expected F32",
                    path.display(),
                    view.dtype()
                );
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            tensors.push(Tensor {
                name,
                shape: view.shape().to_vec(),
                data,
            });
        }
        if tensors.is_empty() {
            bail!("{}: holds no tensors", path.display());
        }
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// Checks that `other` has exactly this model's tensor names and shapes.
    pub fn check_aligned(&self, other: &Model) -> Result<()> {
        for t in &self.tensors {
            let Some(o) = other.tensors.iter().find(|o| o.name == t.name) else {
                bail!(
                    "{}: tensor `{}` (present in {}) is missing",
                    other.path.display(),
                    t.name,
                    self.path.display()
                );
            };
            if o.shape != t.shape {
                bail!(
                    "{}: tensor `{}` has shape {:?}, expected {:?} as in {}",
                    other.path.display(),
                    t.name,
                    o.shape,
                    t.shape,
                    self.path.display()
                );
            }
        }
        if let Some(extra) = other
            .tensors
            .iter()
            .find(|o| !self.tensors.iter().any(|t| t.name == o.name))
        {
            bail!(
                "{}: tensor `{}` is not in {}",
                other.path.display(),
                extra.name,
                self.path.display()
            );
        }
        Ok(())
    }

    /// The tensor called `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Total number of f32 values.
    pub fn values(&self) -> usize {
        self.tensors.iter().map(|t| t.data.len()).sum()
    }
}

/// Serialises `tensors` as an f32 safetensors file with `metadata` in its header.
pub fn to_safetensors(tensors: &[Tensor], metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            let raw = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
            (t.name.clone(), t.shape.clone(), raw)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, raw)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), raw)
                .map(|v| (name.clone(), v))
                .with_context(|| format!("tensor `{name}`: data does not match shape {shape:?}"))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(metadata)).context("serialising safetensors")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, shape: &[usize], data: &[f32]) -> Tensor {
        Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            data: data.to_vec(),
        }
    }

    #[test]
    fn round_trip_and_alignment_errors() {
        let a = [
            t("w", &[2, 2], &[1.0, -2.0, 3.0, 4.5]),
            t("b", &[2], &[0.0, 1.0]),
        ];
        let bytes = to_safetensors(&a, HashMap::new()).expect("serialises");
        let m = Model::parse(Path::new("a.safetensors"), &bytes).expect("parses");
        assert_eq!(m.tensors.len(), 2);
        assert_eq!(m.tensor("w").expect("w").data, vec![1.0, -2.0, 3.0, 4.5]);
        assert_eq!(m.values(), 6);

        let b_bytes = to_safetensors(
            &[t("w", &[4], &[0.0; 4]), t("b", &[2], &[0.0; 2])],
            HashMap::new(),
        )
        .expect("serialises");
        let b = Model::parse(Path::new("b.safetensors"), &b_bytes).expect("parses");
        let e = m.check_aligned(&b).unwrap_err().to_string();
        assert!(
            e.contains("b.safetensors") && e.contains("`w`") && e.contains("[4]"),
            "{e}"
        );

        let c_bytes = to_safetensors(&[t("w", &[2, 2], &[0.0; 4])], HashMap::new()).expect("ok");
        let c = Model::parse(Path::new("c.safetensors"), &c_bytes).expect("parses");
        let e = m.check_aligned(&c).unwrap_err().to_string();
        assert!(
            e.contains("c.safetensors") && e.contains("`b`") && e.contains("missing"),
            "{e}"
        );
        let e = c.check_aligned(&m).unwrap_err().to_string();
        assert!(e.contains("`b`") && e.contains("not in"), "{e}");
    }

    #[test]
    fn rejects_non_f32_and_garbage() {
        let raw = [0u8; 4];
        let view = safetensors::tensor::TensorView::new(Dtype::I32, vec![1], &raw).expect("view");
        let bytes = safetensors::serialize(vec![("ids", view)], None).expect("serialises");
        let e = Model::parse(Path::new("ints.safetensors"), &bytes)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ints.safetensors") && e.contains("`ids`") && e.contains("F32"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            Model::parse(Path::new("junk.safetensors"), b"junk").unwrap_err()
        );
        assert!(e.contains("junk.safetensors"), "{e}");
    }
}
