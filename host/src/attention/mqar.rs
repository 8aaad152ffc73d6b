//! Multi-query associative recall (Zoology's MQAR, Arora et al. 2023) as streams: key–value
//! pairs at the start of the stream, then queries of those keys at later tokens, each answered
//! *at its own token* by the value its key was paired with. Each token is a vector of
//! `keys + values` channels:
//!
//! ```text
//! tokens 0 … P−1    pair     one-hot(key) ⊕ one-hot(value)   P distinct keys, random values
//! tokens P … T−1    query    one-hot(key) ⊕ 0                 P queries, one per pair key
//!                   filler   all zeros                        every other token
//! ```
//!
//! Every pair key is queried once (as in Zoology), in a random order, at distinct random tokens
//! after the pairs; the last token is always a query, so a stream's [`Series::label`] (its one
//! label, what a last-token classifier reads) is the answer at the last token. The task is
//! scored over every query: accuracy = queries answered correctly / queries.
//!
//! `mqar:LENGTH` has `P = LENGTH / 8` pairs (8, 16, 32, 64 at 64 … 512 tokens) over a key
//! vocabulary of 64 and 16 values (chance 1/16): the pairs grow with the stream, as in Zoology,
//! so that the longer streams ask a fixed-size state to hold more associations, not only to hold
//! them longer. One layout (80 channels, 16 classes) serves every length. `mqar:LENGTH:PAIRS`
//! sets `P` (at most 64, and `2 P ≤ LENGTH`: the pairs and their queries must fit).
//!
//! Unlike Zoology, a key and its value share a token (Zoology puts them on consecutive
//! tokens), so one attention block without residual can solve the task: the query's key must
//! match the pair token's key, whose value it then reads.

use anyhow::{Result, anyhow, ensure};
use mote_core::check::XorShift32;

use crate::data::basicmotions::{Series, SeriesSet};

/// Key vocabulary of `mqar:…` (the most pairs a stream may hold).
pub const KEYS: usize = 64;
/// Value vocabulary of `mqar:…` (the classes).
pub const VALUES: usize = 16;

/// Sizes of the task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MqarConfig {
    /// Tokens per stream.
    pub length: usize,
    /// Key vocabulary.
    pub keys: usize,
    /// Value vocabulary (the classes).
    pub values: usize,
    /// Key–value pairs per stream, also the queries per stream (every pair key is queried).
    pub pairs: usize,
}

impl MqarConfig {
    /// `length` tokens, `length / 8` pairs, [`KEYS`] keys, [`VALUES`] values.
    pub fn new(length: usize) -> Result<Self> {
        Self::with_pairs(length, length / 8)
    }

    /// `length` tokens and `pairs` pairs (checked: see [`MqarConfig::validate`]).
    pub fn with_pairs(length: usize, pairs: usize) -> Result<Self> {
        let cfg = MqarConfig {
            length,
            keys: KEYS,
            values: VALUES,
            pairs,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// At least one pair, distinct keys (`pairs ≤ keys`), and room for the pairs and their
    /// queries (`2 · pairs ≤ length`).
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.pairs >= 1,
            "associative recall: {} tokens hold no pair (LENGTH / 8 = 0 pairs; use at least 16 \
             tokens, or mqar:LENGTH:PAIRS)",
            self.length
        );
        ensure!(
            self.pairs <= self.keys,
            "associative recall: {} pairs need {} distinct keys; the vocabulary has {}",
            self.pairs,
            self.pairs,
            self.keys
        );
        ensure!(
            2 * self.pairs <= self.length,
            "associative recall: {} pairs and their {} queries do not fit in {} tokens",
            self.pairs,
            self.pairs,
            self.length
        );
        ensure!(
            self.values >= 2,
            "associative recall needs at least 2 values"
        );
        Ok(())
    }
}

/// Parses the `--data` value `mqar:LENGTH` or `mqar:LENGTH:PAIRS`; `None` when `data` is not an
/// associative-recall spec at all.
pub fn parse_spec(data: &str) -> Option<Result<MqarConfig>> {
    let rest = data.strip_prefix("mqar:")?;
    let bad = || anyhow!("--data {data}: expected mqar:LENGTH or mqar:LENGTH:PAIRS, e.g. mqar:64");
    let parsed = (|| {
        let mut it = rest.split(':');
        let length: usize = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let cfg = match it.next() {
            None => MqarConfig::new(length),
            Some(p) => MqarConfig::with_pairs(length, p.parse().map_err(|_| bad())?),
        };
        if it.next().is_some() {
            return Err(bad());
        }
        cfg.map_err(|e| anyhow!("--data {data}: {e}"))
    })();
    Some(parsed)
}

/// One query: at token `token` the answer is `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// Token index in the stream.
    pub token: usize,
    /// The value paired with the queried key (a class index).
    pub value: usize,
}

/// Recall streams and each stream's queries, in token order.
#[derive(Clone, Debug, PartialEq)]
pub struct RecallSet {
    /// The streams; each series' label is its last token's answer.
    pub streams: SeriesSet,
    /// `queries[i]`: the queries of stream `i`, by increasing token.
    pub queries: Vec<Vec<Query>>,
}

fn below(rng: &mut XorShift32, n: usize) -> usize {
    // n is small (a vocabulary or a stream length): the modulo bias is negligible
    rng.next_u32() as usize % n
}

/// `n` streams drawn with `seed` (deterministic).
pub fn generate(cfg: &MqarConfig, n: usize, seed: u32) -> Result<RecallSet> {
    cfg.validate()?;
    let (t_len, p) = (cfg.length, cfg.pairs);
    let c = cfg.keys + cfg.values;
    let mut rng = XorShift32(seed.max(1));
    let mut series = Vec::with_capacity(n);
    let mut queries = Vec::with_capacity(n);
    for _ in 0..n {
        let mut values = vec![0.0f32; t_len * c];
        // distinct keys by a partial Fisher–Yates shuffle; pair i sits at token i
        let mut keys: Vec<usize> = (0..cfg.keys).collect();
        let mut pair_values = Vec::with_capacity(p);
        for i in 0..p {
            let j = i + below(&mut rng, cfg.keys - i);
            keys.swap(i, j);
            let v = below(&mut rng, cfg.values);
            pair_values.push(v);
            values[i * c + keys[i]] = 1.0;
            values[i * c + cfg.keys + v] = 1.0;
        }
        // query tokens: the last one, and p − 1 distinct tokens among P … T−2
        let mut places: Vec<usize> = (p..t_len - 1).collect();
        for i in 0..p - 1 {
            let j = i + below(&mut rng, places.len() - i);
            places.swap(i, j);
        }
        let mut tokens: Vec<usize> = places[..p - 1].to_vec();
        tokens.push(t_len - 1);
        tokens.sort_unstable();
        // which pair each query asks for: a random permutation of the pairs
        let mut order: Vec<usize> = (0..p).collect();
        for i in 0..p {
            let j = i + below(&mut rng, p - i);
            order.swap(i, j);
        }
        let mut qs = Vec::with_capacity(p);
        for (&token, &pair) in tokens.iter().zip(&order) {
            values[token * c + keys[pair]] = 1.0;
            qs.push(Query {
                token,
                value: pair_values[pair],
            });
        }
        let label = qs[p - 1].value;
        series.push(Series { values, label });
        queries.push(qs);
    }
    Ok(RecallSet {
        streams: SeriesSet {
            classes: (0..cfg.values).map(|v| format!("v{v}")).collect(),
            channels: c,
            length: t_len,
            series,
        },
        queries,
    })
}

/// Tokens in the training split (2¹⁸, so `2¹⁸ / LENGTH` streams: 4,096 at 64 tokens, 512 at
/// 512) and in the test split (2¹⁶): every length gets the same number of queries (32,768 and
/// 8,192 at `P = LENGTH / 8`) and the same memory.
pub const TRAIN_TOKENS: usize = 1 << 18;
/// See [`TRAIN_TOKENS`].
pub const TEST_TOKENS: usize = 1 << 16;

/// Train (seed 1) and test (seed 2) splits, [`TRAIN_TOKENS`] and [`TEST_TOKENS`] tokens each
/// (at least 8 streams).
pub fn splits(cfg: &MqarConfig) -> Result<(RecallSet, RecallSet)> {
    let n = |tokens: usize| (tokens / cfg.length).max(8);
    Ok((
        generate(cfg, n(TRAIN_TOKENS), 1)?,
        generate(cfg, n(TEST_TOKENS), 2)?,
    ))
}
