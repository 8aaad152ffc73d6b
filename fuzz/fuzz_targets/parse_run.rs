//! Fuzzes the model-file parser and, when a mutated file parses, the executor (one run for a
//! stateless model; reset and a few streamed tokens for a recurrent one): neither may panic, read
//! out of bounds or loop forever on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mote_core::model::{Model, Workspace, crc32};

/// A 16-byte aligned copy of the input (the parser requires aligned bytes).
#[repr(C, align(16))]
struct Aligned([u8; 1 << 16]);

fuzz_target!(|input: &[u8]| {
    // The first byte selects a mode: odd = re-seal both CRCs after the mutation, so the fuzzer
    // explores the structural checks behind the checksums instead of stopping at them.
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    if data.len() > 1 << 16 {
        return;
    }
    let mut buf = Box::new(Aligned([0; 1 << 16]));
    let file = &mut buf.0[..data.len()];
    file.copy_from_slice(data);
    if mode & 1 == 1 && file.len() >= 64 {
        let body = crc32(&file[64..]);
        file[20..24].copy_from_slice(&body.to_le_bytes());
        let head = crc32(&file[..60]);
        file[60..64].copy_from_slice(&head.to_le_bytes());
    }
    let Ok(model) = Model::parse(&buf.0[..data.len()]) else {
        return;
    };
    let ram = model.ram();
    // Cap what a fuzzed header may ask for, as a device with fixed buffers would.
    if ram.arena_f32 > 1 << 16
        || ram.arena_i8 > 1 << 16
        || ram.state_f32 > 1 << 16
        || model.output_len() > 1 << 16
    {
        return;
    }
    let mut af = vec![0.0f32; ram.arena_f32];
    let mut aq = vec![0i8; ram.arena_i8];
    let mut st = vec![0.0f32; ram.state_f32];
    let x = vec![0.25f32; model.input_len()];
    let mut y = vec![0.0f32; model.output_len()];
    let mut ws = Workspace {
        arena_f32: &mut af,
        arena_i8: &mut aq,
        state: &mut st,
    };
    if !model.is_stateful() {
        let _ = model.run(&x, &mut ws, &mut y);
        return;
    }
    // A stateful model: run is refused, a stream is reset and fed a few tokens (varied, so
    // routers and softmaxes see different inputs), and stepping before a reset must not panic.
    let _ = model.run(&x, &mut ws, &mut y);
    let _ = model.step(&x, &mut ws, &mut y);
    // Half of the tokens go through the layers read once (`Layers`), half through `Model::step`.
    let mut buf = vec![None; model.layer_count()];
    let Ok(layers) = model.read_layers(&mut buf) else {
        return;
    };
    if model.reset(&mut ws).is_ok() {
        let mut xt = x.clone();
        for t in 0..4 {
            for (i, v) in xt.iter_mut().enumerate() {
                *v = ((t * 7 + i) % 5) as f32 - 2.0;
            }
            let _ = if t % 2 == 0 {
                model.step(&xt, &mut ws, &mut y)
            } else {
                layers.step(&xt, &mut ws, &mut y)
            };
        }
    }
});
