//! The process-wide tracing subscriber writing JSON lines into memory, for tests that assert the
//! exact log lines the service writes (one subscriber per test binary).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use entrastream::config::LogFormat;
use entrastream::telemetry::logging;
use serde_json::Value;

/// Everything the subscriber writes.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("capture lock")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("capture lock").clone()).expect("logs are UTF-8")
    }

    /// Every line written so far, each a JSON object.
    pub fn json_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
            .collect()
    }
}

/// The capture, installed once for the binary's tests, at level warn.
pub fn logs() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        logging::init_with_writer(LogFormat::Json, "warn", move || writer.clone())
            .expect("subscriber");
        capture
    })
}

/// The lines of `tenant` whose message is `message`.
pub fn lines(tenant: &str, message: &str) -> Vec<Value> {
    logs()
        .text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["tenant"] == tenant && line["message"] == message)
        .collect()
}
