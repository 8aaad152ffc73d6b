//! The I2C bus the `lsm303agr` driver talks to on this build, and the board's decision display.
//!
//! - A QEMU board, or the micro:bit built with a recording (`--sensor replay:FILE`): core's
//!   `ReplayI2c` playing the embedded recording.
//! - The micro:bit with `--sensor hardware` (feature `sensor-hardware`): the nRF52833's TWIM0 on
//!   the internal I2C bus, where the real LSM303AGR sits.

#[cfg(not(all(feature = "board-microbit-v2", feature = "sensor-hardware")))]
mod imp {
    use core::sync::atomic::{AtomicBool, Ordering};

    use mote_core::sensor::recording::Recording;
    use mote_core::sensor::replay::{ReplayError, ReplayI2c};

    /// Set when the replay reports no new data: the recording has been played to its end.
    static FINISHED: AtomicBool = AtomicBool::new(false);

    /// The bus of this build.
    pub type Bus = ReplayI2c;

    static RECORDING: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/recording.bin"));

    /// The replayed sensor with the embedded recording, or why it cannot play.
    pub fn open() -> Result<Bus, &'static str> {
        let rec = Recording::parse(RECORDING).map_err(
            |_| "no valid recording embedded (mote firmware build --sensor replay:FILE)",
        )?;
        ReplayI2c::new(rec).map_err(|_| "the recording is not three accelerometer axes")
    }

    /// Logs a bus error.
    pub fn log_error(e: &ReplayError) {
        defmt::error!("replayed sensor: {}", defmt::Display2Format(e));
    }

    /// The sensor had no new sample at a tick: for the replay, the end of the recording.
    pub fn no_new_data() {
        FINISHED.store(true, Ordering::Release);
    }

    /// Whether the recording has been played to its end.
    pub fn finished() -> bool {
        FINISHED.load(Ordering::Acquire)
    }
}

#[cfg(all(feature = "board-microbit-v2", feature = "sensor-hardware"))]
mod imp {
    use microbit::hal::twim::{self, Twim};
    use microbit::pac::TWIM0;

    /// The bus of this build.
    pub type Bus = Twim<TWIM0>;

    /// TWIM0 on the internal bus at 100 kHz; `twim0` and `pins` come from `microbit::Board`.
    pub fn open_with(twim0: TWIM0, pins: microbit::board::I2CInternalPins) -> Bus {
        Twim::new(twim0, pins.into(), twim::Frequency::K100)
    }

    /// Logs a bus error.
    pub fn log_error(e: &twim::Error) {
        defmt::error!("I2C: {}", defmt::Debug2Format(e));
    }

    /// The sensor had no new sample at a tick (its data rate is at or above the tick rate, so
    /// this is a phase difference of the two clocks, and the next tick reads it).
    pub fn no_new_data() {}

    /// A real sensor never runs out.
    pub fn finished() -> bool {
        false
    }
}

pub use imp::*;

/// The micro:bit's 5×5 LED matrix showing the decision: class k lights the k-th LED of the top
/// row (classes past 4 light the whole row).
#[cfg(feature = "board-microbit-v2")]
pub struct Display {
    pins: microbit::gpio::DisplayPins,
}

#[cfg(feature = "board-microbit-v2")]
impl Display {
    /// Takes the matrix's pins; every LED off.
    pub fn new(pins: microbit::gpio::DisplayPins) -> Self {
        let mut d = Self { pins };
        d.show(None);
        d
    }

    /// Shows `class` (or nothing).
    pub fn show(&mut self, class: Option<usize>) {
        use embedded_hal::digital::OutputPin;
        let p = &mut self.pins;
        // Rows drive the anodes (high = on), columns the cathodes (low = on); GPIO writes on the
        // nRF52 cannot fail (Infallible).
        let _ = p.row1.set_state(class.is_some().into());
        let lit = |k: usize| class.is_some_and(|c| c == k || c > 4);
        let _ = p.col1.set_state((!lit(0)).into());
        let _ = p.col2.set_state((!lit(1)).into());
        let _ = p.col3.set_state((!lit(2)).into());
        let _ = p.col4.set_state((!lit(3)).into());
        let _ = p.col5.set_state((!lit(4)).into());
    }
}
