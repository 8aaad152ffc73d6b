//! The alignment settings shared by `match`, `merge`, `barrier` and `analyze`: the seed and the
//! straight-through estimator's training settings.

use crate::align::AlignOptions;
use crate::align::ste::SteConfig;

/// Alignment settings (flattened into each aligning command).
#[derive(Debug, Clone, clap::Args)]
pub struct AlignArgs {
    /// Seed of weight matching's random sweep orders and of the STE batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Epochs of the straight-through estimator (method `ste`).
    #[arg(long = "ste-epochs", visible_alias = "epochs", default_value_t = SteConfig::default().epochs)]
    pub ste_epochs: usize,
    /// Minibatch size of the straight-through estimator.
    #[arg(long = "ste-batch", default_value_t = SteConfig::default().batch_size)]
    pub ste_batch: usize,
    /// Learning rate of the straight-through estimator (SGD, momentum 0.9).
    #[arg(long = "ste-lr", default_value_t = SteConfig::default().lr)]
    pub ste_lr: f64,
}

impl AlignArgs {
    /// The options these flags give; `progress` shows the STE progress bar on stderr.
    pub fn options(&self, progress: bool) -> AlignOptions {
        AlignOptions {
            seed: self.seed,
            ste: SteConfig {
                epochs: self.ste_epochs,
                batch_size: self.ste_batch,
                lr: self.ste_lr,
                progress,
                ..SteConfig::default()
            },
        }
    }
}
