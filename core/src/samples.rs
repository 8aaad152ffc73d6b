//! The samples blob (`MSMP`): labelled test vectors the host writes and the firmware embeds at
//! build time (`MOTE_SAMPLES`), so both run a model on the same inputs.
//!
//! ```text
//! offset          size   type      field
//! 0               4      [u8; 4]   magic b"MSMP"
//! 4               4      u32 LE    n, the number of samples
//! 8               4      u32 LE    d, values per sample
//! 12              4·n·d  f32 LE    the values, sample-major (sample i is values i·d .. (i+1)·d)
//! 12 + 4·n·d      n      u8        the labels, one per sample
//! ```
//!
//! The blob is exactly `12 + 4·n·d + n` bytes ([`encoded_len`]): anything shorter or longer is
//! refused. [`Samples::parse`] reads it in place like a hostile file (every size overflow-checked,
//! no panics, no allocation); [`write()`] encodes into a caller's buffer. Specification:
//! `docs/samples-format.md`.
//!
//! ```
//! use mote_core::samples::{Samples, encoded_len, write};
//! let mut buf = [0u8; 38];
//! assert_eq!(encoded_len(2, 3), Some(buf.len()));
//! let n = write(3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0, 1], &mut buf).unwrap();
//! let s = Samples::parse(&buf[..n]).unwrap();
//! let mut x = [0.0f32; 3];
//! for (i, sample) in s.iter().enumerate() {
//!     sample.read(&mut x).unwrap();
//!     assert_eq!((x[0], sample.label()), (1.0 + 3.0 * i as f32, i as u8));
//! }
//! ```

use crate::shape::{ShapeError, check_len};

/// The first four bytes of a samples blob. The blob has no version field: a different layout
/// would take a different magic.
pub const MAGIC: [u8; 4] = *b"MSMP";

/// Bytes of the header: magic, `n`, `d`.
pub const HEADER_BYTES: usize = 12;

/// Why a samples blob was refused (parsing), or could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SamplesError {
    /// The first four bytes are not [`MAGIC`] (also when there are fewer than four: on the
    /// firmware, an empty blob means it was built without `MOTE_SAMPLES`).
    BadMagic,
    /// The magic is there but the header (`n`, `d`) is cut off.
    TruncatedHeader {
        /// Bytes present (fewer than [`HEADER_BYTES`]).
        found: usize,
    },
    /// The blob's length is not that of `n` samples of `d` values plus `n` labels.
    LengthMismatch {
        /// Bytes the header implies, [`encoded_len`]`(n, d)`.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// A count or size does not fit: `n` or `d` above `u32::MAX` (writing), or the blob size
    /// `12 + 4·n·d + n` overflows `usize`.
    TooLarge {
        /// Which quantity.
        what: &'static str,
    },
    /// Writing: `features` does not hold `n · d` values (`n` = number of labels).
    FeatureCount {
        /// Values needed, `n · d`.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// Writing: the output buffer is shorter than the blob.
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

impl core::fmt::Display for SamplesError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            SamplesError::BadMagic => write!(f, "not a samples blob (no MSMP magic)"),
            SamplesError::TruncatedHeader { found } => write!(
                f,
                "samples header truncated: need {HEADER_BYTES} bytes, found {found}"
            ),
            SamplesError::LengthMismatch { expected, found } => write!(
                f,
                "samples blob length mismatch: the header implies {expected} bytes, found {found}"
            ),
            SamplesError::TooLarge { what } => write!(f, "samples blob too large: {what}"),
            SamplesError::FeatureCount { expected, found } => write!(
                f,
                "samples: expected {expected} feature values (n · d), found {found}"
            ),
            SamplesError::BufferTooSmall { need, have } => {
                write!(
                    f,
                    "samples buffer too small: need {need} bytes, have {have}"
                )
            }
        }
    }
}

impl core::error::Error for SamplesError {}

/// Bytes of the blob of `n` samples of `d` values, `12 + 4·n·d + n`; `None` if that overflows
/// `usize`.
pub fn encoded_len(n: usize, d: usize) -> Option<usize> {
    value_bytes(n, d)?.checked_add(HEADER_BYTES)?.checked_add(n)
}

/// Bytes of the values, `4·n·d`; `None` if that overflows `usize`.
fn value_bytes(n: usize, d: usize) -> Option<usize> {
    n.checked_mul(d)?.checked_mul(4)
}

/// A samples blob, validated, borrowing its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a> {
    n: usize,
    d: usize,
    /// Bytes per sample, `4·d` (0 when there are no samples).
    stride: usize,
    /// `4·n·d` bytes of little-endian f32.
    values: &'a [u8],
    /// `n` labels.
    labels: &'a [u8],
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

impl<'a> Samples<'a> {
    /// Checks the magic, the header and that the length is exactly [`encoded_len`]`(n, d)`. Any
    /// byte string is safe to pass: the sizes are overflow-checked, and no value or label is
    /// touched before the total length has been checked.
    pub fn parse(blob: &'a [u8]) -> Result<Samples<'a>, SamplesError> {
        if blob.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(SamplesError::BadMagic);
        }
        let truncated = SamplesError::TruncatedHeader { found: blob.len() };
        let n = u32_at(blob, 4).ok_or(truncated)?;
        let d = u32_at(blob, 8).ok_or(truncated)?;
        let n = usize::try_from(n).map_err(|_| SamplesError::TooLarge {
            what: "sample count above usize::MAX",
        })?;
        let d = usize::try_from(d).map_err(|_| SamplesError::TooLarge {
            what: "values per sample above usize::MAX",
        })?;
        let too_large = SamplesError::TooLarge { what: "blob size" };
        let expected = encoded_len(n, d).ok_or(too_large)?;
        if blob.len() != expected {
            return Err(SamplesError::LengthMismatch {
                expected,
                found: blob.len(),
            });
        }
        // None of these can fail once the length matched (4·n·d fits, so 4·d does when n > 0;
        // with no samples the stride is never used); checked anyway rather than assumed.
        let stride = if n == 0 {
            0
        } else {
            d.checked_mul(4).ok_or(too_large)?
        };
        let body = blob.get(HEADER_BYTES..).ok_or(truncated)?;
        let (values, labels) = body
            .split_at_checked(value_bytes(n, d).ok_or(too_large)?)
            .ok_or(truncated)?;
        Ok(Samples {
            n,
            d,
            stride,
            values,
            labels,
        })
    }

    /// Number of samples.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Values per sample.
    pub fn d(&self) -> usize {
        self.d
    }

    /// The labels, one per sample.
    pub fn labels(&self) -> &'a [u8] {
        self.labels
    }

    /// Sample `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<Sample<'a>> {
        let start = i.checked_mul(self.stride)?;
        Some(Sample {
            values: self.values.get(start..start.checked_add(self.stride)?)?,
            label: *self.labels.get(i)?,
        })
    }

    /// The samples in order.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            values: self.values,
            labels: self.labels,
            stride: self.stride,
        }
    }
}

impl<'a> IntoIterator for &Samples<'a> {
    type Item = Sample<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over the samples of a [`Samples`] blob.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    values: &'a [u8],
    labels: &'a [u8],
    /// Bytes per sample, `4·d` (0 when `d = 0`: then every sample is empty).
    stride: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Sample<'a>;

    fn next(&mut self) -> Option<Sample<'a>> {
        let (&label, labels) = self.labels.split_first()?;
        let (values, rest) = self.values.split_at_checked(self.stride)?;
        (self.labels, self.values) = (labels, rest);
        Some(Sample { values, label })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.labels.len(), Some(self.labels.len()))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// One sample: its `d` values (little-endian f32 bytes, borrowed) and its label.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    values: &'a [u8],
    label: u8,
}

impl<'a> Sample<'a> {
    /// The label.
    pub fn label(&self) -> u8 {
        self.label
    }

    /// The `d` values as little-endian f32 bytes (`4·d` bytes), e.g. to decode a part of them
    /// with [`read_f32s`].
    pub fn bytes(&self) -> &'a [u8] {
        self.values
    }

    /// Decodes the `d` values into `out`, which must hold exactly `d` elements.
    pub fn read(&self, out: &mut [f32]) -> Result<(), ShapeError> {
        check_len(out.len(), self.values.len() / 4)?;
        read_f32s(self.values, out);
        Ok(())
    }
}

/// Decodes little-endian f32 bytes into `out`, as many values as both hold (trailing bytes that
/// do not make a whole value are ignored); returns how many were written.
pub fn read_f32s(bytes: &[u8], out: &mut [f32]) -> usize {
    let mut written = 0;
    for (v, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        if let &[b0, b1, b2, b3] = b {
            *v = f32::from_le_bytes([b0, b1, b2, b3]);
            written += 1;
        }
    }
    written
}

/// The header fields of `n` samples of `d` values, refusing counts they cannot hold.
fn check_counts(n: usize, d: usize) -> Result<(u32, u32), SamplesError> {
    let n = u32::try_from(n).map_err(|_| SamplesError::TooLarge {
        what: "sample count above u32::MAX",
    })?;
    let d = u32::try_from(d).map_err(|_| SamplesError::TooLarge {
        what: "values per sample above u32::MAX",
    })?;
    Ok((n, d))
}

/// Encodes `labels.len()` samples of `d` values each (`features` row-major, sample after
/// sample) into the start of `out`, and returns the blob's length, [`encoded_len`]`(n, d)`.
/// Refuses, without writing, `n` or `d` above `u32::MAX`, a `features` length other than `n·d`
/// and a buffer too small for the blob; bytes of `out` past the blob are left untouched.
pub fn write(
    d: usize,
    features: &[f32],
    labels: &[u8],
    out: &mut [u8],
) -> Result<usize, SamplesError> {
    let n = labels.len();
    let (n32, d32) = check_counts(n, d)?;
    let values = n
        .checked_mul(d)
        .ok_or(SamplesError::TooLarge { what: "n · d" })?;
    if features.len() != values {
        return Err(SamplesError::FeatureCount {
            expected: values,
            found: features.len(),
        });
    }
    let too_large = SamplesError::TooLarge { what: "blob size" };
    let len = encoded_len(n, d).ok_or(too_large)?;
    let too_small = SamplesError::BufferTooSmall {
        need: len,
        have: out.len(),
    };
    let blob = out.get_mut(..len).ok_or(too_small)?;
    let (header, body) = blob.split_at_mut_checked(HEADER_BYTES).ok_or(too_small)?;
    let (value_out, label_out) = body
        .split_at_mut_checked(value_bytes(n, d).ok_or(too_large)?)
        .ok_or(too_small)?;
    let fields = [MAGIC, n32.to_le_bytes(), d32.to_le_bytes()];
    for (dst, src) in header.chunks_exact_mut(4).zip(fields) {
        dst.copy_from_slice(&src);
    }
    for (dst, v) in value_out.chunks_exact_mut(4).zip(features) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
    for (dst, &l) in label_out.iter_mut().zip(labels) {
        *dst = l;
    }
    Ok(len)
}

#[cfg(test)]
mod tests;
