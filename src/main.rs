//! Thin: parse the command line, run it on a tokio runtime, report the error.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = entrastream::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(entrastream::cli::dispatch(cli));
    // blocking work still running (a Kafka call near its timeout) may not hold the exit up
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
