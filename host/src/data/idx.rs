//! The IDX format of MNIST and Fashion-MNIST (big-endian header: two zero bytes, a type code,
//! the rank, then one u32 per dimension; then the raw values). Files may be gzip-compressed
//! (detected by the gzip magic). Only unsigned-byte data (type 0x08) occurs in these sets.
//!
//! [`load_mnist_dir`] reads `train-images-idx3-ubyte(.gz)`, `train-labels-idx1-ubyte(.gz)`,
//! `t10k-images-idx3-ubyte(.gz)` and `t10k-labels-idx1-ubyte(.gz)`: the official 60 000 / 10 000
//! split, in file order. Pixels are divided by 255.
//!
//! Reading is bounded by the header: the magic, rank and dimensions are read (inflated) first,
//! the declared payload is checked (overflow, [`MAX_VALUES`], the memory available), and then at
//! most that many bytes plus one are read or inflated. A gzip bomb, `/dev/zero` or a file with
//! more or less data than declared is refused naming the file and both figures.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, Dataset, malformed};
use crate::input::{self, read_full};

/// Most values an IDX file may declare (4 GiB of unsigned bytes; the memory available is checked
/// too): 60 000 MNIST images are 47 MB.
pub const MAX_VALUES: u64 = 1 << 32;

/// Bytes reserved up front for the payload of a stream (a gzip file), whose header is not yet
/// confirmed by its size.
const STREAM_RESERVE: usize = 16 << 20;

/// A decoded unsigned-byte IDX array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxU8 {
    /// The dimensions from the header.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// The first two bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decodes IDX bytes (optionally gzip-compressed); `path` is used in error messages. A gzip
/// stream is inflated no further than its header declares (see [`read_file`]).
pub fn parse(bytes: &[u8], path: &Path) -> Result<IdxU8, DataError> {
    decode(bytes, path, Some(bytes.len() as u64))
}

/// Reads and decodes an IDX file (optionally gzip-compressed), streaming: the header first, then
/// at most the payload it declares, one byte more being an error, so neither a gzip bomb nor
/// `/dev/zero` is read further than that. An uncompressed regular file's size is checked against
/// the header before the payload is read.
pub fn read_file(path: &Path) -> Result<IdxU8, DataError> {
    let file = input::open(path)?;
    let len = file.size();
    decode(file, path, len)
}

/// Decodes an IDX stream of `len` bytes if known, inflating it first if it starts with the gzip
/// magic (then `len` says nothing about the payload).
fn decode(mut r: impl Read, path: &Path, len: Option<u64>) -> Result<IdxU8, DataError> {
    let mut magic = [0u8; 2];
    let n = read_full(&mut r, &mut magic).map_err(|e| io_err(path, e))?;
    let r = (&magic[..n]).chain(r);
    if magic == GZIP_MAGIC {
        return decode_raw(flate2::read::GzDecoder::new(r), path, None, true);
    }
    decode_raw(r, path, len, false)
}

fn io_err(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Decodes uncompressed IDX from `r` (inflated when `gzip`: then read errors are corruption);
/// `len` is the stream's size if known.
fn decode_raw(
    mut r: impl Read,
    path: &Path,
    len: Option<u64>,
    gzip: bool,
) -> Result<IdxU8, DataError> {
    let read_err = |e: std::io::Error| {
        if gzip {
            malformed(path, format!("corrupt gzip stream: {e}"))
        } else {
            io_err(path, e)
        }
    };
    let mut head = [0u8; 4];
    let n = read_full(&mut r, &mut head).map_err(read_err)?;
    if n < 4 || head[0] != 0 || head[1] != 0 {
        return Err(malformed(
            path,
            "not an IDX file (magic must start with 00 00)",
        ));
    }
    if head[2] != 0x08 {
        return Err(malformed(
            path,
            format!("IDX type 0x{:02x}, expected 0x08 (unsigned byte)", head[2]),
        ));
    }
    let rank = usize::from(head[3]);
    let mut dim_bytes = vec![0u8; 4 * rank];
    let n = read_full(&mut r, &mut dim_bytes).map_err(read_err)?;
    if rank == 0 || n < dim_bytes.len() {
        return Err(malformed(
            path,
            format!("truncated IDX header (rank {rank})"),
        ));
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| malformed(path, format!("IDX dimensions {dims:?} overflow")))?;
    let header = 4 + 4 * rank as u64;
    if let Some(len) = len {
        let body = len.saturating_sub(header);
        if body != count as u64 {
            return Err(malformed(
                path,
                format!("IDX dimensions {dims:?} need {count} bytes of data, file has {body}"),
            ));
        }
    }
    if count as u64 > MAX_VALUES {
        return Err(malformed(
            path,
            format!(
                "IDX dimensions {dims:?} declare {count} values, more than the {MAX_VALUES} \
                 mote reads"
            ),
        ));
    }
    crate::budget::check(&format!("IDX dimensions {dims:?}"), count as u64)
        .map_err(|e| malformed(path, e.to_string()))?;
    // Reserved in full only when the file's size has confirmed the header; a stream grows as
    // its data arrives.
    let mut data = Vec::with_capacity(if len.is_some() {
        count
    } else {
        count.min(STREAM_RESERVE)
    });
    r.take(count as u64 + 1)
        .read_to_end(&mut data)
        .map_err(read_err)?;
    if data.len() != count {
        let found = if data.len() > count {
            format!("more than {count}")
        } else {
            data.len().to_string()
        };
        let what = if gzip {
            "the decompressed file has"
        } else {
            "file has"
        };
        return Err(malformed(
            path,
            format!("IDX dimensions {dims:?} need {count} bytes of data, {what} {found}"),
        ));
    }
    Ok(IdxU8 { dims, data })
}

/// Builds a data set from an images file (rank ≥ 2) and a labels file (rank 1).
pub fn dataset(
    images: &IdxU8,
    images_path: &Path,
    labels: &IdxU8,
    labels_path: &Path,
    classes: usize,
) -> Result<Dataset, DataError> {
    if images.dims.len() < 2 {
        return Err(malformed(
            images_path,
            format!("images need rank >= 2, found dims {:?}", images.dims),
        ));
    }
    if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
        return Err(malformed(
            labels_path,
            format!(
                "labels have dims {:?}, expected [{}] to match {}",
                labels.dims,
                images.dims[0],
                images_path.display()
            ),
        ));
    }
    if let Some((i, l)) = labels
        .data
        .iter()
        .enumerate()
        .find(|(_, l)| usize::from(**l) >= classes)
    {
        return Err(malformed(
            labels_path,
            format!("label {l} at index {i} is not below {classes} classes"),
        ));
    }
    let n = images.dims[0];
    crate::budget::bytes_of::<f32>(images.data.len(), "IDX features")
        .and_then(|b| crate::budget::check("IDX features as f32", b))
        .map_err(|e| malformed(images_path, e.to_string()))?;
    Ok(Dataset {
        features: images.data.iter().map(|&p| f32::from(p) / 255.0).collect(),
        labels: labels.data.clone(),
        n,
        d: images.data.len() / n.max(1),
        classes,
    })
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(stem);
    let gz = dir.join(format!("{stem}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    if plain.is_file() {
        return Ok(plain);
    }
    Err(DataError::Io {
        path: gz,
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "IDX file not found (install Debian's `dataset-fashion-mnist` or set \
                 --fashion-mnist-dir / MOTE_FASHION_MNIST_DIR)",
        ),
    })
}

/// Loads the four (Fashion-)MNIST files from `dir` as `(train, test)`.
pub fn load_mnist_dir(dir: &Path) -> Result<(Dataset, Dataset), DataError> {
    let mut sets = Vec::with_capacity(2);
    for split in ["train", "t10k"] {
        let ip = find(dir, &format!("{split}-images-idx3-ubyte"))?;
        let lp = find(dir, &format!("{split}-labels-idx1-ubyte"))?;
        let images = read_file(&ip)?;
        let labels = read_file(&lp)?;
        sets.push(dataset(&images, &ip, &labels, &lp, 10)?);
    }
    let test = sets.pop().expect("two splits were pushed");
    let train = sets.pop().expect("two splits were pushed");
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            v.extend(d.to_be_bytes());
        }
        v.extend(data);
        v
    }

    #[test]
    fn parses_plain_and_gzip() {
        let raw = idx(&[2, 2, 2], &[0, 255, 1, 2, 3, 4, 5, 6]);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&raw).expect("in-memory write");
        let gz = enc.finish().expect("in-memory gzip");
        let p = Path::new("x");
        let a = parse(&raw, p).expect("plain");
        assert_eq!(a, parse(&gz, p).expect("gzip"));
        let labels = parse(&idx(&[2], &[3, 9]), p).expect("labels");
        let ds = dataset(&a, p, &labels, p, 10).expect("dataset");
        assert_eq!((ds.n, ds.d), (2, 4));
        assert_eq!(ds.row(0), &[0.0, 1.0, 1.0 / 255.0, 2.0 / 255.0]);
        assert_eq!(ds.labels, [3, 9]);
    }

    #[test]
    fn rejects_malformed() {
        let p = Path::new("f.idx");
        let msg = |b: &[u8]| parse(b, p).expect_err("malformed").to_string();
        assert!(msg(b"\x01\x00\x08\x01").contains("not an IDX file"));
        assert!(msg(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]).contains("type 0x0d"));
        assert!(msg(&idx(&[3], &[1, 2])).contains("need 3 bytes of data, file has 2"));
        assert!(msg(&[0x1f, 0x8b, 0, 0]).contains("corrupt gzip"));
        let img = parse(&idx(&[1, 1], &[0]), p).expect("ok");
        let bad = parse(&idx(&[1], &[10]), p).expect("ok");
        let e = dataset(&img, p, &bad, Path::new("l"), 10).expect_err("label 10");
        assert_eq!(
            e.to_string(),
            "l: label 10 at index 0 is not below 10 classes"
        );
    }

    fn gzip(chunks: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for c in chunks {
            enc.write_all(&c).expect("in-memory write");
        }
        enc.finish().expect("in-memory gzip")
    }

    #[test]
    fn gzip_bomb_is_refused_without_inflating_it() {
        // 10×28×28 declared, 100 MB of zeros after it: ~100 KB compressed.
        let head = idx(&[10, 28, 28], &[]);
        let bomb = gzip(std::iter::once(head).chain((0..100).map(|_| vec![0u8; 1 << 20])));
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        let start = std::time::Instant::now();
        let e = parse(&bomb, Path::new("bomb.gz"))
            .expect_err("bomb")
            .to_string();
        assert_eq!(
            e,
            "bomb.gz: IDX dimensions [10, 28, 28] need 7840 bytes of data, the decompressed \
             file has more than 7840"
        );
        // Inflating 100 MB would take far longer than reading 7841 bytes.
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
        // Less data than declared, compressed or not.
        let short = gzip([idx(&[2, 3], &[1, 2, 3])]);
        let e = parse(&short, Path::new("s.gz"))
            .expect_err("short")
            .to_string();
        assert_eq!(
            e,
            "s.gz: IDX dimensions [2, 3] need 6 bytes of data, the decompressed file has 3"
        );
        let e = parse(&idx(&[2], &[1, 2, 3]), Path::new("long"))
            .expect_err("long")
            .to_string();
        assert_eq!(
            e,
            "long: IDX dimensions [2] need 2 bytes of data, file has 3"
        );
    }

    #[test]
    fn absurd_dimensions_are_refused_before_allocating() {
        let p = Path::new("huge.idx");
        let max = u32::MAX;
        let e = parse(&idx(&[max, max, max], &[]), p)
            .expect_err("overflow")
            .to_string();
        assert!(e.starts_with("huge.idx: IDX dimensions"), "{e}");
        assert!(e.contains("overflow"), "{e}");
        // Does not overflow u64, still far too large (checked before reading, compressed too).
        let e = parse(&gzip([idx(&[max, max], &[])]), p)
            .expect_err("too large")
            .to_string();
        assert!(e.contains("more than the 4294967296 mote reads"), "{e}");
        // Within the caps, but the stream ends at once: nothing is reserved on the header's word.
        let e = parse(&gzip([idx(&[1 << 20, 1 << 11], &[])]), p)
            .expect_err("lying header")
            .to_string();
        assert!(
            e.ends_with("need 2147483648 bytes of data, the decompressed file has 0"),
            "{e}"
        );
    }

    #[test]
    fn files_are_read_bounded() {
        // /dev/zero: magic 00 00, then type 0x00: refused after four bytes.
        let e = read_file(Path::new("/dev/zero"))
            .expect_err("zeros")
            .to_string();
        assert_eq!(e, "/dev/zero: IDX type 0x00, expected 0x08 (unsigned byte)");
        let e = read_file(Path::new("/dev/urandom")).expect_err("noise");
        assert!(e.to_string().starts_with("/dev/urandom: "), "{e}");
        let dir = tempfile::tempdir().expect("tmp");
        // A regular file whose size contradicts its header: refused before the payload is read.
        let lying = dir.path().join("lying-idx3-ubyte");
        std::fs::write(&lying, idx(&[60000, 28, 28], &[0; 10])).expect("write");
        let e = read_file(&lying).expect_err("lying").to_string();
        assert!(
            e.ends_with("IDX dimensions [60000, 28, 28] need 47040000 bytes of data, file has 10"),
            "{e}"
        );
        // A gzip file, read as a stream.
        let gz = dir.path().join("x.gz");
        std::fs::write(&gz, gzip([idx(&[2, 2], &[1, 2, 3, 4])])).expect("write");
        assert_eq!(read_file(&gz).expect("valid").data, [1, 2, 3, 4]);
        let e = read_file(dir.path()).expect_err("dir").to_string();
        assert!(e.contains("is a directory"), "{e}");
    }

    #[test]
    fn missing_dir_is_a_clear_error() {
        let e = load_mnist_dir(Path::new("/nonexistent")).expect_err("missing");
        assert!(e.to_string().contains("dataset-fashion-mnist"), "{e}");
    }
}
