//! Public repositories' large blobs from a public bucket (`PUBLIC_BLOBS_BUCKET` on a custom
//! domain, `PUBLIC_BLOB_BASE_URL`), so that Cloudflare's CDN serves them near every puller.
//!
//! The registry's own bucket stays private: it holds private manifests, tags, records and
//! upload progress, all readable by name if the bucket were public. The public bucket holds
//! only bytes of blobs that a public repository links, under their digest (`<alg>/<hex>`),
//! which anyone may pull anyway. A blob is copied there on its first redirected pull, from
//! the registry's bucket (the binding has no server-side copy: the runtime streams it, of
//! known length, checked against the digest), and maintenance deletes it once no public
//! repository links it (`maintenance::public_blobs`).
//!
//! Why on first pull rather than when a blob is linked: only blobs that are pulled cost the
//! copy (one class A write and the bucket's storage), pushes to public repositories stay as
//! fast as before, and the copy happens where the link was just checked. The first pull
//! waits for the copy; every later one is a class B head and a redirect to the CDN.

use crate::api::Api;
use crate::error::{Error, Result};
use crate::oci::{Digest, RepositoryName};
use crate::records::{BlobRecord, Environment, PublicCopy};
use crate::storage::{MultipartStore, ObjectStore, SessionStore, MAX_SINGLE_PUT};

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// The public bucket's URL of a blob of a public repository, its bytes copied there
    /// first if they are not yet; `None` where the blob is served otherwise: private
    /// repositories, no public bucket, a blob too large for one put, or a copy that a
    /// concurrent pull of the same blob is making (R2 refuses a second write to one key
    /// within a second): those get a signed URL.
    pub(crate) async fn public_blob_url(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        record: &BlobRecord,
    ) -> Result<Option<String>> {
        let base = self
            .config
            .blob_urls
            .as_ref()
            .and_then(|urls| urls.public_base_url.as_ref());
        let Some(base) = base else {
            return Ok(None);
        };
        if self.auth.policy.is_private(name.as_str()) || record.size > MAX_SINGLE_PUT {
            return Ok(None);
        }
        match self.records.copy_to_public_bucket(digest, record).await? {
            PublicCopy::At(key) => Ok(Some(format!("{}/{key}", base.trim_end_matches('/')))),
            PublicCopy::NoBucket | PublicCopy::Busy => Ok(None),
            // Bytes gone from under their record: unknown, as on every other pull path.
            PublicCopy::DataGone => Err(Error::BlobUnknown(digest.clone())),
        }
    }
}
