//! The sensor application: an LSM303AGR accelerometer read through the `lsm303agr` driver
//! (embedded-hal 1.0) at the sample rate by the SysTick interrupt, samples handed to the main
//! loop through a `heapless::spsc::Queue`, turned into model inputs, run through the embedded
//! `.mote` model (stateful models token by token in constant memory), and each decision logged
//! with defmt (and shown on the micro:bit's LEDs). Under QEMU the sensor is a replay of an
//! embedded recording that answers the chip's register protocol; the run ends when the recording
//! does, with a summary line. Every line is checked by `mote firmware run` against the host
//! simulator fed the same samples.
//!
//! Log lines (defmt), in order:
//! - `app model ...`: the model and the build's parameters;
//! - `gap FIRST COUNT`: samples FIRST..FIRST+COUNT were dropped (queue full);
//! - `decision WINDOW TOKENS CLASS INPUTS OUTPUTS [LOGITS]`: digests and output bits;
//! - `app done SAMPLES DECISIONS DROPPED MAX_QUEUE BUSY_TICKS ISR_TICKS STACK`.
#![no_std]
#![no_main]

use core::sync::atomic::Ordering;

use cortex_m_rt::entry;
use mote_core::model::Workspace;
use mote_firmware as fw;
use mote_firmware::app::config::{
    ARENA_F32, ARENA_I8, HOP, IO, LAYERS, RATE_MILLIHERTZ, RING, STATE_F32, SYSTICK_HZ, WINDOW,
};
use mote_firmware::app::pipeline::{Buffers, CHANNELS, Decision, Pipeline};
use mote_firmware::app::{bus, sampling, stack};

fw::hardfault_exits!();

static MODEL: &fw::Aligned<[u8]> =
    &fw::Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.mote")));

fn fail(msg: &str) -> ! {
    fw::fail("app", msg)
}

/// The decision's line; the logits as bits so the host compares them exactly.
fn log_decision(d: &Decision) {
    let logits = d.logits();
    let mut bits = [0u32; IO];
    for (b, l) in bits.iter_mut().zip(logits) {
        *b = l.to_bits();
    }
    defmt::info!(
        "decision {=u32} {=u32} {=usize} {=u32} {=u32} {=[?]}",
        d.window,
        d.tokens,
        d.class,
        d.inputs,
        d.outputs,
        &bits[..logits.len()]
    );
}

#[entry]
fn main() -> ! {
    stack::paint();
    let model = fw::model_or_fail(&MODEL.0);
    let ram = model.ram();
    let (d_in, d_out) = (model.input_len(), model.output_len());
    if ram.arena_f32 > ARENA_F32
        || ram.arena_i8 > ARENA_I8
        || ram.state_f32 > STATE_F32
        || model.layer_count() > LAYERS
        || d_in.max(d_out) > IO
    {
        fail(
            "the model needs more RAM than this build reserves (build it with mote firmware build)",
        );
    }
    let stateful = model.is_stateful();
    let expected_in = if stateful {
        CHANNELS
    } else {
        WINDOW * CHANNELS
    };
    if d_in != expected_in {
        fail("the model's input is not 3 axes per token (stateful) or window x 3 (stateless)");
    }
    let (Some(arena_f32), Some(arena_i8), Some(state), Some(layer_buf)) = (
        cortex_m::singleton!(: [f32; ARENA_F32] = [0.0; ARENA_F32]),
        cortex_m::singleton!(: [i8; ARENA_I8] = [0; ARENA_I8]),
        cortex_m::singleton!(: [f32; STATE_F32] = [0.0; STATE_F32]),
        cortex_m::singleton!(: [Option<mote_core::model::PreparedLayer<'static>>; LAYERS] = [None; LAYERS]),
    ) else {
        fail("buffers taken twice")
    };
    let (Some(x), Some(y), Some(ring)) = (
        cortex_m::singleton!(: [f32; IO] = [0.0; IO]),
        cortex_m::singleton!(: [f32; IO] = [0.0; IO]),
        cortex_m::singleton!(: [f32; RING] = [0.0; RING]),
    ) else {
        fail("buffers taken twice")
    };
    let layers = match model.read_layers(layer_buf) {
        Ok(l) => l,
        Err(e) => {
            defmt::error!("layers: {}", defmt::Display2Format(&e));
            fw::exit(fw::EXIT_CHECK_FAILED)
        }
    };
    let buffers = Buffers {
        ws: Workspace {
            arena_f32,
            arena_i8,
            state,
        },
        x: &mut x[..d_in],
        y: &mut y[..d_out],
        ring: if stateful {
            &mut ring[..0]
        } else {
            match ring.get_mut(..WINDOW * CHANNELS) {
                Some(r) => r,
                None => fail("the window needs more RAM than this build reserves"),
            }
        },
    };
    let mut pipeline = Pipeline::new(layers, buffers, stateful, WINDOW as u32, HOP as u32);

    #[cfg(not(feature = "board-microbit-v2"))]
    let (syst, bus) = {
        let Some(cp) = cortex_m::Peripherals::take() else {
            fail("core peripherals taken twice")
        };
        match bus::open() {
            Ok(b) => (cp.SYST, b),
            Err(e) => fail(e),
        }
    };
    #[cfg(feature = "board-microbit-v2")]
    let (syst, bus, mut display) = {
        let Some(board) = microbit::Board::take() else {
            fail("board peripherals taken twice")
        };
        #[cfg(feature = "sensor-hardware")]
        let bus = bus::open_with(board.TWIM0, board.i2c_internal);
        #[cfg(not(feature = "sensor-hardware"))]
        let bus = match bus::open() {
            Ok(b) => b,
            Err(e) => fail(e),
        };
        (board.SYST, bus, bus::Display::new(board.display_pins))
    };

    defmt::info!(
        "app model {=usize} layers, in {=usize}, out {=usize}, stateful {=bool}, flash {=usize} B, ram {=usize} B; rate {=u32} mHz, window {=usize}, hop {=usize}, queue {=usize}",
        model.layer_count(),
        d_in,
        d_out,
        stateful,
        model.flash_bytes(),
        ram.bytes(),
        RATE_MILLIHERTZ,
        WINDOW,
        HOP,
        sampling::QUEUE_SLOTS - 1
    );
    let mut consumer = match sampling::start(bus, syst, SYSTICK_HZ, RATE_MILLIHERTZ) {
        Ok(c) => c,
        Err(e) => {
            defmt::error!("app: sensor setup failed: {}", e);
            fw::exit(fw::EXIT_CHECK_FAILED)
        }
    };

    let (mut expected, mut samples, mut decisions) = (0u32, 0u32, 0u32);
    let (mut busy, mut max_queue) = (0u64, 0usize);
    #[cfg_attr(not(feature = "board-microbit-v2"), allow(unused_mut))]
    let mut show = |d: &Decision| {
        log_decision(d);
        #[cfg(feature = "board-microbit-v2")]
        display.show(Some(d.class));
    };
    loop {
        loop {
            let depth = consumer.len();
            let Some(s) = consumer.dequeue() else { break };
            max_queue = max_queue.max(depth);
            if s.seq != expected {
                defmt::info!("gap {=u32} {=u32}", expected, s.seq.wrapping_sub(expected));
            }
            expected = s.seq.wrapping_add(1);
            samples += 1;
            let t0 = sampling::now();
            let r = pipeline.push(s);
            busy += sampling::now() - t0;
            match r {
                Ok(done) => {
                    for d in done.iter().flatten() {
                        decisions += 1;
                        show(d);
                    }
                }
                Err(e) => {
                    defmt::error!("app: model step failed: {}", defmt::Display2Format(&e));
                    fw::exit(fw::EXIT_CHECK_FAILED)
                }
            }
        }
        if sampling::FAULT.load(Ordering::Acquire) {
            fail("the sensor failed (logged above)");
        }
        if bus::finished() && consumer.is_empty() {
            // Samples dropped after the last one received have no later sample to reveal them.
            let produced = sampling::PRODUCED.load(Ordering::Acquire);
            if produced != expected {
                defmt::info!(
                    "gap {=u32} {=u32}",
                    expected,
                    produced.wrapping_sub(expected)
                );
            }
            if let Some(d) = pipeline.close() {
                decisions += 1;
                show(&d);
            }
            defmt::info!(
                "app done {=u32} {=u32} {=u32} {=usize} {=u64} {=u32} {=usize}",
                samples,
                decisions,
                sampling::DROPPED.load(Ordering::Relaxed),
                max_queue,
                busy,
                sampling::ISR_TICKS.load(Ordering::Relaxed),
                stack::high_water()
            );
            fw::exit(0)
        }
        // Sleep until the next interrupt; with interrupts masked between the check and WFI, a
        // sample that arrives in between still wakes the core (WFI wakes on a pending one).
        cortex_m::interrupt::free(|_| {
            if consumer.is_empty() && !bus::finished() {
                cortex_m::asm::wfi();
            }
        });
    }
}
