//! A response body read with a limit on its size and a deadline.
//!
//! The limit counts bytes after gzip decoding (reqwest decodes while the body streams in), so a
//! small compressed body that would inflate to gigabytes stops at the limit; a `Content-Length`
//! above the limit is refused before a byte of the body is read. The deadline is the whole
//! exchange's, from the request on: a body that keeps trickling bytes cannot extend it. At most
//! `max_bytes` are ever held.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::auth::error_chain;
use crate::config::duration;

/// How much of a response is read, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit {
    /// The most bytes a body may hold, decompressed.
    pub max_bytes: u64,
    /// The configuration key that sets `max_bytes`, for messages.
    pub key: &'static str,
    /// The longest the whole exchange may take, from sending the request to the body's last byte
    /// (`polling.request_timeout`).
    pub timeout: Duration,
}

/// Why a body was not read to its end.
#[derive(Debug)]
pub enum BodyError {
    /// More than `limit` bytes: announced by `Content-Length` (`declared`), or counted while
    /// reading (decompressed).
    TooLarge {
        limit: u64,
        key: &'static str,
        declared: Option<u64>,
    },
    /// The deadline passed before the body ended.
    Deadline { timeout: Duration },
    /// The connection broke off, or the body could not be decoded.
    Broken(reqwest::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge {
                limit,
                key,
                declared: Some(declared),
            } => write!(
                formatter,
                "the response announces {declared} bytes, more than {key} ({limit})"
            ),
            BodyError::TooLarge {
                limit,
                key,
                declared: None,
            } => write!(
                formatter,
                "the response is larger than {key} ({limit} bytes, counted after decompression)"
            ),
            BodyError::Deadline { timeout } => write!(
                formatter,
                "the response did not end within polling.request_timeout ({})",
                duration::format(*timeout)
            ),
            BodyError::Broken(error) => {
                write!(formatter, "the response broke off: {}", error_chain(error))
            }
        }
    }
}

impl std::error::Error for BodyError {}

/// The whole body of `response`, whose request was sent at `sent`, within `limit`.
pub async fn read(
    mut response: reqwest::Response,
    limit: BodyLimit,
    sent: Instant,
) -> Result<Bytes, BodyError> {
    let too_large = |declared| BodyError::TooLarge {
        limit: limit.max_bytes,
        key: limit.key,
        declared,
    };
    // reqwest reports no length for a body it decompresses
    let declared = response.content_length();
    if let Some(declared) = declared
        && declared > limit.max_bytes
    {
        return Err(too_large(Some(declared)));
    }
    let deadline = sent + limit.timeout;
    let capacity = declared.unwrap_or(0).min(limit.max_bytes);
    let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    loop {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => {
                return Err(BodyError::Deadline {
                    timeout: limit.timeout,
                });
            }
            Ok(Err(error)) if error.is_timeout() => {
                return Err(BodyError::Deadline {
                    timeout: limit.timeout,
                });
            }
            Ok(Err(error)) => return Err(BodyError::Broken(error)),
            Ok(Ok(None)) => return Ok(Bytes::from(body)),
            Ok(Ok(Some(chunk))) => chunk,
        };
        if (body.len() as u64).saturating_add(chunk.len() as u64) > limit.max_bytes {
            return Err(too_large(None));
        }
        body.extend_from_slice(&chunk);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::Router;
    use axum::body::Body;
    use axum::http::header;
    use axum::response::Response;
    use axum::routing::get;

    use super::*;

    const LIMIT: BodyLimit = BodyLimit {
        max_bytes: 1000,
        key: "polling.max_page_bytes",
        timeout: Duration::from_secs(2),
    };

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip")
    }

    /// A server of four bodies: `/exact` (1000 bytes), `/over` (1001), `/gzip` (1001 bytes
    /// compressed to a few dozen), `/declared` (announces 2 GB), `/trickle` (a byte every 50 ms).
    async fn server() -> (String, tokio::task::JoinHandle<()>) {
        let router = Router::new()
            .route("/exact", get(|| async { vec![b' '; 1000] }))
            .route("/over", get(|| async { vec![b' '; 1001] }))
            .route(
                "/gzip",
                get(|| async {
                    Response::builder()
                        .header(header::CONTENT_ENCODING, "gzip")
                        .body(Body::from(gzip(&[b' '; 1001])))
                        .expect("response")
                }),
            )
            .route(
                "/declared",
                get(|| async {
                    let endless = futures_util::stream::repeat_with(|| {
                        Ok::<_, std::io::Error>(Bytes::from_static(&[b' '; 1024]))
                    });
                    Response::builder()
                        .header(header::CONTENT_LENGTH, "2000000000")
                        .body(Body::from_stream(endless))
                        .expect("response")
                }),
            )
            .route(
                "/trickle",
                get(|| async {
                    let trickle = async_stream::stream! {
                        loop {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            yield Ok::<_, std::io::Error>(Bytes::from_static(b" "));
                        }
                    };
                    Body::from_stream(trickle)
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (format!("http://{address}"), server)
    }

    async fn fetch(base: &str, path: &str) -> Result<Bytes, BodyError> {
        let http = reqwest::Client::builder()
            .gzip(true)
            .build()
            .expect("client");
        let sent = Instant::now();
        let response = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("response");
        read(response, LIMIT, sent).await
    }

    #[tokio::test]
    async fn a_body_is_read_up_to_its_limit_counted_after_decompression() {
        let (base, server) = server().await;
        assert_eq!(fetch(&base, "/exact").await.expect("exact").len(), 1000);
        assert_eq!(
            fetch(&base, "/over").await.expect_err("over").to_string(),
            "the response announces 1001 bytes, more than polling.max_page_bytes (1000)"
        );
        assert_eq!(
            fetch(&base, "/gzip")
                .await
                .expect_err("inflated")
                .to_string(),
            "the response is larger than polling.max_page_bytes (1000 bytes, counted after \
             decompression)"
        );
        assert_eq!(
            fetch(&base, "/declared")
                .await
                .expect_err("declared")
                .to_string(),
            "the response announces 2000000000 bytes, more than polling.max_page_bytes (1000)"
        );
        server.abort();
    }

    #[tokio::test]
    async fn a_trickling_body_ends_at_the_deadline() {
        let (base, server) = server().await;
        let started = std::time::Instant::now();
        let error = fetch(&base, "/trickle").await.expect_err("deadline");
        let elapsed = started.elapsed();
        assert_eq!(
            error.to_string(),
            "the response did not end within polling.request_timeout (2s)"
        );
        assert!(
            elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(4),
            "{elapsed:?}"
        );
        server.abort();
    }
}
