//! Runs the model file embedded at build time (`MOTE_MODEL=path.mote`) on the test samples
//! embedded with it (`MOTE_SAMPLES=path.bin`, written by the host), logging every output vector's
//! bit patterns and the prediction with defmt. The host checks them against `mote run`.
//!
//! Samples blob: `docs/samples-format.md` (read with `mote_core::samples`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mote_core::kernels::argmax;
use mote_core::model::Workspace;
use mote_firmware as fw;

fw::hardfault_exits!();

static MODEL: &fw::Aligned<[u8]> =
    &fw::Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.mote")));
static SAMPLES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/samples.bin"));

/// Static activation buffers: a model needing more is refused with a clear message.
const MAX_ARENA_F32: usize = 2048;
const MAX_ARENA_I8: usize = 2048;
const MAX_IO: usize = 1024;

fn fail(msg: &str) -> ! {
    fw::fail("infer", msg)
}

#[entry]
fn main() -> ! {
    let model = fw::model_or_fail(&MODEL.0);
    let ram = model.ram();
    defmt::info!(
        "model {=usize} layers, in {=usize}, out {=usize}, flash {=usize} B, ram {=usize} B",
        model.layer_count(),
        model.input_len(),
        model.output_len(),
        model.flash_bytes(),
        ram.bytes()
    );
    if ram.arena_f32 > MAX_ARENA_F32 || ram.arena_i8 > MAX_ARENA_I8 || model.output_len() > MAX_IO {
        fail("model needs more RAM than this firmware reserves");
    }
    const MISMATCH: &str = "samples do not match the model input";
    let samples = fw::samples_or_fail(SAMPLES, "infer", MISMATCH);
    let (n, d) = (samples.n(), samples.d());
    if d != model.input_len() || d > MAX_IO {
        fail(MISMATCH);
    }
    let mut arena_f32 = [0.0f32; MAX_ARENA_F32];
    let mut arena_i8 = [0i8; MAX_ARENA_I8];
    let mut x = [0.0f32; MAX_IO];
    let mut y = [0.0f32; MAX_IO];
    let mut correct = 0u32;
    for (i, sample) in samples.iter().enumerate() {
        if sample.read(&mut x[..d]).is_err() {
            fail(MISMATCH);
        }
        let label = sample.label();
        let out = &mut y[..model.output_len()];
        let mut ws = Workspace {
            arena_f32: &mut arena_f32,
            arena_i8: &mut arena_i8,
            state: &mut [],
        };
        fw::bench_start();
        let r = model.run(&x[..d], &mut ws, out);
        fw::bench_end();
        if let Err(e) = r {
            defmt::error!("run failed: {}", defmt::Display2Format(&e));
            fw::exit(fw::EXIT_CHECK_FAILED);
        }
        let pred = argmax(out);
        if pred == label as usize {
            correct += 1;
        }
        let mut bits = [0u32; MAX_IO];
        for (b, v) in bits.iter_mut().zip(out.iter()) {
            *b = v.to_bits();
        }
        defmt::info!(
            "out {=usize} {=usize} {=[?]}",
            i,
            pred,
            &bits[..model.output_len()]
        );
    }
    defmt::info!("infer done {=usize} {=u32}", n, correct);
    fw::exit(0)
}
