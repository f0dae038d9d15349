//! Webhook deliveries over the Workers fetch API (see `webhooks`).

use std::time::Duration;

use futures::future::{select, Either};
use worker::{AbortController, Fetch, Headers, Method, Request, RequestInit};

use crate::webhooks::{Delivery, Posted, Poster};

pub struct WorkersPoster;

impl Poster for WorkersPoster {
    async fn post(&self, delivery: Delivery, timeout_ms: u64) -> Posted {
        let controller = AbortController::default();
        let signal = controller.signal();
        let url = delivery.url.clone();
        let send = async move {
            let headers = Headers::new();
            for (name, value) in &delivery.headers {
                headers.set(name, value)?;
            }
            let mut init = RequestInit::new();
            init.with_method(Method::Post)
                .with_headers(headers)
                .with_body(Some(
                    worker::js_sys::Uint8Array::from(&delivery.body[..]).into(),
                ));
            let request = Request::new_with_init(&url, &init)?;
            let response = Fetch::Request(request).send_with_signal(&signal).await?;
            Ok::<u16, worker::Error>(response.status_code())
        };
        let timeout = worker::Delay::from(Duration::from_millis(timeout_ms));
        match select(Box::pin(send), timeout).await {
            Either::Left((Ok(status), _)) => Ok(status),
            // The error text of the runtime names the failure (refused, reset), not the request.
            Either::Left((Err(error), _)) => Err(format!("no answer: {error}")),
            Either::Right(_) => {
                controller.abort();
                Err(format!("no answer within {timeout_ms} ms"))
            }
        }
    }
}
