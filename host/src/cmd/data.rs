//! `mote data inspect`: what mote understood of a data file.

use std::path::PathBuf;

use anyhow::Result;

use crate::data::file::{FileInfo, load, read_table, split_and_scale};
use crate::output::out;

/// `mote data` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Print what mote reads from a data file: rows, columns (channels), classes and their
    /// counts, dropped rows, and the train/test split `--data PATH` would give.
    Inspect(InspectDataArgs),
}

/// `mote data inspect` arguments.
#[derive(Debug, clap::Args)]
pub struct InspectDataArgs {
    /// The file (CSV, TSV, .npz, .npy, .ts, IDX).
    pub path: PathBuf,
    /// Sample rate of a recording in Hz, to state its duration.
    #[arg(long)]
    pub rate: Option<f64>,
    /// How the file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// What `mote data inspect` reports.
#[derive(Debug, serde::Serialize)]
struct Report {
    #[serde(flatten)]
    file: FileInfo,
    /// Seconds of recording at `--rate`.
    duration_s: Option<f64>,
    /// Train and test samples `--data` would give, and where the test split comes from; or why
    /// the file cannot be trained on as it is.
    split: Result<(usize, usize, String), String>,
}

/// Runs `mote data`.
pub fn run(command: &DataCommand) -> Result<()> {
    match command {
        DataCommand::Inspect(a) => inspect(a),
    }
}

fn inspect(a: &InspectDataArgs) -> Result<()> {
    // Missing values are counted here, not refused: read with --drop-nan semantics.
    let mut opts = a.file.options(!a.json);
    let refuses_nan = !opts.drop_nan;
    opts.drop_nan = true;
    let (table, format) = read_table(&a.path, &opts)?;
    let file = FileInfo::of(&table, format);
    let rows = table.rows;
    opts.drop_nan = !refuses_nan;
    // The table read is the one --data would read, unless it refuses missing values and some
    // were dropped here: then the load fails at the first one, and says where.
    let loaded = if refuses_nan && table.dropped > 0 {
        load(&a.path, &opts)
    } else {
        split_and_scale(&a.path, table, format, &opts)
    };
    let split = loaded
        .map(|l| (l.train.n, l.test.n, l.test_source))
        .map_err(|e| e.to_string());
    let r = Report {
        duration_s: a.rate.map(|hz| rows as f64 / hz),
        file,
        split,
    };
    if a.json {
        return crate::output::print_json(&r);
    }
    let f = &r.file;
    let mut s = format!("{}: {:?}, {} rows", f.path.display(), f.format, f.rows);
    if let Some(d) = r.duration_s {
        s += &format!(" ({d:.1} s at {} Hz)", a.rate.unwrap_or(0.0));
    }
    if f.length > 1 && f.channels > 1 {
        s += &format!(", {} channels × {} steps", f.channels, f.length);
    } else if f.length > 1 {
        s += &format!(", {} values (one channel, scaled as one)", f.width);
    } else {
        s += &format!(", {} feature columns", f.width);
    }
    s += "\n";
    let names = if f.channel_names.len() > 12 {
        format!(
            "{}, ... ({} more)",
            f.channel_names[..12].join(", "),
            f.channel_names.len() - 12
        )
    } else {
        f.channel_names.join(", ")
    };
    s += &format!("  columns: {names}\n");
    s += &format!("  classes ({}):", f.classes.len());
    for c in &f.classes {
        s += &format!(" {} {},", c.name, c.count);
    }
    s.pop();
    s += "\n";
    s += &format!(
        "  rows with missing or non-finite values: {}{}\n",
        f.dropped,
        if f.dropped > 0 && refuses_nan {
            " (refused unless --drop-nan drops them)"
        } else {
            ""
        }
    );
    match &r.split {
        Ok((train, test, source)) => {
            s += &format!(
                "  --data gives {train} training and {test} test samples (test: {source})\n"
            )
        }
        Err(e) => s += &format!("  --data would be refused: {e}\n"),
    }
    out!("{s}")?;
    Ok(())
}
