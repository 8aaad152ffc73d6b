//! A replayed LSM303AGR: an [`embedded_hal::i2c::I2c`] bus with one device on it that answers
//! the accelerometer's register protocol (addresses 0x19 and 0x1E, datasheet DocID027765 §8)
//! from a [`Recording`]. The `lsm303agr` driver that reads the real chip on a board talks to it
//! unchanged, so under QEMU the driver path is the one that runs on hardware.
//!
//! Known: the accelerometer's WHO_AM_I_A (0x0F, reads 0x33), TEMP_CFG_REG_A (0x1F), CTRL_REG1_A
//! (0x20), CTRL_REG4_A (0x23), STATUS_REG_A (0x27: ZYXDA while samples remain) and OUT_X_L_A ..
//! OUT_Z_H_A (0x28..0x2D, auto-increment with the sub-address MSB); the magnetometer's
//! WHO_AM_I_M (0x4F, reads 0x40) and CFG_REG_C_M (0x62). Each read of OUT_Z_H_A completes a
//! sample and makes the next one current: the chip's output data rate is the sampling timer's.
//! Any other address, register or access is a [`ReplayError`], never a silent zero. After the
//! last sample STATUS_REG_A reads 0 ([`ReplayI2c::finished`]).
//!
//! Here, in core (feature `embedded-hal`), so that the host's tests run the same replay against
//! the same driver as the firmware does.

use embedded_hal::i2c::{self, ErrorKind, I2c, Operation, SevenBitAddress};

use super::lsm303agr::{self, Mode, Scale};
use super::recording::Recording;

/// The accelerometer's 7-bit I2C address.
pub const ACCEL_ADDR: u8 = 0x19;
/// The magnetometer's 7-bit I2C address.
pub const MAG_ADDR: u8 = 0x1E;

const WHO_AM_I_A: u8 = 0x0F;
const TEMP_CFG_REG_A: u8 = 0x1F;
const CTRL_REG1_A: u8 = 0x20;
const CTRL_REG4_A: u8 = 0x23;
const STATUS_REG_A: u8 = 0x27;
const OUT_X_L_A: u8 = 0x28;
const OUT_Z_H_A: u8 = 0x2D;
const WHO_AM_I_M: u8 = 0x4F;
const CFG_REG_C_M: u8 = 0x62;

/// A bus access the replayed sensor does not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// No device at this address.
    NoDevice {
        /// 7-bit address.
        addr: u8,
    },
    /// A register the replay does not implement.
    UnknownRegister {
        /// 7-bit address.
        addr: u8,
        /// Register.
        reg: u8,
    },
    /// A write without a sub-address byte, or a read before any sub-address.
    NoSubAddress,
    /// OUT registers read past the end of the recording.
    PastTheEnd,
    /// The recording's sample has a channel count other than 3.
    NotThreeAxes,
}

impl core::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ReplayError::NoDevice { addr } => write!(f, "no device at I2C address {addr:#04x}"),
            ReplayError::UnknownRegister { addr, reg } => write!(
                f,
                "register {reg:#04x} of device {addr:#04x} is not part of the replayed LSM303AGR"
            ),
            ReplayError::NoSubAddress => write!(f, "I2C access without a register sub-address"),
            ReplayError::PastTheEnd => {
                write!(f, "output registers read past the end of the recording")
            }
            ReplayError::NotThreeAxes => write!(f, "the recording is not three accelerometer axes"),
        }
    }
}

impl core::error::Error for ReplayError {}

impl i2c::Error for ReplayError {
    fn kind(&self) -> ErrorKind {
        match self {
            ReplayError::NoDevice { .. } => {
                ErrorKind::NoAcknowledge(i2c::NoAcknowledgeSource::Address)
            }
            _ => ErrorKind::Other,
        }
    }
}

/// The replayed sensor on its bus.
pub struct ReplayI2c {
    rec: Recording<'static>,
    /// Index of the current sample.
    next: usize,
    ctrl_reg1_a: u8,
    ctrl_reg4_a: u8,
    temp_cfg_reg_a: u8,
    cfg_reg_c_m: u8,
    /// Register pointer of the last sub-address, per device, with the auto-increment flag.
    pointer: Option<(u8, u8, bool)>,
    /// The current sample's six output bytes, encoded at the mode and scale of the moment it
    /// was first read.
    latched: Option<[u8; 6]>,
}

impl ReplayI2c {
    /// A sensor that will play `rec` (three channels, milli-g).
    pub fn new(rec: Recording<'static>) -> Result<Self, ReplayError> {
        if rec.channels() != 3 {
            return Err(ReplayError::NotThreeAxes);
        }
        Ok(Self {
            rec,
            next: 0,
            // Power-on values of the datasheet's register table.
            ctrl_reg1_a: 0x07,
            ctrl_reg4_a: 0x00,
            temp_cfg_reg_a: 0x00,
            cfg_reg_c_m: 0x00,
            pointer: None,
            latched: None,
        })
    }

    /// Whether every sample has been read.
    pub fn finished(&self) -> bool {
        self.next >= self.rec.len()
    }

    /// Samples read so far.
    pub fn played(&self) -> usize {
        self.next
    }

    /// The mode and full scale the driver configured.
    fn mode_and_scale(&self) -> (Mode, Scale) {
        let lp = self.ctrl_reg1_a & 0x08 != 0;
        let hr = self.ctrl_reg4_a & 0x08 != 0;
        let mode = match (lp, hr) {
            (_, true) => Mode::HighResolution,
            (true, false) => Mode::LowPower,
            (false, false) => Mode::Normal,
        };
        (mode, Scale::from_fs_bits(self.ctrl_reg4_a >> 4))
    }

    fn write_reg(&mut self, addr: u8, reg: u8, value: u8) -> Result<(), ReplayError> {
        match (addr, reg) {
            (ACCEL_ADDR, TEMP_CFG_REG_A) => self.temp_cfg_reg_a = value,
            (ACCEL_ADDR, CTRL_REG1_A) => self.ctrl_reg1_a = value,
            (ACCEL_ADDR, CTRL_REG4_A) => self.ctrl_reg4_a = value,
            (MAG_ADDR, CFG_REG_C_M) => self.cfg_reg_c_m = value,
            _ => return Err(ReplayError::UnknownRegister { addr, reg }),
        }
        Ok(())
    }

    fn read_reg(&mut self, addr: u8, reg: u8) -> Result<u8, ReplayError> {
        Ok(match (addr, reg) {
            (ACCEL_ADDR, WHO_AM_I_A) => 0x33,
            (ACCEL_ADDR, TEMP_CFG_REG_A) => self.temp_cfg_reg_a,
            (ACCEL_ADDR, CTRL_REG1_A) => self.ctrl_reg1_a,
            (ACCEL_ADDR, CTRL_REG4_A) => self.ctrl_reg4_a,
            // ZYXDA (bit 3) with XDA, YDA, ZDA while a sample is there to read.
            (ACCEL_ADDR, STATUS_REG_A) => {
                if self.next < self.rec.len() {
                    0x0F
                } else {
                    0x00
                }
            }
            (ACCEL_ADDR, OUT_X_L_A..=OUT_Z_H_A) => {
                let bytes = match self.latched {
                    Some(b) => b,
                    None => {
                        let b = self.encode_current()?;
                        self.latched = Some(b);
                        b
                    }
                };
                if reg == OUT_Z_H_A {
                    self.latched = None;
                    self.next += 1;
                }
                bytes[usize::from(reg - OUT_X_L_A)]
            }
            (MAG_ADDR, WHO_AM_I_M) => 0x40,
            (MAG_ADDR, CFG_REG_C_M) => self.cfg_reg_c_m,
            (ACCEL_ADDR | MAG_ADDR, _) => return Err(ReplayError::UnknownRegister { addr, reg }),
            _ => return Err(ReplayError::NoDevice { addr }),
        })
    }

    fn encode_current(&self) -> Result<[u8; 6], ReplayError> {
        let mut mg = [0i16; 3];
        self.rec
            .read(self.next, &mut mg)
            .map_err(|_| ReplayError::PastTheEnd)?;
        let (mode, scale) = self.mode_and_scale();
        let mut out = [0u8; 6];
        for (o, v) in out.chunks_exact_mut(2).zip(mg) {
            o.copy_from_slice(&lsm303agr::encode(i32::from(v), mode, scale).to_le_bytes());
        }
        Ok(out)
    }

    /// The register pointer after a sub-address byte: accelerometer sub-addresses auto-increment
    /// when their MSB is set (the magnetometer always does, §6.1.1).
    fn sub_address(addr: u8, sub: u8) -> (u8, u8, bool) {
        if addr == MAG_ADDR {
            (addr, sub, true)
        } else {
            (addr, sub & 0x7F, sub & 0x80 != 0)
        }
    }
}

impl i2c::ErrorType for ReplayI2c {
    type Error = ReplayError;
}

impl I2c<SevenBitAddress> for ReplayI2c {
    fn transaction(
        &mut self,
        address: SevenBitAddress,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        if address != ACCEL_ADDR && address != MAG_ADDR {
            return Err(ReplayError::NoDevice { addr: address });
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    let (&sub, data) = bytes.split_first().ok_or(ReplayError::NoSubAddress)?;
                    let (addr, mut reg, inc) = Self::sub_address(address, sub);
                    for &v in data {
                        self.write_reg(addr, reg, v)?;
                        reg = if inc { reg.wrapping_add(1) } else { reg };
                    }
                    self.pointer = Some((addr, reg, inc));
                }
                Operation::Read(buf) => {
                    let (addr, mut reg, inc) = match self.pointer {
                        Some(p) if p.0 == address => p,
                        _ => return Err(ReplayError::NoSubAddress),
                    };
                    for b in buf.iter_mut() {
                        *b = self.read_reg(addr, reg)?;
                        reg = if inc { reg.wrapping_add(1) } else { reg };
                    }
                    self.pointer = Some((addr, reg, inc));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::lsm303agr as chip;
    use crate::sensor::recording::{Unit, write};
    use ::lsm303agr::{AccelMode, AccelOutputDataRate, AccelScale, Lsm303agr};

    struct NoDelay;
    impl embedded_hal::delay::DelayNs for NoDelay {
        fn delay_ns(&mut self, _: u32) {}
    }

    fn recording(values: &[i16], buf: &mut [u8]) -> Recording<'static> {
        let n = write(3, Unit::MilliG, 10_000, values, buf).unwrap();
        let leaked: &'static [u8] = Box::leak(buf[..n].to_vec().into_boxed_slice());
        Recording::parse(leaked).unwrap()
    }

    #[test]
    fn the_real_driver_reads_the_recording_through_the_register_protocol() {
        let values = [1000, -1000, 3, 9000, -9000, 0, 1, 2, -3];
        let mut buf = [0u8; 64];
        let bus = ReplayI2c::new(recording(&values, &mut buf)).unwrap();
        let mut s = Lsm303agr::new_with_i2c(bus);
        assert!(s.accelerometer_id().unwrap().is_correct());
        s.init().unwrap();
        s.set_accel_mode_and_odr(
            &mut NoDelay,
            AccelMode::HighResolution,
            AccelOutputDataRate::Hz10,
        )
        .unwrap();
        s.set_accel_scale(AccelScale::G4).unwrap();
        let (mode, scale) = (chip::Mode::HighResolution, chip::Scale::G4);
        for t in values.chunks_exact(3) {
            assert!(s.accel_status().unwrap().xyz_new_data());
            let (x, y, z) = s.acceleration().unwrap().xyz_mg();
            let want = t
                .iter()
                .map(|&v| chip::decode(chip::encode(i32::from(v), mode, scale), mode, scale));
            assert_eq!([x, y, z].to_vec(), want.collect::<Vec<_>>());
        }
        assert!(!s.accel_status().unwrap().xyz_new_data());
        let bus = s.destroy();
        assert!(bus.finished() && bus.played() == 3);
    }

    #[test]
    fn unknown_registers_and_devices_are_errors_not_zeros() {
        let mut buf = [0u8; 64];
        let mut bus = ReplayI2c::new(recording(&[1, 2, 3], &mut buf)).unwrap();
        let mut b = [0u8; 1];
        // CTRL_REG2_A (0x21) is not replayed.
        assert_eq!(
            bus.write_read(ACCEL_ADDR, &[0x21], &mut b),
            Err(ReplayError::UnknownRegister {
                addr: ACCEL_ADDR,
                reg: 0x21
            })
        );
        assert_eq!(
            bus.write(ACCEL_ADDR, &[0x21, 0]),
            Err(ReplayError::UnknownRegister {
                addr: ACCEL_ADDR,
                reg: 0x21
            })
        );
        assert_eq!(
            bus.read(0x50, &mut b),
            Err(ReplayError::NoDevice { addr: 0x50 })
        );
        assert_eq!(bus.write(ACCEL_ADDR, &[]), Err(ReplayError::NoSubAddress));
        // The magnetometer answers its identity only.
        bus.write_read(MAG_ADDR, &[0x4F], &mut b).unwrap();
        assert_eq!(b[0], 0x40);
        assert!(bus.write_read(MAG_ADDR, &[0x68], &mut b).is_err());
        // Reading past the end.
        let mut six = [0u8; 6];
        bus.write_read(ACCEL_ADDR, &[0x28 | 0x80], &mut six)
            .unwrap();
        assert_eq!(
            bus.write_read(ACCEL_ADDR, &[0x28 | 0x80], &mut six),
            Err(ReplayError::PastTheEnd)
        );
        let mut two = [0u8; 64];
        let n = write(2, Unit::MilliG, 1, &[0, 0], &mut two).unwrap();
        let leaked: &'static [u8] = Box::leak(two[..n].to_vec().into_boxed_slice());
        assert!(matches!(
            ReplayI2c::new(Recording::parse(leaked).unwrap()),
            Err(ReplayError::NotThreeAxes)
        ));
    }
}
