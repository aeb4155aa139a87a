//! Fetching one Graph page: inside the tenant's budget, with the tenant's token, classified.
//!
//! Two answers are handled here because they do not invalidate the position in the window: a 401
//! (the token is refreshed once and the same URL sent again) and a 429 (the tenant pauses for
//! `Retry-After` and the same URL is sent again, up to three times). Every other failure goes
//! back to the stream, which reads its window again from the start: a skip token is never reused
//! after an error.
//!
//! Graph's `Retry-After` is obeyed up to `polling.max_retry_after`: a longer one (a day, or
//! `18446744073709551615`) is logged and cut to it here, where it is read, so that neither the
//! tenant's pause nor the stream's backoff waits longer. While a fetch waits out its tenant's
//! pause, it tells its stream ([`Throttling`]), whose state then says `throttled`.
//!
//! Graph is not trusted either: a redirect is followed only within Graph's origin (the rule of
//! nextLinks, [`GraphOrigin`]), so the token never goes elsewhere; a body is read within
//! `polling.max_page_bytes` and `polling.request_timeout` ([`upstream::body`]); an error body's
//! code and message are redacted before they reach an error.

use std::sync::Arc;

use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, LOCATION, RETRY_AFTER};
use serde::Deserialize;

use super::budget::{Priority, RequestBudget};
use super::error::GraphError;
use super::origin::GraphOrigin;
use super::record::PageBody;
use crate::auth::{AuthError, TokenOrigin, TokenProvider, error_chain};
use crate::clock::{Clock, Timestamp};
use crate::config::PollingConfig;
use crate::stream::StreamKind;
use crate::telemetry::metrics::StreamMetrics;
use crate::upstream::body::{self, BodyError, BodyLimit};
use crate::upstream::redact::redact;

/// Consecutive 429s on one URL before the stream backs off and restarts its window.
const MAX_THROTTLED_RETRIES: u32 = 3;
/// The pause after a 429 without `Retry-After`.
const THROTTLED_WITHOUT_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Redirects of one Graph request followed at most (each within Graph's origin).
const MAX_REDIRECTS: u32 = 5;

/// Builds the HTTP client shared by every tenant: the system's certificate authorities, plus
/// `tls.ca_file`'s; proxies from `HTTPS_PROXY`/`NO_PROXY`.
pub fn http_client(
    request_timeout: Duration,
    tls: &crate::config::TlsConfig,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("entrastream/", env!("CARGO_PKG_VERSION")))
        // every redirect is judged by its caller: Graph's within Graph's origin, the token
        // endpoint's never (the secret would go with it)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(request_timeout)
        .connect_timeout(Duration::from_secs(10).min(request_timeout))
        .pool_idle_timeout(Duration::from_secs(90));
    if let Some(path) = &tls.ca_file {
        let pem = crate::files::read_limited(
            "tls.ca_file",
            "the CA bundle",
            path,
            crate::files::CREDENTIAL_FILE_LIMIT,
        )
        .map_err(|error| match error.problem {
            crate::files::FileProblem::Unreadable(_) => format!(
                "{error}; fix: point tls.ca_file at the PEM bundle of the CAs to trust (a TLS-inspecting \
                 proxy's), or leave it out to trust the system's"
            ),
            crate::files::FileProblem::TooLarge { .. } => error.to_string(),
        })?;
        let authorities = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
            format!(
                "tls.ca_file: {} is not a PEM bundle: {}",
                path.display(),
                error_chain(&error)
            )
        })?;
        if authorities.is_empty() {
            return Err(format!(
                "tls.ca_file: {} holds no CERTIFICATE block",
                path.display()
            ));
        }
        builder = builder.tls_certs_merge(authorities);
    }
    builder
        .build()
        .map_err(|error| format!("cannot build the HTTP client: {}", error_chain(&error)))
}

/// What a page fetch needs of its tenant and stream.
pub struct FetchContext<'a> {
    pub stream: StreamKind,
    pub http: &'a reqwest::Client,
    pub tokens: &'a TokenProvider,
    pub budget: &'a RequestBudget,
    /// How the page ranks when requests compete for the application's budget.
    pub priority: Priority,
    pub metrics: &'a StreamMetrics,
    pub clock: &'a Clock,
    /// `polling.max_retry_after`: the longest wait a `Retry-After` is obeyed for.
    pub max_retry_after: Duration,
    /// Told when the fetch starts and stops waiting out its tenant's pause.
    pub throttling: &'a (dyn Fn(Throttling) + Sync),
    /// Where requests and their redirects may go.
    pub graph: &'a GraphOrigin,
    /// `polling.max_page_bytes` and `polling.request_timeout`.
    pub page_limit: BodyLimit,
    /// The process's places for pages in memory (`polling.max_pages_in_memory`), shared by every
    /// stream: a request is sent once it has one, and its page keeps it until dropped.
    pub places: &'a Arc<Semaphore>,
}

/// A page, and its place among the pages the process holds (given back when the page is dropped).
pub struct HeldPage {
    pub body: PageBody,
    _place: Option<OwnedSemaphorePermit>,
}

/// How much of a Graph response is read, and for how long.
pub fn page_limit(polling: &PollingConfig) -> BodyLimit {
    BodyLimit {
        max_bytes: polling.max_page_bytes,
        key: "polling.max_page_bytes",
        timeout: polling.request_timeout,
    }
}

/// What a fetch tells its stream about waiting out Graph's `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Throttling {
    /// A 429 to this stream paused its tenant until `resumes_at`, for `retry_after` (Graph's,
    /// capped at `polling.max_retry_after`; `sent`: whether Graph named one).
    Throttled {
        resumes_at: Timestamp,
        retry_after: Duration,
        sent: bool,
    },
    /// The stream waits out a pause a 429 to another stream of its tenant started.
    Waiting { resumes_at: Timestamp },
    /// The wait is over: requests go out again.
    Resumed,
}

/// Tells the stream about a wait once, and that it ended when the fetch goes on or is dropped.
struct ThrottlingReport<'a> {
    throttling: &'a (dyn Fn(Throttling) + Sync),
    waiting: bool,
}

impl ThrottlingReport<'_> {
    fn throttled(&mut self, resumes_at: Timestamp, retry_after: Duration, sent: bool) {
        self.waiting = true;
        (self.throttling)(Throttling::Throttled {
            resumes_at,
            retry_after,
            sent,
        });
    }

    /// A pause is on: reported unless this fetch's own 429 already was.
    fn waiting(&mut self, resumes_at: Timestamp) {
        if !self.waiting {
            self.waiting = true;
            (self.throttling)(Throttling::Waiting { resumes_at });
        }
    }

    fn resumed(&mut self) {
        if self.waiting {
            self.waiting = false;
            (self.throttling)(Throttling::Resumed);
        }
    }
}

impl Drop for ThrottlingReport<'_> {
    fn drop(&mut self) {
        self.resumed();
    }
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Fetches and splits one page.
pub async fn fetch_page(context: &FetchContext<'_>, url: &str) -> Result<HeldPage, GraphError> {
    let mut refreshed_after_401 = false;
    let mut throttled_in_a_row = 0;
    let mut report = ThrottlingReport {
        throttling: context.throttling,
        waiting: false,
    };
    loop {
        let paused_until = context.budget.paused_until();
        if paused_until > context.clock.now() {
            report.waiting(paused_until);
        }
        context.budget.acquire(context.priority).await;
        report.resumed();
        let token = match context.tokens.token().await {
            Ok((token, TokenOrigin::Cache)) => token,
            Ok((token, TokenOrigin::Fetched)) => {
                context.metrics.token_request("success");
                tracing::debug!(tenant = context.tokens.tenant_id(), "access token fetched");
                token
            }
            Err(error) => {
                context.metrics.token_request(error.outcome());
                report_token_refusal(context, &error);
                return Err(GraphError::Auth(error));
            }
        };
        // taken after the budget's wait, so that no place is held while a tenant waits its turn;
        // the semaphore is never closed (without a place, the page is fetched all the same)
        let place = context.places.clone().acquire_owned().await.ok();
        let started = Instant::now();
        let result = send(context, url, token.value.expose()).await;
        let seconds = started.elapsed().as_secs_f64();
        let error = match result {
            Ok(page) => {
                context.metrics.graph_request("success", "2xx", seconds);
                return Ok(HeldPage {
                    body: page,
                    _place: place,
                });
            }
            Err(error) => capped(context, error),
        };
        context
            .metrics
            .graph_request("error", error.status_class(), seconds);
        report_refusal(context, &error);
        match &error {
            GraphError::Unauthorized { .. } if !refreshed_after_401 => {
                refreshed_after_401 = true;
                context.tokens.invalidate(&token).await;
                tracing::info!(
                    tenant = context.tokens.tenant_id(),
                    "graph answered 401, refreshing the token once"
                );
            }
            GraphError::Throttled { retry_after } => {
                // the whole tenant pauses; after the last retry the stream's next attempt waits
                // in the same pause
                let wait = retry_after.unwrap_or(THROTTLED_WITHOUT_RETRY_AFTER);
                let resumes_at = context.clock.now().saturating_add(wait);
                context.metrics.throttled.inc();
                context.metrics.retry_after_seconds.inc_by(wait.as_secs());
                context.budget.pause_until(resumes_at);
                if throttled_in_a_row >= MAX_THROTTLED_RETRIES {
                    return Err(error);
                }
                throttled_in_a_row += 1;
                report.throttled(resumes_at, wait, retry_after.is_some());
            }
            _ => return Err(error),
        }
    }
}

/// `error` with its `Retry-After` cut to `polling.max_retry_after`, logged when it was longer.
fn capped(context: &FetchContext<'_>, error: GraphError) -> GraphError {
    let cap = context.max_retry_after;
    let Some(sent) = error.retry_after().filter(|sent| *sent > cap) else {
        return error;
    };
    tracing::warn!(
        tenant = context.tokens.tenant_id(),
        stream = context.stream.as_str(),
        retry_after_seconds = sent.as_secs(),
        max_retry_after_seconds = cap.as_secs(),
        key = "polling.max_retry_after",
        resumes_at = %context.clock.now().saturating_add(cap),
        "graph asked to wait longer than polling.max_retry_after, the stream waits only that long"
    );
    error.with_retry_after(cap)
}

async fn send(context: &FetchContext<'_>, url: &str, token: &str) -> Result<PageBody, GraphError> {
    let answer = get(context.http, context.graph, url, token, context.page_limit).await?;
    if answer.status == StatusCode::OK {
        return PageBody::parse(answer.body)
            .map_err(|malformed| GraphError::MalformedBody(malformed.0));
    }
    let detail = serde_json::from_slice::<ErrorBody>(&answer.body)
        .unwrap_or_default()
        .error;
    Err(classify(
        answer.status,
        redact(&detail.code, &[token]),
        redact(&detail.message, &[token]),
        retry_after(&answer.headers, context.clock.now()),
    ))
}

/// Graph's answer to a GET, its body whole.
#[derive(Debug)]
pub struct GraphAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A GET of `url` with the bearer `token`. A redirect is followed only to Graph's origin, so the
/// token goes nowhere else; the body is read within `limit`, the whole exchange (redirects
/// included) within its timeout.
pub async fn get(
    http: &reqwest::Client,
    graph: &GraphOrigin,
    url: &str,
    token: &str,
    limit: BodyLimit,
) -> Result<GraphAnswer, GraphError> {
    let sent = tokio::time::Instant::now();
    let deadline = sent + limit.timeout;
    let mut target = url.to_owned();
    let mut redirects = 0;
    loop {
        let request = http
            .get(&target)
            .bearer_auth(token)
            .header(ACCEPT, "application/json")
            // new enum members arrive as themselves instead of `unknownFutureValue`
            .header("Prefer", "include-unknown-enum-members");
        let response = tokio::time::timeout_at(deadline, request.send())
            .await
            .map_err(|_| GraphError::Timeout)?
            .map_err(transport_error)?;
        let status = response.status();
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            redirects += 1;
            target = redirect_target(graph, &target, status, response.headers(), redirects)?;
            continue;
        }
        let headers = response.headers().clone();
        let body = body::read(response, limit, sent)
            .await
            .map_err(body_error)?;
        return Ok(GraphAnswer {
            status,
            headers,
            body,
        });
    }
}

/// Where a redirect from `current` leads, if it stays on Graph's origin.
fn redirect_target(
    graph: &GraphOrigin,
    current: &str,
    status: StatusCode,
    headers: &HeaderMap,
    redirects: u32,
) -> Result<String, GraphError> {
    let refused = |detail: String| GraphError::Redirected {
        status: status.as_u16(),
        detail,
    };
    if redirects > MAX_REDIRECTS {
        return Err(refused(format!(
            "after {MAX_REDIRECTS} redirects of the same request"
        )));
    }
    let location = headers
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| refused("without a Location".to_owned()))?;
    let next = url::Url::parse(current)
        .and_then(|current| current.join(location))
        .map_err(|_| {
            refused(format!(
                "to `{}`, which is not a URL",
                redact(location, &[])
            ))
        })?;
    graph.route(&next, next.as_str()).map_err(|foreign| {
        refused(format!(
            "to {}, outside {}, so that the token is not sent there",
            redact(&foreign, &[]),
            graph.expected()
        ))
    })
}

fn body_error(error: BodyError) -> GraphError {
    match error {
        BodyError::TooLarge {
            limit, declared, ..
        } => GraphError::Oversized { limit, declared },
        BodyError::Deadline { .. } => GraphError::Timeout,
        BodyError::Broken(error) => transport_error(error),
    }
}

/// The log line of a response refused for its size or its redirect: tenant, stream, the limit
/// and the key that raises it.
fn report_refusal(context: &FetchContext<'_>, error: &GraphError) {
    let tenant = context.tokens.tenant_id();
    let stream = context.stream.as_str();
    match error {
        GraphError::Oversized { limit, declared } => tracing::warn!(
            tenant,
            stream,
            limit_bytes = limit,
            declared_bytes = declared,
            key = context.page_limit.key,
            "graph response larger than polling.max_page_bytes, cut off; the window is read again"
        ),
        GraphError::Redirected { status, detail } => tracing::warn!(
            tenant,
            stream,
            status,
            detail = detail.as_str(),
            "graph redirect not followed; the window is read again"
        ),
        _ => {}
    }
}

/// The log line of a token response refused for its size: tenant, stream, the limit and the key
/// that raises it. (A refused redirect blocks the stream, whose log line names it.)
fn report_token_refusal(context: &FetchContext<'_>, error: &AuthError) {
    if let AuthError::Oversized {
        limit, declared, ..
    } = error
    {
        tracing::warn!(
            tenant = context.tokens.tenant_id(),
            stream = context.stream.as_str(),
            limit_bytes = limit,
            declared_bytes = declared,
            key = "polling.max_token_response_bytes",
            "token response larger than polling.max_token_response_bytes, cut off; asked again"
        );
    }
}

fn classify(
    status: StatusCode,
    code: String,
    message: String,
    retry_after: Option<Duration>,
) -> GraphError {
    match status.as_u16() {
        401 => GraphError::Unauthorized { message },
        403 if code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant" => {
            GraphError::Unlicensed { message }
        }
        403 => GraphError::Forbidden { code, message },
        429 => GraphError::Throttled { retry_after },
        // an expired skip token, and the transient "Invalid Skip Token" Graph sometimes sends
        400 if code == "Directory_ExpiredPageToken" || message.contains("Skip Token") => {
            GraphError::ExpiredPageToken
        }
        500..=599 => GraphError::Unavailable {
            status: status.as_u16(),
            retry_after,
        },
        other => GraphError::Rejected {
            status: other,
            code,
            message,
        },
    }
}

fn transport_error(error: reqwest::Error) -> GraphError {
    if error.is_timeout() {
        GraphError::Timeout
    } else {
        GraphError::Transport(error_chain(&error))
    }
}

/// `Retry-After` as seconds or as an HTTP date (from `now`, the clock's).
fn retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(Timestamp::from_system_time(date).duration_since(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_answers_are_classified() {
        let classify_code = |status: u16, code: &str, message: &str| {
            classify(
                StatusCode::from_u16(status).expect("status"),
                code.to_owned(),
                message.to_owned(),
                None,
            )
        };
        assert!(matches!(
            classify_code(
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "x"
            ),
            GraphError::Unlicensed { .. }
        ));
        assert!(matches!(
            classify_code(403, "Authorization_RequestDenied", "x"),
            GraphError::Forbidden { .. }
        ));
        assert_eq!(
            classify_code(400, "Directory_ExpiredPageToken", "x"),
            GraphError::ExpiredPageToken
        );
        assert_eq!(
            classify_code(400, "", "Invalid Skip Token"),
            GraphError::ExpiredPageToken
        );
        assert!(matches!(
            classify_code(400, "BadRequest", "Invalid filter clause"),
            GraphError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            classify_code(503, "", ""),
            GraphError::Unavailable { status: 503, .. }
        ));
        let now = Timestamp::from_secs(1_767_614_400);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().expect("header"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, "18446744073709551615".parse().expect("header"));
        assert_eq!(
            retry_after(&headers, now),
            Some(Duration::from_secs(u64::MAX))
        );
        // 2026-01-06T12:00:00Z, a day after `now`
        headers.insert(
            RETRY_AFTER,
            "Tue, 06 Jan 2026 12:00:00 GMT".parse().expect("header"),
        );
        assert_eq!(
            retry_after(&headers, now),
            Some(Duration::from_secs(86_400))
        );
    }
}
