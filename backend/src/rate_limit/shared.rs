//! [`RedisBudget`]: the per-user budget kept in Redis, so every web instance draws on the same one.
//!
//! The algorithm is governor's (GCRA): one number per user, the "theoretical arrival time" of the
//! next request, checked and moved in one Lua script, so two instances charging the same user at
//! once cannot both spend the last request. Time is Redis' own (`TIME`), never the instances'
//! clocks, which may disagree. The key expires when the budget is full again, so idle users cost
//! Redis nothing.
//!
//! When Redis fails, the check falls back to a budget in this process (the same quota): see
//! [`RedisBudget::check`] for why neither failing open nor failing closed is right here.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use model::ids::UserId;

use super::{Budget, Quota};
use crate::cluster::Redis;

/// GCRA on Redis' clock. `KEYS[1]`: the user's key; `ARGV[1]`: milliseconds between requests
/// (the emission interval); `ARGV[2]`: the burst. Returns 0 when the request is allowed (and
/// charged), else how many milliseconds until it would be.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local allow_at = tat + emission - emission * burst
if now < allow_at then
  return allow_at - now
end
local next_tat = tat + emission
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now)
return 0
";

/// Per-user budgets of one [`Quota`] kept in Redis; cheap to clone (clones share everything).
#[derive(Clone)]
pub struct RedisBudget {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Redis,
    /// The budgets' key prefix: each kind of budget has its own.
    name: &'static str,
    script: redis::Script,
    /// The quota's emission interval in milliseconds (at least 1).
    emission_ms: u64,
    burst: u32,
    /// Used while Redis fails (see [`RedisBudget::check`]).
    fallback: Budget<UserId>,
    /// Whether the last check fell back, so a Redis outage is logged once when it starts and
    /// once when it ends, not once per request.
    degraded: AtomicBool,
}

impl fmt::Debug for RedisBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("RedisBudget")
            .field("redis", &inner.redis)
            .field("emission_ms", &inner.emission_ms)
            .field("burst", &inner.burst)
            .field("degraded", &inner.degraded.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RedisBudget {
    /// Budgets of `quota` per user, in `redis`' namespace: every `RedisBudget` on the same
    /// namespace (one per instance) shares them.
    pub fn new(redis: Redis, quota: Quota) -> Self {
        Self::named(redis, "ratelimit", quota)
    }

    /// Like [`Self::new`], for a kind of budget of its own: its keys start with `name`.
    pub fn named(redis: Redis, name: &'static str, quota: Quota) -> Self {
        let emission_ms = u64::try_from(quota.replenish_interval().as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        Self {
            inner: Arc::new(Inner {
                redis,
                name,
                script: redis::Script::new(GCRA),
                emission_ms,
                burst: quota.burst_size().get(),
                fallback: Budget::new(quota),
                degraded: AtomicBool::new(false),
            }),
        }
    }

    /// Takes one request from `user`'s budget, or says how long until one is available.
    ///
    /// If Redis cannot answer (it restarts, or is unreachable for the command timeout), the
    /// request is charged to a budget of the same quota in this process instead. Failing open
    /// would let a user hammer Discord through every instance for as long as Redis is away;
    /// failing closed would refuse every room action of every user for that time, turning a
    /// Redis restart into an outage. Falling back keeps each user bounded by one budget per
    /// instance (what the limiter guaranteed before it was shared), and the shared budget takes
    /// over again with the first command Redis answers.
    pub async fn check(&self, user: &UserId) -> Result<(), Duration> {
        let inner = &*self.inner;
        let mut connection = inner.redis.connection();
        let answer: redis::RedisResult<u64> = inner
            .script
            .key(inner.redis.key(&format!("{}:{user}", inner.name)))
            .arg(inner.emission_ms)
            .arg(inner.burst)
            .invoke_async(&mut connection)
            .await;
        match answer {
            Ok(wait_ms) => {
                if inner.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: per-user budgets are shared again");
                }
                if wait_ms == 0 {
                    Ok(())
                } else {
                    Err(Duration::from_millis(wait_ms))
                }
            }
            Err(err) => {
                if !inner.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %err, "Redis failed a rate-limit check: each instance keeps its own per-user budget until it answers again");
                }
                inner.fallback.check(user)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::{NonZeroU32, NonZeroU64};

    use super::*;
    use crate::cluster::test_redis;

    fn user(n: u64) -> UserId {
        UserId::new(NonZeroU64::new(n).unwrap())
    }

    fn quota(burst: u32, every: Duration) -> Quota {
        Quota::with_period(every)
            .unwrap()
            .allow_burst(NonZeroU32::new(burst).unwrap())
    }

    /// A second handle on `redis`' namespace: what another instance of the same deployment holds.
    #[expect(
        clippy::disallowed_methods,
        reason = "the same redis-server as cluster::test_redis"
    )]
    async fn other_instance(redis: &Redis) -> Redis {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        Redis::connect(&url, redis.namespace()).await.unwrap()
    }

    #[tokio::test]
    async fn two_instances_draw_on_one_budget_per_user() {
        let redis = test_redis().await;
        let hour = Duration::from_secs(3600);
        let a = RedisBudget::new(redis.clone(), quota(3, hour));
        let b = RedisBudget::new(other_instance(&redis).await, quota(3, hour));
        assert_eq!(a.check(&user(1)).await, Ok(()));
        assert_eq!(b.check(&user(1)).await, Ok(()));
        assert_eq!(a.check(&user(1)).await, Ok(()));
        let wait = b.check(&user(1)).await.unwrap_err();
        assert!(
            wait > Duration::from_secs(3540) && wait <= hour,
            "the fourth request waits for the next token: {wait:?}"
        );
        assert!(a.check(&user(1)).await.is_err(), "spent on both instances");
        assert_eq!(
            b.check(&user(2)).await,
            Ok(()),
            "another user has their own budget"
        );
    }

    #[tokio::test]
    async fn the_default_quota_is_a_burst_of_ten_then_one_a_second() {
        let limiter = super::super::RateLimiter::shared(test_redis().await);
        for _ in 0..super::super::BURST.get() {
            assert_eq!(limiter.check(&user(1)).await, Ok(()));
        }
        let wait = limiter.check(&user(1)).await.unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
    }

    #[tokio::test]
    async fn a_spent_budget_refills_one_request_at_a_time() {
        let every = Duration::from_millis(500);
        let budget = RedisBudget::new(test_redis().await, quota(2, every));
        assert_eq!(budget.check(&user(1)).await, Ok(()));
        assert_eq!(budget.check(&user(1)).await, Ok(()));
        let wait = budget.check(&user(1)).await.unwrap_err();
        assert!(wait <= every, "{wait:?}");
        // Redis' clock cannot be paused: wait for as long as the budget itself says, bounded.
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Err(wait) = budget.check(&user(1)).await {
                tokio::time::sleep(wait).await;
            }
        })
        .await
        .expect("a request is allowed again after the emission interval");
        assert!(
            budget.check(&user(1)).await.is_err(),
            "one interval gave back one request, not the burst"
        );
    }

    #[tokio::test]
    async fn an_idle_users_key_expires_once_the_budget_is_full_again() {
        let redis = test_redis().await;
        let budget = RedisBudget::new(redis.clone(), quota(5, Duration::from_millis(100)));
        budget.check(&user(1)).await.unwrap();
        budget.check(&user(1)).await.unwrap();
        let mut connection = redis.connection();
        let key = redis.key("ratelimit:1");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(
            (1..=200).contains(&ttl),
            "expires when both requests are regained: {ttl} ms"
        );
        tokio::time::timeout(Duration::from_secs(5), async {
            while redis::cmd("EXISTS")
                .arg(&key)
                .query_async::<bool>(&mut connection)
                .await
                .unwrap()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the key is gone");
    }

    #[tokio::test]
    async fn a_failing_redis_falls_back_to_this_instances_budget() {
        let redis = test_redis().await;
        // A key of the wrong type makes the script fail, as an unreachable Redis would.
        let mut connection = redis.connection();
        redis::cmd("LPUSH")
            .arg(redis.key("ratelimit:1"))
            .arg("not a budget")
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
        let budget = RedisBudget::new(redis, quota(2, Duration::from_secs(3600)));
        assert_eq!(budget.check(&user(1)).await, Ok(()));
        assert_eq!(budget.check(&user(1)).await, Ok(()));
        assert!(
            budget.check(&user(1)).await.is_err(),
            "still limited, by the local budget"
        );
        assert_eq!(
            budget.check(&user(2)).await,
            Ok(()),
            "Redis still serves the others"
        );
    }
}
