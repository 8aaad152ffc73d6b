//! The recording blob (`MREC`): a sensor's physical readings in time order, which the host
//! writes (from a `.ts` archive, a CSV or a logger export) and the firmware's replay device
//! plays back through the sensor's register protocol, one sample per tick of the sampling timer.
//!
//! ```text
//! offset   size    type      field
//! 0        4       [u8; 4]   magic b"MREC"
//! 4        4       u32 LE    n, the number of samples
//! 8        2       u16 LE    c, channels per sample (1..=16)
//! 10       2       u16 LE    unit: 1 = milli-g (acceleration)
//! 12       4       u32 LE    sample rate in millihertz (10 Hz = 10000), > 0
//! 16       2·n·c   i16 LE    the readings, sample-major
//! ```
//!
//! The blob is exactly `16 + 2·n·c` bytes. [`Recording::parse`] reads it in place like a hostile
//! file (sizes overflow-checked, no panics, no allocation); [`write()`] encodes into a caller's
//! buffer. Specification: `docs/recording-format.md`.
//!
//! ```
//! use mote_core::sensor::recording::{Recording, Unit, encoded_len, write};
//! let mut buf = [0u8; 28];
//! assert_eq!(encoded_len(2, 3), Some(buf.len()));
//! let n = write(3, Unit::MilliG, 10_000, &[1, 2, 3, -4, -5, -6], &mut buf).unwrap();
//! let r = Recording::parse(&buf[..n]).unwrap();
//! let mut xyz = [0i16; 3];
//! r.read(1, &mut xyz).unwrap();
//! assert_eq!((r.len(), r.rate_millihertz(), xyz), (2, 10_000, [-4, -5, -6]));
//! ```

/// The first four bytes of a recording.
pub const MAGIC: [u8; 4] = *b"MREC";

/// Bytes of the header.
pub const HEADER_BYTES: usize = 16;

/// Most channels a recording may have.
pub const MAX_CHANNELS: usize = 16;

/// The physical unit of the readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    /// Acceleration in thousandths of standard gravity.
    MilliG,
}

impl Unit {
    fn code(self) -> u16 {
        match self {
            Unit::MilliG => 1,
        }
    }
}

/// Why a recording was refused, or could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordingError {
    /// The first four bytes are not [`MAGIC`].
    BadMagic,
    /// The header is cut off.
    TruncatedHeader {
        /// Bytes present.
        found: usize,
    },
    /// `c` is 0 or above [`MAX_CHANNELS`].
    Channels {
        /// The header's channel count.
        found: usize,
    },
    /// A unit code this version does not know.
    UnknownUnit {
        /// The header's unit code.
        code: u16,
    },
    /// The sample rate is zero.
    ZeroRate,
    /// The length is not that of `n` samples of `c` channels.
    LengthMismatch {
        /// Bytes the header implies.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// `16 + 2·n·c` overflows, or `n` is above `u32::MAX` (writing).
    TooLarge,
    /// Writing: the readings are not a whole number of samples, or a sample was read into a
    /// buffer of the wrong length.
    ChannelCount {
        /// Channels per sample.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// Reading: sample index past the end.
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// Samples in the recording.
        len: usize,
    },
    /// Writing: the output buffer is shorter than the blob.
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

impl core::fmt::Display for RecordingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RecordingError::BadMagic => write!(f, "not a recording (no MREC magic)"),
            RecordingError::TruncatedHeader { found } => write!(
                f,
                "recording header truncated: need {HEADER_BYTES} bytes, found {found}"
            ),
            RecordingError::Channels { found } => write!(
                f,
                "recording has {found} channels; 1..={MAX_CHANNELS} are supported"
            ),
            RecordingError::UnknownUnit { code } => {
                write!(f, "recording unit code {code} unknown (1 = milli-g)")
            }
            RecordingError::ZeroRate => write!(f, "recording sample rate is zero"),
            RecordingError::LengthMismatch { expected, found } => write!(
                f,
                "recording length mismatch: the header implies {expected} bytes, found {found}"
            ),
            RecordingError::TooLarge => write!(f, "recording too large"),
            RecordingError::ChannelCount { expected, found } => write!(
                f,
                "recording: {found} values given where whole samples of {expected} channels are needed"
            ),
            RecordingError::OutOfRange { index, len } => {
                write!(f, "recording: sample {index} past the end ({len} samples)")
            }
            RecordingError::BufferTooSmall { need, have } => write!(
                f,
                "recording buffer too small: need {need} bytes, have {have}"
            ),
        }
    }
}

impl core::error::Error for RecordingError {}

/// Bytes of a recording of `n` samples of `c` channels; `None` on overflow.
pub fn encoded_len(n: usize, c: usize) -> Option<usize> {
    n.checked_mul(c)?.checked_mul(2)?.checked_add(HEADER_BYTES)
}

/// A validated recording, borrowing its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Recording<'a> {
    n: usize,
    channels: usize,
    unit: Unit,
    rate_millihertz: u32,
    values: &'a [u8],
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

impl<'a> Recording<'a> {
    /// Checks magic, header and exact length; any byte string is safe to pass.
    pub fn parse(blob: &'a [u8]) -> Result<Recording<'a>, RecordingError> {
        if blob.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(RecordingError::BadMagic);
        }
        if blob.len() < HEADER_BYTES {
            return Err(RecordingError::TruncatedHeader { found: blob.len() });
        }
        let truncated = RecordingError::TruncatedHeader { found: blob.len() };
        let n = usize::try_from(u32_at(blob, 4).ok_or(truncated)?)
            .map_err(|_| RecordingError::TooLarge)?;
        let channels = usize::from(u16_at(blob, 8).ok_or(truncated)?);
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(RecordingError::Channels { found: channels });
        }
        let unit = match u16_at(blob, 10).ok_or(truncated)? {
            1 => Unit::MilliG,
            code => return Err(RecordingError::UnknownUnit { code }),
        };
        let rate_millihertz = u32_at(blob, 12).ok_or(truncated)?;
        if rate_millihertz == 0 {
            return Err(RecordingError::ZeroRate);
        }
        let expected = encoded_len(n, channels).ok_or(RecordingError::TooLarge)?;
        if blob.len() != expected {
            return Err(RecordingError::LengthMismatch {
                expected,
                found: blob.len(),
            });
        }
        Ok(Recording {
            n,
            channels,
            unit,
            rate_millihertz,
            values: blob.get(HEADER_BYTES..).ok_or(truncated)?,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Channels per sample.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The readings' unit.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// The sample rate in millihertz.
    pub fn rate_millihertz(&self) -> u32 {
        self.rate_millihertz
    }

    /// Reads sample `index` into `out` (exactly [`Self::channels`] values).
    pub fn read(&self, index: usize, out: &mut [i16]) -> Result<(), RecordingError> {
        if out.len() != self.channels {
            return Err(RecordingError::ChannelCount {
                expected: self.channels,
                found: out.len(),
            });
        }
        if index >= self.n {
            return Err(RecordingError::OutOfRange { index, len: self.n });
        }
        // In range: index < n and the length check made 2·n·c fit.
        let start = index * self.channels * 2;
        let bytes = self
            .values
            .get(start..start + 2 * self.channels)
            .ok_or(RecordingError::OutOfRange { index, len: self.n })?;
        for (v, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *v = i16::from_le_bytes([b[0], b[1]]);
        }
        Ok(())
    }
}

/// Encodes `values` (sample-major, `channels` per sample) into `out`; returns the bytes written.
pub fn write(
    channels: usize,
    unit: Unit,
    rate_millihertz: u32,
    values: &[i16],
    out: &mut [u8],
) -> Result<usize, RecordingError> {
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(RecordingError::Channels { found: channels });
    }
    if !values.len().is_multiple_of(channels) {
        return Err(RecordingError::ChannelCount {
            expected: channels,
            found: values.len(),
        });
    }
    if rate_millihertz == 0 {
        return Err(RecordingError::ZeroRate);
    }
    let n = values.len() / channels;
    let n32 = u32::try_from(n).map_err(|_| RecordingError::TooLarge)?;
    let need = encoded_len(n, channels).ok_or(RecordingError::TooLarge)?;
    let have = out.len();
    let out = out
        .get_mut(..need)
        .ok_or(RecordingError::BufferTooSmall { need, have })?;
    let (header, body) = out.split_at_mut(HEADER_BYTES);
    header[..4].copy_from_slice(&MAGIC);
    header[4..8].copy_from_slice(&n32.to_le_bytes());
    header[8..10].copy_from_slice(&(channels as u16).to_le_bytes());
    header[10..12].copy_from_slice(&unit.code().to_le_bytes());
    header[12..16].copy_from_slice(&rate_millihertz.to_le_bytes());
    for (b, v) in body.chunks_exact_mut(2).zip(values) {
        b.copy_from_slice(&v.to_le_bytes());
    }
    Ok(need)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blob(n: u32, c: u16, unit: u16, rate: u32) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..4].copy_from_slice(&MAGIC);
        b[4..8].copy_from_slice(&n.to_le_bytes());
        b[8..10].copy_from_slice(&c.to_le_bytes());
        b[10..12].copy_from_slice(&unit.to_le_bytes());
        b[12..16].copy_from_slice(&rate.to_le_bytes());
        b
    }

    #[test]
    fn refusals_name_the_fault() {
        let b = blob(2, 3, 1, 10_000);
        assert!(Recording::parse(&b[..28]).is_ok());
        assert_eq!(
            Recording::parse(b"MRE").unwrap_err(),
            RecordingError::BadMagic
        );
        assert_eq!(
            Recording::parse(&b[..10]).unwrap_err(),
            RecordingError::TruncatedHeader { found: 10 }
        );
        assert_eq!(
            Recording::parse(&b[..27]).unwrap_err(),
            RecordingError::LengthMismatch {
                expected: 28,
                found: 27
            }
        );
        let b0 = blob(2, 0, 1, 10_000);
        assert_eq!(
            Recording::parse(&b0[..16]).unwrap_err(),
            RecordingError::Channels { found: 0 }
        );
        let b17 = blob(1, 17, 1, 10_000);
        assert_eq!(
            Recording::parse(&b17[..50]).unwrap_err(),
            RecordingError::Channels { found: 17 }
        );
        let bu = blob(0, 1, 7, 10_000);
        assert_eq!(
            Recording::parse(&bu[..16]).unwrap_err(),
            RecordingError::UnknownUnit { code: 7 }
        );
        let br = blob(0, 1, 1, 0);
        assert_eq!(
            Recording::parse(&br[..16]).unwrap_err(),
            RecordingError::ZeroRate
        );
        let huge = blob(u32::MAX, 16, 1, 1);
        assert!(matches!(
            Recording::parse(&huge[..16]).unwrap_err(),
            RecordingError::LengthMismatch { .. } | RecordingError::TooLarge
        ));
        let r = Recording::parse(&b[..28]).unwrap();
        assert_eq!(
            r.read(2, &mut [0; 3]).unwrap_err(),
            RecordingError::OutOfRange { index: 2, len: 2 }
        );
        assert_eq!(
            r.read(0, &mut [0; 2]).unwrap_err(),
            RecordingError::ChannelCount {
                expected: 3,
                found: 2
            }
        );
        let mut small = [0u8; 20];
        assert_eq!(
            write(3, Unit::MilliG, 1, &[0; 6], &mut small).unwrap_err(),
            RecordingError::BufferTooSmall { need: 28, have: 20 }
        );
        assert_eq!(
            write(3, Unit::MilliG, 1, &[0; 5], &mut [0; 64]).unwrap_err(),
            RecordingError::ChannelCount {
                expected: 3,
                found: 5
            }
        );
    }

    proptest! {
        #[test]
        fn write_then_parse_round_trips(c in 1usize..=16, n in 0usize..20, rate in 1u32.., seed in any::<i16>()) {
            let values: [i16; 320] = core::array::from_fn(|i| seed.wrapping_mul(i as i16 + 7));
            let values = &values[..n * c];
            let mut buf = [0u8; 16 + 640];
            let len = write(c, Unit::MilliG, rate, values, &mut buf).unwrap();
            let r = Recording::parse(&buf[..len]).unwrap();
            prop_assert_eq!((r.len(), r.channels(), r.rate_millihertz(), r.unit()), (n, c, rate, Unit::MilliG));
            let mut s = [0i16; 16];
            for i in 0..n {
                r.read(i, &mut s[..c]).unwrap();
                prop_assert_eq!(&s[..c], &values[i * c..(i + 1) * c]);
            }
        }

        #[test]
        fn any_bytes_parse_or_err(bytes in proptest::collection::vec(any::<u8>(), 0..80), magic in any::<bool>()) {
            let mut bytes = bytes;
            if magic && bytes.len() >= 4 { bytes[..4].copy_from_slice(&MAGIC); }
            if let Ok(r) = Recording::parse(&bytes) {
                let mut s = [0i16; 16];
                for i in 0..r.len() { r.read(i, &mut s[..r.channels()]).unwrap(); }
            }
        }
    }
}
