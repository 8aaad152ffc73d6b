//! The sktime/aeon `.ts` text format for multivariate time-series classification, and the
//! bundled BasicMotions set (`data/basicmotions/`, UEA archive): smartwatch 3-axis accelerometer
//! and gyroscope at 10 Hz, 4 activities, 40 train + 40 test cases × 6 channels × 100 steps.
//!
//! A case becomes one feature vector, channel-major (`[ch0 t0..t99, ch1 t0..t99, ...]`, 600
//! values). Each channel is min–max scaled with the minimum and maximum of that channel over the
//! **train** split, and test values are clamped to `[0, 1]`. The split is the archive's own.

use std::path::Path;

use super::{DataError, Dataset, malformed};

const TRAIN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../data/basicmotions/BasicMotions_TRAIN.ts"
));
const TEST: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../data/basicmotions/BasicMotions_TEST.ts"
));

/// Largest `.ts` file read (1 GiB; BasicMotions is 228 KB).
pub const MAX_BYTES: u64 = 1 << 30;

/// Reads the text of a `.ts` file: at most [`MAX_BYTES`] and the memory available, refused at the
/// first NUL byte or invalid UTF-8 (so `/dev/zero` fails after one block).
pub fn read(path: &Path) -> Result<String, DataError> {
    let limit = crate::input::Limit::memory_and_cap(MAX_BYTES, "a .ts file");
    Ok(crate::input::read_text(path, &limit)?)
}

/// Pads (or refuses) the cases of a file without `@seriesLength`, whose channel lengths are
/// `lengths` (per case, with its line); returns the common length.
fn pad_series(
    path: &Path,
    d: usize,
    cases: &mut [Vec<f32>],
    lengths: &[(usize, Vec<usize>)],
    pad: bool,
) -> Result<usize, DataError> {
    let longest = lengths
        .iter()
        .flat_map(|(line, ls)| ls.iter().map(move |&n| (n, *line)))
        .max()
        .unwrap_or((0, 0));
    let shortest = lengths
        .iter()
        .flat_map(|(line, ls)| ls.iter().map(move |&n| (n, *line)))
        .min()
        .unwrap_or((0, 0));
    if longest.0 == shortest.0 {
        return Ok(longest.0);
    }
    if !pad {
        return Err(malformed(
            path,
            format!(
                "series of unequal length: line {} has {} values per channel, line {} has {}; \
                 pass --pad-series to pad each to the longest by repeating its last value",
                shortest.1, shortest.0, longest.1, longest.0
            ),
        ));
    }
    let l = longest.0;
    let total = cases.len().saturating_mul(d).saturating_mul(l);
    let bytes = total.saturating_mul(4) as u64;
    crate::budget::check("the padded .ts series", bytes)
        .map_err(|e| malformed(path, format!("{e:#}")))?;
    for (case, (_, ls)) in cases.iter_mut().zip(lengths) {
        let mut padded = Vec::with_capacity(d * l);
        let mut at = 0;
        for &n in ls {
            let ch = &case[at..at + n];
            padded.extend_from_slice(ch);
            let last = ch.last().copied().unwrap_or(0.0);
            padded.resize(padded.len() + (l - n), last);
            at += n;
        }
        *case = padded;
    }
    Ok(l)
}

/// A parsed `.ts` file: equal-length series, class labels as indices into `classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct TsFile {
    /// Channels per case.
    pub dimensions: usize,
    /// Steps per channel.
    pub length: usize,
    /// Class names in header order (label `k` is `classes[k]`).
    pub classes: Vec<String>,
    /// Per case, `dimensions × length` values, channel-major.
    pub cases: Vec<Vec<f32>>,
    /// Per case, the class index.
    pub labels: Vec<u8>,
}

/// Parses a `.ts` file with `@dimensions`, `@seriesLength`, `@classLabel true ...` and
/// `@data`; `path` is used in error messages. Series of unequal length (`@equalLength false`,
/// no `@seriesLength`) are refused, naming two lines that differ; [`parse_with`] pads them.
pub fn parse(text: &str, path: &Path) -> Result<TsFile, DataError> {
    parse_with(text, path, false)
}

/// [`parse`]; with `pad`, series of unequal length are padded to the longest by repeating each
/// channel's last value (edge padding: a recording that stopped keeps its last reading, rather
/// than jumping to a zero the sensor never gave).
pub fn parse_with(text: &str, path: &Path, pad: bool) -> Result<TsFile, DataError> {
    let (mut dims, mut len, mut classes) = (None, None, None);
    // Without @seriesLength: each case's channel lengths, with its line, for the check below.
    let mut unequal: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut in_data = false;
    let (mut cases, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            let mut words = line.split_whitespace();
            let key = words.next().unwrap_or("").to_ascii_lowercase();
            let num = |w: Option<&str>| -> Result<usize, DataError> {
                w.and_then(|w| w.parse().ok())
                    .filter(|&v: &usize| v > 0)
                    .ok_or_else(|| {
                        malformed(
                            path,
                            format!("line {lineno}: `{line}` needs a positive integer"),
                        )
                    })
            };
            match key.as_str() {
                "@dimensions" => dims = Some(num(words.next())?),
                "@serieslength" => len = Some(num(words.next())?),
                "@classlabel" => {
                    if words.next() != Some("true") {
                        return Err(malformed(
                            path,
                            format!(
                                "line {lineno}: only labelled data (`@classLabel true ...`) is supported"
                            ),
                        ));
                    }
                    let names: Vec<String> = words.map(str::to_string).collect();
                    if names.is_empty() || names.len() > 256 {
                        return Err(malformed(
                            path,
                            format!("line {lineno}: 1 to 256 class names expected"),
                        ));
                    }
                    classes = Some(names);
                }
                "@data" => in_data = true,
                _ => {} // @problemName, @timeStamps, ... carry nothing we need
            }
            continue;
        }
        let (Some(d), Some(cls)) = (dims, classes.as_ref()) else {
            return Err(malformed(
                path,
                "header lacks @dimensions or @classLabel before @data",
            ));
        };
        let l: Option<usize> = len;
        let parts: Vec<&str> = line.split(':').collect();
        // `split` yields at least one part; `d + 1` could overflow for a huge @dimensions.
        if parts.len() - 1 != d {
            return Err(malformed(
                path,
                format!(
                    "line {lineno}: {} ':'-separated fields, expected {} channels + label",
                    parts.len(),
                    d
                ),
            ));
        }
        // The header's word is not trusted for the allocation: a case of `d × l` values needs at
        // least that many bytes of this line.
        let mut values = Vec::with_capacity(d.saturating_mul(l.unwrap_or(1)).min(line.len()));
        let mut lengths = Vec::new();
        for (ch, part) in parts[..d].iter().enumerate() {
            let before = values.len();
            for v in part.split(',') {
                let x: f32 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|x: &f32| x.is_finite())
                    .ok_or_else(|| {
                        malformed(
                            path,
                            format!("line {lineno}, channel {ch}: `{v}` is not a finite number"),
                        )
                    })?;
                values.push(x);
            }
            let n = values.len() - before;
            match l {
                Some(l) if n != l => {
                    return Err(malformed(
                        path,
                        format!("line {lineno}, channel {ch}: {n} values, expected {l}"),
                    ));
                }
                Some(_) => {}
                None => lengths.push(n),
            }
        }
        if l.is_none() {
            unequal.push((lineno, lengths));
        }
        let label = parts[d].trim();
        let k = cls.iter().position(|c| c == label).ok_or_else(|| {
            malformed(
                path,
                format!("line {lineno}: label `{label}` is not declared in @classLabel"),
            )
        })?;
        cases.push(values);
        labels.push(k as u8);
    }
    let (Some(dimensions), Some(classes)) = (dims, classes) else {
        return Err(malformed(path, "header lacks @dimensions or @classLabel"));
    };
    if cases.is_empty() {
        return Err(malformed(path, "no cases after @data"));
    }
    let length = match len {
        Some(l) => l,
        None => pad_series(path, dimensions, &mut cases, &unequal, pad)?,
    };
    Ok(TsFile {
        dimensions,
        length,
        classes,
        cases,
        labels,
    })
}

/// Channel-wise min–max scaling with the train split's ranges (see the module doc).
pub fn to_datasets(
    train: &TsFile,
    test: &TsFile,
    test_path: &Path,
) -> Result<(Dataset, Dataset), DataError> {
    if (test.dimensions, test.length, &test.classes)
        != (train.dimensions, train.length, &train.classes)
    {
        return Err(malformed(
            test_path,
            "dimensions, series length or classes differ from the train file",
        ));
    }
    let (d, l) = (train.dimensions, train.length);
    let mut lo = vec![f32::INFINITY; d];
    let mut hi = vec![f32::NEG_INFINITY; d];
    for c in &train.cases {
        for (i, &x) in c.iter().enumerate() {
            lo[i / l] = lo[i / l].min(x);
            hi[i / l] = hi[i / l].max(x);
        }
    }
    let scale = |f: &TsFile| Dataset {
        features: f
            .cases
            .iter()
            .flat_map(|c| {
                c.iter().enumerate().map(|(i, &x)| {
                    let (a, b) = (lo[i / l], hi[i / l]);
                    if b > a {
                        ((x - a) / (b - a)).clamp(0.0, 1.0)
                    } else {
                        0.0
                    }
                })
            })
            .collect(),
        labels: f.labels.clone(),
        n: f.cases.len(),
        d: d * l,
        classes: f.classes.len(),
    };
    Ok((scale(train), scale(test)))
}

/// Loads the bundled BasicMotions as `(train, test)`.
pub fn load_basicmotions() -> Result<(Dataset, Dataset), DataError> {
    let tp = Path::new("data/basicmotions/BasicMotions_TRAIN.ts");
    let ep = Path::new("data/basicmotions/BasicMotions_TEST.ts");
    to_datasets(&parse(TRAIN, tp)?, &parse(TEST, ep)?, ep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_basicmotions() {
        let (train, test) = load_basicmotions().expect("bundled files parse");
        assert_eq!((train.n, test.n, train.d, train.classes), (40, 40, 600, 4));
        assert!(
            train
                .features
                .iter()
                .chain(&test.features)
                .all(|x| (0.0..=1.0).contains(x))
        );
        let mut counts = [0; 4];
        for &l in &train.labels {
            counts[l as usize] += 1;
        }
        assert_eq!(counts, [10; 4]);
    }

    #[test]
    fn unequal_lengths_are_refused_naming_the_lines_or_padded_with_the_last_value() {
        let text = "@problemName U\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n\
                    1,2,3:4,5,6:a\n7:8:b\n9,10:11,12:a\n";
        let p = Path::new("u.ts");
        let e = parse(text, p).expect_err("unequal").to_string();
        assert!(
            e.contains("line 7 has 1 values per channel, line 6 has 3")
                && e.contains("--pad-series"),
            "{e}"
        );
        let f = parse_with(text, p, true).expect("pads");
        assert_eq!(
            (f.dimensions, f.length, f.labels.clone()),
            (2, 3, vec![0, 1, 0])
        );
        assert_eq!(f.cases[0], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(f.cases[1], vec![7.0, 7.0, 7.0, 8.0, 8.0, 8.0]);
        assert_eq!(f.cases[2], vec![9.0, 10.0, 10.0, 11.0, 12.0, 12.0]);
        // Equal lengths without @seriesLength need no padding.
        let even = "@dimensions 1\n@classLabel true a b\n@data\n1,2:a\n3,4:b\n";
        assert_eq!(parse(even, p).expect("equal").length, 2);
    }

    #[test]
    fn malformed_ts_is_named() {
        let p = Path::new("m.ts");
        let head = "@dimensions 2\n@seriesLength 2\n@classLabel true a b\n@data\n";
        let ok = parse(&format!("{head}1,2:3,4:b\n"), p).expect("valid");
        assert_eq!(
            (ok.cases[0].clone(), ok.labels[0]),
            (vec![1.0, 2.0, 3.0, 4.0], 1)
        );
        let e = |body: &str| {
            parse(&format!("{head}{body}"), p)
                .expect_err(body)
                .to_string()
        };
        assert_eq!(
            e("1,2:3,4:c\n"),
            "m.ts: line 5: label `c` is not declared in @classLabel"
        );
        assert_eq!(
            e("1,2:3:a\n"),
            "m.ts: line 5, channel 1: 1 values, expected 2"
        );
        assert_eq!(
            e("1,x:3,4:a\n"),
            "m.ts: line 5, channel 0: `x` is not a finite number"
        );
        assert!(parse("@data\n1:a\n", p).is_err());
    }

    #[test]
    fn huge_header_sizes_are_not_trusted() {
        // Found by `cargo fuzz run ts`: @seriesLength near usize::MAX reserved 4·d·l bytes
        // (capacity overflow panic), a @dimensions of usize::MAX overflowed `d + 1`.
        let p = Path::new("h.ts");
        let e = parse(
            "@dimensions 1\n@seriesLength 9114642732933738950\n@classLabel true A\n@data\n1:A\n",
            p,
        )
        .expect_err("huge length")
        .to_string();
        assert_eq!(
            e,
            "h.ts: line 5, channel 0: 1 values, expected 9114642732933738950"
        );
        let e = parse(
            "@dimensions 18446744073709551615\n@seriesLength 1\n@classLabel true A\n@data\n1:A\n",
            p,
        )
        .expect_err("huge dimensions")
        .to_string();
        assert_eq!(
            e,
            "h.ts: line 5: 2 ':'-separated fields, expected 18446744073709551615 channels + label"
        );
    }
}
