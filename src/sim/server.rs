//! The HTTP face of the simulator: the identity platform's token endpoint and Graph's audit log
//! endpoints, with Graph's status codes, headers and JSON error bodies.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use super::SimState;
use super::auth::{AUDIT_LOG_ROLE, TokenRequest};
use super::config::FaultKind;
use super::faults::{self, RequestShape};
use super::filter;
use super::hostile;
use super::query::{PageState, Query, run_page};
use super::render::{ApiVersion, render_record};
use super::stats::RequestRecord;
use crate::clock::Timestamp;
use crate::stream::StreamKind;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{version}/auditLogs/{resource}", get(audit_logs))
        .route(
            "/metadata/identity/oauth2/token",
            get(managed_identity_token),
        )
        .fallback(not_found)
        .with_state(state)
}

fn request_id() -> String {
    super::rng::format_guid(fastrand::u64(..), fastrand::u64(..))
}

fn http_date(now: Timestamp) -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(now.to_system_time()))
        .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

fn json_response(
    status: StatusCode,
    body: impl Into<Body>,
    now: Timestamp,
    request_id: &str,
) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
        ),
    );
    headers.insert(header::DATE, http_date(now));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("request-id", value.clone());
        headers.insert("client-request-id", value);
    }
    headers.insert(
        "x-ms-ags-diagnostic",
        HeaderValue::from_static(r#"{"ServerInfo":{"DataCenter":"Simulated","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"SIM000000"}}"#),
    );
    response
}

/// Graph's error envelope: `{"error":{"code","message","innerError":{date, request-id, client-request-id}}}`.
pub fn graph_error(status: StatusCode, code: &str, message: &str, now: Timestamp) -> Response {
    let request_id = request_id();
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": now.to_rfc3339_seconds().trim_end_matches('Z'),
                "request-id": request_id,
                "client-request-id": request_id,
            }
        }
    });
    json_response(status, body.to_string(), now, &request_id)
}

async fn not_found(State(state): State<Arc<SimState>>) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "BadRequest",
        "Resource not found for the segment.",
        state.clock.now(),
    )
}

async fn openid_configuration(
    State(state): State<Arc<SimState>>,
    Path(tenant): Path<String>,
) -> Response {
    let base = state.base_url();
    let body = json!({
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("https://login.microsoftonline.com/{tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
        "end_session_endpoint": format!("{base}/{tenant}/oauth2/v2.0/logout"),
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
    });
    let now = state.clock.now();
    json_response(StatusCode::OK, body.to_string(), now, &request_id())
}

async fn token(
    State(state): State<Arc<SimState>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let mut request = TokenRequest::default();
    for (key, value) in url::form_urlencoded::parse(&body) {
        let value = Some(value.into_owned());
        match key.as_ref() {
            "grant_type" => request.grant_type = value,
            "client_id" => request.client_id = value,
            "scope" => request.scope = value,
            "client_secret" => request.client_secret = value,
            "client_assertion_type" => request.client_assertion_type = value,
            "client_assertion" => request.client_assertion = value,
            _ => {}
        }
    }
    let tenants = state.tenants_now();
    let hostile = tenants
        .iter()
        .position(|known| known.tenant_id == tenant || known.domain == tenant)
        .and_then(|index| {
            let fault = token_fault(&state, &tenants[index].tenant_id, index)?;
            let location = format!(
                "{}/{tenant}/oauth2/v2.0/token",
                state.faults.read().redirect_target.trim_end_matches('/')
            );
            let echo = || {
                hostile::token_echo(
                    request.client_secret.as_deref().unwrap_or_default(),
                    request.client_assertion.as_deref().unwrap_or_default(),
                    &String::from_utf8_lossy(&body),
                    &request_id(),
                )
            };
            let response = hostile_token_answer(&state, fault, &location, echo)?;
            Some((response, tenants[index].tenant_id.clone(), fault))
        });
    if let Some((response, tenant_id, fault)) = hostile {
        state.stats.record(RequestRecord {
            at: now,
            tenant_id: Some(tenant_id),
            endpoint: "token".to_owned(),
            status: response.status().as_u16(),
            fault: Some(fault),
            records: 0,
            has_skiptoken: false,
        });
        return response;
    }
    let accepted_audiences = vec![
        format!("{}/{tenant}/oauth2/v2.0/token", state.base_url()),
        format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
        format!("https://login.microsoftonline.com/{tenant}/v2.0"),
    ];
    let outcome = state.authority.token(
        &tenants,
        &tenant,
        &request,
        &state.config.graph_resource,
        &accepted_audiences,
        state.config.token_lifetime,
        now,
    );
    let request_id = request_id();
    let tenant_id = tenants
        .iter()
        .find(|known| known.tenant_id == tenant || known.domain == tenant)
        .map(|known| known.tenant_id.clone());
    let response = match outcome {
        Ok(issued) => {
            state.stats.tokens_issued.fetch_add(1, Ordering::Relaxed);
            let body = json!({
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "ext_expires_in": issued.expires_in,
                "access_token": issued.access_token,
            });
            json_response(StatusCode::OK, body.to_string(), now, &request_id)
        }
        Err(error) => {
            let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
            json_response(status, error.body(now, &request_id), now, &request_id)
        }
    };
    state.stats.record(RequestRecord {
        at: now,
        tenant_id,
        endpoint: "token".to_owned(),
        status: response.status().as_u16(),
        fault: None,
        records: 0,
        has_skiptoken: false,
    });
    response
}

/// The instance metadata service's managed-identity endpoint (`Metadata: true` required).
async fn managed_identity_token(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let now = state.clock.now();
    let parameters: HashMap<String, String> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let imds_error = |status: StatusCode, error: &str, description: &str| {
        let body = json!({"error": error, "error_description": description});
        json_response(status, body.to_string(), now, &request_id())
    };
    let tenants = state.tenants_now();
    let identity = tenants.iter().position(|tenant| {
        tenant.spec.managed_identity
            && parameters
                .get("client_id")
                .is_none_or(|wanted| *wanted == tenant.client_id)
    });
    let hostile = identity.and_then(|index| {
        let fault = token_fault(&state, &tenants[index].tenant_id, index)?;
        let location = format!(
            "{}/metadata/identity/oauth2/token?{}",
            state.faults.read().redirect_target.trim_end_matches('/'),
            query.as_deref().unwrap_or_default()
        );
        let echo =
            || hostile::token_echo("", "", query.as_deref().unwrap_or_default(), &request_id());
        hostile_token_answer(&state, fault, &location, echo)
    });
    let response = if let Some(hostile) = hostile {
        hostile
    } else if headers
        .get("metadata")
        .and_then(|value| value.to_str().ok())
        != Some("true")
    {
        imds_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required metadata header not specified",
        )
    } else {
        match state.authority.managed_identity_token(
            &tenants,
            parameters.get("client_id").map(String::as_str),
            parameters.get("resource").map(String::as_str),
            &state.config.graph_resource,
            state.config.token_lifetime,
            now,
        ) {
            Ok(issued) => {
                state.stats.tokens_issued.fetch_add(1, Ordering::Relaxed);
                let expires_on = now.as_millis() / 1000 + issued.expires_in as i64;
                // the metadata service writes its numbers as strings
                let body = json!({
                    "access_token": issued.access_token,
                    "refresh_token": "",
                    "expires_in": issued.expires_in.to_string(),
                    "expires_on": expires_on.to_string(),
                    "not_before": (now.as_millis() / 1000).to_string(),
                    "resource": state.config.graph_resource,
                    "token_type": "Bearer",
                });
                json_response(StatusCode::OK, body.to_string(), now, &request_id())
            }
            Err(error) => imds_error(
                StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
                error.error,
                &error.description,
            ),
        }
    };
    state.stats.record(RequestRecord {
        at: now,
        tenant_id: None,
        endpoint: "managed_identity".to_owned(),
        status: response.status().as_u16(),
        fault: None,
        records: 0,
        has_skiptoken: false,
    });
    response
}

fn endpoint_streams(
    resource: &str,
    version: ApiVersion,
    event_types: &[String],
) -> Option<(Vec<StreamKind>, &'static str)> {
    match resource {
        "directoryAudits" => Some((vec![StreamKind::DirectoryAudits], "activityDateTime")),
        "provisioning" => Some((vec![StreamKind::Provisioning], "activityDateTime")),
        "signIns" => {
            let streams = if version == ApiVersion::V1 || event_types.is_empty() {
                // without a signInEventTypes filter (and always on v1.0) only interactive sign-ins
                vec![StreamKind::SignInsInteractive]
            } else {
                event_types
                    .iter()
                    .filter_map(|event_type| match event_type.as_str() {
                        "interactiveUser" => Some(StreamKind::SignInsInteractive),
                        "nonInteractiveUser" => Some(StreamKind::SignInsNonInteractive),
                        "servicePrincipal" => Some(StreamKind::SignInsServicePrincipal),
                        "managedIdentity" => Some(StreamKind::SignInsManagedIdentity),
                        _ => None,
                    })
                    .collect()
            };
            Some((streams, "createdDateTime"))
        }
        _ => None,
    }
}

fn bearer_token(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .unwrap_or_default()
        .trim()
}

async fn audit_logs(
    State(state): State<Arc<SimState>>,
    Path((version, resource)): Path<(String, String)>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let now = state.clock.now();
    let mut record = RequestRecord {
        at: now,
        tenant_id: None,
        endpoint: resource.clone(),
        status: 200,
        fault: None,
        records: 0,
        has_skiptoken: false,
    };
    let (response, fault) = serve_audit_logs(
        &state,
        &version,
        &resource,
        raw_query.as_deref(),
        &headers,
        now,
        &mut record,
    )
    .await;
    record.status = response.status().as_u16();
    record.fault = fault;
    state.stats.record(record);
    if fault == Some(FaultKind::SlowResponse) {
        // a server that answers after the client gave up: real time, not the simulated clock,
        // because client timeouts run in real time
        let delay = state.faults.read().slow_response_delay;
        tokio::time::sleep(delay).await;
    }
    response
}

#[allow(clippy::too_many_arguments)]
async fn serve_audit_logs(
    state: &Arc<SimState>,
    version_text: &str,
    resource: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    now: Timestamp,
    record: &mut RequestRecord,
) -> (Response, Option<FaultKind>) {
    let version = match version_text {
        "v1.0" => ApiVersion::V1,
        "beta" => ApiVersion::Beta,
        _ => {
            return (
                graph_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!("Invalid version: {version_text}"),
                    now,
                ),
                None,
            );
        }
    };
    let bearer = match state.authority.validate_bearer(
        bearer_token(headers),
        &state.config.graph_resource,
        now,
    ) {
        Ok(bearer) => bearer,
        Err(error) => {
            return (
                graph_error(
                    StatusCode::UNAUTHORIZED,
                    "InvalidAuthenticationToken",
                    &error.0,
                    now,
                ),
                None,
            );
        }
    };
    let Some(tenant_index) = state.tenant_index(&bearer.tenant_id) else {
        return (
            graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid tenant.",
                now,
            ),
            None,
        );
    };
    record.tenant_id = Some(bearer.tenant_id.clone());
    if version == ApiVersion::Beta && state.tenant(tenant_index).spec.beta_unavailable {
        return (
            graph_error(
                StatusCode::NOT_FOUND,
                "BadRequest",
                &format!("Resource not found for the segment '{resource}'."),
                now,
            ),
            None,
        );
    }
    if !bearer.roles.iter().any(|role| role == AUDIT_LOG_ROLE) {
        return (
            graph_error(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation. Calling principal does not have required MSGraph permissions AuditLog.Read.All",
                now,
            ),
            None,
        );
    }
    if let Some(retry_after) = state.throttle_check(&bearer.tenant_id, &bearer.client_id, now) {
        state.stats.throttled.fetch_add(1, Ordering::Relaxed);
        return (throttled(retry_after, now), None);
    }

    let parameters: HashMap<String, String> = raw_query
        .map(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let skiptoken = parameters.get("$skiptoken");
    record.has_skiptoken = skiptoken.is_some();
    let tenant = state.tenant(tenant_index);
    let request_number = state.request_counters[tenant_index].fetch_add(1, Ordering::Relaxed) + 1;
    let shape = RequestShape {
        has_skiptoken: skiptoken.is_some(),
        is_sign_in: resource == "signIns",
    };
    let fault = faults::choose(
        &state.faults.read(),
        state.config.seed,
        tenant_index,
        &tenant.tenant_id,
        request_number,
        shape,
    );

    // faults that replace the response outright
    match fault {
        Some(FaultKind::Http500) => {
            return (
                graph_error(StatusCode::INTERNAL_SERVER_ERROR, "UnknownError", "", now),
                fault,
            );
        }
        Some(FaultKind::Http502) => {
            return (
                graph_error(StatusCode::BAD_GATEWAY, "BadGateway", "Bad Gateway", now),
                fault,
            );
        }
        Some(FaultKind::Http503) => {
            let mut response = graph_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "Service unavailable.",
                now,
            );
            if fastrand::bool() {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
            }
            return (response, fault);
        }
        Some(FaultKind::Http504) => {
            return (
                graph_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "GatewayTimeout",
                    "The gateway did not receive a response within the specified time period.",
                    now,
                ),
                fault,
            );
        }
        Some(FaultKind::Throttle429) => {
            return (
                throttled(
                    state.faults.read().injected_retry_after.as_secs().max(1),
                    now,
                ),
                fault,
            );
        }
        Some(FaultKind::Unauthorized401) => {
            return (
                graph_error(
                    StatusCode::UNAUTHORIZED,
                    "InvalidAuthenticationToken",
                    "Access token has expired or is not yet valid.",
                    now,
                ),
                fault,
            );
        }
        Some(FaultKind::RedirectForeign) => {
            let query = raw_query
                .map(|query| format!("?{query}"))
                .unwrap_or_default();
            let location = format!(
                "{}/{version_text}/auditLogs/{resource}{query}",
                state.faults.read().redirect_target.trim_end_matches('/')
            );
            return (hostile::redirect(&location), fault);
        }
        Some(FaultKind::EchoSecret) => {
            return (hostile::graph_echo(bearer_token(headers)), fault);
        }
        Some(kind) => {
            if let Some(body) = hostile_body(state, kind) {
                return (body, fault);
            }
        }
        None => {}
    }

    let page_state = match skiptoken {
        Some(token) => {
            let Some(page_state) = state.skip_tokens.decode(token) else {
                return (
                    graph_error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "Invalid Skip Token",
                        now,
                    ),
                    fault,
                );
            };
            if page_state.query.tenant_id != tenant.tenant_id
                || page_state.query.endpoint != resource
                || page_state.query.version != version.as_str()
            {
                return (
                    graph_error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "Invalid Skip Token",
                        now,
                    ),
                    fault,
                );
            }
            let expired =
                now.as_millis() - page_state.issued > state.config.skiptoken_ttl.as_millis() as i64;
            if expired || fault == Some(FaultKind::SkiptokenExpired) {
                return (
                    graph_error(
                        StatusCode::BAD_REQUEST,
                        "Directory_ExpiredPageToken",
                        "The specified page token value has expired and can no longer be included in your request.",
                        now,
                    ),
                    fault,
                );
            }
            page_state
        }
        None => match new_query(&tenant, version, resource, &parameters, now) {
            Ok(query) => PageState {
                query,
                after: None,
                issued: now.as_millis(),
            },
            Err(response) => return (*response, fault),
        },
    };

    if resource == "signIns" && (tenant.spec.unlicensed || fault == Some(FaultKind::Licence403)) {
        return (
            graph_error(
                StatusCode::FORBIDDEN,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
                now,
            ),
            fault,
        );
    }

    let query = page_state.query;
    let page = if fault == Some(FaultKind::EmptyPage) {
        super::query::Page {
            records: Vec::new(),
            next_after: page_state.after.or(Some(super::query::OrderKey {
                primary: i64::MIN,
                secondary: 0,
            })),
        }
    } else {
        run_page(
            &state.config,
            &tenant,
            &query,
            page_state.after,
            state.data_start,
            now,
        )
    };
    let mut records = page.records;
    let mut next_after = page.next_after;
    if fault == Some(FaultKind::DuplicateRecord) && !records.is_empty() {
        if next_after.is_some() && records.len() >= 2 && fastrand::bool() {
            // the next page starts one record early, so its first record repeats this page's last
            next_after = Some(query.order_key(&records[records.len() - 2]));
        } else if let Some(last) = records.last().cloned() {
            records.push(last);
        }
    }
    record.records = records.len();

    let next_link = next_after.map(|after| {
        let token = state.skip_tokens.encode(&PageState {
            query: query.clone(),
            after: Some(after).filter(|position| position.primary != i64::MIN),
            issued: now.as_millis(),
        });
        let mut url = format!(
            "{}/{}/auditLogs/{resource}?",
            state.base_url(),
            version.as_str()
        );
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        serializer.append_pair("$top", &query.top.to_string());
        if let Some(filter) = parameters.get("$filter") {
            serializer.append_pair("$filter", filter);
        }
        serializer.append_pair("$skiptoken", &token);
        url.push_str(&serializer.finish());
        url
    });

    let mut body = Vec::with_capacity(records.len() * 2600 + 512);
    let context = format!(
        "{}/{}/$metadata#auditLogs/{resource}",
        state.base_url(),
        version.as_str()
    );
    body.extend_from_slice(b"{\"@odata.context\":");
    let _ = serde_json::to_writer(&mut body, &context);
    if let Some(link) = &next_link {
        body.extend_from_slice(b",\"@odata.nextLink\":");
        let _ = serde_json::to_writer(&mut body, link);
    }
    body.extend_from_slice(b",\"value\":[");
    for (index, meta) in records.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        render_record(&mut body, &tenant, meta, version);
        if index == 0 && fault == Some(FaultKind::OversizedRecord) {
            let size = state.faults.read().oversized_record_bytes;
            inflate_last_record(&mut body, size);
        }
    }
    body.extend_from_slice(b"]}");

    let delivered = apply_body_faults(state, body, fault, headers).await;
    let request_id = request_id();
    let mut response = json_response(StatusCode::OK, delivered.body, now, &request_id);
    if delivered.gzip {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    (response, fault)
}

/// The body of a hostile fault that replaces a 200's body, if `kind` is one.
fn hostile_body(state: &SimState, kind: FaultKind) -> Option<Response> {
    let spec = state.faults.read();
    match kind {
        FaultKind::GzipBomb => Some(hostile::gzip_bomb(spec.gzip_bomb_bytes)),
        FaultKind::EndlessBody => Some(hostile::endless_body(spec.endless_body_interval)),
        FaultKind::OversizedBody => Some(hostile::oversized_body(spec.oversized_body_bytes)),
        _ => None,
    }
}

/// The fault of this token request of the tenant at `index`, counting it.
fn token_fault(state: &SimState, tenant_id: &str, index: usize) -> Option<FaultKind> {
    let number = state.token_counters[index].fetch_add(1, Ordering::Relaxed) + 1;
    faults::choose_token(&state.faults.read(), tenant_id, number)
}

/// A token endpoint's hostile answer: a body fault, a redirect to `location`, or `echo`.
fn hostile_token_answer(
    state: &SimState,
    fault: FaultKind,
    location: &str,
    echo: impl FnOnce() -> Response,
) -> Option<Response> {
    match fault {
        FaultKind::RedirectForeign => Some(hostile::redirect(location)),
        FaultKind::EchoSecret => Some(echo()),
        kind => hostile_body(state, kind),
    }
}

struct DeliveredBody {
    body: Body,
    gzip: bool,
}

/// Grows the record just rendered (the last `}` of `body`) with a padding property.
fn inflate_last_record(body: &mut Vec<u8>, size: usize) {
    if body.last() != Some(&b'}') {
        return;
    }
    body.pop();
    body.extend_from_slice(b",\"simulatorPadding\":\"");
    body.resize(body.len() + size, b'x');
    body.extend_from_slice(b"\"}");
}

async fn apply_body_faults(
    state: &SimState,
    body: Vec<u8>,
    fault: Option<FaultKind>,
    headers: &HeaderMap,
) -> DeliveredBody {
    match fault {
        Some(FaultKind::TruncatedJson) => {
            let cut = (body.len() * 3 / 5).max(1).min(body.len());
            return DeliveredBody {
                body: Body::from(body[..cut].to_vec()),
                gzip: false,
            };
        }
        Some(FaultKind::ConnectionReset) => {
            let cut = body.len() / 2;
            let first_part = Bytes::copy_from_slice(&body[..cut]);
            let stream = async_stream::stream! {
                yield Ok::<Bytes, std::io::Error>(first_part);
                // let the head and the first part reach the client before the connection drops
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                yield Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated reset"));
            };
            return DeliveredBody {
                body: Body::from_stream(stream),
                gzip: false,
            };
        }
        _ => {}
    }
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("gzip"));
    if state.config_gzip() && accepts_gzip {
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 6),
            flate2::Compression::fast(),
        );
        if encoder.write_all(&body).is_ok()
            && let Ok(compressed) = encoder.finish()
        {
            return DeliveredBody {
                body: Body::from(compressed),
                gzip: true,
            };
        }
    }
    DeliveredBody {
        body: Body::from(body),
        gzip: false,
    }
}

fn throttled(retry_after_seconds: u64, now: Timestamp) -> Response {
    let mut response = graph_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests. This request is throttled. Please try again after some time.",
        now,
    );
    if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn new_query(
    tenant: &super::generate::TenantData,
    version: ApiVersion,
    resource: &str,
    parameters: &HashMap<String, String>,
    now: Timestamp,
) -> Result<Query, Box<Response>> {
    let bad_request = |message: &str| {
        Box::new(graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            message,
            now,
        ))
    };
    let time_field = match resource {
        "signIns" => "createdDateTime",
        "directoryAudits" | "provisioning" => "activityDateTime",
        _ => {
            return Err(bad_request(&format!(
                "Resource not found for the segment '{resource}'."
            )));
        }
    };
    let allow_event_types = resource == "signIns" && version == ApiVersion::Beta;
    let parsed = match parameters.get("$filter") {
        Some(text) => filter::parse(text, time_field, allow_event_types)
            .map_err(|error| bad_request(&error.0))?,
        None => filter::Filter::default(),
    };
    let retention_start = now.saturating_sub(tenant.retention);
    if parsed.from.is_some_and(|from| from < retention_start) {
        return Err(bad_request(
            "Invalid filter clause: the requested start date is older than the tenant's data retention.",
        ));
    }
    let Some((streams, _)) = endpoint_streams(resource, version, &parsed.event_types) else {
        return Err(bad_request("Resource not found."));
    };
    let max_top = 1000;
    let top = match parameters.get("$top") {
        Some(text) => match text.parse::<usize>() {
            Ok(value) if (1..=max_top).contains(&value) => value,
            _ => {
                return Err(bad_request(&format!(
                    "Invalid page size specified: '{text}'. Must be between 1 and {max_top} inclusive."
                )));
            }
        },
        None if resource == "signIns" => 1000,
        None => 100,
    };
    Ok(Query {
        tenant_id: tenant.tenant_id.clone(),
        version: version.as_str().to_owned(),
        endpoint: resource.to_owned(),
        streams,
        from: parsed.from.unwrap_or(retention_start).as_millis(),
        to: parsed.to.map_or(i64::MAX, Timestamp::as_millis),
        top,
    })
}
