//! `POST /api/v10/channels/{channel.id}/messages` —
//! <https://discord.com/developers/docs/resources/message#create-message>
//!
//! Answers 200 with the message object (author: the bot). 404 10003 for an unknown channel, 403
//! 50001 for one the bot cannot see, 403 50013 without `SEND_MESSAGES`, 400 50008 in a category,
//! 400 50006 for an empty message, 400 50035 for content over 2000 characters. Voice channels take
//! messages too (their text chat). No `MESSAGE_CREATE` is dispatched: it needs the
//! `GUILD_MESSAGES` intent, which the product does not ask for.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{Bot, RestError, parse_body, require};
use crate::core::Core;
use crate::id::Snowflake;
use crate::wire::{self, MessageWire};
use crate::world::CHANNEL_CATEGORY;

/// `SEND_MESSAGES`.
const SEND_MESSAGES: u64 = 1 << 11;
/// Discord's limit on `content`, in characters.
const MAX_CONTENT: usize = 2000;

#[derive(Deserialize)]
struct CreateMessage {
    #[serde(default)]
    content: Option<String>,
}

pub(crate) async fn post(
    _bot: Bot,
    State(core): State<Arc<Core>>,
    Path(channel): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, RestError> {
    let channel = Snowflake::parse(&channel).ok_or(RestError::UnknownChannel)?;
    let request: CreateMessage = parse_body(&body)?;
    let body = core.change(|world| {
        require(world, channel, SEND_MESSAGES)?;
        if world
            .channels
            .get(&channel)
            .is_some_and(|found| found.kind == CHANNEL_CATEGORY)
        {
            return Err(RestError::NonTextChannel);
        }
        let content = request.content.unwrap_or_default();
        if content.is_empty() {
            return Err(RestError::EmptyMessage);
        }
        if content.chars().count() > MAX_CONTENT {
            return Err(RestError::InvalidForm("content"));
        }
        let message = world.post_message(channel, content);
        let json = wire::to_json(&MessageWire::new(&message, &world.bot));
        Ok::<_, RestError>((json, Vec::new()))
    })?;
    Ok(([(CONTENT_TYPE, "application/json")], body))
}
