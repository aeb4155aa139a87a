//! A window's pages as a stream: the first page from the window URL, then every
//! `@odata.nextLink` as given (skip tokens are never built or edited), to the end. An empty page
//! that still carries a nextLink is followed. The stream ends after the first error; the caller
//! reads the window again from its start.
//!
//! A nextLink is followed only to the origin (scheme, host, port) of the window URL, so that the
//! bearer token is never sent anywhere else, and never to a page this window already read, so
//! that a repeated link cannot keep a stream on one page.

use std::collections::HashSet;

use futures_util::Stream;

use super::client::{FetchContext, fetch_page};
use super::error::GraphError;
use super::record::PageBody;

pub fn pages<'a>(
    context: &'a FetchContext<'a>,
    first_url: String,
) -> impl Stream<Item = Result<PageBody, GraphError>> + 'a {
    async_stream::stream! {
        let mut links = Links::new(&first_url);
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
struct Links {
    origin: Option<url::Origin>,
    read: HashSet<String>,
}

impl Links {
    fn new(first_url: &str) -> Links {
        Links {
            origin: url::Url::parse(first_url).ok().map(|url| url.origin()),
            read: HashSet::new(),
        }
    }

    /// The URL to read after `current`, whose page links to `next`; an error when the link leads
    /// to another origin or back to a page already read.
    fn follow(&mut self, current: &str, next: &str) -> Result<String, GraphError> {
        self.read.insert(current.to_owned());
        let parsed = url::Url::parse(next).map_err(|error| {
            GraphError::MalformedBody(format!("`@odata.nextLink` is not a URL ({error})"))
        })?;
        let origin = parsed.origin();
        if self.origin.as_ref() != Some(&origin) {
            let expected = self.origin.as_ref().map_or_else(
                || "the window's".to_owned(),
                url::Origin::ascii_serialization,
            );
            return Err(GraphError::MalformedBody(format!(
                "`@odata.nextLink` leads to {} instead of {expected}; it is not followed, so that the \
                 token is not sent there",
                origin.ascii_serialization()
            )));
        }
        if self.read.contains(next) {
            return Err(GraphError::MalformedBody(
                "`@odata.nextLink` leads back to a page this window already read; the window is read \
                 again from its start"
                    .to_owned(),
            ));
        }
        Ok(next.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::Links;
    use crate::graph::error::GraphError;

    const FIRST: &str = "https://graph.microsoft.com/beta/auditLogs/signIns?$top=1000&$filter=x";
    const SECOND: &str =
        "https://graph.microsoft.com/beta/auditLogs/signIns?$top=1000&$skiptoken=a";
    const THIRD: &str = "https://graph.microsoft.com/beta/auditLogs/signIns?$top=1000&$skiptoken=b";

    fn message(outcome: Result<String, GraphError>) -> String {
        match outcome {
            Err(error) => error.to_string(),
            Ok(url) => panic!("expected a refusal, got {url}"),
        }
    }

    #[test]
    fn links_to_new_pages_of_the_same_origin_are_followed() {
        let mut links = Links::new(FIRST);
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
            let mut links = Links::new(FIRST);
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
        let mut links = Links::new(FIRST);
        assert_eq!(
            message(links.follow(FIRST, FIRST)),
            "Graph sent an unusable page: `@odata.nextLink` leads back to a page this window already \
             read; the window is read again from its start"
        );
        let mut links = Links::new(FIRST);
        assert_eq!(links.follow(FIRST, SECOND), Ok(SECOND.to_owned()));
        assert_eq!(links.follow(SECOND, THIRD), Ok(THIRD.to_owned()));
        assert!(message(links.follow(THIRD, SECOND)).contains("already read"));
    }

    #[test]
    fn a_link_that_is_not_a_url_is_not_followed() {
        let mut links = Links::new(FIRST);
        assert_eq!(
            message(links.follow(FIRST, "/beta/auditLogs/signIns?$skiptoken=a")),
            "Graph sent an unusable page: `@odata.nextLink` is not a URL (relative URL without a base)"
        );
    }
}
