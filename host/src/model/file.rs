//! A model file's bytes held where `mote-core` can read them in place.

use std::path::Path;

use anyhow::Result;
use mote_core::model::{self, Model, format};

use crate::input::{self, InputError, Limit};

/// A model file's bytes at a 16-byte aligned address, as `mote-core` reads them in place.
/// (Safe code: a slightly larger buffer, with the model copied to its first aligned offset.)
pub struct AlignedModel {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedModel {
    /// Copies `bytes` to an aligned position.
    pub fn new(bytes: &[u8]) -> AlignedModel {
        let mut buf = vec![0u8; bytes.len() + 16];
        let start = (16 - buf.as_ptr() as usize % 16) % 16;
        buf[start..start + bytes.len()].copy_from_slice(bytes);
        AlignedModel {
            buf,
            start,
            len: bytes.len(),
        }
    }

    /// Takes `bytes` as they are if they happen to be aligned (large allocations usually are),
    /// and copies them otherwise.
    fn from_vec(bytes: Vec<u8>) -> AlignedModel {
        if (bytes.as_ptr() as usize).is_multiple_of(16) {
            let len = bytes.len();
            return AlignedModel {
                buf: bytes,
                start: 0,
                len,
            };
        }
        AlignedModel::new(&bytes)
    }

    /// Reads a file, bounded: no `.mote` file is larger than `u32::MAX` bytes (the header's
    /// `file_bytes` is a u32) or than the memory available; a regular file is checked by its
    /// size before it is read, a stream (FIFO, device) is read no further than the
    /// `file_bytes` of its header — or only its 64-byte header, when that is not a model
    /// header (which [`Self::parse`] then refuses).
    pub fn read(path: &Path) -> Result<AlignedModel> {
        Ok(Self::from_vec(read_bounded(path)?))
    }

    /// The aligned bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// Parses them.
    pub fn parse(&self) -> Result<Model<'_>, model::ParseError> {
        Model::parse(self.bytes())
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, InputError> {
    let mut file = input::open(path)?;
    let limit = Limit::memory().min(Limit::cap(
        u64::from(u32::MAX),
        "a .mote file (its header's file_bytes is a u32)",
    ));
    if file.size().is_some() {
        file.check_len(&limit)?;
        return file.read_rest(&limit);
    }
    let mut head = vec![0u8; format::HEADER_BYTES];
    let n = file.read_full(&mut head)?;
    head.truncate(n);
    let declared = match head.get(..8) {
        Some(magic) if n == format::HEADER_BYTES && magic == format::MAGIC => {
            let at = format::header::FILE_BYTES;
            u64::from(u32::from_le_bytes([
                head[at],
                head[at + 1],
                head[at + 2],
                head[at + 3],
            ]))
        }
        // Not a model header: the parser says so, from these bytes.
        _ => return Ok(head),
    };
    if declared > limit.bytes {
        return Err(InputError::too_large(
            path,
            format!(
                "its header declares {declared} bytes (file_bytes), more than {}",
                limit.reason
            ),
        ));
    }
    let rest = Limit {
        bytes: declared.saturating_sub(format::HEADER_BYTES as u64),
        reason: format!("the {declared} bytes its header declares (file_bytes)"),
    };
    head.extend_from_slice(&file.read_rest(&rest)?);
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-byte header with the magic and `file_bytes`, nothing else valid.
    fn header(file_bytes: u32) -> Vec<u8> {
        let mut h = vec![0u8; format::HEADER_BYTES];
        h[..8].copy_from_slice(&format::MAGIC);
        let at = format::header::FILE_BYTES;
        h[at..at + 4].copy_from_slice(&file_bytes.to_le_bytes());
        h
    }

    #[test]
    fn dev_zero_is_read_no_further_than_a_header() {
        let file = AlignedModel::read(Path::new("/dev/zero")).expect("64 bytes read");
        assert_eq!(file.bytes(), [0u8; 64]);
        assert_eq!(
            file.parse().err().map(|e| e.to_string()).as_deref(),
            Some("not a mote model file (bad magic)")
        );
    }

    #[test]
    fn a_stream_is_read_no_further_than_its_header_declares() {
        let mut long = header(100);
        long.resize(1 << 20, 7);
        let (_dir, fifo, writer) = input::tests::fifo_with(long);
        let Err(e) = AlignedModel::read(&fifo) else {
            panic!("lying header accepted")
        };
        assert!(
            e.to_string().ends_with(
                "read more than the 100 bytes its header declares (file_bytes) from this \
                 non-regular file (device, FIFO or pipe) and stopped there"
            ),
            "{e}"
        );
        writer.join().expect("writer");
        let mut exact = header(100);
        exact.resize(100, 7);
        let (_dir, fifo, writer) = input::tests::fifo_with(exact.clone());
        assert_eq!(AlignedModel::read(&fifo).expect("reads").bytes(), exact);
        writer.join().expect("writer");
        let dir = tempfile::tempdir().expect("tmp");
        let Err(e) = AlignedModel::read(dir.path()) else {
            panic!("directory accepted")
        };
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
}
