//! L-Mul self-test: computes a fixed table of L-Mul products (edge cases and seeded random
//! operands in every format), logs inputs and result bit patterns with defmt, and exits 0.
//! The host (`mote selftest`, `tests/`) recomputes every line with mote-core and compares bits.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mote_core::check::{XorShift32, fp8_exhaustive_digest};
use mote_core::lmul::{
    dot_lmul_f32, lmul_bf16, lmul_e4m3, lmul_e5m2, lmul_f16, lmul_f32, lmul_f32_k, matvec_lmul_f32,
};
use mote_firmware as fw;

fw::hardfault_exits!();

/// fp32 edge cases: signed zeros, subnormals, normals, extremes, infinities, NaNs.
const EDGES_F32: [u32; 18] = [
    0x0000_0000,
    0x8000_0000,
    0x0000_0001,
    0x807F_FFFF,
    0x0080_0000,
    0x3F80_0000,
    0x3FC0_0000,
    0xC000_0000,
    0x3F40_0000,
    0x4040_0000,
    0x40A0_0000,
    0x7F7F_FFFF,
    0x7F80_0000,
    0xFF80_0000,
    0x7FC0_0000,
    0x7F80_0001,
    0x60AD_78EC,
    0x1E3C_E508,
];
const EDGES_16: [u16; 12] = [
    0x0000, 0x8000, 0x0001, 0x3C00, 0x3FFF, 0xC000, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x7F80, 0x0400,
];

#[entry]
fn main() -> ! {
    let mut rng = XorShift32(0x1234_5678);
    let mut cases: u32 = 0;

    for &a in &EDGES_F32 {
        for &b in &EDGES_F32 {
            let r = lmul_f32(f32::from_bits(a), f32::from_bits(b)).to_bits();
            defmt::info!("f32 {=u32} {=u32} {=u32}", a, b, r);
            cases += 1;
        }
    }
    for _ in 0..256 {
        let (a, b) = (rng.next_u32(), rng.next_u32());
        let r = lmul_f32(f32::from_bits(a), f32::from_bits(b)).to_bits();
        defmt::info!("f32 {=u32} {=u32} {=u32}", a, b, r);
        cases += 1;
    }
    for _ in 0..256 {
        let k = rng.next_u32() % 23 + 1;
        // Operands near 1 so most products are normal numbers.
        let a = 0x3E00_0000 + (rng.next_u32() >> 6);
        let b = (rng.next_u32() & 0x8000_0000) | (0x3E00_0000 + (rng.next_u32() >> 6));
        let r = lmul_f32_k(f32::from_bits(a), f32::from_bits(b), k).to_bits();
        defmt::info!("f32k {=u32} {=u32} {=u32} {=u32}", k, a, b, r);
        cases += 1;
    }
    for &a in &EDGES_16 {
        for &b in &EDGES_16 {
            defmt::info!("bf16 {=u16} {=u16} {=u16}", a, b, lmul_bf16(a, b));
            defmt::info!("f16 {=u16} {=u16} {=u16}", a, b, lmul_f16(a, b));
            cases += 2;
        }
    }
    for _ in 0..256 {
        let (a, b) = (rng.next_u32() as u16, rng.next_u32() as u16);
        defmt::info!("bf16 {=u16} {=u16} {=u16}", a, b, lmul_bf16(a, b));
        defmt::info!("f16 {=u16} {=u16} {=u16}", a, b, lmul_f16(a, b));
        cases += 2;
    }
    defmt::info!("e4m3 digest {=u32}", fp8_exhaustive_digest(lmul_e4m3));
    defmt::info!("e5m2 digest {=u32}", fp8_exhaustive_digest(lmul_e5m2));
    cases += 2 * 65_536;

    // Dot products and a matvec: the accumulation order is part of the contract.
    let mut x = [0u32; 64];
    let mut w = [0u32; 64];
    for _ in 0..8 {
        x.iter_mut().for_each(|v| *v = rng.next_f32().to_bits());
        w.iter_mut()
            .for_each(|v| *v = (rng.next_f32() * 4.0).to_bits());
        let r = dot_lmul_f32(&x.map(f32::from_bits), &w.map(f32::from_bits)).to_bits();
        defmt::info!("dot {=[?]} {=[?]} {=u32}", &x[..], &w[..], r);
        cases += 1;
    }
    let mut y = [0.0f32; 4];
    let wf = w.map(f32::from_bits);
    let xf: [f32; 16] = core::array::from_fn(|i| f32::from_bits(x[i]));
    if matvec_lmul_f32(&wf, &xf, &mut y).is_err() {
        defmt::error!("matvec shape rejected");
        fw::exit(fw::EXIT_CHECK_FAILED);
    }
    defmt::info!(
        "matvec {=[?]} {=[?]} {=[?]}",
        &w[..],
        &xf.map(f32::to_bits)[..],
        &y.map(f32::to_bits)[..]
    );
    cases += 1;

    defmt::info!("selftest done {=u32}", cases);
    fw::exit(0)
}
