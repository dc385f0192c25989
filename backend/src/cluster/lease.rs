//! The gateway lease: which of several gateway processes holds the Discord connection and runs
//! the janitor and the reconciler.
//!
//! A Redis key holding the holder's random token, with a TTL the holder keeps renewing. Redis
//! rather than a PostgreSQL advisory lock because the fence must be checked *in the same atomic
//! step* as each append to the event Stream (see `stream`), and only a Lua script on the Redis
//! that holds the Stream can do that; an advisory lock also dies with its connection, so a
//! holder's brief database hiccup would hand Discord to a standby while the old shard still runs.
//!
//! A holder that cannot renew before the TTL runs out stops its holder work at once; a standby
//! polls every third of the TTL, so it takes over at most TTL + TTL/3 after the holder died.

use std::time::Duration;

use super::{Redis, stream::Fence};

/// Takes the lease if it is free (or already ours) and (re)sets its TTL.
const ACQUIRE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Renews the lease only while it is still ours.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Gives the lease up only if it is still ours.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// This process's claim on the gateway lease.
#[derive(Clone)]
pub struct Lease {
    redis: Redis,
    key: String,
    token: String,
    ttl: Duration,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// A claim with a fresh random token on the deployment's lease (`<namespace>:gateway-lease`).
    pub fn new(redis: Redis, ttl: Duration) -> Self {
        Self {
            key: redis.key("gateway-lease"),
            redis,
            token: uuid::Uuid::new_v4().simple().to_string(),
            ttl,
        }
    }

    /// How long the lease lasts without renewal.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How often a holder renews and a standby tries: three tries fit in one TTL.
    pub fn poll_every(&self) -> Duration {
        self.ttl / 3
    }

    /// What appends to the Stream must check: this claim.
    pub fn fence(&self) -> Fence {
        Fence {
            key: self.key.clone(),
            token: self.token.clone(),
        }
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// Takes the lease when nobody holds it (or renews it when we do); true when it is ours now.
    pub async fn try_acquire(&self) -> Result<bool, redis::RedisError> {
        self.run(ACQUIRE).await
    }

    /// Extends our lease by a TTL; false when it is not ours any more (expired, taken over).
    pub async fn renew(&self) -> Result<bool, redis::RedisError> {
        self.run(RENEW).await
    }

    /// Gives the lease up at shutdown, so a standby need not wait out the TTL.
    pub async fn release(&self) -> Result<bool, redis::RedisError> {
        self.run(RELEASE).await
    }

    async fn run(&self, script: &str) -> Result<bool, redis::RedisError> {
        let done: i64 = redis::Script::new(script)
            .key(&self.key)
            .arg(&self.token)
            .arg(self.ttl_ms())
            .invoke_async(&mut self.redis.connection())
            .await?;
        Ok(done == 1)
    }
}

#[cfg(test)]
mod tests {
    use model::event::{AppEvent, RoomDeleted};

    use super::*;
    use crate::cluster::{
        stream::{AppendError, EventStream},
        test_redis,
    };

    fn deleted() -> AppEvent {
        AppEvent::RoomDeleted(RoomDeleted {
            guild_id: "2".parse().unwrap(),
            channel_id: "3".parse().unwrap(),
        })
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_released_lease_is_free() {
        let redis = test_redis().await;
        let first = Lease::new(redis.clone(), Duration::from_secs(10));
        let second = Lease::new(redis, Duration::from_secs(10));
        assert!(first.try_acquire().await.unwrap());
        assert!(first.try_acquire().await.unwrap(), "ours already: renewed");
        assert!(!second.try_acquire().await.unwrap());
        assert!(!second.renew().await.unwrap(), "cannot renew what it never held");
        assert!(
            !second.release().await.unwrap(),
            "cannot release what it does not hold"
        );
        assert!(first.renew().await.unwrap());
        assert!(first.release().await.unwrap());
        assert!(second.try_acquire().await.unwrap());
        assert!(
            !first.renew().await.unwrap(),
            "the old holder learns it lost the lease"
        );
    }

    #[tokio::test]
    async fn an_expired_lease_passes_to_the_next_and_fences_the_old_holder() {
        let redis = test_redis().await;
        let old = Lease::new(redis.clone(), Duration::from_millis(200));
        assert!(old.try_acquire().await.unwrap());
        let stream = EventStream::new(redis.clone(), 1_000);
        let old_writer = stream.clone().fenced(old.fence());
        old_writer.append(&deleted()).await.expect("the holder publishes");

        let new = Lease::new(redis.clone(), Duration::from_secs(10));
        // The old holder stops renewing (paused, partitioned): wait for its TTL to run out.
        tokio::time::timeout(Duration::from_secs(5), async {
            let mut poll = tokio::time::interval(Duration::from_millis(20));
            while !new.try_acquire().await.unwrap() {
                poll.tick().await;
            }
        })
        .await
        .expect("the lease expires and passes on");
        assert!(matches!(
            old_writer.append(&deleted()).await,
            Err(AppendError::Fenced)
        ));
        let new_writer = stream.clone().fenced(new.fence());
        let id = new_writer
            .append(&deleted())
            .await
            .expect("the new holder publishes");
        let mut connection = redis.connection();
        let all = stream
            .read_after(&mut connection, super::super::stream::StreamId::ZERO)
            .await
            .unwrap();
        assert_eq!(all.len(), 2, "the fenced append never reached the Stream");
        assert_eq!(all[1].id, id);
    }
}
