//! Where `mote` finds what it ships beside the binary: the bundled data sets, the firmware
//! sources (built for every model run on a board) and the merge-rule plugin sources.
//!
//! A flag (or its environment fallback, listed in `--help`) names a directory outright. Without
//! one, each directory is looked for, in order:
//! 1. beside the running executable or above it: `<dir>/<name>` for every ancestor `<dir>` of the
//!    executable (a checkout: `target/release/mote` finds `data/` at the root), and
//!    `<dir>/share/mote/<name>` (an install: `/usr/local/bin/mote` finds
//!    `/usr/local/share/mote/data`);
//! 2. the source tree `mote` was built from (a `cargo install --path host` binary still finds
//!    its checkout).
//!
//! A directory counts only if it holds its marker file, so an unrelated `data/` folder is not
//! mistaken for mote's.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// A directory `mote` ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shipped {
    /// `data/`: the bundled data sets.
    Data,
    /// `firmware/`: the Cortex-M application's cargo project.
    Firmware,
    /// `plugins/`: the merge-rule plugins' cargo workspace.
    Plugins,
}

impl Shipped {
    /// The directory's name in a checkout and under `share/mote/`.
    pub fn name(self) -> &'static str {
        match self {
            Shipped::Data => "data",
            Shipped::Firmware => "firmware",
            Shipped::Plugins => "plugins",
        }
    }

    /// A file that only mote's directory of this kind holds.
    fn marker(self) -> &'static str {
        match self {
            Shipped::Data => "SOURCES.md",
            Shipped::Firmware | Shipped::Plugins => "Cargo.toml",
        }
    }

    /// How a user names the directory: the flag and its environment fallback.
    pub fn how_to_name(self) -> &'static str {
        match self {
            Shipped::Data => "--data-dir or MOTE_DATA_DIR",
            Shipped::Firmware => "--firmware-dir or MOTE_FIRMWARE_DIR",
            // Only the tests and benchmarks build the plugin sources: no flag names them.
            Shipped::Plugins => "the directory argument of `build_plugins`",
        }
    }

    fn holds_marker(self, dir: &Path) -> bool {
        dir.join(self.marker()).is_file()
    }

    /// The places searched without a flag, in order.
    pub fn candidates(self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(exe) = std::env::current_exe()
            .ok()
            .and_then(|e| e.canonicalize().ok())
        {
            for dir in exe.ancestors().skip(1) {
                out.push(dir.join(self.name()));
                out.push(dir.join("share").join("mote").join(self.name()));
            }
        }
        out.push(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(self.name()),
        );
        out
    }

    /// The directory: `given` if a flag named one (it must hold the marker too), else the first
    /// candidate that holds the marker.
    pub fn locate(self, given: Option<&Path>) -> Result<PathBuf> {
        let how = self.how_to_name();
        if let Some(dir) = given {
            if self.holds_marker(dir) {
                return Ok(dir.to_path_buf());
            }
            bail!(
                "{}: not mote's {} directory (no {} in it); check {how}",
                dir.display(),
                self.name(),
                self.marker()
            );
        }
        let candidates = self.candidates();
        if let Some(found) = candidates.iter().find(|d| self.holds_marker(d)) {
            return Ok(found.clone());
        }
        bail!(
            "cannot find mote's {} directory (looked for {} beside and above the executable, \
             under share/mote/, and in the source tree {}); name it with {how}",
            self.name(),
            self.marker(),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("..").display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_checkout_and_refuses_a_wrong_flag() {
        for s in [Shipped::Data, Shipped::Firmware, Shipped::Plugins] {
            let dir = s
                .locate(None)
                .expect("the test binary runs inside the checkout");
            assert!(dir.join(s.marker()).is_file(), "{}", dir.display());
        }
        let empty = tempfile::tempdir().expect("temp dir");
        let e = Shipped::Firmware
            .locate(Some(empty.path()))
            .expect_err("no Cargo.toml")
            .to_string();
        assert!(
            e.contains("not mote's firmware directory") && e.contains("--firmware-dir"),
            "{e}"
        );
    }
}
