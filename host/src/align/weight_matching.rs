//! Weight matching by coordinate descent (SPEC §2.3, "Algorithm 1"), and the schedule that
//! solves independent permutations at once while a free thread works ahead.

use anyhow::Result;
use rayon::prelude::*;

use super::lap::{LapSolver, assignment_score};
use super::objective::AlignedRows;
use super::score::{BOTH_SIDES, ScoreTerm, Scratch, Side, factor_len};
use super::{Alignment, Permutation};
use crate::nn::Mlp;
use crate::rng::Rng;

/// Sweep limit of SPEC §2.3.
pub const MAX_SWEEPS: usize = 100;
/// A permutation update counts as progress only if it gains more than this (SPEC §2.3).
pub const MIN_GAIN: f64 = 1e-12;

/// One sweep of coordinate descent, for the JSON log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sweep {
    /// 1-based sweep number.
    pub sweep: usize,
    /// The order in which the hidden permutations were updated.
    pub order: Vec<usize>,
    /// Objective `Σ_ℓ ⟨W^A, π(W^B)⟩ + ⟨b^A, π(b^B)⟩` after the sweep.
    pub objective: f64,
    /// Units whose assignment changed during the sweep, summed over layers.
    pub changed_units: usize,
}

/// Fails unless the buffers weight matching keeps for `model`'s shape fit in memory: per hidden
/// layer of width `n`, an `n × n` f32 score matrix, the solver's O(n) state and two factor
/// buffers of the size of the neighbouring weights (see `factor_len`).
fn check_memory(model: &Mlp) -> Result<()> {
    let h = model.layers.len().saturating_sub(1);
    let mut floats: usize = 0;
    for (i, l) in model.layers[..h].iter().enumerate() {
        let n = l.out_dim;
        let per_layer = crate::budget::product(&[n, n], "a score matrix")?
            .checked_add(factor_len(model, i).saturating_mul(2))
            .and_then(|x| x.checked_add(n.checked_mul(16)?))
            .unwrap_or(usize::MAX);
        floats = floats.saturating_add(per_layer);
    }
    let widths: Vec<usize> = model.layers[..h].iter().map(|l| l.out_dim).collect();
    crate::budget::check(
        &format!(
            "weight matching of models with hidden widths {widths:?} (an n × n f32 score matrix per hidden layer)"
        ),
        crate::budget::bytes_of::<f32>(floats, "weight matching")?,
    )
}

/// A permutation's LAP answer and its gain over the permutation it replaces.
type Solved = (Permutation, f64);

/// The state kept per hidden permutation between sweeps.
#[derive(Debug)]
struct Slot {
    /// The score matrix `[n, n]`: incoming plus outgoing term (empty until first needed), in
    /// f32 like the reference implementations' (the LAP widens entries exactly).
    scores: Vec<f32>,
    incoming: ScoreTerm,
    outgoing: ScoreTerm,
    scratch: Scratch,
    solver: LapSolver,
}

impl Slot {
    fn new(i: usize, n: usize) -> Self {
        Self {
            scores: Vec::new(),
            incoming: ScoreTerm::new(Side::Incoming, i),
            outgoing: ScoreTerm::new(Side::Outgoing, i),
            scratch: Scratch::default(),
            solver: LapSolver::new(n),
        }
    }

    /// Brings one or both halves of the score matrix up to date (one after the other: they
    /// share the matrix; each update is split over the threads).
    fn refresh(&mut self, sides: &[Side], a: &Mlp, b: &Mlp, perms: &[Permutation]) {
        for side in sides {
            let term = match side {
                Side::Incoming => &mut self.incoming,
                Side::Outgoing => &mut self.outgoing,
            };
            term.refresh(&mut self.scores, &mut self.scratch, a, b, perms);
        }
    }

    /// The best permutation `i` given the others (score matrix refreshed), and its gain over
    /// the current one.
    fn solve(&mut self, perms: &[Permutation], i: usize) -> Result<Solved> {
        let new = self.solver.solve_max(&self.scores)?;
        let n = new.len();
        let gain =
            assignment_score(&self.scores, n, &new) - assignment_score(&self.scores, n, &perms[i]);
        Ok((new, gain))
    }
}

/// Splits a sweep order into its longest runs with no two neighbouring permutations: the
/// permutations of a run do not read each other's result, so they can be solved at once.
fn independent_runs(order: &[usize]) -> Vec<Vec<usize>> {
    let mut runs: Vec<Vec<usize>> = Vec::new();
    for &i in order {
        match runs.last_mut() {
            Some(run) if run.iter().all(|&j| i.abs_diff(j) != 1) => run.push(i),
            _ => runs.push(vec![i]),
        }
    }
    runs
}

/// A fresh random order of the `h` hidden permutations (SPEC §2.3).
fn sweep_order(h: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..h).collect();
    rng.shuffle(&mut order);
    order
}

/// Weight matching (SPEC §2.3): identity start, a fresh random order of the hidden
/// permutations every sweep (from `seed`), each updated by an exact LAP and always accepted;
/// stop after a sweep with no gain > 1e-12 or after 100 sweeps. The models must have the same
/// architecture (checked by the caller, e.g. with [`Mlp::check_same_arch`]).
///
/// Five things make it fast without changing what is computed:
/// - a permutation whose two neighbours have not changed since it was last solved has the
///   same score matrix, and is skipped (gain 0);
/// - each permutation's score matrix is kept and corrected in place by low-rank products when a
///   neighbour moves ([`ScoreTerm`]);
/// - each permutation's LAP reads that matrix in place and is warm-started from its previous
///   prices and answer;
/// - consecutive permutations of the sweep order that are not neighbours do not read each
///   other's result, so they are solved at the same time (on two threads or more);
/// - while the LAPs of a run of the order are solved (one thread each), a thread without a
///   LAP brings up to date the score terms of the next run that do not depend on this one,
///   touches the buffers the next run will need, and computes the previous sweep's objective
///   (kept row by row, [`AlignedRows`], so a sweep that moved few units costs little).
pub fn weight_matching(a: &Mlp, b: &Mlp, seed: u64) -> Result<Alignment> {
    weight_matching_from(a, b, None, seed)
}

/// Weight matching started from the permutations `init` (identity if `None`): the warm start of
/// the straight-through estimator, which re-matches a slowly moving model every batch.
pub fn weight_matching_from(
    a: &Mlp,
    b: &Mlp,
    init: Option<&[Permutation]>,
    seed: u64,
) -> Result<Alignment> {
    let h = a.layers.len().saturating_sub(1);
    check_memory(a)?;
    let mut perms: Vec<Permutation> = match init {
        Some(p) => {
            let fits = p.len() == h && p.iter().zip(&a.layers).all(|(p, l)| p.len() == l.out_dim);
            if !fits {
                anyhow::bail!("the starting permutations do not fit the model's hidden widths");
            }
            p.to_vec()
        }
        None => a.layers[..h]
            .iter()
            .map(|l| Permutation::identity(l.out_dim))
            .collect(),
    };
    // The objective row by row, brought up to date once per sweep.
    let mut objective_rows = AlignedRows::new(a, b, &perms);
    let objective_identity = match init {
        Some(_) => super::inner_product(a, b),
        None => objective_rows.total(),
    };
    let mut rng = Rng::new(seed);
    let mut slots: Vec<Slot> = perms
        .iter()
        .enumerate()
        .map(|(i, p)| Slot::new(i, p.len()))
        .collect();
    // stale[i]: a neighbour of permutation i changed since i was last solved.
    let mut stale = vec![true; h];
    let mut sweeps: Vec<Sweep> = Vec::new();
    // The last sweep's permutations, whose objective is computed alongside the next sweep.
    let mut unscored: Option<Vec<Permutation>> = None;
    let mut converged = false;
    let mut order = sweep_order(h, &mut rng);
    let mut runs = independent_runs(&order);
    for sweep in 1..=MAX_SWEEPS {
        // Drawn now so the last run of this sweep can work ahead on the first of the next;
        // the generator gives the same orders as drawing at the start of each sweep.
        let next_order = sweep_order(h, &mut rng);
        let next_runs = independent_runs(&next_order);
        let no_run = Vec::new();
        let next_first = next_runs.first().unwrap_or(&no_run);
        let mut progress = false;
        let mut changed_units = 0;
        for (r, run) in runs.iter().enumerate() {
            let upcoming = runs.get(r + 1).unwrap_or(next_first);
            let batch: Vec<usize> = run.iter().copied().filter(|&i| stale[i]).collect();
            let mut current: Vec<(usize, &mut Slot)> = Vec::new();
            let mut ahead: Vec<(usize, &mut Slot)> = Vec::new();
            for (i, slot) in slots.iter_mut().enumerate() {
                if batch.contains(&i) {
                    current.push((i, slot));
                } else if upcoming.contains(&i) && !run.contains(&i) {
                    ahead.push((i, slot));
                }
            }
            let perms_now = &perms;
            // A run with no LAP (its permutations are up to date) has no thread to spare:
            // the last sweep's objective waits for a run that has one (or the sweep's end).
            let score_unscored = if current.is_empty() {
                None
            } else {
                unscored.take()
            };
            // The run's own terms first, on all threads; then its LAPs, each on one thread,
            // while the other threads work ahead.
            current
                .par_iter_mut()
                .for_each(|(_, slot)| slot.refresh(&BOTH_SIDES, a, b, perms_now));
            // Fewer LAPs than threads: a thread is free to prepare the next run's buffers.
            let lone = !current.is_empty() && current.len() < rayon::current_num_threads();
            let mut solved: Vec<Option<(usize, Result<Solved>)>> =
                current.iter().map(|_| None).collect();
            let mut objective = None;
            let side = || {
                // Serial work first: whatever is split over the threads afterwards (the
                // products below, the objective) can then be shared with the LAP thread as
                // soon as its LAP is done, instead of leaving it idle at the end.
                if lone {
                    for (j, slot) in &mut ahead {
                        slot.scratch.prepare(factor_len(a, *j));
                    }
                }
                // Terms whose neighbour is not being solved now hold their value until the
                // next run needs them: refresh them here, off the critical path.
                for (j, slot) in &mut ahead {
                    let settled = [
                        (!j.checked_sub(1).is_some_and(|k| run.contains(&k)))
                            .then_some(Side::Incoming),
                        (!run.contains(&(*j + 1))).then_some(Side::Outgoing),
                    ];
                    let sides: Vec<Side> = settled.into_iter().flatten().collect();
                    slot.refresh(&sides, a, b, perms_now);
                }
                objective = score_unscored.map(|p| objective_rows.update(a, b, &p));
            };
            // FIFO: the LAPs are taken first, one per thread, and the side work only by a
            // thread that has no LAP (or has finished its own), so it never delays one.
            rayon::scope_fifo(|scope| {
                for ((i, slot), out) in current.iter_mut().zip(&mut solved) {
                    let i = *i;
                    scope.spawn_fifo(move |_| *out = Some((i, slot.solve(perms_now, i))));
                }
                scope.spawn_fifo(|_| side());
            });
            if let Some(objective) = objective {
                sweeps
                    .last_mut()
                    .expect("a sweep was scored late")
                    .objective = objective;
            }
            for (i, result) in solved.into_iter().flatten() {
                let (new, gain) = result?;
                if gain > MIN_GAIN {
                    progress = true;
                }
                let changed = new.hamming(&perms[i]);
                if changed > 0 {
                    changed_units += changed;
                    if let Some(j) = i.checked_sub(1) {
                        stale[j] = true;
                    }
                    if let Some(s) = stale.get_mut(i + 1) {
                        *s = true;
                    }
                }
                perms[i] = new;
                stale[i] = false;
            }
        }
        if let (Some(p), Some(last)) = (unscored.take(), sweeps.last_mut()) {
            last.objective = objective_rows.update(a, b, &p);
        }
        sweeps.push(Sweep {
            sweep,
            order,
            objective: f64::NAN,
            changed_units,
        });
        unscored = Some(perms.clone());
        (order, runs) = (next_order, next_runs);
        if !progress {
            converged = true;
            break;
        }
    }
    if let (Some(p), Some(last)) = (unscored, sweeps.last_mut()) {
        last.objective = objective_rows.update(a, b, &p);
    }
    let objective = sweeps.last().map_or(objective_identity, |s| s.objective);
    Ok(Alignment {
        method: "weight",
        perms,
        objective_identity,
        objective,
        sweeps,
        converged,
        epochs: Vec::new(),
    })
}
