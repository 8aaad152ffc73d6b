//! Fuzzes core's samples blob reader (`mote_core::samples::Samples::parse`), then reads every
//! sample, by iteration and by index: no panic or out-of-bounds read, `n` samples of `d` values,
//! and a buffer of the wrong length refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mote_core::samples::Samples;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = Samples::parse(data) else { return };
    let (n, d) = (s.n(), s.d());
    assert_eq!(s.labels().len(), n);
    assert_eq!(s.iter().len(), n);
    if n == 0 {
        assert!(s.iter().next().is_none() && s.get(0).is_none());
        return;
    }
    // With at least one sample, 4·n·d bytes are in the blob: `d` values fit in memory.
    let mut x = vec![0.0f32; d];
    let mut count = 0;
    for (i, sample) in s.iter().enumerate() {
        sample.read(&mut x).expect("a buffer of d values");
        assert_eq!(sample.bytes().len(), 4 * d);
        let by_index = s.get(i).expect("sample i exists");
        assert_eq!(
            (by_index.label(), by_index.bytes()),
            (sample.label(), sample.bytes())
        );
        if d > 0 {
            assert!(sample.read(&mut x[..d - 1]).is_err());
        }
        count += 1;
    }
    assert_eq!(count, n);
    assert!(s.get(n).is_none());
});
