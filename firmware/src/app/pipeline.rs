//! Samples -> model inputs -> model -> decisions.
//!
//! - A **stateful** model (recurrent layers, mean pool) takes one sample per token: its state is
//!   reset at the first sample of every window of `window` samples (by sequence number, so a
//!   dropped sample leaves its window one token shorter, never shifted), and the decision is the
//!   output after the window's last sample. Constant memory: nothing but the state is kept.
//! - A **stateless** model takes a sliding window of the last `window` received samples
//!   (time-major, `window × 3` inputs) every `hop` received samples.
//!
//! Each decision carries FNV-1a digests of every input and output bit it saw, so the host's
//! simulator, fed the same samples, can check the device bit for bit.

use mote_core::check::Fnv1a;
use mote_core::kernels::argmax;
use mote_core::model::{ExecError, Layers, Workspace};
use mote_core::sensor::to_model_units;

use super::config::IO;
use super::sampling::Sample;

/// Axes per sample.
pub const CHANNELS: usize = 3;

/// One decision.
#[derive(Clone, Copy, Debug)]
pub struct Decision {
    /// Index of the window (stateful: `seq / window`; stateless: the count of decisions so far).
    pub window: u32,
    /// Samples that went into it.
    pub tokens: u32,
    /// The predicted class (first maximum of the outputs).
    pub class: usize,
    /// Digest of the bits of every model input of the window.
    pub inputs: u32,
    /// Digest of the bits of every model output of the window (every token's, when stateful).
    pub outputs: u32,
    /// The model's last outputs of the window (the first `len`).
    logits: [f32; IO],
    len: usize,
}

impl Decision {
    fn new(window: u32, tokens: u32, y: &[f32], inputs: u32, outputs: u32) -> Self {
        let mut logits = [0.0; IO];
        let len = y.len().min(IO);
        logits[..len].copy_from_slice(&y[..len]);
        Decision {
            window,
            tokens,
            class: argmax(y),
            inputs,
            outputs,
            logits,
            len,
        }
    }

    /// The model's outputs at the window's last sample (the logits of the decision).
    pub fn logits(&self) -> &[f32] {
        &self.logits[..self.len]
    }
}

/// The pipeline's buffers, borrowed from statics sized for the embedded model.
pub struct Buffers<'w> {
    /// The model's workspace.
    pub ws: Workspace<'w>,
    /// One model input.
    pub x: &'w mut [f32],
    /// One model output.
    pub y: &'w mut [f32],
    /// Stateless models: the last `window` samples in model units (`window × 3`), a ring.
    pub ring: &'w mut [f32],
}

/// The streaming pipeline.
pub struct Pipeline<'m, 'b, 'w> {
    layers: Layers<'m, 'b>,
    buf: Buffers<'w>,
    stateful: bool,
    window: u32,
    hop: u32,
    /// Stateful: the open window.
    open: Option<u32>,
    tokens: u32,
    inputs: Fnv1a,
    outputs: Fnv1a,
    /// Stateless: samples received, next ring slot, decisions made.
    received: u32,
    slot: usize,
    decisions: u32,
}

impl<'m, 'b, 'w> Pipeline<'m, 'b, 'w> {
    /// A pipeline over `layers` (`stateful` as the model says) with windows of `window` samples
    /// and, for stateless models, a decision every `hop` samples.
    pub fn new(
        layers: Layers<'m, 'b>,
        buf: Buffers<'w>,
        stateful: bool,
        window: u32,
        hop: u32,
    ) -> Self {
        Self {
            layers,
            buf,
            stateful,
            window: window.max(1),
            hop: hop.max(1),
            open: None,
            tokens: 0,
            inputs: Fnv1a::default(),
            outputs: Fnv1a::default(),
            received: 0,
            slot: 0,
            decisions: 0,
        }
    }

    /// Feeds one sample; returns the decisions it completed (a window whose last samples were
    /// dropped closes when a later window's sample arrives, so there can be two).
    pub fn push(&mut self, s: Sample) -> Result<[Option<Decision>; 2], ExecError> {
        let mut v = [0.0f32; CHANNELS];
        for (v, &mg) in v.iter_mut().zip(&s.milli_g) {
            *v = to_model_units(mg);
        }
        if self.stateful {
            self.push_token(s.seq, &v)
        } else {
            Ok([self.push_window(&v)?, None])
        }
    }

    fn push_token(
        &mut self,
        seq: u32,
        v: &[f32; CHANNELS],
    ) -> Result<[Option<Decision>; 2], ExecError> {
        let w = seq / self.window;
        let mut done = [None, None];
        if self.open.is_some_and(|o| o != w) {
            done[0] = self.close();
        }
        if self.open.is_none() {
            self.layers.reset(&mut self.buf.ws)?;
            self.open = Some(w);
            self.tokens = 0;
            self.inputs = Fnv1a::default();
            self.outputs = Fnv1a::default();
        }
        self.buf.x.copy_from_slice(v);
        v.iter().for_each(|x| self.inputs.word(x.to_bits()));
        self.layers.step(self.buf.x, &mut self.buf.ws, self.buf.y)?;
        self.buf
            .y
            .iter()
            .for_each(|y| self.outputs.word(y.to_bits()));
        self.tokens += 1;
        if seq % self.window == self.window - 1 {
            let d = self.close();
            if done[0].is_none() {
                done[0] = d;
            } else {
                done[1] = d;
            }
        }
        Ok(done)
    }

    /// Closes the open window (stateful), returning its decision.
    pub fn close(&mut self) -> Option<Decision> {
        let w = self.open.take()?;
        Some(Decision::new(
            w,
            self.tokens,
            self.buf.y,
            self.inputs.0,
            self.outputs.0,
        ))
    }

    fn push_window(&mut self, v: &[f32; CHANNELS]) -> Result<Option<Decision>, ExecError> {
        let slots = self.window as usize;
        let at = self.slot * CHANNELS;
        self.buf.ring[at..at + CHANNELS].copy_from_slice(v);
        self.slot = (self.slot + 1) % slots;
        self.received = self.received.saturating_add(1);
        if self.received < self.window || !(self.received - self.window).is_multiple_of(self.hop) {
            return Ok(None);
        }
        // Oldest sample first (the ring's next slot is the oldest), channel-major: `x[c·W + t]`,
        // the layout of a `.ts` case and of a `--window` row, which the model was trained on.
        let split = self.slot * CHANNELS;
        let (recent, oldest) = self.buf.ring.split_at(split);
        let samples = oldest
            .chunks_exact(CHANNELS)
            .chain(recent.chunks_exact(CHANNELS));
        for (t, s) in samples.enumerate() {
            for (c, &v) in s.iter().enumerate() {
                if let Some(x) = self.buf.x.get_mut(c * slots + t) {
                    *x = v;
                }
            }
        }
        let mut inputs = Fnv1a::default();
        self.buf.x.iter().for_each(|x| inputs.word(x.to_bits()));
        self.layers.step(self.buf.x, &mut self.buf.ws, self.buf.y)?;
        let mut outputs = Fnv1a::default();
        self.buf.y.iter().for_each(|y| outputs.word(y.to_bits()));
        let d = Decision::new(self.decisions, self.window, self.buf.y, inputs.0, outputs.0);
        self.decisions += 1;
        Ok(Some(d))
    }
}
