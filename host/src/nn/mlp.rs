//! Multilayer perceptrons `Linear → ReLU → … → Linear` and their safetensors files (SPEC §0.2).
//!
//! A file written by PyTorch from `nn.Sequential(Linear, ReLU, ..., Linear)` has the keys
//! `0.weight`, `0.bias`, `2.weight`, `2.bias`, ... (weights `[out, in]`, row-major); a
//! `ModuleList` named `layers` gives `layers.0.weight`, `layers.1.weight`, .... Both load as-is,
//! in f32, f16 or bf16. mote always writes f32 with the `nn.Sequential` names, so
//! `model.load_state_dict(safetensors.torch.load_file(path))` works on the PyTorch side.
//!
//! Loading is strict because a silently wrong model is worse than none: every tensor must belong
//! to a layer, every layer needs its weight and bias, shapes must chain, and no value may be NaN
//! or infinite. Errors name the file and the tensor.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

/// One fully connected layer `y = W x + b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Output width (rows of `weight`).
    pub out_dim: usize,
    /// Input width (columns of `weight`).
    pub in_dim: usize,
    /// Row-major `[out_dim, in_dim]`.
    pub weight: Vec<f32>,
    /// `[out_dim]`.
    pub bias: Vec<f32>,
}

impl Dense {
    /// Row `o` of the weight matrix (the incoming weights of output unit `o`).
    pub fn row(&self, o: usize) -> &[f32] {
        &self.weight[o * self.in_dim..(o + 1) * self.in_dim]
    }
}

/// An MLP: dense layers with ReLU between consecutive layers and none after the last.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// The layers, input first.
    pub layers: Vec<Dense>,
}

/// Why a model file was rejected. Every variant names the file; most name a tensor.
#[derive(Debug)]
#[non_exhaustive]
pub enum ModelError {
    /// The file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file.
    Format {
        /// The file.
        path: PathBuf,
        /// What the safetensors parser said.
        message: String,
    },
    /// A tensor whose name is not `N.weight`, `N.bias`, `layers.N.weight` or `layers.N.bias`.
    UnexpectedTensor {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
    },
    /// A layer has a weight but no bias or the other way round, or the file has no layer.
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor that should be there.
        tensor: String,
    },
    /// A tensor's element type is not f32, f16 or bf16.
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// The dtype found.
        found: String,
    },
    /// A tensor's shape is wrong (rank, or not chaining with its neighbours).
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// The expected shape, in words (`[512, *]`, `[512]`).
        expected: String,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A NaN or infinite value.
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// Flat index of the first bad element.
        index: usize,
        /// The value.
        value: f32,
    },
    /// Two models that should have the same architecture do not.
    Architecture {
        /// The reference file.
        a: PathBuf,
        /// The file that differs.
        b: PathBuf,
        /// The tensor where they first differ, with both shapes.
        detail: String,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Format { path, message } => {
                write!(
                    f,
                    "{}: not a valid safetensors file: {message}",
                    path.display()
                )
            }
            Self::UnexpectedTensor { path, tensor } => write!(
                f,
                "{}: unexpected tensor `{tensor}` (an MLP file holds only N.weight/N.bias or \
                 layers.N.weight/layers.N.bias)",
                path.display()
            ),
            Self::MissingTensor { path, tensor } => {
                write!(f, "{}: missing tensor `{tensor}`", path.display())
            }
            Self::Dtype {
                path,
                tensor,
                found,
            } => write!(
                f,
                "{}: tensor `{tensor}` has dtype {found}, expected F32, F16 or BF16",
                path.display()
            ),
            Self::Shape {
                path,
                tensor,
                expected,
                found,
            } => write!(
                f,
                "{}: tensor `{tensor}` has shape {found:?}, expected {expected}",
                path.display()
            ),
            Self::NonFinite {
                path,
                tensor,
                index,
                value,
            } => write!(
                f,
                "{}: tensor `{tensor}` has non-finite value {value} at flat index {index}",
                path.display()
            ),
            Self::Architecture { a, b, detail } => write!(
                f,
                "{} and {} have different architectures: {detail}",
                a.display(),
                b.display()
            ),
        }
    }
}

impl std::error::Error for ModelError {}

impl From<crate::input::InputError> for ModelError {
    fn from(e: crate::input::InputError) -> Self {
        match e.kind {
            crate::input::InputErrorKind::Invalid(message) => ModelError::Format {
                path: e.path,
                message,
            },
            _ => {
                let path = e.path.clone();
                ModelError::Io {
                    path,
                    source: e.into_io(),
                }
            }
        }
    }
}

/// Which half of a layer a tensor name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Weight,
    Bias,
}

/// Parses `N.weight`, `layers.N.bias`, ... into (prefix, N, part).
fn parse_key(key: &str) -> Option<(&'static str, usize, Part)> {
    let (prefix, rest) = match key.strip_prefix("layers.") {
        Some(rest) => ("layers.", rest),
        None => ("", key),
    };
    let (idx, part) = rest.split_once('.')?;
    if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = match part {
        "weight" => Part::Weight,
        "bias" => Part::Bias,
        _ => return None,
    };
    Some((prefix, idx.parse().ok()?, part))
}

/// Converts a tensor to f32, rejecting unsupported dtypes and non-finite values.
pub(crate) fn to_f32(
    path: &Path,
    name: &str,
    view: &TensorView<'_>,
) -> Result<Vec<f32>, ModelError> {
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => {
            return Err(ModelError::Dtype {
                path: path.to_path_buf(),
                tensor: name.to_string(),
                found: format!("{other:?}"),
            });
        }
    };
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(ModelError::NonFinite {
            path: path.to_path_buf(),
            tensor: name.to_string(),
            index,
            value,
        });
    }
    Ok(values)
}

impl Mlp {
    /// Reads and validates a safetensors file. Sizes come first ([`crate::input::safetensors`]):
    /// the header length, the header, then only the tensor data its offsets declare once that
    /// is checked against the file and the memory, so `/dev/zero` fails at once.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = crate::input::safetensors(path).map_err(ModelError::from)?;
        Self::from_safetensors(&bytes, path)
    }

    /// Parses safetensors bytes; `path` is used only in error messages.
    pub fn from_safetensors(bytes: &[u8], path: &Path) -> Result<Self, ModelError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // (layer index) -> (weight, bias), keeping the original names for messages.
        let mut slots: BTreeMap<usize, [Option<(String, TensorView<'_>)>; 2]> = BTreeMap::new();
        let mut prefix_seen: Option<&'static str> = None;
        let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
        names.sort();
        for name in names {
            let unexpected = || ModelError::UnexpectedTensor {
                path: path.to_path_buf(),
                tensor: name.clone(),
            };
            let (prefix, idx, part) = parse_key(&name).ok_or_else(unexpected)?;
            // Mixing `0.weight` and `layers.1.weight` would make the layer order ambiguous.
            if *prefix_seen.get_or_insert(prefix) != prefix {
                return Err(unexpected());
            }
            let view = st.tensor(&name).map_err(|e| ModelError::Format {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            let slot = &mut slots.entry(idx).or_default()[part as usize];
            *slot = Some((name, view));
        }
        let prefix = prefix_seen.unwrap_or("");
        if slots.is_empty() {
            return Err(ModelError::MissingTensor {
                path: path.to_path_buf(),
                tensor: "0.weight".into(),
            });
        }
        let mut layers: Vec<Dense> = Vec::with_capacity(slots.len());
        for (idx, [w, b]) in slots {
            let missing = |part: &str| ModelError::MissingTensor {
                path: path.to_path_buf(),
                tensor: format!("{prefix}{idx}.{part}"),
            };
            let (wname, wview) = w.ok_or_else(|| missing("weight"))?;
            let (bname, bview) = b.ok_or_else(|| missing("bias"))?;
            let shape = wview.shape().to_vec();
            let expected_in = layers.last().map(|l| l.out_dim);
            let shape_ok = shape.len() == 2
                && shape[0] > 0
                && shape[1] > 0
                && expected_in.is_none_or(|d| d == shape[1]);
            if !shape_ok {
                return Err(ModelError::Shape {
                    path: path.to_path_buf(),
                    tensor: wname,
                    expected: match expected_in {
                        Some(d) => format!("[*, {d}] (input = previous layer's output)"),
                        None => "[out, in] (rank 2, non-empty)".into(),
                    },
                    found: shape,
                });
            }
            let (out_dim, in_dim) = (shape[0], shape[1]);
            if bview.shape() != [out_dim] {
                return Err(ModelError::Shape {
                    path: path.to_path_buf(),
                    tensor: bname,
                    expected: format!("[{out_dim}]"),
                    found: bview.shape().to_vec(),
                });
            }
            let weight = to_f32(path, &wname, &wview)?;
            let bias = to_f32(path, &bname, &bview)?;
            layers.push(Dense {
                out_dim,
                in_dim,
                weight,
                bias,
            });
        }
        Ok(Self { layers })
    }

    /// Serialises as f32 safetensors with `nn.Sequential` names (`0.weight`, `0.bias`,
    /// `2.weight`, ...: Linear modules sit at even indices, ReLUs at the odd ones).
    pub fn to_safetensors(&self) -> Vec<u8> {
        self.to_safetensors_with(&[])
    }

    /// [`Mlp::to_safetensors`] with `extra` entries in the file's `__metadata__` (besides
    /// `format: pt`), e.g. the class names and input scaling of a model trained on a data file.
    pub fn to_safetensors_with(&self, extra: &[(String, String)]) -> Vec<u8> {
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            owned.push((
                format!("{}.weight", 2 * i),
                vec![l.out_dim, l.in_dim],
                bytes(&l.weight),
            ));
            owned.push((format!("{}.bias", 2 * i), vec![l.out_dim], bytes(&l.bias)));
        }
        let views = owned.iter().map(|(name, shape, data)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), data)
                .expect("shape and byte length agree by construction");
            (name.clone(), view)
        });
        let mut meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        meta.extend(extra.iter().cloned());
        safetensors::serialize(views, Some(meta))
            .expect("serialising in-memory f32 tensors cannot fail")
    }

    /// Writes the model atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        crate::output::write_atomic(path, &self.to_safetensors())
    }

    /// [`Mlp::save`] with `extra` metadata entries.
    pub fn save_with(&self, path: &Path, extra: &[(String, String)]) -> anyhow::Result<()> {
        crate::output::write_atomic(path, &self.to_safetensors_with(extra))
    }

    /// Layer widths `[in, h1, ..., out]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = Vec::with_capacity(self.layers.len() + 1);
        if let Some(first) = self.layers.first() {
            w.push(first.in_dim);
        }
        w.extend(self.layers.iter().map(|l| l.out_dim));
        w
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.in_dim)
    }

    /// Output width (number of classes).
    pub fn out_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.out_dim)
    }

    /// Checks that `other` has the same layer shapes; `a`/`b` name the files in the error.
    pub fn check_same_arch(&self, other: &Mlp, a: &Path, b: &Path) -> Result<(), ModelError> {
        let err = |detail: String| ModelError::Architecture {
            a: a.to_path_buf(),
            b: b.to_path_buf(),
            detail,
        };
        if self.layers.len() != other.layers.len() {
            return Err(err(format!(
                "{} vs {} linear layers (widths {:?} vs {:?})",
                self.layers.len(),
                other.layers.len(),
                self.widths(),
                other.widths()
            )));
        }
        for (i, (x, y)) in self.layers.iter().zip(&other.layers).enumerate() {
            if (x.out_dim, x.in_dim) != (y.out_dim, y.in_dim) {
                return Err(err(format!(
                    "tensor `{}.weight` is [{}, {}] vs [{}, {}]",
                    2 * i,
                    x.out_dim,
                    x.in_dim,
                    y.out_dim,
                    y.in_dim
                )));
            }
        }
        Ok(())
    }

    /// Forward pass for a batch (`x` row-major `[n, in_dim]`), returning logits `[n, out_dim]`.
    /// Straightforward f32 loops; for large batches use `crate::nn::train::evaluate`'s candle evaluation.
    pub fn forward(&self, x: &[f32], n: usize) -> Vec<f32> {
        let mut cur = x.to_vec();
        for (li, l) in self.layers.iter().enumerate() {
            let mut next = vec![0f32; n * l.out_dim];
            for s in 0..n {
                let xin = &cur[s * l.in_dim..(s + 1) * l.in_dim];
                for o in 0..l.out_dim {
                    let acc: f32 = l.row(o).iter().zip(xin).map(|(w, v)| w * v).sum();
                    let y = acc + l.bias[o];
                    let relu = li + 1 < self.layers.len();
                    next[s * l.out_dim + o] = if relu { y.max(0.0) } else { y };
                }
            }
            cur = next;
        }
        cur
    }

    /// All parameters flattened in file order (weight then bias, layer by layer).
    pub fn flat_params(&self) -> Vec<f32> {
        self.layers
            .iter()
            .flat_map(|l| l.weight.iter().chain(&l.bias).copied())
            .collect()
    }

    /// `(1 − λ)·self + λ·other`, tensor by tensor. The architectures must match.
    pub fn lerp(&self, other: &Mlp, lambda: f32) -> Mlp {
        let mix = |a: &[f32], b: &[f32]| -> Vec<f32> {
            a.iter()
                .zip(b)
                .map(|(x, y)| (1.0 - lambda) * x + lambda * y)
                .collect()
        };
        Mlp {
            layers: self
                .layers
                .iter()
                .zip(&other.layers)
                .map(|(a, b)| Dense {
                    out_dim: a.out_dim,
                    in_dim: a.in_dim,
                    weight: mix(&a.weight, &b.weight),
                    bias: mix(&a.bias, &b.bias),
                })
                .collect(),
        }
    }
}

/// Loads models that must share one architecture (that of the first); errors name the file.
pub fn load_same_arch(paths: &[PathBuf]) -> anyhow::Result<Vec<Mlp>> {
    let mut models: Vec<Mlp> = Vec::with_capacity(paths.len());
    for p in paths {
        let m = Mlp::load(p)?;
        if let Some(first) = models.first() {
            first.check_same_arch(&m, &paths[0], p)?;
        }
        models.push(m);
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Mlp {
        Mlp {
            layers: vec![
                Dense {
                    out_dim: 3,
                    in_dim: 2,
                    weight: vec![1.0, -2.0, 0.5, 0.25, -1.0, 3.0],
                    bias: vec![0.1, -0.2, 0.3],
                },
                Dense {
                    out_dim: 2,
                    in_dim: 3,
                    weight: vec![1.0, 0.0, -1.0, 2.0, 1.0, 0.5],
                    bias: vec![0.0, 1.0],
                },
            ],
        }
    }

    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views = tensors.iter().map(|(n, dt, shape, data)| {
            (
                n.to_string(),
                TensorView::new(*dt, shape.clone(), data).expect("valid test tensor"),
            )
        });
        safetensors::serialize(views, None).expect("serialises")
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn round_trip_uses_sequential_names() {
        let m = tiny();
        let bytes = m.to_safetensors();
        let st = SafeTensors::deserialize(&bytes).expect("valid");
        let mut names: Vec<_> = st.names().into_iter().map(str::to_string).collect();
        names.sort();
        assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]);
        assert_eq!(st.tensor("0.weight").expect("present").shape(), [3, 2]);
        let back = Mlp::from_safetensors(&bytes, Path::new("t")).expect("loads");
        assert_eq!(back, m);
    }

    #[test]
    fn forward_matches_hand_computation() {
        // x = [1, 2]: h = relu([1-4+0.1, 0.5+0.5-0.2, -1+6+0.3]) = [0, 0.8, 5.3]
        // y = [0 - 5.3, 0 + 0.8 + 2.65 + 1] = [-5.3, 4.45]
        let y = tiny().forward(&[1.0, 2.0], 1);
        assert!(
            (y[0] + 5.3).abs() < 1e-5 && (y[1] - 4.45).abs() < 1e-5,
            "{y:?}"
        );
    }

    #[test]
    fn loads_layers_prefix_and_half_precision() {
        let w: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect();
        let b: Vec<u8> = half::bf16::from_f32(0.5).to_le_bytes().to_vec();
        let bytes = file(&[
            ("layers.0.weight", Dtype::F16, vec![1, 2], w),
            ("layers.0.bias", Dtype::BF16, vec![1], b),
        ]);
        let m = Mlp::from_safetensors(&bytes, Path::new("h.safetensors")).expect("loads");
        assert_eq!(m.layers[0].weight, [1.5, -2.0]);
        assert_eq!(m.layers[0].bias, [0.5]);
    }

    #[test]
    fn rejects_bad_files_with_named_tensor() {
        let p = Path::new("bad.safetensors");
        let ok_w = f32_bytes(&[1.0, 2.0]);
        let ok_b = f32_bytes(&[0.0]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                file(&[("0.weight", Dtype::F32, vec![1, 2], ok_w.clone())]),
                "missing tensor `0.bias`",
            ),
            (
                file(&[
                    ("0.weight", Dtype::F32, vec![1, 2], ok_w.clone()),
                    ("0.bias", Dtype::F32, vec![1], ok_b.clone()),
                    ("extra", Dtype::F32, vec![1], ok_b.clone()),
                ]),
                "unexpected tensor `extra`",
            ),
            (
                file(&[
                    (
                        "0.weight",
                        Dtype::F32,
                        vec![1, 2],
                        f32_bytes(&[1.0, f32::NAN]),
                    ),
                    ("0.bias", Dtype::F32, vec![1], ok_b.clone()),
                ]),
                "`0.weight` has non-finite value NaN at flat index 1",
            ),
            (
                file(&[
                    ("0.weight", Dtype::I32, vec![1, 2], ok_w.clone()),
                    ("0.bias", Dtype::F32, vec![1], ok_b.clone()),
                ]),
                "`0.weight` has dtype I32",
            ),
            (
                file(&[
                    ("0.weight", Dtype::F32, vec![1, 2], ok_w.clone()),
                    ("0.bias", Dtype::F32, vec![1], ok_b.clone()),
                    ("2.weight", Dtype::F32, vec![1, 2], ok_w.clone()),
                    ("2.bias", Dtype::F32, vec![1], ok_b.clone()),
                ]),
                "`2.weight` has shape [1, 2], expected [*, 1]",
            ),
            (
                file(&[
                    ("0.weight", Dtype::F32, vec![1, 2], ok_w.clone()),
                    ("0.bias", Dtype::F32, vec![], f32_bytes(&[0.0])),
                ]),
                "`0.bias` has shape [], expected [1]",
            ),
            (
                b"not a safetensors file".to_vec(),
                "not a valid safetensors",
            ),
        ];
        for (bytes, want) in cases {
            let e = Mlp::from_safetensors(&bytes, p)
                .expect_err(want)
                .to_string();
            assert!(e.starts_with("bad.safetensors: "), "{e}");
            assert!(e.contains(want), "{e} does not contain {want}");
        }
    }

    #[test]
    fn architecture_mismatch_names_tensor() {
        let a = tiny();
        let mut b = tiny();
        b.layers[1] = Dense {
            out_dim: 4,
            in_dim: 3,
            weight: vec![0.0; 12],
            bias: vec![0.0; 4],
        };
        let e = a
            .check_same_arch(&b, Path::new("a"), Path::new("b"))
            .expect_err("differs")
            .to_string();
        assert!(e.contains("`2.weight` is [2, 3] vs [4, 3]"), "{e}");
    }
}
