//! OIDC issuers' keys, cached in the sessions' KV namespace between `/token` requests (see
//! `auth::oidc::verify` for when they are fetched again).

use super::{layout, Environment, Records};
use crate::auth::oidc::KeyCache;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

impl<S, K, E> KeyCache for Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    async fn load(&self, issuer: &str) -> Option<Vec<u8>> {
        self.sessions
            .get(&layout::oidc_keys(issuer))
            .await
            .ok()
            .flatten()
    }

    async fn save(&self, issuer: &str, record: Vec<u8>, ttl_seconds: u64) {
        // A record that is not kept only costs another fetch: nothing to report.
        let _ = self
            .sessions
            .put(&layout::oidc_keys(issuer), record, ttl_seconds)
            .await;
    }
}
