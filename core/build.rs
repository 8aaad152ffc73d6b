//! Selects the int8 kernels' architecture path from the target name, because stable rustc does
//! not report ARM target features (`dsp`) to `cfg(target_feature)`:
//! - `mote_arch = "armv7em"`: thumbv7em (Cortex-M4/M7): the DSP extension (SMLAD, SXTB16).
//! - `mote_arch = "armv7m"`: thumbv7m (Cortex-M3): the multi-row scalar path.
//!
//! Other targets (the host) use the scalar reference.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mote_arch, values(\"armv7em\", \"armv7m\"))");
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em") {
        println!("cargo:rustc-cfg=mote_arch=\"armv7em\"");
    } else if target.starts_with("thumbv7m") {
        println!("cargo:rustc-cfg=mote_arch=\"armv7m\"");
    }
}
