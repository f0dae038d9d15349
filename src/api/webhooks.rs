//! Webhook events of the API's writes: each one queued as a delivery job per receiver (see
//! `webhooks`); nothing here waits for a receiver.

use crate::api::access::Caller;
use crate::api::{Api, Request};
use crate::records::Environment;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};
use crate::webhooks::{Event, EventKind};

/// Who made a request and where it arrived: what an event says besides its content.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    /// The registry's origin as the request reached it (`https://host`).
    pub source: String,
    /// The user name, `None` for an anonymous caller.
    pub user: Option<String>,
}

impl Actor {
    pub fn of<B>(caller: &Caller, request: &Request<B>) -> Actor {
        Actor {
            source: request.origin.clone(),
            user: caller.user().map(|user| user.name.clone()),
        }
    }
}

/// An event's content: the manifest and tag it is about, as far as known.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subject {
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub size: Option<u64>,
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Whether any receiver wants `kind` events of `repository`: when none does, nothing
    /// need be read for an event.
    pub(crate) fn wants_event(&self, kind: EventKind, repository: &str) -> bool {
        self.config.webhooks.wants(kind, repository)
    }

    /// Queues the deliveries of one event: one job per receiver, all with the event's id.
    pub(crate) fn notify(
        &self,
        kind: EventKind,
        repository: &str,
        actor: &Actor,
        subject: Subject,
    ) {
        if !self.wants_event(kind, repository) {
            return;
        }
        let event = Event {
            id: self.records.env.new_id(),
            kind,
            source: actor.source.clone(),
            repository: repository.to_string(),
            tag: subject.tag,
            digest: subject.digest,
            media_type: subject.media_type,
            size: subject.size,
            actor: actor.user.clone(),
            time_ms: self.records.env.now_ms(),
            scan: None,
        };
        for receiver in self.config.webhooks.receivers_of(&event) {
            self.records.enqueue(crate::scan::Job::Deliver {
                receiver: receiver.url.clone(),
                event: Box::new(event.clone()),
            });
        }
    }
}
