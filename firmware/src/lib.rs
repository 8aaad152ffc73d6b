//! Runtime support shared by mote's firmware binaries: defmt over semihosting, a panic handler and
//! a HardFault handler that exit QEMU with a non-zero status (instead of hanging), the
//! benchmark region markers read by the instruction-counting QEMU plugin, and the reading of the
//! model file and samples blob embedded at build time (`MOTE_MODEL`, `MOTE_SAMPLES`).
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

/// 16-byte alignment for data embedded with `include_bytes!`: a model file is read in place and
/// must start at a 16-byte aligned address.
#[repr(C, align(16))]
pub struct Aligned<T: ?Sized>(pub T);

/// The test samples embedded with `MOTE_SAMPLES` (written by the host): `b"MSMP"`, u32 n, u32 d,
/// n·d f32, n u8 labels, all little-endian.
#[derive(Clone, Copy, Debug)]
pub struct Samples {
    /// Number of samples.
    pub n: usize,
    /// Values per sample.
    pub d: usize,
    values: &'static [u8],
    /// One label per sample.
    pub labels: &'static [u8],
}

/// Why a samples blob was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplesError {
    /// No `MSMP` magic: the firmware was built without `MOTE_SAMPLES`.
    Missing,
    /// Shorter than its 12-byte header.
    BadHeader,
    /// The length is not that of `n` samples of `d` values plus `n` labels.
    BadLength,
}

impl Samples {
    /// [`Samples::parse`], or [`fail`] with a message naming the fault; `bad_length` says
    /// what a length mismatch means to binary `bin`.
    pub fn parse_or_fail(blob: &'static [u8], bin: &str, bad_length: &str) -> Self {
        match Self::parse(blob) {
            Ok(s) => s,
            Err(SamplesError::Missing) => {
                fail(bin, "no samples embedded (build with MOTE_SAMPLES=path)")
            }
            Err(SamplesError::BadHeader) => fail(bin, "bad samples header"),
            Err(SamplesError::BadLength) => fail(bin, bad_length),
        }
    }

    /// Checks the header and the total length (with overflow-checked sizes).
    pub fn parse(blob: &'static [u8]) -> Result<Self, SamplesError> {
        if blob.get(..4) != Some(b"MSMP") {
            return Err(SamplesError::Missing);
        }
        let u32_at = |at: usize| -> Option<usize> {
            Some(u32::from_le_bytes(blob.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        let (Some(n), Some(d)) = (u32_at(4), u32_at(8)) else {
            return Err(SamplesError::BadHeader);
        };
        let values_end = n
            .checked_mul(d)
            .and_then(|v| v.checked_mul(4))
            .and_then(|v| v.checked_add(12))
            .filter(|&end| end.checked_add(n) == Some(blob.len()))
            .ok_or(SamplesError::BadLength)?;
        Ok(Self {
            n,
            d,
            values: &blob[12..values_end],
            labels: &blob[values_end..],
        })
    }

    /// Each sample's `d` values as little-endian f32 bytes, with its label.
    pub fn iter(&self) -> impl Iterator<Item = (&'static [u8], u8)> {
        self.values
            .chunks_exact(self.d.max(1) * 4)
            .zip(self.labels.iter().copied())
    }
}

/// Decodes little-endian f32 bytes into `out` (as many values as both hold).
pub fn read_f32s(bytes: &[u8], out: &mut [f32]) {
    for (v, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}
