//! `mote dict`: online orthogonal dictionary learning (SPEC §4), the synthetic experiment or a
//! real stream, or the same on the firmware under QEMU.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::Config;

use crate::dict::DataKind;
use crate::dict::features::{FeatureMode, dict_model};
use crate::dict::firmware::FirmwareReport;
use crate::dict::plot::{plot_stream, plot_synthetic};
use crate::dict::stream::{
    StreamReport, default_stream_config, load_signal, rows_config, stream_signal,
};
use crate::dict::synthetic::{SyntheticConfig, SyntheticReport, synthetic};
use crate::model::scaling::InputScaling;
use crate::output::out;

/// Arguments of `mote dict`.
#[derive(Clone, Debug, clap::Args)]
pub struct DictArgs {
    /// Dictionary size = window length (default 50 for synthetic, 32 for real data).
    #[arg(long)]
    pub n: Option<usize>,
    /// Data source: `synthetic`, `ecg`, `daphnet`, or a data file (CSV, TSV, .npz, .npy, .ts, IDX; see
    /// the data-file flags), whose rows (samples, or `--window`s of a recording) are the windows:
    /// a row's values, channel-major, must number one of the supported sizes.
    #[arg(long)]
    pub data: String,
    /// Mini-batch size (windows per update).
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Synthetic: Bernoulli activation probability θ.
    #[arg(long, default_value_t = 0.3)]
    pub theta: f32,
    /// Synthetic: online iterations per trial.
    #[arg(long, default_value_t = 3000)]
    pub iters: usize,
    /// Synthetic: seeded trials.
    #[arg(long, default_value_t = 10)]
    pub trials: usize,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// Synthetic: samples of the batch GPM baseline (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    pub gpm_samples: usize,
    /// Synthetic: iterations of the batch GPM baseline.
    #[arg(long, default_value_t = 30)]
    pub gpm_iters: usize,
    /// Real data: coefficients kept for the RMSE (default n/8).
    #[arg(long)]
    pub k: Option<usize>,
    /// Write a plot (.png or .svg): error vs iteration, or RMSE vs k.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Real data: write the learned dictionary as a feature model file (for `mote train --dict`,
    /// `mote quantize --dict`; a data file's min-max scaling comes first).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// What the written feature stage outputs.
    #[arg(long, value_enum, default_value = "top-k")]
    pub mode: FeatureMode,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
    /// Instead: build `firmware/src/bin/dict.rs`, run it under QEMU with instruction counting and
    /// check its ECG and synthetic runs bit for bit against the host (`--data ecg` only).
    #[arg(long)]
    pub firmware: bool,
    /// Board for `--firmware`.
    #[arg(long, value_enum, default_value = "mps2-an386")]
    pub board: crate::device::Board,
}

/// Where `mote dict` learns from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    Kind(DataKind),
    File(PathBuf),
}

impl Source {
    fn of(data: &str) -> Result<Source> {
        use clap::ValueEnum;
        if let Ok(k) = DataKind::from_str(data, false) {
            return Ok(Source::Kind(k));
        }
        if crate::data::file::looks_like_path(data) {
            return Ok(Source::File(PathBuf::from(data)));
        }
        bail!("unknown --data `{data}`: synthetic, ecg, daphnet, or the path of a data file")
    }
}

/// Runs `mote dict`.
pub fn run(args: DictArgs, config: &Config) -> Result<()> {
    let source = Source::of(&args.data)?;
    if let Some(out) = &args.output {
        crate::output::claim_stdout_for_output(out, args.json)?;
        if source == Source::Kind(DataKind::Synthetic) {
            bail!("-o writes a dictionary learned from real data, not the synthetic experiment");
        }
    }
    if args.firmware {
        if source != Source::Kind(DataKind::Ecg) {
            bail!("--firmware runs the ECG firmware: use it with --data ecg");
        }
        let r = crate::dict::firmware::run_on(&config.firmware, &config.catalog, args.board)?;
        return if args.json {
            crate::output::print_json(&r)
        } else {
            out!("{}", render_firmware(&r))?;
            Ok(())
        };
    }
    match source {
        Source::Kind(DataKind::Synthetic) => {
            let cfg = SyntheticConfig {
                n: args.n.unwrap_or(50),
                theta: args.theta,
                batch: args.batch,
                iters: args.iters,
                trials: args.trials,
                seed: args.seed,
                gpm_samples: args.gpm_samples,
                gpm_iters: args.gpm_iters,
            };
            if !(0.0..=1.0).contains(&cfg.theta) {
                bail!("--theta {} is not a probability", cfg.theta);
            }
            let r = synthetic(&cfg)?;
            if let Some(p) = &args.plot {
                plot_synthetic(&r, p)?;
            }
            if args.json {
                crate::output::print_json(&r)
            } else {
                out!("{}", render_synthetic(&r))?;
                Ok(())
            }
        }
        source => {
            let (r, atoms, scaling) = match source {
                Source::Kind(data) => {
                    let (path, signal, unit) = load_signal(&config.catalog, data)?;
                    let mut cfg = default_stream_config(
                        signal.len(),
                        args.n.unwrap_or(32),
                        args.batch,
                        // ecg/daphnet: samples between training windows (default n/4).
                        args.file.hop,
                        args.k,
                    );
                    cfg.seed = args.seed;
                    let name = args.data.clone();
                    let (r, atoms) = stream_signal(name, path, &signal, unit, &cfg)?;
                    (r, atoms, None)
                }
                Source::File(path) => {
                    let l = crate::data::file::load(&path, &args.file.options(!args.json))?;
                    if let Some(n) = args.n.filter(|&n| n != l.train.d) {
                        bail!(
                            "{}: a row holds {} values (channel-major), so the dictionary has                              {} atoms, not --n {n} (choose --window and --features)",
                            path.display(),
                            l.train.d,
                            l.train.d
                        );
                    }
                    let cfg = rows_config(&l.train, args.batch, args.k, args.seed);
                    let signal = [l.train.features.as_slice(), &l.test.features].concat();
                    let (r, atoms) =
                        stream_signal(args.data.clone(), path, &signal, "scaled to [0, 1]", &cfg)?;
                    let scaling = InputScaling::of(&l.scaling, l.train.d);
                    (r, atoms, Some(scaling))
                }
            };
            if let Some(out) = &args.output {
                let bytes =
                    dict_model(&atoms, r.config.n, args.mode, r.config.k, scaling.as_ref())?;
                crate::output::write_atomic(out, &bytes)?;
                if !args.json {
                    crate::output::outln!(
                        "wrote {} ({} bytes: {}dictionary of {} atoms, {:?} with k = {})",
                        out.display(),
                        bytes.len(),
                        if scaling.is_some() {
                            "min-max scaling, "
                        } else {
                            ""
                        },
                        r.config.n,
                        args.mode,
                        r.config.k
                    )?;
                }
            }
            if let Some(p) = &args.plot {
                plot_stream(&r, p)?;
            }
            if args.json {
                crate::output::print_json(&r)
            } else {
                out!("{}", render_stream(&r))?;
                Ok(())
            }
        }
    }
}

/// Human-readable summary of the synthetic experiment.
pub fn render_synthetic(r: &SyntheticReport) -> String {
    let c = &r.config;
    let mut s = format!(
        "synthetic: n = {}, θ = {}, batch {}, {} iterations, {} trials (seeds {}..{}); initial err {:.3}\n",
        c.n,
        c.theta,
        c.batch,
        c.iters,
        c.trials,
        c.seed,
        c.seed as usize + c.trials - 1,
        r.initial_err
    );
    s += "method        err@100    err@300    err@1000   err@final  iters→1e-2 (median)  trials≤1e-2  µs/update\n";
    for m in [&r.noncvx_sfw, &r.sfw] {
        // A column past the last iteration stays empty rather than repeating the last value.
        let at = |t: usize| {
            (t <= c.iters)
                .then(|| m.median_err.get(t - 1))
                .flatten()
                .map_or("-".into(), |e| format!("{e:.2e}"))
        };
        s += &format!(
            "{:<13} {:<10} {:<10} {:<10} {:<10} {:<20} {:>2}/{:<9} {:.1}\n",
            m.method,
            at(100),
            at(300),
            at(1000),
            format!("{:.2e}", m.median_final_err),
            m.median_iters_to_1e_2
                .map_or("not reached".into(), |i| i.to_string()),
            m.trials_reaching_1e_2,
            c.trials,
            m.us_per_update
        );
    }
    if let Some(g) = &r.gpm {
        let pick = |i: usize| g.err.get(i - 1).map_or("-".into(), |e| format!("{e:.2e}"));
        s += &format!(
            "batch GPM ({} samples, trial 0): err after 1/5/10/{} iterations: {} {} {} {}\n",
            g.samples,
            g.err.len(),
            pick(1),
            pick(5),
            pick(10),
            pick(g.err.len())
        );
    }
    s
}

/// Human-readable summary of a real-data run.
pub fn render_stream(r: &StreamReport) -> String {
    let c = &r.config;
    let mut s = format!(
        "{} ({}): n = {}, batch {}, hop {}, {} updates on samples [0, {}), {} test windows\n",
        r.data,
        r.path.display(),
        c.n,
        c.batch,
        c.hop,
        r.updates,
        c.train_end,
        r.test_windows
    );
    s += &format!(
        "test RMSE with top-{} of {} coefficients ({}): learned {:.4}, DCT {:.4}  (signal RMS {:.4}; {:.1} µs/update; |AAᵀ−I|max {:.1e})\n",
        c.k,
        c.n,
        r.unit,
        r.rmse_learned,
        r.rmse_dct,
        r.test_rms,
        r.us_per_update,
        r.orthogonality_defect
    );
    s += "k      learned    DCT\n";
    for k in [1, 2, 4, 8, 16, 32].into_iter().filter(|&k| k <= c.n) {
        s += &format!(
            "{k:<6} {:<10.4} {:.4}\n",
            r.rmse_vs_k_learned[k - 1],
            r.rmse_vs_k_dct[k - 1]
        );
    }
    s += "learning curve (iteration: test RMSE):";
    for cp in &r.checkpoints {
        s += &format!(" {}: {:.4}", cp.iteration, cp.rmse);
    }
    s.push('\n');
    s
}

/// Human-readable summary.
pub fn render_firmware(r: &FirmwareReport) -> String {
    let mut s = format!(
        "{} ({}): streamed ECG n = {}, batch {}, hop {}: {} values bit-identical to the host\n",
        r.board.machine(),
        r.board.cpu(),
        r.config.n,
        r.config.batch,
        r.config.hop,
        r.values_compared
    );
    s += "ECG test RMSE (top-k, mV) by update:";
    for c in &r.checkpoints {
        s += &format!(" {}: {:.4}", c.iteration, c.rmse);
    }
    s += &format!(
        "\nfinal dictionary digest {:#010x}, |AAᵀ−I|max {:.1e}\nsynthetic err (n = 16) by update:",
        r.digest, r.orthogonality_defect
    );
    for (t, e) in &r.synthetic_err {
        s += &format!(" {t}: {e:.2e}");
    }
    s += "\ninstructions per update (batch 10):\n";
    for i in &r.insns_per_update {
        s += &format!(
            "  n = {:<3} mean {:>10.0}  min {:>9}  max {:>9}  ({} updates)\n",
            i.n, i.mean, i.min, i.max, i.updates
        );
    }
    if let Some(t) = r.total_insns {
        s += &format!("whole run: {t} instructions\n");
    }
    s
}
