//! Snowflake ids as Discord puts them on the wire: non-zero integers serialised as strings.
//!
//! twilight-model accepts strings or integers but rejects `"0"`, so the type cannot hold zero.

use std::fmt;
use std::num::NonZeroU64;

use serde::{Serialize, Serializer};

/// A Discord snowflake. Serialises as a decimal string, never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Snowflake(NonZeroU64);

impl Snowflake {
    /// Wraps a raw id; `None` for zero, which Discord never uses.
    pub fn new(raw: u64) -> Option<Self> {
        NonZeroU64::new(raw).map(Self)
    }

    /// A compile-time id; zero fails the build when used in a `const`.
    ///
    /// # Panics
    /// If `raw` is zero (at compile time in a `const` context).
    pub const fn constant(raw: u64) -> Self {
        match NonZeroU64::new(raw) {
            Some(raw) => Self(raw),
            None => panic!("a snowflake is never zero"),
        }
    }

    /// The id after this one, for counters that hand out fresh ids.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The raw integer.
    pub fn get(self) -> u64 {
        self.0.get()
    }

    /// Parses a decimal path segment or JSON string; zero and garbage are `None`.
    pub fn parse(text: &str) -> Option<Self> {
        text.parse::<u64>().ok().and_then(Self::new)
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Snowflake {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Snowflake {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        let raw = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text
                .parse::<u64>()
                .map_err(|_| serde::de::Error::custom("snowflake is not a number"))?,
            Raw::Number(number) => number,
        };
        Self::new(raw).ok_or_else(|| serde::de::Error::custom("snowflake must not be zero"))
    }
}
