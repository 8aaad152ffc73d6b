//! Streams the BasicMotions test windows through the trained recurrent classifier (one
//! Lightning Attention-2 layer) token by token, with constant memory, and logs per window the
//! FNV-1a digest of every token's cell output bits and the logit bits. The host
//! (`mote recurrent-qemu`, `tests/`) recomputes every line with the simulator and compares bits.
//!
//! The model and the windows come from the blob named by `MOTE_REC_BLOB` at build time (see
//! `mote_host::recurrent::classifier::to_blob` for the layout).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mote_core::check::Fnv1a;
use mote_core::kernels::{Linear, Weights};
use mote_core::recurrent::{Dims, La2Memory, MemoryCell, StreamClassifier};
use mote_firmware as fw;

fw::hardfault_exits!();

#[repr(C, align(4))]
struct Aligned<const N: usize>([u8; N]);

const BLOB_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rec_blob.bin"));
static BLOB: Aligned<{ BLOB_BYTES.len() }> =
    Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/rec_blob.bin")));

/// Capacity of the fixed buffers (the trained model needs far less; checked at start).
const STATE_CAP: usize = 2048;
const SCRATCH_CAP: usize = 1024;
const QS_CAP: usize = 256;
const CLASSES_CAP: usize = 16;

/// A little-endian word reader over the 4-byte-aligned blob.
struct Cursor {
    at: usize,
}

impl Cursor {
    fn bytes(&mut self, n: usize) -> Option<&'static [u8]> {
        let b = BLOB.0.get(self.at..self.at.checked_add(n)?)?;
        self.at += n.div_ceil(4) * 4;
        Some(b)
    }
    fn word(&mut self) -> Option<usize> {
        let b = self.bytes(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn f32s(&mut self, n: usize) -> Option<&'static [f32]> {
        bytemuck::try_cast_slice(self.bytes(n.checked_mul(4)?)?).ok()
    }
    fn linear(&mut self, scheme: usize) -> Option<Linear<'static>> {
        let (rows, cols, has_bias) = (self.word()?, self.word()?, self.word()?);
        let n = rows.checked_mul(cols)?;
        let weights = match scheme {
            0 => Weights::F32(self.f32s(n)?),
            1 => {
                let q = bytemuck::cast_slice(self.bytes(n)?);
                Weights::Int8 {
                    q,
                    scale: self.f32s(rows)?,
                }
            }
            2 => {
                let q = self.bytes(n)?;
                Weights::LmulE4m3 {
                    q,
                    scale: self.f32s(rows)?,
                }
            }
            _ => return None,
        };
        let bias = if has_bias == 1 {
            Some(self.f32s(rows)?)
        } else {
            None
        };
        Some(Linear {
            rows,
            cols,
            weights,
            bias,
        })
    }
}

fn fail(what: &str) -> ! {
    defmt::error!("recurrent: {}", what);
    fw::exit(fw::EXIT_CHECK_FAILED)
}

#[entry]
fn main() -> ! {
    if BLOB.0.is_empty() {
        fail("no model embedded: build with MOTE_REC_BLOB=<blob from `mote recurrent-train`>");
    }
    let mut c = Cursor { at: 0 };
    let header: Option<[usize; 8]> = (|| {
        let mut h = [0usize; 8];
        for w in h.iter_mut() {
            *w = c.word()?;
        }
        Some(h)
    })();
    let Some([magic, scheme, channels, d_model, heads, d_k, d_v, classes]) = header else {
        fail("blob header truncated")
    };
    if magic as u32 != u32::from_le_bytes(*b"MRC1") {
        fail("blob magic is not MRC1");
    }
    let dims = Dims {
        d_model,
        heads,
        d_k,
        d_v,
    };
    let layers = (|| {
        Some([
            c.linear(scheme)?,
            c.linear(scheme)?,
            c.linear(scheme)?,
            c.linear(scheme)?,
            c.linear(scheme)?,
            c.linear(scheme)?,
        ])
    })();
    let Some([input, wq, wk, wv, wo, head]) = layers else {
        fail("blob weights truncated")
    };
    let Some(decay) = c.f32s(heads) else {
        fail("blob decays truncated")
    };
    let mem = La2Memory { wk, wv, decay };
    let Ok(cell) = MemoryCell::new(dims, wq, mem, wo) else {
        fail("cell shapes")
    };
    let Ok(model) = StreamClassifier::new(input, cell, head) else {
        fail("classifier shapes")
    };
    if model.state_len() > STATE_CAP
        || model.scratch_len() > SCRATCH_CAP
        || model.qscratch_len() > QS_CAP
        || classes > CLASSES_CAP
        || d_model > SCRATCH_CAP
    {
        fail("model larger than the firmware's buffers");
    }
    let (Some(n_series), Some(length)) = (c.word(), c.word()) else {
        fail("blob series header")
    };
    defmt::info!(
        "model scheme {=usize} d {=usize} heads {=usize} dk {=usize} dv {=usize} classes {=usize} state {=usize} floats; {=usize} series x {=usize}",
        scheme,
        d_model,
        heads,
        d_k,
        d_v,
        classes,
        model.state_len(),
        n_series,
        length
    );
    let mut state = [0f32; STATE_CAP];
    let mut scratch = [0f32; SCRATCH_CAP];
    let mut qs = [0i8; QS_CAP];
    let mut y = [0f32; SCRATCH_CAP];
    let mut logits = [0f32; CLASSES_CAP];
    let state = &mut state[..model.state_len()];
    let y = &mut y[..d_model];
    let logits = &mut logits[..classes];
    let mut correct = 0u32;
    for i in 0..n_series {
        let (Some(label), Some(values)) = (c.word(), c.f32s(length * channels)) else {
            fail("blob series truncated")
        };
        if model.reset(state).is_err() {
            fail("reset");
        }
        let mut digest = Fnv1a::default();
        for x in values.chunks_exact(channels) {
            if model.step(x, state, &mut scratch, &mut qs, y).is_err() {
                fail("step");
            }
            y.iter().for_each(|v| digest.word(v.to_bits()));
        }
        if model
            .logits(state, length as u32, &mut scratch, &mut qs, logits)
            .is_err()
        {
            fail("logits");
        }
        let mut pred = 0;
        for (k, &l) in logits.iter().enumerate() {
            if l > logits[pred] {
                pred = k;
            }
        }
        correct += u32::from(pred == label);
        let mut bits = [0u32; CLASSES_CAP];
        for (b, l) in bits.iter_mut().zip(logits.iter()) {
            *b = l.to_bits();
        }
        defmt::info!(
            "series {=usize} label {=usize} pred {=usize} digest {=u32} logits {=[?]}",
            i,
            label,
            pred,
            digest.0,
            &bits[..classes]
        );
    }
    defmt::info!("accuracy {=u32}/{=usize}", correct, n_series);
    fw::exit(0)
}
