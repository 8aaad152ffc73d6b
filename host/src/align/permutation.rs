//! The [`Permutation`] type: a reordering of `0..n`, in the convention of SPEC §2.3.

use std::fmt;

/// A permutation of `0..n`. `p.map()[r] = c` means "position `r` takes element `c`", the
/// convention of SPEC §2.3: unit `r` of the aligned model is unit `c` of the original.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Permutation(Vec<usize>);

impl Permutation {
    /// The identity on `0..n`.
    pub fn identity(n: usize) -> Self {
        Self((0..n).collect())
    }

    /// Checks that `map` is a permutation of `0..map.len()`.
    pub fn new(map: Vec<usize>) -> Result<Self, String> {
        let mut seen = vec![false; map.len()];
        for (r, &c) in map.iter().enumerate() {
            if c >= map.len() || std::mem::replace(&mut seen[c], true) {
                return Err(format!(
                    "not a permutation: position {r} maps to {c} (n = {})",
                    map.len()
                ));
            }
        }
        Ok(Self(map))
    }

    /// An assignment the solver built (a permutation by construction; checked in debug builds).
    pub(super) fn from_assignment(map: Vec<usize>) -> Self {
        debug_assert!(
            Self::new(map.clone()).is_ok(),
            "the solver returned {map:?}"
        );
        Self(map)
    }

    /// A uniformly random permutation (Fisher–Yates) from a seeded generator.
    pub fn random(n: usize, rng: &mut crate::rng::Rng) -> Self {
        let mut map: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut map);
        Self(map)
    }

    /// `map()[r]` = the source index placed at position `r`.
    pub fn map(&self) -> &[usize] {
        &self.0
    }

    /// Size of the permuted set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the permutation of the empty set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if every position keeps its element.
    pub fn is_identity(&self) -> bool {
        self.0.iter().enumerate().all(|(r, &c)| r == c)
    }

    /// The inverse: `inv.map()[c] = r` where `self.map()[r] = c`.
    pub fn inverse(&self) -> Self {
        let mut inv = vec![0; self.0.len()];
        for (r, &c) in self.0.iter().enumerate() {
            inv[c] = r;
        }
        Self(inv)
    }

    /// `out[r] = xs[map[r]]` (numpy's `take`).
    pub fn take<T: Copy>(&self, xs: &[T]) -> Vec<T> {
        self.0.iter().map(|&c| xs[c]).collect()
    }

    /// The positions where `self` and `other` differ, in increasing order.
    pub fn moved<'a>(&'a self, other: &'a Permutation) -> impl Iterator<Item = usize> + 'a {
        self.0
            .iter()
            .zip(&other.0)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(k, _)| k)
    }

    /// Number of positions where `self` and `other` differ.
    pub fn hamming(&self, other: &Permutation) -> usize {
        self.moved(other).count()
    }
}

impl fmt::Display for Permutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
