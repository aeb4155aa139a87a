//! Plain HTTP to the login and Graph endpoints only where nothing crosses a network, unless
//! `tls.allow_insecure_http` says otherwise (`docs/security.md`). (The size limits of their
//! answers are in `ranges`.)

use super::TlsConfig;

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
}
