//! The sensor application (`firmware/src/bin/app.rs`) for a user's model: the build (with the
//! board's flash and RAM checked first, the footprint read from the ELF), a replayed stream run
//! under QEMU with instruction-proportional time, and the check of every decision against the
//! host simulator fed the same samples through the same sensor arithmetic.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use mote_core::check::Fnv1a;
use mote_core::kernels::argmax;
use mote_core::model::{Model, Workspace};
use mote_core::sensor::lsm303agr::{Mode, Scale, decode, encode};
use mote_core::sensor::recording::{self, Unit};
use mote_core::sensor::{STANDARD_GRAVITY, to_model_units};
use serde::Serialize;

use super::firmware::BuildTarget;
use super::qemu::{self, RunOptions, log_numbers};
use super::{Board, Firmware};
use crate::data::basicmotions;

/// Axes of the accelerometer.
pub const CHANNELS: usize = 3;

/// QEMU's `-icount` shift for the application: 2^4 = 16 ns of virtual time per instruction, a
/// 62.5 MHz core at one instruction per cycle (the micro:bit v2 runs at 64 MHz); idle time
/// (WFI) is skipped (`sleep=off`), so a 400 s recording replays in about a second.
pub const ICOUNT_SHIFT: u32 = 4;

/// SysTick's clock on the MPS2 boards under QEMU.
const MPS2_SYSTICK_HZ: f64 = 25e6;

/// Cycles per instruction assumed when converting instruction counts to the highest sample rate
/// a real Cortex-M4 at 64 MHz sustains: 1.25 (single-cycle ALU and MAC instructions, 2-cycle
/// loads and branches, flash wait states partly hidden by the nRF52's cache).
pub const ASSUMED_CPI: f64 = 1.25;

/// The micro:bit v2's core clock.
pub const MICROBIT_HZ: f64 = 64e6;

/// Samples the queue between the interrupt and the main loop holds (firmware
/// `sampling::QUEUE_SLOTS - 1`).
pub const QUEUE_CAPACITY: usize = 32;

/// Where the application runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum AppBoard {
    /// QEMU `mps2-an386`, Cortex-M4F.
    #[value(name = "mps2-an386")]
    Mps2An386,
    /// QEMU `mps2-an385`, Cortex-M3 (no FPU).
    #[value(name = "mps2-an385")]
    Mps2An385,
    /// BBC micro:bit v2 (nRF52833, Cortex-M4F at 64 MHz), flashed with probe-rs.
    #[value(name = "microbit-v2")]
    MicrobitV2,
}

impl AppBoard {
    /// The QEMU board, if this one is emulated.
    pub fn qemu(self) -> Option<Board> {
        match self {
            AppBoard::Mps2An386 => Some(Board::Mps2An386),
            AppBoard::Mps2An385 => Some(Board::Mps2An385),
            AppBoard::MicrobitV2 => None,
        }
    }

    /// The board's name.
    pub fn name(self) -> &'static str {
        match self {
            AppBoard::Mps2An386 => "mps2-an386",
            AppBoard::Mps2An385 => "mps2-an385",
            AppBoard::MicrobitV2 => "microbit-v2",
        }
    }

    /// Flash and RAM bytes.
    pub fn memory(self) -> (usize, usize) {
        match self {
            AppBoard::Mps2An386 | AppBoard::Mps2An385 => (4 << 20, 4 << 20),
            AppBoard::MicrobitV2 => (512 << 10, 128 << 10),
        }
    }

    fn triple(self) -> &'static str {
        match self {
            AppBoard::Mps2An385 => "thumbv7m-none-eabi",
            AppBoard::Mps2An386 | AppBoard::MicrobitV2 => "thumbv7em-none-eabihf",
        }
    }

    fn features(self, sensor: &Sensor) -> &'static str {
        match (self, sensor) {
            (AppBoard::Mps2An386, _) => "board-mps2-an386",
            (AppBoard::Mps2An385, _) => "board-mps2-an385",
            (AppBoard::MicrobitV2, Sensor::Hardware) => "board-microbit-v2,sensor-hardware",
            (AppBoard::MicrobitV2, Sensor::Replay(_)) => "board-microbit-v2",
        }
    }
}

/// The application's sensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sensor {
    /// The LSM303AGR replayed from a recording file (a `.ts` archive of accelerometer series).
    Replay(PathBuf),
    /// The board's LSM303AGR.
    Hardware,
}

impl std::str::FromStr for Sensor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "hardware" {
            return Ok(Sensor::Hardware);
        }
        match s.strip_prefix("replay:") {
            Some(p) if !p.is_empty() => Ok(Sensor::Replay(PathBuf::from(p))),
            _ => Err(format!(
                "unknown sensor {s:?}: expected replay:FILE (a recording to play back) or hardware"
            )),
        }
    }
}

/// A recorded accelerometer stream and, when the recording was labelled, its windows' labels.
#[derive(Clone, Debug)]
pub struct Stream {
    /// The readings in milli-g, sample-major, 3 per sample.
    pub milli_g: Vec<i16>,
    /// Sample rate in millihertz.
    pub rate_millihertz: u32,
    /// Samples per labelled series (the natural window).
    pub series_length: usize,
    /// One label per series.
    pub labels: Vec<usize>,
    /// Class names.
    pub classes: Vec<String>,
}

impl Stream {
    /// Samples in the stream.
    pub fn len(&self) -> usize {
        self.milli_g.len() / CHANNELS
    }

    /// Whether the stream is empty.
    pub fn is_empty(&self) -> bool {
        self.milli_g.is_empty()
    }

    /// The recording blob the replay device plays (`docs/recording-format.md`).
    pub fn recording(&self) -> Result<Vec<u8>> {
        let len = recording::encoded_len(self.len(), CHANNELS).context("recording too large")?;
        let mut buf = vec![0u8; len];
        recording::write(
            CHANNELS,
            Unit::MilliG,
            self.rate_millihertz,
            &self.milli_g,
            &mut buf,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(buf)
    }
}

/// The series of a `.ts` archive played one after another as one stream: `channels` (three of
/// them) in m/s², converted to milli-g (nearest, saturated at ±32.767 g), at `rate_hz`.
pub fn stream_from_ts(path: &Path, channels: &[usize], rate_hz: f64) -> Result<Stream> {
    if channels.len() != CHANNELS {
        bail!(
            "--channels: the accelerometer has 3 axes; {} channels given",
            channels.len()
        );
    }
    let ds = basicmotions::load(path)?.select_channels(channels)?;
    let milli_g = ds
        .series
        .iter()
        .flat_map(|s| s.values.iter())
        .map(|&v| {
            let mg = (f64::from(v) / f64::from(STANDARD_GRAVITY) * 1000.0).round();
            mg.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
        })
        .collect();
    Ok(Stream {
        milli_g,
        rate_millihertz: millihertz(rate_hz)?,
        series_length: ds.length,
        labels: ds.series.iter().map(|s| s.label).collect(),
        classes: ds.classes,
    })
}

/// A sample rate in Hz as millihertz, refused outside 0.001 Hz ..= 100 kHz.
pub fn millihertz(rate_hz: f64) -> Result<u32> {
    if !(rate_hz.is_finite() && (0.001..=100_000.0).contains(&rate_hz)) {
        bail!("--rate {rate_hz}: expected a sample rate between 0.001 and 100000 Hz");
    }
    Ok((rate_hz * 1000.0).round() as u32)
}

/// The application's window parameters.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Windows {
    /// Samples per window.
    pub window: usize,
    /// Samples between decisions of a stateless model.
    pub hop: usize,
}

/// What a built application occupies.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Footprint {
    /// `.vector_table` + `.text` bytes.
    pub text: u64,
    /// `.rodata` bytes (the model file and the recording are in it).
    pub rodata: u64,
    /// `.data` bytes (in flash and RAM).
    pub data: u64,
    /// `.bss` + `.uninit` bytes.
    pub bss: u64,
    /// The model file's bytes.
    pub model: usize,
    /// The embedded recording's bytes (replay only).
    pub recording: usize,
}

impl Footprint {
    /// Flash: text + rodata + data.
    pub fn flash(&self) -> u64 {
        self.text + self.rodata + self.data
    }
}

/// A built application.
#[derive(Clone, Debug)]
pub struct Built {
    /// The ELF.
    pub elf: PathBuf,
    /// Its sections.
    pub footprint: Footprint,
}

fn footprint_of(elf: &Path) -> Result<Footprint> {
    use object::{Object, ObjectSection};
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file = object::File::parse(&*bytes).with_context(|| format!("{}", elf.display()))?;
    let mut f = Footprint::default();
    for s in file.sections() {
        let size = s.size();
        match s.name().unwrap_or("") {
            ".vector_table" | ".text" => f.text += size,
            ".rodata" => f.rodata += size,
            ".data" => f.data += size,
            ".bss" | ".uninit" => f.bss += size,
            _ => {}
        }
    }
    Ok(f)
}

/// Checks that `model` can run in the application with `windows` on `board`: the input shape,
/// and its flash and RAM against the board's (with the numbers).
pub fn check_model(model: &Model<'_>, windows: Windows, board: AppBoard) -> Result<()> {
    let d_in = model.input_len();
    if windows.window == 0 || windows.hop == 0 {
        bail!("--window and --hop must be at least 1");
    }
    if model.is_stateful() {
        if d_in != CHANNELS {
            bail!(
                "the model is stateful (one token per sample) but takes {d_in} inputs per token; \
                 the accelerometer gives {CHANNELS}"
            );
        }
    } else if d_in != windows.window * CHANNELS {
        bail!(
            "the model is stateless and takes {d_in} inputs: a window of {} samples × {CHANNELS} \
             axes needs {} (set --window {})",
            windows.window,
            windows.window * CHANNELS,
            d_in / CHANNELS
        );
    }
    let (flash, ram) = board.memory();
    // What the application itself needs beside the model (measured on the micro:bit build:
    // 120 KB of code — the whole executor — and 10 KB of tables; 11 KB of stack and 1 KB of
    // statics), with a margin, so the refusal comes before a failed link; the linker's own check
    // stays behind it.
    const APP_FLASH: usize = 144 << 10;
    const APP_RAM: usize = 16 << 10;
    let model_flash = model.flash_bytes();
    if model_flash + APP_FLASH > flash {
        bail!(
            "the model file needs {model_flash} bytes of flash; {} has {flash}, of which the \
             application takes about {APP_FLASH}",
            board.name()
        );
    }
    let ring = if model.is_stateful() {
        0
    } else {
        windows.window * CHANNELS * 4
    };
    let model_ram = model.ram().bytes() + ring;
    if model_ram + APP_RAM > ram {
        bail!(
            "the model needs {model_ram} bytes of RAM (arenas, state, a stateless model's window); {} has {ram}, of \
             which the application takes about {APP_RAM}",
            board.name()
        );
    }
    Ok(())
}

/// Builds the application for `model` on `board` with `sensor` (the recording embedded for a
/// replay) and the sample rate and windows given.
pub fn build(
    fw: &Firmware,
    model_bytes: &[u8],
    board: AppBoard,
    sensor: &Sensor,
    recording: Option<&[u8]>,
    rate_millihertz: u32,
    windows: Windows,
) -> Result<Built> {
    let aligned = crate::model::AlignedModel::new(model_bytes);
    let model = aligned.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    check_model(&model, windows, board)?;
    if *sensor == Sensor::Hardware {
        if board.qemu().is_some() {
            bail!(
                "--sensor hardware: {} is emulated and has no LSM303AGR; use replay:FILE",
                board.name()
            );
        }
        if rate_millihertz > 1_344_000 {
            bail!("--rate: the LSM303AGR samples at most 1344 Hz in high-resolution mode");
        }
    }
    let ram = model.ram();
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let model_path = dir.path().join("model.mote");
    std::fs::write(&model_path, model_bytes).context("writing the model file")?;
    let mut env: Vec<(&str, OsString)> = vec![("MOTE_MODEL", model_path.clone().into())];
    let rec_len = recording.map_or(0, <[u8]>::len);
    if let Some(rec) = recording {
        let p = dir.path().join("recording.bin");
        std::fs::write(&p, rec).context("writing the recording")?;
        env.push(("MOTE_RECORDING", p.into()));
    }
    let num = |v: usize| OsString::from(v.to_string());
    env.extend([
        ("MOTE_APP_RATE_MHZ", num(rate_millihertz as usize)),
        ("MOTE_APP_WINDOW", num(windows.window)),
        ("MOTE_APP_HOP", num(windows.hop)),
        ("MOTE_APP_ARENA_F32", num(ram.arena_f32)),
        ("MOTE_APP_ARENA_I8", num(ram.arena_i8)),
        ("MOTE_APP_STATE", num(ram.state_f32)),
        ("MOTE_APP_LAYERS", num(model.layer_count())),
        (
            "MOTE_APP_IO",
            num(model.input_len().max(model.output_len())),
        ),
        (
            "MOTE_APP_RING",
            num(if model.is_stateful() {
                0
            } else {
                windows.window * CHANNELS
            }),
        ),
    ]);
    let env_ref: Vec<(&str, &std::ffi::OsStr)> =
        env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let target = BuildTarget {
        triple: board.triple(),
        features: board.features(sensor),
        name: board.name(),
    };
    let elf = fw.build_for(target, "app", &env_ref).map_err(|e| {
        super::firmware::explain_overflow(e, || {
            format!(
                "the application with this model does not fit {} (flash {} B, RAM {} B)",
                board.name(),
                board.memory().0,
                board.memory().1
            )
        })
    })?;
    let mut footprint = footprint_of(&elf)?;
    footprint.model = model_bytes.len();
    footprint.recording = rec_len;
    Ok(Built { elf, footprint })
}

/// One decision, as the device logs it and as the host computes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Window index.
    pub window: u32,
    /// Samples in it.
    pub tokens: u32,
    /// Predicted class.
    pub class: usize,
    /// Digest of the input bits.
    pub inputs: u32,
    /// Digest of the output bits.
    pub outputs: u32,
    /// The final outputs' bits.
    pub logits: Vec<u32>,
}

/// The milli-g the driver returns for a physical reading: the chip's register encoding in the
/// application's configuration (high resolution, ±4 g) and the driver's decoding.
pub fn sensed(milli_g: i16) -> i32 {
    let (mode, scale) = (Mode::HighResolution, Scale::G4);
    decode(encode(i32::from(milli_g), mode, scale), mode, scale)
}

/// The host's run of the application's pipeline (`firmware/src/app/pipeline.rs`) on `stream`
/// without the samples in `dropped`.
pub fn simulate(
    model: &Model<'_>,
    stream: &Stream,
    windows: Windows,
    dropped: &BTreeSet<u32>,
) -> Result<Vec<Decision>> {
    let ram = model.ram();
    let mut arena_f32 = vec![0.0f32; ram.arena_f32];
    let mut arena_i8 = vec![0i8; ram.arena_i8];
    let mut state = vec![0.0f32; ram.state_f32];
    let mut ws = Workspace {
        arena_f32: &mut arena_f32,
        arena_i8: &mut arena_i8,
        state: &mut state,
    };
    let mut y = vec![0.0f32; model.output_len()];
    let (w, hop) = (windows.window as u32, windows.hop as u32);
    let mut out = Vec::new();
    let err = |e: mote_core::model::ExecError| anyhow::anyhow!("simulator: {e}");
    let samples = stream
        .milli_g
        .chunks_exact(CHANNELS)
        .enumerate()
        .filter(|(i, _)| !dropped.contains(&(*i as u32)))
        .map(|(i, s)| (i as u32, [0, 1, 2].map(|c| to_model_units(sensed(s[c])))));
    if model.is_stateful() {
        let mut open: Option<(u32, u32, Fnv1a, Fnv1a)> = None;
        let close = |o: (u32, u32, Fnv1a, Fnv1a), y: &[f32]| Decision {
            window: o.0,
            tokens: o.1,
            class: argmax(y),
            inputs: o.2.0,
            outputs: o.3.0,
            logits: y.iter().map(|v| v.to_bits()).collect(),
        };
        for (seq, x) in samples {
            let win = seq / w;
            if let Some(o) = open.filter(|o| o.0 != win) {
                out.push(close(o, &y));
                open = None;
            }
            if open.is_none() {
                model.reset(&mut ws).map_err(err)?;
                open = Some((win, 0, Fnv1a::default(), Fnv1a::default()));
            }
            let o = open.as_mut().context("window open")?;
            x.iter().for_each(|v| o.2.word(v.to_bits()));
            model.step(&x, &mut ws, &mut y).map_err(err)?;
            y.iter().for_each(|v| o.3.word(v.to_bits()));
            o.1 += 1;
            if seq % w == w - 1 {
                out.push(close(*o, &y));
                open = None;
            }
        }
        if let Some(o) = open {
            out.push(close(o, &y));
        }
    } else {
        let mut ring: std::collections::VecDeque<[f32; CHANNELS]> = Default::default();
        let (mut received, mut decisions) = (0u32, 0u32);
        let mut x = vec![0.0f32; model.input_len()];
        for (_, s) in samples {
            if ring.len() == w as usize {
                ring.pop_front();
            }
            ring.push_back(s);
            received += 1;
            if received < w || !(received - w).is_multiple_of(hop) {
                continue;
            }
            // Channel-major, as the firmware lays out a window (`x[c·W + t]`).
            for (t, v) in ring.iter().enumerate() {
                for (c, &value) in v.iter().enumerate() {
                    x[c * w as usize + t] = value;
                }
            }
            let mut inputs = Fnv1a::default();
            x.iter().for_each(|v| inputs.word(v.to_bits()));
            model.step(&x, &mut ws, &mut y).map_err(err)?;
            let mut outputs = Fnv1a::default();
            y.iter().for_each(|v| outputs.word(v.to_bits()));
            out.push(Decision {
                window: decisions,
                tokens: w,
                class: argmax(&y),
                inputs: inputs.0,
                outputs: outputs.0,
                logits: y.iter().map(|v| v.to_bits()).collect(),
            });
            decisions += 1;
        }
    }
    Ok(out)
}

/// The summary line of a device run.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct DeviceSummary {
    /// Samples the main loop received.
    pub samples: u32,
    /// Decisions made.
    pub decisions: u32,
    /// Samples dropped (queue full).
    pub dropped: u32,
    /// Deepest the queue got.
    pub max_queue: u32,
    /// SysTick ticks the main loop spent on samples.
    pub busy_ticks: u64,
    /// SysTick ticks in the sampling interrupt.
    pub isr_ticks: u64,
    /// Stack high-water mark, bytes.
    pub stack_bytes: u32,
}

/// A replayed run checked against the host.
#[derive(Clone, Debug, Serialize)]
pub struct AppRun {
    /// Board.
    pub board: AppBoard,
    /// Sample rate, Hz.
    pub rate_hz: f64,
    /// Windows.
    pub windows: Windows,
    /// What the device reported at the end.
    pub summary: DeviceSummary,
    /// Decisions whose bits equal the host simulator's.
    pub identical: usize,
    /// Decisions that differ (0 is the contract).
    pub mismatches: usize,
    /// The first difference, both sides.
    pub first_mismatch: Option<String>,
    /// Decisions of full windows that match their series' label (stateful models whose window
    /// is the recording's series length).
    pub accuracy: Option<f64>,
    /// The predicted classes, one per decision.
    pub classes: Vec<usize>,
    /// Instructions per sample (main loop and interrupt), from SysTick under `-icount`.
    pub instructions_per_sample: f64,
    /// The highest sample rate a 64 MHz Cortex-M4 sustains at [`ASSUMED_CPI`].
    pub max_rate_hz_at_64mhz: f64,
    /// Footprint.
    pub footprint: Footprint,
}

/// Builds the application with `stream` replayed, runs it under QEMU and checks every decision
/// against [`simulate`] with the samples the device dropped left out.
pub fn run_replay(
    fw: &Firmware,
    model_bytes: &[u8],
    board: AppBoard,
    stream: &Stream,
    windows: Windows,
) -> Result<AppRun> {
    let Some(qemu_board) = board.qemu() else {
        bail!(
            "{} is a real board: flash it with `mote flash` (QEMU runs mps2-an386 and mps2-an385)",
            board.name()
        );
    };
    let rec = stream.recording()?;
    let sensor = Sensor::Replay(PathBuf::from("recording"));
    let built = build(
        fw,
        model_bytes,
        board,
        &sensor,
        Some(&rec),
        stream.rate_millihertz,
        windows,
    )?;
    let opts = RunOptions {
        extra_args: vec!["-icount".into(), format!("shift={ICOUNT_SHIFT},sleep=off")],
        ..RunOptions::default()
    };
    let run = qemu::run(&built.elf, qemu_board, &opts)?;
    run.ensure_success("app", qemu_board)?;
    let mut dropped = BTreeSet::new();
    for l in run.messages("gap ") {
        let n = log_numbers(l)?;
        let [first, count] = n[..] else {
            bail!("bad gap line {l:?}");
        };
        dropped.extend(first..first.saturating_add(count));
    }
    let device: Vec<Decision> = run
        .messages("decision ")
        .map(|l| {
            let n = log_numbers(l)?;
            let [window, tokens, class, inputs, outputs, ref logits @ ..] = n[..] else {
                bail!("bad decision line {l:?}");
            };
            Ok(Decision {
                window,
                tokens,
                class: class as usize,
                inputs,
                outputs,
                logits: logits.to_vec(),
            })
        })
        .collect::<Result<_>>()?;
    let summary = run
        .messages("app done ")
        .next()
        .context("the application did not report its summary")?;
    let s: Vec<u64> = summary
        .split_whitespace()
        .map(|t| t.parse::<u64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad summary line {summary:?}"))?;
    let small = |v: u64| u32::try_from(v).with_context(|| format!("bad summary line {summary:?}"));
    let [samples, decisions, dropped_n, max_queue, busy, isr, stack] = s[..] else {
        bail!("bad summary line {summary:?}");
    };
    let summary = DeviceSummary {
        samples: small(samples)?,
        decisions: small(decisions)?,
        dropped: small(dropped_n)?,
        max_queue: small(max_queue)?,
        busy_ticks: busy,
        isr_ticks: isr,
        stack_bytes: small(stack)?,
    };
    if dropped.len() != summary.dropped as usize {
        bail!(
            "the device reported {} dropped samples but logged gaps for {}",
            summary.dropped,
            dropped.len()
        );
    }
    let aligned = crate::model::AlignedModel::new(model_bytes);
    let model = aligned.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let host = simulate(&model, stream, windows, &dropped)?;
    let (mut identical, mut mismatches, mut first_mismatch) = (0, 0, None);
    for i in 0..host.len().max(device.len()) {
        match (device.get(i), host.get(i)) {
            (Some(d), Some(h)) if d == h => identical += 1,
            (d, h) => {
                mismatches += 1;
                first_mismatch =
                    first_mismatch.or_else(|| Some(format!("device {d:?}, host {h:?}")));
            }
        }
    }
    let full: Vec<_> = device
        .iter()
        .filter(|d| d.tokens as usize == windows.window)
        .collect();
    let accuracy = (model.is_stateful()
        && windows.window == stream.series_length
        && !full.is_empty())
    .then(|| {
        let right = full
            .iter()
            .filter(|d| stream.labels.get(d.window as usize) == Some(&d.class))
            .count();
        right as f64 / full.len() as f64
    });
    let insns_per_tick = 1e9 / (f64::from(1u32 << ICOUNT_SHIFT) * MPS2_SYSTICK_HZ);
    let instructions_per_sample = (summary.busy_ticks + summary.isr_ticks) as f64 * insns_per_tick
        / f64::from(summary.samples.max(1));
    Ok(AppRun {
        board,
        rate_hz: f64::from(stream.rate_millihertz) / 1000.0,
        windows,
        summary,
        identical,
        mismatches,
        first_mismatch,
        accuracy,
        classes: device.iter().map(|d| d.class).collect(),
        instructions_per_sample,
        max_rate_hz_at_64mhz: MICROBIT_HZ / (ASSUMED_CPI * instructions_per_sample.max(1.0)),
        footprint: built.footprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensors_parse_and_refuse() {
        assert_eq!("hardware".parse::<Sensor>(), Ok(Sensor::Hardware));
        assert_eq!(
            "replay:a.ts".parse::<Sensor>(),
            Ok(Sensor::Replay("a.ts".into()))
        );
        for bad in ["replay:", "camera", ""] {
            let e = bad.parse::<Sensor>().unwrap_err();
            assert!(e.contains("replay:FILE"), "{e}");
        }
        assert!(millihertz(0.0).is_err() && millihertz(f64::NAN).is_err());
        assert_eq!(millihertz(10.0).unwrap(), 10_000);
    }

    #[test]
    fn the_sensed_value_is_the_nearest_2_mg_step() {
        assert_eq!(sensed(1000), 1000);
        assert_eq!(sensed(1001), 1002);
        assert_eq!(sensed(-1001), -1002);
        assert_eq!(sensed(5000), 4094);
    }
}
