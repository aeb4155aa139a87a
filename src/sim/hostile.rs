//! Answers no real Graph or identity platform gives, for testing a client against a hostile or
//! broken upstream (architecture §12): bodies that would exhaust memory or never end, a redirect
//! to another origin, error bodies that echo the credentials they were sent. The fault kinds
//! outside [`FaultKind::ALL`](super::config::FaultKind::ALL) choose them.
//!
//! The large bodies are made while they are sent, only as fast as the client reads: a gzip bomb
//! of gigabytes costs the simulator what the client accepts of it.

use std::io::Write;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// Decompressed bytes made per compressed piece of a gzip bomb.
const BOMB_BLOCK: usize = 1024 * 1024;
/// Bytes per piece of an oversized body.
const OVERSIZED_BLOCK: usize = 64 * 1024;
/// Bytes per piece of an endless body.
const TRICKLE: usize = 1024;
/// What each hostile body starts with: a page's opening, so that only its size makes it hostile.
const PAGE_OPENING: &[u8] = b"{\"value\":[";

fn response(status: StatusCode, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A 200 with `Content-Encoding: gzip` whose body inflates to `inflated_bytes` of whitespace
/// inside a page's opening (compressed, about a thousandth of that).
pub fn gzip_bomb(inflated_bytes: u64) -> Response {
    let pieces = async_stream::stream! {
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let block = vec![b' '; BOMB_BLOCK];
        let mut inflated = 0u64;
        let mut failed = encoder.write_all(PAGE_OPENING).is_err();
        while !failed && inflated < inflated_bytes {
            let length = (inflated_bytes - inflated).min(BOMB_BLOCK as u64) as usize;
            failed = encoder.write_all(&block[..length]).is_err();
            inflated += length as u64;
            let compressed = std::mem::take(encoder.get_mut());
            if !compressed.is_empty() {
                yield Ok::<Bytes, std::io::Error>(Bytes::from(compressed));
            }
        }
        if let Ok(rest) = encoder.finish() {
            yield Ok(Bytes::from(rest));
        }
    };
    let mut bomb = response(StatusCode::OK, Body::from_stream(pieces));
    bomb.headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    bomb
}

/// A 200 whose chunked body never ends: a page's opening, then a KiB of whitespace every
/// `interval` (real time: client deadlines run in real time).
pub fn endless_body(interval: Duration) -> Response {
    let trickle = async_stream::stream! {
        yield Ok::<Bytes, std::io::Error>(Bytes::from_static(PAGE_OPENING));
        loop {
            tokio::time::sleep(interval).await;
            yield Ok(Bytes::from(vec![b' '; TRICKLE]));
        }
    };
    response(StatusCode::OK, Body::from_stream(trickle))
}

/// A 200 announcing `Content-Length: bytes`, its body sent as the client reads it.
pub fn oversized_body(bytes: u64) -> Response {
    let pieces = async_stream::stream! {
        yield Ok::<Bytes, std::io::Error>(Bytes::from_static(PAGE_OPENING));
        let mut sent = PAGE_OPENING.len() as u64;
        let block = Bytes::from(vec![b' '; OVERSIZED_BLOCK]);
        while sent < bytes {
            let length = (bytes - sent).min(OVERSIZED_BLOCK as u64) as usize;
            sent += length as u64;
            yield Ok(block.slice(..length));
        }
    };
    let mut oversized = response(StatusCode::OK, Body::from_stream(pieces));
    if let Ok(length) = HeaderValue::from_str(&bytes.to_string()) {
        oversized
            .headers_mut()
            .insert(header::CONTENT_LENGTH, length);
    }
    oversized
}

/// A 307 to `location` (another origin): a client that follows it repeats the request there,
/// body and all.
pub fn redirect(location: &str) -> Response {
    let mut redirect = response(StatusCode::TEMPORARY_REDIRECT, Body::empty());
    if let Ok(value) = HeaderValue::from_str(location) {
        redirect.headers_mut().insert(header::LOCATION, value);
    }
    redirect
}

/// The identity platform's 401 for a wrong secret, echoing what the request carried: the
/// secret in the first line of the description, the assertion beside it, the whole form body
/// after (`secret`, `assertion`: as received, empty when absent).
pub fn token_echo(secret: &str, assertion: &str, form_body: &str, trace_id: &str) -> Response {
    let body = serde_json::json!({
        "error": "invalid_client",
        "error_description": format!(
            "AADSTS7000215: Invalid client secret provided: '{secret}' (assertion: {assertion}); \
             the request was {form_body}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {trace_id}"
        ),
        "error_codes": [7000215],
        "trace_id": trace_id,
        "request": form_body,
    });
    response(StatusCode::UNAUTHORIZED, Body::from(body.to_string()))
}

/// Graph's 401 echoing the bearer token it was sent, in its message and beside it.
pub fn graph_echo(token: &str) -> Response {
    let body = serde_json::json!({
        "error": {
            "code": "InvalidAuthenticationToken",
            "message": format!(
                "Access token validation failure: {token} (Authorization: Bearer {token})"
            ),
            "innerError": {"authorization": format!("Bearer {token}")},
        }
    });
    response(StatusCode::UNAUTHORIZED, Body::from(body.to_string()))
}
