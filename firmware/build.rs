use std::{env, fs, path::PathBuf};

fn main() {
    let board = if env::var_os("CARGO_FEATURE_BOARD_LM3S6965").is_some() {
        "lm3s6965"
    } else {
        "mps2-an386"
    };
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(format!("memory/{board}.x"), out.join("memory.x")).expect("memory/<board>.x exists");
    // The recurrent-classifier blob written by `mote recurrent-train` (not committed); without
    // it the `recurrent` firmware is built with an empty blob and reports that at run time.
    println!("cargo:rerun-if-env-changed=MOTE_REC_BLOB");
    let blob = out.join("rec_blob.bin");
    match env::var_os("MOTE_REC_BLOB") {
        Some(p) => {
            println!("cargo:rerun-if-changed={}", PathBuf::from(&p).display());
            fs::copy(&p, &blob).expect("MOTE_REC_BLOB names a readable file");
        }
        None => fs::write(&blob, []).expect("OUT_DIR is writable"),
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");
}
