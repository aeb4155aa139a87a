//! What can go wrong talking to Graph, classified where it happens.

use std::fmt;
use std::time::Duration;

use crate::auth::AuthError;

#[derive(Clone, Debug, PartialEq)]
pub enum GraphError {
    /// 429: the tenant's budget is spent.
    Throttled { retry_after: Option<Duration> },
    /// 5xx: Graph or its gateway is unwell.
    Unavailable {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection failed or broke off mid-body.
    Transport(String),
    /// A 200 whose body is not a usable page (truncated JSON, ...).
    MalformedBody(String),
    /// A response larger than `polling.max_page_bytes` (`limit`), decompressed: announced by its
    /// `Content-Length` (`declared`) or counted while reading; it is cut off there.
    Oversized { limit: u64, declared: Option<u64> },
    /// A redirect (`status`) that is not followed: to an origin that is not Graph's, to no URL, or
    /// one too many; `detail` says which, from "to".
    Redirected { status: u16, detail: String },
    /// 401 even after a fresh token.
    Unauthorized { message: String },
    /// 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`: sign-ins need Entra ID P1/P2.
    Unlicensed { message: String },
    /// 403 for another reason: the application lacks `AuditLog.Read.All` (and consent).
    Forbidden { code: String, message: String },
    /// 400 `Directory_ExpiredPageToken`: the skip token expired; the window starts again.
    ExpiredPageToken,
    /// Any other refusal (400, 404, ...): a request Graph does not accept.
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// No token could be obtained.
    Auth(AuthError),
}

/// What the stream does about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Wait (backoff, or the given time) and read the window again.
    Transient,
    /// The stream cannot work until someone fixes something; retried on the slow schedule.
    Blocked(BlockReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockReason {
    Unlicensed,
    Forbidden,
    Credentials,
    Rejected,
}

impl BlockReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            BlockReason::Unlicensed => "unlicensed",
            BlockReason::Forbidden => "forbidden",
            BlockReason::Credentials => "auth_failed",
            BlockReason::Rejected => "rejected",
        }
    }
}

impl GraphError {
    pub fn class(&self) -> ErrorClass {
        match self {
            GraphError::Throttled { .. }
            | GraphError::Unavailable { .. }
            | GraphError::Timeout
            | GraphError::Transport(_)
            | GraphError::MalformedBody(_)
            | GraphError::Oversized { .. }
            | GraphError::Redirected { .. }
            | GraphError::ExpiredPageToken => ErrorClass::Transient,
            GraphError::Unlicensed { .. } => ErrorClass::Blocked(BlockReason::Unlicensed),
            GraphError::Forbidden { .. } => ErrorClass::Blocked(BlockReason::Forbidden),
            GraphError::Unauthorized { .. } => ErrorClass::Blocked(BlockReason::Credentials),
            GraphError::Rejected { .. } => ErrorClass::Blocked(BlockReason::Rejected),
            GraphError::Auth(error) => {
                if error.is_transient() {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Blocked(BlockReason::Credentials)
                }
            }
        }
    }

    /// The wait Graph asked for, which wins over the backoff rule.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Throttled { retry_after } | GraphError::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The same error with the wait Graph asked for replaced by `wait` (the cap it is held to).
    pub fn with_retry_after(self, wait: Duration) -> GraphError {
        match self {
            GraphError::Throttled { .. } => GraphError::Throttled {
                retry_after: Some(wait),
            },
            GraphError::Unavailable { status, .. } => GraphError::Unavailable {
                status,
                retry_after: Some(wait),
            },
            other => other,
        }
    }

    /// A short label for the `status_class` metric label.
    pub fn status_class(&self) -> &'static str {
        match self {
            GraphError::Throttled { .. } => "429",
            GraphError::Unavailable { .. } => "5xx",
            GraphError::Timeout => "timeout",
            GraphError::Transport(_) => "transport",
            GraphError::MalformedBody(_) => "malformed",
            GraphError::Oversized { .. } => "oversized",
            GraphError::Redirected { .. } => "redirect",
            GraphError::Unauthorized { .. } => "401",
            GraphError::Unlicensed { .. } | GraphError::Forbidden { .. } => "403",
            GraphError::ExpiredPageToken | GraphError::Rejected { .. } => "4xx",
            GraphError::Auth(_) => "token",
        }
    }

    /// The error in entrastream's words only, with no text from Graph or the token endpoint
    /// (for `/readyz`, which anyone who reaches the metrics port can read).
    pub fn summary(&self) -> String {
        match self {
            GraphError::Auth(error) => error.summary(),
            GraphError::Unauthorized { .. } => "Graph rejected the token (401)".to_owned(),
            GraphError::Unlicensed { .. } => "the tenant is not licensed for sign-in logs (403 \
                 Authentication_RequestFromNonPremiumTenantOrB2CTenant)"
                .to_owned(),
            GraphError::Forbidden { .. } => "Graph refused access (403)".to_owned(),
            GraphError::Rejected { status, .. } => {
                format!("Graph refused the request ({status})")
            }
            GraphError::Throttled { .. }
            | GraphError::Unavailable { .. }
            | GraphError::Timeout
            | GraphError::Transport(_)
            | GraphError::MalformedBody(_)
            | GraphError::Oversized { .. }
            | GraphError::Redirected { .. }
            | GraphError::ExpiredPageToken => self.to_string(),
        }
    }

    /// What the operator should do, for errors someone has to fix.
    pub fn fix(&self) -> Option<&'static str> {
        match self {
            GraphError::Unlicensed { .. } => Some(
                "sign-in logs need Microsoft Entra ID P1 or P2 on the tenant; license it, or remove the \
                 sign-in streams from this tenant's `streams`",
            ),
            GraphError::Forbidden { .. } => Some(
                "grant the application the Microsoft Graph application permission AuditLog.Read.All \
                 (and Directory.Read.All) and give admin consent in the tenant",
            ),
            GraphError::Unauthorized { .. } => Some(
                "Graph rejects the application's tokens; check that the app registration exists in \
                 this tenant and has admin consent",
            ),
            GraphError::Rejected { .. } => Some(
                "Graph refused the request; check api_version and streams for this tenant and cloud",
            ),
            GraphError::Auth(error) => error.fix(),
            _ => None,
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Throttled { retry_after } => match retry_after {
                Some(wait) => write!(
                    formatter,
                    "throttled by Graph (429), retry after {}s",
                    wait.as_secs()
                ),
                None => write!(formatter, "throttled by Graph (429)"),
            },
            GraphError::Unavailable { status, .. } => {
                write!(formatter, "Graph unavailable ({status})")
            }
            GraphError::Timeout => {
                write!(
                    formatter,
                    "Graph did not answer within polling.request_timeout, body included"
                )
            }
            GraphError::Oversized {
                limit,
                declared: Some(declared),
            } => write!(
                formatter,
                "Graph announced a response of {declared} bytes, more than polling.max_page_bytes \
                 ({limit}); it is not read, and the window is read again"
            ),
            GraphError::Oversized {
                limit,
                declared: None,
            } => write!(
                formatter,
                "Graph's response is larger than polling.max_page_bytes ({limit} bytes, counted \
                 after decompression); it is cut off there, and the window is read again"
            ),
            GraphError::Redirected { status, detail } => write!(
                formatter,
                "Graph answered {status} with a redirect {detail}; it is not followed"
            ),
            GraphError::Transport(detail) => {
                write!(formatter, "connection to Graph failed: {detail}")
            }
            GraphError::MalformedBody(detail) => {
                write!(formatter, "Graph sent an unusable page: {detail}")
            }
            GraphError::Unauthorized { message } => {
                write!(formatter, "Graph rejected the token (401): {message}")
            }
            GraphError::Unlicensed { message } => {
                write!(
                    formatter,
                    "tenant not licensed for sign-in logs (403 Authentication_RequestFromNonPremiumTenantOrB2CTenant): {message}"
                )
            }
            GraphError::Forbidden { code, message } => {
                write!(formatter, "Graph refused access (403 {code}): {message}")
            }
            GraphError::ExpiredPageToken => write!(
                formatter,
                "the page token expired (400 Directory_ExpiredPageToken)"
            ),
            GraphError::Rejected {
                status,
                code,
                message,
            } => {
                write!(
                    formatter,
                    "Graph refused the request ({status} {code}): {message}"
                )
            }
            // without its fix: fix() gives it (the stream's log line shows both once)
            GraphError::Auth(error) => write!(formatter, "{}", error.message()),
        }
    }
}

impl std::error::Error for GraphError {}
