//! Training the softmax-attention classifier from scratch, and its float accuracy.

use anyhow::{Result, bail, ensure};
use candle_core::{Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use mote_core::check::XorShift32;
use mote_core::recurrent::Dims;
use serde::Serialize;

use super::model::{AttentionModel, Block, DEFAULT_RMS_EPS, MAX_BLOCKS, PreNorm};
use super::mqar::{Query, RecallSet};
use super::net::{Mixer, Net};
use crate::data::basicmotions::SeriesSet;
use crate::recurrent::classifier::{batch, channel_stats, uniform};

/// Architecture and training hyper-parameters of [`train`].
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AttentionConfig {
    /// Width `d` of the token vectors.
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Query/key and value size per head.
    pub d_head: usize,
    /// Attention blocks (1 to 4).
    pub blocks: usize,
    /// MLP width `F` of pre-norm residual blocks (Llama-style: RMS norms, residual adds, a
    /// ReLU MLP after the attention, a final norm); 0 = attention-only blocks.
    pub ffn: usize,
    /// RoPE base.
    pub rope_theta: f32,
    /// Pooling before the head.
    pub pool: super::model::Pool,
    /// AdamW steps (each on one mini-batch, see `batch`).
    pub epochs: usize,
    /// Series per mini-batch (deterministic shuffled order, see `seed`); 0: the whole training
    /// split at every step (full batch).
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Standardise the inputs per channel during training (then folded into `input_proj`).
    /// Off for associative recall, whose one-hot tokens are already on a unit scale
    /// (standardising a channel that is on in 1 token of 256 multiplies it by about 16 and
    /// saturates the initial attention).
    pub standardize: bool,
    /// Seed of the weight initialisation and of the mini-batch order.
    pub seed: u32,
    /// The token mixer trained through: softmax attention (the family's own), or a linearized
    /// mixer trained from scratch (the native recurrent baseline of the same architecture).
    pub mixer: Mixer,
}

impl Default for AttentionConfig {
    fn default() -> Self {
        AttentionConfig {
            d_model: 16,
            heads: 2,
            d_head: 8,
            blocks: 1,
            ffn: 0,
            rope_theta: 10_000.0,
            pool: super::model::Pool::Mean,
            epochs: 300,
            batch: 0,
            lr: 1e-2,
            standardize: true,
            seed: 1,
            mixer: Mixer::Softmax { window: None },
        }
    }
}

/// Outcome of a training or fine-tuning run.
#[derive(Clone, Debug, Serialize)]
pub struct FitReport {
    /// Training cross-entropy of the last step (its mini-batch; the whole split at full
    /// batch).
    pub final_loss: f32,
    /// Training accuracy (candle forward), over [`Split::scored_on`].
    pub train_accuracy: f64,
    /// Test accuracy (candle forward), over [`Split::scored_on`].
    pub test_accuracy: f64,
}

/// A split of a stream task: its series and, for associative recall, the queries it is scored
/// on (answered at their own tokens) instead of one label per series.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// The series.
    pub ds: SeriesSet,
    /// Per-token targets: `queries[i]` are series `i`'s; `None`: one label per series, read
    /// after the last token.
    pub queries: Option<Vec<Vec<Query>>>,
}

impl Split {
    /// A split scored on one label per series.
    pub fn series(ds: SeriesSet) -> Self {
        Split { ds, queries: None }
    }

    /// An associative-recall split, scored on every query.
    pub fn recall(rs: RecallSet) -> Self {
        Split {
            ds: rs.streams,
            queries: Some(rs.queries),
        }
    }

    /// What an accuracy counts: `"series"` or `"queries"`.
    pub fn scored_on(&self) -> &'static str {
        match self.queries {
            None => "series",
            Some(_) => "queries",
        }
    }

    /// How many series or queries the accuracy is over.
    pub fn scored(&self) -> usize {
        match &self.queries {
            None => self.ds.series.len(),
            Some(q) => q.iter().map(Vec::len).sum(),
        }
    }

    /// The series `idx` (and their queries), in that order.
    pub(crate) fn subset(&self, idx: &[usize]) -> Split {
        Split {
            ds: SeriesSet {
                classes: self.ds.classes.clone(),
                channels: self.ds.channels,
                length: self.ds.length,
                series: idx.iter().map(|&i| self.ds.series[i].clone()).collect(),
            },
            queries: self
                .queries
                .as_ref()
                .map(|q| idx.iter().map(|&i| q[i].clone()).collect()),
        }
    }

    /// Keeps `channels` of every token (all when empty); the queries stay.
    pub fn select_channels(self, channels: &[usize]) -> Result<Split> {
        if channels.is_empty() {
            return Ok(self);
        }
        Ok(Split {
            ds: self.ds.select_channels(channels)?,
            queries: self.queries,
        })
    }
}

/// The train and test splits of `data` for the attention commands: as
/// [`crate::recurrent::streams::load_splits`], except that `mqar:…` splits carry their queries
/// (scored per query, [`crate::attention::mqar`]).
pub fn load_task(
    catalog: &crate::data::Catalog,
    data: Option<&std::path::Path>,
    opts: &crate::data::file::FileOptions,
    channels: &[usize],
) -> Result<(Split, Split)> {
    if let Some(cfg) = data
        .and_then(|d| d.to_str())
        .and_then(super::mqar::parse_spec)
    {
        let (train, test) = super::mqar::splits(&cfg?)?;
        return Ok((
            Split::recall(train).select_channels(channels)?,
            Split::recall(test).select_channels(channels)?,
        ));
    }
    let (train, test) = crate::recurrent::streams::load_splits(catalog, data, opts, channels)?;
    Ok((Split::series(train), Split::series(test)))
}

/// The series of `ds` unstandardised (the model's input projection has the standardisation
/// folded in), and their labels.
pub fn raw_batch(ds: &SeriesSet) -> Result<(Tensor, Tensor)> {
    let c = ds.channels;
    batch(ds, &vec![0.0; c], &vec![1.0; c])
}

/// A split's inputs and targets as tensors.
pub(crate) struct Batch {
    x: Tensor,
    target: Target,
}

enum Target {
    /// One label per series `[B]`.
    Series(Tensor),
    /// The query tokens as rows `b · T + t` of the `[B·T, K]` per-token logits, and their
    /// answers.
    Queries { rows: Tensor, labels: Tensor },
}

impl Batch {
    /// `split`'s series standardised with `mean` and `std` (zeros and ones: raw).
    pub(crate) fn new(split: &Split, mean: &[f32], std: &[f32]) -> Result<Batch> {
        let (x, y) = batch(&split.ds, mean, std)?;
        let target = match &split.queries {
            None => Target::Series(y),
            Some(queries) => {
                let t = split.ds.length;
                let (mut rows, mut labels) = (Vec::new(), Vec::new());
                for (b, qs) in queries.iter().enumerate() {
                    for q in qs {
                        ensure!(
                            q.token < t && q.value < split.ds.classes.len(),
                            "query at token {} with answer {} does not fit {t}-token series of \
                             {} classes",
                            q.token,
                            q.value,
                            split.ds.classes.len()
                        );
                        rows.push((b * t + q.token) as u32);
                        labels.push(q.value as u32);
                    }
                }
                let n = rows.len();
                Target::Queries {
                    rows: Tensor::from_vec(rows, n, &Device::Cpu)?,
                    labels: Tensor::from_vec(labels, n, &Device::Cpu)?,
                }
            }
        };
        Ok(Batch { x, target })
    }

    /// Scored items (series or queries).
    fn scored(&self) -> Result<usize> {
        Ok(match &self.target {
            Target::Series(y) => y.dim(0)?,
            Target::Queries { labels, .. } => labels.dim(0)?,
        })
    }

    /// The logits of the scored items `[N, K]` and their labels `[N]`.
    fn scored_logits(&self, net: &Net, mixer: Mixer) -> Result<(Tensor, &Tensor)> {
        Ok(match &self.target {
            Target::Series(y) => (net.forward(&self.x, mixer)?, y),
            Target::Queries { rows, labels } => (
                gather_rows(&net.forward_tokens(&self.x, mixer)?, rows)?,
                labels,
            ),
        })
    }

    /// Mean cross-entropy over the scored items (per-token logits at the query tokens only
    /// for associative recall).
    pub(crate) fn loss(&self, net: &Net, mixer: Mixer) -> Result<Tensor> {
        let (logits, y) = self.scored_logits(net, mixer)?;
        Ok(candle_nn::loss::cross_entropy(&logits, y)?)
    }

    /// Correctly classified items.
    fn correct(&self, net: &Net, mixer: Mixer) -> Result<usize> {
        let (logits, y) = self.scored_logits(net, mixer)?;
        let pred = logits.argmax(1)?.to_vec1::<u32>()?;
        let y = y.to_vec1::<u32>()?;
        Ok(pred.iter().zip(&y).filter(|(a, b)| a == b).count())
    }
}

/// Rows `rows` of per-token logits `[B, T, K]` flattened to `[B·T, K]`: `[N, K]`.
fn gather_rows(logits: &Tensor, rows: &Tensor) -> Result<Tensor> {
    let (b, t, k) = logits.dims3()?;
    Ok(logits.reshape((b * t, k))?.index_select(rows, 0)?)
}

/// Cross-entropy of per-token logits `[B, T, K]` over the query tokens only: `tokens[i]` is
/// query `i`'s `(series, token)` and `labels[i]` its answer; the mean over the queries of
/// `−log softmax(logits[series, token])[label]`. Every other token carries no loss.
pub fn query_loss(logits: &Tensor, tokens: &[(usize, usize)], labels: &[usize]) -> Result<Tensor> {
    let (_, t, _) = logits.dims3()?;
    ensure!(
        tokens.len() == labels.len() && !tokens.is_empty(),
        "{} query tokens and {} labels: need as many, at least one",
        tokens.len(),
        labels.len()
    );
    let rows: Vec<u32> = tokens.iter().map(|&(b, s)| (b * t + s) as u32).collect();
    let y: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let n = rows.len();
    let rows = Tensor::from_vec(rows, n, &Device::Cpu)?;
    let y = Tensor::from_vec(y, n, &Device::Cpu)?;
    Ok(candle_nn::loss::cross_entropy(
        &gather_rows(logits, &rows)?,
        &y,
    )?)
}

/// Series per evaluation chunk of `split`, so that the quadratic forms stay within a few
/// hundred MB (softmax scores: `H · T²` values per series; GLA's chunked form:
/// `H · T · chunk · d_k`).
fn eval_chunk(dims: Dims, length: usize) -> usize {
    let chunk = match length <= super::net::GLA_WHOLE {
        true => length,
        false => super::net::GLA_CHUNK,
    };
    let per_series = dims.heads * length * (length + chunk * dims.d_k);
    ((1usize << 23) / per_series.max(1)).max(1)
}

/// Accuracy of `model` with `mixer` on `split` (over its series, or its queries), a few series
/// at a time so that long streams fit in memory.
pub fn batched_accuracy(model: &AttentionModel, mixer: Mixer, split: &Split) -> Result<f64> {
    let net = Net::frozen(model)?;
    accuracy(&net, mixer, split)
}

/// Accuracy of `net` with `mixer` on `split`, in chunks (see [`batched_accuracy`]).
pub fn accuracy(net: &Net, mixer: Mixer, split: &Split) -> Result<f64> {
    let c = split.ds.channels;
    let (zeros, ones) = (vec![0.0; c], vec![1.0; c]);
    let (mut correct, mut total) = (0usize, 0usize);
    let idx: Vec<usize> = (0..split.ds.series.len()).collect();
    for part in idx.chunks(eval_chunk(net.dims(), split.ds.length)) {
        let b = Batch::new(&split.subset(part), &zeros, &ones)?;
        correct += b.correct(net, mixer)?;
        total += b.scored()?;
    }
    Ok(correct as f64 / total.max(1) as f64)
}

/// Mean cross-entropy of `net` with `mixer` over every scored item of `split` (raw inputs), in
/// chunks (see [`batched_accuracy`]).
pub(crate) fn mean_loss(net: &Net, mixer: Mixer, split: &Split) -> Result<f32> {
    let c = split.ds.channels;
    let (zeros, ones) = (vec![0.0; c], vec![1.0; c]);
    let (mut sum, mut total) = (0f64, 0usize);
    let idx: Vec<usize> = (0..split.ds.series.len()).collect();
    for part in idx.chunks(eval_chunk(net.dims(), split.ds.length)) {
        let b = Batch::new(&split.subset(part), &zeros, &ones)?;
        let n = b.scored()?;
        sum += b.loss(net, mixer)?.to_scalar::<f32>()? as f64 * n as f64;
        total += n;
    }
    Ok((sum / total.max(1) as f64) as f32)
}

/// Deterministic mini-batches of a split's series: a seeded shuffle of `0..n`, cut into
/// batches of `size` in order and reshuffled when fewer than `size` are left; `size` 0 or
/// `≥ n` is the whole split in order (full batch) at every step.
pub(crate) struct Batches {
    order: Vec<usize>,
    size: usize,
    pos: usize,
    rng: XorShift32,
}

impl Batches {
    /// Batches of `size` series out of `n`, shuffled with `seed`.
    pub(crate) fn new(n: usize, size: usize, seed: u32) -> Self {
        let size = if size == 0 || size >= n { n } else { size };
        Batches {
            order: (0..n).collect(),
            size,
            // past the end: the first call shuffles
            pos: if size == n { 0 } else { n },
            rng: XorShift32(seed.max(1) ^ 0x6D2B_79F5),
        }
    }

    /// Whether every batch is the whole split.
    pub(crate) fn full(&self) -> bool {
        self.size == self.order.len()
    }

    /// The next batch's series indices.
    pub(crate) fn next_batch(&mut self) -> &[usize] {
        if self.full() {
            return &self.order;
        }
        if self.pos + self.size > self.order.len() {
            for i in (1..self.order.len()).rev() {
                let j = self.rng.next_u32() as usize % (i + 1);
                self.order.swap(i, j);
            }
            self.pos = 0;
        }
        let b = &self.order[self.pos..self.pos + self.size];
        self.pos += self.size;
        b
    }
}

/// Checks that two splits describe the same task.
pub fn check_splits(train: &Split, test: &Split) -> Result<()> {
    let (a, b) = (&train.ds, &test.ds);
    if a.channels != b.channels || a.classes != b.classes {
        bail!("train and test sets disagree on channels or classes");
    }
    ensure!(
        !a.series.is_empty() && !b.series.is_empty(),
        "the train and test sets need at least one series each"
    );
    ensure!(
        train.queries.is_some() == test.queries.is_some(),
        "one split is scored per query, the other per series"
    );
    for s in [train, test] {
        if let Some(q) = &s.queries {
            ensure!(
                q.len() == s.ds.series.len(),
                "{} series but queries for {}",
                s.ds.series.len(),
                q.len()
            );
        }
    }
    Ok(())
}

/// Trains the classifier through `cfg.mixer` (causal softmax attention by default), AdamW
/// (weight decay 1e-4) on mini-batches of `cfg.batch` series (full batch by default), with
/// cross-entropy over the series' labels or, for associative recall, over the query tokens;
/// deterministic for a given seed. Inputs are standardised per channel during training and the
/// standardisation is folded into `input_proj` afterwards, so the returned model reads raw
/// samples. `progress` is called after every step with the loss.
pub fn train(
    train_split: &Split,
    test_split: &Split,
    cfg: &AttentionConfig,
    mut progress: impl FnMut(usize, f32),
) -> Result<(AttentionModel, FitReport)> {
    check_splits(train_split, test_split)?;
    let train_ds = &train_split.ds;
    ensure!(
        (1..=MAX_BLOCKS).contains(&cfg.blocks),
        "--blocks {}: the family has 1 to {MAX_BLOCKS} attention blocks",
        cfg.blocks
    );
    let dims = Dims {
        d_model: cfg.d_model,
        heads: cfg.heads,
        d_k: cfg.d_head,
        d_v: cfg.d_head,
        math: mote_core::recurrent::Math::Libm,
    };
    let (c, k, d) = (train_ds.channels, train_ds.classes.len(), cfg.d_model);
    let mut rng = XorShift32(cfg.seed.max(1));
    let blocks = (0..cfg.blocks)
        .map(|_| {
            let (wq, wk, wv, wo) = (
                uniform(&mut rng, dims.qk() * d, d),
                uniform(&mut rng, dims.qk() * d, d),
                uniform(&mut rng, dims.vd() * d, d),
                uniform(&mut rng, d * dims.vd(), dims.vd()),
            );
            // drawn after the attention's weights, so attention-only models keep their draws
            let pre_norm = (cfg.ffn > 0).then(|| PreNorm {
                attn_norm: vec![1.0; d],
                mlp_norm: vec![1.0; d],
                w_up: uniform(&mut rng, cfg.ffn * d, d),
                w_down: uniform(&mut rng, d * cfg.ffn, cfg.ffn),
            });
            Block {
                wq,
                wk,
                wv,
                wo,
                pre_norm,
            }
        })
        .collect();
    let init = AttentionModel {
        channels: c,
        classes: k,
        dims,
        pool: cfg.pool,
        rope_theta: cfg.rope_theta,
        w_in: uniform(&mut rng, d * c, c),
        b_in: vec![0.0; d],
        blocks,
        w_head: uniform(&mut rng, k * d, d),
        b_head: vec![0.0; k],
        final_norm: (cfg.ffn > 0).then(|| vec![1.0; d]),
        rms_eps: DEFAULT_RMS_EPS,
    };
    let (net, vars) = Net::trainable(&init)?;
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let (mean, std) = match cfg.standardize {
        true => channel_stats(train_ds),
        false => (vec![0.0; c], vec![1.0; c]),
    };
    let mut batches = Batches::new(train_ds.series.len(), cfg.batch, cfg.seed);
    let full = match batches.full() {
        true => Some(Batch::new(train_split, &mean, &std)?),
        false => None,
    };
    let mixer = cfg.mixer;
    let mut final_loss = f32::NAN;
    for step in 0..cfg.epochs {
        let part;
        let b = match &full {
            Some(b) => b,
            None => {
                let idx = batches.next_batch().to_vec();
                part = Batch::new(&train_split.subset(&idx), &mean, &std)?;
                &part
            }
        };
        let loss = b.loss(&net, mixer)?;
        opt.backward_step(&loss)?;
        final_loss = loss.to_scalar::<f32>()?;
        progress(step, final_loss);
    }
    let mut model = net.to_model(c, k)?;
    // fold (x − μ)/σ into the input projection: W' = W/σ (per column), b' = b − W' μ
    let w = model.w_in.clone();
    for o in 0..d {
        for i in 0..c {
            model.w_in[o * c + i] = w[o * c + i] / std[i];
            model.b_in[o] -= model.w_in[o * c + i] * mean[i];
        }
    }
    model.validate()?;
    let report = evaluate(&model, mixer, train_split, test_split, final_loss)?;
    Ok((model, report))
}

/// Float accuracies of `model` with `mixer` on both splits.
pub fn evaluate(
    model: &AttentionModel,
    mixer: Mixer,
    train_split: &Split,
    test_split: &Split,
    final_loss: f32,
) -> Result<FitReport> {
    let net = Net::frozen(model)?;
    Ok(FitReport {
        final_loss,
        train_accuracy: accuracy(&net, mixer, train_split)?,
        test_accuracy: accuracy(&net, mixer, test_split)?,
    })
}

/// Accuracy of a model file (`mote-core`'s executor, token by token, what the firmware runs)
/// on `split`: each series' prediction after its last token
/// ([`crate::recurrent::classifier::file_accuracy`]), or for associative recall the fraction
/// of queries whose token's logits pick the answer.
pub fn file_accuracy(m: &mote_core::model::Model<'_>, split: &Split) -> Result<f64> {
    let Some(queries) = &split.queries else {
        return crate::recurrent::classifier::file_accuracy(m, &split.ds);
    };
    let (mut correct, mut total) = (0usize, 0usize);
    for (s, qs) in split.ds.series.iter().zip(queries) {
        let mut next = qs.iter().peekable();
        crate::recurrent::classifier::stream_tokens(m, &s.values, |t, y| {
            while let Some(q) = next.next_if(|q| q.token == t) {
                correct += usize::from(mote_core::kernels::argmax(y) == q.value);
                total += 1;
            }
        })?;
    }
    Ok(correct as f64 / total.max(1) as f64)
}
