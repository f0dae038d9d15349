//! An OCI Distribution (Docker Registry v2) server for Cloudflare Workers.
//!
//! Module map, and the dependency rule that keeps the core testable natively:
//!
//! - [`oci`]: the protocol's vocabulary: repository names, references, digests, manifests.
//! - [`storage`]: what the registry needs from storage, as small traits; the key layout;
//!   an in-memory store for native tests.
//! - [`upload`]: the upload state machine: resumable hashing and re-blocking a byte stream
//!   into the equal-size parts R2 multipart uploads require.
//! - [`auth`]: access control: users and grants, scopes, and the tokens that carry them.
//! - [`presign`]: SigV4 presigned GET URLs, and their verifier for the worker's own URLs.
//! - [`api`]: plain-Rust requests and responses, path routing, and one handler per resource.
//! - [`app`]: the registry itself: request in, response out, over injected stores and clock.
//! - [`config`]: the deployment's settings, parsed and checked from the worker's vars.
//! - [`maintenance`]: scheduled upload expiry, retention policies and garbage collection.
//! - [`error`]: the wire error: every failure maps to its OCI code and HTTP status here.
//! - `platform` (wasm32 only): the Workers entry point and the R2 / KV adapters.
//!
//! Everything but `platform` is plain Rust with no Workers types, and `platform` depends on
//! the rest, never the other way round.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod maintenance;
pub mod oci;
pub mod presign;
pub mod records;
pub mod storage;
pub mod upload;

#[cfg(target_arch = "wasm32")]
mod platform;
