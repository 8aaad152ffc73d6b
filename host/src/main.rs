//! `mote`: prepare small models on the desktop and prove them on a microcontroller under QEMU.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mote_host::cli::Cli::parse();
    match mote_host::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mote: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
