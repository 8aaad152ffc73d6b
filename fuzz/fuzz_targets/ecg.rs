//! Fuzzes the raw ECG decoder (`mote_host::data::ecg::decode`, little-endian u16 ADC values)
//! and the millivolt conversion: no panic, one sample per two bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mote_host::data::ecg;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = ecg::decode(data, "fuzz.u16le") else {
        return;
    };
    assert_eq!(v.len() * 2, data.len());
    assert!(v.iter().map(|&x| ecg::adc_to_mv(x)).all(f32::is_finite));
});
