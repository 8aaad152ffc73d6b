//! Build script: copies the chosen board's memory map (memory.x) and the model file, samples
//! blob and sensor recording named by `MOTE_MODEL`, `MOTE_SAMPLES` and `MOTE_RECORDING` into
//! OUT_DIR, for the linker and `include_bytes!`, and writes the sensor application's parameters
//! (`MOTE_APP_*`, set by `mote firmware build`) as constants.

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

/// A numeric build parameter, or its default when unset.
fn param(var: &str, default: u64) -> u64 {
    println!("cargo:rerun-if-env-changed={var}");
    match env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v}: expected a non-negative integer")),
        Err(_) => default,
    }
}

fn main() {
    let board = |f: &str| env::var_os(format!("CARGO_FEATURE_BOARD_{f}")).is_some();
    let (memory, systick_hz) = if board("LM3S6965") {
        ("lm3s6965", 12_500_000)
    } else if board("MICROBIT_V2") {
        // The nRF52833's core clock: SysTick counts CPU cycles.
        ("nrf52833", 64_000_000)
    } else {
        // mps2-an386 (M4F) and mps2-an385 (M3) share the MPS2 memory map; QEMU's SysTick
        // counts at the boards' 25 MHz system clock.
        ("mps2", 25_000_000)
    };
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(format!("memory/{memory}.x"), out.join("memory.x")).expect("memory/<board>.x exists");
    embed("MOTE_MODEL", &out, "model.mote");
    embed("MOTE_SAMPLES", &out, "samples.bin");
    embed("MOTE_RECORDING", &out, "recording.bin");
    let window = param("MOTE_APP_WINDOW", 100);
    let config = format!(
        "/// SysTick's clock on this board, Hz.\n\
         pub const SYSTICK_HZ: u32 = {systick_hz};\n\
         /// Sample rate, millihertz.\n\
         pub const RATE_MILLIHERTZ: u32 = {};\n\
         /// Samples per window.\n\
         pub const WINDOW: usize = {window};\n\
         /// Samples between decisions of a stateless model.\n\
         pub const HOP: usize = {};\n\
         /// f32 arena of the embedded model.\n\
         pub const ARENA_F32: usize = {};\n\
         /// int8 arena of the embedded model.\n\
         pub const ARENA_I8: usize = {};\n\
         /// Recurrent state of the embedded model, f32 values.\n\
         pub const STATE_F32: usize = {};\n\
         /// Layers of the embedded model.\n\
         pub const LAYERS: usize = {};\n\
         /// Largest of the model's input and output lengths.\n\
         pub const IO: usize = {};\n\
         /// Values of the sliding window of a stateless model (0 for a stateful one).\n\
         pub const RING: usize = {};\n",
        param("MOTE_APP_RATE_MHZ", 10_000),
        param("MOTE_APP_HOP", window),
        param("MOTE_APP_ARENA_F32", 0),
        param("MOTE_APP_ARENA_I8", 0),
        param("MOTE_APP_STATE", 0),
        param("MOTE_APP_LAYERS", 1),
        param("MOTE_APP_IO", 3),
        param("MOTE_APP_RING", window * 3),
    );
    fs::write(out.join("app_config.rs"), config).expect("writing OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");
}
