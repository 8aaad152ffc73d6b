//! Associative recall as streams (after Zoology's MQAR): a stream of key–value tokens and filler,
//! then one query key at the last token; the answer is the value that key was paired with.
//! Each token is a vector of `keys + values` channels:
//!
//! ```text
//! pair token   one-hot(key) ⊕ one-hot(value)      (`pairs` of them, distinct keys, random places)
//! filler       all zeros
//! query (last) one-hot(key) ⊕ 0                    label = the value paired with that key
//! ```
//!
//! One query per stream (the last token; the model reads it with `--pool last`) instead of
//! MQAR's several, so each stream is one classification; recall needs the model to keep every
//! pair seen so far, which is what a fixed-size recurrent state struggles with as the stream
//! grows.

use anyhow::{Result, ensure};
use mote_core::check::XorShift32;

use crate::data::basicmotions::{Series, SeriesSet};

/// Sizes of the task.
#[derive(Clone, Copy, Debug)]
pub struct MqarConfig {
    /// Tokens per stream, the query included.
    pub length: usize,
    /// Key vocabulary.
    pub keys: usize,
    /// Value vocabulary (the classes).
    pub values: usize,
    /// Key–value pairs per stream.
    pub pairs: usize,
}

impl MqarConfig {
    /// 16 keys, 8 values, 8 pairs per stream of `length` tokens.
    pub fn new(length: usize) -> Self {
        MqarConfig {
            length,
            keys: 16,
            values: 8,
            pairs: 8,
        }
    }
}

fn below(rng: &mut XorShift32, n: usize) -> usize {
    // n is small (a vocabulary or a stream length): the modulo bias is negligible
    rng.next_u32() as usize % n
}

/// `n` streams drawn with `seed`.
pub fn generate(cfg: &MqarConfig, n: usize, seed: u32) -> Result<SeriesSet> {
    ensure!(
        cfg.length >= 2,
        "associative recall: streams of {} tokens, need at least 2 (pairs and the query)",
        cfg.length
    );
    ensure!(
        cfg.pairs >= 1 && cfg.pairs <= cfg.keys && cfg.pairs < cfg.length && cfg.values >= 1,
        "associative recall: {} pairs need distinct keys (have {}) and room before the query \
         (length {})",
        cfg.pairs,
        cfg.keys,
        cfg.length
    );
    let c = cfg.keys + cfg.values;
    let mut rng = XorShift32(seed.max(1));
    let mut series = Vec::with_capacity(n);
    for _ in 0..n {
        let mut values = vec![0.0f32; cfg.length * c];
        // distinct keys and distinct places by partial Fisher–Yates shuffles
        let mut keys: Vec<usize> = (0..cfg.keys).collect();
        let mut places: Vec<usize> = (0..cfg.length - 1).collect();
        let mut pair_values = Vec::with_capacity(cfg.pairs);
        for i in 0..cfg.pairs {
            let j = i + below(&mut rng, cfg.keys - i);
            keys.swap(i, j);
            let j = i + below(&mut rng, places.len() - i);
            places.swap(i, j);
            let v = below(&mut rng, cfg.values);
            pair_values.push(v);
            let t = places[i];
            values[t * c + keys[i]] = 1.0;
            values[t * c + cfg.keys + v] = 1.0;
        }
        let q = below(&mut rng, cfg.pairs);
        values[(cfg.length - 1) * c + keys[q]] = 1.0;
        series.push(Series {
            values,
            label: pair_values[q],
        });
    }
    Ok(SeriesSet {
        classes: (0..cfg.values).map(|v| format!("v{v}")).collect(),
        channels: c,
        length: cfg.length,
        series,
    })
}

/// Train (1,024 streams, seed 1) and test (256 streams, seed 2) splits of `mqar:LENGTH` (with
/// 256 training streams the softmax model memorised them: train 0.555, test 0.125 = chance).
pub fn splits(length: usize) -> Result<(SeriesSet, SeriesSet)> {
    let cfg = MqarConfig::new(length);
    Ok((generate(&cfg, 1024, 1)?, generate(&cfg, 256, 2)?))
}
