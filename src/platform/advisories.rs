//! The Cron Trigger's fetch of an advisory source: the core decides what to send and what to
//! record (`jobs::advisories::refresh`), this only makes the request.

use worker::{Fetch, Headers, Method, Request, RequestInit};

use super::http::CoreBody;
use crate::jobs::advisories::Fetched;

/// GETs `url` with `headers`; a 200's body is handed on unread, to be streamed into R2.
pub async fn fetch_export(url: String, headers: Vec<(&'static str, String)>) -> Fetched<CoreBody> {
    match fetch(&url, &headers).await {
        Ok(fetched) => fetched,
        Err(error) => Fetched::Failed(format!("fetching failed: {error}")),
    }
}

async fn fetch(url: &str, headers: &[(&'static str, String)]) -> worker::Result<Fetched<CoreBody>> {
    let request_headers = Headers::new();
    for (name, value) in headers {
        request_headers.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(request_headers);
    let response = Fetch::Request(Request::new_with_init(url, &init)?)
        .send()
        .await?;
    let header = |name: &str| response.headers().get(name).ok().flatten();
    Ok(match response.status_code() {
        304 => Fetched::NotModified,
        200 => {
            let length = header("content-length").and_then(|l| l.trim().parse().ok());
            let (etag, last_modified) = (header("etag"), header("last-modified"));
            let (_, body) = response.into_parts();
            Fetched::Export {
                body: CoreBody::from_response(body),
                length,
                etag,
                last_modified,
            }
        }
        status => Fetched::Failed(format!("HTTP {status}")),
    })
}
