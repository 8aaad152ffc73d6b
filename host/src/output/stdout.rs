//! Standard output that ends quietly when the reader goes away and reports a full disk.
//!
//! `println!` panics when stdout is a closed pipe (`mote run --json | head -c 1`) or a full
//! device (`> /dev/full`). Every command prints through [`out!`](crate::output::out) and
//! [`outln!`](crate::output::outln) instead, which return the error; `main` ends quietly with
//! status 0 on a broken pipe, as Unix tools do, and reports any other write error.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

/// Set when a command writes its output file to standard output (`-o -`): its report then goes
/// to standard error, so the file's bytes are alone on standard output.
static REPORT_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Called by a command with its output path: `-` claims standard output for the file, and the
/// command's report (what `out!`/`outln!` print) moves to standard error. `--json` cannot share
/// standard output with the file.
pub fn claim_stdout_for_output(output: &Path, json: bool) -> Result<()> {
    if output.as_os_str() == "-" {
        if json {
            bail!(
                "`-o -` writes the output file to standard output; --json cannot share it \
                 (write the file to a path, or drop --json)"
            );
        }
        REPORT_TO_STDERR.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// Writes formatted text to standard output, or to standard error once the output file has
/// claimed standard output (see [`out!`](crate::output::out)).
pub fn write_stdout(args: fmt::Arguments<'_>) -> Result<()> {
    if REPORT_TO_STDERR.load(Ordering::Relaxed) {
        return std::io::stderr()
            .lock()
            .write_fmt(args)
            .context("writing to standard error");
    }
    std::io::stdout()
        .lock()
        .write_fmt(args)
        .context("writing to standard output")
}

/// Flushes standard output (the last line of a `print!` without newline is buffered).
pub fn flush_stdout() -> Result<()> {
    std::io::stdout()
        .flush()
        .context("writing to standard output")
}

/// Prints a value as pretty JSON on standard output.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_stdout(format_args!("{text}\n"))
}

/// True if `err` comes from writing to a pipe whose reader has gone.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `print!` returning `anyhow::Result<()>` instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` returning `anyhow::Result<()>` instead of panicking.
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
