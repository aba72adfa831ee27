mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    let code = match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            cli::print_error(&e);
            cli::exit_code(&e)
        }
    };
    std::process::exit(code);
}
