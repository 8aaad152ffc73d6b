//! Fuzzes the IDX decoder (`mote_host::data::idx::parse`, plain and gzip-compressed) and the data
//! set built from a decoded images array: no panic, no inflating past the declared payload, and
//! a decoded array always holds exactly the values its dimensions declare.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mote_host::data::idx::{self, IdxU8};

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.idx");
    let Ok(a) = idx::parse(data, p) else { return };
    let count = a.dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    assert_eq!(count, Some(a.data.len()), "dims {:?}", a.dims);
    // One label per image (only for label counts a test machine can hold).
    let n = a.dims[0];
    if n <= 1 << 16 {
        let labels = IdxU8 {
            dims: vec![n],
            data: (0..n).map(|i| (i % 10) as u8).collect(),
        };
        if let Ok(ds) = idx::dataset(&a, p, &labels, p, 10) {
            assert_eq!(ds.features.len(), a.data.len());
            assert!(ds.features.iter().all(|x| (0.0..=1.0).contains(x)));
        }
    }
    let _ = idx::dataset(&a, p, &a, p, 256);
});
