//! Typed Discord snowflakes.
//!
//! A snowflake is a non-zero 64-bit integer that travels as a decimal string on the wire (JSON
//! numbers lose precision past 2^53 in the browser). twilight-model's `Id<Marker>` would do on the
//! server, but it is too heavy for the WASM bundle, so the shared types are these small newtypes.

use std::{fmt, num::NonZeroU64, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Why a string is not a snowflake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnowflakeError {
    /// Empty, or a character other than an ASCII digit.
    #[error("must be a Discord ID made of digits only")]
    NotDigits,
    /// All zeros: Discord never issues the ID 0.
    #[error("must not be zero")]
    Zero,
    /// More than fits in 64 bits.
    #[error("is too large to be a Discord ID")]
    TooLarge,
}

/// Parses a decimal snowflake: digits only (no sign, no spaces), non-zero, at most `u64::MAX`.
pub fn parse_snowflake(text: &str) -> Result<NonZeroU64, SnowflakeError> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(SnowflakeError::NotDigits);
    }
    let value: u64 = text.parse().map_err(|_| SnowflakeError::TooLarge)?;
    NonZeroU64::new(value).ok_or(SnowflakeError::Zero)
}

macro_rules! snowflake {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(NonZeroU64);

        impl $name {
            /// Wraps a raw non-zero snowflake.
            pub const fn new(value: NonZeroU64) -> Self {
                Self(value)
            }

            /// The raw value.
            pub const fn get(self) -> u64 {
                self.0.get()
            }
        }

        impl FromStr for $name {
            type Err = SnowflakeError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_snowflake(text).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(de::Error::custom)
            }
        }
    };
}

snowflake!(
    /// A Discord guild (the community server that hosts the game rooms).
    GuildId
);
snowflake!(
    /// A Discord channel; a game room is a voice channel.
    ChannelId
);
snowflake!(
    /// A Discord user.
    UserId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflake_parsing_accepts_only_non_zero_decimal_u64() {
        assert_eq!(parse_snowflake("1").map(NonZeroU64::get), Ok(1));
        assert_eq!(
            parse_snowflake("18446744073709551615").map(NonZeroU64::get),
            Ok(u64::MAX)
        );
        for (text, error) in [
            ("", SnowflakeError::NotDigits),
            ("12a", SnowflakeError::NotDigits),
            ("-1", SnowflakeError::NotDigits),
            ("+1", SnowflakeError::NotDigits),
            (" 1", SnowflakeError::NotDigits),
            ("0", SnowflakeError::Zero),
            ("000", SnowflakeError::Zero),
            ("18446744073709551616", SnowflakeError::TooLarge),
        ] {
            assert_eq!(parse_snowflake(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn ids_travel_as_strings() {
        let id: GuildId = "2000000000000000001".parse().unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""2000000000000000001""#);
        assert_eq!(
            serde_json::from_str::<GuildId>(r#""2000000000000000001""#).unwrap(),
            id
        );
        assert!(serde_json::from_str::<GuildId>(r#""0""#).is_err());
        assert!(
            serde_json::from_str::<GuildId>("1").is_err(),
            "numbers are not snowflakes on our wire"
        );
    }
}
