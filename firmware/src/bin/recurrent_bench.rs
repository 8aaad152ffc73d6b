//! Instructions per token of the recurrent cells at stream positions 1, 100, 1 000 and 10 000,
//! next to softmax attention with a growing KV cache. Each cell consumes 10 000 pseudo-random
//! tokens; the step at each measured position is wrapped in `bench_start()`/`bench_end()` so the
//! instruction-counting plugin reports one region per (cell, position), in the order logged.
//! Sizes: d_model 32, 2 heads × 16; MoM: 4 gated-delta memories, top-2, plus a shared one;
//! SWA: window 64; Liger: window 64 with RoPE; the KV-cache baseline has no RoPE (as SWA). M4F only (the 10 000-token KV cache needs 2.5 MiB of RAM).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mote_core::check::XorShift32;
use mote_core::kernels::{Linear, Weights};
use mote_core::lmul::Fp8E4M3;
use mote_core::recurrent::{
    Cell, DeltaMemory, Dims, GlaMemory, La2Memory, Liger, MemoryCell, Mom, Rope, Swa,
};
use mote_firmware as fw;

fw::hardfault_exits!();

const D: Dims = Dims {
    d_model: 32,
    heads: 2,
    d_k: 16,
    d_v: 16,
    math: mote_core::recurrent::Math::Libm,
};
const TOKENS: usize = 10_000;
const MARKS: [usize; 4] = [1, 100, 1_000, 10_000];
/// Weight matrices in the pool: q, k, v, o, 5 × (k, v) memories.
const MATS: usize = 14;
const MAT: usize = 32 * 32;
/// State capacity: the KV-cache baseline, 3 + 10 000 × (32 + 32) floats.
const STATE_CAP: usize = 3 + TOKENS * 64;

static mut POOL: [f32; MATS * MAT] = [0.0; MATS * MAT];
static mut POOL_I8: [i8; MATS * MAT] = [0; MATS * MAT];
static mut POOL_E4M3: [u8; MATS * MAT] = [0; MATS * MAT];
static mut STATE: [f32; STATE_CAP] = [0.0; STATE_CAP];
/// Scratch capacity: the baseline's scores over the whole cache plus projections.
const SCRATCH_CAP: usize = TOKENS + 256;
static mut SCRATCH: [f32; SCRATCH_CAP] = [0.0; SCRATCH_CAP];

fn fill(rng: &mut XorShift32, v: &mut [f32], scale: f32) {
    for x in v.iter_mut() {
        *x = (rng.next_f32() * 2.0 - 1.0) * scale;
    }
}

/// `ring = (floats per cached token, window)` for attention cells, `(0, 0)` for recurrent ones.
fn measure<C: Cell>(
    name: &str,
    cell: &C,
    ring: (usize, usize),
    state: &mut [f32],
    scratch: &mut [f32],
) {
    let mut qs = [0i8; 64];
    let mut x = [0f32; 32];
    let mut y = [0f32; 32];
    let mut rng = XorShift32(0xC0FF_EE11);
    let state = &mut state[..cell.state_len()];
    if cell.reset(state).is_err() || cell.scratch_len() > scratch.len() {
        defmt::error!(
            "bench {=str}: needs {=usize} scratch",
            name,
            cell.scratch_len()
        );
        defmt::error!("bench {=str}: buffers too small", name);
        fw::exit(fw::EXIT_CHECK_FAILED);
    }
    defmt::info!(
        "bench {=str} state_floats {=usize} ring_floats_per_token {=usize} window {=usize}",
        name,
        cell.state_len(),
        ring.0,
        ring.1
    );
    let mut mark = 0;
    for t in 1..=TOKENS {
        fill(&mut rng, &mut x, 1.0);
        let measured = mark < MARKS.len() && MARKS[mark] == t;
        if measured {
            fw::bench_start();
        }
        let r = cell.step(&x, state, scratch, &mut qs, &mut y);
        if measured {
            fw::bench_end();
            mark += 1;
        }
        if r.is_err() {
            defmt::error!("bench {=str}: step failed at token {=usize}", name, t);
            fw::exit(fw::EXIT_CHECK_FAILED);
        }
    }
    let mut h = mote_core::check::Fnv1a::default();
    y.iter().for_each(|v| h.word(v.to_bits()));
    defmt::info!("done {=str} output_digest {=u32}", name, h.0);
}

fn lin(w: &'static [f32], rows: usize, cols: usize) -> Linear<'static> {
    Linear {
        rows,
        cols,
        weights: Weights::F32(w),
        bias: None,
    }
}

#[entry]
fn main() -> ! {
    let mut rng = XorShift32(0x5EED_0001);
    // SAFETY: single-threaded firmware, no interrupts touch these; each static is borrowed once
    // here for the rest of the program.
    #[allow(unsafe_code)]
    let (pool, pool_i8, pool_e4m3, state, scratch) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(POOL),
            &mut *core::ptr::addr_of_mut!(POOL_I8),
            &mut *core::ptr::addr_of_mut!(POOL_E4M3),
            &mut *core::ptr::addr_of_mut!(STATE),
            &mut *core::ptr::addr_of_mut!(SCRATCH),
        )
    };
    fill(&mut rng, pool, 0.18);
    for ((w, q), e) in pool
        .iter()
        .zip(pool_i8.iter_mut())
        .zip(pool_e4m3.iter_mut())
    {
        // per-row scales of 1/127 and 1 keep these a faithful cost model (values irrelevant)
        *q = (*w * 127.0 / 0.18) as i8;
        *e = Fp8E4M3::from_f32(*w).0;
    }
    let pool: &'static [f32] = pool;
    let pool_i8: &'static [i8] = pool_i8;
    let pool_e4m3: &'static [u8] = pool_e4m3;
    static SCALE_I8: [f32; 32] = [0.18 / 127.0; 32];
    static SCALE_E4M3: [f32; 32] = [1.0; 32];
    let m = |i: usize| &pool[i * MAT..(i + 1) * MAT];
    let (q, k, v, o) = (
        lin(m(0), 32, 32),
        lin(m(1), 32, 32),
        lin(m(2), 32, 32),
        lin(m(3), 32, 32),
    );
    static DECAY: [f32; 2] = [0.939_413, 0.996_101];

    let la2 = |wq, wk, wv, wo| {
        MemoryCell::new(
            D,
            wq,
            La2Memory {
                wk,
                wv,
                decay: &DECAY,
            },
            wo,
        )
    };
    let Ok(c) = la2(q, k, v, o) else {
        fw::exit(fw::EXIT_CHECK_FAILED)
    };
    measure("la2-f32", &c, (0, 0), state, scratch);
    let qi = |i: usize| Linear {
        rows: 32,
        cols: 32,
        weights: Weights::Int8 {
            q: &pool_i8[i * MAT..(i + 1) * MAT],
            scale: &SCALE_I8,
        },
        bias: None,
    };
    let Ok(c) = la2(qi(0), qi(1), qi(2), qi(3)) else {
        fw::exit(fw::EXIT_CHECK_FAILED)
    };
    measure("la2-int8", &c, (0, 0), state, scratch);
    let qe = |i: usize| Linear {
        rows: 32,
        cols: 32,
        weights: Weights::LmulE4m3 {
            q: &pool_e4m3[i * MAT..(i + 1) * MAT],
            scale: &SCALE_E4M3,
        },
        bias: None,
    };
    let Ok(c) = la2(qe(0), qe(1), qe(2), qe(3)) else {
        fw::exit(fw::EXIT_CHECK_FAILED)
    };
    measure("la2-lmul-e4m3", &c, (0, 0), state, scratch);

    let Ok(c) = MemoryCell::new(D, q, GlaMemory { wk: k, wv: v }, o) else {
        fw::exit(fw::EXIT_CHECK_FAILED)
    };
    measure("gla-liger-f32", &c, (0, 0), state, scratch);

    static A_LOG: [f32; 2] = [0.0, -0.5];
    static DT_BIAS: [f32; 2] = [0.5, -0.2];
    let small = &pool[4 * MAT..4 * MAT + 2 * 32];
    let mems: [DeltaMemory<'static>; 5] = core::array::from_fn(|i| DeltaMemory {
        wk: lin(m(4 + 2 * i), 32, 32),
        wv: lin(m(5 + 2 * i), 32, 32),
        wa: lin(small, 2, 32),
        wb: lin(&pool[5 * MAT..5 * MAT + 64], 2, 32),
        a_log: &A_LOG,
        dt_bias: &DT_BIAS,
    });
    let router = lin(&pool[6 * MAT..6 * MAT + 4 * 32], 4, 32);
    let Ok(c) = Mom::new(D, router, q, &mems[..4], Some(mems[4]), 2, o) else {
        fw::exit(fw::EXIT_CHECK_FAILED)
    };
    measure("mom-gdn-4top2+shared-f32", &c, (0, 0), state, scratch);

    let Ok(c) = Swa::new(D, q, k, v, o, 64, None) else {
        fw::exit(fw::EXIT_CHECK_FAILED)
    };
    measure("swa-w64-f32", &c, (64, 64), state, scratch);
    let rope = Some(Rope { base: 10_000.0 });
    let Ok(c) = Liger::new(D, q, k, v, o, 64, rope) else {
        fw::exit(fw::EXIT_CHECK_FAILED)
    };
    measure("liger-w64-rope-f32", &c, (64, 64), state, scratch);
    // Softmax attention with a growing KV cache: a window as long as the stream never evicts.
    let Ok(c) = Swa::new(D, q, k, v, o, TOKENS, None) else {
        fw::exit(fw::EXIT_CHECK_FAILED)
    };
    measure("softmax-kv-cache-f32", &c, (64, TOKENS), state, scratch);
    fw::exit(0)
}
