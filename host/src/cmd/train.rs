//! `mote train`: train an MLP on a data set and save it as safetensors.

use anyhow::Result;

use super::Config;

use crate::dict::features::DictFeatures;
use crate::model::scaling::{InputScaling, inputs_for};
use crate::nn::train::{TrainConfig, evaluate, train_mlp};
use crate::output::outln;

/// Model families `mote train` can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// Linear → ReLU → … → Linear.
    Mlp,
}

/// `mote train` arguments.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Model family.
    #[arg(long, value_enum, default_value_t = Arch::Mlp)]
    pub arch: Arch,
    /// Hidden widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,512,512")]
    pub hidden: Vec<usize>,
    /// Data set: a bundled name (digits, fashion-mnist, basicmotions) or a file (CSV, TSV, .npz,
    /// .ts, IDX; see the data-file flags).
    #[arg(long)]
    pub data: String,
    /// Seed of initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = positive_lr)]
    pub lr: f64,
    /// Train on the outputs of this feature model (`mote dict -o`) instead of the raw inputs;
    /// `mote quantize --dict` with the same file puts it in front of the trained model.
    #[arg(long)]
    pub dict: Option<std::path::PathBuf>,
    /// Output model (safetensors, PyTorch `nn.Sequential` names).
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
}

/// A learning rate must be a positive finite number: a negative one trains uphill.
fn positive_lr(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(lr) if lr.is_finite() && lr > 0.0 => Ok(lr),
        Ok(lr) => Err(format!("{lr} is not a positive learning rate")),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `mote train`.
pub fn run(args: &TrainArgs, config: &Config) -> Result<()> {
    crate::output::claim_stdout_for_output(&args.output, args.json)?;
    let catalog = config.catalog.with_files(args.file.options(true));
    // A model trained on a data file (or on BasicMotions, read from its shipped file: the same
    // tensors) keeps what its inputs meant: the class names (label k is `classes[k]`) and the
    // per-channel training range the inputs were scaled from, which `mote quantize` makes the
    // model file's first layer, so the device takes the sensor's own units.
    let (train, test, metadata) = if let Some(path) = &args.dict {
        let d = DictFeatures::read(path)?;
        let (train, test) = inputs_for(&d.model()?, &catalog, &args.data)?;
        let metadata = vec![
            ("mote.data".to_string(), args.data.clone()),
            ("mote.dict".to_string(), path.display().to_string()),
        ];
        (d.apply(&train)?, d.apply(&test)?, metadata)
    } else if let Some(path) = catalog.scaled_file(&args.data)? {
        let l = crate::data::file::load(&path, catalog.files())?;
        let metadata = vec![
            ("mote.data".to_string(), args.data.clone()),
            (
                "mote.classes".to_string(),
                serde_json::to_string(&l.class_names)?,
            ),
            InputScaling::of(&l.scaling, l.train.d).to_metadata()?,
        ];
        (l.train, l.test, metadata)
    } else {
        let (train, test) = catalog.load(&args.data)?;
        (train, test, Vec::new())
    };
    let cfg = TrainConfig {
        hidden: args.hidden.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        progress: !args.json,
    };
    let start = std::time::Instant::now();
    let model = train_mlp(&cfg, &train)?;
    let seconds = start.elapsed().as_secs_f64();
    let (tr, te) = (evaluate(&model, &train)?, evaluate(&model, &test)?);
    model.save_with(&args.output, &metadata)?;
    if args.json {
        return crate::output::print_json(&serde_json::json!({
            "config": cfg,
            "data": args.data,
            "widths": model.widths(),
            "seconds": seconds,
            "train": tr,
            "test": te,
            "output": args.output.display().to_string(),
        }));
    }
    outln!(
        "{:?} in {seconds:.1} s; train loss {:.4} acc {:.2}%; test loss {:.4} acc {:.2}%; wrote {}",
        model.widths(),
        tr.loss,
        tr.accuracy * 100.0,
        te.loss,
        te.accuracy * 100.0,
        args.output.display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[test]
    fn a_model_trained_on_a_file_keeps_its_class_names_and_scaling() {
        let dir = std::env::temp_dir().join(format!("mote-train-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let csv = dir.join("walk.csv");
        let mut text = String::from("x,y,activity\n");
        for i in 0..40 {
            let (name, v) = if i % 2 == 0 {
                ("walk", 10.0)
            } else {
                ("idle", 0.0)
            };
            text += &format!("{},{},{name}\n", v + (i % 5) as f32, -v);
        }
        std::fs::write(&csv, text).expect("writes");
        let out = dir.join("m.safetensors");
        let cli = crate::cli::Cli::try_parse_from([
            "mote",
            "train",
            "--data",
            csv.to_str().expect("utf-8"),
            "--hidden",
            "4",
            "--epochs",
            "2",
            "--json",
            "-o",
            out.to_str().expect("utf-8"),
        ])
        .expect("parses");
        crate::cli::run(cli).expect("trains");
        let bytes = std::fs::read(&out).expect("reads");
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).expect("metadata");
        let meta = meta.metadata().clone().expect("has metadata");
        assert_eq!(meta["mote.classes"], r#"["idle","walk"]"#);
        let s: serde_json::Value = serde_json::from_str(&meta["mote.input_scaling"]).expect("json");
        assert_eq!(s["channel_length"], 1);
        assert_eq!(s["max"][1].as_f64(), Some(0.0));
        assert!(s["min"][1].as_f64().expect("number") <= -10.0);
        // The model itself still loads as an MLP.
        assert_eq!(
            crate::nn::Mlp::load(&out).expect("loads").widths(),
            vec![2, 4, 2]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
