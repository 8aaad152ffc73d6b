//! Merge rules: the built-in average and sandboxed plugin components.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap};

use super::error::{PluginError, PluginErrorKind};

/// Host bindings generated from the one WIT contract shared with the guests.
mod bindings {
    wasmtime::component::bindgen!({ path: "../plugins/wit", world: "merge-rule" });
}

pub use bindings::{ParamSpec, RuleInfo};

/// How often the watchdog advances the engine's epoch; the time limit is rounded up to it.
const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Log messages kept per call for error reports (a chatty plugin cannot fill host memory).
const LOG_KEEP: usize = 8;
/// Longest log message kept, in bytes.
const LOG_MAX_LEN: usize = 512;

/// Resource limits of one plugin call (one tensor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::Args, serde::Serialize)]
pub struct SandboxLimits {
    /// Wall-clock limit per tensor, in milliseconds (epoch interruption).
    #[arg(long = "plugin-timeout-ms", default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Cap on a plugin's linear memory, in MiB (inputs are copied into it).
    #[arg(long = "plugin-memory-mib", default_value_t = 256)]
    pub memory_mib: u64,
    /// Fuel (≈ wasm instructions) allowed per input value, on top of a fixed 50 M per tensor.
    #[arg(long = "plugin-fuel-per-value", default_value_t = 5000)]
    pub fuel_per_value: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            timeout_ms: 1000,
            memory_mib: 256,
            fuel_per_value: 5000,
        }
    }
}

impl SandboxLimits {
    /// Fuel every call gets regardless of size (instantiation, `info`, small tensors).
    pub const BASE_FUEL: u64 = 50_000_000;

    /// The fuel budget for a call whose inputs hold `values` f32 values in total.
    pub fn fuel_for(&self, values: usize) -> u64 {
        Self::BASE_FUEL.saturating_add(self.fuel_per_value.saturating_mul(values as u64))
    }

    fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

    fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_millis() as u64;
        // +1: the first tick may come right after the deadline is set.
        self.timeout_ms.div_ceil(tick).max(1) + 1
    }
}

/// A merge rule: what `mote merge --rule` selects.
pub enum MergeRule {
    /// Element-wise mean of the models (the built-in rule; the base model is not used).
    NativeAverage,
    /// A sandboxed WebAssembly component.
    Plugin(Box<PluginRule>),
}

impl MergeRule {
    /// Parses a `--rule` value: `average` (built-in) or `plugin:PATH.wasm`.
    pub fn from_spec(spec: &str, limits: SandboxLimits) -> anyhow::Result<Self> {
        match spec.split_once(':') {
            Some(("plugin", path)) if !path.is_empty() => Ok(Self::Plugin(Box::new(
                PluginRule::load(Path::new(path), limits)?,
            ))),
            None if spec == "average" => Ok(Self::NativeAverage),
            _ => anyhow::bail!("--rule `{spec}`: expected `average` or `plugin:PATH.wasm`"),
        }
    }

    /// Human-readable rule name (`average`, or `name vVERSION (path)` of a plugin).
    pub fn describe(&self) -> String {
        match self {
            Self::NativeAverage => "average (built-in)".into(),
            Self::Plugin(p) => p.label(),
        }
    }

    /// Merges one tensor; see [`PluginRule::merge_tensor`]. The native average ignores `base` and
    /// accepts no parameters.
    pub fn merge_tensor(
        &self,
        name: &str,
        shape: &[usize],
        tensors: &[&[f32]],
        base: Option<&[f32]>,
        params: &[(String, String)],
    ) -> Result<Vec<f32>, PluginError> {
        match self {
            Self::Plugin(p) => p.merge_tensor(name, shape, tensors, base, params),
            Self::NativeAverage => {
                let err = |kind| PluginError {
                    plugin: self.describe(),
                    tensor: Some(name.to_string()),
                    kind,
                    log_tail: Vec::new(),
                };
                if let Some((k, _)) = params.first() {
                    return Err(err(PluginErrorKind::Params(format!(
                        "the built-in average takes no parameters, got `{k}`"
                    ))));
                }
                let n = checked_len(shape).map_err(|m| err(PluginErrorKind::Inputs(m)))?;
                check_lengths(n, tensors, None).map_err(|m| err(PluginErrorKind::Inputs(m)))?;
                if tensors.is_empty() {
                    return Err(err(PluginErrorKind::Inputs("no models to average".into())));
                }
                Ok(native_average(tensors, n))
            }
        }
    }
}

/// Element-wise mean, accumulated in f32 in model order (what a plain native merge does).
fn native_average(tensors: &[&[f32]], n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; n];
    for t in tensors {
        for (o, &x) in out.iter_mut().zip(t.iter()) {
            *o += x;
        }
    }
    let scale = 1.0 / tensors.len() as f32;
    out.iter_mut().for_each(|o| *o *= scale);
    out
}

/// `product(shape)`, or an error if it overflows.
fn checked_len(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} has more elements than fit in memory"))
}

fn check_lengths(n: usize, tensors: &[&[f32]], base: Option<&[f32]>) -> Result<(), String> {
    for (i, t) in tensors.iter().enumerate() {
        if t.len() != n {
            return Err(format!(
                "model {i} has {} values, the shape needs {n}",
                t.len()
            ));
        }
    }
    match base {
        Some(b) if b.len() != n => Err(format!(
            "the base model has {} values, the shape needs {n}",
            b.len()
        )),
        _ => Ok(()),
    }
}

/// Per-call store state: the memory limiter (remembering whether it refused a growth) and the
/// plugin's recent log messages.
struct CallState {
    limits: StoreLimits,
    memory_cap: usize,
    memory_refused: Option<usize>,
    logs: Vec<String>,
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let verdict = self.limits.memory_growing(current, desired, maximum);
        if !matches!(verdict, Ok(true)) {
            self.memory_refused = Some(desired);
        }
        verdict
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl bindings::MergeRuleImports for CallState {
    fn log(&mut self, msg: String) {
        if self.logs.len() == LOG_KEEP {
            self.logs.remove(0);
        }
        let mut msg = msg.replace('\n', " ");
        if msg.len() > LOG_MAX_LEN {
            let mut cut = LOG_MAX_LEN;
            while !msg.is_char_boundary(cut) {
                cut -= 1;
            }
            msg.truncate(cut);
            msg.push('…');
        }
        self.logs.push(msg);
    }
}

/// A loaded, compiled plugin rule with its declared info.
pub struct PluginRule {
    path: PathBuf,
    engine: Engine,
    pre: bindings::MergeRulePre<CallState>,
    info: RuleInfo,
    limits: SandboxLimits,
    /// Dropping the sender stops the watchdog thread.
    _watchdog: mpsc::Sender<()>,
}

impl PluginRule {
    /// Compiles the component at `path`, links it against the sandbox (only `log`), and asks it
    /// for its [`RuleInfo`].
    pub fn load(path: &Path, limits: SandboxLimits) -> Result<Self, PluginError> {
        let load_err = |m: String| PluginError {
            plugin: path.display().to_string(),
            tensor: None,
            kind: PluginErrorKind::Load(m),
            log_tail: Vec::new(),
        };
        let mut cfg = Config::new();
        cfg.consume_fuel(true).epoch_interruption(true);
        let engine = Engine::new(&cfg).map_err(|e| load_err(chain(&e)))?;
        let limit = crate::input::Limit::memory_and_cap(64 << 20, "a plugin component");
        let bytes = crate::input::read_limited(path, &limit)
            .map_err(|e| load_err(format!("reading: {}", e.message())))?;
        let component = Component::new(&engine, &bytes).map_err(|e| {
            load_err(format!(
                "not a WebAssembly component (build with wasm-component-ld, see \
                 docs/plugins.md): {}",
                chain(&e)
            ))
        })?;
        let mut linker = Linker::<CallState>::new(&engine);
        bindings::MergeRule::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| load_err(chain(&e)))?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            load_err(format!(
                "it needs imports the sandbox does not provide (only `log` exists): {}",
                chain(&e)
            ))
        })?;
        let pre = bindings::MergeRulePre::new(instance_pre).map_err(|e| {
            load_err(format!(
                "it does not implement the mote:merge-rule world: {}",
                chain(&e)
            ))
        })?;
        let watchdog = spawn_watchdog(engine.clone());
        let mut rule = Self {
            path: path.to_path_buf(),
            engine,
            pre,
            info: RuleInfo {
                name: String::new(),
                version: String::new(),
                description: String::new(),
                min_models: 0,
                max_models: 0,
                needs_base: false,
                params: Vec::new(),
            },
            limits,
            _watchdog: watchdog,
        };
        rule.info = rule
            .call(None, 0, |bindings, store| bindings.call_info(store))
            .map_err(|mut e| {
                e.plugin = path.display().to_string();
                e
            })?;
        check_info(&rule.info).map_err(load_err)?;
        Ok(rule)
    }

    /// What the plugin declares.
    pub fn info(&self) -> &RuleInfo {
        &self.info
    }

    /// The plugin file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The limits each call runs under.
    pub fn limits(&self) -> SandboxLimits {
        self.limits
    }

    /// `name vVERSION (path)`, used in every error.
    pub fn label(&self) -> String {
        format!(
            "`{}` v{} ({})",
            self.info.name,
            self.info.version,
            self.path.display()
        )
    }

    /// Checks `--param` pairs against the declared parameters and fills in defaults.
    fn resolve_params(&self, given: &[(String, String)]) -> Result<Vec<bindings::Param>, String> {
        let declared = &self.info.params;
        for (i, (k, _)) in given.iter().enumerate() {
            if !declared.iter().any(|p| &p.name == k) {
                let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
                return Err(if names.is_empty() {
                    format!("unknown parameter `{k}`: this rule takes no parameters")
                } else {
                    format!(
                        "unknown parameter `{k}`: this rule accepts {}",
                        names.join(", ")
                    )
                });
            }
            if given[..i].iter().any(|(k2, _)| k2 == k) {
                return Err(format!("parameter `{k}` given twice"));
            }
        }
        declared
            .iter()
            .map(|spec| {
                let value = given
                    .iter()
                    .find(|(k, _)| k == &spec.name)
                    .map(|(_, v)| v.clone())
                    .or_else(|| spec.default.clone())
                    .ok_or_else(|| format!("parameter `{}` is required", spec.name))?;
                Ok(bindings::Param {
                    key: spec.name.clone(),
                    value,
                })
            })
            .collect()
    }

    /// Merges one tensor in a fresh sandboxed instance and validates the result.
    ///
    /// `tensors` are the aligned tensors of the N models (command-line order), `base` the base
    /// model's tensor if one was given, `params` the user's `--param key=value` pairs.
    pub fn merge_tensor(
        &self,
        name: &str,
        shape: &[usize],
        tensors: &[&[f32]],
        base: Option<&[f32]>,
        params: &[(String, String)],
    ) -> Result<Vec<f32>, PluginError> {
        let err = |kind| PluginError {
            plugin: self.label(),
            tensor: Some(name.to_string()),
            kind,
            log_tail: Vec::new(),
        };
        let params = self
            .resolve_params(params)
            .map_err(|m| err(PluginErrorKind::Params(m)))?;
        let n = checked_len(shape).map_err(|m| err(PluginErrorKind::Inputs(m)))?;
        check_lengths(n, tensors, base).map_err(|m| err(PluginErrorKind::Inputs(m)))?;
        let (min, max) = (self.info.min_models as usize, self.info.max_models as usize);
        if tensors.len() < min || (max > 0 && tensors.len() > max) {
            let range = match max {
                0 => format!("at least {min}"),
                m if m == min => format!("exactly {min}"),
                m => format!("{min} to {m}"),
            };
            return Err(err(PluginErrorKind::Inputs(format!(
                "the rule merges {range} models, got {}",
                tensors.len()
            ))));
        }
        if self.info.needs_base && base.is_none() {
            return Err(err(PluginErrorKind::Inputs(
                "the rule needs a base model (--base)".into(),
            )));
        }
        let input = bindings::TensorInput {
            name: name.to_string(),
            shape: shape.iter().map(|&d| d as u64).collect(),
            models: tensors.iter().map(|t| t.to_vec()).collect(),
            base: base.map(<[f32]>::to_vec),
            params,
        };
        let values = n * (tensors.len() + usize::from(base.is_some()));
        let out = self
            .call(Some(name), values, |bindings, store| {
                bindings.call_merge(store, &input)
            })?
            .map_err(|m| err(PluginErrorKind::Rejected(m)))?;
        if out.len() != n {
            return Err(err(PluginErrorKind::BadLength {
                expected: n,
                got: out.len(),
            }));
        }
        if let Some((index, &value)) = out.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(err(PluginErrorKind::NonFinite { index, value }));
        }
        Ok(out)
    }

    /// Runs `f` on a fresh instance in a fresh store with this rule's limits and classifies any
    /// failure. `values` sizes the fuel budget.
    fn call<T>(
        &self,
        tensor: Option<&str>,
        values: usize,
        f: impl FnOnce(&bindings::MergeRule, &mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        let memory_cap = self.limits.memory_bytes();
        let mut store = Store::new(
            &self.engine,
            CallState {
                limits: StoreLimitsBuilder::new()
                    .memory_size(memory_cap)
                    .instances(4)
                    .trap_on_grow_failure(true)
                    .build(),
                memory_cap,
                memory_refused: None,
                logs: Vec::new(),
            },
        );
        store.limiter(|s| s);
        let fuel = self.limits.fuel_for(values);
        let outcome = store
            .set_fuel(fuel)
            .map(|()| store.set_epoch_deadline(self.limits.deadline_ticks()))
            .and_then(|()| self.pre.instantiate(&mut store))
            .and_then(|bindings| f(&bindings, &mut store));
        outcome.map_err(|e| {
            let state = store.data();
            let kind = if let Some(requested) = state.memory_refused {
                PluginErrorKind::MemoryLimit {
                    requested,
                    limit: state.memory_cap,
                }
            } else {
                match e.downcast_ref::<Trap>() {
                    Some(Trap::OutOfFuel) => PluginErrorKind::OutOfFuel { fuel },
                    Some(Trap::Interrupt) => PluginErrorKind::Timeout {
                        limit_ms: self.limits.timeout_ms,
                    },
                    // The trap's own text; the wasm backtrace of an optimised guest
                    // (function indices) would only bury it.
                    Some(trap) => PluginErrorKind::Trap(trap.to_string()),
                    None => PluginErrorKind::Trap(chain(&e)),
                }
            };
            PluginError {
                plugin: self.label(),
                tensor: tensor.map(str::to_string),
                kind,
                log_tail: state.logs.clone(),
            }
        })
    }
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until the returned sender is dropped.
/// Longest rule name, version, parameter name or default a plugin may declare (bytes).
pub const MAX_NAME_BYTES: usize = 64;
/// Longest description a plugin may declare (bytes).
pub const MAX_DESCRIPTION_BYTES: usize = 1024;
/// Most parameters a plugin may declare.
pub const MAX_PARAMS: usize = 32;

/// Refuses a declaration whose strings are too long for messages and file metadata (they are
/// copied into both), hold control characters, or that declares too many parameters.
fn check_info(info: &RuleInfo) -> Result<(), String> {
    let field = |what: &str, s: &str, max: usize| -> Result<(), String> {
        if s.len() > max {
            return Err(format!(
                "its info declares a {what} of {} bytes (at most {max})",
                s.len()
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(format!(
                "its info declares a {what} with control characters"
            ));
        }
        Ok(())
    };
    if info.name.is_empty() {
        return Err("its info declares an empty name".into());
    }
    field("name", &info.name, MAX_NAME_BYTES)?;
    field("version", &info.version, MAX_NAME_BYTES)?;
    field("description", &info.description, MAX_DESCRIPTION_BYTES)?;
    if info.params.len() > MAX_PARAMS {
        return Err(format!(
            "its info declares {} parameters (at most {MAX_PARAMS})",
            info.params.len()
        ));
    }
    for p in &info.params {
        field("parameter name", &p.name, MAX_NAME_BYTES)?;
        field(
            "parameter description",
            &p.description,
            MAX_DESCRIPTION_BYTES,
        )?;
        if let Some(d) = &p.default {
            field("parameter default", d, MAX_NAME_BYTES)?;
        }
    }
    Ok(())
}

fn spawn_watchdog(engine: Engine) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        // The epoch counts elapsed ticks of wall time, not wake-ups: on a loaded machine a
        // wake-up can come late, and the catch-up keeps the deadline close to the limit.
        let start = Instant::now();
        let mut ticks = 0u128;
        while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(EPOCH_TICK) {
            let due = start.elapsed().as_nanos() / EPOCH_TICK.as_nanos();
            while ticks < due {
                engine.increment_epoch();
                ticks += 1;
            }
        }
    });
    tx
}

/// An error and its causes on one line.
fn chain(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_or_odd_declarations_are_refused() {
        let ok = RuleInfo {
            name: "slerp".into(),
            version: "0.1.0".into(),
            description: "spherical interpolation".into(),
            min_models: 2,
            max_models: 2,
            needs_base: false,
            params: vec![ParamSpec {
                name: "t".into(),
                description: "position".into(),
                default: Some("0.5".into()),
            }],
        };
        assert!(check_info(&ok).is_ok());
        let long_name = RuleInfo {
            name: "x".repeat(10_000_000),
            ..ok.clone()
        };
        let e = check_info(&long_name).expect_err("10 MB name");
        assert!(e.contains("name of 10000000 bytes (at most 64)"), "{e}");
        let many = RuleInfo {
            params: vec![ok.params[0].clone(); 100_000],
            ..ok.clone()
        };
        assert!(
            check_info(&many)
                .expect_err("too many")
                .contains("100000 parameters")
        );
        let control = RuleInfo {
            name: "a\nb".into(),
            ..ok.clone()
        };
        assert!(
            check_info(&control)
                .expect_err("newline")
                .contains("control")
        );
        assert!(
            check_info(&RuleInfo {
                name: String::new(),
                ..ok
            })
            .is_err()
        );
    }

    #[test]
    fn native_average_is_the_mean() {
        let a = [1.0f32, -2.0, 3.5];
        let b = [3.0f32, 2.0, -0.5];
        let out = MergeRule::NativeAverage
            .merge_tensor("w", &[3], &[&a, &b], None, &[])
            .expect("merges");
        assert_eq!(out, vec![2.0, 0.0, 1.5]);
    }

    #[test]
    fn native_average_rejects_bad_inputs() {
        let a = [1.0f32, 2.0];
        let e = MergeRule::NativeAverage
            .merge_tensor("fc1.weight", &[3], &[&a], None, &[])
            .unwrap_err();
        assert!(matches!(e.kind, PluginErrorKind::Inputs(_)));
        assert!(e.to_string().contains("`fc1.weight`"), "{e}");
        let e = MergeRule::NativeAverage
            .merge_tensor("w", &[2], &[&a], None, &[("t".into(), "1".into())])
            .unwrap_err();
        assert!(matches!(e.kind, PluginErrorKind::Params(_)));
        assert!(checked_len(&[usize::MAX, 2]).is_err());
    }

    #[test]
    fn rule_specs() {
        let l = SandboxLimits::default();
        assert!(matches!(
            MergeRule::from_spec("average", l),
            Ok(MergeRule::NativeAverage)
        ));
        for bad in ["avg", "plugin:", "wasm:x.wasm"] {
            assert!(MergeRule::from_spec(bad, l).is_err(), "{bad}");
        }
        let e = MergeRule::from_spec("plugin:/nonexistent/x.wasm", l)
            .err()
            .expect("missing file");
        assert!(e.to_string().contains("/nonexistent/x.wasm"), "{e}");
    }

    #[test]
    fn limits_scale() {
        let l = SandboxLimits::default();
        assert_eq!(l.fuel_for(0), SandboxLimits::BASE_FUEL);
        assert_eq!(l.fuel_for(10), SandboxLimits::BASE_FUEL + 50_000);
        assert_eq!(l.deadline_ticks(), 201);
        assert_eq!(l.memory_bytes(), 256 << 20);
    }

    #[test]
    fn garbage_is_a_load_error() {
        let dir = std::env::temp_dir().join(format!("mote-plugin-garbage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("garbage.wasm");
        std::fs::write(&path, b"\0asm not really").expect("write");
        let e = PluginRule::load(&path, SandboxLimits::default())
            .err()
            .expect("garbage refused");
        assert!(matches!(e.kind, PluginErrorKind::Load(_)), "{e}");
        assert!(e.to_string().contains("garbage.wasm"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
