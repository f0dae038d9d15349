//! Advisory work outside requests: one indexing step per queued message, and the Cron
//! Trigger's refresh from `ADVISORY_SOURCES` (see `records::advisories`).

use std::future::Future;

use serde::Serialize;

use crate::config::AdvisorySource;
use crate::error::Result;
use crate::records::advisories::{ecosystem_name, Validators};
use crate::records::{Environment, Records};
use crate::storage::body::RequestBody;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

/// Runs one step of indexing `load` of `ecosystem` (or of deleting what it replaced); the
/// step queues the next one in the records' outbox.
pub async fn index_step<S, K, E>(
    records: &Records<S, K, E>,
    ecosystem: &str,
    load: &str,
) -> Result<()>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    Ok(records.index_advisories_step(ecosystem, load).await?)
}

/// What the platform's fetch of a source URL answered.
pub enum Fetched<B> {
    /// 304: the export did not change since it was last fetched.
    NotModified,
    /// 200: the export, with its length if the answer said, and its validators.
    Export {
        body: B,
        length: Option<u64>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    /// Any other answer, or no answer.
    Failed(String),
}

/// What a refresh did with one source, for the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refreshed {
    pub url: String,
    /// `unchanged`, `loading`, or why the refresh failed.
    pub outcome: String,
}

/// Refreshes each source: `fetch` gets its URL and the conditional headers to send, and an
/// export that changed starts a load, as `PUT /_advisories/<ecosystem>` would. Loads whose
/// steps stopped (a message lost) are queued again.
pub async fn refresh<S, K, E, B, F, Fut>(
    records: &Records<S, K, E>,
    sources: &[AdvisorySource],
    part_size: u64,
    fetch: F,
) -> Result<Vec<Refreshed>>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
    B: RequestBody<Whole = S::Incoming>,
    F: Fn(String, Vec<(&'static str, String)>) -> Fut,
    Fut: Future<Output = Fetched<B>>,
{
    records.resume_stalled_advisories().await?;
    let mut report = Vec::new();
    for source in sources {
        let headers = records
            .refresh_headers(source.ecosystem, &source.url)
            .await?;
        let outcome = match fetch(source.url.clone(), headers).await {
            Fetched::NotModified => "unchanged".to_string(),
            Fetched::Failed(why) => why,
            Fetched::Export {
                body,
                length,
                etag,
                last_modified,
            } => {
                let fetched = Validators {
                    url: source.url.clone(),
                    etag,
                    last_modified,
                };
                let loaded = records
                    .load_advisories(
                        source.ecosystem,
                        &source.url,
                        Some(fetched),
                        body,
                        length,
                        part_size,
                    )
                    .await;
                match loaded {
                    Ok(_) => format!("loading {}", ecosystem_name(source.ecosystem)),
                    Err(error) => format!("storing the export failed: {error}"),
                }
            }
        };
        report.push(Refreshed {
            url: source.url.clone(),
            outcome,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
