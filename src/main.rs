// Long functions hide their phases; the threshold is in clippy.toml.
#![warn(clippy::too_many_lines)]
// The CLI makes no syscalls of its own: it goes through `nlab::kernel`.
#![deny(unsafe_code)]

mod cli;

use clap::Parser;

fn main() {
    let json = cli::wants_json(&std::env::args_os().collect::<Vec<_>>());
    let args = cli::Cli::parse();
    cli::log::init(args.verbose);
    let code = match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            cli::print_error(&e);
            if json {
                cli::print_error_json(&e);
            }
            cli::exit_code(&e)
        }
    };
    std::process::exit(code);
}
