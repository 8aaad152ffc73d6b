//! Hardware-in-the-loop without hardware: build the firmware for a board, run it under
//! `qemu-system-arm` with semihosting, and decode its defmt log in-process.
//!
//! The firmware crate lives in `firmware/` (outside the host workspace, with its own target and
//! linker settings). It is located through `MOTE_FIRMWARE_DIR` or, by default, next to this crate
//! in the source tree.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A QEMU board mote's firmware is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Board {
    /// Cortex-M4F (hard float), QEMU `mps2-an386`, target `thumbv7em-none-eabihf`.
    #[value(name = "mps2-an386")]
    Mps2An386,
    /// Cortex-M3 (no FPU, soft float), QEMU `lm3s6965evb`, target `thumbv7m-none-eabi`.
    #[value(name = "lm3s6965evb")]
    Lm3s6965evb,
    /// Cortex-M3 with the MPS2 memory map (4 MiB), QEMU `mps2-an385`: for benchmarks whose
    /// buffers do not fit the lm3s6965's 64 KiB of RAM.
    #[value(name = "mps2-an385")]
    Mps2An385,
}

impl Board {
    /// Both boards, M4F first.
    pub const ALL: [Board; 2] = [Board::Mps2An386, Board::Lm3s6965evb];
    /// QEMU `-machine` name.
    pub fn machine(self) -> &'static str {
        match self {
            Board::Mps2An386 => "mps2-an386",
            Board::Lm3s6965evb => "lm3s6965evb",
            Board::Mps2An385 => "mps2-an385",
        }
    }
    /// Rust target triple.
    pub fn target(self) -> &'static str {
        match self {
            Board::Mps2An386 => "thumbv7em-none-eabihf",
            Board::Lm3s6965evb | Board::Mps2An385 => "thumbv7m-none-eabi",
        }
    }
    /// Cargo feature of the firmware crate selecting the memory map.
    pub fn feature(self) -> &'static str {
        match self {
            Board::Mps2An386 => "board-mps2-an386",
            Board::Lm3s6965evb => "board-lm3s6965",
            Board::Mps2An385 => "board-mps2-an385",
        }
    }
    /// Short CPU description.
    pub fn cpu(self) -> &'static str {
        match self {
            Board::Mps2An386 => "Cortex-M4F",
            Board::Lm3s6965evb | Board::Mps2An385 => "Cortex-M3",
        }
    }
}

/// The firmware source directory.
pub fn firmware_dir() -> PathBuf {
    match std::env::var_os("MOTE_FIRMWARE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware"),
    }
}

/// Serialises firmware builds in this process: a build followed by the copy of its ELF must not
/// interleave with another build of the same binary with different embedded inputs.
static BUILD_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Builds firmware binary `bin` for `board` (release profile) and returns the path of a copy of
/// the ELF that no later build overwrites. `env` is passed to the build (e.g. `MOTE_MODEL`, the
/// path of a model file to embed); the copy's name is derived from the board, binary and `env`.
pub fn build_firmware(board: Board, bin: &str, env: &[(&str, &Path)]) -> Result<PathBuf> {
    let _guard = BUILD_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = firmware_dir();
    let target_dir = dir.join("target");
    let mut cmd = crate::subcargo::cargo_build(&dir, &target_dir);
    cmd.args(["--bin", bin, "--target", board.target()]).args([
        "--no-default-features",
        "--features",
        board.feature(),
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running cargo build in {}", dir.display()))?;
    if !out.status.success() {
        bail!(
            "building firmware `{bin}` for {} failed:\n{}",
            board.machine(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The M3 boards share a target triple but not a memory map: keep their ELFs apart.
    let elf = target_dir.join(board.target()).join("release").join(bin);
    let tag = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        env.hash(&mut h);
        h.finish()
    };
    let kept = target_dir.join(format!("{bin}-{}-{tag:016x}.elf", board.machine()));
    std::fs::copy(&elf, &kept).with_context(|| format!("copying {}", elf.display()))?;
    Ok(kept)
}

/// One decoded defmt log line.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LogLine {
    /// Level (`info`, `error`, ...), empty for `println`-style frames.
    pub level: String,
    /// The formatted message.
    pub message: String,
}

/// The outcome of one QEMU run.
#[derive(Clone, Debug)]
pub struct Run {
    /// Semihosting exit status (0 = success).
    pub exit_code: i32,
    /// Decoded defmt log.
    pub log: Vec<LogLine>,
    /// QEMU's stderr (diagnostics, e.g. a lock-up).
    pub stderr: String,
}

/// The unsigned integers of a decoded log message (defmt prints slices as `[a, b, ...]`).
pub fn log_numbers(message: &str) -> Result<Vec<u32>> {
    message
        .split([' ', ',', '[', ']'])
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u32>()
                .with_context(|| format!("bad number {t:?} in {message:?}"))
        })
        .collect()
}

impl Run {
    /// Messages starting with `prefix`, with the prefix removed.
    pub fn messages<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.log
            .iter()
            .filter_map(move |l| l.message.strip_prefix(prefix))
    }
}

/// Options for [`run`].
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// Extra QEMU arguments (e.g. `-icount shift=0 -plugin ...`).
    pub extra_args: Vec<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            timeout: Duration::from_secs(120),
            extra_args: Vec::new(),
        }
    }
}

/// Runs `elf` on `board` under QEMU and decodes its defmt output.
pub fn run(elf: &Path, board: Board, opts: &RunOptions) -> Result<Run> {
    let elf_bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let table = defmt_decoder::Table::parse(&elf_bytes)
        .with_context(|| format!("{}: reading the defmt table", elf.display()))?
        .with_context(|| format!("{}: no defmt table in this ELF", elf.display()))?;
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-machine",
            board.machine(),
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
        ])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(&opts.extra_args)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting qemu-system-arm (install it with scripts/setup.sh)")?;
    // Drain both pipes on threads: a full pipe would block QEMU forever.
    let mut stdout = child.stdout.take().context("qemu stdout")?;
    let mut stderr = child.stderr.take().context("qemu stderr")?;
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > opts.timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{}: QEMU ({}) timed out after {:?}",
                elf.display(),
                board.machine(),
                opts.timeout
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = out_thread.join().unwrap_or_default();
    let err = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
    let exit_code = status.code().unwrap_or(-1);
    let log = decode(&table, &out)
        .with_context(|| format!("{}: decoding defmt output", elf.display()))?;
    Ok(Run {
        exit_code,
        log,
        stderr: err,
    })
}

fn decode(table: &defmt_decoder::Table, bytes: &[u8]) -> Result<Vec<LogLine>> {
    let mut decoder = table.new_stream_decoder();
    decoder.received(bytes);
    let mut lines = Vec::new();
    loop {
        match decoder.decode() {
            Ok(frame) => lines.push(LogLine {
                level: frame
                    .level()
                    .map(|l| l.as_str().to_string())
                    .unwrap_or_default(),
                message: frame.display_message().to_string(),
            }),
            Err(defmt_decoder::DecodeError::UnexpectedEof) => break,
            Err(defmt_decoder::DecodeError::Malformed) => {
                bail!("malformed defmt frame after {} good lines", lines.len())
            }
        }
    }
    Ok(lines)
}

/// Builds `bin` for `board`, runs it, and fails unless it exits 0.
pub fn build_and_run(
    board: Board,
    bin: &str,
    env: &[(&str, &Path)],
    opts: &RunOptions,
) -> Result<Run> {
    let elf = build_firmware(board, bin, env)?;
    let run = run(&elf, board, opts)?;
    if run.exit_code != 0 {
        let tail: Vec<String> = run
            .log
            .iter()
            .rev()
            .take(10)
            .rev()
            .map(|l| format!("  [{}] {}", l.level, l.message))
            .collect();
        bail!(
            "firmware `{bin}` on {} exited with status {}\n{}\n{}",
            board.machine(),
            run.exit_code,
            tail.join("\n"),
            run.stderr.trim()
        );
    }
    Ok(run)
}

/// Builds the instruction-counting TCG plugin (`tools/insncount.c`) with the system C compiler,
/// unless an up-to-date build exists, and returns its path.
pub fn insncount_plugin() -> Result<PathBuf> {
    let src = firmware_dir().join("../tools/insncount.c");
    let out_dir = firmware_dir().join("target");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let lib = out_dir.join("libinsncount.so");
    let stale = match (std::fs::metadata(&src), std::fs::metadata(&lib)) {
        (Ok(s), Ok(l)) => s.modified()? > l.modified()?,
        (Err(e), _) => return Err(e).with_context(|| format!("reading {}", src.display())),
        _ => true,
    };
    if stale {
        let cc = std::env::var_os("CC").unwrap_or_else(|| "gcc".into());
        let out = Command::new(cc)
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&lib)
            .arg(&src)
            .output()
            .context("running the C compiler (gcc) for the QEMU plugin")?;
        if !out.status.success() {
            bail!(
                "building {} failed:\n{}",
                src.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(lib)
}

/// Address of a symbol in an ELF (Thumb bit cleared).
pub fn symbol_address(elf: &Path, name: &str) -> Result<u64> {
    use object::{Object, ObjectSymbol};
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file =
        object::File::parse(&*bytes).with_context(|| format!("{}: not an ELF", elf.display()))?;
    let sym = file
        .symbols()
        .find(|s| s.name() == Ok(name))
        .with_context(|| format!("{}: no symbol `{name}`", elf.display()))?;
    Ok(sym.address() & !1)
}

/// QEMU timeout of instruction-counting runs.
pub const BENCH_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Runs `elf` with the instruction-counting plugin; returns the run and the instruction count
/// of every `bench_start()`..`bench_end()` region, in execution order. Counts are exact and
/// repeatable (QEMU has no cycle model: instructions are the proxy). Benchmarks may execute tens
/// of billions of guest instructions (the growing-KV-cache baseline), so the QEMU timeout is
/// [`BENCH_TIMEOUT`], overridable with `MOTE_QEMU_BENCH_TIMEOUT_S`.
pub fn count_regions(elf: &Path, board: Board) -> Result<(Run, Vec<u64>)> {
    let timeout = std::env::var("MOTE_QEMU_BENCH_TIMEOUT_S")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(BENCH_TIMEOUT, Duration::from_secs);
    let plugin = insncount_plugin()?;
    let start = symbol_address(elf, "bench_start")?;
    let end = symbol_address(elf, "bench_end")?;
    let opts = RunOptions {
        extra_args: vec![
            "-icount".into(),
            "shift=0".into(),
            "-d".into(),
            "plugin".into(),
            "-plugin".into(),
            format!("{},start={start:#x},end={end:#x}", plugin.display()),
        ],
        timeout,
    };
    let run = run(elf, board, &opts)?;
    if run.exit_code != 0 {
        bail!(
            "{} on {} exited with status {}: {}",
            elf.display(),
            board.machine(),
            run.exit_code,
            run.stderr
        );
    }
    let regions = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("insncount: region["))
        .map(|l| {
            let v = l.split_once("]=").map(|(_, v)| v).unwrap_or("");
            v.trim()
                .parse::<u64>()
                .with_context(|| format!("bad plugin line {l:?}"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((run, regions))
}
