//! The parser: [`Model::parse`] checks the header, every table and tensor record, every layer
//! and the activation chain once, then hands out typed layer views without re-scanning values.

use super::format::{self, dict_mode, dtype, flags, kind, scheme};
use super::{
    DICT_ORTHOGONALITY_TOL, DictMode, Domain, Layer, LayerInfo, LayerRam, LinearScheme, ParseError,
    Ram, RecurrentLayer, cast, crc32,
};
use crate::kernels::QuantMultiplier;
use crate::recurrent::Math;

/// Little-endian field readers over a slice already known to be long enough; `None` otherwise.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// How much [`Model::read_layer`] re-checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Bounds, dtypes and counts only (the file was validated by `Model::parse`).
    Structure,
    /// Everything, values included.
    Values,
}

/// A parsed, validated model file borrowing its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    bytes: &'a [u8],
    layer_count: usize,
    tensor_count: usize,
    layer_table: usize,
    tensor_table: usize,
    input_len: usize,
    output_len: usize,
    ram: Ram,
    minor: u16,
    /// f32 elements of one ping-pong half (the largest f32 activation).
    pub(super) half_f32: usize,
    /// int8 elements of one ping-pong half.
    pub(super) half_i8: usize,
    stateful: bool,
}

/// Raw tensor record after bounds checks.
pub(super) struct TensorRef<'a> {
    pub(super) dtype: u8,
    pub(super) bytes: &'a [u8],
}

impl<'a> Model<'a> {
    /// Parses and validates a model file. `bytes` must start at a 16-byte aligned address (on
    /// the device: `#[repr(align(16))]` around `include_bytes!`; on the host an aligned buffer).
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>, ParseError> {
        use format::header as h;
        if bytes.len() < format::HEADER_BYTES {
            return Err(ParseError::Truncated {
                need: format::HEADER_BYTES,
                have: bytes.len(),
            });
        }
        if bytes[..8] != format::MAGIC {
            return Err(ParseError::BadMagic);
        }
        let rd = |at| {
            u32_at(bytes, at).ok_or(ParseError::Truncated {
                need: at + 4,
                have: bytes.len(),
            })
        };
        let major = u16_at(bytes, h::VERSION_MAJOR).unwrap_or(0);
        let minor = u16_at(bytes, h::VERSION_MINOR).unwrap_or(0);
        if major != format::VERSION_MAJOR || minor > format::VERSION_MINOR {
            return Err(ParseError::UnsupportedVersion { major, minor });
        }
        let stored = rd(h::HEADER_CRC32)?;
        let computed = crc32(&bytes[..h::HEADER_CRC32]);
        if stored != computed {
            return Err(ParseError::HeaderCrcMismatch { stored, computed });
        }
        let header_bytes = rd(h::HEADER_BYTES)?;
        if header_bytes as usize != format::HEADER_BYTES {
            return Err(ParseError::BadHeaderSize(header_bytes));
        }
        let file_bytes = rd(h::FILE_BYTES)? as usize;
        if file_bytes > bytes.len() {
            return Err(ParseError::Truncated {
                need: file_bytes,
                have: bytes.len(),
            });
        }
        if file_bytes < bytes.len() {
            return Err(ParseError::TrailingBytes {
                declared: file_bytes,
                have: bytes.len(),
            });
        }
        let stored = rd(h::CRC32)?;
        let computed = crc32(&bytes[format::HEADER_BYTES..]);
        if stored != computed {
            return Err(ParseError::CrcMismatch { stored, computed });
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(format::TENSOR_ALIGN) {
            return Err(ParseError::MisalignedBuffer);
        }
        let layer_count = rd(h::LAYER_COUNT)? as usize;
        let tensor_count = rd(h::TENSOR_COUNT)? as usize;
        if layer_count == 0 {
            return Err(ParseError::BadGraph("no layers"));
        }
        if layer_count > format::MAX_LAYERS {
            return Err(ParseError::LimitExceeded("layer count"));
        }
        if tensor_count > format::MAX_TENSORS {
            return Err(ParseError::LimitExceeded("tensor count"));
        }
        let layer_table = rd(h::LAYER_TABLE)? as usize;
        let tensor_table = rd(h::TENSOR_TABLE)? as usize;
        check_table(
            layer_table,
            layer_count * format::LAYER_RECORD_BYTES,
            file_bytes,
            "layer table",
        )?;
        check_table(
            tensor_table,
            tensor_count * format::TENSOR_RECORD_BYTES,
            file_bytes,
            "tensor table",
        )?;
        let ram = Ram {
            arena_f32: rd(h::ARENA_F32)? as usize,
            arena_i8: rd(h::ARENA_I8)? as usize,
            state_f32: rd(h::STATE_F32)? as usize,
        };
        let mut model = Model {
            bytes,
            layer_count,
            tensor_count,
            layer_table,
            tensor_table,
            input_len: rd(h::INPUT_LEN)? as usize,
            output_len: rd(h::OUTPUT_LEN)? as usize,
            ram,
            minor,
            half_f32: 0,
            half_i8: 0,
            stateful: false,
        };
        model.validate()?;
        Ok(model)
    }

    /// Checks every tensor and layer, the activation chain and the declared RAM.
    fn validate(&mut self) -> Result<(), ParseError> {
        for t in 0..self.tensor_count {
            let tr = self.tensor(t as u32)?;
            let finite = match tr.dtype {
                dtype::F32 => {
                    cast::slice_of::<f32>(tr.bytes).is_some_and(|s| s.iter().all(|v| v.is_finite()))
                }
                dtype::E4M3 => tr.bytes.iter().all(|&b| b & 0x7F != 0x7F),
                _ => true,
            };
            if !finite {
                return Err(ParseError::NonFinite { tensor: t as u32 });
            }
        }
        let mut domain = Domain::F32;
        let mut len = self.input_len;
        if len == 0 || len > format::MAX_ACTIVATION {
            return Err(ParseError::LimitExceeded("input length"));
        }
        let (mut max_f32, mut max_i8) = (len, 0usize);
        let mut need = LayerRam::default();
        // the length of the open residual branch (they do not nest)
        let mut branch: Option<usize> = None;
        for i in 0..self.layer_count {
            let info = self.layer(i)?;
            let (din, dout) = info.layer.domains();
            if din != domain || info.in_len != len {
                return Err(ParseError::ChainMismatch { layer: i as u32 });
            }
            let bad_branch = |what| ParseError::BadParameter {
                layer: i as u32,
                what,
            };
            match info.layer {
                Layer::ResidualSave if branch.is_some() => {
                    return Err(bad_branch("residual save inside an open branch"));
                }
                Layer::ResidualSave => branch = Some(info.in_len),
                Layer::ResidualAdd => match branch.take() {
                    Some(n) if n == info.in_len => {}
                    Some(_) => return Err(bad_branch("residual add of another length")),
                    None => return Err(bad_branch("residual add without a save")),
                },
                _ => {}
            }
            // Checked once here (O(n³)), not on every `layer()` call of the executor.
            if let Layer::OrthoDict { atoms, .. } = info.layer {
                let d = crate::dict::OrthoDict::new(info.in_len, atoms).map_err(|_| {
                    ParseError::BadParameter {
                        layer: i as u32,
                        what: "dictionary atoms",
                    }
                })?;
                if d.orthogonality_defect() > DICT_ORTHOGONALITY_TOL {
                    return Err(ParseError::BadParameter {
                        layer: i as u32,
                        what: "dictionary atoms are not orthogonal",
                    });
                }
            }
            if info.out_len == 0 || info.out_len > format::MAX_ACTIVATION {
                return Err(ParseError::LimitExceeded("activation length"));
            }
            let r = info.ram()?;
            need.state = need
                .state
                .checked_add(r.state)
                .ok_or(ParseError::LimitExceeded("recurrent state"))?;
            need.scratch_f32 = need.scratch_f32.max(r.scratch_f32);
            need.scratch_i8 = need.scratch_i8.max(r.scratch_i8);
            self.stateful |= info.layer.is_stateful();
            domain = dout;
            len = info.out_len;
            match dout {
                Domain::F32 => max_f32 = max_f32.max(len),
                Domain::I8 => max_i8 = max_i8.max(len),
            }
        }
        if branch.is_some() {
            return Err(ParseError::BadGraph("a residual branch is never closed"));
        }
        if domain != Domain::F32 {
            return Err(ParseError::BadGraph("the last layer must produce f32"));
        }
        if len != self.output_len {
            return Err(ParseError::BadGraph(
                "output length differs from the last layer",
            ));
        }
        if Some(self.ram.arena_f32) != (2 * max_f32).checked_add(need.scratch_f32) {
            return Err(ParseError::RamMismatch("f32 arena"));
        }
        if Some(self.ram.arena_i8) != (2 * max_i8).checked_add(need.scratch_i8) {
            return Err(ParseError::RamMismatch("int8 arena"));
        }
        if self.ram.state_f32 != need.state {
            return Err(ParseError::RamMismatch("recurrent state"));
        }
        self.half_f32 = max_f32;
        self.half_i8 = max_i8;
        Ok(())
    }

    pub(super) fn tensor(&self, index: u32) -> Result<TensorRef<'a>, ParseError> {
        use format::tensor as t;
        let i = index as usize;
        if i >= self.tensor_count {
            return Err(ParseError::OutOfBounds("tensor index"));
        }
        let rec = self.tensor_table + i * format::TENSOR_RECORD_BYTES;
        let rec = self
            .bytes
            .get(rec..rec + format::TENSOR_RECORD_BYTES)
            .ok_or(ParseError::OutOfBounds("tensor record"))?;
        let offset = u32_at(rec, t::OFFSET).unwrap_or(u32::MAX) as usize;
        let count = u32_at(rec, t::COUNT).unwrap_or(u32::MAX) as usize;
        let dt = rec[t::DTYPE];
        if rec[9..16].iter().any(|&b| b != 0) {
            return Err(ParseError::ReservedNotZero("tensor record"));
        }
        let size = dtype::size(dt).ok_or(ParseError::UnknownDtype {
            tensor: index,
            dtype: dt,
        })?;
        let len = count
            .checked_mul(size)
            .ok_or(ParseError::OutOfBounds("tensor size"))?;
        let end = offset
            .checked_add(len)
            .ok_or(ParseError::OutOfBounds("tensor data"))?;
        if offset < format::HEADER_BYTES
            || !offset.is_multiple_of(format::TENSOR_ALIGN)
            || end > self.bytes.len()
        {
            return Err(ParseError::OutOfBounds("tensor data"));
        }
        Ok(TensorRef {
            dtype: dt,
            bytes: &self.bytes[offset..end],
        })
    }

    fn typed<T: cast::Pod>(
        &self,
        layer: u32,
        index: u32,
        want_dtype: u8,
        want_len: usize,
        role: &'static str,
    ) -> Result<&'a [T], ParseError> {
        let bad = ParseError::BadTensor { layer, role };
        let t = self.tensor(index).map_err(|_| bad)?;
        if t.dtype != want_dtype {
            return Err(bad);
        }
        let s = cast::slice_of::<T>(t.bytes).ok_or(bad)?;
        if s.len() != want_len { Err(bad) } else { Ok(s) }
    }

    /// Layer `index` with its sizes (every field and value checked, as at parse time).
    pub fn layer(&self, index: usize) -> Result<LayerInfo<'a>, ParseError> {
        self.read_layer(index, Check::Values)
    }

    /// Layer `index`. With [`Check::Structure`] (the executor, on every token) the checks that
    /// keep slices in bounds and typed still run, but value scans that [`Model::parse`] already
    /// did once (scales > 0, multipliers, decay ranges) are skipped.
    pub(super) fn read_layer(
        &self,
        index: usize,
        check: Check,
    ) -> Result<LayerInfo<'a>, ParseError> {
        let values = check == Check::Values;
        use format::layer as l;
        if index >= self.layer_count {
            return Err(ParseError::OutOfBounds("layer index"));
        }
        let li = index as u32;
        let at = self.layer_table + index * format::LAYER_RECORD_BYTES;
        let rec = self
            .bytes
            .get(at..at + format::LAYER_RECORD_BYTES)
            .ok_or(ParseError::OutOfBounds("layer record"))?;
        let oob = ParseError::OutOfBounds("layer record");
        let k = u16_at(rec, l::KIND).ok_or(oob)?;
        let sch = rec[l::SCHEME];
        let fl = rec[l::FLAGS];
        let in_len = u32_at(rec, l::IN_LEN).ok_or(oob)? as usize;
        let out_len = u32_at(rec, l::OUT_LEN).ok_or(oob)? as usize;
        let t = |j: usize| u32_at(rec, l::TENSORS + 4 * j).unwrap_or(format::NO_TENSOR);
        let p0 = u32_at(rec, l::P0).ok_or(oob)? as i32;
        let p1 = u32_at(rec, l::P1).ok_or(oob)? as i32;
        let unknown = ParseError::UnknownLayer {
            layer: li,
            kind: k,
            scheme: sch,
        };
        let bad_param = |what| ParseError::BadParameter { layer: li, what };
        let n = in_len
            .checked_mul(out_len)
            .ok_or(ParseError::LimitExceeded("weight count"))?;
        let zero_point = |v: i32| {
            if (-128..=127).contains(&v) {
                Ok(v)
            } else {
                Err(bad_param("zero point"))
            }
        };
        let scale = |bits: i32| {
            let s = f32::from_bits(bits as u32);
            if s.is_finite() && s > 0.0 {
                Ok(s)
            } else {
                Err(bad_param("scale"))
            }
        };
        let unused = |from: usize, p: &[i32]| {
            (from..3).all(|j| t(j) == format::NO_TENSOR) && p.iter().all(|&v| v == 0)
        };
        // The per-row scales of the weight schemes with f32 activations (L-Mul e4m3,
        // int8-dynamic): tensor 1, all positive; no parameters, no fourth tensor.
        let row_scales = || -> Result<&'a [f32], ParseError> {
            if fl != 0 || !unused(3, &[p0, p1]) {
                return Err(bad_param("unused fields"));
            }
            let scale: &[f32] = self.typed(li, t(1), dtype::F32, out_len, "scale")?;
            if values && scale.iter().any(|&s| s <= 0.0) {
                return Err(bad_param("scale"));
            }
            Ok(scale)
        };
        let layer = match (k, sch) {
            (kind::DENSE, scheme::F32) => {
                if fl != 0 || !unused(2, &[p0, p1]) {
                    return Err(bad_param("unused fields"));
                }
                Layer::DenseF32 {
                    w: self.typed(li, t(0), dtype::F32, n, "weight")?,
                    b: self.typed(li, t(1), dtype::F32, out_len, "bias")?,
                }
            }
            (kind::DENSE, scheme::LMUL_E4M3) => {
                let scale = row_scales()?;
                Layer::DenseLmulE4m3 {
                    w: self.typed(li, t(0), dtype::E4M3, n, "weight")?,
                    scale,
                    b: self.typed(li, t(2), dtype::F32, out_len, "bias")?,
                }
            }
            (kind::DENSE, scheme::LMUL_E4M3_FIXED) if self.minor >= format::MINOR_LMUL_FIXED => {
                let scale = row_scales()?;
                Layer::DenseLmulE4m3Fixed {
                    w: self.typed(li, t(0), dtype::E4M3, n, "weight")?,
                    scale,
                    b: self.typed(li, t(2), dtype::F32, out_len, "bias")?,
                }
            }
            (kind::DENSE, scheme::INT8) => {
                if fl & !flags::FUSED_RELU != 0 {
                    return Err(bad_param("flags"));
                }
                let m: &[QuantMultiplier] =
                    self.typed(li, t(2), dtype::QMULT, out_len, "multiplier")?;
                let valid = |q: &QuantMultiplier| {
                    (q.multiplier == 0 || q.multiplier >= 1 << 30) && (-31..=30).contains(&q.shift)
                };
                if values && !m.iter().all(valid) {
                    return Err(bad_param("multiplier"));
                }
                Layer::DenseInt8 {
                    w: self.typed(li, t(0), dtype::I8, n, "weight")?,
                    b: self.typed(li, t(1), dtype::I32, out_len, "bias")?,
                    m,
                    input_zero_point: zero_point(p0)?,
                    output_zero_point: zero_point(p1)?,
                    relu: fl & flags::FUSED_RELU != 0,
                }
            }
            (kind::RELU, scheme::F32) => {
                if fl != 0 || !unused(0, &[p0, p1]) || in_len != out_len {
                    return Err(bad_param("relu fields"));
                }
                Layer::Relu
            }
            (kind::QUANTIZE, scheme::INT8) | (kind::DEQUANTIZE, scheme::INT8) => {
                if fl != 0 || !unused(0, &[]) || in_len != out_len {
                    return Err(bad_param("quantize fields"));
                }
                let (scale, zero_point) = (scale(p0)?, zero_point(p1)?);
                if k == kind::QUANTIZE {
                    Layer::Quantize { scale, zero_point }
                } else {
                    Layer::Dequantize { scale, zero_point }
                }
            }
            (kind::DENSE, scheme::INT8_DYNAMIC) if self.minor >= format::MINOR_RECURRENT => {
                let scale = row_scales()?;
                Layer::DenseInt8Dynamic {
                    w: self.typed(li, t(0), dtype::I8, n, "weight")?,
                    scale,
                    b: self.typed(li, t(2), dtype::F32, out_len, "bias")?,
                }
            }
            (kind::RECURRENT, _) if self.minor >= format::MINOR_RECURRENT => {
                let lin_scheme = LinearScheme::from_code(sch)
                    .filter(|s| {
                        *s != LinearScheme::LmulE4m3Fixed || self.minor >= format::MINOR_LMUL_FIXED
                    })
                    .ok_or(unknown)?;
                let fast = fl & flags::FAST_MATH != 0;
                if fl & !flags::FAST_MATH != 0 || !unused(1, &[p1]) {
                    return Err(bad_param("unused fields"));
                }
                if fast && self.minor < format::MINOR_FAST_MATH {
                    return Err(bad_param("fast-math flag before format 1.3"));
                }
                if in_len != out_len {
                    return Err(ParseError::BadRecurrentConfig {
                        layer: li,
                        field: "out_len differs from in_len (d_model)",
                    });
                }
                let bad = ParseError::BadTensor {
                    layer: li,
                    role: "recurrent config",
                };
                let cfg = self.tensor(t(0)).map_err(|_| bad)?;
                if cfg.dtype != dtype::I32 {
                    return Err(bad);
                }
                let cfg = cast::slice_of::<i32>(cfg.bytes).ok_or(bad)?;
                let math = if fast { Math::Fast } else { Math::Libm };
                Layer::Recurrent(
                    RecurrentLayer::parse(*self, li, lin_scheme, p0, in_len, cfg, values)?
                        .with_math(math),
                )
            }
            (kind::MEAN_POOL, scheme::F32) if self.minor >= format::MINOR_RECURRENT => {
                if fl != 0 || !unused(0, &[p0, p1]) || in_len != out_len {
                    return Err(bad_param("mean-pool fields"));
                }
                Layer::MeanPool
            }
            (kind::MIN_MAX_SCALE, scheme::F32) if self.minor >= format::MINOR_MIN_MAX_SCALE => {
                if fl != 0 || !unused(2, &[p1]) || in_len != out_len {
                    return Err(bad_param("min-max fields"));
                }
                let channel_len = usize::try_from(p0)
                    .ok()
                    .filter(|&l| l > 0 && in_len.is_multiple_of(l))
                    .ok_or(bad_param("values per channel (p0 ≥ 1, dividing in_len)"))?;
                let channels = in_len / channel_len;
                let min: &[f32] = self.typed(li, t(0), dtype::F32, channels, "min")?;
                let max: &[f32] = self.typed(li, t(1), dtype::F32, channels, "max")?;
                if values && min.iter().zip(max).any(|(a, b)| a > b) {
                    return Err(bad_param("min above max"));
                }
                Layer::MinMaxScale {
                    min,
                    max,
                    channel_len,
                }
            }
            (kind::RESIDUAL_SAVE, scheme::F32) | (kind::RESIDUAL_ADD, scheme::F32)
                if self.minor >= format::MINOR_RESIDUAL =>
            {
                if fl != 0 || !unused(0, &[p0, p1]) || in_len != out_len {
                    return Err(bad_param("residual fields"));
                }
                if k == kind::RESIDUAL_SAVE {
                    Layer::ResidualSave
                } else {
                    Layer::ResidualAdd
                }
            }
            (kind::RMS_NORM, scheme::F32) if self.minor >= format::MINOR_RESIDUAL => {
                if fl != 0 || !unused(1, &[p1]) || in_len != out_len {
                    return Err(bad_param("rms-norm fields"));
                }
                let eps = f32::from_bits(p0 as u32);
                if !(eps.is_finite() && eps > 0.0) {
                    return Err(bad_param("rms-norm eps (finite, > 0)"));
                }
                let gain: &[f32] = self.typed(li, t(0), dtype::F32, in_len, "gain")?;
                if values && gain.iter().any(|g| !g.is_finite()) {
                    return Err(bad_param("rms-norm gain (finite)"));
                }
                Layer::RmsNorm { gain, eps }
            }
            (kind::ORTHO_DICT, scheme::F32) if self.minor >= format::MINOR_ORTHO_DICT => {
                if fl != 0 || !unused(1, &[]) {
                    return Err(bad_param("unused fields"));
                }
                if in_len == 0 || in_len > crate::dict::MAX_N {
                    return Err(bad_param("dictionary size (1..=64)"));
                }
                let mode = match p0 {
                    dict_mode::ENCODE => DictMode::Encode,
                    dict_mode::TOP_K => DictMode::TopK,
                    dict_mode::DENOISE => DictMode::Denoise,
                    dict_mode::ANOMALY => DictMode::Anomaly,
                    _ => return Err(bad_param("dictionary mode")),
                };
                let k_ok = match mode {
                    DictMode::Encode => p1 == 0,
                    _ => p1 >= 1 && p1 as usize <= in_len,
                };
                if !k_ok {
                    return Err(bad_param("dictionary k"));
                }
                let want_out = if mode == DictMode::Anomaly { 1 } else { in_len };
                if out_len != want_out {
                    return Err(bad_param("dictionary output length"));
                }
                Layer::OrthoDict {
                    atoms: self.typed(li, t(0), dtype::F32, in_len * in_len, "atoms")?,
                    mode,
                    k: p1 as usize,
                }
            }
            _ => return Err(unknown),
        };
        Ok(LayerInfo {
            layer,
            in_len,
            out_len,
        })
    }

    /// Number of layers.
    pub fn layer_count(&self) -> usize {
        self.layer_count
    }
    /// Input length (f32 elements).
    pub fn input_len(&self) -> usize {
        self.input_len
    }
    /// Output length (f32 elements).
    pub fn output_len(&self) -> usize {
        self.output_len
    }
    /// RAM the model needs besides its input and output.
    pub fn ram(&self) -> Ram {
        self.ram
    }
    /// Size of the file (flash bytes).
    pub fn flash_bytes(&self) -> usize {
        self.bytes.len()
    }
    /// Format version of the file.
    pub fn version(&self) -> (u16, u16) {
        (format::VERSION_MAJOR, self.minor)
    }
    /// Whether any layer keeps state between tokens: then [`Model::reset`] starts a stream and
    /// [`Model::step`] feeds it, and [`Model::run`] is refused.
    pub fn is_stateful(&self) -> bool {
        self.stateful
    }
}

fn check_table(
    offset: usize,
    len: usize,
    file: usize,
    what: &'static str,
) -> Result<(), ParseError> {
    let end = offset
        .checked_add(len)
        .ok_or(ParseError::OutOfBounds(what))?;
    if offset < format::HEADER_BYTES || !offset.is_multiple_of(4) || end > file {
        return Err(ParseError::OutOfBounds(what));
    }
    Ok(())
}
