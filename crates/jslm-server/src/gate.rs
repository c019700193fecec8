//! One model, many clients: the queue in front of the engine. Generations run one at a time
//! in arrival order (tokio's semaphore is FIFO); at most `max_waiting` requests wait behind
//! the running one, and the next is refused at once with a `Retry-After` estimate (the last
//! generation's duration × the requests ahead), never queued silently.
//!
//! A front end that must not be refused (the window's own generations) takes a [`Turn`] with
//! [`Gate::turn`]: it waits in the same FIFO line without counting against `max_waiting`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Requests that may wait while one generates (`jslm serve`'s default); the next gets 429.
pub const DEFAULT_MAX_WAITING: usize = 16;

/// The queue in front of one engine.
#[derive(Debug)]
pub struct Gate {
    /// One permit: the engine.
    engine: Arc<Semaphore>,
    /// `1 + max_waiting` permits: the running request and those waiting.
    places: Arc<Semaphore>,
    max_waiting: usize,
    /// Milliseconds the last generation held the engine (for Retry-After).
    last_ms: AtomicU64,
}

/// A place in the queue, taken without waiting.
#[derive(Debug)]
pub struct Place {
    gate: Arc<Gate>,
    place: OwnedSemaphorePermit,
}

/// The engine, for one generation; dropping it lets the next request in.
#[derive(Debug)]
pub struct Turn {
    gate: Arc<Gate>,
    _engine: OwnedSemaphorePermit,
    _place: Option<OwnedSemaphorePermit>,
    since: Instant,
}

/// The queue is full; retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull {
    pub retry_after_s: u64,
}

impl Gate {
    pub fn new(max_waiting: usize) -> Arc<Self> {
        Arc::new(Self {
            engine: Arc::new(Semaphore::new(1)),
            places: Arc::new(Semaphore::new(max_waiting.saturating_add(1))),
            max_waiting,
            last_ms: AtomicU64::new(0),
        })
    }

    /// A place in the queue now, or [`QueueFull`].
    pub fn try_place(self: &Arc<Self>) -> Result<Place, QueueFull> {
        match self.places.clone().try_acquire_owned() {
            Ok(place) => Ok(Place {
                gate: self.clone(),
                place,
            }),
            Err(_) => Err(QueueFull {
                retry_after_s: self.retry_after_s(),
            }),
        }
    }

    /// Waits in line for the engine without taking a place (the window's own generations).
    pub async fn turn(self: &Arc<Self>) -> Turn {
        self.take_turn(None).await
    }

    /// Requests that hold a place (running or waiting).
    pub fn occupied(&self) -> usize {
        (self.max_waiting + 1).saturating_sub(self.places.available_permits())
    }

    async fn take_turn(self: &Arc<Self>, place: Option<OwnedSemaphorePermit>) -> Turn {
        let engine = self
            .engine
            .clone()
            .acquire_owned()
            .await
            .expect("the gate never closes its semaphore");
        Turn {
            gate: self.clone(),
            _engine: engine,
            _place: place,
            since: Instant::now(),
        }
    }

    fn retry_after_s(&self) -> u64 {
        let ahead = self.max_waiting as u64 + 1;
        let ms = self.last_ms.load(Ordering::Relaxed).saturating_mul(ahead);
        ms.div_ceil(1000).clamp(1, 3600)
    }
}

impl Place {
    /// Waits in line for the engine, keeping the place until the turn ends.
    pub async fn turn(self) -> Turn {
        self.gate.take_turn(Some(self.place)).await
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let ms = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.gate.last_ms.store(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn places_are_bounded_and_turns_come_in_order() {
        let gate = Gate::new(2);
        let first = gate.try_place().unwrap().turn().await;
        let second = gate.try_place().unwrap();
        let third = gate.try_place().unwrap();
        assert_eq!(gate.occupied(), 3);
        let full = gate.try_place().unwrap_err();
        assert!(full.retry_after_s >= 1);
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let spawn = |place: Place, name: &'static str| {
            let order = order.clone();
            tokio::spawn(async move {
                let _turn = place.turn().await;
                order.lock().unwrap().push(name);
            })
        };
        let b = spawn(second, "second");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let c = spawn(third, "third");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(order.lock().unwrap().is_empty(), "the engine is taken");
        drop(first);
        b.await.unwrap();
        c.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["second", "third"]);
        assert_eq!(gate.occupied(), 0);
        assert!(gate.try_place().is_ok());
    }

    #[tokio::test]
    async fn the_window_waits_in_the_same_line_without_a_place() {
        let gate = Gate::new(0);
        let window = gate.turn().await;
        // The window does not hold a place, so one request may still wait...
        let waiting = gate.try_place().unwrap();
        assert!(gate.try_place().is_err());
        let pending = tokio::spawn(async move { waiting.turn().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!pending.is_finished());
        drop(window);
        drop(pending.await.unwrap());
        assert!(gate.try_place().is_ok());
    }

    #[tokio::test]
    async fn a_request_that_gives_up_frees_its_place() {
        let gate = Gate::new(0);
        let running = gate.turn().await;
        let place = gate.try_place().unwrap();
        let waiting = tokio::spawn(place.turn());
        tokio::time::sleep(Duration::from_millis(10)).await;
        waiting.abort();
        let _ = waiting.await;
        assert!(gate.try_place().is_ok());
        drop(running);
    }
}
