//! The driver both exchange machines run on: the exchange is written as straight-line code that *asks* for
//! each outside action (read the body, call the facilitator, run the handler, send a request), and the
//! driver turns every ask into a step handed to the caller, resuming when the caller feeds the outcome back.
//!
//! Nothing here does I/O or waits: an ask suspends the exchange until [`Driver::resume`] is called with the
//! answer, so the caller (the glue of one language and framework) performs every action itself, on its own
//! event loop or thread. The exchange is polled with a no-op waker; it can only be suspended at an ask.

use crate::prelude::*;
use crate::sync::{Mutex, MutexGuard};
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

/// What passes between an exchange and its driver: the step it asks for, and the answer fed back.
struct Slot<S, I> {
    step: Option<S>,
    answer: Option<I>,
}

/// The exchange's end of the link: it asks with [`Link::ask`].
pub(crate) struct Link<S, I>(Arc<Mutex<Slot<S, I>>>);

impl<S, I> Clone for Link<S, I> {
    fn clone(&self) -> Self {
        Link(self.0.clone())
    }
}

impl<S, I> Link<S, I> {
    fn lock(&self) -> MutexGuard<'_, Slot<S, I>> {
        self.0.lock()
    }

    /// Hands `step` to the caller and waits for its answer.
    pub(crate) fn ask(&self, step: S) -> Ask<S, I> {
        Ask { link: self.clone(), step: Some(step) }
    }
}

/// The future of one ask: pending until the driver puts the answer in.
pub(crate) struct Ask<S, I> {
    link: Link<S, I>,
    step: Option<S>,
}

impl<S, I> Unpin for Ask<S, I> {}

impl<S, I> Future for Ask<S, I> {
    type Output = I;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<I> {
        if let Some(step) = self.step.take() {
            self.link.lock().step = Some(step);
            return Poll::Pending;
        }
        match self.link.lock().answer.take() {
            Some(answer) => Poll::Ready(answer),
            None => Poll::Pending,
        }
    }
}

/// The exchange's future. Behind a mutex, so a driver can be shared between threads (bindings require it);
/// only one thread ever drives it at a time.
type Exchange<S> = Mutex<Option<Pin<Box<dyn Future<Output = S> + Send>>>>;

/// Runs an exchange: each [`Driver::resume`] runs it to its next ask (or its end) and returns the step.
pub(crate) struct Driver<S, I> {
    link: Link<S, I>,
    exchange: Exchange<S>,
}

impl<S: Send + 'static, I: Send + 'static> Driver<S, I> {
    /// A driver for the exchange `make` builds from its link.
    pub(crate) fn new<F, Fut>(make: F) -> Self
    where
        F: FnOnce(Link<S, I>) -> Fut,
        Fut: Future<Output = S> + Send + 'static,
    {
        let link = Link(Arc::new(Mutex::new(Slot { step: None, answer: None })));
        let exchange: Pin<Box<dyn Future<Output = S> + Send>> = Box::pin(make(link.clone()));
        Driver { link, exchange: Mutex::new(Some(exchange)) }
    }

    /// Feeds `answer` (none for the first step) and runs to the next step. `None` once the exchange has ended
    /// or when it did not ask for anything (fed out of turn).
    pub(crate) fn resume(&mut self, answer: Option<I>) -> Option<S> {
        let slot = self.exchange.get_mut();
        let exchange = slot.as_mut()?;
        self.link.lock().answer = answer;
        let mut cx = Context::from_waker(Waker::noop());
        match exchange.as_mut().poll(&mut cx) {
            Poll::Ready(last) => {
                *slot = None;
                Some(last)
            }
            Poll::Pending => self.link.lock().step.take(),
        }
    }

    /// Whether the exchange has ended.
    pub(crate) fn ended(&self) -> bool {
        self.exchange.lock().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_become_steps_and_answers_resume() {
        let mut d: Driver<String, u32> = Driver::new(|link| async move {
            let a = link.ask("first".to_string()).await;
            let b = link.ask(format!("second after {a}")).await;
            format!("done with {}", a + b)
        });
        assert_eq!(d.resume(None).as_deref(), Some("first"));
        assert_eq!(d.resume(Some(2)).as_deref(), Some("second after 2"));
        assert_eq!(d.resume(Some(3)).as_deref(), Some("done with 5"));
        assert!(d.ended());
        assert_eq!(d.resume(Some(1)), None);
    }
}
