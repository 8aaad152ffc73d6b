//! Runtime support shared by mote's firmware binaries: defmt over semihosting (QEMU) or RTT (a
//! real board), a panic handler and a HardFault handler that exit QEMU with a non-zero status
//! (instead of hanging), the benchmark region markers read by the instruction-counting QEMU
//! plugin, the reading of the model file and samples blob embedded at build time (`MOTE_MODEL`,
//! `MOTE_SAMPLES`), and the sensor application's parts ([`app`]).
#![no_std]

pub mod app;

use cortex_m as _; // critical-section implementation for defmt
#[cfg(feature = "board-microbit-v2")]
use defmt_rtt as _; // global defmt logger over RTT, read by probe-rs
#[cfg(feature = "qemu")]
use defmt_semihosting as _; // global defmt logger over semihosting

/// Exit status for a panic (as Rust's test harness).
pub const EXIT_PANIC: i32 = 101;
/// Exit status for a HardFault.
pub const EXIT_HARDFAULT: i32 = 3;
/// Exit status for a failed self-check.
pub const EXIT_CHECK_FAILED: i32 = 1;

/// Ends the QEMU run with `code` (SYS_EXIT_EXTENDED passes it through to the host).
#[cfg(feature = "qemu")]
pub fn exit(code: i32) -> ! {
    semihosting::process::exit(code)
}

/// On a real board there is no host to exit to: logs the status and sleeps (the probe-rs
/// session that reads the log shows it; a reset starts the application again).
#[cfg(not(feature = "qemu"))]
pub fn exit(code: i32) -> ! {
    defmt::info!("halted with status {=i32}", code);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Logs why the run cannot go on, as `bin: what`, and exits with [`EXIT_CHECK_FAILED`].
pub fn fail(bin: &str, what: &str) -> ! {
    defmt::error!("{=str}: {=str}", bin, what);
    exit(EXIT_CHECK_FAILED)
}

/// Parses the embedded model file, or logs why it was rejected and exits with
/// [`EXIT_CHECK_FAILED`].
pub fn model_or_fail(bytes: &'static [u8]) -> mote_core::model::Model<'static> {
    match mote_core::model::Model::parse(bytes) {
        Ok(m) => m,
        Err(e) => {
            defmt::error!("model rejected: {}", defmt::Display2Format(&e));
            exit(EXIT_CHECK_FAILED)
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    exit(EXIT_PANIC)
}

/// Defines the HardFault handler in a binary (cortex-m-rt resolves it by symbol, so it must live
/// in the final binary's crate graph at link time).
#[macro_export]
macro_rules! hardfault_exits {
    () => {
        // SAFETY: cortex-m-rt requires the HardFault handler to be an `unsafe fn` and exports it
        // under the fixed symbol `HardFault` that its vector table links against; no other item
        // defines that symbol, and the body only logs and exits. (rustc does not report
        // `unsafe_code` inside another crate's macro, so the allow only matters where the macro
        // is expanded in this crate; it is kept so the handler is allowed wherever it lands.)
        #[allow(unsafe_code)]
        #[cortex_m_rt::exception]
        unsafe fn HardFault(ef: &cortex_m_rt::ExceptionFrame) -> ! {
            defmt::error!("HardFault at pc={=u32:#010x}", ef.pc());
            $crate::exit($crate::EXIT_HARDFAULT)
        }
    };
}

/// Start of a measured region: the instruction-counting plugin counts from here...
// SAFETY: unmangled so the QEMU instruction-counting plugin can find the marker by its symbol
// name; nothing else in the program defines `bench_start`, so the symbol cannot clash.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn bench_start() {
    // Distinct bodies keep the linker from folding the two markers into one address.
    cortex_m::asm::nop();
}

/// ...to here.
// SAFETY: as for `bench_start`: the plugin resolves `bench_end` by name, and it is unique.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn bench_end() {
    cortex_m::asm::nop();
    cortex_m::asm::nop();
}

/// 16-byte alignment for data embedded with `include_bytes!`: a model file is read in place and
/// must start at a 16-byte aligned address.
#[repr(C, align(16))]
pub struct Aligned<T: ?Sized>(pub T);

/// Parses the embedded samples blob (`MOTE_SAMPLES`, format `docs/samples-format.md`), or
/// [`fail`]s with a message naming the fault; `bad_length` says what a length mismatch means to
/// binary `bin`.
pub fn samples_or_fail(
    blob: &'static [u8],
    bin: &str,
    bad_length: &str,
) -> mote_core::samples::Samples<'static> {
    use mote_core::samples::{Samples, SamplesError};
    match Samples::parse(blob) {
        Ok(s) => s,
        // build.rs embeds an empty blob when MOTE_SAMPLES is unset.
        Err(SamplesError::BadMagic) => {
            fail(bin, "no samples embedded (build with MOTE_SAMPLES=path)")
        }
        Err(SamplesError::TruncatedHeader { .. }) => fail(bin, "bad samples header"),
        Err(SamplesError::LengthMismatch { .. } | SamplesError::TooLarge { .. }) => {
            fail(bin, bad_length)
        }
        // Errors the parser may report in a later version: their own message.
        Err(e) => {
            defmt::error!(
                "{=str}: samples rejected: {}",
                bin,
                defmt::Display2Format(&e)
            );
            exit(EXIT_CHECK_FAILED)
        }
    }
}
