//! The int8 kernels on the device against the scalar reference: for every case of
//! `mote_core::check::Int8Case` (every shape up to 9×16, 1×N, N×1, past the widened-input
//! buffers, random shapes, extreme values), runs the target's kernel (`kernels::int8::matvec`:
//! SMLAD asm on the M4F, the four-row scalar path on the M3) and `Int8Dense::run` on it, and the
//! scalar reference, and logs
//! `int8 <case> <accumulators digest> <outputs digest> <1 if equal to the on-device reference>`.
//! The host (`mote_host::device::kernel_check`, `tests/tests/kernels_qemu.rs`) recomputes both
//! digests with the reference and compares bits. Needs the MPS2 memory map (64 KiB of weights).
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use mote_core::check::{Fnv1a, INT8_CASE_MAX_LEN, INT8_CASE_MAX_WEIGHTS, INT8_CASES, Int8Case};
use mote_core::kernels::{Int8Dense, QuantMultiplier, int8};
use mote_firmware as fw;

fw::hardfault_exits!();

/// Accumulator digest of `kernel`'s rows, and whether every row came once, in order.
fn acc_digest(
    kernel: impl FnOnce(&mut dyn FnMut(usize, i32)) -> Result<(), mote_core::shape::ShapeError>,
    rows: usize,
) -> Option<u32> {
    let mut h = Fnv1a::default();
    let mut next = 0;
    let mut in_order = true;
    let r = kernel(&mut |o, a| {
        in_order &= o == next;
        next += 1;
        h.word(a as u32);
    });
    (r.is_ok() && in_order && next == rows).then_some(h.0)
}

fn out_digest(y: &[i8]) -> u32 {
    let mut h = Fnv1a::default();
    y.iter().for_each(|&v| h.word(v as u32));
    h.0
}

#[entry]
fn main() -> ! {
    let mut w = [0i8; INT8_CASE_MAX_WEIGHTS];
    let mut x = [0i8; INT8_CASE_MAX_LEN];
    let mut bias = [0i32; INT8_CASE_MAX_LEN];
    let mut mult = [QuantMultiplier::default(); INT8_CASE_MAX_LEN];
    let mut y = [0i8; INT8_CASE_MAX_LEN];
    let mut y_ref = [0i8; INT8_CASE_MAX_LEN];
    let mut failed = 0u32;
    for i in 0..INT8_CASES {
        let c = Int8Case::nth(i);
        let (rows, cols) = (c.rows, c.cols);
        if rows * cols > w.len() || cols > x.len() || rows > y.len() {
            fw::fail("kernel_check", "case larger than the buffers");
        }
        let (w, x) = (&mut w[..rows * cols], &mut x[..cols]);
        let (bias, mult) = (&mut bias[..rows], &mut mult[..rows]);
        c.fill(w, x, bias, mult);
        let (w, x) = (&*w, &*x);
        let fast = acc_digest(
            |e| int8::matvec(black_box(w), rows, black_box(x), c.zp, e),
            rows,
        );
        let slow = acc_digest(|e| int8::matvec_reference(w, rows, x, c.zp, e), rows);
        let layer = Int8Dense {
            weights: w,
            bias,
            multipliers: mult,
            input_zero_point: c.zp,
            output_zero_point: (c.seed % 11) as i32 - 5,
            relu: c.seed.is_multiple_of(3),
        };
        let ok_run = layer.run(black_box(x), &mut y[..rows]).is_ok()
            && layer.run_reference(x, &mut y_ref[..rows]).is_ok();
        let (yd, yd_ref) = (out_digest(&y[..rows]), out_digest(&y_ref[..rows]));
        let same = fast.is_some() && fast == slow && ok_run && yd == yd_ref;
        failed += u32::from(!same);
        defmt::info!(
            "int8 {=u32} {=u32} {=u32} {=u32}",
            i,
            fast.unwrap_or(0),
            yd,
            u32::from(same)
        );
    }
    defmt::info!("kernel_check done {=u32} {=u32}", INT8_CASES, failed);
    fw::exit(if failed == 0 {
        0
    } else {
        fw::EXIT_CHECK_FAILED
    })
}
