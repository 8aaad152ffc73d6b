//! The ARMv7E-M (Cortex-M4/M7) int8 block: four rows per pass, two MACs per SMLAD, each packed
//! input pair loaded once per four rows (`LDRD`), each weight word once (`LDR`, split by two
//! SXTB16). The only `unsafe` code of the kernels: one `asm!` block, compiled for thumbv7em only.
//!
//! Per four columns and four rows (16 MACs): 1 LDRD + 4 × (LDR, 2 SXTB16, 2 SMLAD) = 21
//! instructions, plus 3 of loop control per 16 columns. SMLAD wraps modulo 2³² (it only sets the
//! sticky Q flag on overflow), as the reference's `wrapping_add`.
#![allow(unsafe_code)]

use super::Block;
use super::pairs::{Emulated, widen_pairs};

/// SMLAD over packed pairs (see [`super::pairs`] for the layout).
pub(crate) struct Smlad;

/// One group of four columns for the four rows `p`, `p + s`, `q`, `q + s`.
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
        let shaped = xw.len() % 2 == 0
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
