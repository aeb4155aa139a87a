//! The Graph simulator through HTTP, as a client sees it: token endpoint, filters, ordering,
//! paging and skip-token expiry, visibility, throttling, every fault kind, ground truth,
//! determinism, TLS and client assertions.

use std::collections::BTreeSet;
use std::time::Duration;

use entrastream::clock::{Clock, Timestamp};
use entrastream::sim::Simulator;
use entrastream::sim::config::{
    FaultKind, FaultRate, FaultSpec, Latency, ScriptedFault, SimConfig, StreamLatencies,
    StreamRates, TenantSpec,
};
use entrastream::stream::StreamKind;
use serde_json::Value;

/// 2026-01-05T12:00:00Z, a Monday.
const START: Timestamp = Timestamp::from_secs(1_767_614_400);

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("valid time")
}

struct Harness {
    sim: Simulator,
    clock: Clock,
    http: reqwest::Client,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

fn quiet_config() -> SimConfig {
    SimConfig {
        tenant_count: 2,
        rates: StreamRates::uniform(6.0),
        latency: StreamLatencies::uniform(Latency::ZERO),
        history: Duration::from_secs(6 * 3600),
        users_per_tenant: 20,
        throttle: None,
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> Harness {
    let clock = Clock::manual(START);
    let sim = Simulator::start(config, clock.clone())
        .await
        .expect("simulator starts");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    Harness { sim, clock, http }
}

impl Harness {
    fn advance(&self, duration: Duration) {
        self.clock
            .as_manual()
            .expect("manual clock")
            .advance(duration);
    }

    fn tenant(&self, index: usize) -> (String, String, String) {
        let tenant = &self.sim.tenants()[index];
        (
            tenant.tenant_id.clone(),
            tenant.client_id.clone(),
            tenant.client_secret.clone(),
        )
    }

    async fn token_request(&self, tenant_in_path: &str, form: &[(&str, &str)]) -> Reply {
        let response = self
            .http
            .post(format!(
                "{}/{tenant_in_path}/oauth2/v2.0/token",
                self.sim.base_url()
            ))
            .form(form)
            .send()
            .await
            .expect("token request");
        reply(response).await
    }

    async fn token(&self, index: usize) -> String {
        let (tenant_id, client_id, secret) = self.tenant(index);
        let reply = self
            .token_request(
                &tenant_id,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client_id),
                    ("client_secret", &secret),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
            )
            .await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    async fn get(&self, url: &str, token: &str) -> Reply {
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("graph request");
        reply(response).await
    }

    fn url(
        &self,
        version: &str,
        resource: &str,
        filter: Option<&str>,
        top: Option<usize>,
    ) -> String {
        let mut url = reqwest::Url::parse(&format!(
            "{}/{version}/auditLogs/{resource}",
            self.sim.base_url()
        ))
        .expect("url");
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(filter) = filter {
                pairs.append_pair("$filter", filter);
            }
            if let Some(top) = top {
                pairs.append_pair("$top", &top.to_string());
            }
        }
        url.to_string()
    }

    /// Follows nextLinks to the end; returns every page's JSON.
    async fn all_pages(&self, first_url: &str, token: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut url = first_url.to_owned();
        loop {
            let reply = self.get(&url, token).await;
            assert_eq!(
                reply.status,
                200,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
            let page = reply.json();
            let next = page["@odata.nextLink"].as_str().map(str::to_owned);
            pages.push(page);
            match next {
                Some(next) => url = next,
                None => return pages,
            }
        }
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map(|bytes| bytes.to_vec())
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

fn ids(pages: &[Value]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default())
        .map(|record| record["id"].as_str().expect("id").to_owned())
        .collect()
}

fn window_filter(field: &str, from: Timestamp, to: Timestamp) -> String {
    format!(
        "{field} ge {} and {field} le {}",
        from.to_rfc3339_seconds(),
        to.to_rfc3339_seconds()
    )
}

#[tokio::test]
async fn token_endpoint_issues_tokens_and_refuses_as_entra_does() {
    let mut config = quiet_config();
    config.tenants = vec![
        TenantSpec::default(),
        TenantSpec {
            secret_expired: true,
            ..TenantSpec::default()
        },
    ];
    config.token_lifetime = Duration::from_secs(1200);
    let harness = start(config).await;
    let (tenant_id, client_id, secret) = harness.tenant(0);
    let scope = "https://graph.microsoft.com/.default";
    let form = |secret: &str, client: &str, scope: &str| {
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".to_owned(), client.to_owned()),
            ("client_secret".to_owned(), secret.to_owned()),
            ("scope".to_owned(), scope.to_owned()),
        ]
    };
    let send = |tenant: String, form: Vec<(String, String)>| {
        let harness = &harness;
        async move {
            let pairs: Vec<(&str, &str)> = form
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str()))
                .collect();
            harness.token_request(&tenant, &pairs).await
        }
    };

    let issued = send(tenant_id.clone(), form(&secret, &client_id, scope)).await;
    assert_eq!(issued.status, 200);
    let body = issued.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1200);

    let cases = [
        (
            send(tenant_id.clone(), form("wrong", &client_id, scope)).await,
            401,
            "invalid_client",
            7000215,
        ),
        (
            send(
                "no-such-tenant".to_owned(),
                form(&secret, &client_id, scope),
            )
            .await,
            400,
            "invalid_request",
            90002,
        ),
        (
            send(tenant_id.clone(), form(&secret, "someone-else", scope)).await,
            400,
            "unauthorized_client",
            700016,
        ),
        (
            send(
                tenant_id.clone(),
                form(&secret, &client_id, "https://graph.microsoft.us/.default"),
            )
            .await,
            400,
            "invalid_scope",
            70011,
        ),
    ];
    for (reply, status, error, code) in cases {
        assert_eq!(reply.status, status);
        let body = reply.json();
        assert_eq!(body["error"], error);
        assert_eq!(body["error_codes"][0], code);
        let description = body["error_description"].as_str().expect("description");
        assert!(
            description.starts_with(&format!("AADSTS{code}: ")),
            "{description}"
        );
        assert!(description.contains("\r\nTrace ID: "), "{description}");
    }

    let (expired_tenant, expired_client, expired_secret) = harness.tenant(1);
    let expired = send(
        expired_tenant,
        form(&expired_secret, &expired_client, scope),
    )
    .await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["error_codes"][0], 7000222);
}

#[tokio::test]
async fn bearer_tokens_expire_on_the_simulated_clock_and_are_bound_to_their_tenant() {
    let mut config = quiet_config();
    config.token_lifetime = Duration::from_secs(600);
    let harness = start(config).await;
    let url = harness.url(
        "beta",
        "directoryAudits",
        Some(&window_filter(
            "activityDateTime",
            START.saturating_sub(Duration::from_secs(3600)),
            START,
        )),
        None,
    );

    let empty = harness.get(&url, "").await;
    assert_eq!(empty.status, 401);
    assert_eq!(empty.error_code(), "InvalidAuthenticationToken");
    assert_eq!(empty.error_message(), "Access token is empty.");

    let forged = harness
        .get(&url, "eyJhbGciOiJIUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJl")
        .await;
    assert_eq!(forged.status, 401);

    let token_a = harness.token(0).await;
    let token_b = harness.token(1).await;
    let pages_a = harness.all_pages(&url, &token_a).await;
    let pages_b = harness.all_pages(&url, &token_b).await;
    let (tenant_a, ..) = harness.tenant(0);
    let (tenant_b, ..) = harness.tenant(1);
    let from = START.saturating_sub(Duration::from_secs(3600));
    let truth_a = harness
        .sim
        .truth(&tenant_a, StreamKind::DirectoryAudits, from, START, START);
    let truth_b = harness
        .sim
        .truth(&tenant_b, StreamKind::DirectoryAudits, from, START, START);
    assert!(!truth_a.is_empty());
    assert_eq!(ids(&pages_a).into_iter().collect::<BTreeSet<_>>(), truth_a);
    assert_eq!(ids(&pages_b).into_iter().collect::<BTreeSet<_>>(), truth_b);
    assert!(truth_a.is_disjoint(&truth_b));

    harness.advance(Duration::from_secs(601));
    let expired = harness.get(&url, &token_a).await;
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.error_message(),
        "Lifetime validation failed, the token is expired."
    );
}

#[tokio::test]
async fn filters_follow_graph_and_refusals_are_graph_400s() {
    let mut config = quiet_config();
    config.tenants = vec![TenantSpec {
        retention: Some(Duration::from_secs(7 * 24 * 3600)),
        ..TenantSpec::default()
    }];
    let harness = start(config).await;
    let token = harness.token(0).await;
    let hour_ago = START.saturating_sub(Duration::from_secs(3600));
    let refusals = [
        (
            "signIns",
            "beta",
            format!("createdDateTime gt {}", hour_ago.to_rfc3339_seconds()),
            "operator 'gt'",
        ),
        (
            "signIns",
            "beta",
            format!("createdDateTime lt {}", hour_ago.to_rfc3339_seconds()),
            "operator 'lt'",
        ),
        (
            "directoryAudits",
            "beta",
            window_filter("createdDateTime", hour_ago, START),
            "'createdDateTime'",
        ),
        (
            "signIns",
            "beta",
            "signInEventTypes/any(t: t eq 'nonInteractiveUser' or t eq 'managedIdentity')"
                .to_owned(),
            "cannot be combined",
        ),
        (
            "signIns",
            "v1.0",
            "signInEventTypes/any(t: t eq 'nonInteractiveUser')".to_owned(),
            "signInEventTypes",
        ),
        (
            "signIns",
            "beta",
            window_filter(
                "createdDateTime",
                START.saturating_sub(Duration::from_secs(8 * 24 * 3600)),
                START,
            ),
            "retention",
        ),
    ];
    for (resource, version, filter, expected) in refusals {
        let reply = harness
            .get(&harness.url(version, resource, Some(&filter), None), &token)
            .await;
        assert_eq!(reply.status, 400, "{filter}");
        assert_eq!(reply.error_code(), "BadRequest");
        let message = reply.error_message();
        assert!(message.starts_with("Invalid filter clause"), "{message}");
        assert!(message.contains(expected), "{filter}: {message}");
    }
    let too_big = harness
        .get(&harness.url("beta", "signIns", None, Some(1001)), &token)
        .await;
    assert_eq!(too_big.status, 400);
    assert!(too_big.error_message().contains("between 1 and 1000"));

    // eq on the time field selects that instant only
    let (tenant_id, ..) = harness.tenant(0);
    let truth = harness.sim.truth(
        &tenant_id,
        StreamKind::SignInsInteractive,
        hour_ago,
        START,
        START,
    );
    let some_pages = harness
        .all_pages(
            &harness.url(
                "beta",
                "signIns",
                Some(&window_filter("createdDateTime", hour_ago, START)),
                None,
            ),
            &token,
        )
        .await;
    let first = some_pages[0]["value"][0].clone();
    let exact_time = first["createdDateTime"].as_str().expect("time");
    let exact = harness
        .all_pages(
            &harness.url(
                "beta",
                "signIns",
                Some(&format!("createdDateTime eq {exact_time}")),
                None,
            ),
            &token,
        )
        .await;
    assert_eq!(
        ids(&exact),
        vec![first["id"].as_str().expect("id").to_owned()]
    );
    assert_eq!(ids(&some_pages).into_iter().collect::<BTreeSet<_>>(), truth);
}

#[tokio::test]
async fn sign_ins_come_newest_first_across_absolute_next_links_and_cover_the_ground_truth() {
    let mut config = quiet_config();
    config.rates = StreamRates::uniform(40.0);
    let harness = start(config).await;
    let token = harness.token(0).await;
    let (tenant_id, ..) = harness.tenant(0);
    let from = START.saturating_sub(Duration::from_secs(1800));
    let filter = format!(
        "{} and signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')",
        window_filter("createdDateTime", from, START)
    );
    let pages = harness
        .all_pages(
            &harness.url("beta", "signIns", Some(&filter), Some(250)),
            &token,
        )
        .await;
    assert!(pages.len() > 4, "{} pages", pages.len());
    for page in &pages[..pages.len() - 1] {
        let link = page["@odata.nextLink"].as_str().expect("nextLink");
        assert!(
            link.starts_with(&format!(
                "{}/beta/auditLogs/signIns?",
                harness.sim.base_url()
            )),
            "{link}"
        );
        assert!(
            link.contains("%24skiptoken=") || link.contains("$skiptoken="),
            "{link}"
        );
        assert_eq!(page["value"].as_array().map(Vec::len), Some(250));
    }
    let times: Vec<Timestamp> = pages
        .iter()
        .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default())
        .map(|record| at(record["createdDateTime"].as_str().expect("time")))
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] >= pair[1]),
        "newest first"
    );
    let served = ids(&pages);
    let served_set: BTreeSet<String> = served.iter().cloned().collect();
    assert_eq!(
        served.len(),
        served_set.len(),
        "no duplicates without the fault"
    );
    let mut truth = harness.sim.truth(
        &tenant_id,
        StreamKind::SignInsInteractive,
        from,
        START,
        START,
    );
    truth.extend(harness.sim.truth(
        &tenant_id,
        StreamKind::SignInsNonInteractive,
        from,
        START,
        START,
    ));
    assert_eq!(served_set, truth);

    // without any filter, beta returns interactive sign-ins only
    let unfiltered = harness
        .all_pages(&harness.url("beta", "signIns", None, None), &token)
        .await;
    for record in unfiltered
        .iter()
        .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default())
    {
        assert_eq!(record["signInEventTypes"][0], "interactiveUser");
    }
}

#[tokio::test]
async fn v1_sign_ins_are_interactive_only_without_beta_properties() {
    let harness = start(quiet_config()).await;
    let token = harness.token(0).await;
    let (tenant_id, ..) = harness.tenant(0);
    let from = START.saturating_sub(Duration::from_secs(3600));
    let pages = harness
        .all_pages(
            &harness.url(
                "v1.0",
                "signIns",
                Some(&window_filter("createdDateTime", from, START)),
                None,
            ),
            &token,
        )
        .await;
    let records: Vec<Value> = pages
        .iter()
        .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(!records.is_empty());
    for record in &records {
        assert_eq!(record["isInteractive"], true);
        for beta_only in [
            "signInEventTypes",
            "authenticationDetails",
            "userAgent",
            "servicePrincipalId",
            "autonomousSystemNumber",
        ] {
            assert!(
                record.get(beta_only).is_none(),
                "v1.0 record has {beta_only}"
            );
        }
    }
    let truth = harness.sim.truth(
        &tenant_id,
        StreamKind::SignInsInteractive,
        from,
        START,
        START,
    );
    assert_eq!(ids(&pages).into_iter().collect::<BTreeSet<_>>(), truth);
}

#[tokio::test]
async fn skip_tokens_expire_after_their_lifetime() {
    let mut config = quiet_config();
    config.rates = StreamRates::uniform(30.0);
    config.skiptoken_ttl = Duration::from_secs(300);
    let harness = start(config).await;
    let token = harness.token(0).await;
    let url = harness.url(
        "beta",
        "directoryAudits",
        Some(&window_filter(
            "activityDateTime",
            START.saturating_sub(Duration::from_secs(3600)),
            START,
        )),
        Some(100),
    );
    let first = harness.get(&url, &token).await;
    let next = first.json()["@odata.nextLink"]
        .as_str()
        .expect("more pages")
        .to_owned();
    harness.advance(Duration::from_secs(299));
    assert_eq!(harness.get(&next, &token).await.status, 200, "still valid");
    harness.advance(Duration::from_secs(2));
    let expired = harness.get(&next, &token).await;
    assert_eq!(expired.status, 400);
    assert_eq!(expired.error_code(), "Directory_ExpiredPageToken");
    assert_eq!(
        expired.error_message(),
        "The specified page token value has expired and can no longer be included in your request."
    );
    let tampered = next.replace("skiptoken=", "skiptoken=x");
    assert_eq!(
        harness.get(&tampered, &token).await.error_message(),
        "Invalid Skip Token"
    );
}

#[tokio::test]
async fn records_become_visible_after_their_latency() {
    let mut config = quiet_config();
    config.rates = StreamRates::uniform(20.0);
    config.latency = StreamLatencies::uniform(Latency::minutes(10, 60, 90));
    let harness = start(config).await;
    let token = harness.token(0).await;
    let (tenant_id, ..) = harness.tenant(0);
    let from = START.saturating_sub(Duration::from_secs(1800));
    let url = harness.url(
        "beta",
        "provisioning",
        Some(&window_filter("activityDateTime", from, START)),
        None,
    );
    let visible_now = ids(&harness.all_pages(&url, &token).await);
    let later = START.saturating_add(Duration::from_secs(91 * 60));
    let all = harness
        .sim
        .truth(&tenant_id, StreamKind::Provisioning, from, START, later);
    let now_truth = harness
        .sim
        .truth(&tenant_id, StreamKind::Provisioning, from, START, START);
    assert_eq!(
        visible_now.iter().cloned().collect::<BTreeSet<_>>(),
        now_truth
    );
    assert!(
        now_truth.len() < all.len(),
        "some records are still on their way"
    );
    harness.advance(Duration::from_secs(91 * 60));
    let token = harness.token(0).await;
    let visible_later = ids(&harness.all_pages(&url, &token).await);
    assert_eq!(visible_later.into_iter().collect::<BTreeSet<_>>(), all);
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after_per_tenant_and_client() {
    let mut config = quiet_config();
    config.throttle = Some(entrastream::sim::config::ThrottleSpec {
        requests: 5,
        per: Duration::from_secs(10),
    });
    config.app_throttle = None;
    let harness = start(config).await;
    let token = harness.token(0).await;
    let other_tenant = harness.token(1).await;
    let url = harness.url("beta", "directoryAudits", None, Some(1));
    for _ in 0..3 {
        assert_eq!(harness.get(&url, &token).await.status, 200);
    }
    harness.advance(Duration::from_secs(6));
    for _ in 0..2 {
        assert_eq!(harness.get(&url, &token).await.status, 200);
    }
    // a sliding window, as Graph counts: 5 in any 10 s, however they were spread
    let throttled = harness.get(&url, &token).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.error_code(), "TooManyRequests");
    assert_eq!(
        throttled.headers["retry-after"], "4",
        "the first 3 leave at +10 s"
    );
    assert_eq!(
        harness.get(&url, &other_tenant).await.status,
        200,
        "budgets are per tenant"
    );
    harness.advance(Duration::from_secs(3));
    assert_eq!(
        harness.get(&url, &token).await.status,
        429,
        "a refusal counts in no window"
    );
    harness.advance(Duration::from_secs(1));
    for _ in 0..3 {
        assert_eq!(harness.get(&url, &token).await.status, 200);
    }
    let throttled = harness.get(&url, &token).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(
        throttled.headers["retry-after"], "6",
        "the last 2 leave at +16 s"
    );
    assert_eq!(harness.sim.stats().count_status(429), 3);
}

#[tokio::test]
async fn the_application_budget_spans_its_tenants() {
    let mut config = quiet_config();
    config.throttle = Some(entrastream::sim::config::ThrottleSpec {
        requests: 5,
        per: Duration::from_secs(10),
    });
    config.app_throttle = Some(entrastream::sim::config::ThrottleSpec {
        requests: 7,
        per: Duration::from_secs(10),
    });
    // two tenants that consented to one application
    let shared = TenantSpec {
        client_id: Some("7d3c5a4e-9b1f-4c2a-8e6d-0a1b2c3d4e5f".to_owned()),
        ..TenantSpec::default()
    };
    config.tenants = vec![shared.clone(), shared];
    let harness = start(config).await;
    assert_eq!(harness.tenant(0).1, harness.tenant(1).1, "one client id");
    assert_ne!(harness.tenant(0).0, harness.tenant(1).0);
    let first = harness.token(0).await;
    let second = harness.token(1).await;
    let url = harness.url("beta", "directoryAudits", None, Some(1));
    for _ in 0..5 {
        assert_eq!(harness.get(&url, &first).await.status, 200);
    }
    for _ in 0..2 {
        assert_eq!(harness.get(&url, &second).await.status, 200);
    }
    // the second tenant's own window has room for 3 more; the application's has none
    let throttled = harness.get(&url, &second).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.headers["retry-after"], "10");
    harness.advance(Duration::from_secs(10));
    for _ in 0..5 {
        assert_eq!(harness.get(&url, &second).await.status, 200);
    }
    assert_eq!(
        harness.get(&url, &second).await.status,
        429,
        "its own window"
    );
    assert_eq!(harness.get(&url, &first).await.status, 200);
    assert_eq!(harness.sim.stats().count_status(429), 2);
}

#[tokio::test]
async fn each_fault_kind_misbehaves_as_specified() {
    let mut config = quiet_config();
    config.rates = StreamRates::uniform(30.0);
    config.throttle = None;
    let harness = start(config).await;
    let token = harness.token(0).await;
    let (tenant_id, ..) = harness.tenant(0);
    let from = START.saturating_sub(Duration::from_secs(3600));
    let audits = harness.url(
        "beta",
        "directoryAudits",
        Some(&window_filter("activityDateTime", from, START)),
        Some(200),
    );
    let sign_ins = harness.url(
        "beta",
        "signIns",
        Some(&window_filter("createdDateTime", from, START)),
        Some(200),
    );
    let script = |kind: FaultKind, at_request: u64| FaultSpec {
        scripted: vec![ScriptedFault {
            at_request,
            kind,
            tenant: Some(tenant_id.clone()),
        }],
        slow_response_delay: Duration::from_millis(1500),
        injected_retry_after: Duration::from_secs(11),
        ..FaultSpec::default()
    };
    let next_request = || harness.sim.data_requests(&tenant_id) + 1;

    for (kind, status, code) in [
        (FaultKind::Http500, 500, "UnknownError"),
        (FaultKind::Http502, 502, "BadGateway"),
        (FaultKind::Http503, 503, "serviceNotAvailable"),
        (FaultKind::Http504, 504, "GatewayTimeout"),
        (
            FaultKind::Unauthorized401,
            401,
            "InvalidAuthenticationToken",
        ),
        (FaultKind::Throttle429, 429, "TooManyRequests"),
    ] {
        harness.sim.set_faults(script(kind, next_request()));
        let reply = harness.get(&audits, &token).await;
        assert_eq!(reply.status, status, "{kind:?}");
        assert_eq!(reply.error_code(), code, "{kind:?}");
        if kind == FaultKind::Throttle429 {
            assert_eq!(reply.headers["retry-after"], "11");
        }
    }

    harness
        .sim
        .set_faults(script(FaultKind::TruncatedJson, next_request()));
    let truncated = harness.get(&audits, &token).await;
    assert_eq!(truncated.status, 200);
    assert!(serde_json::from_slice::<Value>(&truncated.body).is_err());

    harness
        .sim
        .set_faults(script(FaultKind::ConnectionReset, next_request()));
    let reset = harness
        .http
        .get(&audits)
        .bearer_auth(&token)
        .send()
        .await
        .expect("headers arrive");
    assert!(reset.bytes().await.is_err(), "the body breaks off");

    harness
        .sim
        .set_faults(script(FaultKind::SlowResponse, next_request()));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let slow = impatient.get(&audits).bearer_auth(&token).send().await;
    assert!(slow.is_err_and(|error| error.is_timeout()));

    harness
        .sim
        .set_faults(script(FaultKind::EmptyPage, next_request()));
    let empty_then_rest = harness.all_pages(&audits, &token).await;
    assert_eq!(
        empty_then_rest[0]["value"].as_array().map(Vec::len),
        Some(0)
    );
    assert!(empty_then_rest[0]["@odata.nextLink"].is_string());
    let truth = harness
        .sim
        .truth(&tenant_id, StreamKind::DirectoryAudits, from, START, START);
    assert_eq!(
        ids(&empty_then_rest).into_iter().collect::<BTreeSet<_>>(),
        truth
    );

    let first_page = harness.get(&audits, &token).await;
    let next_link = first_page.json()["@odata.nextLink"]
        .as_str()
        .expect("more")
        .to_owned();
    harness
        .sim
        .set_faults(script(FaultKind::SkiptokenExpired, next_request()));
    let expired = harness.get(&next_link, &token).await;
    assert_eq!(expired.status, 400);
    assert_eq!(expired.error_code(), "Directory_ExpiredPageToken");

    harness
        .sim
        .set_faults(script(FaultKind::DuplicateRecord, next_request()));
    let with_duplicate = harness.all_pages(&audits, &token).await;
    let served = ids(&with_duplicate);
    let distinct: BTreeSet<String> = served.iter().cloned().collect();
    assert_eq!(served.len(), distinct.len() + 1, "exactly one record twice");
    assert_eq!(distinct, truth);

    // a licence 403 applies to sign-ins only; on audits the scripted fault does nothing
    harness
        .sim
        .set_faults(script(FaultKind::Licence403, next_request()));
    assert_eq!(harness.get(&audits, &token).await.status, 200);
    harness
        .sim
        .set_faults(script(FaultKind::Licence403, next_request()));
    let unlicensed = harness.get(&sign_ins, &token).await;
    assert_eq!(unlicensed.status, 403);
    assert_eq!(
        unlicensed.error_code(),
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    );
    assert_eq!(
        harness.get(&sign_ins, &token).await.status,
        200,
        "intermittent: the next try works"
    );

    let faults_seen: Vec<FaultKind> = harness
        .sim
        .stats()
        .requests()
        .iter()
        .filter_map(|record| record.fault)
        .collect();
    for kind in FaultKind::ALL {
        assert!(faults_seen.contains(&kind), "{kind:?} was injected");
    }
}

#[tokio::test]
async fn unlicensed_tenants_get_403_on_sign_ins_only_and_rates_apply_per_request() {
    let mut config = quiet_config();
    config.tenants = vec![TenantSpec {
        unlicensed: true,
        ..TenantSpec::default()
    }];
    config.faults = FaultSpec {
        rates: vec![FaultRate {
            kind: FaultKind::Http503,
            probability: 0.3,
        }],
        ..FaultSpec::default()
    };
    config.throttle = None;
    config.app_throttle = None;
    let harness = start(config).await;
    let token = harness.token(0).await;
    let sign_ins = harness.url("beta", "signIns", None, Some(10));
    let audits = harness.url("beta", "directoryAudits", None, Some(10));
    let mut statuses = Vec::new();
    for _ in 0..100 {
        statuses.push(harness.get(&sign_ins, &token).await.status);
        statuses.push(harness.get(&audits, &token).await.status);
    }
    let sign_in_statuses: BTreeSet<u16> = statuses.iter().step_by(2).copied().collect();
    let audit_statuses: BTreeSet<u16> = statuses.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(sign_in_statuses, BTreeSet::from([403, 503]));
    assert_eq!(audit_statuses, BTreeSet::from([200, 503]));
    let errors = statuses.iter().filter(|status| **status == 503).count();
    assert!((40..=80).contains(&errors), "{errors} of 200 at 30%");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_tenants_and_records() {
    let first = start(quiet_config()).await;
    let second = start(quiet_config()).await;
    let other = start(SimConfig {
        seed: 43,
        ..quiet_config()
    })
    .await;
    assert_eq!(first.tenant(0), second.tenant(0));
    assert_ne!(first.tenant(0), other.tenant(0));
    let from = START.saturating_sub(Duration::from_secs(3600));
    let url = first.url(
        "beta",
        "signIns",
        Some(&window_filter("createdDateTime", from, START)),
        None,
    );
    let first_ids = ids(&first.all_pages(&url, &first.token(0).await).await);
    let url = second.url(
        "beta",
        "signIns",
        Some(&window_filter("createdDateTime", from, START)),
        None,
    );
    let second_ids = ids(&second.all_pages(&url, &second.token(0).await).await);
    assert!(!first_ids.is_empty());
    assert_eq!(first_ids, second_ids, "same ids in the same order");
}

#[tokio::test]
async fn quirky_records_are_served_as_graph_sends_them() {
    let mut config = quiet_config();
    config.quirk_rate = 1.0;
    config.rates = StreamRates::uniform(30.0);
    let harness = start(config).await;
    let token = harness.token(0).await;
    let from = START.saturating_sub(Duration::from_secs(1800));
    let url = harness.url(
        "beta",
        "signIns",
        Some(&window_filter("createdDateTime", from, START)),
        None,
    );
    let reply = harness.get(&url, &token).await;
    let text = String::from_utf8(reply.body.clone()).expect("utf-8");
    assert!(
        text.contains("\"riskState\":\"unknownFutureValue\","),
        "a repeated key"
    );
    assert!(text.contains("\"deviceDetail\":null") || text.contains("\"deviceDetail\":{}"));
    assert!(
        text.contains("\"riskLevelAggregated\":\"veryHigh\""),
        "an enum value outside the set"
    );
    assert!(
        text.contains("\"signInRiskSignals\""),
        "an unknown property"
    );
    let page = reply.json();
    let records = page["value"].as_array().expect("records");
    let most_policies = records
        .iter()
        .map(|record| {
            record["appliedConditionalAccessPolicies"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .max();
    assert!(most_policies >= Some(150));
    assert!(records.iter().any(|record| {
        record["userDisplayName"]
            .as_str()
            .is_some_and(|name| !name.is_ascii())
    }));
}

#[tokio::test]
async fn gzip_is_used_when_enabled_and_asked_for() {
    let harness = start(quiet_config()).await;
    harness.sim.set_gzip(true);
    let token = harness.token(0).await;
    let url = harness.url("beta", "signIns", None, None);
    let raw_client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let raw = raw_client
        .get(&url)
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("response");
    assert_eq!(raw.headers()["content-encoding"], "gzip");
    let compressed = raw.bytes().await.expect("body");
    let mut decoder = flate2::read::GzDecoder::new(&compressed[..]);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut decoder, &mut text).expect("gzip");
    assert!(serde_json::from_str::<Value>(&text).expect("json")["value"].is_array());
}

#[tokio::test]
async fn tls_is_served_with_a_generated_certificate_authority() {
    let clock = Clock::manual(START);
    let sim = Simulator::start_with(
        quiet_config(),
        clock,
        entrastream::sim::ListenOptions {
            tls: true,
            ..entrastream::sim::ListenOptions::default()
        },
    )
    .await
    .expect("starts");
    assert!(sim.base_url().starts_with("https://localhost:"));
    let ca = reqwest::Certificate::from_pem(sim.ca_certificate_pem().expect("ca").as_bytes())
        .expect("pem");
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let tenant = &sim.tenants()[0];
    let response = client
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sim.base_url(),
            tenant.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", tenant.client_id.as_str()),
            ("client_secret", tenant.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("TLS handshake with the generated CA");
    assert_eq!(response.status(), 200);
    let untrusting = reqwest::Client::new();
    assert!(
        untrusting
            .get(format!("{}/beta/auditLogs/signIns", sim.base_url()))
            .send()
            .await
            .is_err()
    );
}

mod client_assertions {
    use super::*;
    use base64::Engine;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    struct Certificate {
        certificate_pem: String,
        key_pem: String,
        thumbprint_sha256: String,
    }

    fn certificate() -> Certificate {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
        let params =
            rcgen::CertificateParams::new(vec!["entrastream-test".to_owned()]).expect("params");
        let certificate = params.self_signed(&key).expect("certificate");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, certificate.der());
        Certificate {
            certificate_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
            thumbprint_sha256: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(digest.as_ref()),
        }
    }

    #[derive(serde::Serialize)]
    struct Claims {
        aud: String,
        iss: String,
        sub: String,
        jti: String,
        nbf: i64,
        exp: i64,
    }

    fn assertion(certificate: &Certificate, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::PS256);
        header.x5t_s256 = Some(certificate.thumbprint_sha256.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(certificate.key_pem.as_bytes()).expect("key"),
        )
        .expect("signed")
    }

    #[tokio::test]
    async fn assertions_are_verified_against_the_registered_certificate() {
        let registered = certificate();
        let stranger = certificate();
        let mut config = quiet_config();
        config.tenants = vec![TenantSpec {
            certificates: vec![registered.certificate_pem.clone()],
            ..TenantSpec::default()
        }];
        let harness = start(config).await;
        let (tenant_id, client_id, _) = harness.tenant(0);
        let audience = format!("{}/{tenant_id}/oauth2/v2.0/token", harness.sim.base_url());
        let now = START.as_millis() / 1000;
        let claims = |jti: &str| Claims {
            aud: audience.clone(),
            iss: client_id.clone(),
            sub: client_id.clone(),
            jti: jti.to_owned(),
            nbf: now - 10,
            exp: now + 300,
        };
        let request = |assertion: String| {
            let harness = &harness;
            let tenant_id = tenant_id.clone();
            let client_id = client_id.clone();
            async move {
                harness
                    .token_request(
                        &tenant_id,
                        &[
                            ("grant_type", "client_credentials"),
                            ("client_id", &client_id),
                            ("scope", "https://graph.microsoft.com/.default"),
                            (
                                "client_assertion_type",
                                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                            ),
                            ("client_assertion", &assertion),
                        ],
                    )
                    .await
            }
        };
        let good = request(assertion(&registered, &claims("one"))).await;
        assert_eq!(good.status, 200, "{}", String::from_utf8_lossy(&good.body));
        let code = |reply: Reply| reply.json()["error_codes"][0].as_u64().expect("code");

        assert_eq!(
            code(request(assertion(&registered, &claims("one"))).await),
            7000274,
            "jti replay"
        );
        let mut stranger_signed = assertion(&stranger, &claims("two"));
        assert_eq!(
            code(request(stranger_signed.clone()).await),
            700027,
            "unknown certificate"
        );
        // a registered thumbprint over a signature by another key
        let forged_header = assertion(&registered, &claims("three"));
        let header_part = forged_header.split('.').next().expect("header").to_owned();
        let rest: Vec<&str> = stranger_signed.splitn(2, '.').collect();
        stranger_signed = format!("{header_part}.{}", rest[1]);
        assert_eq!(
            code(request(stranger_signed).await),
            700027,
            "bad signature"
        );
        let mut wrong_audience = claims("four");
        wrong_audience.aud = "https://login.microsoftonline.com/other/oauth2/v2.0/token".to_owned();
        assert_eq!(
            code(request(assertion(&registered, &wrong_audience)).await),
            700023
        );
        let mut wrong_issuer = claims("five");
        wrong_issuer.iss = "someone".to_owned();
        assert_eq!(
            code(request(assertion(&registered, &wrong_issuer)).await),
            700021
        );
        let mut expired = claims("six");
        expired.exp = now - 600;
        assert_eq!(
            code(request(assertion(&registered, &expired)).await),
            700024
        );
        let mut early = claims("seven");
        early.nbf = now + 600;
        assert_eq!(code(request(assertion(&registered, &early)).await), 700024);
    }
}
