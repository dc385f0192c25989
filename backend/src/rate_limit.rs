//! Request budgets, kept per key by `governor` (GCRA: one timestamp per key, no timers).
//!
//! [`RateLimiter`] is the per-user budget of the server functions: bursts of [`BURST`] requests,
//! then [`REFILL`] per [`REFILL_EVERY`] (one a second). The server also keeps a [`Budget`] per
//! client address on the routes anyone can reach without signing in.
//!
//! The per-user budget lives in this process ([`RateLimiter::Local`], the embedded default) or, when
//! several web instances share a Redis, in Redis ([`RateLimiter::Shared`], a [`RedisBudget`]), so a
//! user has one budget whichever instance serves them. The per-address budgets stay in memory:
//! each instance enforcing its own still bounds what one address can make the app ask of Discord.

use std::{
    fmt,
    hash::Hash,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use governor::{
    RateLimiter as Gcra,
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use model::ids::UserId;

mod shared;

pub use governor::Quota;
pub use shared::RedisBudget;

/// Requests a user may make at once.
pub const BURST: NonZeroU32 = NonZeroU32::new(10).expect("ten is not zero");
/// Requests regained per [`REFILL_EVERY`].
pub const REFILL: u32 = 5;
/// See [`REFILL`].
pub const REFILL_EVERY: Duration = Duration::from_secs(5);
/// Changes to the life totals a player may make at once: a player taking 20 damage taps twenty
/// times, and a whole table may be catching up after a big combat.
pub const TAP_BURST: NonZeroU32 = NonZeroU32::new(40).expect("forty is not zero");
/// Taps regained per second, once the burst is spent.
pub const TAPS_PER_SECOND: NonZeroU32 = NonZeroU32::new(10).expect("ten is not zero");
/// Keys are pruned once this many are held (those idle long enough to be full again go), so a
/// stream of new keys cannot grow the map without bound.
const PRUNE_AT: usize = 10_000;

/// governor's in-memory keyed limiter on clock `C`.
type Keyed<K, C> = Gcra<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Per-key budgets, cheap to clone (clones share the budgets).
pub struct Budget<K, C = DefaultClock>
where
    K: Hash + Eq + Clone,
    C: Clock,
{
    limiter: Arc<Keyed<K, C>>,
    /// How many keys may be held before the next prune; grows when pruning frees little, so a
    /// full map of busy keys is not swept on every request.
    prune_at: Arc<AtomicUsize>,
}

impl<K, C> Clone for Budget<K, C>
where
    K: Hash + Eq + Clone,
    C: Clock,
{
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            prune_at: self.prune_at.clone(),
        }
    }
}

impl<K, C> fmt::Debug for Budget<K, C>
where
    K: Hash + Eq + Clone,
    C: Clock,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("keys", &self.limiter.len())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone> Budget<K> {
    /// Budgets of `quota` per key, on the real clock.
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, DefaultClock::default())
    }
}

impl<K, C> Budget<K, C>
where
    K: Hash + Eq + Clone,
    C: Clock,
{
    /// Budgets of `quota` per key, on `clock` (tests pass a clock they move by hand).
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        Self {
            limiter: Arc::new(Gcra::dashmap_with_clock(quota, clock)),
            prune_at: Arc::new(AtomicUsize::new(PRUNE_AT)),
        }
    }

    /// Takes one request from `key`'s budget, or says how long until one is available.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.limiter.len() >= self.prune_at.load(Ordering::Relaxed) {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            self.prune_at
                .store(PRUNE_AT.max(self.limiter.len() * 2), Ordering::Relaxed);
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

/// Per-user request budgets for the server functions (see the module doc); cheap to clone (clones
/// share the budgets).
#[derive(Debug, Clone)]
pub enum RateLimiter {
    /// Kept in this process: the embedded default, one instance.
    Local(Budget<UserId>),
    /// Kept in Redis, shared by every instance on the same namespace.
    Shared(RedisBudget),
}

impl RateLimiter {
    /// The server functions' budgets ([`user_quota`]) kept in Redis.
    pub fn shared(redis: crate::cluster::Redis) -> Self {
        Self::Shared(RedisBudget::new(redis, user_quota()))
    }

    /// The life-total changes' budgets ([`tap_quota`]), in this process.
    pub fn taps() -> Self {
        Self::Local(Budget::new(tap_quota()))
    }

    /// The life-total changes' budgets ([`tap_quota`]) kept in Redis.
    pub fn shared_taps(redis: crate::cluster::Redis) -> Self {
        Self::Shared(RedisBudget::named(redis, "taps", tap_quota()))
    }

    /// Takes one request from `user`'s budget, or says how long until one is available.
    pub async fn check(&self, user: &UserId) -> Result<(), Duration> {
        match self {
            Self::Local(budget) => budget.check(user),
            Self::Shared(budget) => budget.check(user).await,
        }
    }
}

/// The server functions' budget per user: bursts of [`BURST`], then one request per
/// `REFILL_EVERY / REFILL`.
pub fn user_quota() -> Quota {
    Quota::with_period(REFILL_EVERY / REFILL)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(BURST)
}

/// The life-total changes' budget per user: bursts of [`TAP_BURST`], then [`TAPS_PER_SECOND`].
pub fn tap_quota() -> Quota {
    Quota::per_second(TAPS_PER_SECOND).allow_burst(TAP_BURST)
}

impl Default for RateLimiter {
    /// [`user_quota`] per user, in this process.
    fn default() -> Self {
        Self::Local(Budget::new(user_quota()))
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn user(n: u64) -> UserId {
        UserId::new(std::num::NonZeroU64::new(n).unwrap_or(std::num::NonZeroU64::MIN))
    }

    #[test]
    fn a_burst_of_ten_then_one_per_second() {
        let clock = FakeRelativeClock::default();
        let limiter = Budget::with_clock(user_quota(), clock.clone());
        for _ in 0..BURST.get() {
            assert_eq!(limiter.check(&user(1)), Ok(()));
        }
        let wait = limiter.check(&user(1)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1), "the 11th waits for the next token");
        // Another user has their own budget.
        assert_eq!(limiter.check(&user(2)), Ok(()));

        clock.advance(Duration::from_millis(999));
        assert!(limiter.check(&user(1)).is_err());
        clock.advance(Duration::from_millis(1));
        assert_eq!(limiter.check(&user(1)), Ok(()));

        // Five seconds of quiet give back five requests, not more.
        clock.advance(REFILL_EVERY);
        for _ in 0..REFILL {
            assert_eq!(limiter.check(&user(1)), Ok(()));
        }
        assert!(limiter.check(&user(1)).is_err());
    }
}
