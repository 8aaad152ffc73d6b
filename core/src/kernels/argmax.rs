//! The prediction of a score vector: the index of its largest value. Host and firmware both call
//! this one function on bit-identical outputs, so their predictions agree; the tie and NaN rules
//! below are part of that bit-exactness contract, not an implementation detail.

/// Index of the **first** maximum of `xs`.
///
/// The scan keeps the best index so far and moves it only when a value compares strictly greater
/// than the value there (`x > max`), in index order. Hence:
/// - ties go to the lowest index (and `-0.0` ties with `+0.0`);
/// - a NaN after the first element never wins (no comparison with NaN is true);
/// - a NaN as the first element is never displaced either, so the answer is then 0;
/// - an empty slice gives 0.
///
/// ```
/// use mote_core::kernels::argmax;
/// assert_eq!(argmax(&[0.5, 2.0, -1.0, 2.0]), 1);
/// assert_eq!(argmax(&[1.0, f32::NAN, 0.0]), 0);
/// assert_eq!(argmax(&[]), 0);
/// ```
pub fn argmax(xs: &[f32]) -> usize {
    let Some((&first, rest)) = xs.split_first() else {
        return 0;
    };
    let (mut best, mut max) = (0, first);
    for (k, &x) in (1..).zip(rest) {
        if x > max {
            (best, max) = (k, x);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::argmax;
    use proptest::prelude::*;

    /// Obviously-correct reference: the answer is 0 for an empty slice or a leading NaN (nothing
    /// compares greater than it); otherwise the smallest index holding the maximum of the
    /// non-NaN values.
    fn reference(xs: &[f32]) -> usize {
        match xs.first() {
            None => return 0,
            Some(x0) if x0.is_nan() => return 0,
            Some(_) => {}
        }
        let max = xs
            .iter()
            .copied()
            .filter(|x| !x.is_nan())
            .fold(f32::NEG_INFINITY, f32::max);
        xs.iter().position(|&x| x == max).unwrap_or(0)
    }

    #[test]
    fn ties_go_to_the_first_maximum() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[7.0, 7.0, 7.0]), 0);
        assert_eq!(argmax(&[-0.0, 0.0]), 0);
        assert_eq!(argmax(&[0.0, -0.0]), 0);
        assert_eq!(argmax(&[1.0, f32::INFINITY, f32::INFINITY]), 1);
    }

    #[test]
    fn nan_never_wins() {
        assert_eq!(argmax(&[1.0, f32::NAN, 2.0]), 2);
        assert_eq!(argmax(&[3.0, f32::NAN, 2.0]), 0);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NAN]), 0);
        // A leading NaN is the start of the scan and nothing compares greater than it.
        assert_eq!(argmax(&[f32::NAN, 5.0, 9.0]), 0);
        assert_eq!(argmax(&[f32::NAN]), 0);
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[-4.0]), 0);
    }

    #[test]
    fn negative_values() {
        assert_eq!(argmax(&[-3.0, -1.0, -2.0]), 1);
        assert_eq!(argmax(&[-1e-30, -1e30, -0.5]), 0);
        assert_eq!(argmax(&[f32::NEG_INFINITY, -1e30]), 1);
    }

    /// Values drawn to make ties, signed zeros, infinities and NaNs common.
    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            4 => (-3i8..=3).prop_map(f32::from),
            2 => any::<f32>(),
            1 => Just(f32::NAN),
            1 => Just(-0.0f32),
            1 => Just(f32::INFINITY),
            1 => Just(f32::NEG_INFINITY),
        ]
    }

    proptest! {
        #[test]
        fn matches_the_reference(xs in proptest::collection::vec(value(), 0..12)) {
            prop_assert_eq!(argmax(&xs), reference(&xs));
        }
    }
}
