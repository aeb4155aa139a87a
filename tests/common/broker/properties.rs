//! The broker's `server.properties` and the free ports it listens on.

use std::net::TcpListener;
use std::path::Path;

#[derive(Clone, Copy)]
pub struct Ports {
    pub plaintext: u16,
    pub sasl_plaintext: u16,
    pub sasl_ssl: u16,
    pub controller: u16,
}

/// Four distinct free loopback ports: each bound at once, read, then closed for the broker.
pub fn free_ports() -> Ports {
    let listeners: Vec<TcpListener> = (0..4)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|listener| listener.local_addr().expect("bound address").port())
        .collect();
    drop(listeners);
    Ports {
        plaintext: ports[0],
        sasl_plaintext: ports[1],
        sasl_ssl: ports[2],
        controller: ports[3],
    }
}

/// The broker's configuration: a combined broker and controller, listeners for PLAINTEXT (admin
/// tooling), SASL_PLAINTEXT and SASL_SSL (SCRAM-SHA-512) and CONTROLLER, ACLs enforced by
/// StandardAuthorizer, and settings that make a one-node test cluster small and quick.
pub fn server_properties(
    ports: &Ports,
    data_directory: &Path,
    keystore: &Path,
    keystore_password: &str,
    super_user: &str,
) -> String {
    let Ports {
        plaintext,
        sasl_plaintext,
        sasl_ssl,
        controller,
    } = *ports;
    let listeners = format!(
        "PLAINTEXT://127.0.0.1:{plaintext},SASL_PLAINTEXT://127.0.0.1:{sasl_plaintext},\
         SASL_SSL://127.0.0.1:{sasl_ssl},CONTROLLER://127.0.0.1:{controller}"
    );
    let scram_login = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
    // PLAINTEXT and CONTROLLER connections are User:ANONYMOUS, a super user: the broker talks to
    // its own controller that way. .properties files have no trailing comments, so the reasons
    // are here. The last block shrinks what a one-node test cluster does not need: the group
    // join delay [3000 ms], 50 partitions of offsets and transactions, the cleaner's 128 MiB
    // buffer (2 MiB is what Kafka's own test kit uses; it must exceed 1 MiB per cleaner thread)
    // and its 15 s back-off, so that compaction shows within seconds. A restarted controller
    // unfences the restarted broker only once the session of its previous life has expired
    // [9 s, heartbeats every 2 s]: 3 s, with heartbeats every 0.5 s, speeds restarts up.
    // Retention by time is off [7 days]: the service under test runs on the tests' clock (January
    // 2026), so its records carry timestamps months behind the broker's own clock, and the
    // broker's first retention check [30 s after its start] would delete every segment written
    // by then, whatever the test was about.
    format!(
        "process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners={listeners}
advertised.listeners={listeners}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={scram_login}
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram_login}
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location={keystore}
listener.name.sasl_ssl.ssl.keystore.password={keystore_password}
listener.name.sasl_ssl.ssl.key.password={keystore_password}
listener.name.sasl_ssl.ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{super_user};User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs={data_directory}
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
log.cleaner.dedupe.buffer.size=2097152
log.cleaner.backoff.ms=1000
num.network.threads=2
num.io.threads=2
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
log.retention.ms=-1
",
        keystore = keystore.display(),
        data_directory = data_directory.display(),
    )
}
