//! Links given back: after the blobs phase deleted links, a manifest pushed in the meantime
//! may name one of them. Until they are restored, such a manifest lacks its blobs, so this
//! comes before any other work of the next runs.

use std::collections::{BTreeMap, BTreeSet};

use super::run::{Relink, Run};
use crate::error::Result;
use crate::oci::Digest;
use crate::records::walk;
use crate::records::Environment;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

impl<S, K, E> Run<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// A manifest pushed since links were deleted that refers to one of them gets it back
    /// (the blob's record outlives its links by a cycle). Every manifest of the repository is
    /// looked at, whatever the graph knew: one that names a deleted link was pushed after the
    /// graph the deletion went by. Returns when all are done or the run is out of
    /// operations; the rest is in `relink`, for the next run to do first.
    pub(super) async fn relink(&self, relink: &mut BTreeMap<String, Relink>) -> Result<()> {
        while let Some(mut entry) = relink.first_entry() {
            let Some(name) = walk::stored_name(entry.key()) else {
                entry.remove();
                continue;
            };
            let pending = entry.get_mut();
            let mut graph = self.load_graph(&name).await?;
            let mut wanted = BTreeSet::new();
            let finished = self
                .walk_manifests(&name, &mut graph, &mut pending.after, |_, node| {
                    wanted.extend(
                        node.blobs
                            .iter()
                            .filter(|b| pending.digests.contains(*b))
                            .cloned(),
                    );
                })
                .await?;
            for digest in wanted.iter().filter_map(|d| d.parse::<Digest>().ok()) {
                self.spend(3);
                if let Some(record) = self.records().blob_record(&digest).await? {
                    self.records().write_link(&name, &digest, &record).await?;
                }
            }
            self.save_graph(&name, &graph).await?;
            pending.digests.retain(|digest| !wanted.contains(digest));
            if !finished && !pending.digests.is_empty() {
                return Ok(());
            }
            entry.remove();
        }
        Ok(())
    }
}
