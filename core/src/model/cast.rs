//! The only `unsafe` in the model reader: reinterpreting validated, aligned byte ranges of the
//! model file as typed slices, in place (zero-copy from flash).
#![allow(unsafe_code)]

use crate::kernels::QuantMultiplier;

/// Plain-old-data element types a tensor may hold: every bit pattern is a valid value, and the
/// type has no padding.
///
/// # Safety
/// Implementors must be `Copy`, have no padding and accept every bit pattern.
pub unsafe trait Pod: Copy {}

// SAFETY: primitive integers and floats accept every bit pattern and have no padding.
unsafe impl Pod for f32 {}
// SAFETY: as above.
unsafe impl Pod for i8 {}
// SAFETY: as above.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for i32 {}
// SAFETY: `QuantMultiplier` is `#[repr(C)]` with two `i32` fields (no padding, any bits valid).
unsafe impl Pod for QuantMultiplier {}

/// Views `bytes` as `&[T]` if its address is aligned for `T` and its length is a multiple of
/// `size_of::<T>()`; otherwise `None`.
pub fn slice_of<T: Pod>(bytes: &[u8]) -> Option<&[T]> {
    let size = core::mem::size_of::<T>();
    if !bytes.len().is_multiple_of(size)
        || !(bytes.as_ptr() as usize).is_multiple_of(core::mem::align_of::<T>())
    {
        return None;
    }
    // SAFETY: the pointer is non-null and aligned for T (checked above), the range covers
    // `len / size` whole elements inside `bytes`, T accepts every bit pattern (Pod), and the
    // returned slice borrows `bytes`, so it cannot outlive or alias a mutable borrow of it.
    Some(unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), bytes.len() / size) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_misalignment_and_ragged_lengths() {
        let words = [1.0f32, 2.0, 3.0];
        // SAFETY (test): viewing initialised f32s as bytes.
        let bytes: &[u8] = unsafe { core::slice::from_raw_parts(words.as_ptr().cast(), 12) };
        assert_eq!(slice_of::<f32>(bytes), Some(&words[..]));
        assert_eq!(slice_of::<f32>(&bytes[1..5]), None);
        assert_eq!(slice_of::<f32>(&bytes[..6]), None);
        assert_eq!(slice_of::<i8>(&bytes[1..4]).map(|s| s.len()), Some(3));
    }
}
