//! Fuzzes the sktime `.ts` parser (`mote_host::data::ts::parse`), the scaling into data sets
//! (`ts::to_datasets`) and the time-major BasicMotions view (`data::basicmotions::parse`): no
//! panic on any text, and what parses has the shape its header declares.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mote_host::data::{basicmotions, ts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let p = Path::new("fuzz.ts");
    if let Ok(f) = ts::parse(text, p) {
        assert!(f.cases.iter().all(|c| c.len() == f.dimensions * f.length));
        assert!(f.labels.iter().all(|&l| usize::from(l) < f.classes.len()));
        if let Ok((train, test)) = ts::to_datasets(&f, &f, p) {
            assert_eq!(train.features.len(), train.n * train.d);
            assert_eq!(test.features, train.features);
        }
    }
    if let Ok(s) = basicmotions::parse(text, p) {
        assert!(
            s.series
                .iter()
                .all(|x| x.values.len() == s.channels * s.length)
        );
    }
});
