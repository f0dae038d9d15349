//! The lease (`gc/lease`) that lets one run work alone: created create-only, taken over once
//! expired with a compare-and-swap, and given back at the end of the run.

use serde::{Deserialize, Serialize};

use super::{Maintenance, LEASE_SECONDS};
use crate::error::Result;
use crate::records::gc::GcRecord;
use crate::records::Environment;
use crate::storage::{MultipartStore, ObjectStore, PutMode, SessionStore};

/// The run holding the lease works alone until `expires_ms`.
#[derive(Serialize, Deserialize)]
struct Lease {
    expires_ms: u64,
}

pub(super) enum LeaseOutcome {
    /// The lease is this run's, as the object with this etag; taking it cost `operations`.
    Taken { etag: String, operations: u32 },
    /// Another run holds it, until about this time.
    Held { until_ms: u64 },
}

impl<S, K, E> Maintenance<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Creates the lease, or takes it over if it has expired.
    pub(super) async fn take_lease(&self, dry_run: bool, now_ms: u64) -> Result<LeaseOutcome> {
        let gc = self.records.gc(dry_run);
        let expires_ms = now_ms + LEASE_SECONDS * 1000;
        let lease = Lease { expires_ms };
        if let Some(etag) = gc
            .write(GcRecord::Lease, &lease, PutMode::CreateOnly)
            .await?
        {
            return Ok(LeaseOutcome::Taken {
                etag,
                operations: 1,
            });
        }
        // Leases are given back, never deleted: one that vanished was taken a moment ago.
        let Some((etag, held)) = gc.read_versioned::<Lease>(GcRecord::Lease).await? else {
            return Ok(LeaseOutcome::Held {
                until_ms: expires_ms,
            });
        };
        // A lease that does not parse protects nothing.
        let held_until = held.map_or(0, |l| l.expires_ms);
        if held_until > now_ms {
            return Ok(LeaseOutcome::Held {
                until_ms: held_until,
            });
        }
        // Of two runs that find it expired, the compare-and-swap lets one take it.
        Ok(
            match gc
                .write(GcRecord::Lease, &lease, PutMode::IfEtag(etag))
                .await?
            {
                Some(etag) => LeaseOutcome::Taken {
                    etag,
                    operations: 3,
                },
                None => LeaseOutcome::Held {
                    until_ms: expires_ms,
                },
            },
        )
    }

    /// Marks the lease expired, unless another run has taken it over since (this run outlived
    /// it): a compare-and-swap, as R2 deletes are unconditional.
    pub(super) async fn release_lease(&self, dry_run: bool, etag: String) -> Result<()> {
        let expired = Lease { expires_ms: 0 };
        self.records
            .gc(dry_run)
            .write(GcRecord::Lease, &expired, PutMode::IfEtag(etag))
            .await?;
        Ok(())
    }
}
