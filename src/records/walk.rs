//! The keyspaces maintenance walks, in key order and page by page, and what their keys name.
//! A walk's position is the last key it dealt with (saved between runs), or a key made to
//! sort past a group of keys: an upload's steps, a blob's record and links.

use super::{layout, Environment, Records};
use crate::oci::{Digest, RepositoryName};
use crate::storage::{
    ListOptions, ListPage, MultipartStore, ObjectStore, SessionStore, StorageResult, LIST_PAGE_MAX,
};

pub use layout::{public_blob_digest, stored_name, BlobKey};

/// A keyspace, listed in key order.
#[derive(Debug, Clone, Copy)]
pub enum Listing<'a> {
    /// Every upload's steps, upload after upload.
    Uploads,
    /// One upload's steps, oldest first.
    UploadSteps(&'a str),
    /// The repositories.
    Catalog,
    /// Every blob's record, each followed by its links ([`BlobKey`]).
    Blobs,
    /// The links to one blob, one per repository.
    BlobLinks(&'a Digest),
    /// A repository's manifests.
    Manifests(&'a RepositoryName),
    /// A repository's tags, with untagged markers.
    Tags(&'a RepositoryName),
}

impl Listing<'_> {
    fn prefix(self) -> String {
        match self {
            Listing::Uploads => layout::UPLOADS_PREFIX.to_string(),
            Listing::UploadSteps(id) => layout::upload_prefix(id),
            Listing::Catalog => layout::CATALOG_PREFIX.to_string(),
            Listing::Blobs => layout::BLOBS_PREFIX.to_string(),
            Listing::BlobLinks(digest) => layout::layer_links_prefix(digest),
            Listing::Manifests(name) => layout::manifests_prefix(name),
            Listing::Tags(name) => layout::tags_prefix(name),
        }
    }
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// One page of `listing`, the keys after the position `after`.
    pub(crate) async fn list_page(
        &self,
        listing: Listing<'_>,
        after: Option<String>,
        with_metadata: bool,
    ) -> StorageResult<ListPage> {
        let options = ListOptions {
            prefix: listing.prefix(),
            start_after: after,
            limit: LIST_PAGE_MAX,
            with_metadata,
        };
        self.store.list(&options).await
    }
}

/// The upload a key of [`Listing::Uploads`] is a step of.
pub fn upload_of_step(key: &str) -> Option<&str> {
    layout::upload_id(key)
}

/// The position past every step of upload `id`: step numbers are digits, '~' sorts after them.
pub fn past_upload(id: &str) -> String {
    format!("{}~", layout::upload_prefix(id))
}

/// The repository a key of [`Listing::Catalog`] names.
pub fn catalog_repository(key: &str) -> Option<RepositoryName> {
    stored_name(key.strip_prefix(layout::CATALOG_PREFIX)?)
}

/// The position past a blob's record and every link to it: '~' sorts after name characters.
pub fn past_blob(digest: &Digest) -> String {
    format!("{}~", layout::layer_links_prefix(digest))
}

/// The manifest a key of [`Listing::Manifests`] of `name` holds.
pub fn listed_manifest(name: &RepositoryName, key: &str) -> Option<Digest> {
    layout::manifest_digest(name, key)
}

/// Where manifest `digest` of `name` sorts in [`Listing::Manifests`].
pub fn manifest_position(name: &RepositoryName, digest: &Digest) -> String {
    layout::manifest(name, digest)
}

/// The tag a key of [`Listing::Tags`] of `name` holds.
pub fn listed_tag<'k>(name: &RepositoryName, key: &'k str) -> Option<&'k str> {
    key.strip_prefix(&layout::tags_prefix(name))
}

/// The public-blobs bucket's keys are the blob records' keys without `blobs/`, so they sort
/// alike: a position in [`Listing::Blobs`] as a position in that bucket.
pub fn public_position(blobs_position: &str) -> Option<String> {
    blobs_position
        .strip_prefix(layout::BLOBS_PREFIX)
        .map(String::from)
}

/// A position in the public-blobs bucket as a position in [`Listing::Blobs`].
pub fn blobs_position(public_position: &str) -> String {
    format!("{}{public_position}", layout::BLOBS_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Tag;

    #[test]
    fn a_position_past_an_upload_sorts_after_its_steps_and_before_the_next_upload() {
        let (id, next) = (
            "0123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdf0",
        );
        let past = past_upload(id);
        assert!(layout::upload_step(id, u32::MAX) < past);
        assert!(past < layout::upload_step(next, 0));
        assert_eq!(upload_of_step(&layout::upload_step(id, 3)), Some(id));
    }

    #[test]
    fn keys_of_the_listings_parse_back() {
        let name = RepositoryName::parse("team/app", "").unwrap();
        let digest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(
            catalog_repository(&layout::catalog_entry(&name)),
            Some(name.clone())
        );
        let tag = Tag::parse("v1.2").unwrap();
        assert_eq!(listed_tag(&name, &layout::tag(&name, &tag)), Some("v1.2"));
        let position = manifest_position(&name, &digest);
        assert_eq!(listed_manifest(&name, &position), Some(digest.clone()));
        // The public bucket's keys and the blob records' sort alike, one for one.
        let record = layout::blob(&digest);
        assert_eq!(public_position(&record), Some(layout::public_blob(&digest)));
        assert_eq!(blobs_position(&layout::public_blob(&digest)), record);
    }
}
