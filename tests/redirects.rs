//! Redirects are judged by entrastream, never followed blindly: a token request follows none (the
//! client secret would go with it), a Graph request only those within Graph's origin (the rule of
//! nextLinks, proxy included), so the bearer token never reaches another host and nothing a
//! foreign host serves is published. The foreign host is a server of this test that records
//! every request and would answer a token and a page of records of its own.
//!
//! The tests share this binary's log capture (a process-wide subscriber); each filters its own
//! tenant's lines.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::log_capture::{lines, logs};
use common::{START, compare, consume_events, drive, metric_sum, simulator};
use entrastream::config::{PollingConfig, TlsConfig};
use entrastream::graph::client::{get as graph_get, http_client};
use entrastream::graph::error::GraphError;
use entrastream::graph::origin::GraphOrigin;
use entrastream::sim::config::{FaultKind, FaultSpec, ScriptedFault, SimConfig};
use entrastream::upstream::body::BodyLimit;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// A request the foreign host received.
#[derive(Clone, Debug)]
struct Received {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn describe(&self) -> String {
        format!(
            "{} {} ({} header(s), {} body bytes)",
            self.method,
            self.uri,
            self.headers.len(),
            self.body.len()
        )
    }
}

fn described(received: &[Received]) -> Vec<String> {
    received.iter().map(Received::describe).collect()
}

/// A host of another origin: records every request, answers a token to a POST and a page with a
/// record of its own to a GET.
struct ForeignHost {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    server: tokio::task::JoinHandle<()>,
}

impl ForeignHost {
    async fn start() -> ForeignHost {
        async fn answer(
            State(received): State<Arc<Mutex<Vec<Received>>>>,
            method: Method,
            uri: Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            let is_post = method == Method::POST;
            received.lock().expect("lock").push(Received {
                method,
                uri,
                headers,
                body,
            });
            let body = if is_post {
                r#"{"token_type":"Bearer","expires_in":3600,"access_token":"foreign-token"}"#
            } else {
                r#"{"value":[{"id":"foreign-record-1","activityDateTime":"2026-01-05T11:30:00Z","createdDateTime":"2026-01-05T11:30:00Z"}]}"#
            };
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        let received = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new().fallback(answer).with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let host = ForeignHost {
            base: format!("http://{address}"),
            received,
            server,
        };
        // it records what it receives
        reqwest::get(format!("{}/probe", host.base))
            .await
            .expect("the foreign host answers");
        assert_eq!(host.take().len(), 1);
        host
    }

    /// The requests received since the last call.
    fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().expect("lock"))
    }
}

impl Drop for ForeignHost {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn simulator_config(hostile: &str, other: &str, faults: FaultSpec) -> SimConfig {
    SimConfig {
        token_lifetime: 24 * HOUR,
        faults,
        ..common::two_tenants(45, hostile, other)
    }
}

fn polling() -> PollingConfig {
    PollingConfig {
        interval: 2 * MINUTE,
        initial_lookback: HOUR,
        lateness: HOUR,
        reconcile_every: 20 * MINUTE,
        ..PollingConfig::default()
    }
}

fn scripted(tenant: &str, requests: std::ops::RangeInclusive<u64>) -> Vec<ScriptedFault> {
    requests
        .map(|at_request| ScriptedFault {
            at_request,
            kind: FaultKind::RedirectForeign,
            tenant: Some(tenant.to_owned()),
        })
        .collect()
}

/// Whether any request carries a credential: the secret, an assertion, a bearer token.
fn carries_a_credential(received: &[Received], secret: &str) -> bool {
    received.iter().any(|request| {
        let body = String::from_utf8_lossy(&request.body);
        request.headers.contains_key(header::AUTHORIZATION)
            || request.uri.to_string().contains(secret)
            || body.contains(secret)
            || body.contains("client_secret")
            || body.contains("client_assertion")
            || body.contains("eyJ")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_redirect_to_another_origin_is_not_followed_and_nothing_of_it_is_published() {
    const HOSTILE: &str = "77777777-7777-4777-8777-777777777777";
    const OTHER: &str = "88888888-8888-4888-8888-888888888888";
    logs();
    let foreign = ForeignHost::start().await;
    let faults = FaultSpec {
        scripted: scripted(HOSTILE, 2..=4),
        redirect_target: foreign.base.clone(),
        ..FaultSpec::default()
    };
    let (sim, clock) = simulator(simulator_config(HOSTILE, OTHER, faults)).await;
    let manual = clock.as_manual().expect("manual").clone();
    let (kafka, running, _directory) =
        common::start_audits_and_sign_ins(&sim, &clock, polling()).await;
    drive(
        &manual,
        START.saturating_add(2 * HOUR),
        Duration::from_secs(120),
    )
    .await;
    let metrics = running.metrics.clone();
    running.stop().await.expect("the service stops cleanly");

    let received = foreign.take();
    assert!(
        received.is_empty(),
        "the foreign host received {:?}",
        described(&received)
    );
    let redirects = sim
        .stats()
        .requests()
        .iter()
        .filter(|request| request.fault == Some(FaultKind::RedirectForeign))
        .count();
    assert_eq!(redirects, 3);
    assert_eq!(
        metric_sum(
            &metrics,
            "entrastream_graph_requests_total",
            &[("tenant", HOSTILE), ("status_class", "redirect")],
        ),
        3.0
    );
    assert_eq!(
        metric_sum(
            &metrics,
            "entrastream_graph_requests_total",
            &[("tenant", OTHER), ("outcome", "error")],
        ),
        0.0
    );
    let refused = lines(
        HOSTILE,
        "graph redirect not followed; the window is read again",
    );
    assert_eq!(refused.len(), 3, "{refused:?}");
    for line in &refused {
        assert_eq!(line["status"], 307);
        assert_eq!(
            line["detail"],
            format!(
                "to {}, outside {}, so that the token is not sent there",
                foreign.base,
                sim.base_url()
            )
        );
    }

    let events = consume_events(&kafka);
    assert!(
        events.iter().all(|event| !event.key.contains("foreign")
            && !String::from_utf8_lossy(&event.payload).contains("foreign")),
        "a foreign record was published"
    );
    let comparison = compare(
        &sim,
        &kafka,
        START.saturating_sub(HOUR),
        START.saturating_add(HOUR),
        START.saturating_add(2 * HOUR),
    );
    assert!(comparison.expected > 400, "{comparison:?}");
    assert_eq!(comparison.missing, 0, "{comparison:?}");
    assert_eq!(comparison.duplicates, 0, "{comparison:?}");
    assert_eq!(comparison.unexpected, 0, "{comparison:?}");
    println!(
        "graph: 3 redirects to {} refused, the foreign host received nothing; {} records \
         delivered, 0 missing, 0 repeated, none foreign",
        foreign.base, comparison.delivered
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_redirect_is_never_followed_and_blocks_the_tenant_with_the_fix() {
    const HOSTILE: &str = "99999999-9999-4999-8999-999999999999";
    const OTHER: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
    logs();
    let foreign = ForeignHost::start().await;
    // the first token request of each of the tenant's two streams
    let faults = FaultSpec {
        token_scripted: scripted(HOSTILE, 1..=2),
        redirect_target: foreign.base.clone(),
        ..FaultSpec::default()
    };
    let (sim, clock) = simulator(simulator_config(HOSTILE, OTHER, faults)).await;
    let secret = sim
        .credentials()
        .tenants
        .iter()
        .find(|tenant| tenant.tenant_id == HOSTILE)
        .expect("the tenant")
        .client_secret
        .clone();
    let manual = clock.as_manual().expect("manual").clone();
    let (kafka, running, _directory) =
        common::start_audits_and_sign_ins(&sim, &clock, polling()).await;
    // both streams are blocked until polling.blocked_retry (10m) has passed
    drive(
        &manual,
        START.saturating_add(5 * MINUTE),
        Duration::from_secs(60),
    )
    .await;
    let fix = "set endpoints.login to the identity platform's own URL (or leave it out for the \
               cloud's), or to a proxy that forwards token requests instead of redirecting them";
    assert_eq!(
        running.metrics.health().readiness().problems,
        vec![format!(
            "tenant {HOSTILE}: auth_failed: the token endpoint answered 307 with a redirect, not \
             followed; fix: {fix}"
        )]
    );
    let blocked = lines(HOSTILE, "stream blocked");
    assert_eq!(blocked.len(), 2, "{blocked:?}");
    for line in &blocked {
        assert_eq!(line["reason"], "auth_failed");
        assert_eq!(
            line["detail"],
            format!(
                "tenant {HOSTILE}: the token endpoint answered 307 with a redirect to {}; token \
                 requests never follow redirects, so the client_secret credential was not sent \
                 there; fix: {fix}",
                foreign.base
            )
        );
    }

    drive(
        &manual,
        START.saturating_add(2 * HOUR),
        Duration::from_secs(120),
    )
    .await;
    let metrics = running.metrics.clone();
    let ready = metrics.health().readiness();
    running.stop().await.expect("the service stops cleanly");
    let received = foreign.take();
    assert!(
        !carries_a_credential(&received, &secret),
        "the foreign host received a credential"
    );
    assert!(
        received.is_empty(),
        "the foreign host received {:?}",
        described(&received)
    );
    assert_eq!(
        metric_sum(
            &metrics,
            "entrastream_token_requests_total",
            &[("tenant", HOSTILE), ("outcome", "redirect")],
        ),
        2.0
    );
    assert_eq!(
        metric_sum(
            &metrics,
            "entrastream_token_requests_total",
            &[("tenant", HOSTILE), ("outcome", "success")],
        ),
        1.0,
        "the token of the next attempt, from the tenant's own endpoint"
    );
    assert!(ready.ready, "{ready:?}");
    let comparison = compare(
        &sim,
        &kafka,
        START.saturating_sub(HOUR),
        START.saturating_add(HOUR),
        START.saturating_add(2 * HOUR),
    );
    assert!(comparison.expected > 400, "{comparison:?}");
    assert_eq!(comparison.missing, 0, "{comparison:?}");
    assert_eq!(comparison.duplicates, 0, "{comparison:?}");
    assert_eq!(comparison.unexpected, 0, "{comparison:?}");
    println!(
        "token endpoint: 2 redirects refused, both streams blocked (auth_failed) until \
         polling.blocked_retry, the foreign host received nothing; {} records delivered, 0 \
         missing, 0 repeated",
        comparison.delivered
    );
}

/// The pages a fake Graph was asked for, and whether the token came with each.
type Seen = Arc<Mutex<Vec<(String, bool)>>>;

/// A fake Graph behind a proxy path (`/msgraph`) whose answers redirect: within its origin
/// (followed, the token with it), to the cloud's own Graph host (followed through the proxy), to
/// another origin (refused), and in a loop (refused after five).
#[tokio::test]
async fn graph_redirects_are_followed_within_graphs_origin_only() {
    let foreign = ForeignHost::start().await;
    let seen: Seen = Arc::default();
    let foreign_base = foreign.base.clone();
    let router = Router::new()
        .route(
            "/msgraph/beta/{page}",
            get(
                move |State(seen): State<Seen>,
                      axum::extract::Path(page): axum::extract::Path<String>,
                      headers: HeaderMap| {
                    let foreign_base = foreign_base.clone();
                    async move {
                        let authorized = headers
                            .get(header::AUTHORIZATION)
                            .and_then(|value| value.to_str().ok())
                            == Some("Bearer the-token");
                        seen.lock().expect("lock").push((page.clone(), authorized));
                        let location = match page.as_str() {
                            "relative" => "/msgraph/beta/page",
                            "cloud" => "https://graph.microsoft.com/beta/page?$skiptoken=x",
                            "foreign" => &format!("{foreign_base}/beta/page"),
                            "loop" => "/msgraph/beta/loop",
                            _ => return (StatusCode::OK, r#"{"value":[]}"#).into_response(),
                        };
                        (
                            StatusCode::TEMPORARY_REDIRECT,
                            [(header::LOCATION, location.to_owned())],
                        )
                            .into_response()
                    }
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let proxy = format!("http://{address}/msgraph");
    let graph = GraphOrigin::new(&proxy, "https://graph.microsoft.com");
    let http = http_client(Duration::from_secs(5), &TlsConfig::default()).expect("client");
    let limit = BodyLimit {
        max_bytes: 1024 * 1024,
        key: "polling.max_page_bytes",
        timeout: Duration::from_secs(5),
    };
    let fetch = |page: &str| {
        let url = format!("{proxy}/beta/{page}");
        let (http, graph) = (&http, &graph);
        async move { graph_get(http, graph, &url, "the-token", limit).await }
    };

    let followed = fetch("relative").await.expect("followed");
    assert_eq!(followed.status, 200);
    assert_eq!(followed.body.as_ref(), br#"{"value":[]}"#);
    let through_the_proxy = fetch("cloud").await.expect("followed through the proxy");
    assert_eq!(through_the_proxy.status, 200);
    assert_eq!(
        std::mem::take(&mut *seen.lock().expect("lock")),
        vec![
            ("relative".to_owned(), true),
            ("page".to_owned(), true),
            ("cloud".to_owned(), true),
            ("page".to_owned(), true),
        ],
        "each hop within Graph's origin carries the token"
    );

    let refused = fetch("foreign").await.expect_err("refused");
    assert_eq!(
        refused,
        GraphError::Redirected {
            status: 307,
            detail: format!(
                "to {}, outside http://{address}, so that the token is not sent there",
                foreign.base
            ),
        }
    );
    assert_eq!(
        refused.to_string(),
        format!(
            "Graph answered 307 with a redirect to {}, outside http://{address}, so that the token \
             is not sent there; it is not followed",
            foreign.base
        )
    );
    assert!(
        foreign.take().is_empty(),
        "the foreign host received a request"
    );
    let looped = fetch("loop").await.expect_err("refused");
    assert_eq!(
        looped.to_string(),
        "Graph answered 307 with a redirect after 5 redirects of the same request; it is not followed"
    );
    assert_eq!(
        seen.lock().expect("lock").len(),
        1 + 6,
        "the foreign one, then the loop's request and its five redirects"
    );
    server.abort();
}
