//! OIDC issuers reached with the Workers fetch API, as the core's [`IssuerFetch`]: the core
//! decides what to fetch and what to trust (`auth::oidc::verify`), this only makes the GET.

use std::time::Duration;

use futures::future::{self, Either};
use futures::StreamExt;
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit};

use crate::auth::oidc::verify::LocalFuture;
use crate::auth::oidc::IssuerFetch;

/// An issuer that does not answer within this long is treated as down: `/token` waits no
/// longer (the keys cached last still serve).
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct WorkersFetch;

impl IssuerFetch for WorkersFetch {
    fn get<'a>(&'a self, url: &'a str, limit: usize) -> LocalFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            let fetch = Box::pin(get(url, limit));
            match future::select(fetch, Delay::from(TIMEOUT)).await {
                Either::Left((result, _)) => result,
                Either::Right(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
            }
        })
    }
}

/// The body of a 200 answer, read no further than `limit` bytes.
async fn get(url: &str, limit: usize) -> Result<Vec<u8>, String> {
    let failed = |error: worker::Error| format!("fetching {url}: {error}");
    let headers = Headers::new();
    headers.set("accept", "application/json").map_err(failed)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let request = Request::new_with_init(url, &init).map_err(failed)?;
    let mut response = Fetch::Request(request).send().await.map_err(failed)?;
    match response.status_code() {
        200 => {}
        status => return Err(format!("{url} answered HTTP {status}")),
    }
    let mut body = Vec::new();
    let mut stream = response.stream().map_err(failed)?;
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.map_err(failed)?);
        if body.len() > limit {
            return Err(format!("{url} answered more than {limit} bytes"));
        }
    }
    Ok(body)
}
