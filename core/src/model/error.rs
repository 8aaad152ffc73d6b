//! Why a model file was rejected: [`ParseError`], one variant per kind of fault, each naming
//! where it was found.

use super::format;

/// Why a model file was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer bytes than a header, or fewer than the header's `file_bytes`.
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// More bytes than the header's `file_bytes`.
    TrailingBytes {
        /// Bytes the header declares.
        declared: usize,
        /// Bytes present.
        have: usize,
    },
    /// CRC-32 of the header's first 60 bytes does not match the header.
    HeaderCrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The first 8 bytes are not the mote magic.
    BadMagic,
    /// A major version this reader does not know, or a newer minor.
    UnsupportedVersion {
        /// Major version in the file.
        major: u16,
        /// Minor version in the file.
        minor: u16,
    },
    /// The header size field is not 64.
    BadHeaderSize(u32),
    /// CRC-32 of the body does not match the header.
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The file's first byte is not 16-byte aligned in memory (tensors are read in place).
    MisalignedBuffer,
    /// A reserved header field or record byte is not zero.
    ReservedNotZero(&'static str),
    /// A count exceeds the reader's limits.
    LimitExceeded(&'static str),
    /// A table or tensor lies (partly) outside the file, overlaps the header, or is misaligned.
    OutOfBounds(&'static str),
    /// A tensor record has an unknown dtype.
    UnknownDtype {
        /// Tensor index.
        tensor: u32,
        /// The dtype byte.
        dtype: u8,
    },
    /// A layer record has an unknown kind or scheme.
    UnknownLayer {
        /// Layer index.
        layer: u32,
        /// The kind field.
        kind: u16,
        /// The scheme field.
        scheme: u8,
    },
    /// A layer refers to a tensor that does not exist or has the wrong dtype or element count.
    BadTensor {
        /// Layer index.
        layer: u32,
        /// Which of the layer's tensors.
        role: &'static str,
    },
    /// A layer's input does not match the previous layer's output (length or f32/int8 domain).
    ChainMismatch {
        /// Layer index.
        layer: u32,
    },
    /// A layer parameter is out of range (zero point, scale, multiplier, flags).
    BadParameter {
        /// Layer index.
        layer: u32,
        /// Which parameter.
        what: &'static str,
    },
    /// An f32 or e4m3 weight is NaN or infinite.
    NonFinite {
        /// Tensor index.
        tensor: u32,
    },
    /// The model has no layers, or its output is not f32.
    BadGraph(&'static str),
    /// The RAM the header declares differs from what the layers need.
    RamMismatch(&'static str),
    /// A recurrent layer's configuration is invalid: unknown cell type, a size out of range or
    /// inconsistent with the layer's length, options that do not apply to the cell type, or a
    /// configuration tensor of the wrong length (format 1.2).
    BadRecurrentConfig {
        /// Layer index.
        layer: u32,
        /// Which field.
        field: &'static str,
    },
    /// A tensor named by a recurrent layer's configuration does not exist, has the wrong dtype
    /// or element count, a non-positive scale, or is missing (format 1.2).
    BadRecurrentTensor {
        /// Layer index.
        layer: u32,
        /// Position in the configuration tensor.
        slot: u32,
        /// Which projection or parameter.
        role: &'static str,
    },
    /// A recurrent decay parameter is out of range: an LA2 decay outside `(0, 1]`, or a gated
    /// delta `A_log` whose exponential overflows (format 1.2).
    BadDecay {
        /// Layer index.
        layer: u32,
        /// Position in the configuration tensor.
        slot: u32,
    },
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use ParseError::*;
        match *self {
            Truncated { need, have } => write!(f, "truncated: need {need} bytes, have {have}"),
            TrailingBytes { declared, have } => {
                write!(f, "{have} bytes but the header declares {declared}")
            }
            BadMagic => write!(f, "not a mote model file (bad magic)"),
            UnsupportedVersion { major, minor } => write!(
                f,
                "unsupported format version {major}.{minor} (this reader: {}.{})",
                format::VERSION_MAJOR,
                format::VERSION_MINOR
            ),
            BadHeaderSize(n) => write!(f, "header size {n}, expected {}", format::HEADER_BYTES),
            HeaderCrcMismatch { stored, computed } => {
                write!(
                    f,
                    "header CRC-32 mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            CrcMismatch { stored, computed } => {
                write!(
                    f,
                    "CRC-32 mismatch: header {stored:#010x}, body {computed:#010x}"
                )
            }
            MisalignedBuffer => write!(f, "model bytes must start at a 16-byte aligned address"),
            ReservedNotZero(w) => write!(f, "reserved field not zero: {w}"),
            LimitExceeded(w) => write!(f, "limit exceeded: {w}"),
            OutOfBounds(w) => write!(f, "out of bounds or misaligned: {w}"),
            UnknownDtype { tensor, dtype } => write!(f, "tensor {tensor}: unknown dtype {dtype}"),
            UnknownLayer {
                layer,
                kind,
                scheme,
            } => {
                write!(f, "layer {layer}: unknown kind {kind} / scheme {scheme}")
            }
            BadTensor { layer, role } => write!(f, "layer {layer}: bad {role} tensor"),
            ChainMismatch { layer } => {
                write!(
                    f,
                    "layer {layer}: input does not match the previous layer's output"
                )
            }
            BadParameter { layer, what } => write!(f, "layer {layer}: bad parameter {what}"),
            NonFinite { tensor } => write!(f, "tensor {tensor}: NaN or infinite value"),
            BadGraph(w) => write!(f, "bad graph: {w}"),
            RamMismatch(w) => write!(f, "declared RAM does not match the layers: {w}"),
            BadRecurrentConfig { layer, field } => {
                write!(f, "layer {layer}: bad recurrent configuration: {field}")
            }
            BadRecurrentTensor { layer, slot, role } => write!(
                f,
                "layer {layer}: recurrent {role} tensor (config slot {slot}) is missing or malformed"
            ),
            BadDecay { layer, slot } => write!(
                f,
                "layer {layer}: recurrent decay (config slot {slot}) out of range"
            ),
        }
    }
}

impl core::error::Error for ParseError {}
