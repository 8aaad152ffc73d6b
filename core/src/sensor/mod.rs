//! The sensor contract between host and device: the recording a replayed sensor plays back
//! ([`recording`]), what an LSM303AGR accelerometer puts in its output registers for a physical
//! value and what its driver reads back ([`lsm303agr`]), and the conversion of sensor readings to
//! the model's input units ([`to_model_units`]), and (feature `embedded-hal`) the replayed chip
//! itself, an I2C device answering its register protocol from a recording (`replay`). The
//! firmware and the host's simulator both use these, so a model sees the same input bits on both.

pub mod lsm303agr;
pub mod recording;
#[cfg(any(test, feature = "embedded-hal"))]
pub mod replay;

/// Standard gravity in m/s² per g (the conversion of the ISO 80000-3 convention).
pub const STANDARD_GRAVITY: f32 = 9.806_65;

/// Milli-g to m/s² in Q24.40: `round(9.80665e-3 · 2⁴⁰)`, exact to 3e-13 relative.
const MG_TO_MS2_Q40: i64 = 10_782_525_705;

/// An accelerometer reading in milli-g, as the driver returns it, in the model's input unit,
/// m/s² (the unit of the BasicMotions recordings the bundled models are trained on).
///
/// Integer arithmetic in a Q24.40 fixed-point format (`fixed`'s `I24F40`): one 64-bit integer
/// multiply of the reading by the constant, then one correctly rounded conversion to f32, so a
/// core without an FPU (Cortex-M3) needs no soft-float call, and the host and every MCU get the
/// same bits. Readings are within ±2²³ mg (the product cannot overflow).
pub fn to_model_units(milli_g: i32) -> f32 {
    let mg = i64::from(milli_g.clamp(-(1 << 23), 1 << 23));
    fixed::types::I24F40::from_bits(mg * MG_TO_MS2_Q40).to_num::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_point_conversion_is_the_correctly_rounded_product() {
        assert_eq!(
            MG_TO_MS2_Q40,
            libm::round(9.806_65e-3 * (1u64 << 40) as f64) as i64
        );
        // Every 16-bit reading (the LSM303AGR's range and more): equal to the f64 product
        // rounded once to f32, and within an ulp of the f32 product `mg · 0.00980665`.
        for mg in i32::from(i16::MIN)..=i32::from(i16::MAX) {
            let exact = (mg as f64 * 9.806_65e-3) as f32;
            let got = to_model_units(mg);
            assert!(
                got == exact || (got.to_bits() as i64 - exact.to_bits() as i64).abs() <= 1,
                "{mg}: {got} vs {exact}"
            );
            let f = mg as f32 * (STANDARD_GRAVITY / 1000.0);
            assert!(
                (got.to_bits() as i64 - f.to_bits() as i64).abs() <= 1,
                "{mg}"
            );
        }
        assert_eq!(to_model_units(i32::MAX), to_model_units(1 << 23));
    }

    #[test]
    fn one_g_is_standard_gravity() {
        assert!((to_model_units(1000) - STANDARD_GRAVITY).abs() < 1e-6);
        assert_eq!(to_model_units(0), 0.0);
        assert_eq!(to_model_units(-1000), -to_model_units(1000));
    }
}
