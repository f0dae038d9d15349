//! `GET` / `HEAD` / `PUT` / `DELETE /v2/<name>/manifests/<reference>`.

use futures::future::join_all;
use futures::Stream;

use super::caching::Freshness;
use super::webhooks::{Actor, Subject};
use crate::api::routes::Route;
use crate::api::Api;
use crate::api::{read_bounded, Body, Request, Response, StatusCode};
use crate::error::{Error, Result};
use crate::oci::manifest::{self, Descriptor, Manifest, MAX_MANIFEST_BYTES};
use crate::oci::{Algorithm, Digest, OciError, Reference, RepositoryName, Tag};
use crate::records::{Environment, TagState};
use crate::scan::image;
use crate::storage::body::BodyChunk;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use crate::webhooks::EventKind;

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
        actor: &Actor,
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
        // Immutable tags are read before anything is written: one that names other content
        // refuses the push, one that names this manifest already needs no write.
        let (claims, mutable) = self.immutable_claims(name, &tags, &digest).await?;
        let scannable = image::layers(&bytes).map(|_| ());

        let media_type = manifest.media_type.as_str();
        let bytes_len = bytes.len();
        self.records
            .put_manifest(name, &digest, bytes.clone(), media_type)
            .await?;
        // Garbage collection may have removed a link between the check and the write; it
        // looks for new manifests after it deletes, and this looks for links after writing,
        // so that one of the two always restores it.
        self.check_references(name, &manifest, true).await?;
        self.put_referrer(name, &digest, &manifest, bytes.len())
            .await?;
        // One tag at a time, so that a single copy of the manifest is in flight; immutable
        // tags first, so that a push that loses one to a racing push writes no other tag.
        self.create_immutable_tags(name, &claims, &digest, &bytes, media_type)
            .await?;
        for tag in &mutable {
            self.records
                .put_tag(name, tag, &digest, bytes.clone(), media_type)
                .await?;
        }
        // Retention may have deleted the (then untagged) manifest meanwhile.
        if !tags.is_empty() && !self.records.has_manifest(name, &digest).await? {
            self.records
                .put_manifest(name, &digest, bytes, media_type)
                .await?;
        }
        self.records.add_to_catalog(name).await?;
        self.queue_scan(name, &digest, scannable, Some(actor.source.clone()))
            .await?;
        // One event per tag applied, or one for the digest on a push without tags.
        let pushed = |tag: Option<&Tag>| Subject {
            tag: tag.map(Tag::to_string),
            digest: Some(digest.to_string()),
            media_type: Some(media_type.to_string()),
            size: Some(bytes_len as u64),
        };
        if tags.is_empty() {
            self.notify(EventKind::Push, name.as_str(), actor, pushed(None));
        }
        for tag in &tags {
            self.notify(EventKind::Push, name.as_str(), actor, pushed(Some(tag)));
        }

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

    /// Lists `manifest`, stored as `digest` of `size` bytes, among its subject's referrers.
    async fn put_referrer(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        manifest: &Manifest,
        size: usize,
    ) -> Result<()> {
        if let Some(subject) = &manifest.subject {
            let descriptor = Descriptor {
                media_type: manifest.media_type.clone(),
                digest: digest.to_string(),
                size: size as u64,
                artifact_type: manifest.artifact_type.clone(),
                annotations: manifest.annotations.clone(),
            };
            self.records
                .put_referrer(name, subject, digest, &descriptor)
                .await?;
        }
        Ok(())
    }

    /// Splits the tags a push applies into the immutable ones it creates (each with what
    /// its key held when read, and the rule that makes it immutable) and the mutable ones it
    /// overwrites. An immutable tag that
    /// already names `digest` is in neither (an idempotent retry); one that names another
    /// manifest refuses the push.
    async fn immutable_claims(
        &self,
        name: &RepositoryName,
        tags: &[Tag],
        digest: &Digest,
    ) -> Result<(Vec<Claim<'_>>, Vec<Tag>)> {
        let (mut claims, mut mutable) = (Vec::new(), Vec::new());
        for tag in tags {
            let Some(rule) = self
                .config
                .immutable_tags
                .rule_for(name.as_str(), tag.as_str())
            else {
                mutable.push(tag.clone());
                continue;
            };
            match self.records.tag_state(name, tag).await? {
                TagState::Points { digest: existing } if existing == digest.to_string() => {}
                TagState::Points { digest: existing } => {
                    return Err(moved_immutable_tag(tag, rule, &existing))
                }
                read => claims.push(Claim {
                    tag: tag.clone(),
                    read,
                    rule,
                }),
            }
        }
        Ok((claims, mutable))
    }

    /// Creates the immutable tags of `claims`, each only if its key still holds what was
    /// read: of two racing first pushes one creates the tag and the other, finding it
    /// pointing elsewhere, is refused, undoing the tags it created before.
    async fn create_immutable_tags(
        &self,
        name: &RepositoryName,
        claims: &[Claim<'_>],
        digest: &Digest,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<()> {
        let mut created = Vec::new();
        for claim in claims {
            let written = self
                .records
                .create_tag(
                    name,
                    &claim.tag,
                    &claim.read,
                    digest,
                    bytes.to_vec(),
                    media_type,
                )
                .await?;
            if let Some(etag) = written {
                created.push((&claim.tag, etag));
                continue;
            }
            // Written meanwhile: by a push of the same manifest, or of another.
            let refusal = match self.records.tag_state(name, &claim.tag).await? {
                TagState::Points { digest: existing } if existing == digest.to_string() => continue,
                TagState::Points { digest: existing } => {
                    moved_immutable_tag(&claim.tag, claim.rule, &existing)
                }
                // Written and untagged again (only while no rule covered it): a retry reads
                // it afresh.
                TagState::Absent | TagState::Untagged { .. } => Error::TooManyRequests,
            };
            for (tag, etag) in created {
                self.records.untag_if_unchanged(name, tag, etag).await?;
            }
            return Err(refusal);
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
            if self.records.has_blob_link(name, digest).await? {
                return Ok(true);
            }
            if !relink {
                return Ok(false);
            }
            self.records.relink_blob(name, digest).await
        });
        for (digest, found) in manifest.blobs.iter().zip(join_all(blobs).await) {
            if !found? {
                return Err(Error::ManifestBlobUnknown(digest.clone()));
            }
        }
        let children = manifest
            .children
            .iter()
            .map(|digest| self.records.has_manifest(name, digest));
        for (digest, found) in manifest.children.iter().zip(join_all(children).await) {
            if !found? {
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
        let freshness = match &reference {
            Reference::Digest(_) => Freshness::Immutable,
            Reference::Tag(_) => Freshness::Tag,
        };
        // A conditional GET may need no body; any other GET reads metadata and body at once.
        let conditional = request.header("if-none-match").is_some();
        let (stored, mut body) = if head_only || conditional {
            let stored = self.records.manifest_info(name, &reference).await?;
            (stored, None)
        } else {
            match self.records.manifest(name, &reference).await? {
                Some((stored, body)) => (Some(stored), Some(body)),
                None => (None, None),
            }
        };
        let stored = stored.ok_or(Error::ManifestUnknown)?;
        let etag = format!("\"{}\"", stored.digest);
        let cache_control = self.cache_control(name, freshness);
        if request.not_modified(&etag) {
            return Ok(Self::not_modified(etag, cache_control, stored.digest));
        }
        if conditional && !head_only {
            let (_, read) = self
                .records
                .manifest(name, &reference)
                .await?
                .ok_or(Error::ManifestUnknown)?;
            body = Some(read);
        }
        let content_type = stored
            .content_type
            .unwrap_or_else(|| manifest::OCI_MANIFEST.to_string());
        let mut response = Response::new(StatusCode::OK)
            .header("Content-Type", content_type)
            .header("Content-Length", stored.size.to_string())
            .header("ETag", etag)
            .header("Cache-Control", cache_control)
            .header("Docker-Content-Digest", stored.digest);
        if let Some(body) = body {
            response.body = Body::Object(body);
        }
        Ok(response)
    }

    pub(crate) async fn delete_manifest(
        &self,
        name: &RepositoryName,
        reference: &str,
        actor: &Actor,
    ) -> Result<Response<S::Body>> {
        let immutable = &self.config.immutable_tags;
        match existing_reference(reference)? {
            Reference::Tag(tag) => {
                if let Some(rule) = immutable.rule_for(name.as_str(), tag.as_str()) {
                    return match self.records.tag_state(name, &tag).await? {
                        TagState::Points { .. } => Err(Error::ImmutableTag {
                            tag: tag.to_string(),
                            rule: rule.to_string(),
                            why: "it cannot be deleted".into(),
                        }),
                        _ => Err(Error::ManifestUnknown),
                    };
                }
                // What the tag named, for the event: read only when a receiver wants it.
                let untagged = match self.wants_event(EventKind::Delete, name.as_str()) {
                    true => match self.records.tag_state(name, &tag).await? {
                        TagState::Points { digest } => Some(digest),
                        _ => None,
                    },
                    false => None,
                };
                if !self.records.untag(name, &tag, None).await? {
                    return Err(Error::ManifestUnknown);
                }
                let subject = Subject {
                    tag: Some(tag.to_string()),
                    digest: untagged,
                    ..Subject::default()
                };
                self.notify(EventKind::Delete, name.as_str(), actor, subject);
            }
            Reference::Digest(digest) => {
                // A manifest an immutable tag names stays: checked before anything is deleted.
                if immutable.applies_to(name.as_str()) {
                    let tags = self.records.tags_pointing_at(name, &digest).await?;
                    self.refuse_if_immutable(name, &digest, &tags)?;
                }
                // A DELETE that failed after deleting the manifest may have left tags naming
                // it: its retry untags them.
                let deleted = self.records.delete_manifest(name, &digest).await?;
                let existed = deleted.is_some();
                // Tags are looked for after the manifest is gone: a tag pushed meanwhile is
                // either found here, or its push finds the manifest gone and writes it again
                // (`put_manifest`). Either way no tag outlives its manifest.
                let tags = self.records.tags_pointing_at(name, &digest).await?;
                // An immutable tag pushed since the check keeps the manifest, which goes back.
                if let Err(refused) = self.refuse_if_immutable(name, &digest, &tags) {
                    if let Some((bytes, content_type)) = deleted {
                        self.restore(name, &digest, bytes, content_type).await?;
                    }
                    return Err(refused);
                }
                let mut untagged = false;
                for tag in tags {
                    untagged |= self.records.untag(name, &tag, Some(&digest)).await?;
                }
                if !existed && !untagged {
                    return Err(Error::ManifestUnknown);
                }
                let subject = Subject {
                    digest: Some(digest.to_string()),
                    media_type: deleted.as_ref().and_then(|(_, t)| t.clone()),
                    size: deleted.as_ref().map(|(bytes, _)| bytes.len() as u64),
                    ..Subject::default()
                };
                self.notify(EventKind::Delete, name.as_str(), actor, subject);
            }
        }
        Ok(Response::new(StatusCode::ACCEPTED).header("Content-Length", "0"))
    }

    /// Refuses the deletion of manifest `digest` if one of `tags`, the tags naming it, is
    /// immutable.
    fn refuse_if_immutable(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        tags: &[Tag],
    ) -> Result<()> {
        let immutable = &self.config.immutable_tags;
        for tag in tags {
            if let Some(rule) = immutable.rule_for(name.as_str(), tag.as_str()) {
                return Err(Error::ImmutableTag {
                    tag: tag.to_string(),
                    rule: rule.to_string(),
                    why: format!("it names {digest}, which cannot be deleted while it does"),
                });
            }
        }
        Ok(())
    }

    /// Puts a manifest deleted by this request back, with its entry among its subject's
    /// referrers.
    async fn restore(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        bytes: Vec<u8>,
        content_type: Option<String>,
    ) -> Result<()> {
        let size = bytes.len();
        let parsed = manifest::parse(&bytes, content_type.as_deref());
        self.records
            .restore_manifest(name, digest, bytes, content_type)
            .await?;
        if let Ok(parsed) = parsed {
            self.put_referrer(name, digest, &parsed, size).await?;
        }
        Ok(())
    }
}

/// An immutable tag a push creates: what its key held when read, and the rule (as configured)
/// that makes it immutable.
struct Claim<'a> {
    tag: Tag,
    read: TagState,
    rule: &'a str,
}

/// The refusal of a push that would point immutable `tag` (made so by `rule`) elsewhere than
/// `existing`.
fn moved_immutable_tag(tag: &Tag, rule: &str, existing: &str) -> Error {
    Error::ImmutableTag {
        tag: tag.to_string(),
        rule: rule.to_string(),
        why: format!("it names {existing}; push other content under a new tag"),
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
