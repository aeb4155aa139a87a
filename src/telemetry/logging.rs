//! Structured logs: one JSON object per line (or human-readable), fields first, lowercase messages.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber writing to stderr; a second call (tests) leaves the first in place.
pub fn init(format: LogFormat, level: &str) -> Result<(), String> {
    init_with_writer(format, level, std::io::stderr)
}

/// Installs the global subscriber writing to `writer`: the production format, so that tests can read
/// exactly the lines an operator sees.
pub fn init_with_writer<W>(format: LogFormat, level: &str, writer: W) -> Result<(), String>
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
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_target(true)
            .try_init(),
        LogFormat::Pretty => builder.with_target(false).try_init(),
    };
    // already installed: keep the first subscriber
    let _ = result;
    Ok(())
}
