//! `entrastream run` as a child process: its configuration written to a file, its JSON log kept,
//! `/readyz` and `/metrics` on a port of its own, its memory as the kernel counts it, SIGTERM and
//! the exit it leads to. A child the test did not stop (a failed assertion) is killed with it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use entrastream::config::{Config, LogConfig, LogFormat};

/// What the kernel says about a process's memory, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmHWM`: the most resident memory the process ever had.
    pub peak_kib: u64,
    /// `VmRSS`: resident now.
    pub resident_kib: u64,
}

/// The value of the Prometheus series `name` with `labels` (others allowed) in `exposition`,
/// summed over the series that match.
pub fn series_sum(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let matches = metric == name
                && labels
                    .iter()
                    .all(|(label, wanted)| rest.contains(&format!("{label}=\"{wanted}\"")));
            if matches {
                value.parse::<f64>().ok()
            } else {
                None
            }
        })
        .sum()
}

/// `entrastream run` as a child process.
pub struct Service {
    pub child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:port` of its telemetry server.
    pub metrics: String,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Status and body of a GET, `None` while nothing answers (a service still starting).
pub async fn http_get_if_up(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

pub async fn http_get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

impl Service {
    pub fn start(config: &Config, directory: &Path, name: &str) -> Service {
        Service::start_logging(config, directory, name, "info")
    }

    /// The service with its log filter at `level` (`debug`: everything it would ever say).
    pub fn start_logging(config: &Config, directory: &Path, name: &str, level: &str) -> Service {
        let log = LogConfig {
            format: LogFormat::Json,
            level: level.to_owned(),
        };
        Service::start_with_log(config, directory, name, log)
    }

    /// The service with the log settings `log` (stderr goes to a file, which is no terminal).
    pub fn start_with_log(
        config: &Config,
        directory: &Path,
        name: &str,
        log: LogConfig,
    ) -> Service {
        let port = free_port();
        let mut config = config.clone();
        config.metrics.listen = format!("127.0.0.1:{port}").parse().expect("address");
        config.log = log;
        let path = directory.join(format!("{name}.yaml"));
        std::fs::write(&path, config.to_yaml()).expect("config");
        let log = directory.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_entrastream"))
            .args(["run", "--config"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("entrastream starts");
        Service {
            child,
            log,
            metrics: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Its memory now (`/proc/<pid>/status`); `None` once it has exited.
    pub fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kib = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Some(Memory {
            peak_kib: kib("VmHWM:")?,
            resident_kib: kib("VmRSS:")?,
        })
    }

    /// Polls `/readyz` until it answers 503 with a body containing `expected` (at most 30 s).
    pub async fn wait_until_not_ready(&mut self, expected: &str) -> String {
        self.wait_for_readiness(503, expected).await
    }

    /// Polls `/readyz` until it answers `status` with a body containing `expected` (at most 30 s);
    /// returns the body.
    pub async fn wait_for_readiness(&mut self, expected_status: u16, expected: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("entrastream ended by itself ({status}):\n{}", self.log());
            }
            if let Ok(response) = reqwest::get(format!("{}/readyz", self.metrics)).await {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                if status == expected_status && body.contains(expected) {
                    return body;
                }
            }
            assert!(
                Instant::now() < deadline,
                "/readyz never answered {expected_status} with {expected}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM; returns the exit code and how long the stop took.
    pub fn terminate(mut self) -> (Option<i32>, Duration, String) {
        let terminated = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = terminated + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status.code(), terminated.elapsed(), self.log());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("no exit within 30 s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
