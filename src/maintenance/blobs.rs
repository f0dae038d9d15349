//! Phase 3, `blobs/`: each blob's record is followed by its links, one per repository. A link
//! that no manifest of its repository refers to is deleted (and remembered for `relink.rs`),
//! and a blob without links loses its record and then its bytes.

use std::collections::{BTreeMap, BTreeSet};

use super::run::{Found, Relink, Run};
use crate::error::Result;
use crate::oci::{Digest, RepositoryName};
use crate::records::walk::{self, BlobKey, Listing};
use crate::records::Environment;
use crate::storage::{MultipartStore, ObjectInfo, ObjectStore, SessionStore};

/// Consecutive keys under `blobs/` of one digest: its record, then its links.
pub(super) struct BlobGroup {
    pub(super) digest: Digest,
    pub(super) record: Option<ObjectInfo>,
    pub(super) links: Vec<(RepositoryName, ObjectInfo)>,
}

impl<S, K, E> Run<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// One page of `blobs/`; `true` once the walk is over. Links deleted are added to
    /// `relink`.
    pub(super) async fn blobs(
        &self,
        after: &mut Option<String>,
        relink: &mut BTreeMap<String, Relink>,
    ) -> Result<bool> {
        let page = self.list_page(Listing::Blobs, after.clone(), false).await?;
        let last_key = page.objects.last().map(|o| o.key.clone());
        let mut groups: Vec<BlobGroup> = Vec::new();
        for object in page.objects {
            let Some(key) = BlobKey::parse(&object.key) else {
                continue;
            };
            if groups.last().is_none_or(|g| &g.digest != key.digest()) {
                groups.push(BlobGroup {
                    digest: key.digest().clone(),
                    record: None,
                    links: Vec::new(),
                });
            }
            let group = groups.last_mut().expect("just pushed");
            match key {
                BlobKey::Record(_) => group.record = Some(object),
                BlobKey::Link(_, name) => group.links.push((name, object)),
            }
        }
        if page.truncated {
            // The last blob's links may go on in the next page: read them all now.
            if let Some(last) = groups.last_mut() {
                let links = self
                    .list_all(Listing::BlobLinks(&last.digest), false)
                    .await?;
                last.links = links
                    .into_iter()
                    .filter_map(|info| match BlobKey::parse(&info.key)? {
                        BlobKey::Link(_, name) => Some((name, info)),
                        BlobKey::Record(_) => None,
                    })
                    .collect();
            }
        }
        let swept_from = after.clone();
        if groups.is_empty() {
            // Nothing here is ours to judge; the walk (and the sweep) goes on past it.
            *after = last_key.or(after.take());
        }
        let mut unlinked: BTreeMap<RepositoryName, BTreeSet<Digest>> = BTreeMap::new();
        let mut finished = !page.truncated;
        for group in &groups {
            if self.exhausted() {
                finished = false;
                break;
            }
            self.blob(group, &mut unlinked, relink).await?;
            *after = Some(walk::past_blob(&group.digest));
        }
        let swept_to = self
            .sweep_public_blobs(
                swept_from.as_deref(),
                after.as_deref(),
                finished,
                &groups,
                &unlinked,
            )
            .await?;
        if let Some(swept_to) = swept_to {
            // Out of operations before the sweep caught up: the walk goes on from there.
            *after = Some(walk::blobs_position(&swept_to));
            finished = false;
        }
        Ok(finished)
    }

    /// Deletes the blob's links that no manifest of their repository refers to, and the blob
    /// itself when no repository links it. Each link is added to `relink` before it is
    /// deleted, so that no failure later in the run can lose it.
    async fn blob(
        &self,
        group: &BlobGroup,
        unlinked: &mut BTreeMap<RepositoryName, BTreeSet<Digest>>,
        relink: &mut BTreeMap<String, Relink>,
    ) -> Result<()> {
        let digest = group.digest.to_string();
        {
            let mut report = self.report.borrow_mut();
            report.examined.links += group.links.len() as u64;
            report.examined.blobs += u64::from(group.record.is_some());
        }
        for (name, link) in &group.links {
            if !self.older_than_grace(link.uploaded_ms) || self.refers_to(name, &digest).await? {
                continue;
            }
            // A manifest push may have written the link again since it was listed.
            self.spend(1);
            let Some(current) = self.store().head(&link.key).await? else {
                continue;
            };
            if current.uploaded_ms != link.uploaded_ms {
                continue;
            }
            if !self.dry_run {
                let pending = relink.entry(name.to_string()).or_default();
                pending.digests.insert(digest.clone());
            }
            self.delete(std::slice::from_ref(&link.key)).await?;
            unlinked
                .entry(name.clone())
                .or_default()
                .insert(group.digest.clone());
            self.deleted(format!("link {name}@{digest}"), |c| c.links += 1, 0);
        }
        // A blob whose last links went just now keeps its record until the next cycle, so
        // that a manifest pushed meanwhile can still link it again.
        match &group.record {
            Some(record) if group.links.is_empty() && self.older_than_grace(record.uploaded_ms) => {
                self.delete_blob(&group.digest, record).await
            }
            _ => Ok(()),
        }
    }

    /// Whether a manifest of `name` refers to the blob: its graph says so, or a manifest
    /// pushed since the graph was made does.
    async fn refers_to(&self, name: &RepositoryName, digest: &str) -> Result<bool> {
        let known = |run: &Self| {
            run.referenced
                .borrow()
                .get(name)
                .map(|b| b.contains(digest))
        };
        let refers = match known(self) {
            Some(refers) => refers,
            None => {
                self.load_graph(name).await?;
                known(self).unwrap_or(true)
            }
        };
        if refers || self.refreshed.borrow().contains(name) {
            return Ok(refers);
        }
        let mut fresh = self.load_graph(name).await?;
        if !self
            .walk_manifests(name, &mut fresh, &mut None, |_, _| {})
            .await?
        {
            return Ok(true);
        }
        self.remember(name, fresh);
        self.refreshed.borrow_mut().insert(name.clone());
        Ok(known(self).unwrap_or(true))
    }

    /// Deletes the record first, then looks for links once more: a link written meanwhile
    /// gets the record back, and one written later finds it gone (see `write_link`). Only
    /// then are the bytes deleted.
    async fn delete_blob(&self, digest: &Digest, info: &ObjectInfo) -> Result<()> {
        self.spend(1);
        // One that does not decode names no bytes to delete.
        let Found::Record(record) = Found::of(self.records().blob_record(digest).await)? else {
            return Ok(());
        };
        if !self.dry_run {
            self.delete(std::slice::from_ref(&info.key)).await?;
            let links = self
                .list_page(Listing::BlobLinks(digest), None, false)
                .await?;
            if !links.objects.is_empty() {
                self.spend(1);
                self.records().restore_blob_record(digest, &record).await?;
                return Ok(());
            }
            self.delete(&record.keys()).await?;
        }
        self.deleted(format!("blob {digest}"), |c| c.blobs += 1, record.size);
        Ok(())
    }
}
