//! Instructions per token and state of a stateful `.mote` model far into a stream: one long
//! sequence (`MOTE_SAMPLES`: one sample of N tokens) is streamed token by token through the
//! embedded model (`MOTE_MODEL`) with buffers sized for it by the build (`MOTE_APP_ARENA_F32`,
//! `MOTE_APP_ARENA_I8`, `MOTE_APP_STATE`, `MOTE_APP_LAYERS`, `MOTE_APP_IO`, set by `mote bench
//! linearized`), and only the steps at tokens 1, 100, 1 000 and 10 000 (those within N) are
//! `bench_start`..`bench_end` regions, so the instruction-counting plugin reports one count per
//! mark. A softmax model with a KV cache as long as the stream needs megabytes of state: the
//! buffers are statics, and the MPS2 boards' 4 MiB RAM holds a 10 000-token cache.
//!
//! Log lines: `stream tokens N marks M state_floats S`, then `stream done digest D logits
//! [BITS]` (the FNV-1a digest of every token's output bits and the last token's outputs), which
//! the host compares with its simulator.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mote_core::check::Fnv1a;
use mote_core::model::{PreparedLayer, Workspace};
use mote_core::samples::read_f32s;
use mote_firmware as fw;
use mote_firmware::app::config::{ARENA_F32, ARENA_I8, IO, LAYERS, STATE_F32};

fw::hardfault_exits!();

static MODEL: &fw::Aligned<[u8]> =
    &fw::Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.mote")));
static SAMPLES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/samples.bin"));

/// Stream positions (1-based) whose step is measured; the host's `recurrent::cost::MARKS`.
const MARKS: [usize; 4] = [1, 100, 1_000, 10_000];

static mut ARENA: [f32; ARENA_F32] = [0.0; ARENA_F32];
static mut ARENA_Q: [i8; ARENA_I8] = [0; ARENA_I8];
static mut STATE: [f32; STATE_F32] = [0.0; STATE_F32];

fn fail(msg: &str) -> ! {
    fw::fail("stream", msg)
}

#[entry]
fn main() -> ! {
    let model = fw::model_or_fail(&MODEL.0);
    let ram = model.ram();
    let (d_in, d_out) = (model.input_len(), model.output_len());
    if !model.is_stateful() {
        fail("the model is stateless: it has no stream position to measure");
    }
    if ram.arena_f32 > ARENA_F32
        || ram.arena_i8 > ARENA_I8
        || ram.state_f32 > STATE_F32
        || model.layer_count() > LAYERS
        || d_in.max(d_out) > IO
    {
        fail("the model needs more RAM than this build reserves");
    }
    const NOT_A_STREAM: &str = "the samples are not one sequence of the model's input";
    let samples = fw::samples_or_fail(SAMPLES, "stream", NOT_A_STREAM);
    let Some(seq) = samples.iter().next() else {
        fail(NOT_A_STREAM)
    };
    let d = samples.d();
    if samples.n() != 1 || d == 0 || !d.is_multiple_of(d_in) {
        fail(NOT_A_STREAM);
    }
    let tokens = d / d_in;
    let marks = MARKS.iter().filter(|&&m| m <= tokens).count();
    defmt::info!(
        "stream tokens {=usize} marks {=usize} state_floats {=usize}",
        tokens,
        marks,
        ram.state_f32
    );
    // SAFETY: single-threaded firmware without interrupt handlers touching these; each static
    // is borrowed exactly once, here, for the rest of the program.
    #[allow(unsafe_code)]
    let (arena_f32, arena_i8, state) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(ARENA),
            &mut *core::ptr::addr_of_mut!(ARENA_Q),
            &mut *core::ptr::addr_of_mut!(STATE),
        )
    };
    let mut ws = Workspace {
        arena_f32,
        arena_i8,
        state,
    };
    let mut layer_buf: [Option<PreparedLayer<'static>>; LAYERS] = [None; LAYERS];
    let layers = match model.read_layers(&mut layer_buf) {
        Ok(l) => l,
        Err(e) => {
            defmt::error!("layers: {}", defmt::Display2Format(&e));
            fw::exit(fw::EXIT_CHECK_FAILED)
        }
    };
    if let Err(e) = layers.reset(&mut ws) {
        defmt::error!("reset failed: {}", defmt::Display2Format(&e));
        fw::exit(fw::EXIT_CHECK_FAILED);
    }
    let mut x = [0.0f32; IO];
    let mut y = [0.0f32; IO];
    let (x, y) = (&mut x[..d_in], &mut y[..d_out]);
    let mut digest = Fnv1a::default();
    let mut next_mark = 0;
    for (t, token) in seq.bytes().chunks_exact(d_in * 4).enumerate() {
        read_f32s(token, x);
        let measured = next_mark < marks && MARKS[next_mark] == t + 1;
        if measured {
            fw::bench_start();
        }
        let r = layers.step(x, &mut ws, y);
        if measured {
            fw::bench_end();
            next_mark += 1;
        }
        if let Err(e) = r {
            defmt::error!(
                "step failed at token {=usize}: {}",
                t + 1,
                defmt::Display2Format(&e)
            );
            fw::exit(fw::EXIT_CHECK_FAILED);
        }
        y.iter().for_each(|v| digest.word(v.to_bits()));
    }
    let mut bits = [0u32; IO];
    for (b, l) in bits.iter_mut().zip(y.iter()) {
        *b = l.to_bits();
    }
    defmt::info!(
        "stream done digest {=u32} logits {=[?]}",
        digest.0,
        &bits[..d_out]
    );
    fw::exit(0)
}
