//! On-disk constants of the `.mote` model file, version 1 (normative description:
//! `docs/model-format.md`). All integers are little-endian.

/// File magic: `\x89MOT\r\n\x1a\n` (a high byte and line endings catch text-mode mangling).
pub const MAGIC: [u8; 8] = *b"\x89MOT\r\n\x1a\n";
/// Major version: readers reject any other major.
pub const VERSION_MAJOR: u16 = 1;
/// Newest minor version this crate reads; readers accept any minor ≤ their own. The writer
/// writes the lowest minor that holds the model (1.0 unless a newer layer kind or scheme is
/// used), so files without new layers stay readable by older readers.
pub const VERSION_MINOR: u16 = 4;
/// Minor version that introduced [`kind::ORTHO_DICT`].
pub const MINOR_ORTHO_DICT: u16 = 1;
/// Minor version that introduced [`kind::RECURRENT`], [`kind::MEAN_POOL`] and
/// [`scheme::INT8_DYNAMIC`].
pub const MINOR_RECURRENT: u16 = 2;
/// Minor version that introduced [`kind::MIN_MAX_SCALE`].
pub const MINOR_MIN_MAX_SCALE: u16 = 3;
/// Minor version that introduced [`kind::RESIDUAL_SAVE`], [`kind::RESIDUAL_ADD`] and
/// [`kind::RMS_NORM`] (pre-norm residual blocks).
pub const MINOR_RESIDUAL: u16 = 4;
/// Minor version that introduced [`flags::FAST_MATH`].
pub const MINOR_FAST_MATH: u16 = 3;
/// Minor version that introduced [`scheme::LMUL_E4M3_FIXED`] (Dense layers and recurrent
/// projections).
pub const MINOR_LMUL_FIXED: u16 = 3;
/// Most routed memories a Mixture-of-Memories layer may have (the executor builds the memory
/// views on the stack).
pub const MAX_MEMORIES: usize = 16;
/// Longest attention window (tokens) a sliding-window or Liger layer may have.
pub const MAX_WINDOW: usize = 1 << 16;
/// Most `f32` state one recurrent memory (`H·d_k·d_v`) or one attention ring may hold.
pub const MAX_CELL_STATE: usize = 1 << 24;
/// Size of the header.
pub const HEADER_BYTES: usize = 64;
/// Size of one layer record.
pub const LAYER_RECORD_BYTES: usize = 32;
/// Size of one tensor record.
pub const TENSOR_RECORD_BYTES: usize = 16;
/// Alignment of every tensor's data (and of the file's first byte in memory).
pub const TENSOR_ALIGN: usize = 16;
/// Most layers a reader accepts.
pub const MAX_LAYERS: usize = 1024;
/// Most tensors a reader accepts.
pub const MAX_TENSORS: usize = 4096;
/// Largest activation vector a reader accepts (elements).
pub const MAX_ACTIVATION: usize = 1 << 20;
/// Marks an unused tensor slot in a layer record.
pub const NO_TENSOR: u32 = u32::MAX;

/// Header field offsets.
pub mod header {
    /// `[u8; 8]` magic.
    pub const MAGIC: usize = 0;
    /// `u16` major version.
    pub const VERSION_MAJOR: usize = 8;
    /// `u16` minor version.
    pub const VERSION_MINOR: usize = 10;
    /// `u32` header size (64).
    pub const HEADER_BYTES: usize = 12;
    /// `u32` total file size.
    pub const FILE_BYTES: usize = 16;
    /// `u32` CRC-32 of bytes `64..file_bytes`.
    pub const CRC32: usize = 20;
    /// `u32` number of layer records.
    pub const LAYER_COUNT: usize = 24;
    /// `u32` number of tensor records.
    pub const TENSOR_COUNT: usize = 28;
    /// `u32` offset of the layer table.
    pub const LAYER_TABLE: usize = 32;
    /// `u32` offset of the tensor table.
    pub const TENSOR_TABLE: usize = 36;
    /// `u32` input length (f32 elements).
    pub const INPUT_LEN: usize = 40;
    /// `u32` output length (f32 elements).
    pub const OUTPUT_LEN: usize = 44;
    /// `u32` f32 activation arena (elements).
    pub const ARENA_F32: usize = 48;
    /// `u32` int8 activation arena (bytes).
    pub const ARENA_I8: usize = 52;
    /// `u32` recurrent state (f32 elements).
    pub const STATE_F32: usize = 56;
    /// `u32` CRC-32 of header bytes `0..60`, so every header field is checked too.
    pub const HEADER_CRC32: usize = 60;
}

/// Layer kinds.
pub mod kind {
    /// Fully connected `y = W x + b` (scheme-dependent tensors).
    pub const DENSE: u16 = 1;
    /// `max(x, 0)` on f32 activations.
    pub const RELU: u16 = 2;
    /// f32 → int8: `q = clamp(round(x / scale) + zero_point, -128, 127)`.
    pub const QUANTIZE: u16 = 3;
    /// int8 → f32: `x = (q − zero_point) · scale`.
    pub const DEQUANTIZE: u16 = 4;
    /// Orthogonal dictionary feature stage (format 1.1): code, sparse code, denoised window or
    /// anomaly score of an f32 window (`mote_core::dict::OrthoDict`).
    pub const ORTHO_DICT: u16 = 5;
    /// A constant-memory recurrent cell (format 1.2; `mote_core::recurrent`): `p0` is the
    /// [`super::cell`] type, `t0` an i32 configuration tensor listing its sizes and tensors.
    pub const RECURRENT: u16 = 6;
    /// Running mean over the stream (format 1.2): state = running sum and token count.
    pub const MEAN_POOL: u16 = 7;
    /// Per-channel min–max scaling of the input into `[0, 1]` with the training split's ranges
    /// (format 1.3): `t0` = min, `t1` = max (f32, one per channel), `p0` = values per channel.
    pub const MIN_MAX_SCALE: u16 = 8;
    /// Opens a residual branch (format 1.4): the activation passes unchanged and is kept (in
    /// the layer's state slot, rewritten every token) for the next [`RESIDUAL_ADD`].
    pub const RESIDUAL_SAVE: u16 = 9;
    /// Closes the open residual branch (format 1.4): `y = x + saved`, same length.
    pub const RESIDUAL_ADD: u16 = 10;
    /// RMS normalisation (format 1.4): `y_i = x_i / sqrt(mean(x²) + eps) · g_i`; `t0` = the
    /// gain `g` (f32, one per value), `p0` = `eps` as f32 bits (finite, > 0).
    pub const RMS_NORM: u16 = 11;
}

/// `p0` of a [`kind::RECURRENT`] layer: which cell it runs.
pub mod cell {
    /// Lightning Attention-2 (`MemoryCell<La2Memory>`).
    pub const LA2: i32 = 1;
    /// GLA with the Liger gate (`MemoryCell<GlaMemory>`).
    pub const GLA: i32 = 2;
    /// Gated DeltaNet (`MemoryCell<DeltaMemory>`).
    pub const DELTA: i32 = 3;
    /// Mixture-of-Memories over LA2 memories.
    pub const MOM_LA2: i32 = 4;
    /// Mixture-of-Memories over GLA memories.
    pub const MOM_GLA: i32 = 5;
    /// Mixture-of-Memories over gated-delta memories.
    pub const MOM_DELTA: i32 = 6;
    /// Sliding-window softmax attention.
    pub const SWA: i32 = 7;
    /// Liger Attention (½ GLA + ½ SWA).
    pub const LIGER: i32 = 8;
}

/// Positions in the i32 configuration tensor of a [`kind::RECURRENT`] layer. After the header:
/// three tensor indices per projection (weights, per-row scale, bias; `-1` = none), then one
/// index per `f32` parameter vector.
pub mod rec {
    /// Heads `H`.
    pub const HEADS: usize = 0;
    /// Key size per head `d_k`.
    pub const D_K: usize = 1;
    /// Value size per head `d_v`.
    pub const D_V: usize = 2;
    /// Routed memories `M` (MoM; 0 otherwise).
    pub const MEMORIES: usize = 3;
    /// Memories active per token (MoM; 0 otherwise).
    pub const TOP_K: usize = 4;
    /// 1 if MoM has a shared memory (0 otherwise).
    pub const SHARED: usize = 5;
    /// Attention window (SWA, Liger; 0 otherwise).
    pub const WINDOW: usize = 6;
    /// RoPE base as f32 bits (SWA, Liger; 0 = no RoPE).
    pub const ROPE_BASE: usize = 7;
    /// Length of the header.
    pub const HEADER: usize = 8;
    /// Indices per projection.
    pub const PER_PROJECTION: usize = 3;
    /// Marks an absent tensor in the configuration.
    pub const NONE: i32 = -1;
}

/// `p0` of an [`kind::ORTHO_DICT`] layer: what the stage outputs (`p1` = k).
pub mod dict_mode {
    /// The full code `A x` (n values; k must be 0).
    pub const ENCODE: i32 = 0;
    /// The code with all but the k largest-magnitude coefficients zeroed (n values).
    pub const TOP_K: i32 = 1;
    /// The reconstruction `Aᵀ top_k(A x)` (n values): compression/denoising.
    pub const DENOISE: i32 = 2;
    /// The RMS error of that reconstruction (1 value): an anomaly score.
    pub const ANOMALY: i32 = 3;
}

/// Numeric schemes of a Dense layer (and of a Recurrent layer's projections).
pub mod scheme {
    /// f32 weights and activations.
    pub const F32: u8 = 0;
    /// int8 weights (per-channel symmetric), int8 activations, int32 accumulation, Q31
    /// requantization.
    pub const INT8: u8 = 1;
    /// fp8 e4m3 weights with per-channel scale, L-Mul against f32 activations.
    pub const LMUL_E4M3: u8 = 2;
    /// int8 weights (per-row symmetric scale) against f32 activations that are quantized per
    /// call, symmetric per tensor (`kernels::quantize_dynamic`); f32 in, f32 out (format 1.2).
    pub const INT8_DYNAMIC: u8 = 3;
    /// fp8 e4m3 weights with per-row scale, L-Mul against activation codes with a shared
    /// exponent, exact integer accumulation (`kernels::lmul_fixed`, `docs/lmul-fixed.md`);
    /// tensors as [`LMUL_E4M3`] (format 1.3).
    pub const LMUL_E4M3_FIXED: u8 = 4;
}

/// Layer flags.
pub mod flags {
    /// int8 Dense: clamp the output at its zero point (fused ReLU).
    pub const FUSED_RELU: u8 = 1;
    /// Recurrent (format 1.3): the cell's `exp`/`ln` are `micromath`'s approximations instead
    /// of `libm`'s (`mote_core::recurrent::Math::Fast`).
    pub const FAST_MATH: u8 = 2;
}

/// Tensor element types.
pub mod dtype {
    /// IEEE binary32.
    pub const F32: u8 = 1;
    /// Signed 8-bit integer.
    pub const I8: u8 = 2;
    /// Signed 32-bit integer.
    pub const I32: u8 = 3;
    /// fp8 e4m3 (OCP FN) bit pattern.
    pub const E4M3: u8 = 4;
    /// Requantization multiplier: `i32` Q31 mantissa then `i32` shift (8 bytes).
    pub const QMULT: u8 = 5;

    /// Bytes per element, or `None` for an unknown dtype.
    pub const fn size(dtype: u8) -> Option<usize> {
        match dtype {
            F32 | I32 => Some(4),
            I8 | E4M3 => Some(1),
            QMULT => Some(8),
            _ => None,
        }
    }
}

/// Layer record field offsets (within a 32-byte record).
pub mod layer {
    /// `u16` kind.
    pub const KIND: usize = 0;
    /// `u8` scheme.
    pub const SCHEME: usize = 2;
    /// `u8` flags.
    pub const FLAGS: usize = 3;
    /// `u32` input length.
    pub const IN_LEN: usize = 4;
    /// `u32` output length.
    pub const OUT_LEN: usize = 8;
    /// `[u32; 3]` tensor indices.
    pub const TENSORS: usize = 12;
    /// `i32` parameter 0.
    pub const P0: usize = 24;
    /// `i32` parameter 1.
    pub const P1: usize = 28;
}

/// Tensor record field offsets (within a 16-byte record).
pub mod tensor {
    /// `u32` data offset from the start of the file (multiple of 16).
    pub const OFFSET: usize = 0;
    /// `u32` element count.
    pub const COUNT: usize = 4;
    /// `u8` dtype.
    pub const DTYPE: usize = 8;
}
