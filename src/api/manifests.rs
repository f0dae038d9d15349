//! `GET` / `HEAD` / `PUT` / `DELETE /v2/<name>/manifests/<reference>`.

use std::collections::BTreeMap;

use futures::future::join_all;
use futures::Stream;

use super::caching::Freshness;
use crate::api::routes::Route;
use crate::api::Api;
use crate::api::{read_bounded, Body, Request, Response, StatusCode};
use crate::error::{Error, Result};
use crate::oci::manifest::{self, Descriptor, Manifest, MAX_MANIFEST_BYTES};
use crate::oci::{Algorithm, Digest, OciError, Reference, RepositoryName, Tag};
use crate::records::layout;
use crate::records::Environment;
use crate::records::{is_untagged, tag_target, DIGEST_META};
use crate::storage::body::BodyChunk;
use crate::storage::{MultipartStore, ObjectStore, PutMode, PutOptions, SessionStore};

/// How often an untag retries when a concurrent push keeps moving the tag.
const UNTAG_ATTEMPTS: usize = 3;
/// At most this many `?tag=` parameters on a push by digest: the spec asks for at least 10,
/// and each tag is one more write of the manifest within the request's storage budget.
const MAX_TAG_PARAMETERS: usize = 10;

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(crate) async fn put_manifest<B>(
        &self,
        name: &RepositoryName,
        reference: &str,
        request: Request<B>,
    ) -> Result<Response<S::Body>>
    where
        B: Stream<Item = BodyChunk> + Unpin,
    {
        let reference = Reference::parse(reference)?;
        let tags = tags_to_apply(&reference, &request)?;
        if request
            .content_length()
            .is_some_and(|len| len > MAX_MANIFEST_BYTES as u64)
        {
            return Err(Error::ManifestTooLarge {
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let content_type = request.header("content-type").map(str::to_string);
        let bytes = read_bounded(request.body, MAX_MANIFEST_BYTES).await?;
        let manifest = manifest::parse(&bytes, content_type.as_deref())?;
        let digest = match &reference {
            Reference::Digest(claimed) => {
                let actual = Digest::of(claimed.algorithm(), &bytes);
                if &actual != claimed {
                    return Err(Error::DigestInvalid(format!(
                        "the manifest's digest is {actual}, not {claimed}"
                    )));
                }
                actual
            }
            Reference::Tag(_) => Digest::of(Algorithm::Sha256, &bytes),
        };
        self.check_references(name, &manifest, false).await?;

        let stored = |metadata: BTreeMap<String, String>| PutOptions {
            mode: PutMode::Overwrite,
            content_type: Some(manifest.media_type.clone()),
            metadata,
        };
        let manifest_key = layout::manifest(name, &digest);
        self.records
            .store
            .put(&manifest_key, bytes.clone(), stored(BTreeMap::new()))
            .await?;
        // Garbage collection may have removed a link between the check and the write; it
        // looks for new manifests after it deletes, and this looks for links after writing,
        // so that one of the two always restores it.
        self.check_references(name, &manifest, true).await?;
        if let Some(subject) = &manifest.subject {
            let descriptor = Descriptor {
                media_type: manifest.media_type.clone(),
                digest: digest.to_string(),
                size: bytes.len() as u64,
                artifact_type: manifest.artifact_type.clone(),
                annotations: manifest.annotations.clone(),
            };
            let json = serde_json::to_vec(&descriptor).expect("descriptor serialises");
            self.records
                .store
                .put(
                    &layout::referrer(name, subject, &digest),
                    json,
                    PutOptions::default(),
                )
                .await?;
        }
        // One tag at a time, so that a single copy of the manifest is in flight.
        for tag in &tags {
            let metadata = BTreeMap::from([(DIGEST_META.to_string(), digest.to_string())]);
            self.records
                .store
                .put(&layout::tag(name, tag), bytes.clone(), stored(metadata))
                .await?;
        }
        if !tags.is_empty() {
            // Retention may have deleted the (then untagged) manifest meanwhile.
            if self.records.store.head(&manifest_key).await?.is_none() {
                self.records
                    .store
                    .put(&manifest_key, bytes, stored(BTreeMap::new()))
                    .await?;
            }
        }
        self.register_repository(name).await?;

        let mut response = Response::new(StatusCode::CREATED)
            .header("Location", Route::manifest(name, &digest).to_string())
            .header("Docker-Content-Digest", digest.to_string())
            .header("Content-Length", "0");
        if let Some(subject) = &manifest.subject {
            response = response.header("OCI-Subject", subject.to_string());
        }
        if let Reference::Digest(_) = reference {
            for tag in &tags {
                response = response.header("OCI-Tag", tag.as_str());
            }
        }
        Ok(response)
    }

    /// Adds the repository to the catalog. R2 takes about one write per second per key, so
    /// the entry is read first and written (create-if-absent) only by the first push.
    async fn register_repository(&self, name: &RepositoryName) -> Result<()> {
        let key = layout::catalog_entry(name);
        if self.records.store.head(&key).await?.is_none() {
            let create = PutOptions {
                mode: PutMode::CreateOnly,
                ..PutOptions::default()
            };
            self.records.store.put(&key, Vec::new(), create).await?;
        }
        Ok(())
    }

    /// Every blob and child manifest must already be in the repository; a subject need not be.
    /// With `relink`, a missing link to a blob the registry still holds is written again.
    async fn check_references(
        &self,
        name: &RepositoryName,
        manifest: &Manifest,
        relink: bool,
    ) -> Result<()> {
        let blobs = manifest.blobs.iter().map(|digest| async move {
            if self
                .records
                .store
                .head(&layout::layer_link(name, digest))
                .await?
                .is_some()
            {
                return Ok(true);
            }
            if !relink {
                return Ok(false);
            }
            match self.records.read_record(&layout::blob(digest)).await? {
                Some(record) => self.records.write_link(name, digest, &record).await,
                None => Ok(false),
            }
        });
        for (digest, found) in manifest.blobs.iter().zip(join_all(blobs).await) {
            if !found? {
                return Err(Error::ManifestBlobUnknown(digest.clone()));
            }
        }
        let children = manifest.children.iter().map(|digest| async move {
            self.records
                .store
                .head(&layout::manifest(name, digest))
                .await
        });
        for (digest, found) in manifest.children.iter().zip(join_all(children).await) {
            if found?.is_none() {
                return Err(Error::ManifestBlobUnknown(digest.clone()));
            }
        }
        Ok(())
    }

    pub(crate) async fn get_manifest<B>(
        &self,
        name: &RepositoryName,
        reference: &str,
        request: &Request<B>,
        head_only: bool,
    ) -> Result<Response<S::Body>> {
        let reference = existing_reference(reference)?;
        let (key, freshness) = match &reference {
            Reference::Digest(digest) => (layout::manifest(name, digest), Freshness::Immutable),
            Reference::Tag(tag) => (layout::tag(name, tag), Freshness::Tag),
        };
        // A conditional GET may need no body; any other GET reads metadata and body at once.
        let conditional = request.header("if-none-match").is_some();
        let (info, mut body) = if head_only || conditional {
            (self.records.store.head(&key).await?, None)
        } else {
            match self.records.store.get(&key, None).await? {
                Some((info, body)) => (Some(info), Some(body)),
                None => (None, None),
            }
        };
        let info = info
            .filter(|i| !is_untagged(i))
            .ok_or(Error::ManifestUnknown)?;
        let digest = match &reference {
            Reference::Digest(digest) => digest.to_string(),
            Reference::Tag(_) => info
                .metadata
                .get(DIGEST_META)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("{key} has no digest")))?,
        };
        let etag = format!("\"{digest}\"");
        let cache_control = self.cache_control(name, freshness);
        if request.not_modified(&etag) {
            return Ok(Self::not_modified(etag, cache_control, digest));
        }
        if conditional && !head_only {
            body = Some(
                self.records
                    .store
                    .get(&key, None)
                    .await?
                    .ok_or(Error::ManifestUnknown)?
                    .1,
            );
        }
        let content_type = info
            .content_type
            .clone()
            .unwrap_or_else(|| manifest::OCI_MANIFEST.to_string());
        let mut response = Response::new(StatusCode::OK)
            .header("Content-Type", content_type)
            .header("Content-Length", info.size.to_string())
            .header("ETag", etag)
            .header("Cache-Control", cache_control)
            .header("Docker-Content-Digest", digest);
        if let Some(body) = body {
            response.body = Body::Object(body);
        }
        Ok(response)
    }

    pub(crate) async fn delete_manifest(
        &self,
        name: &RepositoryName,
        reference: &str,
    ) -> Result<Response<S::Body>> {
        match existing_reference(reference)? {
            Reference::Tag(tag) => {
                if !self.untag(name, &tag, None).await? {
                    return Err(Error::ManifestUnknown);
                }
            }
            Reference::Digest(digest) => {
                let key = layout::manifest(name, &digest);
                let existed = match self.records.store.get_bytes(&key).await? {
                    Some((info, bytes)) => {
                        if let Ok(parsed) = manifest::parse(&bytes, info.content_type.as_deref()) {
                            if let Some(subject) = parsed.subject {
                                self.records
                                    .store
                                    .delete(&[layout::referrer(name, &subject, &digest)])
                                    .await?;
                            }
                        }
                        self.records.store.delete(&[key]).await?;
                        true
                    }
                    // A DELETE that failed after deleting the manifest may have left tags
                    // naming it: its retry untags them.
                    None => false,
                };
                // Tags are looked for after the manifest is gone: a tag pushed meanwhile is
                // either found here, or its push finds the manifest gone and writes it again
                // (`put_manifest`). Either way no tag outlives its manifest.
                let mut untagged = false;
                for tag in self.tags_pointing_at(name, &digest).await? {
                    untagged |= self.untag(name, &tag, Some(&digest)).await?;
                }
                if !existed && !untagged {
                    return Err(Error::ManifestUnknown);
                }
            }
        }
        Ok(Response::new(StatusCode::ACCEPTED).header("Content-Length", "0"))
    }

    async fn tags_pointing_at(&self, name: &RepositoryName, digest: &Digest) -> Result<Vec<Tag>> {
        let prefix = layout::tags_prefix(name);
        let wanted = digest.to_string();
        self.records
            .list_all(&prefix, true)
            .await?
            .iter()
            .filter(|object| tag_target(object) == Some(&wanted))
            .filter_map(|object| object.key.strip_prefix(&prefix))
            .map(|tag| Ok(Tag::parse(tag)?))
            .collect()
    }

    /// Untags `tag` if it exists (and, with `only`, still points at that digest); says whether it did.
    pub(crate) async fn untag(
        &self,
        name: &RepositoryName,
        tag: &Tag,
        only: Option<&Digest>,
    ) -> Result<bool> {
        let key = layout::tag(name, tag);
        for _ in 0..UNTAG_ATTEMPTS {
            let Some(info) = self
                .records
                .store
                .head(&key)
                .await?
                .filter(|i| !is_untagged(i))
            else {
                return Ok(false);
            };
            if only.is_some_and(|d| info.metadata.get(DIGEST_META) != Some(&d.to_string())) {
                return Ok(false);
            }
            if self
                .records
                .untag_if_unchanged(name, tag, info.etag)
                .await?
            {
                return Ok(true);
            }
        }
        Err(Error::TooManyRequests)
    }
}

/// The tags a push applies: the reference itself, or on a push by digest the `?tag=`
/// parameters (each a valid tag, duplicates once), all checked before anything is written.
/// The spec defines the parameters for pushes by digest only; on a push by tag they are refused
/// rather than guessed at.
fn tags_to_apply<B>(reference: &Reference, request: &Request<B>) -> Result<Vec<Tag>> {
    let parameters = request.query_all("tag");
    match reference {
        Reference::Tag(_) if !parameters.is_empty() => Err(Error::Unsupported(
            "tag parameters apply to pushes by digest only".into(),
        )),
        Reference::Tag(tag) => Ok(vec![tag.clone()]),
        Reference::Digest(_) => {
            let mut tags: Vec<Tag> = Vec::new();
            for parameter in parameters {
                let tag = Tag::parse(parameter)?;
                if tags.contains(&tag) {
                    continue;
                }
                if tags.len() == MAX_TAG_PARAMETERS {
                    return Err(Error::TooManyTags {
                        limit: MAX_TAG_PARAMETERS,
                    });
                }
                tags.push(tag);
            }
            Ok(tags)
        }
    }
}

/// A reference to read or delete: a tag that cannot exist is simply unknown (404), as the
/// spec's "manifest not found" asks; a malformed digest stays `DIGEST_INVALID`.
fn existing_reference(reference: &str) -> Result<Reference> {
    match Reference::parse(reference) {
        Err(OciError::InvalidTag(_)) => Err(Error::ManifestUnknown),
        parsed => Ok(parsed?),
    }
}
