use std::{env, fs, path::PathBuf};

fn main() {
    let memory = if env::var_os("CARGO_FEATURE_BOARD_LM3S6965").is_some() {
        "lm3s6965"
    } else {
        // mps2-an386 (M4F) and mps2-an385 (M3) share the MPS2 memory map.
        "mps2"
    };
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(format!("memory/{memory}.x"), out.join("memory.x")).expect("memory/<board>.x exists");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");
}
