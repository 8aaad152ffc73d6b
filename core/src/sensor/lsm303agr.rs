//! The LSM303AGR accelerometer's output encoding (datasheet DocID027765, §4.2 and the OUT_X_L_A
//! .. OUT_Z_H_A registers): a physical value becomes a left-justified two's-complement count of
//! 8 (low power), 10 (normal) or 12 (high resolution) bits, in steps that depend on the full
//! scale. [`encode`] is what the chip (and the firmware's replay device) puts in the registers;
//! [`decode`] is what the `lsm303agr` driver's `x_mg()` computes from them (re-implemented here as
//! the host's reference: the QEMU end-to-end test checks that the real driver agrees).

/// The full-scale range, `FS[1:0]` of CTRL_REG4_A.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// ±2 g.
    G2,
    /// ±4 g.
    G4,
    /// ±8 g.
    G8,
    /// ±16 g.
    G16,
}

impl Scale {
    /// From the `FS[1:0]` bits (CTRL_REG4_A bits 5:4).
    pub fn from_fs_bits(bits: u8) -> Scale {
        match bits & 0b11 {
            0 => Scale::G2,
            1 => Scale::G4,
            2 => Scale::G8,
            _ => Scale::G16,
        }
    }

    /// The range in g.
    pub fn g(self) -> i32 {
        match self {
            Scale::G2 => 2,
            Scale::G4 => 4,
            Scale::G8 => 8,
            Scale::G16 => 16,
        }
    }
}

/// The operating mode: CTRL_REG1_A's LPen with CTRL_REG4_A's HR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 8-bit output.
    LowPower,
    /// 10-bit output.
    Normal,
    /// 12-bit output.
    HighResolution,
}

impl Mode {
    /// Bits of the output count.
    pub fn bits(self) -> u32 {
        match self {
            Mode::LowPower => 8,
            Mode::Normal => 10,
            Mode::HighResolution => 12,
        }
    }

    /// Milli-g per count at `scale`, as the driver scales (`lsm303agr` 1.x `scaling_factor`).
    pub fn milli_g_per_count(self, scale: Scale) -> i32 {
        match self {
            Mode::HighResolution => scale.g() / 2,
            Mode::Normal => scale.g() * 2,
            Mode::LowPower => scale.g() * 8,
        }
    }
}

/// The register word (OUT_x_H_A:OUT_x_L_A) for a physical acceleration of `milli_g`: the nearest
/// count (halves away from zero), saturated at the range of the mode's bits, left-justified.
pub fn encode(milli_g: i32, mode: Mode, scale: Scale) -> u16 {
    let step = mode.milli_g_per_count(scale);
    let half = step / 2;
    let rounded = if milli_g >= 0 {
        milli_g.saturating_add(half) / step
    } else {
        milli_g.saturating_sub(half) / step
    };
    let max = (1i32 << (mode.bits() - 1)) - 1;
    let count = rounded.clamp(-max - 1, max);
    ((count << (16 - mode.bits())) as i16) as u16
}

/// The driver's milli-g for a register word: the count (arithmetic division by the
/// left-justification) times the mode's step.
pub fn decode(word: u16, mode: Mode, scale: Scale) -> i32 {
    let count = (word as i16) / (1i16 << (16 - mode.bits()));
    i32::from(count) * mode.milli_g_per_count(scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn worked_examples() {
        // High resolution at ±4 g: 2 mg per count, 12 bits left-justified by 4.
        let (hr, g4) = (Mode::HighResolution, Scale::G4);
        assert_eq!(encode(1000, hr, g4), 500 << 4);
        assert_eq!(encode(-1000, hr, g4), ((-500i16) << 4) as u16);
        assert_eq!(encode(3, hr, g4), 2 << 4); // 1.5 counts: half away from zero
        assert_eq!(encode(-3, hr, g4), ((-2i16) << 4) as u16);
        assert_eq!(encode(1, hr, g4), 1 << 4);
        assert_eq!(encode(9000, hr, g4), 2047 << 4); // saturates at +4094 mg
        assert_eq!(encode(-9000, hr, g4), ((-2048i16) << 4) as u16);
        assert_eq!(decode(encode(1000, hr, g4), hr, g4), 1000);
        assert_eq!(decode(encode(-9000, hr, g4), hr, g4), -4096);
        // Low power at ±2 g: 16 mg per count, 8 bits.
        assert_eq!(
            decode(
                encode(100, Mode::LowPower, Scale::G2),
                Mode::LowPower,
                Scale::G2
            ),
            96
        );
        assert_eq!(Scale::from_fs_bits(0b01), Scale::G4);
    }

    proptest! {
        #[test]
        fn round_trip_is_within_half_a_step_inside_the_range(
            mg in -20_000i32..20_000,
            mode in prop_oneof![Just(Mode::LowPower), Just(Mode::Normal), Just(Mode::HighResolution)],
            fs in 0u8..4,
        ) {
            let scale = Scale::from_fs_bits(fs);
            let step = mode.milli_g_per_count(scale);
            let back = decode(encode(mg, mode, scale), mode, scale);
            let lo = -(1i32 << (mode.bits() - 1)) * step;
            let hi = ((1i32 << (mode.bits() - 1)) - 1) * step;
            if mg >= lo && mg <= hi {
                prop_assert!((back - mg).abs() * 2 <= step);
            } else {
                prop_assert_eq!(back, if mg < lo { lo } else { hi });
            }
            prop_assert_eq!(back % step, 0);
        }
    }
}
