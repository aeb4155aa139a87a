//! Structured logs: one JSON object per line by default, human-readable (`pretty`) on request;
//! fields first, lowercase messages. Colours only for a terminal: a file or a pipe gets plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber writing to stderr; a second call (tests) leaves the first in place.
pub fn init(format: LogFormat, level: &str) -> Result<(), String> {
    let colours = std::io::stderr().is_terminal();
    install(format, level, std::io::stderr, colours)
}

/// Installs the global subscriber writing to `writer`: the production format, so that tests can read
/// exactly the lines an operator sees (without colours: `writer` is not a terminal).
pub fn init_with_writer<W>(format: LogFormat, level: &str, writer: W) -> Result<(), String>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    install(format, level, writer, false)
}

fn install<W>(format: LogFormat, level: &str, writer: W, colours: bool) -> Result<(), String>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(level)
        .map_err(|error| format!("log.level `{level}` is not a valid filter: {error}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = match format {
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_target(true)
            .try_init(),
        LogFormat::Pretty => builder.with_target(false).with_ansi(colours).try_init(),
    };
    // already installed: keep the first subscriber
    let _ = result;
    Ok(())
}
