//! Fuzzes the Daphnet CSV reader (`mote_host::data::daphnet::parse_channel`), for the bundled
//! channel name and for a channel named by the input's own header: no panic on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mote_host::data::daphnet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = daphnet::parse_channel(text, "ankle_vert", "fuzz.csv");
    let named = text
        .lines()
        .next()
        .and_then(|h| h.split(',').nth(1))
        .map(str::trim);
    if let Some(channel) = named
        && let Ok(v) = daphnet::parse_channel(text, channel, "fuzz.csv")
    {
        assert!(!v.is_empty());
    }
});
