//! Every key the registry writes, in one place.
//!
//! ```text
//! data/<id>                                   blob bytes, written once by a finished upload
//! data/<id>.<n>                               segment n (from 1) of a blob too large for one
//!                                             multipart upload (data/<id> is segment 0)
//! blobs/<alg>/<hex>                           {"size","key"[,"segments"]}: which data objects
//!                                             hold a digest
//! blobs/<alg>/<hex>/repos/<name>              the same record: the repository holds this blob
//! repos/<name>/_manifests/<alg>/<hex>         manifest bytes as pushed (Content-Type kept)
//! repos/<name>/_tags/<tag>                    the tagged manifest's bytes again, its digest in
//!                                             metadata; an empty object marked untagged once deleted
//! repos/<name>/_referrers/<alg>/<hex>/<alg>-<hex>
//!                                             descriptor of a manifest whose subject is <alg>:<hex>
//! repos/<name>/_scans/<alg>/<hex>             the scan of the image <alg>:<hex> (JSON), when it
//!                                             was last matched in metadata
//! scans/sweep                                 when the newest sweep over every image's scan began (JSON)
//! catalog/<name>                              empty: the repository exists
//! uploads/<id>/<step>                         upload progress after the newest accepted request; an
//!                                             end mark once the upload is finished or cancelled
//! gc/state, gc/dry-run-state                  where maintenance stands (JSON)
//! gc/lease, gc/dry-run-lease                  until when one maintenance run works alone (JSON)
//! gc/repos/<name>, gc/dry-run-repos/<name>    a repository's manifests and what they reference
//! advisories/<eco>/status                     the ecosystem's advisories (JSON): the current
//!                                             generation, the load under way, what is left to delete
//! advisories/<eco>/loads/<load>.zip           an OSV export as uploaded or fetched, until indexed
//! advisories/<eco>/gen/<load>/seg/<bb>/<step> the advisories of one indexing step whose package
//!                                             names hash to bucket <bb> (hex), one per line
//! advisories/<eco>/gen/<load>/bucket/<bb>     every advisory of bucket <bb>: the segments joined
//! ```
//!
//! An ecosystem's advisories are one generation per load, named by the load's id. Matching an
//! image reads at most one bucket object per package name of the current generation (the one
//! `status` names), so it costs a bounded number of reads however many advisories there are;
//! indexing writes a new generation in bounded steps and switches `status` to it in one write.
//!
//! The upload sessions' KV namespace holds upload sessions and OIDC issuers' keys:
//!
//! ```text
//! upload/<id>                                 the session (JSON), written once when it starts
//! oidc-keys/<sha256 of the issuer, hex>       an issuer's published keys, when they were fetched
//!                                             and last tried (JSON), for a day
//! ```
//!
//! The public-blobs bucket (`PUBLIC_BLOBS_BUCKET`, README "Pulls") holds one kind of key only:
//!
//! ```text
//! <alg>/<hex>                                 the bytes of a blob a public repository links
//! ```
//!
//! Names never contain a component starting with `_`, so `repos/<name>/_...` cannot collide
//! with another repository's keys. One fact per key keeps every write a create-if-absent, an
//! idempotent overwrite, or a compare-and-swap: there is no shared index to lock. A blob's
//! links sort right after its record, so one ordered listing of `blobs/` tells garbage
//! collection which repositories hold each blob.

use crate::oci::{Digest, RepositoryName, Tag};

/// Where blob bytes live; the only objects the worker's signed URLs may name.
pub const DATA_PREFIX: &str = "data/";

pub fn data(id: &str) -> String {
    format!("{DATA_PREFIX}{id}")
}

pub const BLOBS_PREFIX: &str = "blobs/";
const LINKS_INFIX: &str = "/repos/";

pub fn blob(digest: &Digest) -> String {
    format!(
        "{BLOBS_PREFIX}{}/{}",
        digest.algorithm().as_str(),
        digest.hex()
    )
}

pub fn layer_links_prefix(digest: &Digest) -> String {
    format!("{}{LINKS_INFIX}", blob(digest))
}

pub fn layer_link(name: &RepositoryName, digest: &Digest) -> String {
    format!("{}{name}", layer_links_prefix(digest))
}

/// A key under `blobs/`: a blob record, or one repository's link to it.
#[derive(Debug, PartialEq, Eq)]
pub enum BlobKey {
    Record(Digest),
    Link(Digest, RepositoryName),
}

impl BlobKey {
    pub fn parse(key: &str) -> Option<BlobKey> {
        let rest = key.strip_prefix(BLOBS_PREFIX)?;
        let (digest, link) = match rest.split_once(LINKS_INFIX) {
            Some((digest, name)) => (digest, Some(name)),
            None => (rest, None),
        };
        let digest = stored_digest(digest)?;
        Some(match link {
            None => BlobKey::Record(digest),
            Some(name) => BlobKey::Link(digest, stored_name(name)?),
        })
    }

    pub fn digest(&self) -> &Digest {
        match self {
            BlobKey::Record(digest) | BlobKey::Link(digest, _) => digest,
        }
    }
}

/// A blob's bytes in the public-blobs bucket: nothing but the digest, which is no secret.
pub fn public_blob(digest: &Digest) -> String {
    format!("{}/{}", digest.algorithm().as_str(), digest.hex())
}

/// The digest a key of the public-blobs bucket holds the bytes of.
pub fn public_blob_digest(key: &str) -> Option<Digest> {
    stored_digest(key)
}

pub fn manifests_prefix(name: &RepositoryName) -> String {
    format!("repos/{name}/_manifests/")
}

pub fn manifest(name: &RepositoryName, digest: &Digest) -> String {
    format!(
        "{}{}/{}",
        manifests_prefix(name),
        digest.algorithm().as_str(),
        digest.hex()
    )
}

/// The digest a key under [`manifests_prefix`] names.
pub fn manifest_digest(name: &RepositoryName, key: &str) -> Option<Digest> {
    stored_digest(key.strip_prefix(&manifests_prefix(name))?)
}

/// `<alg>/<hex>` in a key, back to a digest.
fn stored_digest(path: &str) -> Option<Digest> {
    path.replacen('/', ":", 1).parse().ok()
}

/// A repository name in a key: it was checked when written (against a longer host, if any).
pub fn stored_name(name: &str) -> Option<RepositoryName> {
    RepositoryName::parse(name, "").ok()
}

pub fn scans_prefix(name: &RepositoryName) -> String {
    format!("repos/{name}/_scans/")
}

pub fn scan(name: &RepositoryName, digest: &Digest) -> String {
    format!(
        "{}{}/{}",
        scans_prefix(name),
        digest.algorithm().as_str(),
        digest.hex()
    )
}

/// The image digest a key under [`scans_prefix`] names.
pub fn scan_digest(name: &RepositoryName, key: &str) -> Option<Digest> {
    stored_digest(key.strip_prefix(&scans_prefix(name))?)
}

pub const SWEEP: &str = "scans/sweep";

pub fn tags_prefix(name: &RepositoryName) -> String {
    format!("repos/{name}/_tags/")
}

pub fn tag(name: &RepositoryName, tag: &Tag) -> String {
    format!("{}{tag}", tags_prefix(name))
}

pub fn referrers_prefix(name: &RepositoryName, subject: &Digest) -> String {
    format!(
        "repos/{name}/_referrers/{}/{}/",
        subject.algorithm().as_str(),
        subject.hex()
    )
}

pub fn referrer(name: &RepositoryName, subject: &Digest, referrer: &Digest) -> String {
    format!(
        "{}{}-{}",
        referrers_prefix(name, subject),
        referrer.algorithm().as_str(),
        referrer.hex()
    )
}

pub const CATALOG_PREFIX: &str = "catalog/";

pub fn catalog_entry(name: &RepositoryName) -> String {
    format!("{CATALOG_PREFIX}{name}")
}

pub const UPLOADS_PREFIX: &str = "uploads/";

pub fn upload_prefix(id: &str) -> String {
    format!("{UPLOADS_PREFIX}{id}/")
}

/// The step number of a key made by [`upload_step`].
pub fn upload_step_number(id: &str, key: &str) -> Option<u32> {
    key.strip_prefix(&upload_prefix(id))?.parse().ok()
}

/// The upload id a key under [`UPLOADS_PREFIX`] belongs to.
pub fn upload_id(key: &str) -> Option<&str> {
    key.strip_prefix(UPLOADS_PREFIX)?.split('/').next()
}

pub fn gc_state(dry_run: bool) -> &'static str {
    if dry_run {
        "gc/dry-run-state"
    } else {
        "gc/state"
    }
}

pub fn gc_lease(dry_run: bool) -> &'static str {
    if dry_run {
        "gc/dry-run-lease"
    } else {
        "gc/lease"
    }
}

pub fn gc_repository(name: &RepositoryName, dry_run: bool) -> String {
    if dry_run {
        format!("gc/dry-run-repos/{name}")
    } else {
        format!("gc/repos/{name}")
    }
}

pub const ADVISORIES_PREFIX: &str = "advisories/";

pub fn advisories_status(ecosystem: &str) -> String {
    format!("{ADVISORIES_PREFIX}{ecosystem}/status")
}

pub fn advisories_load(ecosystem: &str, load: &str) -> String {
    format!("{ADVISORIES_PREFIX}{ecosystem}/loads/{load}.zip")
}

pub fn advisories_generation(ecosystem: &str, load: &str) -> String {
    format!("{ADVISORIES_PREFIX}{ecosystem}/gen/{load}/")
}

pub fn advisories_segments(ecosystem: &str, load: &str, bucket: u32) -> String {
    format!(
        "{}seg/{bucket:02x}/",
        advisories_generation(ecosystem, load)
    )
}

/// Zero-padded so that segments list in the order they were written.
pub fn advisories_segment(ecosystem: &str, load: &str, bucket: u32, step: u32) -> String {
    format!("{}{step:08}", advisories_segments(ecosystem, load, bucket))
}

pub fn advisories_bucket(ecosystem: &str, load: &str, bucket: u32) -> String {
    format!(
        "{}bucket/{bucket:02x}",
        advisories_generation(ecosystem, load)
    )
}

/// Zero-padded so that the newest step sorts last in a listing.
pub fn upload_step(id: &str, step: u32) -> String {
    format!("{}{step:010}", upload_prefix(id))
}

/// The KV key of an OIDC issuer's cached keys: hashed, as issuers are URLs of any length.
pub fn oidc_keys(issuer: &str) -> String {
    use sha2::{Digest as _, Sha256};
    format!(
        "oidc-keys/{}",
        hex::encode(Sha256::digest(issuer.as_bytes()))
    )
}

/// The KV key of an upload session record.
pub fn session(id: &str) -> String {
    format!("upload/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_parse_back_and_links_sort_after_their_record() {
        let digest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let name = RepositoryName::parse("team/app", "").unwrap();
        assert_eq!(
            BlobKey::parse(&blob(&digest)),
            Some(BlobKey::Record(digest.clone()))
        );
        assert_eq!(
            BlobKey::parse(&layer_link(&name, &digest)),
            Some(BlobKey::Link(digest.clone(), name.clone()))
        );
        assert_eq!(BlobKey::parse("blobs/sha256/zz"), None);
        assert_eq!(BlobKey::parse("data/x"), None);
        let next: Digest = format!("sha256:{}ac", "ab".repeat(31)).parse().unwrap();
        let mut keys = vec![blob(&next), layer_link(&name, &digest), blob(&digest)];
        keys.sort();
        assert_eq!(
            keys,
            [blob(&digest), layer_link(&name, &digest), blob(&next)]
        );
        // What the collector resumes after sorts past every link of the blob.
        let past = format!("{}~", layer_links_prefix(&digest));
        assert!(layer_link(&name, &digest) < past && past < blob(&next));
    }

    #[test]
    fn upload_and_manifest_keys_parse_back() {
        assert_eq!(upload_id(&upload_step("abc", 7)), Some("abc"));
        assert_eq!(upload_step_number("abc", &upload_step("abc", 7)), Some(7));
        assert_eq!(upload_step_number("abd", &upload_step("abc", 7)), None);
        let name = RepositoryName::parse("a/b", "").unwrap();
        let digest: Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
        assert_eq!(
            manifest_digest(&name, &manifest(&name, &digest)),
            Some(digest)
        );
        assert_eq!(manifest_digest(&name, "repos/a/b/_tags/x"), None);
    }
}
