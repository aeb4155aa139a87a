//! A window's pages as a stream: the first page from the window URL, then every
//! `@odata.nextLink` as given (skip tokens are never built or edited), to the end. An empty page
//! that still carries a nextLink is followed. The stream ends after the first error; the caller
//! reads the window again from its start.
//!
//! A nextLink is followed only to Graph ([`GraphOrigin`]: the configured base URL's origin, or
//! the cloud's own Graph host through a proxy). A link to any other origin is refused, so that
//! the bearer token is never sent there, and so is a link back to a page this window already
//! read, so that a repeated link cannot keep a stream on one page.

use std::collections::HashSet;

use futures_util::Stream;

use super::client::{FetchContext, fetch_page};
use super::error::GraphError;
use super::origin::GraphOrigin;
use super::record::PageBody;
use crate::upstream::redact::redact;

/// The pages of the window whose first page is at `first_url`, on `context.graph`'s origin.
pub fn pages<'a>(
    context: &'a FetchContext<'a>,
    first_url: String,
) -> impl Stream<Item = Result<PageBody, GraphError>> + 'a {
    let mut links = Links::new(context.graph);
    async_stream::stream! {
        let mut url = first_url;
        loop {
            match fetch_page(context, &url).await {
                Ok(page) => {
                    let next = page.next_link().map(|next| links.follow(&url, next));
                    yield Ok(page);
                    match next {
                        Some(Ok(next)) => url = next,
                        Some(Err(error)) => {
                            yield Err(error);
                            break;
                        }
                        None => break,
                    }
                }
                Err(error) => {
                    yield Err(error);
                    break;
                }
            }
        }
    }
}

/// The pages a window has read, and where their links may lead.
struct Links<'a> {
    graph: &'a GraphOrigin,
    read: HashSet<String>,
}

impl<'a> Links<'a> {
    fn new(graph: &'a GraphOrigin) -> Links<'a> {
        Links {
            graph,
            read: HashSet::new(),
        }
    }

    /// The URL to read after `current`, whose page links to `next`; an error when the link leads
    /// away from Graph or back to a page already read.
    fn follow(&mut self, current: &str, next: &str) -> Result<String, GraphError> {
        self.read.insert(current.to_owned());
        let parsed = url::Url::parse(next).map_err(|error| {
            GraphError::MalformedBody(format!("`@odata.nextLink` is not a URL ({error})"))
        })?;
        let next = self.graph.route(&parsed, next).map_err(|foreign| {
            // the host is the upstream's text
            GraphError::MalformedBody(format!(
                "`@odata.nextLink` leads to {} instead of {}; it is not followed, so that the \
                 token is not sent there",
                redact(&foreign, &[]),
                self.graph.expected()
            ))
        })?;
        if self.read.contains(&next) {
            return Err(GraphError::MalformedBody(
                "`@odata.nextLink` leads back to a page this window already read; the window is read \
                 again from its start"
                    .to_owned(),
            ));
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::Links;
    use crate::graph::error::GraphError;
    use crate::graph::origin::GraphOrigin;

    const GRAPH: &str = "https://graph.microsoft.com";
    const FIRST: &str = "https://graph.microsoft.com/beta/auditLogs/signIns?$top=1000&$filter=x";
    const SECOND: &str =
        "https://graph.microsoft.com/beta/auditLogs/signIns?$top=1000&$skiptoken=a";
    const THIRD: &str = "https://graph.microsoft.com/beta/auditLogs/signIns?$top=1000&$skiptoken=b";

    const ALREADY_READ: &str = "Graph sent an unusable page: `@odata.nextLink` leads back to a page \
                                this window already read; the window is read again from its start";

    fn message(outcome: Result<String, GraphError>) -> String {
        match outcome {
            Err(error) => error.to_string(),
            Ok(url) => panic!("expected a refusal, got {url}"),
        }
    }

    #[test]
    fn links_to_new_pages_of_the_same_origin_are_followed() {
        let graph = GraphOrigin::new(GRAPH, GRAPH);
        let mut links = Links::new(&graph);
        assert_eq!(links.follow(FIRST, SECOND), Ok(SECOND.to_owned()));
        assert_eq!(links.follow(SECOND, THIRD), Ok(THIRD.to_owned()));
        // the host's case and the scheme's default port do not make another origin
        let spelled = "https://GRAPH.microsoft.com:443/beta/auditLogs/signIns?$skiptoken=c";
        assert_eq!(links.follow(THIRD, spelled), Ok(spelled.to_owned()));
    }

    #[test]
    fn a_link_to_another_origin_is_not_followed() {
        for (next, origin) in [
            (
                "https://graph.example.net/beta/auditLogs/signIns?$skiptoken=a",
                "https://graph.example.net",
            ),
            (
                "http://graph.microsoft.com/beta/auditLogs/signIns?$skiptoken=a",
                "http://graph.microsoft.com",
            ),
            (
                "https://graph.microsoft.com:8443/beta/auditLogs/signIns?$skiptoken=a",
                "https://graph.microsoft.com:8443",
            ),
        ] {
            let graph = GraphOrigin::new(GRAPH, GRAPH);
            let mut links = Links::new(&graph);
            assert_eq!(
                message(links.follow(FIRST, next)),
                format!(
                    "Graph sent an unusable page: `@odata.nextLink` leads to {origin} instead of \
                     https://graph.microsoft.com; it is not followed, so that the token is not sent there"
                )
            );
        }
    }

    #[test]
    fn a_link_back_to_a_page_already_read_is_not_followed() {
        let graph = GraphOrigin::new(GRAPH, GRAPH);
        let mut links = Links::new(&graph);
        assert_eq!(message(links.follow(FIRST, FIRST)), ALREADY_READ);
        let mut links = Links::new(&graph);
        assert_eq!(links.follow(FIRST, SECOND), Ok(SECOND.to_owned()));
        assert_eq!(links.follow(SECOND, THIRD), Ok(THIRD.to_owned()));
        assert_eq!(message(links.follow(THIRD, SECOND)), ALREADY_READ);
    }

    /// `endpoints.graph` names a proxy: Graph's links to its own host go through the proxy with
    /// their path and query as written; links the proxy rewrote to itself are followed as they
    /// are; links anywhere else are refused.
    #[test]
    fn behind_a_proxy_links_to_graph_go_through_the_proxy() {
        let proxy = "https://egress.example.corp/msgraph/";
        let first = "https://egress.example.corp/msgraph/beta/auditLogs/signIns?$top=1000";
        let graph = GraphOrigin::new(proxy, GRAPH);
        let mut links = Links::new(&graph);
        assert_eq!(
            links.follow(first, SECOND),
            Ok(
                "https://egress.example.corp/msgraph/beta/auditLogs/signIns?$top=1000&$skiptoken=a"
                    .to_owned()
            )
        );
        let rewritten = "https://egress.example.corp/msgraph/beta/auditLogs/signIns?$skiptoken=b";
        assert_eq!(links.follow(SECOND, rewritten), Ok(rewritten.to_owned()));
        // Graph's link back to the first page, through the proxy, is the page already read
        assert_eq!(
            message(links.follow(
                rewritten,
                "https://graph.microsoft.com/beta/auditLogs/signIns?$top=1000"
            )),
            ALREADY_READ
        );
        let mut links = Links::new(&graph);
        assert_eq!(
            message(links.follow(
                first,
                "https://graph.example.net/beta/auditLogs/signIns?$skiptoken=c"
            )),
            "Graph sent an unusable page: `@odata.nextLink` leads to https://graph.example.net instead \
             of https://egress.example.corp; it is not followed, so that the token is not sent there"
        );
    }

    #[test]
    fn a_link_that_is_not_a_url_is_not_followed() {
        let graph = GraphOrigin::new(GRAPH, GRAPH);
        let mut links = Links::new(&graph);
        assert_eq!(
            message(links.follow(FIRST, "/beta/auditLogs/signIns?$skiptoken=a")),
            "Graph sent an unusable page: `@odata.nextLink` is not a URL (relative URL without a base)"
        );
    }
}
