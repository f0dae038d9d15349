//! Every key the registry writes, in one place.
//!
//! ```text
//! data/<id>                                   blob bytes, written once by a finished upload
//! blobs/<alg>/<hex>                           {"size","key"}: which data object holds a digest
//! repos/<name>/_layers/<alg>/<hex>            {"size","key"}: the repository holds this blob
//! repos/<name>/_manifests/<alg>/<hex>         manifest bytes as pushed (Content-Type kept)
//! repos/<name>/_tags/<tag>                    the tagged manifest's bytes again, its digest in
//!                                             metadata; an empty object marked untagged once deleted
//! repos/<name>/_referrers/<alg>/<hex>/<alg>-<hex>
//!                                             descriptor of a manifest whose subject is <alg>:<hex>
//! catalog/<name>                              empty: the repository exists
//! uploads/<id>/<step>                         upload progress after each accepted request
//! ```
//!
//! Names never contain a component starting with `_`, so `repos/<name>/_...` cannot collide
//! with another repository's keys. One fact per key keeps every write a create-if-absent, an
//! idempotent overwrite, or a compare-and-swap: there is no shared index to lock.

use crate::oci::{Digest, RepositoryName, Tag};

/// Where blob bytes live; the only objects the worker's signed URLs may name.
pub const DATA_PREFIX: &str = "data/";

pub fn data(id: &str) -> String {
    format!("{DATA_PREFIX}{id}")
}

pub fn blob(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex())
}

pub fn layer_link(name: &RepositoryName, digest: &Digest) -> String {
    format!(
        "repos/{name}/_layers/{}/{}",
        digest.algorithm().as_str(),
        digest.hex()
    )
}

pub fn manifest(name: &RepositoryName, digest: &Digest) -> String {
    format!(
        "repos/{name}/_manifests/{}/{}",
        digest.algorithm().as_str(),
        digest.hex()
    )
}

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

pub fn upload_prefix(id: &str) -> String {
    format!("uploads/{id}/")
}

/// Zero-padded so that the newest step sorts last in a listing.
pub fn upload_step(id: &str, step: u32) -> String {
    format!("{}{step:010}", upload_prefix(id))
}

/// The KV key of an upload session record.
pub fn session(id: &str) -> String {
    format!("upload/{id}")
}
