//! The QEMU boards mote's firmware is built for.

/// A QEMU board mote's firmware is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Board {
    /// Cortex-M4F (hard float), QEMU `mps2-an386`, target `thumbv7em-none-eabihf`.
    #[value(name = "mps2-an386")]
    Mps2An386,
    /// Cortex-M3 (no FPU, soft float), QEMU `lm3s6965evb`, target `thumbv7m-none-eabi`.
    #[value(name = "lm3s6965evb")]
    Lm3s6965evb,
    /// Cortex-M3 with the MPS2 memory map (4 MiB), QEMU `mps2-an385`: for benchmarks whose
    /// buffers do not fit the lm3s6965's 64 KiB of RAM.
    #[value(name = "mps2-an385")]
    Mps2An385,
}

impl Board {
    /// Both boards, M4F first.
    pub const ALL: [Board; 2] = [Board::Mps2An386, Board::Lm3s6965evb];
    /// QEMU `-machine` name.
    pub fn machine(self) -> &'static str {
        match self {
            Board::Mps2An386 => "mps2-an386",
            Board::Lm3s6965evb => "lm3s6965evb",
            Board::Mps2An385 => "mps2-an385",
        }
    }
    /// Rust target triple.
    pub fn target(self) -> &'static str {
        match self {
            Board::Mps2An386 => "thumbv7em-none-eabihf",
            Board::Lm3s6965evb | Board::Mps2An385 => "thumbv7m-none-eabi",
        }
    }
    /// Cargo feature of the firmware crate selecting the memory map.
    pub fn feature(self) -> &'static str {
        match self {
            Board::Mps2An386 => "board-mps2-an386",
            Board::Lm3s6965evb => "board-lm3s6965",
            Board::Mps2An385 => "board-mps2-an385",
        }
    }
    /// Short CPU description.
    pub fn cpu(self) -> &'static str {
        match self {
            Board::Mps2An386 => "Cortex-M4F",
            Board::Lm3s6965evb | Board::Mps2An385 => "Cortex-M3",
        }
    }
}
