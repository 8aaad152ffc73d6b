//! `mote firmware build|run|flash`: the sensor application for a user's model.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::Config;
use crate::device::app::{
    ASSUMED_CPI, AppBoard, AppRun, Built, QUEUE_CAPACITY, Sensor, Stream, Windows, build,
    millihertz, run_replay, stream_from_ts,
};
use crate::output::outln;

/// `mote firmware` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum FirmwareCommand {
    /// Build the sensor application (LSM303AGR -> queue -> model -> decision) for a model file
    /// and print its footprint; with -o, write the ELF.
    Build(BuildArgs),
    /// Run the application under QEMU on a replayed recording (through the real driver) and
    /// check every decision bit for bit against the host simulator fed the same samples.
    Run(RunArgs),
    /// Build the application for the micro:bit v2 and flash it with probe-rs (`probe-rs run
    /// --chip nRF52833_xxAA`: flashes, then prints the defmt log over RTT).
    Flash(FlashArgs),
}

/// What every subcommand shares.
#[derive(Debug, clap::Args)]
pub struct AppArgs {
    /// The model file (`mote quantize`, `mote recurrent-train -o`): stateful models take one
    /// 3-axis sample per token; stateless ones a window of `--window` samples × 3.
    pub model: PathBuf,
    /// The board.
    #[arg(long, value_enum)]
    pub board: AppBoard,
    /// The sensor: `replay:FILE` plays a recording (a `.ts` archive of accelerometer series in
    /// m/s², e.g. data/basicmotions/BasicMotions_TEST.ts) through the driver; `hardware` reads
    /// the board's LSM303AGR (micro:bit only).
    #[arg(long, default_value = "hardware")]
    pub sensor: Sensor,
    /// The recording's channels that are the accelerometer's x, y, z.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    pub channels: Vec<usize>,
    /// Sample rate in Hz (the SysTick rate; BasicMotions was recorded at 10 Hz).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Samples per window: a stateful model is reset at the start of each and decides at its
    /// end; a stateless one sees the last `window` samples. Default: the recording's series
    /// length (replay), else 100.
    #[arg(long)]
    pub window: Option<usize>,
    /// Samples between decisions of a stateless model (default: the window).
    #[arg(long)]
    pub hop: Option<usize>,
}

/// `mote firmware build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Model, board, sensor.
    #[command(flatten)]
    pub app: AppArgs,
    /// Write the ELF here.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `mote firmware run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Model, board, sensor.
    #[command(flatten)]
    pub app: AppArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `mote firmware flash`.
#[derive(Debug, clap::Args)]
pub struct FlashArgs {
    /// Model, board, sensor.
    #[command(flatten)]
    pub app: AppArgs,
    /// The probe-rs executable.
    #[arg(long, env = "MOTE_PROBE_RS", default_value = "probe-rs")]
    pub probe_rs: PathBuf,
}

/// Runs the command.
pub fn run(command: &FirmwareCommand, config: &Config) -> Result<()> {
    match command {
        FirmwareCommand::Build(a) => build_cmd(a, config),
        FirmwareCommand::Run(a) => run_cmd(a, config),
        FirmwareCommand::Flash(a) => flash_cmd(a, config),
    }
}

fn read_model(a: &AppArgs) -> Result<Vec<u8>> {
    let file = crate::model::AlignedModel::read(&a.model)?;
    file.parse()
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.model.display()))?;
    Ok(file.bytes().to_vec())
}

fn stream_of(a: &AppArgs) -> Result<Option<Stream>> {
    match &a.sensor {
        Sensor::Replay(p) => Ok(Some(stream_from_ts(p, &a.channels, a.rate)?)),
        Sensor::Hardware => Ok(None),
    }
}

fn windows_of(a: &AppArgs, stream: Option<&Stream>) -> Windows {
    let window = a
        .window
        .unwrap_or_else(|| stream.map_or(100, |s| s.series_length));
    Windows {
        window,
        hop: a.hop.unwrap_or(window),
    }
}

fn build_app(a: &AppArgs, config: &Config) -> Result<(Built, Windows)> {
    let model = read_model(a)?;
    let stream = stream_of(a)?;
    let windows = windows_of(a, stream.as_ref());
    let rec = stream.as_ref().map(Stream::recording).transpose()?;
    let rate = stream
        .as_ref()
        .map_or_else(|| millihertz(a.rate), |s| Ok(s.rate_millihertz))?;
    let built = build(
        &config.firmware,
        &model,
        a.board,
        &a.sensor,
        rec.as_deref(),
        rate,
        windows,
    )
    .with_context(|| format!("{}", a.model.display()))?;
    Ok((built, windows))
}

fn build_cmd(a: &BuildArgs, config: &Config) -> Result<()> {
    if let Some(p) = &a.out {
        crate::output::claim_stdout_for_output(p, a.json)?;
    }
    let (built, windows) = build_app(&a.app, config)?;
    if let Some(p) = &a.out {
        let elf = std::fs::read(&built.elf).context("reading the built ELF")?;
        crate::output::write_atomic(p, &elf)?;
    }
    let f = built.footprint;
    if a.json {
        return crate::output::print_json(&serde_json::json!({
            "board": a.app.board,
            "windows": windows,
            "footprint": f,
            "flash_bytes": f.flash(),
            "ram_static_bytes": f.data + f.bss,
        }));
    }
    let (flash, ram) = a.app.board.memory();
    outln!(
        "app for {} ({}): flash {} B of {flash} (text {}, rodata {} incl. model {} and recording {}, data {}), static RAM {} B of {ram} (data {}, bss {}); window {}, hop {}",
        a.app.board.name(),
        a.app.model.display(),
        f.flash(),
        f.text,
        f.rodata,
        f.model,
        f.recording,
        f.data,
        f.data + f.bss,
        f.data,
        f.bss,
        windows.window,
        windows.hop
    )?;
    if let Some(p) = &a.out {
        outln!("wrote {}", p.display())?;
    }
    Ok(())
}

fn run_cmd(a: &RunArgs, config: &Config) -> Result<()> {
    let Some(stream) = stream_of(&a.app)? else {
        bail!("mote firmware run needs --sensor replay:FILE (QEMU has no accelerometer)");
    };
    let model = read_model(&a.app)?;
    let windows = windows_of(&a.app, Some(&stream));
    let r = run_replay(&config.firmware, &model, a.app.board, &stream, windows)
        .with_context(|| format!("{}", a.app.model.display()))?;
    if a.json {
        crate::output::print_json(&r)?;
    } else {
        print_run(&r)?;
    }
    if r.mismatches > 0 {
        bail!(
            "{} of {} decisions differ from the host simulator: {}",
            r.mismatches,
            r.mismatches + r.identical,
            r.first_mismatch.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// The text report of a replayed run.
pub fn print_run(r: &AppRun) -> Result<()> {
    let s = &r.summary;
    outln!(
        "{} at {} Hz: {} samples, {} decisions ({} bit-identical to the host simulator), {} dropped (queue of {QUEUE_CAPACITY}, deepest {})",
        r.board.name(),
        r.rate_hz,
        s.samples,
        s.decisions,
        r.identical,
        s.dropped,
        s.max_queue
    )?;
    if let Some(acc) = r.accuracy {
        outln!("accuracy over full windows: {:.2}%", acc * 100.0)?;
    }
    outln!(
        "cost: {:.0} instructions per sample (driver, queue, model); at 64 MHz and {ASSUMED_CPI} cycles per instruction it sustains up to {:.0} Hz",
        r.instructions_per_sample,
        r.max_rate_hz_at_64mhz
    )?;
    let f = &r.footprint;
    outln!(
        "footprint: flash {} B (text {}, rodata {} incl. model {} and recording {}), RAM {} B static + {} B stack high-water",
        f.flash(),
        f.text,
        f.rodata,
        f.model,
        f.recording,
        f.data + f.bss,
        s.stack_bytes
    )?;
    Ok(())
}

fn flash_cmd(a: &FlashArgs, config: &Config) -> Result<()> {
    if a.app.board != AppBoard::MicrobitV2 {
        bail!(
            "{} is emulated: run it with `mote firmware run` (flash takes --board microbit-v2)",
            a.app.board.name()
        );
    }
    let (built, _) = build_app(&a.app, config)?;
    outln!(
        "built {} (flash {} B); flashing with {} run --chip nRF52833_xxAA",
        built.elf.display(),
        built.footprint.flash(),
        a.probe_rs.display()
    )?;
    let status = std::process::Command::new(&a.probe_rs)
        .args(["run", "--chip", "nRF52833_xxAA"])
        .arg(&built.elf)
        .status()
        .with_context(|| {
            format!(
                "starting {} (install it: cargo install probe-rs-tools --locked; see firmware/README.md)",
                a.probe_rs.display()
            )
        })?;
    if !status.success() {
        bail!("{} exited with {status}", a.probe_rs.display());
    }
    Ok(())
}
