//! The error every slice-taking kernel returns when the lengths disagree with the shape: its own
//! module because both [`crate::lmul`] (matvec) and [`crate::kernels`] (which builds on lmul)
//! return it, and the recurrent cells and the model executor pass it on.

/// Error of a kernel called with slices whose lengths disagree with the stated shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShapeError {
    /// Elements the shape requires.
    pub expected: usize,
    /// Elements the slice has.
    pub found: usize,
}

impl core::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "shape mismatch: expected {} elements, found {}",
            self.expected, self.found
        )
    }
}

impl core::error::Error for ShapeError {}

/// `Ok` when a slice of `found` elements has the `expected` length.
pub(crate) fn check_len(found: usize, expected: usize) -> Result<(), ShapeError> {
    if found == expected {
        Ok(())
    } else {
        Err(ShapeError { expected, found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_len_names_both_lengths() {
        assert_eq!(check_len(3, 3), Ok(()));
        assert_eq!(
            check_len(2, 5),
            Err(ShapeError {
                expected: 5,
                found: 2
            })
        );
        let e = ShapeError {
            expected: 5,
            found: 2,
        };
        assert_eq!(
            e.to_string(),
            "shape mismatch: expected 5 elements, found 2"
        );
    }
}
