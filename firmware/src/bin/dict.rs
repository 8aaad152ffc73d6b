//! Online orthogonal dictionary learning on the device, in static memory (SPEC §4.3).
//!
//! 1. **ECG stream.** MIT-BIH record 208 (lead MLII, 360 Hz, embedded raw u16 ADC) is converted to
//!    millivolts as `(v − 1024) / 200`; windows of `N = 32` samples start every `HOP = 32` samples (non-overlapping, so each sample is seen once) in
//!    the first 80 % of the record and go, `BATCH = 10` at a time, through one NoncvxSFW update
//!    each; nothing of the stream is kept beyond the current mini-batch. Every `CHECKPOINT` updates
//!    (and at the end) the top-`K` reconstruction RMSE on the non-overlapping windows of the last
//!    20 % is logged. At the end the dictionary is logged row by row.
//! 2. **Synthetic.** The SPEC §4.5 model at n = 16, θ = 0.3, batch 10, generated on the device;
//!    `err(A)` is logged every 100 updates.
//! 3. **Bench.** For n = 16, 32, 64: warm-up updates on ECG windows, then `BENCH_UPDATES` updates
//!    each between `bench_start()` and `bench_end()` for the instruction-counting plugin.
//!
//! The host (`mote_host::dict_fw`) recomputes all of it with mote-core and compares the bits.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mote_core::check::Fnv1a;
use mote_core::dict::synth::SparseSource;
use mote_core::dict::{OnlineOdl, OrthoDict, StepRule, ortho_error};
use mote_firmware as fw;

fw::hardfault_exits!();

static ECG: &[u8] = include_bytes!("../../../data/ecg/mitbih208_mlii_360hz.u16le");

const N: usize = 32;
const BATCH: usize = 10;
const HOP: usize = 32;
const K: usize = 4;
const CHECKPOINT: u32 = 100;
const SEED: u32 = 1;

const SYNTH_N: usize = 16;
const SYNTH_THETA: f32 = 0.3;
const SYNTH_ITERS: u32 = 600;
const SYNTH_SEED: u32 = 7;

const BENCH_WARMUP: usize = 10;
const BENCH_UPDATES: usize = 8;

fn samples() -> usize {
    ECG.len() / 2
}

/// Sample `i` of the record in millivolts (the host's `data::ecg::adc_to_mv`).
fn mv(i: usize) -> f32 {
    let v = u16::from_le_bytes([ECG[2 * i], ECG[2 * i + 1]]);
    (v as f32 - 1024.0) / 200.0
}

fn fill_window(start: usize, out: &mut [f32]) {
    for (j, o) in out.iter_mut().enumerate() {
        *o = mv(start + j);
    }
}

/// Top-k RMSE over the non-overlapping test windows (same order and f32 sums as the host).
fn test_rmse(dict: &OrthoDict<'_>, train_end: usize) -> f32 {
    let n = dict.n();
    let mut x = [0.0f32; 64];
    let mut scratch = [0.0f32; 128];
    let mut sum = 0.0f32;
    let mut count = 0u32;
    let mut start = train_end;
    while start + n <= samples() {
        fill_window(start, &mut x[..n]);
        match dict.anomaly_score(&x[..n], K, &mut scratch[..2 * n]) {
            Ok(r) => sum += r * r,
            Err(_) => fail("anomaly_score refused a window"),
        }
        count += 1;
        start += n;
    }
    libm::sqrtf(sum / count as f32)
}

fn fail(what: &str) -> ! {
    fw::fail("dict", what)
}

fn ecg_stream(learner: &mut OnlineOdl<N>, batch: &mut [f32; N * BATCH]) {
    let train_end = samples() / 5 * 4;
    defmt::info!(
        "dict config {=u32} {=u32} {=u32} {=u32} {=u32} {=u32} {=u32} {=u32}",
        N as u32,
        BATCH as u32,
        HOP as u32,
        K as u32,
        train_end as u32,
        CHECKPOINT,
        SEED,
        samples() as u32
    );
    let mut filled = 0;
    let mut start = 0;
    let mut last_ckpt = u32::MAX;
    while start + N <= train_end {
        fill_window(start, &mut batch[filled * N..(filled + 1) * N]);
        filled += 1;
        start += HOP;
        if filled == BATCH {
            filled = 0;
            if learner.update(&batch[..]).is_err() {
                fail("update refused a mini-batch");
            }
            let t = learner.iterations();
            if t.is_multiple_of(CHECKPOINT) {
                let r = test_rmse(&learner.dictionary(), train_end);
                defmt::info!("dict ckpt {=u32} {=u32} {=f32}", t, r.to_bits(), r);
                last_ckpt = t;
            }
        }
    }
    let t = learner.iterations();
    if last_ckpt != t {
        let r = test_rmse(&learner.dictionary(), train_end);
        defmt::info!("dict ckpt {=u32} {=u32} {=f32}", t, r.to_bits(), r);
    }
    let mut h = Fnv1a::default();
    learner.atoms().iter().for_each(|v| h.word(v.to_bits()));
    for (i, row) in learner.atoms().chunks_exact(N).enumerate() {
        let mut bits = [0u32; N];
        bits.iter_mut().zip(row).for_each(|(b, v)| *b = v.to_bits());
        defmt::info!("dict row {=u32} {=[?]}", i as u32, &bits[..]);
    }
    defmt::info!(
        "dict done {=u32} {=u32} {=f32}",
        t,
        h.0,
        learner.dictionary().orthogonality_defect()
    );
}

fn synthetic(learner: &mut OnlineOdl<SYNTH_N>, d: &mut [f32; SYNTH_N * SYNTH_N]) {
    defmt::info!(
        "synth config {=u32} {=u32} {=u32} {=u32} {=u32}",
        SYNTH_N as u32,
        SYNTH_THETA.to_bits(),
        BATCH as u32,
        SYNTH_ITERS,
        SYNTH_SEED
    );
    let mut src = SparseSource::new(SYNTH_SEED, SYNTH_THETA);
    if src.orthogonal(SYNTH_N, d).is_err() {
        fail("synthetic dictionary");
    }
    let mut x = [0.0f32; SYNTH_N];
    let mut y = [0.0f32; SYNTH_N * BATCH];
    for _ in 0..SYNTH_ITERS {
        for yb in y.chunks_exact_mut(SYNTH_N) {
            if src.sample(&d[..], &mut x, yb).is_err() {
                fail("synthetic sample");
            }
        }
        if learner.update(&y).is_err() {
            fail("synthetic update");
        }
        let t = learner.iterations();
        if t.is_multiple_of(100) {
            match ortho_error(SYNTH_N, learner.atoms(), &d[..]) {
                Ok(e) => defmt::info!("synth ckpt {=u32} {=u32} {=f32}", t, e.to_bits(), e),
                Err(_) => fail("ortho_error"),
            }
        }
    }
}

/// Warm-up, then `BENCH_UPDATES` measured updates on consecutive ECG windows.
fn bench<const M: usize>(learner: &mut OnlineOdl<M>, batch: &mut [f32]) {
    defmt::info!(
        "bench n {=u32} updates {=u32}",
        M as u32,
        BENCH_UPDATES as u32
    );
    let mut start = 0;
    for u in 0..BENCH_WARMUP + BENCH_UPDATES {
        for w in batch.chunks_exact_mut(M) {
            fill_window(start, w);
            start += HOP;
        }
        let measured = u >= BENCH_WARMUP;
        if measured {
            fw::bench_start();
        }
        let r = learner.update(batch);
        if measured {
            fw::bench_end();
        }
        if r.is_err() {
            fail("bench update");
        }
    }
}

#[entry]
fn main() -> ! {
    let Some(learner) =
        cortex_m::singleton!(: OnlineOdl<N> = OnlineOdl::new(StepRule::NoncvxSfw, SEED))
    else {
        fail("static learner already taken")
    };
    let Some(batch) = cortex_m::singleton!(: [f32; N * BATCH] = [0.0; N * BATCH]) else {
        fail("static batch already taken")
    };
    ecg_stream(learner, batch);

    let Some(synth) = cortex_m::singleton!(: OnlineOdl<SYNTH_N> =
        OnlineOdl::new(StepRule::NoncvxSfw, SYNTH_SEED.wrapping_mul(0x9E37_79B9) | 1))
    else {
        fail("static synthetic learner already taken")
    };
    let Some(d) = cortex_m::singleton!(: [f32; SYNTH_N * SYNTH_N] = [0.0; SYNTH_N * SYNTH_N])
    else {
        fail("static synthetic dictionary already taken")
    };
    synthetic(synth, d);

    let Some(b16) = cortex_m::singleton!(: OnlineOdl<16> = OnlineOdl::new(StepRule::NoncvxSfw, 3))
    else {
        fail("bench learner")
    };
    let Some(buf16) = cortex_m::singleton!(: [f32; 16 * BATCH] = [0.0; 16 * BATCH]) else {
        fail("bench batch")
    };
    bench(b16, buf16);
    let Some(b32) = cortex_m::singleton!(: OnlineOdl<32> = OnlineOdl::new(StepRule::NoncvxSfw, 3))
    else {
        fail("bench learner")
    };
    bench(b32, batch);
    let Some(b64) = cortex_m::singleton!(: OnlineOdl<64> = OnlineOdl::new(StepRule::NoncvxSfw, 3))
    else {
        fail("bench learner")
    };
    let Some(buf64) = cortex_m::singleton!(: [f32; 64 * BATCH] = [0.0; 64 * BATCH]) else {
        fail("bench batch")
    };
    bench(b64, buf64);
    defmt::info!("dict all done");
    fw::exit(0)
}
