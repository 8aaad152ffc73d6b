//! Errors of plugin rules: always naming the plugin, and the tensor when one was being merged.

use std::fmt;

/// What went wrong in a plugin call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PluginErrorKind {
    /// The file is not a loadable merge-rule component (bad bytes, wrong world, or it imports
    /// something the sandbox does not provide, e.g. WASI).
    Load(String),
    /// `--param` does not match what the rule declares (unknown, duplicate or missing key).
    Params(String),
    /// The inputs do not fit the rule (model count, missing base) or each other (lengths).
    Inputs(String),
    /// The fuel budget ran out: the rule executed more instructions than allowed for this tensor.
    OutOfFuel {
        /// The budget that was exhausted.
        fuel: u64,
    },
    /// The wall-clock deadline passed (epoch interruption).
    Timeout {
        /// The limit in milliseconds.
        limit_ms: u64,
    },
    /// The rule tried to grow its linear memory past the cap.
    MemoryLimit {
        /// Bytes the memory would have grown to.
        requested: usize,
        /// The cap in bytes.
        limit: usize,
    },
    /// The rule trapped (panic, unreachable, out-of-bounds access, ...).
    Trap(String),
    /// The rule returned an error of its own.
    Rejected(String),
    /// The result has the wrong number of values.
    BadLength {
        /// `product(shape)`.
        expected: usize,
        /// What the rule returned.
        got: usize,
    },
    /// The result contains NaN or an infinity.
    NonFinite {
        /// Index of the first offending value.
        index: usize,
        /// The value.
        value: f32,
    },
}

/// A plugin failure, naming the plugin and (when merging) the tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginError {
    /// The plugin: `name vVERSION (path)`, or the path when it could not be loaded.
    pub plugin: String,
    /// The tensor being merged, if any.
    pub tensor: Option<String>,
    /// What went wrong.
    pub kind: PluginErrorKind,
    /// The last messages the plugin sent to `log` before failing (oldest first).
    pub log_tail: Vec<String>,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin {}", self.plugin)?;
        if let Some(t) = &self.tensor {
            write!(f, " on tensor `{t}`")?;
        }
        write!(f, ": ")?;
        match &self.kind {
            PluginErrorKind::Load(m) => write!(f, "cannot load: {m}")?,
            PluginErrorKind::Params(m) => write!(f, "bad --param: {m}")?,
            PluginErrorKind::Inputs(m) => write!(f, "bad inputs: {m}")?,
            PluginErrorKind::OutOfFuel { fuel } => write!(
                f,
                "ran out of fuel ({fuel} units; runaway loop? raise --plugin-fuel-per-value)"
            )?,
            PluginErrorKind::Timeout { limit_ms } => write!(
                f,
                "exceeded the time limit of {limit_ms} ms (raise --plugin-timeout-ms)"
            )?,
            PluginErrorKind::MemoryLimit { requested, limit } => write!(
                f,
                "tried to grow its memory to {:.1} MiB, over the limit of {:.1} MiB \
                 (raise --plugin-memory-mib)",
                *requested as f64 / MIB,
                *limit as f64 / MIB
            )?,
            PluginErrorKind::Trap(m) => write!(f, "trapped: {m}")?,
            PluginErrorKind::Rejected(m) => write!(f, "rule returned an error: {m}")?,
            PluginErrorKind::BadLength { expected, got } => write!(
                f,
                "returned {got} values, expected {expected} (the product of the shape)"
            )?,
            PluginErrorKind::NonFinite { index, value } => {
                write!(f, "returned a non-finite value {value} at index {index}")?
            }
        }
        if !self.log_tail.is_empty() {
            write!(f, "; plugin log: {}", self.log_tail.join(" | "))?;
        }
        Ok(())
    }
}

impl std::error::Error for PluginError {}

const MIB: f64 = (1 << 20) as f64;
