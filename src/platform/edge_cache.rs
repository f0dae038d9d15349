//! The Workers Cache API, per data center, as the core's [`EdgeCache`]: it looks up, stores
//! and purges what the core asks (see `api::caching`), and decides nothing.

use ::http::StatusCode;
use worker::{Cache, Context, Response, ResponseBody};

use super::http;
use crate::api::caching::{CacheKey, EdgeCache};
use crate::api::{self, Body};
use crate::error::{Error, Result};

pub struct WorkersCache<'a> {
    /// Keeps the worker alive for a store that completes after the answer was sent.
    ctx: &'a Context,
}

impl<'a> WorkersCache<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        WorkersCache { ctx }
    }
}

impl EdgeCache for WorkersCache<'_> {
    type Body = ResponseBody;

    async fn lookup(&self, key: &CacheKey) -> Option<api::Response<ResponseBody>> {
        let hit = Cache::default().get(key.as_str(), false).await.ok()??;
        into_core(hit).ok()
    }

    fn store(
        &self,
        key: CacheKey,
        response: api::Response<ResponseBody>,
        cache_control: &str,
    ) -> Result<api::Response<ResponseBody>> {
        let failed = |error: worker::Error| Error::Internal(format!("edge cache: {error}"));
        let mut response = http::from_core(response).map_err(failed)?;
        let mut copy = response.cloned().map_err(failed)?;
        copy.headers_mut()
            .set("Cache-Control", cache_control)
            .map_err(failed)?;
        let in_flight = super::guard::InFlight::enter();
        self.ctx.wait_until(async move {
            let _in_flight = in_flight;
            if let Err(error) = Cache::default().put(key.as_str(), copy).await {
                worker::console_warn!("edge cache put failed: {error}");
            }
        });
        into_core(response)
    }

    async fn purge(&self, key: &CacheKey) {
        if let Err(error) = Cache::default().delete(key.as_str(), false).await {
            worker::console_warn!("edge cache delete failed: {error}");
        }
    }
}

/// A response of the runtime's as the core's, its body still the runtime's stream. (A cached
/// response's headers are immutable: the core's copy of them is sent instead.)
fn into_core(response: Response) -> Result<api::Response<ResponseBody>> {
    let status = StatusCode::from_u16(response.status_code())
        .map_err(|error| Error::Internal(format!("edge cache: {error}")))?;
    let headers = api::header_map(response.headers().entries())?;
    let (_, body) = response.into_parts();
    Ok(api::Response {
        status,
        headers,
        body: Body::Object(body),
    })
}
