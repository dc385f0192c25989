//! `GET /api/stream?room=<channelId>`: a room's live voice roster as server-sent events.
//!
//! The first message is a `snapshot` of the room's members (or, for a client reconnecting with
//! `Last-Event-ID`, the events it missed); then `voice.joined` / `voice.left` / `room.created` /
//! `room.deleted`, each with an `id:`. A `: ping` comment follows every 15 s of quiet so proxies
//! keep the connection open. Frames are formatted once per event by [`Live`] and shared by every
//! viewer; a viewer that falls behind its buffer gets a fresh snapshot instead of what it missed.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::{
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use backend::{
    live::{Live, RoomSubscription},
    session::UserSession,
};
use bytes::Bytes;
use futures::{Stream, stream};
use model::{error::AppError, ids::ChannelId};
use serde::Deserialize;
use tokio::{sync::broadcast::error::RecvError, time::Instant};
use tokio_util::sync::CancellationToken;
use tower_sessions::Session;

use crate::{error::HttpError, state::AppState};

/// Quiet time after which a `: ping` comment is sent.
pub const PING_EVERY: Duration = Duration::from_secs(15);
const PING: &[u8] = b": ping\n\n";

#[derive(Debug, Deserialize)]
pub(crate) struct StreamQuery {
    room: Option<String>,
}

pub(crate) async fn stream(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Response, HttpError> {
    // Identity comes from the session only, never from the query: only a room's players may watch
    // it. The development switch lets anyone watch any voice channel (the dev panel's demo).
    let user = UserSession(session).user().await.map_err(|err| {
        tracing::error!(error = ?err, "session store failed");
        AppError::Internal
    })?;
    if user.is_none() && !state.dev_open_stream {
        return Err(AppError::Unauthenticated.into());
    }
    let room: ChannelId = query
        .room
        .as_deref()
        .ok_or_else(|| AppError::InvalidInput("`room` is required: the room's channel ID".to_owned()))?
        .parse()
        .map_err(|err| AppError::InvalidInput(format!("`room` {err}")))?;
    if !state.dev_open_stream {
        let user = user.ok_or(AppError::Unauthenticated)?;
        if !state
            .rooms
            .may_watch(user.id, room)
            .await
            .map_err(AppError::from)?
        {
            return Err(AppError::Forbidden.into());
        }
    }
    let last_event_id = headers.get("last-event-id").and_then(|value| value.to_str().ok());

    let subscription = state.live.subscribe(room, last_event_id);
    let body = Body::from_stream(room_stream(
        state.live.clone(),
        room,
        subscription,
        state.shutdown.clone(),
    ));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-transform"),
            ),
            (header::CONNECTION, HeaderValue::from_static("keep-alive")),
            // Tells nginx-style proxies not to buffer the stream.
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        body,
    )
        .into_response())
}

/// One viewer's stream of SSE bytes; ends when the room is deleted or the server shuts down.
pub fn room_stream(
    live: Live,
    room: ChannelId,
    subscription: RoomSubscription,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let viewer = Viewer {
        live,
        room,
        pending: subscription.initial.into(),
        receiver: subscription.receiver,
        ping_at: Instant::now() + PING_EVERY,
        shutdown,
    };
    stream::unfold(viewer, |mut viewer| async move {
        let frame = viewer.next().await?;
        Some((Ok(frame), viewer))
    })
}

struct Viewer {
    live: Live,
    room: ChannelId,
    /// Frames to send before live ones: the snapshot or replay.
    pending: VecDeque<Bytes>,
    receiver: tokio::sync::broadcast::Receiver<Bytes>,
    ping_at: Instant,
    shutdown: CancellationToken,
}

impl Viewer {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                self.ping_at = Instant::now() + PING_EVERY;
                return Some(frame);
            }
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return None,
                received = self.receiver.recv() => match received {
                    Ok(frame) => {
                        self.ping_at = Instant::now() + PING_EVERY;
                        return Some(frame);
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, room = %self.room, "viewer fell behind; resynchronising");
                        let fresh = self.live.resync(self.room);
                        self.pending = fresh.initial.into();
                        self.receiver = fresh.receiver;
                    }
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(self.ping_at) => {
                    self.ping_at = Instant::now() + PING_EVERY;
                    return Some(Bytes::from_static(PING));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use model::event::{AppEvent, VoiceJoined};

    use super::*;

    fn joined(user: &str) -> AppEvent {
        AppEvent::VoiceJoined(VoiceJoined {
            guild_id: "2".parse().unwrap(),
            channel_id: "3".parse().unwrap(),
            user_id: user.parse().unwrap(),
            username: format!("user{user}"),
            avatar: None,
        })
    }

    /// A viewer's stream on room 3 of `live`, opened as the handler opens it.
    fn open(
        live: &Live,
        shutdown: CancellationToken,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + use<> {
        let room = "3".parse().unwrap();
        Box::pin(room_stream(
            live.clone(),
            room,
            live.subscribe(room, None),
            shutdown,
        ))
    }

    fn text(item: Option<Result<Bytes, Infallible>>) -> String {
        let Some(Ok(bytes)) = item else {
            panic!("stream ended")
        };
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_ping_follows_fifteen_seconds_of_quiet_and_not_before() {
        let live = Live::new();
        let start = Instant::now();
        let mut events = open(&live, CancellationToken::new());
        assert!(text(events.next().await).contains("event: snapshot"));
        assert_eq!(text(events.next().await), ": ping\n\n");
        assert_eq!(start.elapsed(), PING_EVERY);

        tokio::time::advance(Duration::from_secs(10)).await;
        live.publish(&joined("10"));
        assert!(text(events.next().await).contains("event: voice.joined"));
        let quiet_from = Instant::now();
        assert_eq!(text(events.next().await), ": ping\n\n");
        assert_eq!(
            quiet_from.elapsed(),
            PING_EVERY,
            "activity restarts the quiet period"
        );
    }

    #[tokio::test]
    async fn a_lagging_viewer_gets_a_fresh_snapshot_then_live_events() {
        let live = Live::new();
        let mut events = open(&live, CancellationToken::new());
        assert!(text(events.next().await).contains("event: snapshot"));
        for n in 0..(backend::live::VIEWER_BUFFER + 5) {
            live.publish(&joined(&(100 + n).to_string()));
        }
        let resync = text(events.next().await);
        assert!(resync.contains("event: snapshot"), "{resync}");
        assert!(
            resync.contains("user100") && resync.contains("user360"),
            "the snapshot holds everyone"
        );
        live.publish(&joined("9"));
        assert!(text(events.next().await).contains("user9"));
    }

    #[tokio::test]
    async fn shutdown_ends_the_stream() {
        let live = Live::new();
        let shutdown = CancellationToken::new();
        let mut events = open(&live, shutdown.clone());
        events.next().await;
        shutdown.cancel();
        assert!(events.next().await.is_none());
    }
}
