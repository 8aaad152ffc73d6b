//! Runs a firmware ELF under `qemu-system-arm` with semihosting and decodes its defmt log
//! in-process.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::Board;

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
    /// Fails unless the firmware `bin` exited 0, with the last log lines and QEMU's stderr.
    pub fn ensure_success(&self, bin: &str, board: Board) -> Result<()> {
        if self.exit_code == 0 {
            return Ok(());
        }
        let tail: Vec<String> = self
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
            self.exit_code,
            tail.join("\n"),
            self.stderr.trim()
        )
    }

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
