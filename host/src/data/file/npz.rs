//! NumPy files: `.npz` archives (`np.savez`, stored, or `np.savez_compressed`, deflated) holding
//! a feature array (`x` by default) and a label array (`y`), each a `.npy` member.
//!
//! `x` is `(n, d)` (tabular), `(n, channels, length)` (the aeon/sktime layout of a multichannel
//! series set, kept channel-major like a `.ts` case) or `(steps, channels)` of one recording with
//! `y` of `(steps,)` for `--window`. `y` holds integers (or integral floats, or booleans) or
//! strings (`<U`). Little- and big-endian floats and integers of 1–8 bytes are read; C and
//! Fortran order. Every size comes from the `.npy` header and is checked against the member's
//! declared size and the memory before anything is inflated, and no more than it declares is
//! read.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use super::super::{DataError, malformed};
use super::table::{Table, classes_from_names};

/// The element type of a `.npy` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    Float {
        bytes: usize,
        big: bool,
    },
    Int {
        bytes: usize,
        signed: bool,
        big: bool,
    },
    Bool,
    /// UTF-32 strings of `chars` code points.
    Unicode {
        chars: usize,
        big: bool,
    },
}

impl Dtype {
    fn parse(descr: &str) -> Option<Dtype> {
        let (order, rest) = descr.split_at(descr.char_indices().nth(1)?.0);
        let big = match order {
            "<" | "|" | "=" => false,
            ">" => true,
            _ => return None,
        };
        // The kind is one character, of any width: a header is arbitrary bytes.
        let kind = rest.chars().next()?;
        let n: usize = rest[kind.len_utf8()..].parse().ok()?;
        match kind.to_string().as_str() {
            "f" if matches!(n, 2 | 4 | 8) => Some(Dtype::Float { bytes: n, big }),
            "i" if matches!(n, 1 | 2 | 4 | 8) => Some(Dtype::Int {
                bytes: n,
                signed: true,
                big,
            }),
            "u" if matches!(n, 1 | 2 | 4 | 8) => Some(Dtype::Int {
                bytes: n,
                signed: false,
                big,
            }),
            "b" if n == 1 => Some(Dtype::Bool),
            "U" if n > 0 && n <= 1 << 16 => Some(Dtype::Unicode { chars: n, big }),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            Dtype::Float { bytes, .. } | Dtype::Int { bytes, .. } => bytes,
            Dtype::Bool => 1,
            Dtype::Unicode { chars, .. } => 4 * chars,
        }
    }
}

/// A `.npy` array: its shape and elements as `f64` (numbers) or strings.
#[derive(Debug, Clone, PartialEq)]
struct Array {
    shape: Vec<usize>,
    numbers: Vec<f64>,
    strings: Vec<String>,
}

/// Parses the `.npy` header dictionary: `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }`.
fn header(text: &str) -> Result<(String, bool, Vec<usize>), String> {
    let value_of = |key: &str| -> Result<&str, String> {
        let k = text
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!("the header has no '{key}'"))?;
        let rest = &text[k + key.len() + 2..];
        let colon = rest
            .find(':')
            .ok_or_else(|| format!("'{key}' has no value"))?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = value_of("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("'descr' is not a quoted type string (structured arrays are not supported)")?
        .to_string();
    let fortran = value_of("fortran_order")?;
    let fortran = if fortran.starts_with("True") {
        true
    } else if fortran.starts_with("False") {
        false
    } else {
        return Err("'fortran_order' is neither True nor False".into());
    };
    let shape = value_of("shape")?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("'shape' is not a tuple")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("'shape' ({inner}) is not a tuple of sizes"))?;
    Ok((descr, fortran, shape))
}

/// Reads one `.npy` member of `declared` bytes.
fn read_npy(r: &mut impl Read, declared: u64, what: &str) -> Result<Array, String> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)
        .map_err(|e| format!("{what}: reading the .npy magic: {e}"))?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(format!("{what} is not a .npy array (no \\x93NUMPY magic)"));
    }
    let hlen = match magic[6] {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map_err(|e| format!("{what}: {e}"))?;
            u64::from(u16::from_le_bytes(b))
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).map_err(|e| format!("{what}: {e}"))?;
            u64::from(u32::from_le_bytes(b))
        }
        v => return Err(format!("{what}: .npy version {v} is not known (1, 2 or 3)")),
    };
    let pre = if magic[6] == 1 { 10 } else { 12 };
    if hlen > declared.saturating_sub(pre) || hlen > 1 << 20 {
        return Err(format!(
            "{what}: a header of {hlen} bytes is longer than the member"
        ));
    }
    let mut h = vec![0u8; hlen as usize];
    r.read_exact(&mut h).map_err(|e| format!("{what}: {e}"))?;
    let text = String::from_utf8_lossy(&h);
    let (descr, fortran, shape) = header(&text).map_err(|e| format!("{what}: {e}"))?;
    let dtype = Dtype::parse(&descr).ok_or_else(|| {
        format!("{what}: element type '{descr}' is not supported (floats, integers, booleans, <U strings)")
    })?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .ok_or_else(|| format!("{what}: shape {shape:?} overflows"))?;
    let bytes = count
        .checked_mul(dtype.size())
        .ok_or_else(|| format!("{what}: shape {shape:?} overflows"))?;
    if bytes as u64 != declared - pre - hlen {
        return Err(format!(
            "{what}: shape {shape:?} of '{descr}' needs {bytes} bytes of data, the member holds {}",
            declared - pre - hlen
        ));
    }
    crate::budget::check(
        &format!("{what} {shape:?}"),
        (bytes as u64).saturating_mul(3),
    )
    .map_err(|e| e.to_string())?;
    let mut data = vec![0u8; bytes];
    r.read_exact(&mut data)
        .map_err(|e| format!("{what}: {e}"))?;
    let size = dtype.size();
    let (mut numbers, mut strings) = (Vec::new(), Vec::new());
    let word = |b: &[u8], big: bool| -> u64 {
        let mut v = 0u64;
        if big {
            for &x in b {
                v = (v << 8) | u64::from(x);
            }
        } else {
            for &x in b.iter().rev() {
                v = (v << 8) | u64::from(x);
            }
        }
        v
    };
    for e in data.chunks_exact(size.max(1)) {
        match dtype {
            Dtype::Float { bytes, big } => {
                let w = word(e, big);
                numbers.push(match bytes {
                    2 => f64::from(half::f16::from_bits(w as u16).to_f32()),
                    4 => f64::from(f32::from_bits(w as u32)),
                    _ => f64::from_bits(w),
                });
            }
            Dtype::Int { bytes, signed, big } => {
                let w = word(e, big);
                let bits = 8 * bytes as u32;
                numbers.push(if signed {
                    let shift = 64 - bits;
                    (((w << shift) as i64) >> shift) as f64
                } else {
                    w as f64
                });
            }
            Dtype::Bool => numbers.push(f64::from(e[0] != 0)),
            Dtype::Unicode { big, .. } => {
                let s: String = e
                    .chunks_exact(4)
                    .map(|c| word(c, big) as u32)
                    .take_while(|&c| c != 0)
                    .map(|c| char::from_u32(c).unwrap_or('\u{fffd}'))
                    .collect();
                strings.push(s);
            }
        }
    }
    if fortran && shape.len() > 1 {
        // Column-major to row-major.
        let reorder = |v: &mut Vec<f64>| {
            let mut out = vec![0f64; v.len()];
            let mut idx = vec![0usize; shape.len()];
            for (f, &x) in v.iter().enumerate() {
                let mut rest = f;
                for (k, &s) in shape.iter().enumerate() {
                    idx[k] = rest % s;
                    rest /= s;
                }
                let c = idx.iter().zip(&shape).fold(0, |a, (&i, &s)| a * s + i);
                out[c] = x;
            }
            *v = out;
        };
        reorder(&mut numbers);
    }
    Ok(Array {
        shape,
        numbers,
        strings,
    })
}

/// Reads `x_key` and `y_key` of an `.npz` file into a table (`drop_nan`: rows with a NaN or
/// infinite feature are dropped and counted instead of refused).
pub fn read(path: &Path, x_key: &str, y_key: &str, drop_nan: bool) -> Result<Table, DataError> {
    let input = crate::input::open(path)?;
    if input.size().is_none() {
        return Err(malformed(
            path,
            "an .npz archive must be a regular file (it is read by seeking)",
        ));
    }
    drop(input);
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| malformed(path, format!("not an .npz (zip) archive: {e}")))?;
    let mut get = |key: &str| -> Result<Array, DataError> {
        let names: Vec<String> = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.to_string()))
            .collect();
        let member = format!("{key}.npy");
        let mut entry = zip.by_name(&member).map_err(|_| {
            malformed(
                path,
                format!(
                    "no array `{key}` (member {member}); the archive holds: {}",
                    names
                        .iter()
                        .map(|n| n.trim_end_matches(".npy"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let declared = entry.size();
        let mut bounded = (&mut entry).take(declared);
        read_npy(&mut bounded, declared, &format!("array `{key}`")).map_err(|m| malformed(path, m))
    };
    let x = get(x_key)?;
    let y = get(y_key)?;
    table_of(path, x, y, x_key, y_key, drop_nan)
}

/// Reads one array written by `np.save` from `path` (`what` names it in errors).
fn load_npy(path: &Path, what: &str) -> Result<Array, DataError> {
    let mut input = crate::input::open(path)?;
    let Some(size) = input.size() else {
        return Err(malformed(path, "a .npy file must be a regular file"));
    };
    read_npy(&mut input, size, what).map_err(|m| malformed(path, m))
}

/// The labels file of a `.npy` feature file when `--label` does not name one: the NumPy
/// conventions `X_train.npy` → `y_train.npy`, `x.npy` → `y.npy`, `features.npy` →
/// `labels.npy` (the first that exists).
pub fn npy_labels_beside(path: &Path) -> Result<std::path::PathBuf, DataError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = name.strip_suffix(".npy").unwrap_or(&name);
    let mut candidates = Vec::new();
    for (from, to) in [
        ("X", "y"),
        ("x", "y"),
        ("features", "labels"),
        ("data", "labels"),
    ] {
        if stem == from {
            candidates.push(format!("{to}.npy"));
        }
        for (a, b) in [
            (format!("{from}_"), format!("{to}_")),
            (format!("_{from}"), format!("_{to}")),
        ] {
            if let Some(rest) = stem.strip_prefix(a.as_str()) {
                candidates.push(format!("{b}{rest}.npy"));
            }
            if let Some(rest) = stem.strip_suffix(a.as_str()) {
                candidates.push(format!("{rest}{b}.npy"));
            }
        }
    }
    for c in &candidates {
        let p = path.with_file_name(c);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(malformed(
        path,
        format!(
            "a .npy file holds one array (the features); its labels were not found beside it{}: \
             name their .npy file with --label",
            if candidates.is_empty() {
                String::new()
            } else {
                format!(" (looked for {})", candidates.join(", "))
            }
        ),
    ))
}

/// Reads a feature array written by `np.save` (`path`) and its labels, a second `.npy`
/// (`labels`), into a table, as [`read`] does for the two arrays of an archive.
pub fn read_npy_pair(path: &Path, labels: &Path, drop_nan: bool) -> Result<Table, DataError> {
    let x = load_npy(path, "the feature array")?;
    let y = load_npy(labels, "the label array")?;
    let ln = labels.display().to_string();
    table_of(path, x, y, "x", &ln, drop_nan)
}

/// The table of feature array `x` and label array `y` (named `x_key`, `y_key` in errors).
fn table_of(
    path: &Path,
    x: Array,
    y: Array,
    x_key: &str,
    y_key: &str,
    drop_nan: bool,
) -> Result<Table, DataError> {
    if !x.strings.is_empty() {
        return Err(malformed(
            path,
            format!("array `{x_key}` holds strings; features must be numbers"),
        ));
    }
    let n = *x.shape.first().unwrap_or(&0);
    if x.shape.len() < 2 || n == 0 {
        return Err(malformed(
            path,
            format!(
                "array `{x_key}` has shape {:?}; expected (samples, features), (samples, channels, length) or (steps, channels)",
                x.shape
            ),
        ));
    }
    if y.shape != [n] {
        return Err(malformed(
            path,
            format!(
                "array `{y_key}` has shape {:?}; expected ({n},), one label per row of `{x_key}`",
                y.shape
            ),
        ));
    }
    let width = x.numbers.len() / n;
    let channels = if x.shape.len() == 3 {
        x.shape[1]
    } else {
        width
    };
    // Labels as texts, then classes as for CSV.
    let texts: Vec<String> = if y.strings.is_empty() {
        let mut t = Vec::with_capacity(n);
        for (i, &v) in y.numbers.iter().enumerate() {
            if v.fract() != 0.0 || !(0.0..256.0).contains(&v) {
                return Err(malformed(
                    path,
                    format!(
                        "`{y_key}`[{i}] = {v}: labels must be whole numbers from 0 to 255 (or strings)"
                    ),
                ));
            }
            t.push((v as u32).to_string());
        }
        t
    } else {
        y.strings
    };
    let mut values = Vec::with_capacity(x.numbers.len());
    let (mut ids, mut seen, mut index) = (Vec::new(), Vec::<String>::new(), HashMap::new());
    let mut dropped = 0;
    for (r, row) in x.numbers.chunks(width).enumerate() {
        if let Some(c) = row
            .iter()
            .position(|v| !v.is_finite() || v.abs() > f64::from(f32::MAX))
        {
            if drop_nan {
                dropped += 1;
                continue;
            }
            return Err(malformed(
                path,
                format!(
                    "`{x_key}` row {r}, value {c}: {} is not a finite f32; pass --drop-nan to drop such rows",
                    row[c]
                ),
            ));
        }
        values.extend(row.iter().map(|&v| v as f32));
        let t = &texts[r];
        let id = *index.entry(t.clone()).or_insert_with(|| {
            seen.push(t.clone());
            (seen.len() - 1) as u32
        });
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(malformed(
            path,
            format!("every row of `{x_key}` was dropped"),
        ));
    }
    let (labels, class_names) = classes_from_names(path, &seen, &ids)?;
    Ok(Table {
        path: path.to_path_buf(),
        rows: ids.len(),
        values,
        width,
        channels,
        channel_names: (0..channels).map(|c| format!("{x_key}[:, {c}]")).collect(),
        labels,
        class_names,
        dropped,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `.npy` member of `descr` and `shape` holding `data` (version 1, padded like NumPy).
    pub fn npy(descr: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Vec<u8> {
        let shape_text = match shape {
            [one] => format!("({one},)"),
            s => format!(
                "({})",
                s.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut h = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape_text}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn npy_types_orders_and_refusals() {
        let f: Vec<u8> = [1.5f32, -2.0, 3.25, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let m = npy("<f4", &[2, 3], false, &f);
        let a = read_npy(&mut m.as_slice(), m.len() as u64, "x").expect("reads");
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.numbers, vec![1.5, -2.0, 3.25, 4.0, 5.0, 6.0]);
        // Fortran order: the same bytes are the columns.
        let m = npy("<f4", &[2, 3], true, &f);
        let a = read_npy(&mut m.as_slice(), m.len() as u64, "x").expect("reads");
        assert_eq!(a.numbers, vec![1.5, 3.25, 5.0, -2.0, 4.0, 6.0]);
        // Big-endian i2, and a signed byte.
        let m = npy(">i2", &[2], false, &[0xff, 0xfe, 0x01, 0x00]);
        let a = read_npy(&mut m.as_slice(), m.len() as u64, "y").expect("reads");
        assert_eq!(a.numbers, vec![-2.0, 256.0]);
        let m = npy("|i1", &[1], false, &[0x80]);
        assert_eq!(
            read_npy(&mut m.as_slice(), m.len() as u64, "y")
                .expect("reads")
                .numbers,
            vec![-128.0]
        );
        // Strings.
        let s: Vec<u8> = "ab\0c\0\0"
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        let m = npy("<U3", &[2], false, &s);
        assert_eq!(
            read_npy(&mut m.as_slice(), m.len() as u64, "y")
                .expect("reads")
                .strings,
            vec!["ab", "c"]
        );
        // A shape that needs more bytes than the member has.
        let m = npy("<f4", &[1000, 1000], false, &f);
        let e = read_npy(&mut m.as_slice(), m.len() as u64, "x").expect_err("short");
        assert!(e.contains("needs 4000000 bytes"), "{e}");
        let m = npy("<c8", &[1], false, &[0; 8]);
        assert!(
            read_npy(&mut m.as_slice(), m.len() as u64, "x")
                .expect_err("complex")
                .contains("not supported")
        );
        assert!(read_npy(&mut &b"PK\x03\x04...."[..], 10, "x").is_err());
        // Found by the fuzzer: a multi-byte character as the element kind.
        let m = npy("<\u{fffd}4", &[1], false, &[0; 4]);
        assert!(read_npy(&mut m.as_slice(), m.len() as u64, "x").is_err());
        assert_eq!(Dtype::parse("<"), None);
        assert_eq!(Dtype::parse(""), None);
    }
}
