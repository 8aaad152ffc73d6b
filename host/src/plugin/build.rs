//! Builds the merge-rule guests in `plugins/` (an excluded cargo workspace) to components, like
//! [`crate::device::Firmware::build`] does for the firmware. Used by the tests and the benchmark.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The wasm target the guests are built for (installed by `scripts/setup.sh`).
pub const GUEST_TARGET: &str = "wasm32-unknown-unknown";

/// Builds every guest crate (release) of the guest workspace `dir` (`--plugins-dir`; found
/// beside the executable or in the source tree if `None`, see [`crate::install`]) and returns
/// the directory holding the `.wasm` components; crate `mote-rule-slerp` becomes
/// `mote_rule_slerp.wasm` there (see [`plugin_path`]).
pub fn build_plugins(dir: Option<&Path>) -> Result<PathBuf> {
    let dir = crate::install::Shipped::Plugins.locate(dir)?;
    let dir = std::fs::canonicalize(&dir)
        .with_context(|| format!("plugin sources not found at {}", dir.display()))?;
    let target_dir = dir.join("target");
    let mut cmd = crate::subcargo::cargo_build(&dir, &target_dir);
    cmd.args(["--target", GUEST_TARGET]);
    let out = cmd
        .output()
        .with_context(|| format!("running cargo build in {}", dir.display()))?;
    if !out.status.success() {
        bail!(
            "building the plugins in {} failed (is the {GUEST_TARGET} target installed? \
             scripts/setup.sh adds it):\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(target_dir.join(GUEST_TARGET).join("release"))
}

/// The component of guest crate `krate` (e.g. `mote-rule-ties`) inside [`build_plugins`]'s dir.
pub fn plugin_path(dir: &Path, krate: &str) -> PathBuf {
    dir.join(format!("{}.wasm", krate.replace('-', "_")))
}
