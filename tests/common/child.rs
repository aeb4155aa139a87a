//! `entrastream` as a child process: started on a configuration file, its stderr in a log file,
//! its memory read from `/proc/<pid>/status`, stopped with SIGTERM, and killed when the test
//! ends without stopping it (a failed assertion included).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct ChildProcess {
    child: Child,
    pub log: PathBuf,
}

/// What the kernel says about a process's memory, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmHWM`: the most resident memory the process ever had.
    pub peak_kib: u64,
    /// `VmRSS`: resident now.
    pub resident_kib: u64,
}

impl ChildProcess {
    /// `entrastream <args>`, stdout discarded, stderr (the logs) into `log`.
    pub fn start(args: &[&str], log: &Path) -> ChildProcess {
        let log_file = std::fs::File::create(log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_entrastream"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("entrastream starts");
        ChildProcess {
            child,
            log: log.to_owned(),
        }
    }

    /// `entrastream run --config <config>`.
    pub fn run(config: &Path, log: &Path) -> ChildProcess {
        let config = config.to_str().expect("a UTF-8 path");
        ChildProcess::start(&["run", "--config", config], log)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Its memory now; `None` once it has exited.
    pub fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
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

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then its exit within `limit`.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success(), "SIGTERM could not be sent");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "entrastream did not stop within {limit:?} of SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Status and body of a GET; `(0, "")` when nothing answers.
pub async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(response) => (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    }
}

/// The value of the Prometheus series `name{labels...}` in `exposition` (labels in any order,
/// others allowed), summed over matching series.
pub fn series_sum(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name
                && labels
                    .iter()
                    .all(|(label, wanted)| rest.contains(&format!("{label}=\"{wanted}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}
