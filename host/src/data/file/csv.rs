//! CSV (and TSV) files: one sample — or one time step of a recording — per line, a label column
//! (`--label NAME|INDEX`, default the last), feature columns (`--features`, default all the
//! others). Read as a stream: one record at a time into `f32`s, so the text is never held whole.
//!
//! A first line is a header when `--header` says so, or when one of its feature cells is not a
//! number, or when its label cell is not a number but the next line's is. Empty cells and `NA`,
//! `NaN`, `null` are missing values; they and `inf` are refused with the line and column, or the
//! row is dropped (and counted) with `--drop-nan`. Quoting, CRLF line ends and a missing final
//! newline are the `csv` crate's (RFC 4180).

use std::collections::HashMap;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use super::super::{DataError, malformed};
use super::table::{Table, classes_from_names};

/// How to read a CSV file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsvOptions {
    /// The label column: a header name or a 0-based index (default: the last column).
    pub label: Option<String>,
    /// Feature columns: comma-separated names, indices and `START:END` ranges (0-based, END
    /// excluded); default every column but the label.
    pub features: Option<String>,
    /// Whether the first line is a header (default: inferred).
    pub header: Option<bool>,
    /// Drop rows with a missing or non-finite value instead of refusing the file.
    pub drop_nan: bool,
    /// Show a progress bar (bytes read) on stderr.
    pub progress: bool,
}

fn missing(cell: &str) -> bool {
    matches!(
        cell,
        "" | "NA" | "N/A" | "NaN" | "nan" | "NAN" | "null" | "NULL" | "None"
    )
}

fn numeric(cell: &str) -> bool {
    missing(cell) || cell.parse::<f64>().is_ok()
}

/// Resolves a column given by name or index among `names`.
fn column(path: &Path, names: &[String], spec: &str, what: &str) -> Result<usize, DataError> {
    if let Some(i) = names.iter().position(|n| n == spec) {
        return Ok(i);
    }
    match spec.parse::<usize>() {
        Ok(i) if i < names.len() => Ok(i),
        _ => Err(malformed(
            path,
            format!(
                "{what} `{spec}` is not a column; the {} columns are: {}",
                names.len(),
                names.join(", ")
            ),
        )),
    }
}

/// The feature columns a `--features` list names (for a `.ts` file: its dimensions, with no
/// label column: `label` out of range).
pub(super) fn feature_columns(
    path: &Path,
    names: &[String],
    spec: &str,
    label: usize,
) -> Result<Vec<usize>, DataError> {
    let mut cols = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some((a, b)) = item.split_once(':') {
            let bound = |s: &str, default: usize| -> Result<usize, DataError> {
                if s.is_empty() {
                    return Ok(default);
                }
                s.parse::<usize>().map_err(|_| {
                    malformed(
                        path,
                        format!("--features range `{item}`: `{s}` is not an index"),
                    )
                })
            };
            let (a, b) = (bound(a, 0)?, bound(b, names.len())?);
            if a >= b || b > names.len() {
                return Err(malformed(
                    path,
                    format!(
                        "--features range `{item}` is empty or past the {} columns",
                        names.len()
                    ),
                ));
            }
            cols.extend(a..b);
        } else {
            cols.push(column(path, names, item, "--features column")?);
        }
    }
    if label < names.len() && cols.contains(&label) {
        return Err(malformed(
            path,
            format!(
                "the label column `{}` is also a feature column",
                names[label]
            ),
        ));
    }
    if cols.is_empty() {
        return Err(malformed(path, "--features names no column"));
    }
    Ok(cols)
}

/// Fails at the first NUL byte: CSV is text, and a binary stream (`/dev/zero`, a model file)
/// would otherwise be one endless field.
struct TextOnly<R> {
    inner: R,
}

impl<R: std::io::Read> std::io::Read for TextOnly<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if buf[..n].contains(&0) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a NUL byte: this is binary data, not CSV text",
            ));
        }
        Ok(n)
    }
}

/// The delimiter of a `.csv` file: `;` when its first line has semicolons and no commas (the
/// export of a spreadsheet in a decimal-comma locale), else `,`.
pub fn sniff_delimiter(path: &Path) -> u8 {
    use std::io::{BufRead, Read};
    let Ok(f) = std::fs::File::open(path) else {
        return b',';
    };
    let mut first = Vec::new();
    let _ = std::io::BufReader::new(f)
        .take(1 << 16)
        .read_until(b'\n', &mut first);
    if !first.contains(&b',') && first.contains(&b';') {
        b';'
    } else {
        b','
    }
}

/// Reads a CSV file (`delimiter` `b','`, `b';'` or `b'\t'`) into a table.
pub fn read(path: &Path, delimiter: u8, opts: &CsvOptions) -> Result<Table, DataError> {
    let input = crate::input::open(path)?;
    let size = input.size();
    // Each value takes at least two bytes of text ("0,"), and is kept as four: refuse a file
    // whose values could not fit before reading it.
    if let Some(size) = size {
        crate::budget::check("the values of the CSV file", size.saturating_mul(2))
            .map_err(|e| malformed(path, e.to_string()))?;
    }
    let bar = match (opts.progress, size) {
        (true, Some(len)) => ProgressBar::new(len),
        (true, None) => ProgressBar::no_length(),
        _ => ProgressBar::hidden(),
    };
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(path.display().to_string());
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(TextOnly {
            inner: bar.wrap_read(input),
        });
    let mut records = reader.records();
    let next = |records: &mut ::csv::StringRecordsIter<_>| -> Result<Option<::csv::StringRecord>, DataError> {
        match records.next() {
            None => Ok(None),
            Some(Ok(r)) => Ok(Some(r)),
            Some(Err(e)) => Err(match e.kind() {
                ::csv::ErrorKind::Io(_) => malformed(path, format!("reading: {e}")),
                ::csv::ErrorKind::Utf8 { pos, .. } => malformed(
                    path,
                    format!(
                        "line {}: not UTF-8 text",
                        pos.as_ref().map_or(0, |p| p.line())
                    ),
                ),
                _ => malformed(path, e.to_string()),
            }),
        }
    };
    let Some(first) = next(&mut records)? else {
        return Err(malformed(path, "the file is empty; expected CSV rows"));
    };
    let second = next(&mut records)?;
    let ncols = first.len();
    let default_label = |n: usize| n.saturating_sub(1);
    let label_hint = match &opts.label {
        Some(l) => l.parse::<usize>().ok(),
        None => Some(default_label(ncols)),
    };
    let header = opts.header.unwrap_or_else(|| {
        let named_label = opts
            .label
            .as_ref()
            .is_some_and(|l| l.parse::<usize>().is_err());
        let feature_text = first
            .iter()
            .enumerate()
            .any(|(i, c)| Some(i) != label_hint && !numeric(c));
        let label_text_then_number = label_hint.is_some_and(|li| {
            first.get(li).is_some_and(|c| !numeric(c))
                && second.as_ref().and_then(|s| s.get(li)).is_some_and(numeric)
        });
        named_label || feature_text || label_text_then_number
    });
    let names: Vec<String> = if header {
        first.iter().map(str::to_string).collect()
    } else {
        (0..ncols).map(|i| format!("column {i}")).collect()
    };
    if ncols < 2 {
        return Err(malformed(
            path,
            format!("{ncols} column(s); a CSV data file needs feature columns and a label column"),
        ));
    }
    let label = match &opts.label {
        Some(spec) => column(path, &names, spec, "--label")?,
        None => default_label(ncols),
    };
    let features: Vec<usize> = match &opts.features {
        Some(spec) => feature_columns(path, &names, spec, label)?,
        None => (0..ncols).filter(|&i| i != label).collect(),
    };
    let mut values: Vec<f32> = Vec::new();
    let mut ids: Vec<u32> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut dropped = 0usize;
    let mut row_buf: Vec<f32> = Vec::with_capacity(features.len());
    let pending: Vec<::csv::StringRecord> = if header {
        second.into_iter().collect()
    } else {
        std::iter::once(first).chain(second).collect()
    };
    let mut handle = |rec: &::csv::StringRecord| -> Result<(), DataError> {
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() == 1 && rec.get(0) == Some("") {
            return Ok(()); // a blank line
        }
        if rec.len() != ncols {
            return Err(malformed(
                path,
                format!(
                    "line {line} has {} fields; the {} has {ncols}",
                    rec.len(),
                    if header { "header" } else { "first row" }
                ),
            ));
        }
        row_buf.clear();
        let mut bad: Option<(usize, &str)> = None;
        for &c in &features {
            let cell = rec.get(c).unwrap_or("");
            if missing(cell) {
                bad.get_or_insert((c, cell));
                row_buf.push(f32::NAN);
                continue;
            }
            match cell.parse::<f32>() {
                Ok(v) if v.is_finite() => row_buf.push(v),
                Ok(_) => {
                    bad.get_or_insert((c, cell));
                    row_buf.push(f32::NAN);
                }
                Err(_) => {
                    return Err(malformed(
                        path,
                        format!(
                            "line {line}, column {} (`{}`): `{cell}` is not a number",
                            c + 1,
                            names[c]
                        ),
                    ));
                }
            }
        }
        if let Some((c, cell)) = bad {
            if opts.drop_nan {
                dropped += 1;
                return Ok(());
            }
            return Err(malformed(
                path,
                format!(
                    "line {line}, column {} (`{}`): {} value `{cell}`; pass --drop-nan to drop \
                     such rows",
                    c + 1,
                    names[c],
                    if missing(cell) {
                        "missing"
                    } else {
                        "non-finite"
                    }
                ),
            ));
        }
        let text = rec.get(label).unwrap_or("");
        if text.is_empty() {
            return Err(malformed(
                path,
                format!(
                    "line {line}, column {} (`{}`): empty label",
                    label + 1,
                    names[label]
                ),
            ));
        }
        let id = match index.get(text) {
            Some(&id) => id,
            None => {
                let id = seen.len() as u32;
                if seen.len() > 256 {
                    return Err(malformed(
                        path,
                        format!(
                            "line {line}: more than 256 distinct labels in column `{}`; is it \
                             the label column? (--label)",
                            names[label]
                        ),
                    ));
                }
                index.insert(text.to_string(), id);
                seen.push(text.to_string());
                id
            }
        };
        values.extend_from_slice(&row_buf);
        ids.push(id);
        if size.is_none() && ids.len().is_multiple_of(65_536) {
            // A stream has no size to check up front: check as it grows.
            crate::budget::check("the values read from the stream", (values.len() as u64) * 8)
                .map_err(|e| malformed(path, format!("line {line}: {e}")))?;
        }
        Ok(())
    };
    for rec in &pending {
        handle(rec)?;
    }
    while let Some(rec) = next(&mut records)? {
        handle(&rec)?;
    }
    bar.finish_and_clear();
    let rows = ids.len();
    if rows == 0 {
        return Err(malformed(
            path,
            if dropped > 0 {
                format!("every row ({dropped}) had a missing value and was dropped")
            } else {
                "no data rows".to_string()
            },
        ));
    }
    let (labels, class_names) = classes_from_names(path, &seen, &ids)?;
    Ok(Table {
        path: path.to_path_buf(),
        values,
        rows,
        width: features.len(),
        channels: features.len(),
        channel_names: features.iter().map(|&c| names[c].clone()).collect(),
        labels,
        class_names,
        dropped,
    })
}
