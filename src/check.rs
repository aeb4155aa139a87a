//! `entrastream check`: before the service runs, what would keep it from collecting anything —
//! per tenant the token (mode and cloud), the audit-log permission, the sign-in licence, beta,
//! the clock; for Kafka the brokers, the topics, transactions. Each finding is ok or a problem
//! with its fix.

use std::time::Duration;

use serde::Serialize;

use crate::auth::{Credential, TokenProvider};
use crate::clock::{Clock, Timestamp};
use crate::config::{CheckpointStoreKind, Config, Delivery, PollingConfig, TenantConfig};
use crate::graph;
use crate::graph::client::{http_client, page_limit};
use crate::graph::error::GraphError;
use crate::graph::origin::GraphOrigin;
use crate::kafka::{KafkaProblem, Publisher};
use crate::stream::LogFamily;
use crate::telemetry::health::KafkaState;
use crate::text::counted;
use crate::upstream::redact::redact;

/// How often a licence refusal is asked again before it counts: Graph sometimes answers the
/// premium 403 to a licensed tenant for a while after a licence change.
const LICENCE_ATTEMPTS: u32 = 3;
/// Beyond this, client assertions and tokens start to fail.
const CLOCK_SKEW_LIMIT: Duration = Duration::from_secs(120);
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Finding {
    /// A tenant id, `kafka`, or `config` (what `run --validate-only` finds).
    pub scope: String,
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn ok(scope: &str, check: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            scope: scope.to_owned(),
            check,
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A problem and its fix; the fix is said once, also when `detail` (an error's text) ends
    /// with it already.
    fn problem(
        scope: &str,
        check: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        let fix = fix.into();
        let mut detail = detail.into();
        let repeated = format!("{FIX_SEPARATOR}{fix}");
        if detail.ends_with(&repeated) {
            detail.truncate(detail.len() - repeated.len());
        }
        Finding {
            scope: scope.to_owned(),
            check,
            ok: false,
            detail,
            fix: Some(fix),
        }
    }

    /// A problem from an error's text, which names its fix after `; fix: ` (CONTRIBUTING's error
    /// rule) or in its own words.
    fn from_message(scope: &str, check: &'static str, message: &str) -> Finding {
        let (detail, fix) = match message.split_once(FIX_SEPARATOR) {
            Some((detail, fix)) => (detail.to_owned(), Some(fix.to_owned())),
            None => (message.to_owned(), None),
        };
        Finding {
            scope: scope.to_owned(),
            check,
            ok: false,
            detail,
            fix,
        }
    }
}

/// What separates an error from its fix in our messages.
const FIX_SEPARATOR: &str = "; fix: ";

/// Runs every check; `pause` waits between licence probes (the clock's sleep in tests).
pub async fn run(config: &Config, clock: &Clock, pause: Duration) -> Vec<Finding> {
    let mut findings = configuration(config);
    let http = match http_client(config.polling.request_timeout, &config.tls) {
        Ok(http) => http,
        Err(error) => {
            findings.push(Finding::problem(
                "entrastream",
                "http client",
                error,
                "report this as a bug",
            ));
            return findings;
        }
    };
    for (index, tenant) in config.tenants.iter().enumerate() {
        findings.extend(check_tenant(tenant, index, &http, &config.polling, clock, pause).await);
    }
    findings.extend(check_kafka(config).await);
    findings
}

/// What `run --validate-only` finds, one finding per problem (none when the configuration is
/// valid). A tenant's credential is reported on the tenant's own row instead (`check_tenant`).
fn configuration(config: &Config) -> Vec<Finding> {
    let Err(invalid) = crate::validate::validate(config, "", crate::validate::Secrets::Read) else {
        return Vec::new();
    };
    let credential_keys: Vec<String> = (0..config.tenants.len())
        .flat_map(|index| {
            [
                format!("tenants[{index}].client_secret"),
                format!("tenants[{index}].auth"),
            ]
        })
        .collect();
    invalid
        .problems
        .iter()
        .filter(|problem| {
            !credential_keys
                .iter()
                .any(|key| problem.starts_with(key.as_str()))
        })
        .map(|problem| Finding::from_message("config", "configuration", problem))
        .collect()
}

async fn check_tenant(
    tenant: &TenantConfig,
    index: usize,
    http: &reqwest::Client,
    polling: &PollingConfig,
    clock: &Clock,
    pause: Duration,
) -> Vec<Finding> {
    let scope = tenant.id.as_str();
    let mut findings = Vec::new();
    let credential = match Credential::resolve(tenant, &format!("tenants[{index}]")) {
        Ok(credential) => credential,
        Err(problem) => {
            findings.push(Finding::from_message(scope, "credential", &problem));
            return findings;
        }
    };
    let tenant_id = match tenant.tenant_id() {
        Ok(tenant_id) => tenant_id,
        Err(problem) => {
            findings.push(Finding::problem(
                scope,
                "tenant id",
                format!("tenants[{index}].id: {problem}"),
                "write the tenant's GUID or verified domain",
            ));
            return findings;
        }
    };
    let mode = credential.mode();
    let tokens =
        TokenProvider::for_tenant(tenant_id, tenant, credential, http.clone(), clock.clone())
            .limited_by(polling);
    let cloud = tenant.cloud.as_str();
    let token = match tokens.token().await {
        Ok((token, _)) => {
            findings.push(Finding::ok(
                scope,
                "token",
                format!("acquired with {mode} from the {cloud} cloud"),
            ));
            token
        }
        Err(error) => {
            let fix = error
                .fix()
                .map(str::to_owned)
                .unwrap_or_else(|| match &error {
                    crate::auth::AuthError::Unavailable { detail, .. }
                        if detail.contains("certificate") =>
                    {
                        "the login host's TLS certificate is not trusted: behind a TLS-inspecting proxy, \
                         set tls.ca_file to its CA bundle"
                            .to_owned()
                    }
                    crate::auth::AuthError::Unavailable { .. } => {
                        "check the network path to the login host (proxy, firewall, DNS)".to_owned()
                    }
                    _ => "see the detail".to_owned(),
                });
            findings.push(Finding::problem(scope, "token", error.message(), fix));
            return findings;
        }
    };
    let version = tenant.api_version.as_str();
    let endpoints = tokens.endpoints();
    let graph = GraphOrigin::new(&endpoints.graph_base, &endpoints.graph_resource);
    // Graph's answers as the service reads them: redirects only within Graph's origin, bodies
    // within polling.max_page_bytes; what of an error body is shown is redacted
    let probe = |resource: &str| {
        let url = format!(
            "{}/{version}/auditLogs/{resource}?$top=1",
            endpoints.graph_base
        );
        let graph = &graph;
        let token = token.value.expose();
        async move { graph::client::get(http, graph, &url, token, page_limit(polling)).await }
    };
    let code_of = |body: &[u8]| graph_code(body, token.value.expose());

    // the audit-log permission, beta, and the clock, from one directory-audit request
    match probe("directoryAudits").await {
        Ok(answer) => {
            let status = answer.status.as_u16();
            let server_date = answer
                .headers
                .get(reqwest::header::DATE)
                .and_then(|value| value.to_str().ok())
                .and_then(|text| httpdate::parse_http_date(text).ok())
                .map(Timestamp::from_system_time);
            let body = answer.body;
            match status {
                200 => {
                    findings.push(Finding::ok(
                        scope,
                        "permission",
                        "AuditLog.Read.All: directory audits are readable",
                    ));
                    findings.push(Finding::ok(
                        scope,
                        "api version",
                        format!("{version} answers"),
                    ));
                }
                403 => findings.push(Finding::problem(
                    scope,
                    "permission",
                    format!("Graph refused directory audits with 403 ({})", code_of(&body)),
                    "grant the application the Microsoft Graph application permission AuditLog.Read.All \
                     and an administrator's consent",
                )),
                400 | 404 if tenant.api_version == crate::config::ApiVersion::Beta => {
                    findings.push(Finding::problem(
                        scope,
                        "api version",
                        format!("Graph beta answered {status} ({})", code_of(&body)),
                        "set api_version: v1.0 for this tenant (and only its streams)",
                    ))
                }
                other => findings.push(Finding::problem(
                    scope,
                    "permission",
                    format!("Graph answered {other} ({})", code_of(&body)),
                    "check endpoints.graph and the tenant's cloud",
                )),
            }
            if let Some(server) = server_date {
                let local = clock.now();
                let skew = if local >= server {
                    local.duration_since(server)
                } else {
                    server.duration_since(local)
                };
                if skew > CLOCK_SKEW_LIMIT {
                    findings.push(Finding::problem(
                        scope,
                        "clock",
                        format!("this machine's clock is {} s away from Graph's", skew.as_secs()),
                        "synchronise the clock (NTP): tokens and client assertions fail beyond 5 minutes",
                    ));
                } else {
                    findings.push(Finding::ok(
                        scope,
                        "clock",
                        format!("within {} s of Graph's", skew.as_secs().max(1)),
                    ));
                }
            }
        }
        Err(error) => findings.push(Finding::problem(
            scope,
            "permission",
            unanswered(&error),
            "check the network path to the Graph host (proxy, firewall, DNS)",
        )),
    }

    // the sign-in licence, asked again before it counts
    let wants_sign_ins = tenant
        .streams()
        .iter()
        .any(|stream| stream.family() == LogFamily::SignIns);
    if wants_sign_ins {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = probe("signIns")
                .await
                .map(|answer| (answer.status.as_u16(), answer.body));
            match answer {
                Ok((200, _)) => {
                    findings.push(Finding::ok(scope, "licence", "sign-in logs are readable"));
                    break;
                }
                Ok((403, body)) if code_of(&body).contains("NonPremium") => {
                    if attempt < LICENCE_ATTEMPTS {
                        clock.sleep(pause).await;
                        continue;
                    }
                    findings.push(Finding::problem(
                        scope,
                        "licence",
                        format!(
                            "Graph refused sign-ins {attempt} times: the tenant has no Entra ID P1/P2 licence"
                        ),
                        "license the tenant (Entra ID P1 or P2), or list only directory_audits and provisioning \
                         under streams",
                    ));
                    break;
                }
                Ok((status, body)) => {
                    findings.push(Finding::problem(
                        scope,
                        "licence",
                        format!("Graph answered {status} to sign-ins ({})", code_of(&body)),
                        "grant AuditLog.Read.All with admin consent; sign-ins also need Directory.Read.All \
                         on some tenants",
                    ));
                    break;
                }
                Err(error) => {
                    findings.push(Finding::problem(
                        scope,
                        "licence",
                        unanswered(&error),
                        "check the network path to the Graph host",
                    ));
                    break;
                }
            }
        }
    }
    findings
}

async fn check_kafka(config: &Config) -> Vec<Finding> {
    let scope = "kafka";
    let mut findings = Vec::new();
    let kafka = &config.kafka;
    // the idempotent producer the service uses, without a transactional id: nothing is fenced
    let mut plain = kafka.clone();
    plain.delivery = Delivery::AtLeastOnce;
    // statistics say when the brokers granted the producer id (the permission probe below)
    plain
        .librdkafka
        .insert("statistics.interval.ms".to_owned(), "100".to_owned());
    let publisher = match in_flight_gauge().and_then(|gauge| Publisher::new(&plain, gauge)) {
        Ok(publisher) => std::sync::Arc::new(publisher),
        Err(error) => {
            findings.push(Finding::problem(
                scope,
                "producer",
                error.to_string(),
                "fix kafka.librdkafka",
            ));
            return findings;
        }
    };
    let mut topics = vec![
        kafka.topics.sign_ins.as_str(),
        kafka.topics.directory_audits.as_str(),
        kafka.topics.provisioning.as_str(),
        kafka.topics.dead_letter.as_str(),
    ];
    if config.checkpoint.store == CheckpointStoreKind::Kafka {
        topics.push(config.checkpoint.topic.as_str());
    }
    let probing = publisher.clone();
    let owned_topics: Vec<String> = topics.iter().map(|topic| (*topic).to_owned()).collect();
    let metadata = tokio::task::spawn_blocking(move || {
        let topics: Vec<&str> = owned_topics.iter().map(String::as_str).collect();
        probing.brokers_and_missing_topics(&topics, KAFKA_TIMEOUT)
    })
    .await
    .unwrap_or_else(|error| {
        Err(KafkaProblem {
            state: KafkaState::Unreachable,
            what: "the metadata request failed".to_owned(),
            fix: "run check again".to_owned(),
            detail: error.to_string(),
        })
    });
    match metadata {
        Err(problem) => {
            let detail = if problem.state == KafkaState::Unreachable {
                format!(
                    "{} unreachable: {}",
                    kafka.bootstrap_servers, problem.detail
                )
            } else {
                format!(
                    "{} unreachable: {} ({})",
                    kafka.bootstrap_servers, problem.what, problem.detail
                )
            };
            findings.push(Finding::problem(scope, "brokers", detail, problem.fix));
            return findings;
        }
        Ok((brokers, missing)) => {
            findings.push(Finding::ok(
                scope,
                "brokers",
                format!(
                    "{} answers: {}",
                    kafka.bootstrap_servers,
                    counted(brokers.len(), "broker", "brokers")
                ),
            ));
            let checkpoint_topic = (config.checkpoint.store == CheckpointStoreKind::Kafka)
                .then_some(config.checkpoint.topic.as_str());
            let created_by_us =
                |topic: &str| checkpoint_topic == Some(topic) && config.checkpoint.create_topic;
            // the brokers' own auto-creation is asked only when a topic that entrastream does not
            // create itself is missing
            let auto_creation = match (
                missing.iter().any(|topic| !created_by_us(topic)),
                brokers.first(),
            ) {
                (true, Some(broker)) => {
                    Some(crate::kafka::auto_created_topics(kafka, *broker, KAFKA_TIMEOUT).await)
                }
                _ => None,
            };
            for topic in topics {
                let finding = if !missing.iter().any(|name| name == topic) {
                    Finding::ok(scope, "topic", format!("{topic} exists"))
                } else if created_by_us(topic) {
                    Finding::ok(
                        scope,
                        "topic",
                        format!(
                            "{topic} is absent; the service creates it compacted (checkpoint.create_topic)"
                        ),
                    )
                } else {
                    missing_topic(
                        topic,
                        checkpoint_topic == Some(topic),
                        auto_creation.as_ref(),
                    )
                };
                findings.push(finding);
            }
            if let Some(topic) = checkpoint_topic
                && !missing.iter().any(|name| name == topic)
            {
                findings.push(checkpoint_read(kafka, topic).await);
            }
        }
    }
    findings.push(produce_permission(&publisher).await);
    if kafka.delivery == Delivery::ExactlyOnce {
        // a transactional id of its own, so that the running service is not fenced
        let mut probe = kafka.clone();
        probe.instance_id = format!("{}-check", kafka.instance_id);
        probe.transaction_timeout = KAFKA_TIMEOUT;
        let outcome = match in_flight_gauge().and_then(|gauge| Publisher::new(&probe, gauge)) {
            Ok(publisher) => tokio::task::spawn_blocking(move || publisher.init_transactions())
                .await
                .map_err(|error| error.to_string())
                .and_then(|result| result.map_err(|error| error.to_string())),
            Err(error) => Err(error.to_string()),
        };
        findings.push(match outcome {
            Ok(()) => Finding::ok(
                scope,
                "transactions",
                format!("available (probed with transactional.id entrastream-{})", probe.instance_id),
            ),
            Err(error) => Finding::problem(
                scope,
                "transactions",
                error,
                "enable transactions on the brokers and grant WRITE and DESCRIBE on transactional ids \
                 entrastream-*, or use kafka.delivery: at_least_once",
            ),
        });
    }
    findings
}

/// A topic the cluster does not know: a problem unless the brokers create topics at their first
/// record (`auto.create.topics.enable`, Kafka's default), which the checkpoint topic must not rely
/// on (an automatically created topic is not compacted).
fn missing_topic(
    topic: &str,
    is_checkpoint_topic: bool,
    auto_creation: Option<&Result<(bool, Option<String>), String>>,
) -> Finding {
    let scope = "kafka";
    match auto_creation {
        Some(Ok((true, partitions))) if !is_checkpoint_topic => Finding::ok(
            scope,
            "topic",
            format!(
                "{topic} is absent; the brokers create it at its first record (auto.create.topics.enable=true, \
                 num.partitions={}); the principal needs CREATE on it",
                partitions.as_deref().unwrap_or("unknown")
            ),
        ),
        Some(Ok((true, _))) => Finding::problem(
            scope,
            "topic",
            format!(
                "{topic} does not exist; the brokers would create it at its first record, but not compacted"
            ),
            format!(
                "create {topic} with cleanup.policy=compact, or set checkpoint.create_topic: true"
            ),
        ),
        Some(Ok((false, _))) => Finding::problem(
            scope,
            "topic",
            format!(
                "{topic} does not exist and the brokers do not create topics (auto.create.topics.enable=false)"
            ),
            format!("create {topic}"),
        ),
        Some(Err(reason)) => Finding::problem(
            scope,
            "topic",
            format!(
                "{topic} does not exist (whether the brokers create topics is unknown: {reason})"
            ),
            format!(
                "create {topic}, or grant the principal DESCRIBE_CONFIGS on the cluster so that check can read \
                 auto.create.topics.enable"
            ),
        ),
        None => Finding::problem(
            scope,
            "topic",
            format!("{topic} does not exist"),
            format!("create {topic}, or let the brokers create topics automatically"),
        ),
    }
}

/// READ on the checkpoint topic, which the kafka store reads at every start (it needs no consumer
/// group: it assigns the partitions itself and commits no offsets).
async fn checkpoint_read(kafka: &crate::config::KafkaConfig, topic: &str) -> Finding {
    let scope = "kafka";
    let probing = kafka.clone();
    let probed_topic = topic.to_owned();
    let outcome = tokio::task::spawn_blocking(move || {
        crate::checkpoint::probe_read(&probing, &probed_topic, KAFKA_TIMEOUT)
    })
    .await
    .map_err(|error| error.to_string())
    .and_then(|result| result.map_err(|error| error.to_string()));
    match outcome {
        Ok(()) => Finding::ok(
            scope,
            "checkpoint read",
            format!("{topic} can be read (no consumer group is needed)"),
        ),
        Err(error) => Finding::problem(
            scope,
            "checkpoint read",
            error,
            format!("grant the principal READ and DESCRIBE on topic {topic}"),
        ),
    }
}

/// Permission to produce, without writing a record: the idempotent producer asks the brokers for
/// a producer id, which Kafka (2.8 and later) grants only to a principal with WRITE on a topic
/// or IDEMPOTENT_WRITE on the cluster; a refusal is a fatal producer error. WRITE on each of the
/// topics is confirmed by the first delivery (a refusal stops the service with its fix).
async fn produce_permission(publisher: &Publisher) -> Finding {
    let scope = "kafka";
    let deadline = tokio::time::Instant::now() + KAFKA_TIMEOUT;
    loop {
        if let Some(fatal) = publisher.fatal_error() {
            return Finding::problem(
                scope,
                "produce",
                format!("the brokers refused a producer id: {fatal}"),
                "grant the principal WRITE on the topics (Kafka 2.8 and later) or IDEMPOTENT_WRITE on \
                 the cluster",
            );
        }
        let state = publisher.idempotence_state();
        if state.as_deref() == Some("Assigned") {
            return Finding::ok(
                scope,
                "produce",
                "the brokers granted a producer id (permission to produce; WRITE on each topic is \
                 confirmed by the first delivery)",
            );
        }
        if tokio::time::Instant::now() >= deadline {
            return Finding::problem(
                scope,
                "produce",
                format!(
                    "no producer id within {}s (idempotent producer state: {})",
                    KAFKA_TIMEOUT.as_secs(),
                    state.as_deref().unwrap_or("unknown")
                ),
                "check that the principal may produce (WRITE on the topics or IDEMPOTENT_WRITE on \
                 the cluster) and that the brokers are healthy",
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The producer's records-in-flight gauge, registered nowhere: `check` exports no metrics.
fn in_flight_gauge() -> Result<prometheus::IntGauge, crate::kafka::KafkaError> {
    prometheus::IntGauge::new("entrastream_check_records_in_flight", "records in flight")
        .map_err(|error| crate::kafka::KafkaError::Setup(error.to_string()))
}

/// Graph's error code from its JSON error body, redacted (`token`: the bearer token sent).
fn graph_code(body: &[u8], token: &str) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            value["error"]["code"]
                .as_str()
                .map(|code| redact(code, &[token]))
        })
        .unwrap_or_else(|| "no error code".to_owned())
}

/// Why a probe got no answer to judge: the network, or an answer refused (too large, a redirect
/// away from Graph).
fn unanswered(error: &GraphError) -> String {
    match error {
        GraphError::Transport(detail) => format!("Graph is unreachable: {detail}"),
        GraphError::Timeout => format!("Graph is unreachable: {error}"),
        _ => error.to_string(),
    }
}

/// The findings as a table: scope, check, ok or problem, detail, fix.
pub fn table(findings: &[Finding]) -> String {
    let mut rows = vec![[
        "SCOPE".to_owned(),
        "CHECK".to_owned(),
        "STATUS".to_owned(),
        "DETAIL / FIX".to_owned(),
    ]];
    for finding in findings {
        let status = if finding.ok { "ok" } else { "PROBLEM" };
        let text = match &finding.fix {
            Some(fix) => format!("{}; fix: {fix}", finding.detail),
            None => finding.detail.clone(),
        };
        rows.push([
            finding.scope.clone(),
            finding.check.to_owned(),
            status.to_owned(),
            text,
        ]);
    }
    let widths: Vec<usize> = (0..3)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        out.push_str(&format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error's text that ends with its fix gives the fix once, in its column.
    #[test]
    fn a_fix_is_said_once() {
        let finding = Finding::problem(
            "contoso",
            "token",
            "refused with 401 AADSTS7000215; fix: configure the secret's Value",
            "configure the secret's Value",
        );
        assert_eq!(finding.detail, "refused with 401 AADSTS7000215");
        assert_eq!(finding.fix.as_deref(), Some("configure the secret's Value"));
        let from_text = Finding::from_message("contoso", "credential", "x is not set; fix: set x");
        assert_eq!(
            (from_text.detail.as_str(), from_text.fix.as_deref()),
            ("x is not set", Some("set x"))
        );
        let without = Finding::from_message("contoso", "credential", "wrong password: check it");
        assert_eq!(
            (without.detail.as_str(), without.fix),
            ("wrong password: check it", None)
        );
    }

    #[test]
    fn the_table_aligns_columns_and_joins_detail_and_fix() {
        let findings = vec![
            Finding::ok(
                "contoso",
                "token",
                "acquired with certificate from the global cloud",
            ),
            Finding::problem(
                "kafka",
                "topic",
                "entra.audit does not exist",
                "create entra.audit",
            ),
        ];
        assert_eq!(
            table(&findings),
            "SCOPE    CHECK  STATUS   DETAIL / FIX\n\
             contoso  token  ok       acquired with certificate from the global cloud\n\
             kafka    topic  PROBLEM  entra.audit does not exist; fix: create entra.audit\n"
        );
    }
}
