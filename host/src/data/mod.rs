//! Loaders of the bundled real data sets.
//!
//! - [`basicmotions`]: BasicMotions smartwatch activity windows (sktime `.ts`).

pub mod basicmotions;
