//! Input files read with a byte limit, checked before the bytes are asked for.
//!
//! Every reader of a user-supplied file goes through here, so that `/dev/zero`, a FIFO that never
//! ends or a file many times larger than memory is refused with a message naming the file, its
//! size and the limit, instead of being read until the allocation fails:
//!
//! - a **regular file**'s size (`metadata().len()`) is compared with the limit before anything
//!   is read (and the read is still cut at the limit, in case the file grows meanwhile);
//! - a **non-regular file** (a device, a FIFO, `/dev/stdin`) is read through
//!   [`Read::take`]`(limit + 1)`: one byte more than the limit is an error;
//! - a **directory** is refused at once.
//!
//! A [`Limit`] is the memory available now ([`Limit::memory`], from [`crate::budget`]) and, where
//! the format knows better, a format-specific cap ([`Limit::cap`]); the smaller one applies and
//! its reason is in the message. Text inputs ([`read_text`]) are also refused at their first NUL
//! byte or invalid UTF-8 sequence, so a binary stream fails after its first block.
//!
//! [`safetensors`] reads a safetensors file header first: the 8-byte header length (at most
//! [`SAFETENSORS_MAX_HEADER`], and no more than the file holds), the JSON header, then exactly
//! the tensor data its offsets cover, after checking that size against the file and the memory.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::budget;

/// Largest safetensors JSON header accepted (the `safetensors` crate's own cap: 100 MB).
pub const SAFETENSORS_MAX_HEADER: u64 = 100_000_000;

/// Bytes read at a time from a non-regular file (and the granularity of the text checks).
const CHUNK: usize = 64 << 10;

/// How many bytes an input may have, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The most bytes accepted.
    pub bytes: u64,
    /// The reason, as it reads after "more than": `the 21.0 GB of memory available`.
    pub reason: String,
}

impl Limit {
    /// The memory available now ([`budget::available`]); where the system does not say, the
    /// address space.
    pub fn memory() -> Limit {
        match budget::available() {
            Some(bytes) => Limit {
                bytes,
                reason: format!("the {} of memory available", budget::human(bytes)),
            },
            None => Limit {
                bytes: isize::MAX as u64,
                reason: "what this machine can address".into(),
            },
        }
    }

    /// A format's own cap: `what` names the input (`a plugin component`).
    pub fn cap(bytes: u64, what: &str) -> Limit {
        Limit {
            bytes,
            reason: format!("the {} allowed for {what}", budget::human(bytes)),
        }
    }

    /// The memory available and the format cap of `what`, whichever is smaller.
    pub fn memory_and_cap(bytes: u64, what: &str) -> Limit {
        Limit::memory().min(Limit::cap(bytes, what))
    }

    /// The smaller of two limits.
    pub fn min(self, other: Limit) -> Limit {
        if other.bytes < self.bytes {
            other
        } else {
            self
        }
    }
}

/// What went wrong reading an input file.
#[derive(Debug)]
#[non_exhaustive]
pub enum InputErrorKind {
    /// The OS refused (not found, permission, a read error).
    Io(io::Error),
    /// The input is larger than a [`Limit`] (or than the memory its contents would need).
    TooLarge(String),
    /// The contents contradict their format (a header that lies about the size, binary data
    /// where text is expected).
    Invalid(String),
}

/// Why an input file was not read; it names the file.
#[derive(Debug)]
pub struct InputError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: InputErrorKind,
}

impl InputError {
    fn io(path: &Path, source: io::Error) -> InputError {
        InputError {
            path: path.to_path_buf(),
            kind: InputErrorKind::Io(source),
        }
    }

    /// An error for `path` that is larger than a limit allows.
    pub fn too_large(path: &Path, message: String) -> InputError {
        InputError {
            path: path.to_path_buf(),
            kind: InputErrorKind::TooLarge(message),
        }
    }

    /// An error for `path` whose contents contradict their format.
    pub fn invalid(path: &Path, message: impl Into<String>) -> InputError {
        InputError {
            path: path.to_path_buf(),
            kind: InputErrorKind::Invalid(message.into()),
        }
    }

    /// The message without the file name (for error types that add the name themselves).
    pub fn message(&self) -> String {
        match &self.kind {
            InputErrorKind::Io(e) => e.to_string(),
            InputErrorKind::TooLarge(m) | InputErrorKind::Invalid(m) => m.clone(),
        }
    }

    /// As an [`io::Error`] of the matching kind, without the file name.
    pub fn into_io(self) -> io::Error {
        match self.kind {
            InputErrorKind::Io(e) => e,
            InputErrorKind::TooLarge(m) => io::Error::new(io::ErrorKind::FileTooLarge, m),
            InputErrorKind::Invalid(m) => io::Error::new(io::ErrorKind::InvalidData, m),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message())
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            InputErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// An open input file: a regular file with its size, or a stream (device, FIFO, pipe).
#[derive(Debug)]
pub struct Input {
    path: PathBuf,
    file: File,
    len: Option<u64>,
    read: u64,
}

/// Opens `path` for reading; a directory is refused.
pub fn open(path: &Path) -> Result<Input, InputError> {
    let file = File::open(path).map_err(|e| InputError::io(path, e))?;
    let meta = file.metadata().map_err(|e| InputError::io(path, e))?;
    if meta.is_dir() {
        return Err(InputError::invalid(path, "is a directory; expected a file"));
    }
    Ok(Input {
        path: path.to_path_buf(),
        file,
        len: meta.is_file().then_some(meta.len()),
        read: 0,
    })
}

impl Input {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size of a regular file; `None` for a device, FIFO or pipe.
    pub fn size(&self) -> Option<u64> {
        self.len
    }

    /// Bytes left in a regular file (`None` for a stream).
    pub fn remaining(&self) -> Option<u64> {
        self.len.map(|l| l.saturating_sub(self.read))
    }

    /// Refuses a regular file larger than `limit` before anything is read from it.
    pub fn check_len(&self, limit: &Limit) -> Result<(), InputError> {
        match self.len {
            Some(len) if len > limit.bytes => Err(InputError::too_large(
                &self.path,
                format!(
                    "{} ({len} bytes) is more than {}",
                    budget::human(len),
                    limit.reason
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Reads until `buf` is full or the file ends; returns the bytes read.
    pub fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, InputError> {
        let n = read_full(&mut *self, buf).map_err(|e| InputError::io(&self.path, e))?;
        Ok(n)
    }

    /// Reads the rest of the file, refusing more than `limit` bytes (from here on): a regular
    /// file by its size before reading, a stream after `limit + 1` bytes.
    pub fn read_rest(&mut self, limit: &Limit) -> Result<Vec<u8>, InputError> {
        if let Some(rest) = self.remaining()
            && rest > limit.bytes
        {
            return Err(InputError::too_large(
                &self.path,
                format!(
                    "{} ({rest} bytes) is more than {}",
                    budget::human(rest),
                    limit.reason
                ),
            ));
        }
        let mut out = Vec::new();
        if let Some(rest) = self.remaining() {
            // The size was checked against the limit (which is at most the memory available).
            out.reserve_exact(usize::try_from(rest).unwrap_or(0));
        }
        self.read_into(&mut out, limit, |_, _| Ok(()))?;
        Ok(out)
    }

    /// Appends to `out` until the file ends, `check` fails, or more than `limit` bytes were read.
    /// `check(all, from)` sees everything appended so far (`all`, from the start of this read)
    /// after each block, the new block starting at `from`.
    fn read_into(
        &mut self,
        out: &mut Vec<u8>,
        limit: &Limit,
        mut check: impl FnMut(&[u8], usize) -> Result<(), String>,
    ) -> Result<(), InputError> {
        let start = out.len();
        let mut block = vec![0u8; CHUNK];
        loop {
            let got = (out.len() - start) as u64;
            // At most one byte past the limit, so a stream is stopped right after it.
            let want = limit.bytes.saturating_add(1).saturating_sub(got);
            if want == 0 {
                return Err(InputError::too_large(
                    &self.path,
                    format!(
                        "read more than {} from this {} and stopped there",
                        limit.reason,
                        if self.len.is_some() {
                            "file (it grew while being read)"
                        } else {
                            "non-regular file (device, FIFO or pipe)"
                        }
                    ),
                ));
            }
            let take = usize::try_from(want).unwrap_or(CHUNK).min(CHUNK);
            let n = match self.read(&mut block[..take]) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(InputError::io(&self.path, e)),
            };
            out.extend_from_slice(&block[..n]);
            let all = &out[start..];
            check(all, all.len() - n).map_err(|m| InputError::invalid(&self.path, m))?;
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads from `r` until `buf` is full or `r` ends (unlike [`Read::read_exact`], a short read is
/// not an error: the count tells). Errors are the reader's own.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads all of `path`, refusing more than `limit` bytes (see the module doc).
pub fn read_limited(path: &Path, limit: &Limit) -> Result<Vec<u8>, InputError> {
    let mut input = open(path)?;
    input.check_len(limit)?;
    input.read_rest(limit)
}

/// Reads all of `path` as UTF-8 text, refusing more than `limit` bytes, a NUL byte or invalid
/// UTF-8 as soon as the block holding it is read (so `/dev/zero` or `/dev/urandom` fails after
/// one block, whatever the limit).
pub fn read_text(path: &Path, limit: &Limit) -> Result<String, InputError> {
    let mut input = open(path)?;
    input.check_len(limit)?;
    let mut out = Vec::new();
    if let Some(len) = input.size() {
        out.reserve_exact(usize::try_from(len).unwrap_or(0));
    }
    // Bytes before `valid` are known to be UTF-8; a sequence cut at the end of a block is
    // checked again with the next one.
    let mut valid = 0usize;
    input.read_into(&mut out, limit, |all, from| {
        if let Some(i) = all[from..].iter().position(|&b| b == 0) {
            return Err(format!("byte {} is NUL: not a text file", from + i));
        }
        match std::str::from_utf8(&all[valid..]) {
            Ok(_) => valid = all.len(),
            Err(e) if e.error_len().is_none() => valid += e.valid_up_to(),
            Err(e) => {
                return Err(format!(
                    "invalid UTF-8 at byte {}: not a text file",
                    valid + e.valid_up_to()
                ));
            }
        }
        Ok(())
    })?;
    String::from_utf8(out).map_err(|e| {
        InputError::invalid(
            input.path(),
            format!(
                "invalid UTF-8 at byte {} (the file ends inside a character): not a text file",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Reads a safetensors file, sizes first: the 8-byte header length (refused above
/// [`SAFETENSORS_MAX_HEADER`] or beyond the end of the file), the JSON header, and then exactly
/// the tensor data its `data_offsets` cover, once that size has been checked against the file's
/// and the memory available. Returns the whole file, for `SafeTensors::deserialize`.
pub fn safetensors(path: &Path) -> Result<Vec<u8>, InputError> {
    let mut input = open(path)?;
    let len = input.size();
    safetensors_from(&mut input, len, path)
}

/// [`safetensors`] from any reader; `len` is the size if known (a regular file), `path` names
/// the file in errors.
pub fn safetensors_from(
    r: &mut impl Read,
    len: Option<u64>,
    path: &Path,
) -> Result<Vec<u8>, InputError> {
    let invalid = |m: String| InputError::invalid(path, m);
    let mut n8 = [0u8; 8];
    let got = read_full(r, &mut n8).map_err(|e| InputError::io(path, e))?;
    if got < 8 {
        return Err(invalid(format!(
            "{got} bytes, shorter than the 8-byte header length"
        )));
    }
    let n = u64::from_le_bytes(n8);
    if n < 2 {
        return Err(invalid(format!(
            "header of {n} bytes (the header is a JSON object, at least `{{}}`)"
        )));
    }
    if n > SAFETENSORS_MAX_HEADER {
        return Err(invalid(format!(
            "header of {n} bytes, more than safetensors' limit of {}",
            budget::human(SAFETENSORS_MAX_HEADER)
        )));
    }
    if let Some(len) = len
        && n > len.saturating_sub(8)
    {
        return Err(invalid(format!(
            "header of {n} bytes, but the file has only {} bytes after the header length",
            len.saturating_sub(8)
        )));
    }
    // n <= 100 MB: the cast and the allocation are fine.
    let head = 8 + n as usize;
    let mut out = vec![0u8; head];
    out[..8].copy_from_slice(&n8);
    let got = read_full(r, &mut out[8..]).map_err(|e| InputError::io(path, e))?;
    if got < head - 8 {
        return Err(invalid(format!(
            "header of {n} bytes, but the file ends {got} bytes into it"
        )));
    }
    let data = serde_json::from_slice::<DataEnd>(&out[8..])
        .map_err(|e| invalid(format!("header: {e}")))?
        .0;
    if let Some(len) = len
        && len.saturating_sub(8 + n) != data
    {
        return Err(invalid(format!(
            "the header's data_offsets cover {data} bytes of tensor data, the file has {} after \
             the header",
            len.saturating_sub(8 + n)
        )));
    }
    let total = data.checked_add(head as u64).ok_or_else(|| {
        InputError::too_large(path, format!("tensor data of {data} bytes overflows"))
    })?;
    budget::check("the tensor data its header declares", total)
        .map_err(|e| InputError::too_large(path, e.to_string()))?;
    out.reserve_exact(usize::try_from(data).unwrap_or(0));
    r.take(data.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| InputError::io(path, e))?;
    let found = (out.len() - head) as u64;
    if found != data {
        return Err(invalid(format!(
            "the header's data_offsets cover {data} bytes of tensor data, the file has {}",
            if found > data {
                "more".to_string()
            } else {
                format!("{found}")
            }
        )));
    }
    Ok(out)
}

/// The end of the tensor data a safetensors header declares (the largest `data_offsets` end),
/// read without keeping the header (`dtype`, `shape` and `__metadata__` are skipped; the
/// `safetensors` crate validates them afterwards).
struct DataEnd(u64);

impl<'de> serde::Deserialize<'de> for DataEnd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(DataEndVisitor)
    }
}

struct DataEndVisitor;

/// One tensor entry; only its offsets matter here.
#[derive(serde::Deserialize)]
struct Offsets {
    data_offsets: [u64; 2],
}

impl<'de> serde::de::Visitor<'de> for DataEndVisitor {
    type Value = DataEnd;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of tensors")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<DataEnd, A::Error> {
        use serde::de::Error;
        let mut end = 0u64;
        while let Some(key) = map.next_key::<String>()? {
            if key == "__metadata__" {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let [begin, stop] = map
                .next_value::<Offsets>()
                .map_err(|e| A::Error::custom(format!("tensor `{key}`: {e}")))?
                .data_offsets;
            if begin > stop {
                return Err(A::Error::custom(format!(
                    "tensor `{key}`: data_offsets [{begin}, {stop}] end before they begin"
                )));
            }
            end = end.max(stop);
        }
        Ok(DataEnd(end))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A FIFO in a fresh directory and a thread writing `data` into it (then closing it); the
    /// writer ignores a reader that stops early.
    pub(crate) fn fifo_with(
        data: Vec<u8>,
    ) -> (tempfile::TempDir, PathBuf, std::thread::JoinHandle<()>) {
        let dir = tempfile::tempdir().expect("tmp dir");
        let path = dir.path().join("fifo");
        let ok = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo runs");
        assert!(ok.success(), "mkfifo {}", path.display());
        let p = path.clone();
        let writer = std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&p) {
                let _ = f.write_all(&data);
            }
        });
        (dir, path, writer)
    }

    #[test]
    fn regular_files_are_checked_by_size_before_reading() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("in.bin");
        std::fs::write(&p, [1u8; 2000]).expect("write");
        let e = read_limited(&p, &Limit::cap(1999, "a test input")).expect_err("too large");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: 2.0 KB (2000 bytes) is more than the 2.0 KB allowed for a test input",
                p.display()
            )
        );
        assert!(matches!(e.kind, InputErrorKind::TooLarge(_)));
        assert_eq!(
            read_limited(&p, &Limit::cap(2000, "x")).expect("fits"),
            [1u8; 2000]
        );
        let e = read_limited(dir.path(), &Limit::memory()).expect_err("dir");
        assert!(
            e.to_string().ends_with("is a directory; expected a file"),
            "{e}"
        );
        let e = read_limited(&dir.path().join("none"), &Limit::memory()).expect_err("missing");
        assert!(matches!(e.kind, InputErrorKind::Io(_)), "{e}");
        assert!(e.to_string().contains("none"), "{e}");
    }

    #[test]
    fn streams_stop_one_byte_past_the_limit() {
        let e = read_limited(Path::new("/dev/zero"), &Limit::cap(1 << 20, "a test input"))
            .expect_err("endless");
        assert_eq!(
            e.to_string(),
            "/dev/zero: read more than the 1.0 MB allowed for a test input from this \
             non-regular file (device, FIFO or pipe) and stopped there"
        );
        let (_d, fifo, w) = fifo_with(vec![5; 3000]);
        let e = read_limited(&fifo, &Limit::cap(2999, "a test input")).expect_err("over");
        assert!(e.to_string().contains("read more than"), "{e}");
        w.join().expect("writer");
        let (_d, fifo, w) = fifo_with(vec![5; 3000]);
        assert_eq!(
            read_limited(&fifo, &Limit::cap(3000, "x"))
                .expect("fits")
                .len(),
            3000
        );
        w.join().expect("writer");
        assert!(Limit::memory().bytes > 0);
        let l = Limit::memory_and_cap(10, "x");
        assert_eq!(l.bytes, 10);
    }

    #[test]
    fn text_is_refused_at_the_first_binary_block() {
        // With the whole memory as the limit, /dev/zero still fails after one block.
        let start = std::time::Instant::now();
        let e = read_text(Path::new("/dev/zero"), &Limit::memory()).expect_err("zeros");
        assert_eq!(e.to_string(), "/dev/zero: byte 0 is NUL: not a text file");
        let e = read_text(Path::new("/dev/urandom"), &Limit::memory()).expect_err("noise");
        assert!(e.to_string().ends_with("not a text file"), "{e}");
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
        // A character across a block boundary is fine; one cut off at the end is not.
        let mut text = "a".repeat(CHUNK - 1).into_bytes();
        text.extend("é, ü\n".as_bytes());
        let (_d, fifo, w) = fifo_with(text.clone());
        let got = read_text(&fifo, &Limit::memory()).expect("valid text");
        assert_eq!(got.as_bytes(), text);
        w.join().expect("writer");
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("cut.txt");
        std::fs::write(&p, &text[..CHUNK]).expect("write");
        let e = read_text(&p, &Limit::memory()).expect_err("cut");
        assert!(e.to_string().contains("ends inside a character"), "{e}");
        std::fs::write(&p, b"ok\xff\xfe").expect("write");
        let e = read_text(&p, &Limit::memory()).expect_err("bad utf-8");
        assert!(
            e.to_string()
                .ends_with("invalid UTF-8 at byte 2: not a text file"),
            "{e}"
        );
    }

    fn small_safetensors() -> Vec<u8> {
        crate::nn::mlp::Mlp {
            layers: vec![crate::nn::mlp::Dense {
                out_dim: 1,
                in_dim: 2,
                weight: vec![1.0, 2.0],
                bias: vec![0.5],
            }],
        }
        .to_safetensors()
    }

    #[test]
    fn safetensors_sizes_are_checked_first() {
        let e = safetensors(Path::new("/dev/zero")).expect_err("zeros");
        assert_eq!(
            e.to_string(),
            "/dev/zero: header of 0 bytes (the header is a JSON object, at least `{}`)"
        );
        let e = safetensors(Path::new("/dev/urandom")).expect_err("noise");
        assert!(e.to_string().starts_with("/dev/urandom: "), "{e}");
        let e = crate::nn::mlp::Mlp::load(Path::new("/dev/zero")).expect_err("zeros");
        assert_eq!(
            e.to_string(),
            "/dev/zero: not a valid safetensors file: header of 0 bytes (the header is a JSON \
             object, at least `{}`)"
        );
        let e = crate::plugin::models::Model::read(Path::new("/dev/zero")).expect_err("zeros");
        assert!(
            format!("{e:#}").starts_with("/dev/zero: not a valid safetensors file: header of 0"),
            "{e:#}"
        );

        let good = small_safetensors();
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("m.safetensors");
        std::fs::write(&p, &good).expect("write");
        assert_eq!(safetensors(&p).expect("valid"), good);
        let (_d, fifo, w) = fifo_with(good.clone());
        assert_eq!(safetensors(&fifo).expect("valid stream"), good);
        w.join().expect("writer");

        // A header length beyond the end of the file, or beyond safetensors' cap.
        let mut lying = good.clone();
        lying[..8].copy_from_slice(&1_000_000u64.to_le_bytes());
        std::fs::write(&p, &lying).expect("write");
        let e = safetensors(&p).expect_err("lying length").to_string();
        assert!(
            e.ends_with(&format!(
                "header of 1000000 bytes, but the file has only {} bytes after the header length",
                good.len() - 8
            )),
            "{e}"
        );
        lying[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = safetensors_from(&mut lying.as_slice(), None, &p).expect_err("huge");
        assert!(
            e.to_string()
                .contains("more than safetensors' limit of 100.0 MB"),
            "{e}"
        );

        // Offsets that declare more data than the file has: a regular file and a stream.
        let n = u64::from_le_bytes(good[..8].try_into().expect("8 bytes")) as usize;
        let header = std::str::from_utf8(&good[8..8 + n]).expect("json");
        let data = good.len() - 8 - n;
        let big = header.replacen(&format!("{data}]"), &format!("{}]", 1u64 << 40), 1);
        assert_ne!(big, header, "{header}");
        let mut lying = (big.len() as u64).to_le_bytes().to_vec();
        lying.extend(big.as_bytes());
        lying.extend(&good[8 + n..]);
        std::fs::write(&p, &lying).expect("write");
        let e = safetensors(&p).expect_err("lying offsets").to_string();
        assert!(
            e.ends_with(&format!(
                "the header's data_offsets cover 1099511627776 bytes of tensor data, the file \
                 has {data} after the header"
            )),
            "{e}"
        );
        let e = safetensors_from(&mut lying.as_slice(), None, &p).expect_err("stream");
        assert!(e.to_string().contains("would need 1.1 TB"), "{e}");
        let mut long = good.clone();
        long.extend([0u8; 100]);
        let e = safetensors_from(&mut long.as_slice(), None, &p).expect_err("longer");
        assert!(
            e.to_string().ends_with(&format!(
                "cover {data} bytes of tensor data, the file has more"
            )),
            "{e}"
        );
        let short = &good[..good.len() - 1];
        let e = safetensors_from(&mut &short[..], None, &p).expect_err("shorter");
        assert!(
            e.to_string()
                .ends_with(&format!("the file has {}", data - 1)),
            "{e}"
        );
        let e =
            safetensors_from(&mut &b"\x05\0\0\0\0\0\0\0{\"a\":1}"[..], None, &p).expect_err("bad");
        assert!(e.to_string().contains("header: "), "{e}");
    }

    #[test]
    fn plugin_components_are_capped() {
        let e = crate::plugin::rule::PluginRule::load(
            Path::new("/dev/zero"),
            crate::plugin::rule::SandboxLimits::default(),
        )
        .err()
        .expect("zeros");
        assert!(
            e.to_string().contains(
                "reading: read more than the 67.1 MB allowed for a plugin component from this \
                 non-regular file"
            ),
            "{e}"
        );
    }
}
