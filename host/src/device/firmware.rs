//! The firmware's cargo project (`firmware/`, outside the host workspace with its own target and
//! linker settings): where it is, and building one of its binaries for a board with a model and
//! samples embedded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::Board;
use super::qemu::{Run, RunOptions, run};
use crate::install::Shipped;

/// QEMU timeout of instruction-counting runs unless `--qemu-bench-timeout` says otherwise.
pub const BENCH_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Where the firmware sources are and how to measure with them; built from the CLI's flags
/// (`--firmware-dir`, `--qemu-bench-timeout`, `--cc`), or [`Default`]: found beside the
/// executable or in the source tree ([`crate::install`]).
#[derive(Clone, Debug)]
pub struct Firmware {
    dir: Option<PathBuf>,
    pub(super) bench_timeout: Duration,
    pub(super) cc: Option<PathBuf>,
}

impl Default for Firmware {
    fn default() -> Self {
        Self::new(None, BENCH_TIMEOUT, None)
    }
}

/// What a firmware build is for: the target triple, the crate features (board, sensor) and a
/// name for messages and the kept ELF's file name.
#[derive(Clone, Copy, Debug)]
pub struct BuildTarget<'a> {
    /// Rust target triple.
    pub triple: &'a str,
    /// Comma-separated features of the firmware crate.
    pub features: &'a str,
    /// Board name.
    pub name: &'a str,
}

/// A failed build whose linker ran out of flash or RAM as one line, `what` saying what did not
/// fit; any other failure unchanged.
pub fn explain_overflow(e: anyhow::Error, what: impl FnOnce() -> String) -> anyhow::Error {
    let msg = format!("{e:#}");
    if msg.contains("overflowed") || msg.contains("will not fit") {
        anyhow::anyhow!(
            "{}: {}",
            what(),
            msg.lines()
                .find(|l| l.contains("overflow") || l.contains("fit"))
                .unwrap_or("")
                .trim()
        )
    } else {
        e
    }
}

/// Serialises firmware builds in this process: a build followed by the copy of its ELF must not
/// interleave with another build of the same binary with different embedded inputs.
static BUILD_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Firmware {
    /// The firmware in `dir` (located on first use if `None`), with the QEMU timeout of
    /// instruction-counting runs and the C compiler of the counting plugin (`gcc` if `None`).
    pub fn new(dir: Option<PathBuf>, bench_timeout: Duration, cc: Option<PathBuf>) -> Self {
        Self {
            dir,
            bench_timeout,
            cc,
        }
    }

    /// The firmware source directory.
    pub fn dir(&self) -> Result<PathBuf> {
        Shipped::Firmware.locate(self.dir.as_deref())
    }

    /// The QEMU timeout of instruction-counting runs.
    pub fn bench_timeout(&self) -> Duration {
        self.bench_timeout
    }

    /// Builds firmware binary `bin` for `board` (release profile) and returns the path of a
    /// copy of the ELF that no later build overwrites. `env` is passed to the build (e.g.
    /// `MOTE_MODEL`, the path of a model file to embed); the copy's name is derived from the
    /// board, binary and `env`.
    pub fn build(&self, board: Board, bin: &str, env: &[(&str, &Path)]) -> Result<PathBuf> {
        let env: Vec<(&str, &std::ffi::OsStr)> =
            env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        self.build_for(
            BuildTarget {
                triple: board.target(),
                features: board.feature(),
                name: board.machine(),
            },
            bin,
            &env,
        )
    }

    /// [`Self::build`] for any target of the firmware crate (a QEMU board or a real one).
    pub fn build_for(
        &self,
        target: BuildTarget<'_>,
        bin: &str,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Result<PathBuf> {
        let _guard = BUILD_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = self.dir()?;
        let target_dir = dir.join("target");
        let mut cmd = crate::subcargo::cargo_build(&dir, &target_dir);
        cmd.args(["--bin", bin, "--target", target.triple]).args([
            "--no-default-features",
            "--features",
            target.features,
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
                target.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The M3 boards share a target triple but not a memory map: keep their ELFs apart.
        let elf = target_dir.join(target.triple).join("release").join(bin);
        let tag = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            env.hash(&mut h);
            target.features.hash(&mut h);
            h.finish()
        };
        let kept = target_dir.join(format!("{bin}-{}-{tag:016x}.elf", target.name));
        std::fs::copy(&elf, &kept).with_context(|| format!("copying {}", elf.display()))?;
        Ok(kept)
    }

    /// Builds `bin` for `board`, runs it, and fails unless it exits 0.
    pub fn build_and_run(
        &self,
        board: Board,
        bin: &str,
        env: &[(&str, &Path)],
        opts: &RunOptions,
    ) -> Result<Run> {
        let elf = self.build(board, bin, env)?;
        let run = run(&elf, board, opts)?;
        run.ensure_success(bin, board)?;
        Ok(run)
    }
}
