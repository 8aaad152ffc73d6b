//! The int8 blocks in Thumb-2 assembly: the only `unsafe` code of the kernels (two `asm!`
//! blocks), compiled for Cortex-M targets only. Each implements a portable [`Block`] of the
//! host-tested driver instruction for instruction:
//!
//! - [`Smlad`] (ARMv7E-M, Cortex-M4/M7; as [`super::pairs::Emulated`]): four rows per pass, two
//!   MACs per SMLAD, each packed input pair loaded once per four rows (`LDRD`), each weight word
//!   once (`LDR`, split by two SXTB16). Per four columns and four rows (16 MACs):
//!   1 LDRD + 4 × (LDR, 2 SXTB16, 2 SMLAD) = 21 instructions, plus 3 of loop control per 16
//!   columns. SMLAD wraps modulo 2³² (it only sets the sticky Q flag on overflow), as the
//!   reference's `wrapping_add`.
//! - [`Mla`] (ARMv7-M, Cortex-M3; as [`super::scalar::Rows4`]): four rows per pass over `i32`
//!   inputs, one LDRSB and one MLA per MAC, each input loaded once per four rows, every address
//!   update folded into a post-indexed load: 38 instructions per four columns and four rows.
#![allow(unsafe_code)]

use super::Block;
#[cfg(mote_arch = "armv7em")]
use super::pairs::{Emulated, widen_pairs};
#[cfg(mote_arch = "armv7m")]
use super::scalar::Rows4;

/// SMLAD over packed pairs (see [`super::pairs`] for the layout).
#[cfg(mote_arch = "armv7em")]
pub(crate) struct Smlad;

#[cfg(mote_arch = "armv7em")]
/// One group of four columns for the four rows `p`, `p + s`, `q`, `q + s` (packed pairs).
macro_rules! group {
    () => {
        concat!(
            "ldrd {xe}, {xo}, [{xp}], #8\n",
            "ldr {w}, [{p}, {s}]\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad {a1}, {t}, {xe}, {a1}\n",
            "smlad {a1}, {w}, {xo}, {a1}\n",
            "ldr {w}, [{p}], #4\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad {a0}, {t}, {xe}, {a0}\n",
            "smlad {a0}, {w}, {xo}, {a0}\n",
            "ldr {w}, [{q}, {s}]\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad {a3}, {t}, {xe}, {a3}\n",
            "smlad {a3}, {w}, {xo}, {a3}\n",
            "ldr {w}, [{q}], #4\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad {a2}, {t}, {xe}, {a2}\n",
            "smlad {a2}, {w}, {xo}, {a2}\n",
        )
    };
}

#[cfg(mote_arch = "armv7em")]
impl Block for Smlad {
    const COLS_PER_WORD: usize = 2;
    const GROUP: usize = 4;

    fn widen(x: &[i8], zp: i32, out: &mut [u32]) {
        // Once per vector: portable code is within a few instructions of SXTAB16 here.
        widen_pairs(x, zp, out);
    }

    fn block4(r: [&[i8]; 4], xw: &[u32], acc: &mut [i32; 4]) {
        let groups = xw.len() / 2;
        let len = 4 * groups;
        let p = r[0].as_ptr();
        let q = r[2].as_ptr();
        let s = (r[1].as_ptr() as usize).wrapping_sub(p as usize);
        let shaped = xw.len().is_multiple_of(2)
            && r.iter().all(|row| row.len() == len)
            && r[3].as_ptr() as usize == (q as usize).wrapping_add(s);
        if !shaped {
            // Not a layout the driver produces; kept so the asm's contract is checked here.
            return Emulated::block4(r, xw, acc);
        }
        if groups == 0 {
            return;
        }
        let end4 = xw[..8 * (groups / 4)].as_ptr_range().end;
        let end1 = xw.as_ptr_range().end;
        let [mut a0, mut a1, mut a2, mut a3] = *acc;
        // SAFETY: the block reads, and only reads, these ranges:
        // - `xw`: `groups` LDRDs of 8 bytes from `xw.as_ptr()`, ending at `end1` (the end of
        //   `xw`; `xw.len() == 2 · groups`). `xw` is a `[u32]`, so every LDRD is word-aligned.
        // - rows `p`, `p + s`, `q`, `q + s`: `groups` word loads each, `len = 4 · groups` bytes
        //   from each row's start. These are the starts of `r[0]`, `r[1]`, `r[2]` and `r[3]`
        //   (checked above: `r[1] = p + s`, `r[3] = q + s` as addresses), and each `r[k]` is
        //   `len` bytes long, so every load is inside a borrowed slice. The weight loads may be
        //   unaligned (rows of an odd width): LDR supports that on ARMv7-M while
        //   CCR.UNALIGN_TRP is clear, its reset value (nothing in mote sets it).
        // - The stack: 8 bytes below `sp`, which the block reserves and releases itself (no
        //   `nostack`), for the two loop ends; `sp` is restored before the block ends.
        // All pointer registers and temporaries are declared clobbered (`=> _`), the
        // accumulators are `inout`, and the flags are not declared preserved.
        unsafe {
            core::arch::asm!(
                "sub sp, sp, #8",
                "str {t}, [sp]",
                "str {w}, [sp, #4]",
                "cmp {xp}, {t}",
                "beq 3f",
                "2:",
                group!(),
                group!(),
                group!(),
                group!(),
                "ldr {t}, [sp]",
                "cmp {xp}, {t}",
                "bne 2b",
                "3:",
                "ldr {t}, [sp, #4]",
                "cmp {xp}, {t}",
                "beq 5f",
                "4:",
                group!(),
                "ldr {t}, [sp, #4]",
                "cmp {xp}, {t}",
                "bne 4b",
                "5:",
                "add sp, sp, #8",
                p = inout(reg) p => _,
                q = inout(reg) q => _,
                s = in(reg) s,
                xp = inout(reg) xw.as_ptr() => _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                a3 = inout(reg) a3,
                xe = out(reg) _,
                xo = out(reg) _,
                w = inout(reg) end1 => _,
                t = inout(reg) end4 => _,
            );
        }
        *acc = [a0, a1, a2, a3];
    }
}

#[cfg(mote_arch = "armv7m")]
/// One column `k` (1..=3) of a group of four for the four rows: input word `k`, weight byte `k`.
macro_rules! mla_column {
    ($k:literal, $xo:literal) => {
        concat!(
            "ldr {x}, [{xp}, #",
            $xo,
            "]\n",
            "ldrsb {w}, [{p0}, #",
            $k,
            "]\n",
            "mla {a0}, {w}, {x}, {a0}\n",
            "ldrsb {w}, [{p1}, #",
            $k,
            "]\n",
            "mla {a1}, {w}, {x}, {a1}\n",
            "ldrsb {w}, [{p2}, #",
            $k,
            "]\n",
            "mla {a2}, {w}, {x}, {a2}\n",
            "ldrsb {w}, [{p3}, #",
            $k,
            "]\n",
            "mla {a3}, {w}, {x}, {a3}\n",
        )
    };
}

/// LDRSB + MLA over `i32` inputs, four rows and four columns per step.
#[cfg(mote_arch = "armv7m")]
pub(crate) struct Mla;

#[cfg(mote_arch = "armv7m")]
impl Block for Mla {
    const COLS_PER_WORD: usize = 1;
    const GROUP: usize = 4;

    fn widen(x: &[i8], zp: i32, out: &mut [u32]) {
        Rows4::<4>::widen(x, zp, out);
    }

    fn block4(r: [&[i8]; 4], xw: &[u32], acc: &mut [i32; 4]) {
        let n = xw.len();
        if !n.is_multiple_of(4) || r.iter().any(|row| row.len() != n) {
            // Not a layout the driver produces; kept so the asm's contract is checked here.
            return Rows4::<4>::block4(r, xw, acc);
        }
        if n == 0 {
            return;
        }
        let end = xw.as_ptr_range().end;
        let [mut a0, mut a1, mut a2, mut a3] = *acc;
        // SAFETY: the block reads, and only reads, `xw` (`n / 4` steps of four words from
        // `xw.as_ptr()`, ending exactly at `end`, its end; `n` is a non-zero multiple of 4, so the
        // loop runs `n / 4 >= 1` times, word loads at word-aligned addresses of a `[u32]`) and
        // bytes 0..n of each row `r[k]` (four byte loads per step at offsets 0..=3 of a pointer
        // advanced by 4; every `r[k]` is `n` bytes long, checked above). No stack, no writes to
        // memory; pointers and temporaries are declared clobbered, the accumulators `inout`,
        // the flags (CMP) not preserved.
        unsafe {
            core::arch::asm!(
                "2:",
                mla_column!("1", "4"),
                mla_column!("2", "8"),
                mla_column!("3", "12"),
                "ldr {x}, [{xp}], #16",
                "ldrsb {w}, [{p0}], #4",
                "mla {a0}, {w}, {x}, {a0}",
                "ldrsb {w}, [{p1}], #4",
                "mla {a1}, {w}, {x}, {a1}",
                "ldrsb {w}, [{p2}], #4",
                "mla {a2}, {w}, {x}, {a2}",
                "ldrsb {w}, [{p3}], #4",
                "mla {a3}, {w}, {x}, {a3}",
                "cmp {xp}, {end}",
                "bne 2b",
                p0 = inout(reg) r[0].as_ptr() => _,
                p1 = inout(reg) r[1].as_ptr() => _,
                p2 = inout(reg) r[2].as_ptr() => _,
                p3 = inout(reg) r[3].as_ptr() => _,
                xp = inout(reg) xw.as_ptr() => _,
                end = in(reg) end,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                a3 = inout(reg) a3,
                x = out(reg) _,
                w = out(reg) _,
                options(nostack, readonly),
            );
        }
        *acc = [a0, a1, a2, a3];
    }
}
