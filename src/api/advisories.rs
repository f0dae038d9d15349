//! `PUT /_advisories/<ecosystem>` loads an OSV export, `GET /_advisories` says how each
//! ecosystem's advisories stand; both for the administrator only.

use serde_json::{json, Value};

use super::access::{Caller, Realm};
use super::{Api, Method, Request, Response, StatusCode};
use crate::auth::token::rfc3339;
use crate::error::{Error, Result};
use crate::records::advisories::{
    ecosystem_name, parse_ecosystem, AdvisoryState, ECOSYSTEMS, UPLOAD_SOURCE,
};
use crate::records::Environment;
use crate::storage::body::RequestBody;
use crate::storage::{MultipartStore, ObjectStore, SessionStore};

/// One ecosystem's line of `GET /_advisories`, also the answer to its `PUT`.
pub fn state_json(state: &AdvisoryState) -> Value {
    let mut value = json!({
        "ecosystem": ecosystem_name(state.ecosystem),
        "status": state.status,
        "advisories": state.advisories,
        "loaded_at": state.loaded_at.map(rfc3339),
        "source": state.source,
    });
    if let Some(error) = &state.error {
        value["error"] = json!(error);
    }
    value
}

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(crate) async fn advisories<B>(
        &self,
        caller: &Caller<'_>,
        realm: &Realm,
        ecosystem: Option<String>,
        request: Request<B>,
    ) -> Result<Response<S::Body>>
    where
        B: RequestBody<Whole = S::Incoming>,
    {
        match (ecosystem, &request.method) {
            (None, &Method::GET) => {
                self.require_administrator(caller, realm)?;
                let states = self.records.advisory_states().await?;
                let updated_at = states.iter().filter_map(|state| state.loaded_at).max();
                let body = json!({
                    "ecosystems": states.iter().map(state_json).collect::<Vec<_>>(),
                    "updated_at": updated_at.map(rfc3339),
                });
                Ok(Response::new(StatusCode::OK).json(&body, "application/json"))
            }
            (Some(name), &Method::PUT) => {
                self.require_administrator(caller, realm)?;
                if !self.config.scanning {
                    // Indexing goes through the queue: without it the load would never end.
                    return Err(Error::Unsupported(
                        "loading advisories: scanning is off (no JOBS queue bound)".into(),
                    ));
                }
                let ecosystem = parse_ecosystem(&name).ok_or_else(|| {
                    let known: Vec<&str> = ECOSYSTEMS.into_iter().map(ecosystem_name).collect();
                    Error::Unsupported(format!(
                        "advisories of ecosystem {name:?}: one of {} (as OSV spells them)",
                        known.join(", ")
                    ))
                })?;
                let length = request.content_length();
                let state = self
                    .records
                    .load_advisories(
                        ecosystem,
                        UPLOAD_SOURCE,
                        None,
                        request.body,
                        length,
                        self.config.part_size,
                    )
                    .await?;
                Ok(Response::new(StatusCode::ACCEPTED)
                    .json(&state_json(&state), "application/json"))
            }
            _ => Err(Error::MethodNotAllowed),
        }
    }
}

#[cfg(test)]
mod tests;
