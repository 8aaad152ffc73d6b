//! `cargo build` of the cross-compiled workspaces (`firmware/`, `plugins/`), which live outside
//! the host workspace with their own `.cargo/config.toml`.

use std::path::Path;
use std::process::Command;

/// A `cargo build --release --quiet` command run in `dir` with its own `target_dir`.
/// An outer cargo (when run from `cargo test`) must not leak its target settings into the inner
/// build, so they are removed from the environment.
pub fn cargo_build(dir: &Path, target_dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(target_dir);
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
