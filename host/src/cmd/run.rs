//! `mote run`: a `.mote` model file on a data set's test split in the host simulator, and
//! optionally on a board under QEMU, compared bit for bit.

use std::path::PathBuf;

use anyhow::Result;

use super::Config;
use crate::device::Board;
use crate::device::infer::SampleWorkload;
use crate::device::runner::run_on_device;
use crate::model::AlignedModel;
use crate::model::scaling::inputs_for;
use crate::model::simulate::simulate;
use crate::output::outln;

/// `mote run` arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The model file.
    pub model: PathBuf,
    /// Data set: a bundled name (digits, fashion-mnist, basicmotions) or a file (CSV, TSV, .npz,
    /// .ts, IDX; see the data-file flags); its test split is run.
    #[arg(long)]
    pub data: String,
    /// Also run on this board under QEMU and compare every output bit for bit.
    #[arg(long, value_enum)]
    pub device: Option<Board>,
    /// Machine-readable output (includes per-sample outputs).
    #[arg(long)]
    pub json: bool,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
    /// Stateful models: the series' channels to stream, in order (e.g. `0,1,2` for a model
    /// trained with `mote recurrent-train --channels 0,1,2`). Default: every channel.
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<usize>,
}

/// Runs `mote run`: the model is read and parsed once, simulated once, and the device's
/// outputs are compared with that simulation.
pub fn run(args: &RunArgs, config: &Config) -> Result<()> {
    let file = AlignedModel::read(&args.model)?;
    let parsed = file
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
    if parsed.is_stateful() {
        return run_streams(args, config, &file, &parsed);
    }
    let catalog = config.catalog.with_files(args.file.options(true));
    let test = inputs_for(&parsed, &catalog, &args.data)?.1;
    let report = simulate(&parsed, &test)?;
    let dev = match args.device {
        Some(board) => {
            let workload = SampleWorkload::new(&test, &report)?;
            Some(run_on_device(
                &config.firmware,
                file.bytes(),
                &workload,
                board,
                false,
            )?)
        }
        None => None,
    };
    if args.json {
        return crate::output::print_json(&serde_json::json!({ "host": report, "device": dev }));
    }
    outln!(
        "{}: {} samples of {} (test split), accuracy {:.2}% (host simulator)",
        args.model.display(),
        report.samples,
        args.data,
        100.0 * report.accuracy
    )?;
    if let Some(d) = dev {
        outln!(
            "{} ({}): accuracy {:.2}%, {} of {} outputs differ from the host",
            d.board.machine(),
            d.board.cpu(),
            100.0 * d.accuracy,
            d.mismatches,
            d.samples
        )?;
        if d.mismatches > 0 {
            anyhow::bail!("device outputs differ from the host simulator");
        }
    }
    Ok(())
}

/// `mote run` of a stateful model: each test series streamed token by token (reset, then one
/// step per sample), its last output the series' logits; with `--device`, the `recurrent`
/// firmware streams the same series and every window's digest and logits are compared.
fn run_streams(
    args: &RunArgs,
    config: &Config,
    file: &AlignedModel,
    parsed: &mote_core::model::Model<'_>,
) -> Result<()> {
    use crate::device::runner::Workload;
    use crate::recurrent::streams::{StreamWorkload, test_series};
    let (path, test) = test_series(&config.catalog, &args.data, &args.channels)
        .map_err(|e| anyhow::anyhow!("{}: {e:#}", args.model.display()))?;
    let workload = StreamWorkload::from_file(parsed, &test)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
    let host_accuracy = workload.host_accuracy();
    let dev = match args.device {
        Some(board) => Some(run_on_device(
            &config.firmware,
            file.bytes(),
            &workload,
            board,
            false,
        )?),
        None => None,
    };
    if args.json {
        return crate::output::print_json(&serde_json::json!({
            "host": { "windows": test.series.len(), "tokens_per_window": test.length, "accuracy": host_accuracy },
            "device": dev,
        }));
    }
    outln!(
        "{}: {} series of {} tokens from {} streamed token by token, accuracy {:.2}% (host simulator), state {} floats",
        args.model.display(),
        test.series.len(),
        test.length,
        path.display(),
        100.0 * host_accuracy,
        parsed.ram().state_f32
    )?;
    if let Some(d) = dev {
        outln!(
            "{} ({}): accuracy {:.2}%, {} of {} windows differ from the host",
            d.board.machine(),
            d.board.cpu(),
            100.0 * d.accuracy,
            d.mismatches,
            d.samples
        )?;
        if d.mismatches > 0 {
            anyhow::bail!(
                "device outputs differ from the host simulator: {}",
                d.first_mismatch.unwrap_or_default()
            );
        }
    }
    Ok(())
}
