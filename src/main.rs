/// mimalloc rather than the system allocator: `tally serve` allocates a few small strings for
/// every page view, and the pipeline leg of `bench/serve` ran about a tenth faster with it
/// (bench/serve/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tally::cmd::Cli::parse();
    match tally::cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
