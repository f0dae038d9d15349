//! Paging through records in key order, in a bounded number of list calls.

use super::{Environment, Records};
use crate::storage::{
    ListOptions, MultipartStore, ObjectInfo, ObjectStore, SessionStore, StorageResult,
    LIST_PAGE_MAX,
};

/// The most list calls one listing request makes (each returns up to 1,000 keys): entries it
/// leaves out (deleted tags, repositories hidden from the caller) cost list calls too, so a
/// page may end short, with a `Link` to go on from where the listing stopped.
pub const LIST_CALLS_MAX: usize = 5;

/// What a listing does with one entry.
pub(crate) enum Entry {
    Show,
    Skip,
    /// Skip this entry and every later one whose name starts with the given prefix.
    SkipPast(String),
}

/// One page of entries, and the name the next page starts after (`last`), if one follows.
pub(crate) struct Page<T> {
    pub entries: Vec<T>,
    pub next: Option<String>,
}

impl<S, K, E> Records<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Names under `prefix`, in key order, after `last`, at most `n`, as `entry` says, in at
    /// most [`LIST_CALLS_MAX`] list calls.
    pub(super) async fn names_page(
        &self,
        prefix: &str,
        last: Option<&str>,
        n: usize,
        with_metadata: bool,
        entry: impl Fn(&ObjectInfo) -> Entry,
    ) -> StorageResult<Page<String>> {
        let mut names: Vec<String> = Vec::new();
        if n == 0 {
            return Ok(Page {
                entries: names,
                next: None,
            });
        }
        let mut options = ListOptions {
            prefix: prefix.to_string(),
            start_after: last.map(|l| format!("{prefix}{l}")),
            limit: LIST_PAGE_MAX,
            with_metadata,
        };
        for _ in 0..LIST_CALLS_MAX {
            let page = self.store.list(&options).await?;
            let mut skipped_past = false;
            for object in page.objects {
                match entry(&object) {
                    Entry::Show if names.len() == n => {
                        let next = names.last().cloned();
                        return Ok(Page {
                            entries: names,
                            next,
                        });
                    }
                    Entry::Show => names.push(object.key[prefix.len()..].to_string()),
                    Entry::Skip => {}
                    Entry::SkipPast(skipped) => {
                        // Names are ASCII below '~': this sorts after every name under `skipped`.
                        options.start_after = Some(format!("{prefix}{skipped}~"));
                        skipped_past = true;
                        break;
                    }
                }
                options.start_after = Some(object.key);
            }
            if !page.truncated && !skipped_past {
                return Ok(Page {
                    entries: names,
                    next: None,
                });
            }
        }
        // Out of list calls: the next page goes on after the last key looked at.
        let next = options
            .start_after
            .and_then(|key| key.get(prefix.len()..).map(str::to_string));
        Ok(Page {
            entries: names,
            next,
        })
    }
}
