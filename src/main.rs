//! The `nlab` binary: the command line lives in the library (`nlab::cli`),
//! beside the internals it drives, so the library's public surface can
//! stay narrow.

fn main() {
    std::process::exit(nlab::cli::main());
}
