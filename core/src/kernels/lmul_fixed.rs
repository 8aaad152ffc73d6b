//! L-Mul with fixed-point accumulation (`lmul-e4m3-fixed`, format 1.3): fp8 e4m3 weights times
//! activations converted once per call to e4m3 codes relative to one shared exponent; each
//! product is the L-Mul integer add of the two patterns, its value an exact integer, and a row's
//! products are summed exactly in an integer accumulator. A whole dot product runs no float
//! operation, so it is fast on cores without an FPU (Cortex-M3). Normative description:
//! `docs/lmul-fixed.md`.
//!
//! ```text
//! e      = the largest exponent of a normal finite x_j           (once per call)
//! c_j    = e4m3 code of x_j · 2^(7−e), mantissa truncated to 3 bits, exponent field < 1 → 0
//! r      = |w| + |c| − 0x37                                       (the e4m3 L-Mul add, SPEC §1.3)
//! P(w,c) = 0 if w or c has exponent field 0 or r < 8,
//!          else ±(8 + (r & 7)) · 2^((r >> 3) − 1)                 (exact, in units of 2^−9)
//! acc_o  = Σ_j P(w_oj, c_j)                                        (exact: no rounding, no wrap)
//! y_o    = fl(fl(scalbn(fl(acc_o), e − 16)) · scale_o) + b_o     (the only float operations)
//! ```
//!
//! Layering (definition → fast paths), as the int8 kernels:
//! - [`product`] and [`matvec_reference`]: the per-pair rule and an `i64` sum in index order.
//!   The definition.
//! - `matvec_with::<Rows1>` / `matvec_with::<Rows2>`: the activation indices `CODE[c]` once into a
//!   stack buffer, then per product a table lookup of the weight's index ([`CODE`]), one add and
//!   a lookup of the value ([`VALUE`]); sums of at most [`CHUNK`] products in `i32`, then into
//!   `i64`. `Rows2` makes two rows per pass, so each activation index is loaded once per two
//!   weights ([`matvec`] on every target). Both are exact integer sums of the same products, so
//!   they equal the reference bit for bit in every order.

use crate::shape::{ShapeError, check_len};

/// The e4m3 L-Mul constant `(7 << 3) − (1 << (3 − l(3)))` (SPEC §1.3).
pub const OFFSET: i32 = 0x37;
/// Exponent field of the largest activation code: the largest |x| maps into `[128, 256)`, so
/// every code is at most `0x77` (no code reaches the e4m3 NaN pattern `0x7F`).
pub const TOP_FIELD: i32 = 14;
/// Products summed in `i32` before the partial sum moves into `i64`. With weight magnitudes
/// ≤ `0x7F` and activation codes ≤ `0x77`, `r ≤ 191`, so `|P| ≤ 15 · 2^22`, and
/// `32 · 15 · 2^22 = 2 013 265 920 < 2^31 − 1`: a chunk cannot overflow. `i64` holds
/// `2^20` (the largest activation) `· 15 · 2^22 < 2^46` with room to spare.
pub const CHUNK: usize = 32;
/// Index of a zero (or subnormal) operand in [`CODE`]: any sum with it lands on a zero of
/// [`VALUE`] (normal magnitudes are `8..=127`, so zero + normal is `264..=383`, zero + zero 512).
const ZERO_CODE: u16 = 256;
/// Offset of a negative operand's index: the sign of a sum of two indices is bit 9 (mod 1024).
const NEG_CODE: u16 = 512;

/// [`CODE`]`[pattern]`: the table index of an e4m3 pattern: `|pattern| + 512 · sign`, or 256 for
/// a zero or subnormal pattern.
pub const CODE: [u16; 256] = code_table();
/// [`VALUE`]`[(CODE[w] + CODE[c]) & 1023]` = [`product`]`(w, c)` for every pair of patterns.
pub static VALUE: [i32; 1024] = value_table();

const fn code_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u16;
        t[i] = if (b >> 3) & 0xF == 0 {
            ZERO_CODE
        } else {
            (b & 0x7F) + NEG_CODE * (b >> 7)
        };
        i += 1;
    }
    t
}

/// The value of the L-Mul result pattern for a sum of magnitudes `n` (`0..=254`), in 2^−9.
const fn magnitude_value(n: i32) -> i32 {
    let r = n - OFFSET;
    if r < 8 {
        0
    } else {
        (8 + (r & 7)) << ((r >> 3) - 1)
    }
}

const fn value_table() -> [i32; 1024] {
    let mut t = [0i32; 1024];
    let mut k = 0;
    while k < 1024 {
        let n = (k & 511) as i32;
        // n ≥ 256: one operand was zero (ZERO_CODE); two normal magnitudes sum to ≤ 254.
        let v = if n >= ZERO_CODE as i32 {
            0
        } else {
            magnitude_value(n)
        };
        t[k] = if k >= NEG_CODE as usize { -v } else { v };
        k += 1;
    }
    t
}

/// The L-Mul product of an e4m3 weight `w` and an activation code `c`, exact, in units of 2^−9
/// (SPEC §0.1 rules 1, 4, 5 for e4m3, without rule 5's saturation at 448: the result is an
/// integer, not an e4m3 pattern). Zero or subnormal operand → 0; result exponent field < 1 → 0.
/// Any pair of bytes is accepted (patterns `0x7F`/`0xFF` count as the magnitude 480; the model
/// parser refuses them in weights, and activation codes never reach them).
pub const fn product(w: u8, c: u8) -> i32 {
    if (w >> 3) & 0xF == 0 || (c >> 3) & 0xF == 0 {
        return 0;
    }
    let v = magnitude_value((w & 0x7F) as i32 + (c & 0x7F) as i32);
    if (w ^ c) & 0x80 != 0 { -v } else { v }
}

/// How the activations of one call were encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoded {
    /// Codes written; `exponent` is the unbiased exponent `e` of the largest normal |x| (0 when
    /// every x is zero or subnormal, and then every code is 0).
    Codes {
        /// `e`: a code of exponent field `f` stands for `2^(f − 14 + e)`.
        exponent: i32,
    },
    /// An input is NaN or infinite: the fixed-point scheme has no such values, and the layer's
    /// outputs are all NaN.
    NonFinite,
}

/// Converts `x` to activation codes (one pass for the shared exponent, one for the codes),
/// integer operations only. `x_j` keeps its sign, its exponent relative to the largest and the
/// top 3 bits of its mantissa (truncated toward zero, the "k-bit mantissa" convention of SPEC
/// §1.5 for which `l(3) = 3` compensates the truncation's bias); a value more than 13 binades
/// below the largest, or a subnormal or zero, becomes code 0.
pub fn encode(x: &[f32], codes: &mut [i8]) -> Result<Encoded, ShapeError> {
    check_len(codes.len(), x.len())?;
    let mut top = 0u32;
    for v in x {
        let field = (v.to_bits() >> 23) & 0xFF;
        if field == 0xFF {
            codes.fill(0);
            return Ok(Encoded::NonFinite);
        }
        top = top.max(field);
    }
    if top == 0 {
        codes.fill(0);
        return Ok(Encoded::Codes { exponent: 0 });
    }
    for (c, v) in codes.iter_mut().zip(x) {
        let bits = v.to_bits();
        let field = ((bits >> 23) & 0xFF) as i32;
        // field − top is the binade below the largest; the largest lands on TOP_FIELD.
        let f = field - top as i32 + TOP_FIELD;
        *c = if field == 0 || f < 1 {
            0
        } else {
            (((bits >> 24) & 0x80) | ((f as u32) << 3) | ((bits >> 20) & 7)) as u8 as i8
        };
    }
    Ok(Encoded::Codes {
        exponent: top as i32 - 127,
    })
}

/// The float part of an output row: `fl(fl(scalbn(fl(acc), e − 16)) · scale) + bias`. `e − 16`
/// because a code stands for `value · 2^(e − 7)` and products are counted in 2^−9.
#[inline]
pub fn finish(acc: i64, exponent: i32, scale: f32, bias: f32) -> f32 {
    // Saturating: `exponent` comes from `encode` (−126..=127), but this is a public function.
    scaled_f32(acc, exponent.saturating_sub(16)) * scale + bias
}

/// `fl(scalbn(fl(v), n))`: `v` rounded to f32 (nearest, ties to even), times `2^n`. When the
/// result is normal the scaling is exact, so it is the rounded value with its exponent field
/// moved by `n`, all in integer operations (on a core without an FPU this replaces a soft-float
/// conversion and a soft-float multiply per row); otherwise (zero, subnormal or overflowing
/// results) it is `libm::scalbnf(v as f32, n)`, the same function.
#[inline]
fn scaled_f32(v: i64, n: i32) -> f32 {
    let m = v.unsigned_abs();
    if m == 0 {
        return 0.0;
    }
    let sign = if v < 0 { 0x8000_0000u32 } else { 0 };
    let mut top = 63 - m.leading_zeros() as i32; // m ∈ [2^top, 2^(top+1))
    let sig = if top <= 23 {
        (m << (23 - top)) as u32
    } else {
        let shift = (top - 23) as u32;
        let q = m >> shift;
        let rem = m & ((1u64 << shift) - 1);
        let half = 1u64 << (shift - 1);
        let q = if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        };
        if q == 1 << 24 {
            top += 1;
            (q >> 1) as u32
        } else {
            q as u32
        }
    };
    let field = n.saturating_add(top + 127);
    if (1..=254).contains(&field) {
        f32::from_bits(sign | ((field as u32) << 23) | (sig & 0x7F_FFFF))
    } else {
        libm::scalbnf(v as f32, n)
    }
}

fn rows_of(w: &[u8], cols: usize, rows: usize) -> Result<(), ShapeError> {
    let n = rows.checked_mul(cols).ok_or(ShapeError {
        expected: usize::MAX,
        found: w.len(),
    })?;
    check_len(w.len(), n)
}

/// The definition: for each row `o` of `w` (row-major `[rows, codes.len()]`), the `i64` sum of
/// [`product`]`(w[o, j], codes[j])` in index order, passed to `emit(o, acc)`.
pub fn matvec_reference(
    w: &[u8],
    rows: usize,
    codes: &[i8],
    mut emit: impl FnMut(usize, i64),
) -> Result<(), ShapeError> {
    let cols = codes.len();
    rows_of(w, cols, rows)?;
    for o in 0..rows {
        let row = &w[o * cols..(o + 1) * cols];
        let acc: i64 = row
            .iter()
            .zip(codes)
            .map(|(&a, &c)| product(a, c as u8) as i64)
            .sum();
        emit(o, acc);
    }
    Ok(())
}

/// One product by table: the integer add of the two indices is the L-Mul add (the offset is
/// folded into [`VALUE`]); `& 1023` keeps the index in the table and reduces the sign bits mod 2.
/// `c` is the activation's index `CODE[code]`, looked up once per call (or column block).
#[inline(always)]
fn lookup(w: u8, c: u16) -> i32 {
    VALUE[(CODE[w as usize] as usize + c as usize) & 1023]
}

/// Activation indices kept on the stack: 512 bytes. Longer inputs are indexed in column blocks
/// of this size, once per pass of rows.
const XBUF: usize = 256;

/// A way of summing rows of products for [`matvec_with`].
pub(crate) trait Block {
    /// Rows per pass (1 or 2).
    const ROWS: usize;
    /// Adds the products of the first `ROWS` rows (`w[k]` is row `k`'s slice of a chunk, as
    /// long as `xi`) with the activation indices `xi` to `acc`.
    fn chunk(w: [&[u8]; 4], xi: &[u16], acc: &mut [i64; 4]);
}

/// One row at a time.
pub(crate) struct Rows1;
impl Block for Rows1 {
    const ROWS: usize = 1;
    #[inline(always)]
    fn chunk(w: [&[u8]; 4], xi: &[u16], acc: &mut [i64; 4]) {
        let mut s = 0i32;
        for (&a, &x) in w[0].iter().zip(xi) {
            // CHUNK bounds the sum (module constant): wrapping_add never wraps, it only keeps
            // the overflow check out of the loop.
            s = s.wrapping_add(lookup(a, x));
        }
        acc[0] += s as i64;
    }
}

/// Two rows per pass: each activation index is loaded once for two weights.
pub(crate) struct Rows2;
impl Block for Rows2 {
    const ROWS: usize = 2;
    #[inline(always)]
    fn chunk(w: [&[u8]; 4], xi: &[u16], acc: &mut [i64; 4]) {
        let (mut s0, mut s1) = (0i32, 0i32);
        for ((&a, &b), &x) in w[0].iter().zip(w[1]).zip(xi) {
            s0 = s0.wrapping_add(lookup(a, x));
            s1 = s1.wrapping_add(lookup(b, x));
        }
        acc[0] += s0 as i64;
        acc[1] += s1 as i64;
    }
}

/// The driver: the activation indices `CODE[c]` into a stack buffer (once per call when the
/// input fits it, else once per pass and column block), then `B::ROWS` rows per pass in chunks
/// of [`CHUNK`] columns, the remaining rows one at a time; rows are emitted in order.
pub(crate) fn matvec_with<B: Block>(
    w: &[u8],
    rows: usize,
    codes: &[i8],
    mut emit: impl FnMut(usize, i64),
) -> Result<(), ShapeError> {
    let cols = codes.len();
    rows_of(w, cols, rows)?;
    let mut xi = [0u16; XBUF];
    let index = |from: usize, xi: &mut [u16; XBUF]| -> usize {
        let part = codes.get(from..).unwrap_or(&[]);
        let n = part.len().min(XBUF);
        for (d, &c) in xi.iter_mut().zip(&part[..n]) {
            *d = CODE[c as u8 as usize];
        }
        n
    };
    let single = cols <= XBUF;
    if single {
        index(0, &mut xi);
    }
    let row = |o: usize| w.get(o * cols..(o + 1) * cols).unwrap_or(&[]);
    let mut o = 0;
    while o < rows {
        let n = if o + B::ROWS <= rows { B::ROWS } else { 1 };
        let r = [row(o), if n > 1 { row(o + 1) } else { &[] }, &[], &[]];
        let mut acc = [0i64; 4];
        let mut j = 0;
        while j < cols {
            let block = if single { cols } else { index(j, &mut xi) };
            let base = if single { 0 } else { j };
            let mut k = 0;
            while k < block {
                let end = (k + CHUNK).min(block);
                let part = |q: usize| r[q].get(base + k..base + end).unwrap_or(&[]);
                let x = xi.get(k..end).unwrap_or(&[]);
                if n == 1 {
                    Rows1::chunk([part(0), &[], &[], &[]], x, &mut acc);
                } else {
                    B::chunk([part(0), part(1), part(2), part(3)], x, &mut acc);
                }
                k = end;
            }
            j += block;
        }
        for (q, a) in acc.into_iter().enumerate().take(n) {
            emit(o + q, a);
        }
        o += n;
    }
    Ok(())
}

/// The fast matvec: two rows per pass on every target. Measured under QEMU on the 256×256
/// benchmark (instructions per MAC, M4F / M3, with the earlier soft-float epilogue): one row
/// 12.24 / 12.96, two rows 11.63 / 10.95, four rows 12.25 on the M3 (LLVM's unrolled loop
/// spills with four accumulators). Equal to
/// [`matvec_reference`].
pub fn matvec(
    w: &[u8],
    rows: usize,
    codes: &[i8],
    emit: impl FnMut(usize, i64),
) -> Result<(), ShapeError> {
    matvec_with::<Rows2>(w, rows, codes, emit)
}

/// `y = scale ⊙ (Q ⊛ x) + b` with fp8 e4m3 weights `q` (row-major `[y.len(), x.len()]`) and
/// fixed-point L-Mul products (module documentation). `codes` is scratch for the activation
/// codes (at least `x.len()` bytes; an `i8` slice so the int8 scratch of a model's workspace
/// serves, a code being the byte's bit pattern). A NaN or infinite input makes every output NaN.
pub fn dense(
    q: &[u8],
    scale: &[f32],
    b: Option<&[f32]>,
    x: &[f32],
    y: &mut [f32],
    codes: &mut [i8],
) -> Result<(), ShapeError> {
    let (rows, cols) = (y.len(), x.len());
    check_len(scale.len(), rows)?;
    if let Some(b) = b {
        check_len(b.len(), rows)?;
    }
    rows_of(q, cols, rows)?;
    let have = codes.len();
    let codes = codes.get_mut(..cols).ok_or(ShapeError {
        expected: cols,
        found: have,
    })?;
    let exponent = match encode(x, codes)? {
        Encoded::Codes { exponent } => exponent,
        Encoded::NonFinite => {
            y.fill(f32::NAN);
            return Ok(());
        }
    };
    let bias = |o: usize| b.and_then(|b| b.get(o)).copied().unwrap_or(0.0);
    matvec(q, rows, codes, |o, acc| {
        if let (Some(out), Some(&s)) = (y.get_mut(o), scale.get(o)) {
            *out = finish(acc, exponent, s, bias(o));
        }
    })
}

#[cfg(test)]
mod tests;
