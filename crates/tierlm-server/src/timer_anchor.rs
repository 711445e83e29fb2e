//! A timer that is always armed, so that arming a request's timeouts never wakes a
//! sleeping worker thread.
//!
//! tokio's time driver sleeps (in `epoll_wait`, on whichever worker holds the driver)
//! until its earliest timer. Arming a timer earlier than that makes tokio wake the
//! driver's thread, an eventfd write, so that it goes back to sleep with the shorter
//! timeout; at idle, with no timer armed at all, every new timer does. The gateway
//! arms a few timeouts per request (connect, first token, whole answer: seconds to
//! minutes away), so at low rates every request woke the other worker for nothing, and
//! the woken worker often took the request's task over when the upstream answer came:
//! a hand-off between threads on the latency path. With one timer always due within
//! [`PERIOD`], the driver never sleeps past it, and a timeout further away is filed
//! without waking anyone. The cost is one wake-up per [`PERIOD`] when idle.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// The longest the time driver sleeps; request timeouts are longer than this.
pub(crate) const PERIOD: Duration = Duration::from_millis(500);

/// Keeps a timer armed until the runtime shuts down (or the handle is aborted).
pub(crate) fn spawn(tasks: &tierlm_gateway::tasks::Tasks) -> JoinHandle<()> {
    tasks.spawn(async {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
        }
    })
}
