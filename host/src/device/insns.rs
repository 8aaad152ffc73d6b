//! Instruction counting under QEMU: the TCG plugin `tools/insncount.c` (compiled into `mote`,
//! built with the system C compiler on first use) counts the guest instructions between the
//! firmware's `bench_start()` and `bench_end()` markers.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::qemu::{Run, RunOptions, run};
use super::{Board, Firmware};

/// The plugin's source, carried by the binary so an installed `mote` needs no source tree.
const PLUGIN_SOURCE: &str = include_str!("../../../tools/insncount.c");

impl Firmware {
    /// Builds the instruction-counting TCG plugin into the firmware's target directory, unless
    /// a build of the same source is there, and returns its path.
    pub fn insncount_plugin(&self) -> Result<PathBuf> {
        let out_dir = self.dir()?.join("target");
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("creating {}", out_dir.display()))?;
        let src = out_dir.join("insncount.c");
        let lib = out_dir.join("libinsncount.so");
        let current = std::fs::read_to_string(&src).is_ok_and(|s| s == PLUGIN_SOURCE);
        if current && lib.exists() {
            return Ok(lib);
        }
        std::fs::write(&src, PLUGIN_SOURCE)
            .with_context(|| format!("writing {}", src.display()))?;
        let cc = self.cc.clone().unwrap_or_else(|| "gcc".into());
        let out = Command::new(&cc)
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&lib)
            .arg(&src)
            .output()
            .with_context(|| {
                format!(
                    "running the C compiler ({}) for the QEMU plugin",
                    cc.display()
                )
            })?;
        if !out.status.success() {
            bail!(
                "building {} failed:\n{}",
                src.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(lib)
    }

    /// Runs `elf` with the instruction-counting plugin; returns the run and the instruction
    /// count of every `bench_start()`..`bench_end()` region, in execution order. Counts are
    /// exact and repeatable (QEMU has no cycle model: instructions are the proxy). Benchmarks
    /// may execute tens of billions of guest instructions (the growing-KV-cache baseline), so
    /// the QEMU timeout is [`Firmware::bench_timeout`] (`--qemu-bench-timeout`).
    pub fn count_regions(&self, elf: &Path, board: Board) -> Result<(Run, Vec<u64>)> {
        let plugin = self.insncount_plugin()?;
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
            timeout: self.bench_timeout,
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
