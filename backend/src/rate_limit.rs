//! Per-user request budgets for the server functions: a token bucket per user that holds up to
//! [`BURST`] requests and refills [`REFILL`] per [`REFILL_EVERY`] (5 requests per 5 s, bursts of 10).
//!
//! In memory: with several web instances each enforces its own budget, which still bounds what
//! one user can make the app ask of Discord.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use model::ids::UserId;
use tokio::time::Instant;

/// Requests a user may make at once.
pub const BURST: u32 = 10;
/// Requests regained per [`REFILL_EVERY`].
pub const REFILL: u32 = 5;
/// See [`REFILL`].
pub const REFILL_EVERY: Duration = Duration::from_secs(5);
/// Buckets are pruned when this many are held (users idle long enough to be full again go).
const PRUNE_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The budgets, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    buckets: Arc<Mutex<HashMap<UserId, Bucket>>>,
}

impl RateLimiter {
    /// Takes one request from `user`'s budget at `now`, or says how long until one is available.
    pub fn check(&self, user: UserId, now: Instant) -> Result<(), Duration> {
        let per_second = f64::from(REFILL) / REFILL_EVERY.as_secs_f64();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT {
            let full_after = Duration::from_secs_f64(f64::from(BURST) / per_second);
            buckets.retain(|_, bucket| now.saturating_duration_since(bucket.updated) < full_after);
        }
        let bucket = buckets.entry(user).or_insert(Bucket {
            tokens: f64::from(BURST),
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(f64::from(BURST));
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u64) -> UserId {
        UserId::new(std::num::NonZeroU64::new(n).unwrap_or(std::num::NonZeroU64::MIN))
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_ten_then_one_per_second() {
        let limiter = RateLimiter::default();
        for _ in 0..BURST {
            assert_eq!(limiter.check(user(1), Instant::now()), Ok(()));
        }
        let wait = limiter.check(user(1), Instant::now()).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1), "the 11th waits for the next token");
        // Another user has their own budget.
        assert_eq!(limiter.check(user(2), Instant::now()), Ok(()));

        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(limiter.check(user(1), Instant::now()).is_err());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(limiter.check(user(1), Instant::now()), Ok(()));

        // Five seconds of quiet give back five requests, not more.
        tokio::time::advance(REFILL_EVERY).await;
        for _ in 0..REFILL {
            assert_eq!(limiter.check(user(1), Instant::now()), Ok(()));
        }
        assert!(limiter.check(user(1), Instant::now()).is_err());
    }
}
