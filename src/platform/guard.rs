//! The guard that keeps a request that panics from taking the others down with it.
//!
//! A panic in wasm aborts: the `unreachable` trap makes worker-build's glue mark the module
//! terminated, and the next request reinitialises it under every request in flight. Instead,
//! the panic hook throws a JavaScript exception (`throw_str`), which the glue passes on as an
//! ordinary error. It leaves the wasm frames without running destructors, so everything
//! the panicking request holds is leaked and its executor task stays borrowed forever. Hence
//! each request's work runs as a task of its own, apart from the fetch handler that answers
//! it: the wakers its futures get forward to that task only until it panics (a wake of the
//! task afterwards would be a second panic, on its borrow), and the hook drops the channel
//! the answer would have come on, which the fetch handler turns into a 500.
//!
//! The hook cannot finish, so std still counts it as running: a second panic in the same
//! instance aborts as before. Once no request is in flight, the instance is therefore marked
//! for worker-build's reinitialisation, which the next request performs before it starts.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use futures::task::{waker, ArcWake, AtomicWaker};
use worker::wasm_bindgen::JsValue;
use worker::{js_sys, Response};

thread_local! {
    /// The request whose work is being polled, in which a panic happens.
    static POLLING: Cell<Option<Rc<Slot>>> = const { Cell::new(None) };
    /// Requests (and streamed response bodies) not finished yet.
    static IN_FLIGHT: Cell<usize> = const { Cell::new(0) };
    /// Whether a panic was contained in this instance: it must be reinitialised.
    static TAINTED: Cell<bool> = const { Cell::new(false) };
}

/// Installs the hook; panics outside a request's work (the Cron Trigger, a response body
/// being streamed) abort as before.
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let Some(slot) = POLLING.with(Cell::take) else {
            return;
        };
        slot.waker.panicked.store(true, Ordering::Relaxed);
        TAINTED.with(|tainted| tainted.set(true));
        // Dropping the sender wakes the fetch handler, which also gets the executor's queue
        // run again for the tasks after this one.
        if let Ok(mut answer) = slot.answer.try_borrow_mut() {
            answer.take();
        }
        worker::wasm_bindgen::throw_str("the request panicked");
    }));
}

/// Counts a request or a streamed response body as in flight while it lives.
pub struct InFlight(());

impl InFlight {
    pub fn enter() -> InFlight {
        IN_FLIGHT.with(|count| count.set(count.get() + 1));
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let left = IN_FLIGHT.with(|count| {
            count.set(count.get() - 1);
            count.get()
        });
        if left == 0 && TAINTED.with(Cell::get) {
            // The flag workers-rs's own panic hook sets: worker-build's shim then
            // reinitialises the module before the next request starts.
            let state = js_sys::Reflect::get(&js_sys::global(), &"__worker_init_state".into());
            if let Ok(state) = state {
                let _ = js_sys::Reflect::set(&state, &"criticalError".into(), &JsValue::TRUE);
            }
        }
    }
}

/// What a request's work shares with the hook.
struct Slot {
    answer: RefCell<Option<oneshot::Sender<worker::Result<Response>>>>,
    waker: Arc<Forward>,
}

/// The waker the work's futures get: it wakes the work's task until the work panics. A wake
/// during a poll is held until the poll returns: the executor queues a task woken while it
/// runs, and if that poll then panics, the queued run would be a second panic on the task's
/// stuck borrow, which aborts.
#[derive(Default)]
struct Forward {
    panicked: AtomicBool,
    polling: AtomicBool,
    woken_while_polling: AtomicBool,
    task: AtomicWaker,
}

impl ArcWake for Forward {
    fn wake_by_ref(this: &Arc<Self>) {
        if this.panicked.load(Ordering::Relaxed) {
            return;
        }
        if this.polling.load(Ordering::Relaxed) {
            this.woken_while_polling.store(true, Ordering::Relaxed);
        } else {
            this.task.wake();
        }
    }
}

struct Guarded {
    slot: Rc<Slot>,
    work: Pin<Box<dyn Future<Output = ()>>>,
}

impl Future for Guarded {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shared = self.slot.waker.clone();
        shared.task.register(cx.waker());
        let forward = waker(shared.clone());
        POLLING.with(|polling| polling.set(Some(self.slot.clone())));
        shared.polling.store(true, Ordering::Relaxed);
        let poll = self.work.as_mut().poll(&mut Context::from_waker(&forward));
        // Reached only if the poll did not panic.
        shared.polling.store(false, Ordering::Relaxed);
        POLLING.with(|polling| polling.set(None));
        if shared.woken_while_polling.swap(false, Ordering::Relaxed) {
            cx.waker().wake_by_ref();
        }
        poll
    }
}

/// Runs a request's work as a task of its own; `None` if it panicked.
pub async fn guarded(
    work: impl Future<Output = worker::Result<Response>> + 'static,
) -> Option<worker::Result<Response>> {
    let (sender, receiver) = oneshot::channel();
    let slot = Rc::new(Slot {
        answer: RefCell::new(Some(sender)),
        waker: Arc::default(),
    });
    let answer = slot.clone();
    worker::wasm_bindgen_futures::spawn_local(Guarded {
        slot,
        work: Box::pin(async move {
            let response = work.await;
            if let Some(sender) = answer.answer.borrow_mut().take() {
                // The receiver goes only with the fetch handler, which waits for this.
                let _ = sender.send(response);
            }
        }),
    });
    receiver.await.ok()
}
