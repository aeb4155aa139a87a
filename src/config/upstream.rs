//! The keys that bound what entrastream accepts from the login, managed-identity and Graph
//! endpoints (`docs/security.md`, "Limits and their keys"): the size of their answers, and plain
//! HTTP only where nothing crosses a network.

use std::ops::RangeInclusive;

use super::{PollingConfig, TlsConfig};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Graph's largest page (1,000 sign-ins with many Conditional Access policies) is a few MiB.
pub const MAX_PAGE_BYTES: RangeInclusive<u64> = MIB..=1024 * MIB;
/// A token response is a few KiB; a token with many claims stays far below 4 KiB of JSON overhead.
pub const MAX_TOKEN_RESPONSE_BYTES: RangeInclusive<u64> = 4 * KIB..=16 * MIB;

/// The response size limits outside their ranges.
pub(super) fn limits(polling: &PollingConfig, problems: &mut Vec<String>) {
    for (key, value, allowed) in [
        (
            "polling.max_page_bytes",
            polling.max_page_bytes,
            MAX_PAGE_BYTES,
        ),
        (
            "polling.max_token_response_bytes",
            polling.max_token_response_bytes,
            MAX_TOKEN_RESPONSE_BYTES,
        ),
    ] {
        if !allowed.contains(&value) {
            problems.push(format!(
                "{key}: {value} is outside {}..={}",
                allowed.start(),
                allowed.end()
            ));
        }
    }
}

/// A problem when `url` (the value of `key`, already known to be an http(s) URL) is plain HTTP
/// to a host that is not loopback and `tls.allow_insecure_http` does not accept that.
pub(super) fn insecure_endpoint(key: &str, url: &str, tls: &TlsConfig) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if parsed.scheme() != "http" || tls.allow_insecure_http || is_loopback(&parsed) {
        return None;
    }
    Some(format!(
        "{key}: `{url}` is plain HTTP to a host that is not loopback: the client secret, \
         assertions and tokens would cross the network unencrypted; write https://, or set \
         tls.allow_insecure_http: true to accept that"
    ))
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_accepted_on_loopback_or_when_allowed() {
        let refused = TlsConfig::default();
        for url in [
            "http://127.0.0.1:8080",
            "http://127.8.0.1",
            "http://[::1]:9000/graph",
            "http://LOCALHOST:1234",
            "https://egress.example.corp/msgraph",
        ] {
            assert_eq!(
                insecure_endpoint("tenants[0].endpoints.graph", url, &refused),
                None
            );
        }
        assert_eq!(
            insecure_endpoint(
                "tenants[0].endpoints.login",
                "http://10.0.0.8:8080",
                &refused
            ),
            Some(
                "tenants[0].endpoints.login: `http://10.0.0.8:8080` is plain HTTP to a host that \
                 is not loopback: the client secret, assertions and tokens would cross the network \
                 unencrypted; write https://, or set tls.allow_insecure_http: true to accept that"
                    .to_owned()
            )
        );
        // a name that merely starts like loopback is not loopback
        assert!(insecure_endpoint("key", "http://localhost.example.net", &refused).is_some());
        let allowed = TlsConfig {
            allow_insecure_http: true,
            ..TlsConfig::default()
        };
        assert_eq!(
            insecure_endpoint("key", "http://10.0.0.8:8080", &allowed),
            None
        );
    }

    #[test]
    fn response_limits_are_range_checked() {
        let mut problems = Vec::new();
        limits(
            &PollingConfig {
                max_page_bytes: 1000,
                max_token_response_bytes: u64::MAX,
                ..PollingConfig::default()
            },
            &mut problems,
        );
        assert_eq!(
            problems,
            vec![
                "polling.max_page_bytes: 1000 is outside 1048576..=1073741824",
                "polling.max_token_response_bytes: 18446744073709551615 is outside 4096..=16777216",
            ]
        );
        let mut none = Vec::new();
        limits(&PollingConfig::default(), &mut none);
        assert!(none.is_empty(), "{none:?}");
    }
}
