//! How `mote` writes what it makes: output files that are complete or absent, standard output
//! that ends quietly on a closed pipe, and plots rendered in memory.
//!
//! - [`atomic`]: [`write_atomic`], by what the output path is (file, device, FIFO, `-`, link).
//! - [`stdout`]: the `out!`/`outln!` macros, [`print_json`], broken-pipe detection.
//! - [`plot`]: the plot font, PNG/SVG rendering to bytes.

pub mod atomic;
pub mod plot;
pub mod stdout;

pub use atomic::write_atomic;
pub use plot::ensure_plot_font;
pub use stdout::{claim_stdout_for_output, flush_stdout, is_broken_pipe, print_json, write_stdout};
pub(crate) use stdout::{out, outln};
