//! The processes behind a `Broker`: the broker's JVM, tied to the test process's life by a `sh`
//! wrapper, the broker's log, and short-lived tools run to completion with a deadline.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
const EXIT_DEADLINE: Duration = Duration::from_secs(15);
const KEPT_LOG_LINES: usize = 1000;

/// Runs the JVM (`$2…`) in the background and reports its pid on stdout. A watcher reads stdin, a
/// pipe whose only writer is the test process: the line `kill` (`JvmProcess::stop`) or the end of
/// the pipe (the test process died, however) makes it SIGKILL the JVM. When the test process
/// died, nothing will remove the run directory (`$1`), so the wrapper does once the JVM is gone.
/// The watcher gets the pipe through fd 3 because `sh` gives a background job /dev/null as stdin.
const JVM_WRAPPER: &str = r#"
run_directory=$1
shift
exec 3<&0
"$@" 0</dev/null 1>&2 3<&- &
jvm_pid=$!
echo "$jvm_pid"
{
  owner_request=
  read -r owner_request
  if [ "$owner_request" != kill ]; then : >"$run_directory/owner-gone"; fi
  kill -KILL "$jvm_pid"
} 0<&3 1>/dev/null 2>&1 &
watcher_pid=$!
# once the test process is gone, a word on stderr (sh reports the SIGKILLed job) would be a
# SIGPIPE that stops the wrapper before it cleans up
exec 3<&- 1>/dev/null 2>/dev/null
wait "$jvm_pid"
jvm_status=$?
kill "$watcher_pid" 2>/dev/null
if [ -e "$run_directory/owner-gone" ]; then rm -rf -- "$run_directory"; fi
exit "$jvm_status"
"#;

/// A JVM running under the wrapper.
pub struct JvmProcess {
    wrapper: Child,
    /// The write end of the wrapper's stdin: the line `kill`, or its end, kills the JVM.
    owner_pipe: ChildStdin,
    pub jvm_process_id: u32,
}

impl JvmProcess {
    /// Starts `java java_arguments` under the wrapper; what it prints goes to `log`.
    ///
    /// The wrapper leads a process group of its own, so that a Ctrl-C or a signal to the test's
    /// group reaches only the test process, and the wrapper's clean-up still runs.
    pub fn spawn(
        run_directory: &Path,
        java_arguments: Vec<OsString>,
        log: &BrokerLog,
    ) -> JvmProcess {
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(JVM_WRAPPER)
            .arg("kafka-jvm-wrapper")
            .arg(run_directory)
            .arg("java")
            .args(java_arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start sh for the kafka jvm");
        let owner_pipe = wrapper.stdin.take().expect("the wrapper's stdin");
        let wrapper_stdout = wrapper.stdout.take().expect("the wrapper's stdout");
        let wrapper_stderr = wrapper.stderr.take().expect("the wrapper's stderr");
        log.follow(wrapper_stderr);
        let mut jvm_process_id_line = String::new();
        BufReader::new(wrapper_stdout)
            .read_line(&mut jvm_process_id_line)
            .expect("read the jvm's pid from the wrapper");
        let jvm_process_id = jvm_process_id_line.trim().parse().unwrap_or_else(|_| {
            panic!("the jvm wrapper reported no pid (it printed {jvm_process_id_line:?})")
        });
        JvmProcess {
            wrapper,
            owner_pipe,
            jvm_process_id,
        }
    }

    /// The JVM's exit status, once it has exited by itself.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.wrapper.try_wait().expect("check the jvm wrapper")
    }

    /// Asks the wrapper to SIGKILL the JVM and waits until the wrapper has reaped it and exited.
    pub fn stop(mut self) -> Result<ExitStatus, String> {
        // fails only when the wrapper already exited (the JVM died by itself): nothing to kill
        let _ = self.owner_pipe.write_all(b"kill\n");
        drop(self.owner_pipe);
        let deadline = Instant::now() + EXIT_DEADLINE;
        loop {
            match self.wrapper.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => {}
                Err(error) => {
                    return Err(format!("cannot wait for the kafka jvm wrapper: {error}"));
                }
            }
            if Instant::now() >= deadline {
                // the wrapper alone: its watcher, which has seen the pipe end, kills the JVM
                let _ = self.wrapper.kill();
                let _ = self.wrapper.wait();
                return Err(format!(
                    "the kafka jvm (pid {}) had not exited {EXIT_DEADLINE:?} after it was killed",
                    self.jvm_process_id
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }
}

/// The last lines the broker printed, across restarts, with the harness's own notes.
#[derive(Clone, Default)]
pub struct BrokerLog {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl BrokerLog {
    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock();
        if lines.len() == KEPT_LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The last `count` lines, joined.
    pub fn tail(&self, count: usize) -> String {
        let lines = self.lines.lock();
        let skipped = lines.len().saturating_sub(count);
        lines
            .iter()
            .skip(skipped)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Reads `output` line by line into the log, on a thread of its own, until it ends.
    fn follow(&self, output: impl Read + Send + 'static) {
        let log = self.clone();
        thread::Builder::new()
            .name("kafka-broker-log".to_owned())
            .spawn(move || {
                for line in BufReader::new(output).split(b'\n') {
                    let Ok(bytes) = line else {
                        return;
                    };
                    log.push(String::from_utf8_lossy(&bytes).into_owned());
                }
            })
            .expect("start the broker's log reader");
    }
}

pub struct CompletedCommand {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its end, or kills it at `deadline`. Its output goes to files, which never
/// fill up and block it as a pipe nobody reads would.
pub fn run_to_completion(mut command: Command, deadline: Duration, what: &str) -> CompletedCommand {
    let mut stdout_file = tempfile::tempfile().expect("a file for stdout");
    let mut stderr_file = tempfile::tempfile().expect("a file for stderr");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(stdout_file.try_clone().expect("clone the stdout file"))
        .stderr(stderr_file.try_clone().expect("clone the stderr file"))
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
    let give_up_at = Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a child process") {
            break status;
        }
        if Instant::now() >= give_up_at {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {deadline:?}; it printed:\n{}{}",
                read_from_start(&mut stdout_file),
                read_from_start(&mut stderr_file)
            );
        }
        thread::sleep(POLL_INTERVAL);
    };
    CompletedCommand {
        status,
        stdout: read_from_start(&mut stdout_file),
        stderr: read_from_start(&mut stderr_file),
    }
}

fn read_from_start(file: &mut fs::File) -> String {
    let mut bytes = Vec::new();
    file.rewind().expect("rewind an output file");
    file.read_to_end(&mut bytes).expect("read an output file");
    String::from_utf8_lossy(&bytes).into_owned()
}
