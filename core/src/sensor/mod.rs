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

/// An accelerometer reading in milli-g, as the driver returns it, in the model's input unit,
/// m/s² (the unit of the BasicMotions recordings the bundled models are trained on): one f32
/// multiplication of the exactly representable integer, so the host and the MCU get the same
/// bits (IEEE 754 rounds a single multiplication the same everywhere, with or without an FPU).
pub fn to_model_units(milli_g: i32) -> f32 {
    milli_g as f32 * (STANDARD_GRAVITY / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_g_is_standard_gravity() {
        assert!((to_model_units(1000) - STANDARD_GRAVITY).abs() < 1e-6);
        assert_eq!(to_model_units(0), 0.0);
        assert_eq!(to_model_units(-1000), -to_model_units(1000));
    }
}
