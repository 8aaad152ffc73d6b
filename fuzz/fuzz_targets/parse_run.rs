//! Fuzzes the model-file parser and, when a mutated file parses, the executor: neither may panic,
//! read out of bounds or loop forever on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mote_core::model::{Model, Workspace};

/// A 16-byte aligned copy of the input (the parser requires aligned bytes).
#[repr(C, align(16))]
struct Aligned([u8; 1 << 16]);

fuzz_target!(|data: &[u8]| {
    if data.len() > 1 << 16 {
        return;
    }
    let mut buf = Box::new(Aligned([0; 1 << 16]));
    buf.0[..data.len()].copy_from_slice(data);
    let Ok(model) = Model::parse(&buf.0[..data.len()]) else { return };
    let ram = model.ram();
    // Cap what a fuzzed header may ask for, as a device with fixed buffers would.
    if ram.arena_f32 > 1 << 16 || ram.arena_i8 > 1 << 16 || model.output_len() > 1 << 16 {
        return;
    }
    let mut af = vec![0.0f32; ram.arena_f32];
    let mut aq = vec![0i8; ram.arena_i8];
    let x = vec![0.25f32; model.input_len()];
    let mut y = vec![0.0f32; model.output_len()];
    let mut ws = Workspace { arena_f32: &mut af, arena_i8: &mut aq };
    let _ = model.run(&x, &mut ws, &mut y);
});
