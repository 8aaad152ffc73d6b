//! `mote demo`: the tour on bundled data. Each step prints what it did and what it measured, and
//! the run ends with one summary table. Outputs go to `out/demo/` (model files, barrier plot).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::Config;
use crate::align::{barrier, l2_distance, merge, permute, weight_matching};
use crate::device::Board;
use crate::device::infer::SampleWorkload;
use crate::device::runner::run_on_device;
use crate::model::AlignedModel;
use crate::model::quantize::{Scheme, quantize};
use crate::model::simulate::simulate;
use crate::nn::train::{TrainConfig, evaluate, train_mlp};
use crate::output::{out, outln};

/// Where the demo writes its files.
pub fn out_dir() -> PathBuf {
    PathBuf::from("out/demo")
}

/// Runs the demo.
pub fn run(config: &Config) -> Result<()> {
    let out = out_dir();
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut summary: Vec<(String, String)> = Vec::new();

    outln!("== 1. L-Mul error (SPEC §1.6), 2,000,000 operand pairs")?;
    let rows = crate::lmul_table::error_table(2_000_000, 1);
    out!("{}", super::lmul_error::render(&rows))?;
    for r in rows.iter().filter(|r| {
        r.method.starts_with("lmul k=3 ") || r.method.starts_with("fp8 e5m2 RNE operands, RNE")
    }) {
        summary.push((
            format!("mean rel. error, {}", r.method),
            format!("{:.4}", r.mean),
        ));
    }

    outln!(
        "\n== 2. L-Mul self-test on the microcontroller (QEMU), checked bit for bit on the host"
    )?;
    for board in Board::ALL {
        let r = crate::device::selftest::run_on(&config.firmware, board)?;
        outln!(
            "{:<12} {:<10} {:>7} cases  bit-identical",
            board.machine(),
            board.cpu(),
            r.cases
        )?;
        summary.push((
            format!("L-Mul self-test, {}", board.cpu()),
            format!("{} cases bit-identical", r.cases),
        ));
    }

    outln!("\n== 3. Train two digits MLPs (64-64-64-10) with different seeds")?;
    let (train, test) = config.catalog.load("digits")?;
    let cfg = |seed| TrainConfig {
        hidden: vec![64, 64],
        epochs: 30,
        batch_size: 32,
        lr: 3e-3,
        seed,
        progress: true,
    };
    let a = train_mlp(&cfg(1), &train)?;
    let b = train_mlp(&cfg(2), &train)?;
    let (ea, eb) = (evaluate(&a, &test)?, evaluate(&b, &test)?);
    outln!(
        "model A (seed 1): test accuracy {:.2}%",
        100.0 * ea.accuracy
    )?;
    outln!(
        "model B (seed 2): test accuracy {:.2}%",
        100.0 * eb.accuracy
    )?;
    a.save(&out.join("a.safetensors"))?;
    b.save(&out.join("b.safetensors"))?;

    outln!("\n== 4. Align B to A by weight matching (SPEC §2.3) and merge")?;
    let al = weight_matching(&a, &b, 0)?;
    let b_aligned = permute(&b, &al.perms);
    outln!(
        "{} sweeps; L2 distance {:.3} → {:.3}",
        al.sweeps.len(),
        l2_distance(&a, &b),
        l2_distance(&a, &b_aligned)
    )?;
    let naive = merge::average(&[a.clone(), b.clone()])?;
    let merged = merge::average(&[a.clone(), b_aligned.clone()])?;
    let (en, em) = (evaluate(&naive, &test)?, evaluate(&merged, &test)?);
    outln!("naive average: test accuracy {:.2}%", 100.0 * en.accuracy)?;
    outln!("aligned merge: test accuracy {:.2}%", 100.0 * em.accuracy)?;
    merged.save(&out.join("merged.safetensors"))?;
    summary.push((
        "test accuracy A / B".into(),
        format!("{:.2}% / {:.2}%", 100.0 * ea.accuracy, 100.0 * eb.accuracy),
    ));
    summary.push((
        "test accuracy naive average".into(),
        format!("{:.2}%", 100.0 * en.accuracy),
    ));
    summary.push((
        "test accuracy aligned merge".into(),
        format!("{:.2}%", 100.0 * em.accuracy),
    ));

    outln!("\n== 5. Linear mode connectivity (SPEC §2.5), 25 points")?;
    let report = barrier::measure(&a, &b, Some(&b_aligned), &train, &test, 25)?;
    out!("{}", super::barrier::render(&report))?;
    let plot = out.join("barrier.png");
    barrier::plot(&report, &plot)?;
    outln!("plot: {}", plot.display())?;
    summary.push((
        "train-loss barrier naive".into(),
        format!("{:.4}", report.naive.train.loss_barrier),
    ));
    if let Some(aligned) = &report.aligned {
        summary.push((
            "train-loss barrier aligned".into(),
            format!("{:.4}", aligned.train.loss_barrier),
        ));
    }

    outln!("\n== 6. Quantize the merged model, run it on the host simulator and in QEMU")?;
    for scheme in Scheme::ALL {
        let bytes = quantize(&merged, scheme, Some(&train))?;
        let path = out.join(format!("merged-{}.mote", scheme.name()));
        crate::output::write_atomic(&path, &bytes)?;
        let file = AlignedModel::new(&bytes);
        let parsed = file
            .parse()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let host = simulate(&parsed, &test)?;
        let workload = SampleWorkload::new(&test, &host)?;
        let dev = run_on_device(
            &config.firmware,
            file.bytes(),
            &workload,
            Board::Mps2An386,
            false,
        )?;
        if dev.mismatches != 0 {
            bail!(
                "{}: {} device outputs differ from the host simulator",
                path.display(),
                dev.mismatches
            );
        }
        outln!(
            "{:<10} {:>6} bytes  host {:.2}%  Cortex-M4F (QEMU) {:.2}%, all {} outputs bit-identical",
            scheme.name(),
            bytes.len(),
            100.0 * host.accuracy,
            100.0 * dev.accuracy,
            dev.samples
        )?;
        summary.push((
            format!("merged model, {} ({} B)", scheme.name(), bytes.len()),
            format!(
                "{:.2}% host = {:.2}% device, bit-identical",
                100.0 * host.accuracy,
                100.0 * dev.accuracy
            ),
        ));
    }

    outln!(
        "\n== 7. A sensor device: the BasicMotions stream model on a replayed accelerometer in QEMU"
    )?;
    stream_device(config, &out, &mut summary)?;

    outln!("\n== Summary")?;
    let width = summary
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in &summary {
        outln!("{k:<width$}  {v}")?;
    }
    outln!("\nfiles: {}", out.display())?;
    Ok(())
}

/// Step 7: a recurrent classifier trained on BasicMotions' three accelerometer axes, built into
/// the sensor application, fed the test recording through the replayed LSM303AGR and the real
/// driver at 10 Hz on the Cortex-M4F, every decision checked against the host.
fn stream_device(
    config: &Config,
    out: &std::path::Path,
    summary: &mut Vec<(String, String)>,
) -> Result<()> {
    use crate::data::basicmotions;
    use crate::device::app::{AppBoard, Windows, run_replay, stream_from_ts};
    use crate::recurrent::classifier::{TrainConfig as StreamConfig, to_mote, train};
    use crate::recurrent::weights::WeightScheme;
    let dir = config.catalog.data_dir()?.join("basicmotions");
    let axes = [0, 1, 2];
    let test_path = dir.join("BasicMotions_TEST.ts");
    let tr = basicmotions::load(&dir.join("BasicMotions_TRAIN.ts"))?.select_channels(&axes)?;
    let te = basicmotions::load(&test_path)?.select_channels(&axes)?;
    let (model, report) = train(&tr, &te, &StreamConfig::default(), |_, _| {})?;
    let bytes = to_mote(&model.to_scheme(WeightScheme::F32))?;
    let path = out.join("basicmotions-accel-f32.mote");
    crate::output::write_atomic(&path, &bytes)?;
    let stream = stream_from_ts(&test_path, &axes, 10.0)?;
    let windows = Windows {
        window: stream.series_length,
        hop: stream.series_length,
    };
    let r = run_replay(
        &config.firmware,
        &bytes,
        AppBoard::Mps2An386,
        &stream,
        windows,
    )?;
    if r.mismatches != 0 {
        bail!(
            "{}: {} decisions differ from the host simulator: {}",
            path.display(),
            r.mismatches,
            r.first_mismatch.unwrap_or_default()
        );
    }
    outln!(
        "trained on 3 accelerometer axes: float test accuracy {:.2}%",
        100.0 * report.test_accuracy
    )?;
    super::firmware::print_run(&r)?;
    summary.push((
        "sensor device (M4F, replayed LSM303AGR, 10 Hz)".into(),
        format!(
            "{} decisions bit-identical, accuracy {:.2}%, {} dropped, {:.0} instr/sample",
            r.identical,
            100.0 * r.accuracy.unwrap_or(0.0),
            r.summary.dropped,
            r.instructions_per_sample
        ),
    ));
    Ok(())
}
