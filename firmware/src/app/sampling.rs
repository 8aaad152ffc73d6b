//! The timed sampling loop's interrupt half: SysTick fires at the sample rate; its handler reads
//! one sample through the `lsm303agr` driver and enqueues it for the main loop. A full queue
//! drops the sample and counts it ([`DROPPED`]); the sequence numbers let the main loop see
//! exactly which samples are missing.

use core::cell::RefCell;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use critical_section::Mutex;
use heapless::spsc::{Consumer, Producer, Queue};
use lsm303agr::interface::I2cInterface;
use lsm303agr::{AccelMode, AccelOutputDataRate, AccelScale, Lsm303agr, mode::MagOneShot};

use super::bus::{self, Bus};

/// One accelerometer reading with its place in the stream.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Index of the sample since the start (counts dropped samples too).
    pub seq: u32,
    /// x, y, z in milli-g, as the driver returns them.
    pub milli_g: [i32; 3],
}

/// Queue slots: `Queue<_, N>` holds `N - 1` samples (3.2 s at 10 Hz).
pub const QUEUE_SLOTS: usize = 33;

/// The driver on this build's bus.
pub type Sensor = Lsm303agr<I2cInterface<Bus>, MagOneShot>;

/// Samples dropped because the queue was full.
pub static DROPPED: AtomicU32 = AtomicU32::new(0);
/// SysTick ticks spent in the handler, summed.
pub static ISR_TICKS: AtomicU32 = AtomicU32::new(0);
/// Samples read from the sensor (enqueued or dropped).
pub static PRODUCED: AtomicU32 = AtomicU32::new(0);
/// Sample periods since SysTick started (the handler's count).
static PERIODS: AtomicU32 = AtomicU32::new(0);
/// Set when the sensor or bus failed; the main loop reports it and stops.
pub static FAULT: AtomicBool = AtomicBool::new(false);

struct Isr {
    sensor: Sensor,
    producer: Producer<'static, Sample>,
    seq: u32,
}

static ISR: Mutex<RefCell<Option<Isr>>> = Mutex::new(RefCell::new(None));

/// Why the sensor could not be set up.
#[derive(Clone, Copy, Debug, defmt::Format)]
pub enum SetupError {
    /// WHO_AM_I_A did not read 0x33.
    NotAnLsm303agr,
    /// A register access failed (logged).
    Bus,
    /// The sample rate does not give a SysTick reload in 1..=2^24.
    Rate,
    /// Setup ran twice.
    Twice,
}

fn bus_error(e: lsm303agr::Error<<Bus as embedded_hal::i2c::ErrorType>::Error>) -> SetupError {
    if let lsm303agr::Error::Comm(c) = e {
        bus::log_error(&c);
    }
    SetupError::Bus
}

/// The slowest output data rate of the chip at or above `rate_hz`, for high-resolution mode
/// (above 1.344 kHz the fastest; `mote firmware build` refuses such rates for a real sensor).
fn odr_for(rate_hz: u32) -> AccelOutputDataRate {
    use AccelOutputDataRate as O;
    match rate_hz {
        0..=1 => O::Hz1,
        2..=10 => O::Hz10,
        11..=25 => O::Hz25,
        26..=50 => O::Hz50,
        51..=100 => O::Hz100,
        101..=200 => O::Hz200,
        201..=400 => O::Hz400,
        _ => O::Khz1_344,
    }
}

/// Busy-wait delay for the driver's mode-change wait (before SysTick is started).
struct SpinDelay {
    cycles_per_us: u32,
}

impl embedded_hal::delay::DelayNs for SpinDelay {
    fn delay_ns(&mut self, ns: u32) {
        cortex_m::asm::delay(ns.div_ceil(1000).saturating_mul(self.cycles_per_us));
    }
}

/// Checks the chip, configures it (high resolution, ±4 g, block data update, the output data
/// rate of the sample rate), hands it to the interrupt and starts SysTick at
/// `rate_millihertz` on a `systick_hz` core clock. Returns the main loop's end of the queue.
pub fn start(
    bus: Bus,
    mut syst: SYST,
    systick_hz: u32,
    rate_millihertz: u32,
) -> Result<Consumer<'static, Sample>, SetupError> {
    let reload = (u64::from(systick_hz) * 1000 / u64::from(rate_millihertz.max(1)))
        .checked_sub(1)
        .filter(|r| (1..=0x00FF_FFFF).contains(r))
        .ok_or(SetupError::Rate)? as u32;
    let mut sensor = Lsm303agr::new_with_i2c(bus);
    let id = sensor.accelerometer_id().map_err(bus_error)?;
    if !id.is_correct() {
        return Err(SetupError::NotAnLsm303agr);
    }
    sensor.init().map_err(bus_error)?;
    let mut delay = SpinDelay {
        cycles_per_us: systick_hz / 1_000_000,
    };
    sensor
        .set_accel_mode_and_odr(
            &mut delay,
            AccelMode::HighResolution,
            odr_for(rate_millihertz / 1000),
        )
        .map_err(bus_error)?;
    sensor.set_accel_scale(AccelScale::G4).map_err(bus_error)?;
    let queue: &'static mut Queue<Sample, QUEUE_SLOTS> =
        cortex_m::singleton!(: Queue<Sample, QUEUE_SLOTS> = Queue::new())
            .ok_or(SetupError::Twice)?;
    let (producer, consumer) = queue.split();
    critical_section::with(|cs| {
        ISR.borrow_ref_mut(cs).replace(Isr {
            sensor,
            producer,
            seq: 0,
        })
    });
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(reload);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    Ok(consumer)
}

/// The SysTick reload value (ticks per sample, minus one).
pub fn ticks_per_sample() -> u32 {
    SYST::get_reload() + 1
}

/// SysTick's current count (counts down from the reload value).
fn current() -> u32 {
    SYST::get_current()
}

/// SysTick ticks since it started, across periods: what a slow model's step spanning several
/// sample periods is measured with. Call with interrupts enabled (a wrap whose handler is
/// pending is waited out, so the period count and the counter always belong together).
pub fn now() -> u64 {
    loop {
        let p = PERIODS.load(Ordering::Acquire);
        let c = current();
        // A wrap between the two reads would pair an old period count with a new count.
        if PERIODS.load(Ordering::Acquire) == p && !cortex_m::peripheral::SCB::is_pendst_pending() {
            return u64::from(p) * u64::from(ticks_per_sample())
                + u64::from(SYST::get_reload() - c);
        }
    }
}

impl Isr {
    fn sample(&mut self) {
        let status = match self.sensor.accel_status() {
            Ok(s) => s,
            Err(e) => return fault(e),
        };
        if !status.xyz_new_data() {
            bus::no_new_data();
            return;
        }
        let a = match self.sensor.acceleration() {
            Ok(a) => a,
            Err(e) => return fault(e),
        };
        let (x, y, z) = a.xyz_mg();
        let s = Sample {
            seq: self.seq,
            milli_g: [x, y, z],
        };
        self.seq = self.seq.wrapping_add(1);
        PRODUCED.store(self.seq, Ordering::Release);
        if self.producer.enqueue(s).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn fault(e: lsm303agr::Error<<Bus as embedded_hal::i2c::ErrorType>::Error>) {
    match e {
        lsm303agr::Error::Comm(c) => bus::log_error(&c),
        _ => defmt::error!("sensor: driver error"),
    }
    FAULT.store(true, Ordering::Release);
}

// SAFETY: cortex-m-rt requires exception handlers to be declared through its attribute, which
// expands to an unmangled `SysTick` symbol for the vector table; nothing else defines it.
#[allow(unsafe_code)]
#[cortex_m_rt::exception]
fn SysTick() {
    let start = current();
    PERIODS.fetch_add(1, Ordering::AcqRel);
    critical_section::with(|cs| {
        if FAULT.load(Ordering::Acquire) {
            return;
        }
        if let Some(isr) = ISR.borrow_ref_mut(cs).as_mut() {
            isr.sample();
        }
    });
    // The handler ends well within its period: start >= current() unless it overran, which the
    // wrap-around below still measures.
    let end = current();
    let spent = if start >= end {
        start - end
    } else {
        start + ticks_per_sample() - end
    };
    ISR_TICKS.fetch_add(spent, Ordering::Relaxed);
}
