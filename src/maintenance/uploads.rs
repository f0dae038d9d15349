//! Phase 1, `uploads/`: an upload whose newest progress is older than the upload TTL can no
//! longer be continued; what it wrote is discarded and its steps deleted. An ended upload's
//! end mark goes too, with whatever a failed end left behind.

use super::run::{Found, Run};
use crate::error::Result;
use crate::records::walk::{self, Listing};
use crate::records::Environment;
use crate::storage::{MultipartStore, ObjectInfo, ObjectStore, SessionStore};
use crate::upload::UploadState;

/// What an ended upload left behind.
enum Leftovers {
    /// Nothing: the upload discarded its data itself, or its blob record names it.
    None,
    /// What the cancel or the seal did not finish: discarded as an abandoned upload's.
    Unsealed,
    /// A copy of a blob that another upload stored first.
    Surplus,
}

impl<S, K, E> Run<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// One page of `uploads/`; `true` once the walk is over.
    pub(super) async fn uploads(&self, after: &mut Option<String>) -> Result<bool> {
        let page = self
            .list_page(Listing::Uploads, after.clone(), false)
            .await?;
        let mut ids: Vec<(String, Vec<ObjectInfo>)> = Vec::new();
        for object in page.objects {
            let Some(id) = walk::upload_of_step(&object.key).map(str::to_string) else {
                continue;
            };
            match ids.last_mut() {
                Some((last, steps)) if *last == id => steps.push(object),
                _ => ids.push((id, vec![object])),
            }
        }
        let count = ids.len();
        for (index, (id, steps)) in ids.into_iter().enumerate() {
            if self.exhausted() {
                return Ok(false);
            }
            // The last upload of a full page may go on in the next one.
            let steps = if page.truncated && index + 1 == count {
                self.list_all(Listing::UploadSteps(&id), false).await?
            } else {
                steps
            };
            self.expire_upload(&id, &steps).await?;
            *after = Some(walk::past_upload(&id));
        }
        Ok(!page.truncated)
    }

    async fn expire_upload(&self, id: &str, steps: &[ObjectInfo]) -> Result<()> {
        self.report.borrow_mut().examined.uploads += 1;
        let ttl_ms = self.maintenance.upload_ttl_seconds * 1000;
        let newest = steps.iter().map(|s| s.uploaded_ms).max().unwrap_or(0);
        if self.now_ms.saturating_sub(newest) < ttl_ms {
            return Ok(());
        }
        let keys: Vec<String> = steps.iter().map(|s| s.key.clone()).collect();
        // Steps sort in step order: the last one is the newest progress.
        let mut offset = 0;
        if let Some(last) = steps.last() {
            self.spend(1);
            // Progress that does not decode names nothing to discard; its steps still go.
            let read = self.records().read_upload_step(id, &last.key).await;
            if let Found::Record(state) = Found::of(read)? {
                if state.is_ended() {
                    // A finished or cancelled upload's end mark: reported only if the end
                    // failed and left data behind.
                    match self.end_leftovers(&state).await? {
                        Leftovers::Unsealed => {}
                        Leftovers::None => return self.delete(&keys).await,
                        Leftovers::Surplus => {
                            if !self.dry_run {
                                self.spend(1);
                                state.discard_data(self.store()).await?;
                            }
                            return self.delete(&keys).await;
                        }
                    }
                }
                offset = state.offset;
                if !self.dry_run {
                    self.spend(2);
                    if let Err(error) = state.discard(self.store()).await {
                        // Most likely completed or aborted already; R2 drops incomplete
                        // multipart uploads after 7 days in any case.
                        self.report
                            .borrow_mut()
                            .errors
                            .push(format!("upload {id}: {error:?}"));
                    }
                }
            }
        }
        self.delete(&keys).await?;
        self.deleted(format!("upload {id}"), |c| c.uploads += 1, offset);
        Ok(())
    }

    /// What an ended upload may have left behind, from its end mark and, for a finish, the
    /// blob record of the digest it closed with, which names the data once the blob is stored.
    async fn end_leftovers(&self, end: &UploadState) -> Result<Leftovers> {
        let Some(data_key) = end.data_key() else {
            return Ok(Leftovers::None);
        };
        let Some(digest) = end.closing() else {
            return Ok(Leftovers::Unsealed);
        };
        self.spend(1);
        Ok(match Found::of(self.records().blob_record(digest).await)? {
            Found::Gone => Leftovers::Unsealed,
            // A record that does not decode is left alone: never discard what may be a blob.
            Found::Undecodable => Leftovers::None,
            Found::Record(record) if record.key == data_key => Leftovers::None,
            Found::Record(_) => Leftovers::Surplus,
        })
    }
}
