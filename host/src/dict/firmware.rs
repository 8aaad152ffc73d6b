//! The dictionary-learning firmware (`firmware/src/bin/dict.rs`), checked on the host: the run is
//! repeated with mote-core from the configuration the firmware logs, and every logged number
//! (ECG test RMSE checkpoints, the final dictionary, the synthetic `err` checkpoints) must match
//! bit for bit. The instruction counts of the bracketed updates give instructions per update.

use anyhow::{Context, Result, bail, ensure};
use mote_core::check::Fnv1a;
use mote_core::dict::synth::SparseSource;
use mote_core::dict::{OnlineOdl, StepRule, ortho_error};
use serde::Serialize;

use crate::data::Catalog;
use crate::device::qemu::LogLine;
use crate::device::{Board, Firmware};
use crate::dict::stream::{Checkpoint, StreamConfig, learn_stream};

/// Instructions per update for one dictionary size.
#[derive(Clone, Debug, Serialize)]
pub struct InsnsPerUpdate {
    /// Dictionary size.
    pub n: usize,
    /// Measured updates.
    pub updates: usize,
    /// Mean instructions per update.
    pub mean: f64,
    /// Fewest.
    pub min: u64,
    /// Most.
    pub max: u64,
}

/// The outcome of the firmware check.
#[derive(Clone, Debug, Serialize)]
pub struct FirmwareReport {
    /// Board.
    pub board: Board,
    /// The ECG stream settings the firmware logged.
    pub config: StreamConfig,
    /// ECG test RMSE checkpoints (device values; equal to the host's).
    pub checkpoints: Vec<Checkpoint>,
    /// Synthetic `err(A)` checkpoints (iteration, device value; equal to the host's).
    pub synthetic_err: Vec<(u32, f32)>,
    /// FNV-1a digest of the final dictionary's bits.
    pub digest: u32,
    /// Largest |A Aᵀ − I| entry of the device's final dictionary.
    pub orthogonality_defect: f32,
    /// Values compared bit for bit (all equal, or the check fails).
    pub values_compared: usize,
    /// Instructions per update (M4F, QEMU TCG count; a proxy for cycles).
    pub insns_per_update: Vec<InsnsPerUpdate>,
    /// Total guest instructions of the whole run.
    pub total_insns: Option<u64>,
}

/// What the firmware logged, parsed.
#[derive(Debug, Default)]
struct Parsed {
    config: Option<StreamConfig>,
    samples: usize,
    ckpts: Vec<(u32, u32)>,
    rows: Vec<Vec<u32>>,
    done: Option<(u32, u32, f32)>,
    synth_config: Option<(usize, f32, usize, u32, u32)>,
    synth: Vec<(u32, u32)>,
    bench: Vec<(usize, usize)>,
}

fn parse(log: &[LogLine]) -> Result<Parsed> {
    let mut p = Parsed::default();
    for line in log {
        let m = line.message.as_str();
        // The third field of checkpoint lines is the human-readable float: skip it.
        if let Some(r) = m.strip_prefix("dict config ") {
            let v = crate::device::qemu::log_numbers(r)?;
            ensure!(v.len() == 8, "`{m}`: expected 8 fields");
            p.config = Some(StreamConfig {
                n: v[0] as usize,
                batch: v[1] as usize,
                hop: v[2] as usize,
                k: v[3] as usize,
                train_end: v[4] as usize,
                checkpoint_every: v[5] as usize,
                seed: v[6],
            });
            p.samples = v[7] as usize;
        } else if let Some(r) = m.strip_prefix("dict ckpt ") {
            let v = crate::device::qemu::log_numbers(r.rsplit_once(' ').map_or(r, |x| x.0))?;
            ensure!(v.len() == 2, "`{m}`: expected iteration and bits");
            p.ckpts.push((v[0], v[1]));
        } else if let Some(r) = m.strip_prefix("dict row ") {
            let v = crate::device::qemu::log_numbers(r)?;
            ensure!(!v.is_empty(), "`{m}`: empty row");
            ensure!(v[0] as usize == p.rows.len(), "`{m}`: rows out of order");
            p.rows.push(v[1..].to_vec());
        } else if let Some(r) = m.strip_prefix("dict done ") {
            let (head, defect) = r.rsplit_once(' ').context("dict done line")?;
            let v = crate::device::qemu::log_numbers(head)?;
            ensure!(v.len() == 2, "`{m}`: expected updates and digest");
            let defect: f32 = defect
                .parse()
                .with_context(|| format!("`{m}`: orthogonality defect"))?;
            p.done = Some((v[0], v[1], defect));
        } else if let Some(r) = m.strip_prefix("synth config ") {
            let v = crate::device::qemu::log_numbers(r)?;
            ensure!(v.len() == 5, "`{m}`: expected 5 fields");
            p.synth_config = Some((
                v[0] as usize,
                f32::from_bits(v[1]),
                v[2] as usize,
                v[3],
                v[4],
            ));
        } else if let Some(r) = m.strip_prefix("synth ckpt ") {
            let v = crate::device::qemu::log_numbers(r.rsplit_once(' ').map_or(r, |x| x.0))?;
            ensure!(v.len() == 2, "`{m}`: expected iteration and bits");
            p.synth.push((v[0], v[1]));
        } else if let Some(r) = m.strip_prefix("bench n ") {
            let v = crate::device::qemu::log_numbers(&r.replace("updates", " "))?;
            ensure!(v.len() == 2, "`{m}`: expected size and updates");
            p.bench.push((v[0] as usize, v[1] as usize));
        } else if m == "dict all done" {
        } else {
            bail!("unexpected firmware line `{m}`");
        }
    }
    Ok(p)
}

/// Host recomputation of the synthetic run, exactly as the firmware does it.
fn synthetic_host<const N: usize>(
    theta: f32,
    batch: usize,
    iters: u32,
    seed: u32,
) -> Result<Vec<(u32, u32)>> {
    let mut src = SparseSource::new(seed, theta);
    let mut d = vec![0.0f32; N * N];
    src.orthogonal(N, &mut d)?;
    let mut learner = OnlineOdl::<N>::new(StepRule::NoncvxSfw, seed.wrapping_mul(0x9E37_79B9) | 1);
    let mut x = vec![0.0f32; N];
    let mut y = vec![0.0f32; N * batch];
    let mut out = Vec::new();
    for _ in 0..iters {
        for yb in y.chunks_exact_mut(N) {
            src.sample(&d, &mut x, yb)?;
        }
        learner.update(&y)?;
        let t = learner.iterations();
        if t.is_multiple_of(100) {
            out.push((t, ortho_error(N, learner.atoms(), &d)?.to_bits()));
        }
    }
    Ok(out)
}

/// Compares a device log with the host's recomputation. Returns the number of values compared.
fn check(p: &Parsed, signal_mv: &[f32]) -> Result<usize> {
    let cfg = p.config.as_ref().context("no `dict config` line")?;
    ensure!(
        p.samples == signal_mv.len(),
        "the firmware embeds {} samples, the host file has {}",
        p.samples,
        signal_mv.len()
    );
    let host = learn_stream(signal_mv, cfg)?;
    let mut compared = 0;
    ensure!(
        host.checkpoints.len() == p.ckpts.len(),
        "{} ECG checkpoints on the device, {} on the host",
        p.ckpts.len(),
        host.checkpoints.len()
    );
    for (h, &(t, bits)) in host.checkpoints.iter().zip(&p.ckpts) {
        ensure!(
            h.iteration == t && h.rmse.to_bits() == bits,
            "ECG checkpoint: device (iteration {t}, RMSE {}) vs host (iteration {}, RMSE {})",
            f32::from_bits(bits),
            h.iteration,
            h.rmse
        );
        compared += 1;
    }
    let n = cfg.n;
    ensure!(
        p.rows.len() == n && p.rows.iter().all(|r| r.len() == n),
        "the device logged {} dictionary rows (want {n} of {n})",
        p.rows.len()
    );
    let mut mismatched = 0usize;
    let mut max_diff = 0.0f32;
    for (d, h) in p.rows.iter().flatten().zip(&host.atoms) {
        if *d != h.to_bits() {
            mismatched += 1;
            max_diff = max_diff.max((f32::from_bits(*d) - h).abs());
        }
        compared += 1;
    }
    ensure!(
        mismatched == 0,
        "final dictionaries differ in {mismatched} of {} entries (largest |Δ| = {max_diff:e})",
        n * n
    );
    let mut h = Fnv1a::default();
    host.atoms.iter().for_each(|v| h.word(v.to_bits()));
    let (updates, digest, _) = p.done.context("no `dict done` line")?;
    ensure!(
        updates as usize == host.updates && digest == h.0,
        "device: {updates} updates, digest {digest:#010x}; host: {} updates, digest {:#010x}",
        host.updates,
        h.0
    );
    let (sn, theta, batch, iters, seed) = p.synth_config.context("no `synth config` line")?;
    let host_synth = crate::dict::with_n!(sn, synthetic_host(theta, batch, iters, seed))?;
    ensure!(
        host_synth == p.synth,
        "synthetic err checkpoints differ: device {:?}, host {:?}",
        p.synth,
        host_synth
    );
    compared += host_synth.len();
    Ok(compared)
}

/// Builds and runs the firmware on `board` with instruction counting and checks it on the host.
pub fn run_on(fw: &Firmware, catalog: &Catalog, board: Board) -> Result<FirmwareReport> {
    let elf = fw.build(board, "dict", &[])?;
    let (run, regions) = fw.count_regions(&elf, board)?;
    let p = parse(&run.log).context("parsing the dict firmware log")?;
    let signal = crate::data::ecg::load_mv(&crate::data::ecg::path_in(&catalog.data_dir()?))?;
    let values_compared = check(&p, &signal)?;
    let mut insns = Vec::new();
    let mut rest = &regions[..];
    for &(n, updates) in &p.bench {
        ensure!(
            rest.len() >= updates,
            "{} instruction regions for {} bench sizes",
            regions.len(),
            p.bench.len()
        );
        let (mine, tail) = rest.split_at(updates);
        rest = tail;
        insns.push(InsnsPerUpdate {
            n,
            updates,
            mean: mine.iter().sum::<u64>() as f64 / updates.max(1) as f64,
            min: mine.iter().copied().min().unwrap_or(0),
            max: mine.iter().copied().max().unwrap_or(0),
        });
    }
    let total_insns = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("insncount: total="))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok());
    let (_, digest, orthogonality_defect) = p.done.context("no `dict done` line")?;
    Ok(FirmwareReport {
        board,
        config: p.config.clone().context("no config")?,
        checkpoints: p
            .ckpts
            .iter()
            .map(|&(iteration, bits)| Checkpoint {
                iteration,
                rmse: f32::from_bits(bits),
            })
            .collect(),
        synthetic_err: p
            .synth
            .iter()
            .map(|&(t, b)| (t, f32::from_bits(b)))
            .collect(),
        digest,
        orthogonality_defect,
        values_compared,
        insns_per_update: insns,
        total_insns,
    })
}
