//! [`ReplayCache`]: the signatures of the hub requests accepted lately, so the same signed request
//! is accepted once.
//!
//! A request is only accepted within [`WINDOW`](super::WINDOW) of its timestamp, so a signature
//! needs remembering only until the request would be refused as stale anyway; it is kept for
//! twice the window ([`REMEMBER_FOR`]), which also covers instances whose clocks disagree by up
//! to a window. With Redis, every instance shares one cache (`SET … NX PX`, which expires by
//! itself); without it, one process is the whole deployment and a bounded map in memory is enough.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use super::{Signature, WINDOW};
use crate::cluster::Redis;

/// How long an accepted signature is remembered.
pub const REMEMBER_FOR: Duration = Duration::from_secs(WINDOW.as_secs() * 2);
/// How many signatures the in-memory cache holds at once: over 80 accepted events a second for
/// the whole [`REMEMBER_FOR`], far above what one guild's gateway sends. When it is full, requests
/// are refused (to be retried) rather than the oldest forgotten, which would let them be replayed.
pub const MEMORY_CAPACITY: usize = 10_000;

/// Why the cache could not say whether a request is new. The request is refused either way:
/// accepting it could accept a replay.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Redis failed or did not answer in time.
    #[error("the replay cache in Redis failed")]
    Redis(#[from] redis::RedisError),
    /// The in-memory cache holds [`MEMORY_CAPACITY`] live signatures.
    #[error("the in-memory replay cache is full")]
    Full,
}

/// Where accepted signatures are remembered; cheap to clone (clones share the cache).
#[derive(Debug, Clone)]
pub enum ReplayCache {
    /// In this process only (no `REDIS_URL`: a single instance).
    Memory(Arc<Mutex<Seen>>),
    /// In Redis, shared by every instance of the deployment.
    Redis(Redis),
}

impl ReplayCache {
    /// A cache in this process.
    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    /// A cache in `redis`, shared with every instance using the same namespace.
    pub fn redis(redis: Redis) -> Self {
        Self::Redis(redis)
    }

    /// Records `signature`; true if no instance had recorded it within [`REMEMBER_FOR`].
    pub async fn first_use(&self, signature: &Signature) -> Result<bool, ReplayError> {
        match self {
            Self::Memory(seen) => seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .first_use(*signature, Instant::now()),
            Self::Redis(redis) => {
                let key = redis.key(&format!("hub:replay:{}", signature.hex()));
                // One atomic step decides between instances racing with the same request; the
                // connection's response timeout bounds the wait.
                let set: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(u64::try_from(REMEMBER_FOR.as_millis()).unwrap_or(u64::MAX))
                    .query_async(&mut redis.connection())
                    .await?;
                Ok(set.is_some())
            }
        }
    }
}

/// The in-memory cache's content. Owned by [`ReplayCache::Memory`] (all clones share it); the lock
/// is held for a few map operations and never across an `.await`.
#[derive(Debug, Default)]
pub struct Seen {
    signatures: HashSet<Signature>,
    /// The same signatures with when they may be forgotten, oldest first: every entry lives
    /// [`REMEMBER_FOR`], so insertion order is expiry order and purging only looks at the front.
    expiries: VecDeque<(Instant, Signature)>,
}

impl Seen {
    fn first_use(&mut self, signature: Signature, now: Instant) -> Result<bool, ReplayError> {
        while let Some((forget_at, old)) = self.expiries.front() {
            if *forget_at > now {
                break;
            }
            self.signatures.remove(old);
            self.expiries.pop_front();
        }
        if self.signatures.contains(&signature) {
            return Ok(false);
        }
        if self.signatures.len() >= MEMORY_CAPACITY {
            return Err(ReplayError::Full);
        }
        self.signatures.insert(signature);
        self.expiries.push_back((now + REMEMBER_FOR, signature));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use redis::AsyncCommands as _;

    use super::*;
    use crate::cluster::test_redis;

    fn signature(n: u32) -> Signature {
        let mut bytes = [0_u8; 32];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        Signature(bytes)
    }

    #[tokio::test(start_paused = true)]
    async fn memory_remembers_a_signature_for_twice_the_window() {
        let cache = ReplayCache::memory();
        assert!(cache.first_use(&signature(1)).await.unwrap());
        assert!(!cache.first_use(&signature(1)).await.unwrap());
        assert!(
            !cache.clone().first_use(&signature(1)).await.unwrap(),
            "clones share it"
        );
        assert!(cache.first_use(&signature(2)).await.unwrap());

        tokio::time::advance(REMEMBER_FOR.checked_sub(Duration::from_millis(1)).unwrap()).await;
        assert!(!cache.first_use(&signature(1)).await.unwrap());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(
            cache.first_use(&signature(1)).await.unwrap(),
            "forgotten after expiry"
        );
        let ReplayCache::Memory(seen) = &cache else {
            unreachable!()
        };
        assert_eq!(
            seen.lock().unwrap().signatures.len(),
            1,
            "expired entries are dropped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_memory_cache_refuses_rather_than_forgets() {
        let cache = ReplayCache::memory();
        for n in 0..u32::try_from(MEMORY_CAPACITY).unwrap() {
            assert!(cache.first_use(&signature(n)).await.unwrap());
        }
        let full = u32::try_from(MEMORY_CAPACITY).unwrap();
        assert!(matches!(
            cache.first_use(&signature(full)).await,
            Err(ReplayError::Full)
        ));
        assert!(!cache.first_use(&signature(0)).await.unwrap(), "still a replay");
        tokio::time::advance(REMEMBER_FOR).await;
        assert!(
            cache.first_use(&signature(full)).await.unwrap(),
            "room again once they expire"
        );
    }

    #[tokio::test]
    async fn redis_shares_the_cache_between_instances_and_lets_it_expire() {
        let redis = test_redis().await;
        let first = ReplayCache::redis(redis.clone());
        // What instances share is the server and the namespace; the HTTP tests run two apps.
        let second = ReplayCache::redis(redis.clone());
        assert!(first.first_use(&signature(1)).await.unwrap());
        assert!(
            !second.first_use(&signature(1)).await.unwrap(),
            "another instance sees it"
        );
        assert!(second.first_use(&signature(2)).await.unwrap());

        let key = redis.key(&format!("hub:replay:{}", signature(1).hex()));
        let ttl: i64 = redis.connection().pttl(&key).await.unwrap();
        let remember = i64::try_from(REMEMBER_FOR.as_millis()).unwrap();
        assert!(
            ttl > remember - 10_000 && ttl <= remember,
            "expires by itself: {ttl} ms"
        );

        // Once Redis has forgotten it (expired), the signature is new again.
        let _: () = redis.connection().del(&key).await.unwrap();
        assert!(second.first_use(&signature(1)).await.unwrap());
    }
}
