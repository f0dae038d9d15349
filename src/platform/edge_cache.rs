//! The Workers Cache API, per data center, for what the core marks cacheable (see
//! `api::caching`): lookups before the registry runs, stores after it answered.

use worker::{Cache, Context, Headers, Response};

use crate::api;

/// A cached answer, or a 304 when the client holds it already. Cache failures are misses.
pub async fn lookup<B>(key: &str, request: &api::Request<B>) -> Option<Response> {
    let hit = Cache::default().get(key, false).await.ok()??;
    let etag = hit.headers().get("ETag").ok()??;
    if request.not_modified(&etag) {
        let not_modified = Response::empty().ok()?.with_status(304);
        for name in ["ETag", "Cache-Control", "Docker-Content-Digest"] {
            if let Some(value) = hit.headers().get(name).ok()? {
                not_modified.headers().set(name, &value).ok()?;
            }
        }
        return Some(not_modified);
    }
    // A cached response's headers are immutable: the answer gets a copy.
    let headers = Headers::new();
    for (name, value) in hit.headers().entries() {
        headers.append(&name, &value).ok()?;
    }
    headers.set("X-Cache", "HIT").ok()?;
    Some(hit.with_headers(headers))
}

/// Answers with `response` and keeps a copy, under `cache_control`, once the answer is on
/// its way.
pub fn store(
    key: String,
    mut response: Response,
    cache_control: &str,
    ctx: &Context,
) -> worker::Result<Response> {
    let mut copy = response.cloned()?;
    copy.headers_mut().set("Cache-Control", cache_control)?;
    let in_flight = super::guard::InFlight::enter();
    ctx.wait_until(async move {
        let _in_flight = in_flight;
        if let Err(error) = Cache::default().put(key.as_str(), copy).await {
            worker::console_warn!("edge cache put failed: {error}");
        }
    });
    response.headers_mut().set("X-Cache", "MISS")?;
    Ok(response)
}

/// Drops what a write or delete made stale, in this data center, before the client hears
/// it succeeded: its next read here must not see the old answer.
pub async fn purge(key: &str) {
    if let Err(error) = Cache::default().delete(key, false).await {
        worker::console_warn!("edge cache delete failed: {error}");
    }
}
