//! The catalog: one empty object per repository that was ever pushed to.

use super::listing::{Entry, Page};
use super::{layout, Environment, Records};
use crate::oci::RepositoryName;
use crate::storage::{
    MultipartStore, ObjectStore, PutMode, PutOptions, SessionStore, StorageResult,
};

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Adds the repository to the catalog. R2 takes about one write per second per key, so
    /// the entry is read first and written (create-if-absent) only by the first push.
    pub(crate) async fn add_to_catalog(&self, name: &RepositoryName) -> StorageResult<()> {
        let key = layout::catalog_entry(name);
        if self.store.head(&key).await?.is_none() {
            let create = PutOptions {
                mode: PutMode::CreateOnly,
                ..PutOptions::default()
            };
            self.store.put(&key, Vec::new(), create).await?;
        }
        Ok(())
    }

    pub(crate) async fn in_catalog(&self, name: &RepositoryName) -> StorageResult<bool> {
        let entry = self.store.head(&layout::catalog_entry(name)).await?;
        Ok(entry.is_some())
    }

    /// Whether the catalog holds `name`, a repository name as stored (already checked, and
    /// without a host): `false` for anything that is no such name.
    pub(crate) async fn in_catalog_by_name(&self, name: &str) -> StorageResult<bool> {
        match layout::stored_name(name) {
            Some(name) => self.in_catalog(&name).await,
            None => Ok(false),
        }
    }

    /// A page of the catalog's names after `last`, as `entry` says of each.
    pub(crate) async fn catalog_page(
        &self,
        last: Option<&str>,
        n: usize,
        entry: impl Fn(&str) -> Entry,
    ) -> StorageResult<Page<String>> {
        let prefix = layout::CATALOG_PREFIX;
        self.names_page(prefix, last, n, false, |o| entry(&o.key[prefix.len()..]))
            .await
    }
}
