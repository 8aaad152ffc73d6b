//! The L-Mul error table (SPEC §1.6 (b)): mean and max relative error of L-Mul with `k`-bit
//! truncated operands against fp8 e4m3 / e5m2 round-to-nearest multiplication, computed with
//! `mote-core`.
//!
//! Operands are continuous: mantissas uniform in `[0, 1)` (all 23 bits random), exponent 0, so
//! `x, y ∈ [1, 2)` and the reference is the exact product `x·y` in `f64`.

use mote_core::lmul::{Fp8E4M3, Fp8E5M2, lmul_f32_k};
use serde::Serialize;

use crate::rng::Rng;

/// One row of the table.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorRow {
    /// What was measured, e.g. `lmul k=3 (truncated)`.
    pub method: String,
    /// Mean relative error.
    pub mean: f64,
    /// Max relative error.
    pub max: f64,
}

/// A float in `[1, 2)` with a uniformly random 23-bit mantissa.
fn unit_mantissa(rng: &mut Rng) -> f32 {
    f32::from_bits(0x3F80_0000 | (rng.next_u64() >> 41) as u32)
}

#[derive(Default)]
struct Acc {
    sum: f64,
    max: f64,
    n: u64,
}

impl Acc {
    fn add(&mut self, approx: f64, exact: f64) {
        let e = (approx - exact).abs() / exact;
        self.sum += e;
        self.max = self.max.max(e);
        self.n += 1;
    }
    fn row(&self, method: String) -> ErrorRow {
        ErrorRow {
            method,
            mean: self.sum / self.n.max(1) as f64,
            max: self.max,
        }
    }
}

/// The `k` values of the table.
pub const KS: [u32; 8] = [2, 3, 4, 5, 6, 7, 8, 23];

/// Computes the table over `samples` operand pairs drawn with `seed`.
pub fn error_table(samples: u64, seed: u64) -> Vec<ErrorRow> {
    let mut rng = Rng::new(seed);
    let mut lmul = [(); KS.len()].map(|_| Acc::default());
    let (mut e4m3, mut e5m2) = (Acc::default(), Acc::default());
    let (mut e4m3_raw, mut e5m2_raw) = (Acc::default(), Acc::default());
    for _ in 0..samples {
        let (x, y) = (unit_mantissa(&mut rng), unit_mantissa(&mut rng));
        let exact = x as f64 * y as f64;
        for (acc, &k) in lmul.iter_mut().zip(&KS) {
            acc.add(lmul_f32_k(x, y, k) as f64, exact);
        }
        // fp8: operands RNE to the format; the product of two fp8 values is exact in f32
        // (at most 8 significant bits), then RNE to the format again.
        let p4 = Fp8E4M3::from_f32(x).to_f32() * Fp8E4M3::from_f32(y).to_f32();
        e4m3.add(Fp8E4M3::from_f32(p4).to_f32() as f64, exact);
        e4m3_raw.add(p4 as f64, exact);
        let p5 = Fp8E5M2::from_f32(x).to_f32() * Fp8E5M2::from_f32(y).to_f32();
        e5m2.add(Fp8E5M2::from_f32(p5).to_f32() as f64, exact);
        e5m2_raw.add(p5 as f64, exact);
    }
    let mut rows: Vec<ErrorRow> = lmul
        .iter()
        .zip(&KS)
        .map(|(a, k)| a.row(format!("lmul k={k} (truncated operands)")))
        .collect();
    rows.push(e4m3.row("fp8 e4m3 RNE operands, RNE product".into()));
    rows.push(e5m2.row("fp8 e5m2 RNE operands, RNE product".into()));
    rows.push(e4m3_raw.row("fp8 e4m3 RNE operands, exact product".into()));
    rows.push(e5m2_raw.row("fp8 e5m2 RNE operands, exact product".into()));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC §1.6 (b) figures; the issue asks for ±0.002.
    #[test]
    fn reproduces_spec_table_within_0_002() {
        let rows = error_table(400_000, 1);
        let want = [
            ("lmul k=2 ", 0.0692),
            ("lmul k=3 ", 0.0483),
            ("lmul k=4 ", 0.0296),
            ("lmul k=5 ", 0.0275),
            ("lmul k=6 ", 0.0255),
            ("lmul k=7 ", 0.0257),
            ("lmul k=8 ", 0.0260),
            ("lmul k=23 ", 0.02655),
            ("fp8 e4m3 RNE operands, RNE", 0.0352),
            ("fp8 e5m2 RNE operands, RNE", 0.0704),
            ("fp8 e4m3 RNE operands, exact", 0.0293),
            ("fp8 e5m2 RNE operands, exact", 0.0586),
        ];
        for (prefix, mean) in want {
            let row = rows
                .iter()
                .find(|r| r.method.starts_with(prefix))
                .expect(prefix);
            assert!(
                (row.mean - mean).abs() <= 0.002,
                "{}: {} vs SPEC {}",
                row.method,
                row.mean,
                mean
            );
        }
        let k23 = rows
            .iter()
            .find(|r| r.method.starts_with("lmul k=23"))
            .expect("k=23 row");
        assert!((k23.max - 0.0729).abs() < 0.001, "max {}", k23.max);
    }
}
