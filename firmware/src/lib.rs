//! Runtime support shared by mote's firmware binaries: defmt over semihosting, a panic handler and
//! a HardFault handler that exit QEMU with a non-zero status (instead of hanging), and the
//! benchmark region markers read by the instruction-counting QEMU plugin.
#![no_std]

use cortex_m as _; // critical-section implementation for defmt
use defmt_semihosting as _; // global defmt logger over semihosting

/// Exit status for a panic (as Rust's test harness).
pub const EXIT_PANIC: i32 = 101;
/// Exit status for a HardFault.
pub const EXIT_HARDFAULT: i32 = 3;
/// Exit status for a failed self-check.
pub const EXIT_CHECK_FAILED: i32 = 1;

/// Ends the QEMU run with `code` (SYS_EXIT_EXTENDED passes it through to the host).
pub fn exit(code: i32) -> ! {
    semihosting::process::exit(code)
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
        #[cortex_m_rt::exception]
        unsafe fn HardFault(ef: &cortex_m_rt::ExceptionFrame) -> ! {
            defmt::error!("HardFault at pc={=u32:#010x}", ef.pc());
            $crate::exit($crate::EXIT_HARDFAULT)
        }
    };
}

/// Start of a measured region: the instruction-counting plugin counts from here...
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn bench_start() {
    // Distinct bodies keep the linker from folding the two markers into one address.
    cortex_m::asm::nop();
}

/// ...to here.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn bench_end() {
    cortex_m::asm::nop();
    cortex_m::asm::nop();
}
