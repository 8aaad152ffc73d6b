//! Build script: copies the chosen board's memory map (memory.x) and the model file and samples
//! blob named by `MOTE_MODEL` and `MOTE_SAMPLES` into OUT_DIR, for the linker and `include_bytes!`.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

/// Copies an input file named by an environment variable into OUT_DIR (empty if unset), so a
/// binary can `include_bytes!` it: the model file and test samples are chosen at build time.
fn embed(var: &str, out: &Path, name: &str) {
    println!("cargo:rerun-if-env-changed={var}");
    let dest = out.join(name);
    match env::var_os(var) {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            fs::copy(&path, &dest).unwrap_or_else(|e| panic!("{var}={}: {e}", path.display()));
        }
        None => fs::write(&dest, []).expect("writing OUT_DIR"),
    }
}

fn main() {
    let memory = if env::var_os("CARGO_FEATURE_BOARD_LM3S6965").is_some() {
        "lm3s6965"
    } else {
        // mps2-an386 (M4F) and mps2-an385 (M3) share the MPS2 memory map.
        "mps2"
    };
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(format!("memory/{memory}.x"), out.join("memory.x")).expect("memory/<board>.x exists");
    embed("MOTE_MODEL", &out, "model.mote");
    embed("MOTE_SAMPLES", &out, "samples.bin");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");
}
