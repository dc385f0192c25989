//! `PATCH /api/v10/guilds/{guild.id}/members/{user.id}` —
//! <https://discord.com/developers/docs/resources/guild#modify-guild-member>
//!
//! `channel_id` moves (or with `null` disconnects) a member in voice; a member not in voice gets
//! 400 40032. `mute`/`deaf` need the member in voice as well.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;

use super::{Bot, RestError, check_guild, parse_body, require};
use crate::core::Core;
use crate::id::Snowflake;
use crate::wire;
use crate::world::{CONNECT, Dispatch, INTENT_GUILD_MEMBERS, MOVE_MEMBERS};

#[derive(Deserialize)]
struct ModifyMember {
    /// Absent: no change; `null`: disconnect; an id: move. Kept as a `Value` to tell absent
    /// from `null`.
    #[serde(default, deserialize_with = "present")]
    channel_id: Option<Value>,
    #[serde(default)]
    mute: Option<bool>,
    #[serde(default)]
    deaf: Option<bool>,
}

/// Wraps any present value (including `null`) in `Some`; plain `Option` would turn `null` into
/// `None` and lose the disconnect.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

pub(crate) async fn patch(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path((guild, user)): Path<(String, String)>,
    body: Bytes,
) -> Result<impl IntoResponse, RestError> {
    check_guild(&core, &guild)?;
    let user = Snowflake::parse(&user).ok_or(RestError::UnknownMember)?;
    let request: ModifyMember = parse_body(&body)?;
    let target = match request.channel_id {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(id)) => Some(Some(
            Snowflake::parse(&id).ok_or(RestError::InvalidForm("channel_id"))?,
        )),
        Some(_) => return Err(RestError::InvalidForm("channel_id")),
    };
    let body = core.change(|world| {
        if !world.members.contains_key(&user) {
            return Err(RestError::UnknownMember);
        }
        let in_voice = world.voice.contains_key(&user);
        if (request.mute.is_some() || request.deaf.is_some() || target.is_some()) && !in_voice {
            return Err(RestError::NotInVoice);
        }
        let mut dispatches = Vec::new();
        if let Some(mute) = request.mute {
            dispatches.extend(world.set_mute(user, mute)?);
        }
        if let Some(deaf) = request.deaf {
            dispatches.extend(world.set_deaf(user, deaf)?);
        }
        match target {
            Some(Some(channel)) => {
                // Moving needs MOVE_MEMBERS and CONNECT on the target channel.
                require(world, channel, MOVE_MEMBERS | CONNECT)?;
                dispatches.extend(world.move_voice(user, channel)?);
            }
            Some(None) => dispatches.extend(world.leave_voice(user)?),
            None => {}
        }
        let body = wire::member(world, user, false).ok_or(RestError::UnknownMember)?;
        // Discord also fires GUILD_MEMBER_UPDATE (GUILD_MEMBERS intent, filtered for most bots).
        if let Some(data) = wire::member(world, user, true) {
            dispatches.push(Dispatch {
                name: "GUILD_MEMBER_UPDATE".into(),
                intent: INTENT_GUILD_MEMBERS,
                data,
            });
        }
        Ok((body, dispatches))
    })?;
    Ok(([(CONTENT_TYPE, "application/json")], body))
}
