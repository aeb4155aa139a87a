//! How each stream is read from Graph: its endpoint, its time field and its filter.
//!
//! Graph documents only `eq`, `ge` and `le` on the time fields; `gt`/`lt` are reported rejected or
//! ignored. Windows are therefore inclusive at both ends and overlaps are removed by id.
//! User and service-principal sign-in types cannot be combined in one query, which is one reason
//! each sign-in type is a stream of its own.

use crate::clock::Timestamp;
use crate::config::ApiVersion;
use crate::stream::StreamKind;

/// The endpoint path below `/{version}/auditLogs/`.
pub const fn resource(stream: StreamKind) -> &'static str {
    match stream {
        StreamKind::DirectoryAudits => "directoryAudits",
        StreamKind::Provisioning => "provisioning",
        _ => "signIns",
    }
}

/// The property a stream's records are filtered and ordered by.
pub const fn time_field(stream: StreamKind) -> &'static str {
    match stream {
        StreamKind::DirectoryAudits | StreamKind::Provisioning => "activityDateTime",
        _ => "createdDateTime",
    }
}

/// The beta `signInEventTypes` value of a sign-in stream.
pub const fn sign_in_event_type(stream: StreamKind) -> Option<&'static str> {
    match stream {
        StreamKind::SignInsInteractive => Some("interactiveUser"),
        StreamKind::SignInsNonInteractive => Some("nonInteractiveUser"),
        StreamKind::SignInsServicePrincipal => Some("servicePrincipal"),
        StreamKind::SignInsManagedIdentity => Some("managedIdentity"),
        _ => None,
    }
}

/// The first-page URL of a window `[from, to]` (both inclusive, whole seconds).
pub fn window_url(
    graph_base: &str,
    version: ApiVersion,
    stream: StreamKind,
    from: Timestamp,
    to: Timestamp,
    page_size: u32,
) -> String {
    let field = time_field(stream);
    let mut filter = format!(
        "{field} ge {} and {field} le {}",
        from.to_rfc3339_seconds(),
        to.to_rfc3339_seconds()
    );
    // v1.0 signIns has no signInEventTypes and returns interactive sign-ins only
    if version == ApiVersion::Beta
        && let Some(event_type) = sign_in_event_type(stream)
    {
        filter.push_str(&format!(
            " and signInEventTypes/any(t: t eq '{event_type}')"
        ));
    }
    let mut url = format!(
        "{graph_base}/{}/auditLogs/{}?",
        version.as_str(),
        resource(stream)
    );
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("$filter", &filter)
        .append_pair("$top", &page_size.to_string())
        .finish();
    url.push_str(&query);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_urls_use_the_right_field_operators_and_event_type() {
        let from = Timestamp::parse_rfc3339("2026-01-05T10:00:00Z").expect("time");
        let to = Timestamp::parse_rfc3339("2026-01-05T11:00:00Z").expect("time");
        let url = window_url(
            "https://graph.microsoft.com",
            ApiVersion::Beta,
            StreamKind::SignInsNonInteractive,
            from,
            to,
            1000,
        );
        let parsed = url::Url::parse(&url).expect("url");
        assert_eq!(parsed.path(), "/beta/auditLogs/signIns");
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                (
                    "$filter".to_owned(),
                    "createdDateTime ge 2026-01-05T10:00:00Z and createdDateTime le 2026-01-05T11:00:00Z \
                     and signInEventTypes/any(t: t eq 'nonInteractiveUser')"
                        .to_owned()
                ),
                ("$top".to_owned(), "1000".to_owned()),
            ]
        );
        let audits = window_url(
            "https://graph.microsoft.com",
            ApiVersion::V1,
            StreamKind::DirectoryAudits,
            from,
            to,
            500,
        );
        assert!(audits.starts_with("https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?"));
        assert!(audits.contains("activityDateTime+ge+2026-01-05T10%3A00%3A00Z"));
        let v1_sign_ins = window_url(
            "https://graph.microsoft.com",
            ApiVersion::V1,
            StreamKind::SignInsInteractive,
            from,
            to,
            500,
        );
        assert!(!v1_sign_ins.contains("signInEventTypes"));
    }
}
