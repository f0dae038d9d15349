//! Phase 2, `catalog/`: per repository, the manifests pushed since the last cycle are read
//! into its graph, the retention rule picks the tags to delete, and the manifests nothing
//! keeps any more are deleted, indexes before their children.

use std::collections::BTreeSet;

use super::graph::{Node, RepoGraph};
use super::retention::subject_of_tag;
use super::run::Run;
use crate::error::Result;
use crate::oci::{manifest, Digest, RepositoryName, Tag};
use crate::records::gc::GcRecord;
use crate::records::walk::{self, Listing};
use crate::records::{tag_target, Environment};
use crate::storage::{MultipartStore, ObjectStore, PutMode, SessionStore};

/// A tag as listed: its name, the digest it points at, when it was pushed, its etag.
struct ListedTag {
    tag: String,
    digest: String,
    pushed_ms: u64,
    etag: String,
}

impl<S, K, E> Run<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Repositories from the catalog, one at a time; `true` once the walk is over.
    /// `manifests_after` is the position within the repository at hand.
    pub(super) async fn repositories(
        &self,
        after: &mut Option<String>,
        manifests_after: &mut Option<String>,
    ) -> Result<bool> {
        let page = self
            .list_page(Listing::Catalog, after.clone(), false)
            .await?;
        for entry in &page.objects {
            if self.exhausted() {
                return Ok(false);
            }
            if let Some(name) = walk::catalog_repository(&entry.key) {
                if !self.repository(&name, manifests_after).await? {
                    // Out of operations half-way: this repository goes on next run.
                    return Ok(false);
                }
            }
            *after = Some(entry.key.clone());
            *manifests_after = None;
        }
        Ok(!page.truncated)
    }

    /// Brings the repository's graph up to date (reading on from `manifests_after`), applies
    /// retention, and deletes the manifests nothing keeps. `false` when the run ran out of
    /// operations first.
    async fn repository(
        &self,
        name: &RepositoryName,
        manifests_after: &mut Option<String>,
    ) -> Result<bool> {
        let mut graph = self.load_graph(name).await?;
        if !self
            .walk_manifests(name, &mut graph, manifests_after, |_, _| {})
            .await?
        {
            self.save_graph(name, &graph).await?;
            return Ok(false);
        }
        self.report.borrow_mut().examined.manifests += graph.manifests.len() as u64;

        let tags: Vec<ListedTag> = self
            .list_all(Listing::Tags(name), true)
            .await?
            .iter()
            .filter_map(|info| {
                Some(ListedTag {
                    tag: walk::listed_tag(name, &info.key)?.to_string(),
                    digest: tag_target(info)?.clone(),
                    pushed_ms: info.uploaded_ms,
                    etag: info.etag.clone(),
                })
            })
            .collect();
        self.report.borrow_mut().examined.tags += tags.len() as u64;

        let rule = self.maintenance.config.retention.rule_for(name.as_str());
        // Immutable tags are not retention's: never deleted, not counted towards `keep`.
        let immutable = |tag: &str| {
            self.maintenance
                .immutable_tags
                .is_immutable(name.as_str(), tag)
        };
        let pushed: Vec<(String, u64)> = tags
            .iter()
            .filter(|listed| !immutable(&listed.tag))
            .map(|listed| (listed.tag.clone(), listed.pushed_ms))
            .collect();
        let mut expired: BTreeSet<String> = rule
            .map(|rule| rule.expired_tags(&pushed, self.now_ms))
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut tagged: BTreeSet<String> = tags
            .iter()
            .filter(|listed| {
                !expired.contains(&listed.tag) && subject_of_tag(&listed.tag).is_none()
            })
            .map(|listed| listed.digest.clone())
            .collect();
        let untagged_max_age_ms = rule.and_then(|rule| rule.untagged_max_age_ms());
        let live = graph.live(&self.roots(&tagged, untagged_max_age_ms));
        // Tags such as sha256-<hex>.sig stay while the manifest they name does.
        for listed in &tags {
            if let Some(subject) = subject_of_tag(&listed.tag) {
                if live.contains(&subject.to_string())
                    || !self.older_than_grace(listed.pushed_ms)
                    || immutable(&listed.tag)
                {
                    tagged.insert(listed.digest.clone());
                } else {
                    expired.insert(listed.tag.clone());
                }
            }
        }
        let live = graph.live(&self.roots(&tagged, untagged_max_age_ms));

        for listed in tags.iter().filter(|listed| expired.contains(&listed.tag)) {
            let Ok(parsed) = Tag::parse(&listed.tag) else {
                continue;
            };
            // A tag pushed again since it was listed is not the one retention judged.
            if !self.dry_run {
                self.spend(1);
                if !self
                    .records()
                    .untag_if_unchanged(name, &parsed, listed.etag.clone())
                    .await?
                {
                    continue;
                }
            }
            self.deleted(format!("tag {name}:{}", listed.tag), |c| c.tags += 1, 0);
        }
        let dead: BTreeSet<String> = graph
            .manifests
            .keys()
            .filter(|digest| !live.contains(*digest))
            .cloned()
            .collect();
        // Indexes go before their children, and manifests that a tag pushed meanwhile names
        // come back before their children are judged (see `delete_manifest`).
        let parents = graph.parents();
        let mut gone = BTreeSet::new();
        for level in graph.parents_first(&dead) {
            let mut deleted = BTreeSet::new();
            for digest in level {
                let parents = parents.get(&digest).map(Vec::as_slice).unwrap_or_default();
                // A parent still there keeps it, whatever it was judged.
                if parents.iter().any(|p| !gone.contains(p)) {
                    continue;
                }
                if self.delete_manifest(name, &graph, &digest, parents).await? {
                    if !self.dry_run {
                        graph.manifests.remove(&digest);
                    }
                    deleted.insert(digest);
                }
            }
            if !deleted.is_empty() && !self.dry_run {
                self.restore_tagged(name, &deleted).await?;
            }
            gone.extend(deleted);
        }
        self.save_graph(name, &graph).await?;
        Ok(true)
    }

    /// Lists the repository's manifests page by page after `after`, which it moves on,
    /// reading those not yet in the graph and dropping from it those no longer listed;
    /// `visit` sees every manifest listed, with what it refers to. `false` if the run ran out
    /// of operations before the listing's end.
    pub(super) async fn walk_manifests(
        &self,
        name: &RepositoryName,
        graph: &mut RepoGraph,
        after: &mut Option<String>,
        mut visit: impl FnMut(&str, &Node),
    ) -> Result<bool> {
        loop {
            if self.exhausted() {
                return Ok(false);
            }
            let page = self
                .list_page(Listing::Manifests(name), after.clone(), false)
                .await?;
            let listed: BTreeSet<String> = page
                .objects
                .iter()
                .filter_map(|info| Some(walk::listed_manifest(name, &info.key)?.to_string()))
                .collect();
            // The page covers the keys after `after` up to its last (to the end if it is the
            // last page): what the graph has there and the listing does not was deleted.
            let upper = page
                .objects
                .last()
                .filter(|_| page.truncated)
                .map(|o| o.key.clone());
            graph.manifests.retain(|digest, _| {
                let Ok(parsed) = digest.parse::<Digest>() else {
                    return false;
                };
                let position = walk::manifest_position(name, &parsed);
                let in_page = after.as_ref().is_none_or(|a| &position > a)
                    && upper.as_ref().is_none_or(|u| &position <= u);
                !in_page || listed.contains(digest)
            });
            for info in &page.objects {
                let Some(digest) = walk::listed_manifest(name, &info.key).map(|d| d.to_string())
                else {
                    *after = Some(info.key.clone());
                    continue;
                };
                if let Some(node) = graph.manifests.get_mut(&digest) {
                    // A manifest pushed again is young again.
                    node.uploaded_ms = info.uploaded_ms;
                } else {
                    if self.exhausted() {
                        return Ok(false);
                    }
                    // Gone since it was listed: nothing to know about it.
                    if let Some((info, bytes)) = self.get_bytes(&info.key).await? {
                        // A stored manifest was valid when pushed; one that no longer parses
                        // refers to nothing.
                        let node = manifest::parse(&bytes, info.content_type.as_deref())
                            .map(|m| Node::new(&m, info.uploaded_ms))
                            .unwrap_or(Node {
                                uploaded_ms: info.uploaded_ms,
                                ..Node::default()
                            });
                        graph.manifests.insert(digest.clone(), node);
                    }
                }
                if let Some(node) = graph.manifests.get(&digest) {
                    visit(&digest, node);
                }
                *after = Some(info.key.clone());
            }
            if !page.truncated {
                return Ok(true);
            }
            *after = upper;
        }
    }

    /// Deletes a manifest that nothing keeps, unless it was pushed again since it was listed.
    /// `parents` are the deleted indexes that list it: should one be there again after this
    /// deletion (pushed again, or restored for a tag), its push may have found this child
    /// before the deletion, and the child is put back.
    async fn delete_manifest(
        &self,
        name: &RepositoryName,
        graph: &RepoGraph,
        digest: &str,
        parents: &[String],
    ) -> Result<bool> {
        let Ok(parsed) = digest.parse::<Digest>() else {
            return Ok(false);
        };
        let node = &graph.manifests[digest];
        self.spend(1);
        let Some((info, bytes)) = self.records().manifest_object(name, &parsed).await? else {
            return Ok(false);
        };
        if info.uploaded_ms != node.uploaded_ms {
            return Ok(false);
        }
        if !self.dry_run {
            self.spend(1);
            self.records().delete_manifest_object(name, &parsed).await?;
            if self.any_present(name, parents).await? {
                self.spend(1);
                self.records()
                    .restore_manifest(name, &parsed, bytes, info.content_type)
                    .await?;
                return Ok(false);
            }
            if let Some(subject) = node.subject.as_ref().and_then(|s| s.parse::<Digest>().ok()) {
                self.spend(1);
                self.records()
                    .delete_referrer(name, &subject, &parsed)
                    .await?;
            }
        }
        self.deleted(
            format!("manifest {name}@{digest}"),
            |c| c.manifests += 1,
            info.size,
        );
        Ok(true)
    }

    /// Whether any of these manifests is stored.
    async fn any_present(&self, name: &RepositoryName, digests: &[String]) -> Result<bool> {
        for digest in digests.iter().filter_map(|d| d.parse::<Digest>().ok()) {
            self.spend(1);
            if self.records().has_manifest(name, &digest).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A tag pushed while its manifest was being deleted brings the manifest back: tag
    /// objects hold the manifest's bytes too.
    async fn restore_tagged(
        &self,
        name: &RepositoryName,
        deleted: &BTreeSet<String>,
    ) -> Result<()> {
        let tags = self.list_all(Listing::Tags(name), true).await?;
        for info in &tags {
            let Some(digest) = tag_target(info) else {
                continue;
            };
            let (true, Ok(parsed)) = (deleted.contains(digest), digest.parse::<Digest>()) else {
                continue;
            };
            if let Some((tag_info, bytes)) = self.get_bytes(&info.key).await? {
                self.spend(1);
                self.records()
                    .restore_manifest(name, &parsed, bytes, tag_info.content_type)
                    .await?;
            }
        }
        Ok(())
    }

    /// The repository's graph as last saved: a cache, empty for a repository never seen
    /// (one that holds blobs but has no manifest yet, say).
    pub(super) async fn load_graph(&self, name: &RepositoryName) -> Result<RepoGraph> {
        if let Some(graph) = self.graphs.borrow().get(name) {
            return Ok(graph.clone());
        }
        self.spend(1);
        let graph: RepoGraph = self
            .records()
            .gc(self.dry_run)
            .read(GcRecord::Graph(name))
            .await?
            .unwrap_or_default();
        self.remember(name, graph.clone());
        Ok(graph)
    }

    /// Caches the graph for the rest of the run, with the set of blobs it refers to, which
    /// the blobs phase asks about once per link.
    pub(super) fn remember(&self, name: &RepositoryName, graph: RepoGraph) {
        let blobs = graph.blobs().into_iter().map(str::to_string).collect();
        self.referenced.borrow_mut().insert(name.clone(), blobs);
        self.graphs.borrow_mut().insert(name.clone(), graph);
    }

    /// Dry runs keep graphs of their own, so that they never stand in for what a real run read.
    pub(super) async fn save_graph(&self, name: &RepositoryName, graph: &RepoGraph) -> Result<()> {
        self.remember(name, graph.clone());
        self.spend(1);
        self.records()
            .gc(self.dry_run)
            .write(GcRecord::Graph(name), graph, PutMode::Overwrite)
            .await?;
        Ok(())
    }
}
