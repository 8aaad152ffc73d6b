//! Kernel benchmark: a 256×256 matvec as L-Mul f32, plain f32 (hardware FPU on M4F, soft float
//! on M3), L-Mul with fp8 e4m3 weights (f32 accumulation, then fixed-point accumulation), and
//! int8 with Q31 requantization. Each kernel runs once
//! between `bench_start()` and `bench_end()`, in this order, so the instruction-counting QEMU
//! plugin reports one region per kernel (`mote bench kernels`).
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use mote_core::check::{Fnv1a, XorShift32};
use mote_core::kernels::{
    Int8Dense, QuantMultiplier, dense_f32, dense_lmul_e4m3, dense_lmul_e4m3_fixed,
};
use mote_core::lmul::{Fp8E4M3, matvec_lmul_f32};
use mote_firmware as fw;

fw::hardfault_exits!();

const N: usize = 256;

fn digest_f32(y: &[f32]) -> u32 {
    let mut h = Fnv1a::default();
    y.iter().for_each(|v| h.word(v.to_bits()));
    h.0
}

#[entry]
fn main() -> ! {
    let mut rng = XorShift32(0x9E37_79B9);
    let mut w = [0.0f32; N * N];
    w.iter_mut().for_each(|v| *v = rng.next_f32() * 0.1);
    let mut x = [0.0f32; N];
    x.iter_mut().for_each(|v| *v = rng.next_f32());
    let b = [0.0f32; N];
    let mut y = [0.0f32; N];

    fw::bench_start();
    let r = matvec_lmul_f32(black_box(&w), black_box(&x), &mut y);
    fw::bench_end();
    check(r.is_ok());
    defmt::info!("bench lmul-f32 {=u32:#010x}", digest_f32(&y));

    fw::bench_start();
    let r = dense_f32(black_box(&w), &b, black_box(&x), &mut y);
    fw::bench_end();
    check(r.is_ok());
    defmt::info!("bench f32 {=u32:#010x}", digest_f32(&y));

    let mut q8 = [0u8; N * N];
    q8.iter_mut()
        .zip(&w)
        .for_each(|(q, &v)| *q = Fp8E4M3::from_f32(v * 4096.0).0);
    let scale = [1.0 / 4096.0; N];
    fw::bench_start();
    let r = dense_lmul_e4m3(black_box(&q8), &scale, &b, black_box(&x), &mut y);
    fw::bench_end();
    check(r.is_ok());
    defmt::info!("bench lmul-e4m3 {=u32:#010x}", digest_f32(&y));

    // The same weights and input; the activation codes live in `codes` (the int8 scratch of a
    // model's workspace).
    let mut codes = [0i8; N];
    fw::bench_start();
    let r = dense_lmul_e4m3_fixed(
        black_box(&q8),
        &scale,
        Some(&b),
        black_box(&x),
        &mut y,
        &mut codes,
    );
    fw::bench_end();
    check(r.is_ok());
    defmt::info!("bench lmul-e4m3-fixed {=u32:#010x}", digest_f32(&y));

    let mut wi = [0i8; N * N];
    wi.iter_mut()
        .for_each(|v| *v = (rng.next_u32() >> 24) as i8);
    let mut xi = [0i8; N];
    xi.iter_mut()
        .for_each(|v| *v = (rng.next_u32() >> 24) as i8);
    let bias = [0i32; N];
    let mult = [QuantMultiplier {
        multiplier: 1 << 30,
        shift: -8,
    }; N];
    let layer = Int8Dense {
        weights: &wi,
        bias: &bias,
        multipliers: &mult,
        input_zero_point: -3,
        output_zero_point: 5,
        relu: false,
    };
    let mut yi = [0i8; N];
    fw::bench_start();
    let r = black_box(&layer).run(black_box(&xi), &mut yi);
    fw::bench_end();
    check(r.is_ok());
    let mut h = Fnv1a::default();
    yi.iter().for_each(|&v| h.word(v as u32));
    defmt::info!("bench int8 {=u32:#010x}", h.0);
    fw::exit(0)
}

fn check(ok: bool) {
    if !ok {
        defmt::error!("kernel rejected its shapes");
        fw::exit(fw::EXIT_CHECK_FAILED);
    }
}
