//! A window's pages as a stream: the first page from the window URL, then every
//! `@odata.nextLink` as given (skip tokens are never built or edited), to the end. An empty page
//! that still carries a nextLink is followed. The stream ends after the first error; the caller
//! reads the window again from its start.

use futures_util::Stream;

use super::client::{FetchContext, fetch_page};
use super::error::GraphError;
use super::record::PageBody;

pub fn pages<'a>(
    context: &'a FetchContext<'a>,
    first_url: String,
) -> impl Stream<Item = Result<PageBody, GraphError>> + 'a {
    async_stream::stream! {
        let mut url = first_url;
        loop {
            match fetch_page(context, &url).await {
                Ok(page) => {
                    let next = page.next_link().map(str::to_owned);
                    yield Ok(page);
                    match next {
                        Some(next) => url = next,
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
