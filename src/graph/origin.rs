//! Where a tenant's Graph requests may go, the bearer token with them: to the origin (scheme,
//! host, port) of the configured Graph base URL as it is, or, when that base is a proxy
//! (`endpoints.graph`), from the cloud's own Graph host through the proxy (the path and query as
//! written, after the proxy's base). Every other origin is refused. The same rule holds for a
//! page's `@odata.nextLink` (`graph::pages`) and for a redirect (`graph::client`).

/// The configured Graph base URL and the origins it allows.
#[derive(Clone, Debug)]
pub struct GraphOrigin {
    /// The configured Graph base URL, without a trailing slash.
    base: String,
    origin: Option<url::Origin>,
    /// The cloud's own Graph origin, which Graph's links name even behind a proxy.
    cloud: Option<url::Origin>,
}

impl GraphOrigin {
    /// `graph_base`: the configured Graph base URL; `cloud_graph`: the cloud's own (the same when
    /// no proxy is configured).
    pub fn new(graph_base: &str, cloud_graph: &str) -> GraphOrigin {
        let origin_of = |url: &str| url::Url::parse(url).ok().map(|url| url.origin());
        GraphOrigin {
            base: graph_base.trim_end_matches('/').to_owned(),
            origin: origin_of(graph_base),
            cloud: origin_of(cloud_graph),
        }
    }

    /// The URL to request for `link` (`raw` as written): itself on the configured origin,
    /// through the proxy on the cloud's own; the link's origin (ASCII) when it is neither.
    pub fn route(&self, link: &url::Url, raw: &str) -> Result<String, String> {
        let origin = link.origin();
        if self.origin.as_ref() == Some(&origin) {
            Ok(raw.to_owned())
        } else if self.cloud.as_ref() == Some(&origin) {
            // Graph behind a proxy: the same path and query, through the proxy
            Ok(format!("{}{}", self.base, path_and_query(raw)))
        } else {
            Err(origin.ascii_serialization())
        }
    }

    /// The origin requests go to, for messages.
    pub fn expected(&self) -> String {
        self.origin
            .as_ref()
            .map_or_else(|| self.base.clone(), url::Origin::ascii_serialization)
    }
}

/// An absolute URL from the `/` or `?` after its authority on, as written.
fn path_and_query(url: &str) -> &str {
    let authority = url.find("://").map_or(0, |scheme| scheme + 3);
    url.get(authority..)
        .and_then(|rest| rest.find(['/', '?']))
        .and_then(|start| url.get(authority + start..))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(origin: &GraphOrigin, link: &str) -> Result<String, String> {
        origin.route(&url::Url::parse(link).expect("a URL"), link)
    }

    #[test]
    fn links_stay_on_the_configured_origin_or_go_through_the_proxy() {
        let direct = GraphOrigin::new("https://graph.microsoft.com", "https://graph.microsoft.com");
        assert_eq!(
            route(&direct, "https://GRAPH.microsoft.com:443/beta/x?a=b"),
            Ok("https://GRAPH.microsoft.com:443/beta/x?a=b".to_owned())
        );
        assert_eq!(
            route(&direct, "http://graph.microsoft.com/beta/x"),
            Err("http://graph.microsoft.com".to_owned())
        );
        let proxied = GraphOrigin::new(
            "https://egress.example.corp/msgraph/",
            "https://graph.microsoft.com",
        );
        assert_eq!(
            route(
                &proxied,
                "https://graph.microsoft.com/beta/x?$skiptoken=a%2Bb"
            ),
            Ok("https://egress.example.corp/msgraph/beta/x?$skiptoken=a%2Bb".to_owned())
        );
        assert_eq!(
            route(&proxied, "https://evil.example.net/beta/x"),
            Err("https://evil.example.net".to_owned())
        );
        assert_eq!(proxied.expected(), "https://egress.example.corp");
    }

    #[test]
    fn a_path_and_query_are_taken_as_written() {
        assert_eq!(
            path_and_query("https://graph.microsoft.com/beta/x?$skiptoken=a%2Bb+c"),
            "/beta/x?$skiptoken=a%2Bb+c"
        );
        assert_eq!(
            path_and_query("https://graph.microsoft.com:443?$skiptoken=a"),
            "?$skiptoken=a"
        );
        assert_eq!(path_and_query("https://graph.microsoft.com"), "");
    }
}
