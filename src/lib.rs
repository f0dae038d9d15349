//! An OCI Distribution (Docker Registry v2) server for Cloudflare Workers.
//!
//! The modules in layers, each using only those below it (no module imports one that imports
//! it back); everything but `platform` is plain Rust with no Workers types, tested natively:
//!
//! 1. The vocabulary and the rules, depending on nothing else of ours:
//!    [`oci`] (repository names, references, digests, manifests), [`auth`] (users, grants,
//!    scopes, tokens, OIDC ID tokens), [`presign`] (SigV4 presigned URLs and their verifier), [`scan`]
//!    (scanning's pure core: package databases, purls and CycloneDX SBOMs; each ecosystem's
//!    version order, OSV advisories and their ranges), [`immutable_tags`] (which tags never
//!    move once pushed).
//! 2. [`storage`]: what the registry needs from storage, as small traits (objects, multipart
//!    uploads, sessions, request bodies); an in-memory store with R2's rules for tests.
//! 3. [`upload`]: the upload state machine over storage: resumable hashing, re-blocking a
//!    byte stream into the equal-size parts R2 multipart uploads require, segments.
//! 4. [`records`]: every record the registry stores and its conventions (blob records and
//!    links, manifests, tags, referrers, the catalog, upload sessions and steps, maintenance's
//!    state), and the key layout, which nothing above it sees.
//! 5. [`error`]: the wire error; each layer's error converts into it, and one table gives
//!    every error its OCI code, HTTP status and message.
//! 6. [`maintenance`]: scheduled upload expiry, retention and garbage collection, over records;
//!    [`jobs`]: the queue's work over records (scanning images, matching them against the
//!    advisories, indexing advisories, the sweep that keeps every image's scan current).
//! 7. [`config`]: the deployment's settings, parsed and checked from the worker's vars.
//! 8. [`api`]: the distribution API over records: requests and responses, routing, access
//!    checks, the edge cache's policy, one handler per resource (scan reports and advisory
//!    loads among them).
//! 9. [`app`]: the registry, wiring the API, maintenance and jobs over one deployment's records.
//! 10. `platform` (wasm32 only): the Workers entry points (fetch, cron, queue), the R2, KV,
//!     Queues and Cache API adapters.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod immutable_tags;
pub mod jobs;
pub mod maintenance;
pub mod oci;
pub mod presign;
pub mod records;
pub mod scan;
pub mod storage;
pub mod upload;
pub mod web;
pub mod webhooks;

#[cfg(target_arch = "wasm32")]
mod platform;
