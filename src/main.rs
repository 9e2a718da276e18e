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
