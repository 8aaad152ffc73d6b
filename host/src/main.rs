//! `mote`: prepare small models on the desktop and prove them on a microcontroller under QEMU.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mote_host::cli::Cli::parse();
    let result = mote_host::cli::run(cli).and_then(|()| mote_host::output::flush_stdout());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`mote ... | head`): nothing more to say.
        Err(err) if mote_host::output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mote: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
