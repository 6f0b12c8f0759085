//! `tala-bulk` binary: parse the command line, hand a checked `Config` to the library, print
//! the error chain and map the outcome to the exit codes documented in README.md.

use std::process::ExitCode;

use tala_bulk::{exit, flags};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option: its place in mimalloc 3's `mi_option_e`, which
/// libmimalloc-sys does not name (the test below checks it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Freed memory is kept for the next allocation rather than handed back to the kernel
    // a second later: a run frees and allocates hundreds of MB phase after phase (decoded
    // partials, records, report buffers), and every page handed back is zeroed again when it
    // is touched next. A --state run spent a third of its time in the kernel zeroing pages;
    // this took it from 2.4 to 2.1 s (5 runs in turns). Peak RSS is the same within noise.
    // SAFETY: set before any other thread exists; the option is read with atomics.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
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

#[cfg(test)]
mod tests {
    use super::MI_OPTION_PURGE_DELAY;

    #[test]
    fn the_purge_delay_option_is_the_one_whose_default_is_1000_ms() {
        // mimalloc 3's options.c: purge_delay defaults to 1000 (ms), the deprecated option
        // before it to 1, use_numa_nodes after it to 0: a shift in the enum shows.
        let get = |o| unsafe { libmimalloc_sys::mi_option_get(o) };
        assert_eq!(get(MI_OPTION_PURGE_DELAY), 1000);
        assert_eq!(get(MI_OPTION_PURGE_DELAY - 1), 1);
        assert_eq!(get(MI_OPTION_PURGE_DELAY + 1), 0);
    }
}
