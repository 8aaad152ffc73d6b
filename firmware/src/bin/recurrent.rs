//! Streams sequences through a stateful `.mote` model (e.g. the trained BasicMotions classifier
//! of `mote recurrent-train`: input projection → Lightning Attention-2 → mean pool → head) token
//! by token with `mote-core`'s executor, in constant memory, and logs per sequence the FNV-1a
//! digest of every token's output bits and the last token's output (the logits of the whole
//! sequence). The host (`mote recurrent-train --qemu`, `tests/`) recomputes every line with the
//! simulator and compares bits. Each `Model::step` is a `bench_start`..`bench_end` region, so the
//! instruction-counting plugin gives the cost of every token.
//!
//! Built with `MOTE_MODEL=path.mote` and `MOTE_SAMPLES=path.bin` (the samples blob of
//! `infer`, `docs/samples-format.md`; here each sample is one sequence of `d / input_len`
//! tokens).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mote_core::check::Fnv1a;
use mote_core::kernels::argmax;
use mote_core::model::Workspace;
use mote_core::samples::read_f32s;
use mote_firmware as fw;

fw::hardfault_exits!();

static MODEL: &fw::Aligned<[u8]> =
    &fw::Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.mote")));
static SAMPLES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/samples.bin"));

/// Static buffers: a model needing more is refused with a clear message.
const MAX_ARENA_F32: usize = 2048;
const MAX_ARENA_I8: usize = 1024;
const MAX_STATE: usize = 4096;
const MAX_IO: usize = 64;
/// Four pre-norm residual blocks of ten layers each, the input projection, the final norm,
/// the mean pool and the head: 44.
const MAX_LAYERS: usize = 48;

fn fail(msg: &str) -> ! {
    fw::fail("recurrent", msg)
}

#[entry]
fn main() -> ! {
    let model = fw::model_or_fail(&MODEL.0);
    let ram = model.ram();
    let (d_in, d_out) = (model.input_len(), model.output_len());
    if ram.arena_f32 > MAX_ARENA_F32
        || ram.arena_i8 > MAX_ARENA_I8
        || ram.state_f32 > MAX_STATE
        || d_out > MAX_IO
    {
        fail("model needs more RAM than this firmware reserves");
    }
    const NOT_SEQUENCES: &str = "samples are not whole sequences of the model's input";
    let samples = fw::samples_or_fail(SAMPLES, "recurrent", NOT_SEQUENCES);
    let (n, d) = (samples.n(), samples.d());
    if d == 0 || !d.is_multiple_of(d_in) {
        fail(NOT_SEQUENCES);
    }
    let tokens = d / d_in;
    defmt::info!(
        "model {=usize} layers, in {=usize}, out {=usize}, flash {=usize} B, ram {=usize} B (state {=usize} floats); {=usize} sequences x {=usize} tokens",
        model.layer_count(),
        d_in,
        d_out,
        model.flash_bytes(),
        ram.bytes(),
        ram.state_f32,
        n,
        tokens
    );
    let mut arena_f32 = [0.0f32; MAX_ARENA_F32];
    let mut arena_i8 = [0i8; MAX_ARENA_I8];
    let mut state = [0.0f32; MAX_STATE];
    let mut ws = Workspace {
        arena_f32: &mut arena_f32,
        arena_i8: &mut arena_i8,
        state: &mut state,
    };
    // Layer records are read once, not on every token.
    let mut layer_buf = [None; MAX_LAYERS];
    let layers = match model.read_layers(&mut layer_buf) {
        Ok(l) => l,
        Err(e) => {
            defmt::error!("layers: {}", defmt::Display2Format(&e));
            fw::exit(fw::EXIT_CHECK_FAILED)
        }
    };
    let mut x = [0.0f32; MAX_IO];
    let mut y = [0.0f32; MAX_IO];
    let (x, y) = (&mut x[..d_in], &mut y[..d_out]);
    let mut correct = 0u32;
    for (i, seq) in samples.iter().enumerate() {
        let label = seq.label();
        if let Err(e) = layers.reset(&mut ws) {
            defmt::error!("reset failed: {}", defmt::Display2Format(&e));
            fw::exit(fw::EXIT_CHECK_FAILED);
        }
        let mut digest = Fnv1a::default();
        for token in seq.bytes().chunks_exact(d_in * 4) {
            read_f32s(token, x);
            fw::bench_start();
            let r = layers.step(x, &mut ws, y);
            fw::bench_end();
            if let Err(e) = r {
                defmt::error!("step failed: {}", defmt::Display2Format(&e));
                fw::exit(fw::EXIT_CHECK_FAILED);
            }
            y.iter().for_each(|v| digest.word(v.to_bits()));
        }
        let pred = argmax(y);
        correct += u32::from(pred == label as usize);
        let mut bits = [0u32; MAX_IO];
        for (b, l) in bits.iter_mut().zip(y.iter()) {
            *b = l.to_bits();
        }
        defmt::info!(
            "series {=usize} label {=u8} pred {=usize} digest {=u32} logits {=[?]}",
            i,
            label,
            pred,
            digest.0,
            &bits[..d_out]
        );
    }
    defmt::info!("accuracy {=u32}/{=usize}", correct, n);
    fw::exit(0)
}
