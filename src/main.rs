//! `tala-bulk` binary: parse the command line, hand a checked `Config` to the library, print
//! the error chain and map the outcome to the exit codes documented in README.md.

use std::process::ExitCode;

use tala_bulk::{exit, flags};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = match flags::parse_args(std::env::args_os()) {
        Ok(config) => config,
        Err(flags::ArgsOutcome::Exit(code)) => return ExitCode::from(code),
    };
    match tala_bulk::run(config) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            if exit::is_broken_pipe(&err) {
                // `tala-bulk -o | head` closing the pipe is a normal way to stop.
                return ExitCode::from(exit::SUCCESS);
            }
            eprintln!("tala-bulk: {err:#}");
            if err.downcast_ref::<exit::NothingRead>().is_some() {
                return ExitCode::from(exit::NOTHING_READ);
            }
            ExitCode::from(exit::FATAL)
        }
    }
}
