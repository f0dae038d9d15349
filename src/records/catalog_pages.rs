//! What the web catalog's pages read beyond the API's records: a repository's tags with
//! their targets and push times from one bounded listing, a tag's manifest bytes, and a small
//! blob (an image config) read whole up to a limit.

use super::tags::tag_target;
use super::{layout, Environment, Records};
use crate::oci::{Digest, RepositoryName, Tag};
use crate::storage::{
    ListOptions, MultipartStore, ObjectStore, SessionStore, StorageResult, LIST_PAGE_MAX,
};

/// A live tag as a listing shows it, without reading the tag object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedTag {
    pub tag: String,
    /// The manifest digest the tag points at.
    pub digest: String,
    /// When the tag was last pushed (ms).
    pub pushed_ms: u64,
}

/// A repository's tags as far as a bounded listing went.
pub(crate) struct TagListing {
    pub tags: Vec<ListedTag>,
    /// Whether every tag was listed (the listing ended before its list calls ran out).
    pub complete: bool,
}

/// A manifest's bytes and the media type it was pushed with.
pub(crate) struct ManifestBytes {
    pub digest: String,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// `name`'s live tags in key order, in at most `list_calls` list calls (each up to
    /// 1,000 keys, with metadata): the tags' digests and push times come from the listing.
    pub(crate) async fn tag_listing(
        &self,
        name: &RepositoryName,
        list_calls: usize,
    ) -> StorageResult<TagListing> {
        let prefix = layout::tags_prefix(name);
        let mut options = ListOptions {
            prefix: prefix.clone(),
            limit: LIST_PAGE_MAX,
            with_metadata: true,
            ..ListOptions::default()
        };
        let mut tags = Vec::new();
        for _ in 0..list_calls {
            let page = self.store.list(&options).await?;
            options.start_after = page.objects.last().map(|o| o.key.clone());
            for object in &page.objects {
                let (Some(digest), Some(tag)) =
                    (tag_target(object), object.key.strip_prefix(&prefix))
                else {
                    continue;
                };
                tags.push(ListedTag {
                    tag: tag.to_string(),
                    digest: digest.clone(),
                    pushed_ms: object.uploaded_ms,
                });
            }
            if !page.truncated {
                return Ok(TagListing {
                    tags,
                    complete: true,
                });
            }
        }
        Ok(TagListing {
            tags,
            complete: false,
        })
    }

    /// The manifest `tag` holds (one read: the tag object holds its bytes); `None` when there
    /// is no such tag.
    pub(crate) async fn tagged_manifest(
        &self,
        name: &RepositoryName,
        tag: &Tag,
    ) -> StorageResult<Option<ManifestBytes>> {
        let Some((info, bytes)) = self.store.get_bytes(&layout::tag(name, tag)).await? else {
            return Ok(None);
        };
        Ok(tag_target(&info).map(|digest| ManifestBytes {
            digest: digest.clone(),
            content_type: info.content_type.clone(),
            bytes,
        }))
    }

    /// The manifest `digest` of `name` (one read).
    pub(crate) async fn manifest_bytes(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> StorageResult<Option<ManifestBytes>> {
        let object = self
            .store
            .get_bytes(&layout::manifest(name, digest))
            .await?;
        Ok(object.map(|(info, bytes)| ManifestBytes {
            digest: digest.to_string(),
            content_type: info.content_type,
            bytes,
        }))
    }

    /// The bytes of blob `digest` as `name` links it, if it has at most `limit` of them: the
    /// link and then its data (two reads for a blob stored whole). `None` when `name` does
    /// not link the blob or it is larger.
    pub(crate) async fn small_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        limit: usize,
    ) -> StorageResult<Option<Vec<u8>>> {
        let Some(mut chunks) = self.blob_chunks(name, digest).await? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = self.next_chunk(&mut chunks).await? {
            if bytes.len() + chunk.len() > limit {
                return Ok(None);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }
}
