//! The model-file writer, next to the reader so both follow one description of the format.
//! It writes into a caller-provided buffer (no allocation): [`encoded_len`] says how many bytes.

use super::format::{self, dict_mode, dtype, flags, kind, rec, scheme};
use super::{DictMode, Domain, Layer, LayerInfo, LayerRam, LinearScheme, RecurrentLayer, crc32};
use crate::kernels::{QuantMultiplier, Weights};
use crate::recurrent::Math;

/// Why a model could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// The output buffer is smaller than [`encoded_len`].
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
    },
    /// A layer's tensors disagree with its sizes, or layers do not chain (index of the layer).
    BadLayer(usize),
    /// No layers, or the output is not f32.
    BadGraph,
    /// The file would exceed 4 GiB or a format limit.
    TooLarge,
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WriteError::BufferTooSmall { need } => {
                write!(f, "output buffer too small: need {need} bytes")
            }
            WriteError::BadLayer(i) => {
                write!(f, "layer {i}: tensors do not match its sizes or chain")
            }
            WriteError::BadGraph => write!(
                f,
                "a model needs at least one layer, an f32 output and every residual branch closed"
            ),
            WriteError::TooLarge => write!(f, "model exceeds the format's limits"),
        }
    }
}

impl core::error::Error for WriteError {}

/// A tensor to store: its dtype and raw little-endian bytes (as an iterator of chunks).
// A recurrent layer's view is a few hundred bytes, the others two words; values of this type
// live on the writer's stack for one record at a time, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy)]
enum Data<'a> {
    F32(&'a [f32]),
    I8(&'a [i8]),
    I32(&'a [i32]),
    E4m3(&'a [u8]),
    QMult(&'a [QuantMultiplier]),
    /// The i32 configuration tensor of a recurrent layer; its tensors follow it in the file.
    Config(RecurrentLayer<'a>),
}

impl Data<'_> {
    fn dtype(&self) -> u8 {
        match self {
            Data::F32(_) => dtype::F32,
            Data::I8(_) => dtype::I8,
            Data::I32(_) | Data::Config(_) => dtype::I32,
            Data::E4m3(_) => dtype::E4M3,
            Data::QMult(_) => dtype::QMULT,
        }
    }
    fn count(&self) -> usize {
        match self {
            Data::F32(s) => s.len(),
            Data::I8(s) => s.len(),
            Data::I32(s) => s.len(),
            Data::E4m3(s) => s.len(),
            Data::QMult(s) => s.len(),
            Data::Config(r) => r.config().config_len(),
        }
    }
    fn byte_len(&self) -> usize {
        self.count() * dtype::size(self.dtype()).unwrap_or(0)
    }
    /// Writes the data of tensor number `index`.
    fn write(&self, out: &mut [u8], index: usize) -> Result<(), WriteError> {
        match self {
            Data::F32(s) => s
                .iter()
                .zip(out.chunks_exact_mut(4))
                .for_each(|(v, o)| o.copy_from_slice(&v.to_le_bytes())),
            Data::I8(s) => s
                .iter()
                .zip(out.iter_mut())
                .for_each(|(v, o)| *o = *v as u8),
            Data::I32(s) => s
                .iter()
                .zip(out.chunks_exact_mut(4))
                .for_each(|(v, o)| o.copy_from_slice(&v.to_le_bytes())),
            Data::E4m3(s) => out[..s.len()].copy_from_slice(s),
            Data::QMult(s) => s.iter().zip(out.chunks_exact_mut(8)).for_each(|(m, o)| {
                o[..4].copy_from_slice(&m.multiplier.to_le_bytes());
                o[4..].copy_from_slice(&m.shift.to_le_bytes());
            }),
            Data::Config(r) => {
                let mut words = out.chunks_exact_mut(4);
                return config_values(r, index + 1, &mut |v| {
                    if let Some(o) = words.next() {
                        o.copy_from_slice(&v.to_le_bytes());
                    }
                });
            }
        }
        Ok(())
    }
}

/// Calls `put` with each value of `r`'s configuration tensor, given that its tensors are written
/// right after it, from tensor index `next` on, in the order of [`recurrent_tensors`].
fn config_values(
    r: &RecurrentLayer<'_>,
    mut next: usize,
    put: &mut dyn FnMut(i32),
) -> Result<(), WriteError> {
    let c = r.config();
    let bits = |b: Option<f32>| b.map_or(0, |b| b.to_bits() as i32);
    let routing = c.routing;
    let header = [
        c.dims.heads,
        c.dims.d_k,
        c.dims.d_v,
        routing.map_or(0, |r| r.memories),
        routing.map_or(0, |r| r.top_k),
        routing.map_or(0, |r| usize::from(r.shared)),
        c.window,
    ];
    for v in header {
        put(i32::try_from(v).map_err(|_| WriteError::TooLarge)?);
    }
    put(bits(c.rope.map(|r| r.base)));
    let mut index = |present: bool| -> Result<i32, WriteError> {
        if !present {
            return Ok(rec::NONE);
        }
        next += 1;
        i32::try_from(next - 1).map_err(|_| WriteError::TooLarge)
    };
    for j in 0..c.projections() {
        let l = r.linear(j).map_err(|_| WriteError::BadGraph)?;
        put(index(true)?);
        put(index(!matches!(l.weights, Weights::F32(_)))?);
        put(index(l.bias.is_some())?);
    }
    for _ in 0..c.vectors() {
        put(index(true)?);
    }
    Ok(())
}

/// Calls `f` with every tensor of a recurrent layer after its configuration: per projection the
/// weights, the scale (quantized schemes) and the bias (if any), then the parameter vectors.
fn recurrent_tensors<'a>(
    r: &RecurrentLayer<'a>,
    f: &mut dyn FnMut(Data<'a>) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    let c = r.config();
    for j in 0..c.projections() {
        let l = r.linear(j).map_err(|_| WriteError::BadGraph)?;
        match l.weights {
            Weights::F32(w) => f(Data::F32(w))?,
            Weights::Int8 { q, scale } => {
                f(Data::I8(q))?;
                f(Data::F32(scale))?;
            }
            Weights::LmulE4m3 { q, scale } | Weights::LmulE4m3Fixed { q, scale } => {
                f(Data::E4m3(q))?;
                f(Data::F32(scale))?;
            }
        }
        if let Some(b) = l.bias {
            f(Data::F32(b))?;
        }
    }
    for j in 0..c.vectors() {
        f(Data::F32(r.vector(j).map_err(|_| WriteError::BadGraph)?))?;
    }
    Ok(())
}

/// Calls `f` with every tensor of a layer in file order: the record's slots, then (recurrent
/// layers) the tensors its configuration names.
fn layer_tensors<'a>(
    l: &Layer<'a>,
    f: &mut dyn FnMut(Data<'a>) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    for t in record(l).tensors.into_iter().flatten() {
        f(t)?;
    }
    if let Layer::Recurrent(r) = l {
        recurrent_tensors(r, f)?;
    }
    Ok(())
}

/// A layer record before placement.
struct Record<'a> {
    kind: u16,
    scheme: u8,
    flags: u8,
    tensors: [Option<Data<'a>>; 3],
    p0: i32,
    p1: i32,
}

fn record<'a>(l: &Layer<'a>) -> Record<'a> {
    let r = |kind, scheme, flags, tensors, p0, p1| Record {
        kind,
        scheme,
        flags,
        tensors,
        p0,
        p1,
    };
    match *l {
        Layer::DenseF32 { w, b } => r(
            kind::DENSE,
            scheme::F32,
            0,
            [Some(Data::F32(w)), Some(Data::F32(b)), None],
            0,
            0,
        ),
        Layer::DenseLmulE4m3 { w, scale, b } => r(
            kind::DENSE,
            scheme::LMUL_E4M3,
            0,
            [
                Some(Data::E4m3(w)),
                Some(Data::F32(scale)),
                Some(Data::F32(b)),
            ],
            0,
            0,
        ),
        Layer::DenseInt8 {
            w,
            b,
            m,
            input_zero_point,
            output_zero_point,
            relu,
        } => r(
            kind::DENSE,
            scheme::INT8,
            if relu { flags::FUSED_RELU } else { 0 },
            [Some(Data::I8(w)), Some(Data::I32(b)), Some(Data::QMult(m))],
            input_zero_point,
            output_zero_point,
        ),
        Layer::DenseLmulE4m3Fixed { w, scale, b } => r(
            kind::DENSE,
            scheme::LMUL_E4M3_FIXED,
            0,
            [
                Some(Data::E4m3(w)),
                Some(Data::F32(scale)),
                Some(Data::F32(b)),
            ],
            0,
            0,
        ),
        Layer::DenseInt8Dynamic { w, scale, b } => r(
            kind::DENSE,
            scheme::INT8_DYNAMIC,
            0,
            [
                Some(Data::I8(w)),
                Some(Data::F32(scale)),
                Some(Data::F32(b)),
            ],
            0,
            0,
        ),
        Layer::Recurrent(rl) => r(
            kind::RECURRENT,
            rl.config().scheme.code(),
            if rl.config().dims.math == Math::Fast {
                flags::FAST_MATH
            } else {
                0
            },
            [Some(Data::Config(rl)), None, None],
            rl.config().cell.code(),
            0,
        ),
        Layer::MinMaxScale {
            min,
            max,
            channel_len,
        } => r(
            kind::MIN_MAX_SCALE,
            scheme::F32,
            0,
            [Some(Data::F32(min)), Some(Data::F32(max)), None],
            i32::try_from(channel_len).unwrap_or(i32::MAX),
            0,
        ),
        Layer::MeanPool => r(kind::MEAN_POOL, scheme::F32, 0, [None, None, None], 0, 0),
        Layer::ResidualSave => r(
            kind::RESIDUAL_SAVE,
            scheme::F32,
            0,
            [None, None, None],
            0,
            0,
        ),
        Layer::ResidualAdd => r(kind::RESIDUAL_ADD, scheme::F32, 0, [None, None, None], 0, 0),
        Layer::RmsNorm { gain, eps } => r(
            kind::RMS_NORM,
            scheme::F32,
            0,
            [Some(Data::F32(gain)), None, None],
            eps.to_bits() as i32,
            0,
        ),
        Layer::Relu => r(kind::RELU, scheme::F32, 0, [None, None, None], 0, 0),
        Layer::Quantize { scale, zero_point } => r(
            kind::QUANTIZE,
            scheme::INT8,
            0,
            [None, None, None],
            scale.to_bits() as i32,
            zero_point,
        ),
        Layer::Dequantize { scale, zero_point } => r(
            kind::DEQUANTIZE,
            scheme::INT8,
            0,
            [None, None, None],
            scale.to_bits() as i32,
            zero_point,
        ),
        Layer::OrthoDict { atoms, mode, k } => r(
            kind::ORTHO_DICT,
            scheme::F32,
            0,
            [Some(Data::F32(atoms)), None, None],
            match mode {
                DictMode::Encode => dict_mode::ENCODE,
                DictMode::TopK => dict_mode::TOP_K,
                DictMode::Denoise => dict_mode::DENOISE,
                DictMode::Anomaly => dict_mode::ANOMALY,
            },
            k as i32,
        ),
    }
}

fn align(n: usize) -> usize {
    n.div_ceil(format::TENSOR_ALIGN) * format::TENSOR_ALIGN
}

struct Plan {
    tensor_count: usize,
    tensor_table: usize,
    data_start: usize,
    total: usize,
    max_f32: usize,
    max_i8: usize,
    need: LayerRam,
    minor: u16,
}

fn plan(layers: &[LayerInfo<'_>], input_len: usize) -> Result<Plan, WriteError> {
    if layers.is_empty() || layers.len() > format::MAX_LAYERS {
        return Err(WriteError::BadGraph);
    }
    let mut tensor_count = 0;
    let mut data = 0usize;
    let (mut domain, mut len) = (Domain::F32, input_len);
    let (mut max_f32, mut max_i8) = (input_len, 0);
    let mut need = LayerRam::default();
    let mut minor = 0;
    // the length of the open residual branch, checked as the reader does
    let mut branch: Option<usize> = None;
    for (i, info) in layers.iter().enumerate() {
        let (din, dout) = info.layer.domains();
        if din != domain || info.in_len != len {
            return Err(WriteError::BadLayer(i));
        }
        branch = match (info.layer, branch) {
            (Layer::ResidualSave, None) => Some(info.in_len),
            (Layer::ResidualAdd, Some(n)) if n == info.in_len => None,
            (Layer::ResidualSave | Layer::ResidualAdd, _) => return Err(WriteError::BadLayer(i)),
            (Layer::RmsNorm { gain, eps }, b)
                if gain.len() == info.in_len
                    && info.out_len == info.in_len
                    && eps.is_finite()
                    && eps > 0.0
                    && gain.iter().all(|g| g.is_finite()) =>
            {
                b
            }
            (Layer::RmsNorm { .. }, _) => return Err(WriteError::BadLayer(i)),
            (_, b) => b,
        };
        (domain, len) = (dout, info.out_len);
        match dout {
            Domain::F32 => max_f32 = max_f32.max(len),
            Domain::I8 => max_i8 = max_i8.max(len),
        }
        // The lowest minor that holds these layers, so older readers still read older models.
        minor = minor.max(match info.layer {
            Layer::DenseLmulE4m3Fixed { .. } => format::MINOR_LMUL_FIXED,
            Layer::Recurrent(r) if r.config().scheme == LinearScheme::LmulE4m3Fixed => {
                format::MINOR_LMUL_FIXED
            }
            Layer::OrthoDict { .. } => format::MINOR_ORTHO_DICT,
            Layer::MinMaxScale { .. } => format::MINOR_MIN_MAX_SCALE,
            Layer::ResidualSave | Layer::ResidualAdd | Layer::RmsNorm { .. } => {
                format::MINOR_RESIDUAL
            }
            Layer::Recurrent(r) if r.config().dims.math == Math::Fast => format::MINOR_FAST_MATH,
            Layer::DenseInt8Dynamic { .. } | Layer::Recurrent(_) | Layer::MeanPool => {
                format::MINOR_RECURRENT
            }
            _ => 0,
        });
        if let Layer::Recurrent(r) = info.layer
            && (r.config().dims.d_model != info.in_len
                || info.out_len != info.in_len
                || r.check_values().is_err())
        {
            return Err(WriteError::BadLayer(i));
        }
        let r = info.ram().map_err(|_| WriteError::BadLayer(i))?;
        need.state = need
            .state
            .checked_add(r.state)
            .ok_or(WriteError::TooLarge)?;
        need.scratch_f32 = need.scratch_f32.max(r.scratch_f32);
        need.scratch_i8 = need.scratch_i8.max(r.scratch_i8);
        layer_tensors(&info.layer, &mut |t| {
            tensor_count += 1;
            data = data
                .checked_add(align(t.byte_len()))
                .ok_or(WriteError::TooLarge)?;
            Ok(())
        })
        .map_err(|e| match e {
            WriteError::TooLarge => e,
            _ => WriteError::BadLayer(i),
        })?;
    }
    if domain != Domain::F32 || branch.is_some() {
        return Err(WriteError::BadGraph);
    }
    if tensor_count > format::MAX_TENSORS {
        return Err(WriteError::TooLarge);
    }
    let tensor_table = format::HEADER_BYTES + layers.len() * format::LAYER_RECORD_BYTES;
    let data_start = align(tensor_table + tensor_count * format::TENSOR_RECORD_BYTES);
    let total = data_start.checked_add(data).ok_or(WriteError::TooLarge)?;
    if total > u32::MAX as usize {
        return Err(WriteError::TooLarge);
    }
    Ok(Plan {
        tensor_count,
        tensor_table,
        data_start,
        total,
        max_f32,
        max_i8,
        need,
        minor,
    })
}

/// Bytes the encoded model takes.
pub fn encoded_len(layers: &[LayerInfo<'_>], input_len: usize) -> Result<usize, WriteError> {
    plan(layers, input_len).map(|p| p.total)
}

/// Encodes `layers` (first layer's input: `input_len` f32) into `out`; returns the bytes written.
/// Tensor lengths are not checked here: parse the result ([`super::Model::parse`]) to validate.
pub fn write(
    layers: &[LayerInfo<'_>],
    input_len: usize,
    out: &mut [u8],
) -> Result<usize, WriteError> {
    use format::header as h;
    let p = plan(layers, input_len)?;
    if out.len() < p.total {
        return Err(WriteError::BufferTooSmall { need: p.total });
    }
    let out = &mut out[..p.total];
    out.fill(0);
    let put32 = |o: &mut [u8], at: usize, v: u32| o[at..at + 4].copy_from_slice(&v.to_le_bytes());
    out[..8].copy_from_slice(&format::MAGIC);
    out[h::VERSION_MAJOR..h::VERSION_MAJOR + 2]
        .copy_from_slice(&format::VERSION_MAJOR.to_le_bytes());
    out[h::VERSION_MINOR..h::VERSION_MINOR + 2].copy_from_slice(&p.minor.to_le_bytes());
    put32(out, h::HEADER_BYTES, format::HEADER_BYTES as u32);
    put32(out, h::FILE_BYTES, p.total as u32);
    put32(out, h::LAYER_COUNT, layers.len() as u32);
    put32(out, h::TENSOR_COUNT, p.tensor_count as u32);
    put32(out, h::LAYER_TABLE, format::HEADER_BYTES as u32);
    put32(out, h::TENSOR_TABLE, p.tensor_table as u32);
    put32(out, h::INPUT_LEN, input_len as u32);
    put32(
        out,
        h::OUTPUT_LEN,
        layers.last().map_or(0, |l| l.out_len) as u32,
    );
    let arena = |act: usize, scratch: usize| {
        (2 * act)
            .checked_add(scratch)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(WriteError::TooLarge)
    };
    put32(out, h::ARENA_F32, arena(p.max_f32, p.need.scratch_f32)?);
    put32(out, h::ARENA_I8, arena(p.max_i8, p.need.scratch_i8)?);
    put32(
        out,
        h::STATE_F32,
        u32::try_from(p.need.state).map_err(|_| WriteError::TooLarge)?,
    );
    let (mut tensor, mut data_at) = (0usize, p.data_start);
    for (i, info) in layers.iter().enumerate() {
        let rec = record(&info.layer);
        let at = format::HEADER_BYTES + i * format::LAYER_RECORD_BYTES;
        out[at..at + 2].copy_from_slice(&rec.kind.to_le_bytes());
        out[at + 2] = rec.scheme;
        out[at + 3] = rec.flags;
        put32(out, at + 4, info.in_len as u32);
        put32(out, at + 8, info.out_len as u32);
        // The record's tensors are written first, in slot order (see `layer_tensors`).
        let mut next = tensor;
        for (j, t) in rec.tensors.iter().enumerate() {
            let index = if t.is_some() {
                next += 1;
                (next - 1) as u32
            } else {
                format::NO_TENSOR
            };
            put32(out, at + 12 + 4 * j, index);
        }
        put32(out, at + 24, rec.p0 as u32);
        put32(out, at + 28, rec.p1 as u32);
        layer_tensors(&info.layer, &mut |d| {
            let tat = p.tensor_table + tensor * format::TENSOR_RECORD_BYTES;
            let end = data_at + d.byte_len();
            if end > out.len() || tat + format::TENSOR_RECORD_BYTES > p.data_start {
                return Err(WriteError::BadLayer(i));
            }
            put32(out, tat, data_at as u32);
            put32(out, tat + 4, d.count() as u32);
            out[tat + 8] = d.dtype();
            d.write(&mut out[data_at..end], tensor)?;
            data_at += align(d.byte_len());
            tensor += 1;
            Ok(())
        })?;
    }
    let crc = crc32(&out[format::HEADER_BYTES..]);
    put32(out, h::CRC32, crc);
    let header_crc = crc32(&out[..h::HEADER_CRC32]);
    put32(out, h::HEADER_CRC32, header_crc);
    Ok(p.total)
}
