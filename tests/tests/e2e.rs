//! End-to-end tests: every module here crosses crates and, where it says so, runs the firmware
//! under qemu-system-arm.

mod app_qemu;
mod dict_qemu;
mod kernels_qemu;
mod liger_qemu;
mod lmul_qemu;
mod model_qemu;
mod plugins;
mod recurrent_qemu;
