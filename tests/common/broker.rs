//! A real single-node Apache Kafka 4.1.1 broker (KRaft, combined broker and controller) for what
//! librdkafka's mock cluster cannot show: SASL/SCRAM, TLS, ACLs, the admin API, compaction,
//! aborted transactions hidden from `read_committed` readers, a broker killed and restarted.
//!
//! The jars come from Maven Central through `scripts/kafka-jars` (tests/kafka/pom.xml), cached
//! once per machine outside the work tree. Each `Broker` gets a fresh directory under the
//! target's tmp, free loopback ports, SCRAM users and certificates of its own. Its listeners:
//! - PLAINTEXT: no authentication. Its connections are `User:ANONYMOUS`, a super user, as are the
//!   controller listener's, which the broker's own controller traffic needs; for admin tooling;
//! - SASL_PLAINTEXT and SASL_SSL: SCRAM-SHA-512 as `ADMIN` (a super user), `WRITER` or
//!   `RESTRICTED`. ACLs are enforced (`allow.everyone.if.no.acl.found=false`): the last two may
//!   do only what a test granted them with `Broker::acls`.
//!
//! The JVM dies with the test process, even on a panic or SIGKILL: it runs under a small `sh`
//! wrapper that reads a pipe whose only writer is this process, and kills the JVM when it ends.

mod process;
mod properties;
mod tls;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use process::{BrokerLog, JvmProcess, POLL_INTERVAL, run_to_completion};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// A SCRAM-SHA-512 user, made when the broker's storage is formatted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct User {
    pub name: &'static str,
    pub password: &'static str,
}

/// A super user (`super.users`): ACLs do not apply to it.
pub const ADMIN: User = User {
    name: "admin",
    password: "admin-secret",
};
/// A user with no rights until a test grants it ACLs.
pub const WRITER: User = User {
    name: "writer",
    password: "writer-secret",
};
/// A second principal, for tests that grant it less than `WRITER`.
pub const RESTRICTED: User = User {
    name: "restricted",
    password: "restricted-secret",
};
const SCRAM_USERS: [User; 3] = [ADMIN, WRITER, RESTRICTED];

/// A listener of the broker, each on its own port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// No authentication; connections are the super user `User:ANONYMOUS`.
    Plaintext,
    /// SCRAM-SHA-512 over plain TCP.
    SaslPlaintext,
    /// SCRAM-SHA-512 over TLS, with a certificate signed by `Broker::ca_pem`.
    SaslSsl,
}

/// A base64url UUID, fixed so that a run's log reads the same every time.
const CLUSTER_ID: &str = "MkU3OEVBNTcwNTJENDM2Qk";
const KEYSTORE_PASSWORD: &str = "entrastream-test-keystore";
/// Start-up took 5–16 s on two shared cores (a restart after SIGKILL included); 90 s leaves room
/// for a loaded CI machine.
const READINESS_DEADLINE: Duration = Duration::from_secs(90);
const TOOL_DEADLINE: Duration = Duration::from_secs(60);
/// The first call may fetch the jars from Maven Central.
const KAFKA_JARS_DEADLINE: Duration = Duration::from_secs(600);
const TOPIC_DEADLINE: Duration = Duration::from_secs(30);
const LOG_TAIL_LINES: usize = 100;

/// `kafka-server-start.sh`'s performance flags, with a heap sized for two cores and parallel tests.
const BROKER_JVM_OPTIONS: [&str; 8] = [
    "-Xms256m",
    "-Xmx768m",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
];
/// The tools (storage format, ACLs) run for a second or two: the quick compiler and a serial
/// collector start them sooner.
const TOOL_JVM_OPTIONS: [&str; 3] = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"];

/// A running (or killed) broker; dropping it kills the JVM and removes its directory.
pub struct Broker {
    run_directory: tempfile::TempDir,
    lib_directory: &'static Path,
    ports: properties::Ports,
    tls_files: tls::TlsFiles,
    log: BrokerLog,
    process: Option<JvmProcess>,
}

impl Broker {
    /// Formats a fresh directory, starts the broker and returns once it answers a metadata
    /// request; panics with the broker's log tail when it does not within 90 s.
    pub fn start() -> Broker {
        let lib_directory = kafka_lib_directory();
        let run_directory = tempfile::Builder::new()
            .prefix("kafka-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("create the broker's run directory");
        // zstd and snappy unpack native libraries into java.io.tmpdir: keep it off a noexec /tmp
        fs::create_dir(run_directory.path().join("tmp")).expect("create the jvm's tmp directory");
        let tls_files = tls::write(run_directory.path(), KEYSTORE_PASSWORD);
        let mut broker = Broker {
            run_directory,
            lib_directory,
            ports: properties::free_ports(),
            tls_files,
            log: BrokerLog::default(),
            process: None,
        };
        let server_properties = properties::server_properties(
            &broker.ports,
            &broker.run_directory.path().join("data"),
            &broker.tls_files.keystore,
            KEYSTORE_PASSWORD,
            ADMIN.name,
        );
        fs::write(broker.properties_path(), server_properties).expect("write server.properties");
        broker.format_storage();
        broker.launch();
        broker
    }

    /// `127.0.0.1:port` of the PLAINTEXT listener: no authentication, a super user.
    pub fn plaintext(&self) -> String {
        self.bootstrap_servers(Listener::Plaintext)
    }

    /// `127.0.0.1:port` of the SASL_PLAINTEXT listener.
    pub fn sasl_plaintext(&self) -> String {
        self.bootstrap_servers(Listener::SaslPlaintext)
    }

    /// `127.0.0.1:port` of the SASL_SSL listener.
    pub fn sasl_ssl(&self) -> String {
        self.bootstrap_servers(Listener::SaslSsl)
    }

    pub fn bootstrap_servers(&self, listener: Listener) -> String {
        let port = match listener {
            Listener::Plaintext => self.ports.plaintext,
            Listener::SaslPlaintext => self.ports.sasl_plaintext,
            Listener::SaslSsl => self.ports.sasl_ssl,
        };
        format!("127.0.0.1:{port}")
    }

    /// The PEM of the CA that signed the broker's certificate (made for this run).
    pub fn ca_pem(&self) -> PathBuf {
        self.tls_files.ca_pem.clone()
    }

    /// The PEM of a second CA, which did not sign the broker's certificate.
    pub fn untrusted_ca_pem(&self) -> PathBuf {
        self.tls_files.untrusted_ca_pem.clone()
    }

    /// The librdkafka properties a client needs for `listener` as `user`, without
    /// `bootstrap.servers`. PLAINTEXT takes no user; a SASL listener without one gets no
    /// credentials (for tests of exactly that).
    pub fn client_config(
        &self,
        listener: Listener,
        user: Option<&User>,
    ) -> BTreeMap<String, String> {
        let mut properties = BTreeMap::new();
        let security_protocol = match listener {
            Listener::Plaintext => "plaintext",
            Listener::SaslPlaintext => "sasl_plaintext",
            Listener::SaslSsl => "sasl_ssl",
        };
        properties.insert("security.protocol".to_owned(), security_protocol.to_owned());
        if listener == Listener::Plaintext {
            assert!(
                user.is_none(),
                "the plaintext listener authenticates no one: pass no user"
            );
            return properties;
        }
        properties.insert("sasl.mechanism".to_owned(), "SCRAM-SHA-512".to_owned());
        if let Some(user) = user {
            properties.insert("sasl.username".to_owned(), user.name.to_owned());
            properties.insert("sasl.password".to_owned(), user.password.to_owned());
        }
        if listener == Listener::SaslSsl {
            let ca_location = self.tls_files.ca_pem.to_str().expect("utf-8 path");
            properties.insert("ssl.ca.location".to_owned(), ca_location.to_owned());
        }
        properties
    }

    /// Points entrastream's `kafka` at `listener`, logged in as `user`: the settings of
    /// `client_config`, the password in a file under `secrets`, where entrastream reads its
    /// secrets from (it refuses them inline).
    pub fn log_in(
        &self,
        kafka: &mut entrastream::config::KafkaConfig,
        listener: Listener,
        user: &User,
        secrets: &Path,
    ) {
        kafka.bootstrap_servers = self.bootstrap_servers(listener);
        for (key, value) in self.client_config(listener, Some(user)) {
            if key == "sasl.password" {
                let file = secrets.join(format!("kafka-password-{}", user.name));
                fs::write(&file, &value).expect("write the password file");
                kafka
                    .librdkafka
                    .insert_from(key, entrastream::config::SecretSource::File(file));
            } else {
                kafka.librdkafka.insert(key, value);
            }
        }
    }

    /// `client_config` with `bootstrap.servers`, ready to add a client's own settings to.
    pub fn rdkafka_config(&self, listener: Listener, user: Option<&User>) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap_servers(listener));
        for (key, value) in self.client_config(listener, user) {
            config.set(key, value);
        }
        config
    }

    /// The JVM's process id, while it runs.
    pub fn jvm_process_id(&self) -> Option<u32> {
        self.process.as_ref().map(|process| process.jvm_process_id)
    }

    /// SIGKILLs the JVM (no clean shutdown) and reaps it; the data directory stays. Does nothing
    /// when the broker is not running.
    pub fn kill(&mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        if let Err(problem) = process.stop() {
            panic!(
                "{problem}; the broker's log ends with:\n{}",
                self.log_tail()
            );
        }
        self.record_log_line("-- killed by the test harness");
    }

    /// Starts the broker again on the same data directory and ports (killing it first if it
    /// runs) and waits until it is ready.
    pub fn restart(&mut self) {
        self.kill();
        self.record_log_line("-- restarted by the test harness");
        self.launch();
    }

    /// Runs `kafka-acls --bootstrap-server <plaintext> <arguments>` (AclCommand) and returns what
    /// it printed; panics with that output when it fails.
    pub fn acls(&self, arguments: &[&str]) -> String {
        let mut command = self.java_command(&TOOL_JVM_OPTIONS, "org.apache.kafka.tools.AclCommand");
        command
            .arg("--bootstrap-server")
            .arg(self.plaintext())
            .args(arguments);
        let completed = run_to_completion(command, TOOL_DEADLINE, "kafka-acls");
        if !completed.status.success() {
            panic!(
                "kafka-acls {} failed ({}):\n{}{}",
                arguments.join(" "),
                completed.status,
                completed.stdout,
                completed.stderr
            );
        }
        completed.stdout
    }

    /// Creates a topic (replication 1) through the admin API over PLAINTEXT and waits until the
    /// metadata shows every partition with a leader.
    pub fn create_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        let admin: AdminClient<DefaultClientContext> = self
            .rdkafka_config(Listener::Plaintext, None)
            .create()
            .expect("admin client");
        let new_topic = configs.iter().fold(
            NewTopic::new(name, partitions, TopicReplication::Fixed(1)),
            |topic, (key, value)| topic.set(key, value),
        );
        let options = AdminOptions::new()
            .operation_timeout(Some(TOPIC_DEADLINE))
            .request_timeout(Some(TOPIC_DEADLINE));
        let results = block_on(admin.create_topics([&new_topic], &options))
            .unwrap_or_else(|error| panic!("cannot create topic {name}: {error}"));
        for result in results {
            if let Err((topic, code)) = result {
                panic!("cannot create topic {topic}: {code}");
            }
        }
        let deadline = Instant::now() + TOPIC_DEADLINE;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let metadata = admin.inner().fetch_metadata(Some(name), remaining);
            let has_every_leader = metadata.as_ref().is_ok_and(|metadata| {
                metadata.topics().iter().any(|topic| {
                    topic.name() == name
                        && topic.error().is_none()
                        && topic.partitions().len() == partitions as usize
                        && topic
                            .partitions()
                            .iter()
                            .all(|partition| partition.error().is_none() && partition.leader() >= 0)
                })
            });
            if has_every_leader {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "topic {name} had no leader for each of its {partitions} partitions within \
                     {TOPIC_DEADLINE:?}"
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// The last lines the broker printed (warnings, errors, start-up), for failure messages.
    pub fn log_tail(&self) -> String {
        self.log.tail(LOG_TAIL_LINES)
    }

    fn properties_path(&self) -> PathBuf {
        self.run_directory.path().join("server.properties")
    }

    /// `kafka-storage format --standalone` with the SCRAM users: KRaft needs a formatted
    /// directory, and SCRAM credentials made at format time exist before the first login.
    fn format_storage(&self) {
        let mut command = self.java_command(&TOOL_JVM_OPTIONS, "kafka.tools.StorageTool");
        command
            .args([
                "format",
                "--standalone",
                "--cluster-id",
                CLUSTER_ID,
                "--config",
            ])
            .arg(self.properties_path());
        for user in SCRAM_USERS {
            command.arg("--add-scram").arg(format!(
                "SCRAM-SHA-512=[name={},password={}]",
                user.name, user.password
            ));
        }
        let completed = run_to_completion(command, TOOL_DEADLINE, "kafka-storage format");
        if !completed.status.success() {
            panic!(
                "kafka-storage format failed ({}):\n{}{}",
                completed.status, completed.stdout, completed.stderr
            );
        }
    }

    /// Starts the JVM under the wrapper and waits until the broker is ready.
    fn launch(&mut self) {
        let mut java_arguments = self.java_arguments(&BROKER_JVM_OPTIONS, "kafka.Kafka");
        java_arguments.push(self.properties_path().into_os_string());
        self.process = Some(JvmProcess::spawn(
            self.run_directory.path(),
            java_arguments,
            &self.log,
        ));
        self.wait_until_ready();
    }

    /// The broker opens its client listeners only once it is unfenced (so that an open socket
    /// means ready); a metadata answer then shows it serving requests.
    fn wait_until_ready(&mut self) {
        let started = Instant::now();
        let deadline = started + READINESS_DEADLINE;
        let plaintext_address = SocketAddr::from(([127, 0, 0, 1], self.ports.plaintext));
        loop {
            self.panic_if_exited("before its listener opened");
            if TcpStream::connect_timeout(&plaintext_address, Duration::from_secs(1)).is_ok() {
                break;
            }
            self.panic_if_past(deadline, "for its listener to open");
            thread::sleep(POLL_INTERVAL);
        }
        let probe: BaseConsumer = self
            .rdkafka_config(Listener::Plaintext, None)
            .create()
            .expect("metadata probe");
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let metadata = probe.fetch_metadata(None, remaining.min(Duration::from_secs(5)));
            if metadata.is_ok_and(|metadata| metadata.brokers().len() == 1) {
                let readiness = format!(
                    "-- kafka broker ready after {:.1} s on {} (test harness)",
                    started.elapsed().as_secs_f64(),
                    self.plaintext()
                );
                eprintln!("{readiness}");
                self.record_log_line(&readiness);
                return;
            }
            self.panic_if_exited("before it answered a metadata request");
            self.panic_if_past(deadline, "for an answer to a metadata request");
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn panic_if_exited(&mut self, when: &str) {
        let process = self.process.as_mut().expect("a launched broker");
        let Some(status) = process.exit_status() else {
            return;
        };
        self.process = None;
        panic!(
            "the kafka broker exited ({status}) {when}; its log ends with:\n{}",
            self.log_tail()
        );
    }

    fn panic_if_past(&self, deadline: Instant, awaited: &str) {
        if Instant::now() < deadline {
            return;
        }
        panic!(
            "the kafka broker was not ready within {READINESS_DEADLINE:?} (waiting {awaited}); its \
             log ends with:\n{}",
            self.log_tail()
        );
    }

    fn record_log_line(&self, line: &str) {
        self.log.push(line.to_owned());
    }

    fn java_arguments(&self, jvm_options: &[&str], main_class: &str) -> Vec<OsString> {
        let log4j_configuration =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/log4j2.yaml");
        let mut java_tmp_directory = OsString::from("-Djava.io.tmpdir=");
        java_tmp_directory.push(self.run_directory.path().join("tmp"));
        let mut log4j_option = OsString::from("-Dlog4j2.configurationFile=");
        log4j_option.push(log4j_configuration);
        // the JVM expands the `*` of a class path itself
        let class_path = self.lib_directory.join("*");
        let mut arguments: Vec<OsString> = jvm_options.iter().map(OsString::from).collect();
        arguments.extend([
            OsString::from("-Djava.awt.headless=true"),
            java_tmp_directory,
            log4j_option,
            OsString::from("-cp"),
            class_path.into_os_string(),
            OsString::from(main_class),
        ]);
        arguments
    }

    fn java_command(&self, jvm_options: &[&str], main_class: &str) -> Command {
        let mut command = Command::new("java");
        command.args(self.java_arguments(jvm_options, main_class));
        command
    }
}

impl Drop for Broker {
    /// Kills the JVM; the run directory goes with the `TempDir`, unless a test is panicking: then
    /// it stays (its path is printed) for a look at the data and configuration.
    fn drop(&mut self) {
        if let Some(process) = self.process.take()
            && let Err(problem) = process.stop()
        {
            // no panic in a drop, which may run during a test's panic
            eprintln!("{problem}");
        }
        if thread::panicking() {
            self.run_directory.disable_cleanup(true);
            eprintln!(
                "kafka broker directory kept: {}",
                self.run_directory.path().display()
            );
        }
    }
}

/// The jars' directory, from `scripts/kafka-jars` (run once per test process; a fast no-op when
/// the machine has them). Panics with the script's message: without Java or Maven nothing is
/// skipped.
fn kafka_lib_directory() -> &'static Path {
    static LIB_DIRECTORY: OnceLock<PathBuf> = OnceLock::new();
    LIB_DIRECTORY.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka-jars");
        let mut command = Command::new("bash");
        command.arg(script);
        let completed = run_to_completion(command, KAFKA_JARS_DEADLINE, "scripts/kafka-jars");
        if !completed.status.success() {
            panic!(
                "scripts/kafka-jars failed ({}): {}",
                completed.status,
                completed.stderr.trim()
            );
        }
        PathBuf::from(completed.stdout.trim())
    })
}

/// Drives a future on this thread: rdkafka's admin futures complete from librdkafka's own
/// threads and need no runtime, and a tokio runtime here would panic inside `#[tokio::test]`.
fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut pinned_future = pin!(future);
    loop {
        if let Poll::Ready(output) = pinned_future.as_mut().poll(&mut context) {
            return output;
        }
        thread::park();
    }
}
