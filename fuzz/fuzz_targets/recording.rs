//! Fuzzes core's recording reader (`mote_core::sensor::recording::Recording::parse`), then reads
//! every sample and the one past the end: no panic or out-of-bounds read, `n` samples of `c`
//! readings, a buffer of the wrong length refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mote_core::sensor::recording::{MAX_CHANNELS, Recording};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Recording::parse(data) else {
        return;
    };
    let c = r.channels();
    assert!((1..=MAX_CHANNELS).contains(&c) && r.rate_millihertz() > 0);
    let mut s = [0i16; MAX_CHANNELS];
    for i in 0..r.len() {
        r.read(i, &mut s[..c]).expect("sample i of c readings");
        assert!(r.read(i, &mut s[..c - 1]).is_err());
    }
    assert!(r.read(r.len(), &mut s[..c]).is_err());
});
