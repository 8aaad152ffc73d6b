//! The IDX format of MNIST and Fashion-MNIST (big-endian header: two zero bytes, a type code,
//! the rank, then one u32 per dimension; then the raw values). Files may be gzip-compressed
//! (detected by the gzip magic). Only unsigned-byte data (type 0x08) occurs in these sets.
//!
//! [`load_mnist_dir`] reads `train-images-idx3-ubyte(.gz)`, `train-labels-idx1-ubyte(.gz)`,
//! `t10k-images-idx3-ubyte(.gz)` and `t10k-labels-idx1-ubyte(.gz)`: the official 60 000 / 10 000
//! split, in file order. Pixels are divided by 255.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, Dataset, malformed, read};

/// A decoded unsigned-byte IDX array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxU8 {
    /// The dimensions from the header.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Decodes IDX bytes (optionally gzip-compressed); `path` is used in error messages.
pub fn parse(bytes: &[u8], path: &Path) -> Result<IdxU8, DataError> {
    let raw;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| malformed(path, format!("corrupt gzip stream: {e}")))?;
        raw = out;
        &raw[..]
    } else {
        bytes
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(malformed(
            path,
            "not an IDX file (magic must start with 00 00)",
        ));
    }
    if bytes[2] != 0x08 {
        return Err(malformed(
            path,
            format!("IDX type 0x{:02x}, expected 0x08 (unsigned byte)", bytes[2]),
        ));
    }
    let rank = usize::from(bytes[3]);
    let header = 4 + 4 * rank;
    if rank == 0 || bytes.len() < header {
        return Err(malformed(
            path,
            format!("truncated IDX header (rank {rank})"),
        ));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| malformed(path, format!("IDX dimensions {dims:?} overflow")))?;
    let body = &bytes[header..];
    if body.len() != count {
        return Err(malformed(
            path,
            format!(
                "IDX dimensions {dims:?} need {count} bytes of data, file has {}",
                body.len()
            ),
        ));
    }
    Ok(IdxU8 {
        dims,
        data: body.to_vec(),
    })
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
        let images = parse(&read(&ip)?, &ip)?;
        let labels = parse(&read(&lp)?, &lp)?;
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

    #[test]
    fn missing_dir_is_a_clear_error() {
        let e = load_mnist_dir(Path::new("/nonexistent")).expect_err("missing");
        assert!(e.to_string().contains("dataset-fashion-mnist"), "{e}");
    }
}
