//! The stack's high-water mark: the free stack is painted with a pattern at start; at the end
//! the lowest word that no longer holds it is the deepest the stack went.

const PAINT: u32 = 0xC0FF_EE55;

// SAFETY: declares two symbols of cortex-m-rt's linker script with the types it gives them;
// only their addresses are ever taken.
#[allow(unsafe_code)]
unsafe extern "C" {
    /// End of `.bss`/`.uninit` (cortex-m-rt's linker script): the stack may grow down to here.
    static mut __sheap: u32;
    /// Initial stack pointer (top of RAM).
    static _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    (
        core::ptr::addr_of!(__sheap) as usize,
        core::ptr::addr_of!(_stack_start) as usize,
    )
}

/// Paints the unused stack below the current stack pointer (less a margin for this function's
/// own frame). Call once, early in `main`.
pub fn paint() {
    let (bottom, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = bottom.next_multiple_of(4);
    while p + 64 < sp {
        // SAFETY: [bottom, sp - 64) is RAM between the end of the statics and the live stack
        // (cortex-m-rt places the stack at the top of RAM growing down to `__sheap`); nothing
        // lives there yet, and each address is 4-byte aligned.
        #[allow(unsafe_code)]
        unsafe {
            core::ptr::write_volatile(p as *mut u32, PAINT)
        };
        p += 4;
    }
}

/// Bytes of stack used at the deepest point since [`paint`]: from the top of RAM to the lowest
/// word that no longer holds the paint.
pub fn high_water() -> usize {
    let (bottom, top) = bounds();
    let mut p = bottom.next_multiple_of(4);
    while p < top {
        // SAFETY: as in `paint`: an aligned address inside RAM, below the live stack or in it;
        // a read has no side effect.
        #[allow(unsafe_code)]
        let v = unsafe { core::ptr::read_volatile(p as *const u32) };
        if v != PAINT {
            break;
        }
        p += 4;
    }
    top - p
}
