//! A model file's bytes held where `mote-core` can read them in place.

use std::path::Path;

use anyhow::{Context, Result};
use mote_core::model::{self, Model};

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
    /// Reads a file.
    pub fn read(path: &Path) -> Result<AlignedModel> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(AlignedModel::new(&bytes))
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
