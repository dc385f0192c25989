//! `GET /api/stream?room=<channelId>`: a room's live voice roster as server-sent events.
//!
//! The first message is a `snapshot` of the room's members (or, for a client reconnecting with
//! `Last-Event-ID`, the events it missed), followed for a game room by its `seats` and its `table`
//! of life totals; then `voice.joined` / `voice.left` / `room.created` / `room.deleted` / `seat.*` /
//! `life.changed` / `commanders.named` / `table.reset`, each with an `id:`. A `: ping` comment
//! follows every 15 s of quiet so proxies keep the connection open. Frames are formatted once per event by [`Live`] and shared by every
//! viewer; a viewer that falls behind its buffer gets a fresh snapshot instead of what it missed.
//!
//! At shutdown every stream ends with a `retry:` hint: the browser's `EventSource` reconnects
//! by itself (sending `Last-Event-ID`) after that many milliseconds, spread over a few seconds
//! so a restarted server is not met by every viewer at once; across a restart the new server's
//! answer is a fresh snapshot.
//!
//! The right to watch is checked when the stream opens and kept for as long as it is open: each
//! stream is registered in [`live::Watchers`], and ends as soon as its viewer is removed from the room,
//! leaves it, the room closes, or the session it was opened with signs out. One user may hold
//! `MAX_STREAMS_PER_USER` streams at once; the next is answered 429.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::{
    body::Body,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use backend::{
    cluster::stream::{EventStream, StreamId},
    live::{self, Live, RoomSubscription, Watch},
    session::UserSession,
    store::{Store, unix_millis},
};
use bytes::Bytes;
use futures::{Stream, stream};
use model::{
    error::AppError,
    ids::ChannelId,
    stream::{SEATS_EVENT, TableSeats},
    table::TABLE_EVENT,
};
use serde::Deserialize;
use tokio::{sync::broadcast::error::RecvError, time::Instant};
use tower_sessions::Session;

use crate::{error::HttpError, state::AppState};

/// Quiet time after which a `: ping` comment is sent.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// What a user over their stream cap is told to wait: streams are long-lived, so soon is useless.
const RETRY_STREAM_AFTER_MS: u64 = 5_000;
const PING: &[u8] = b": ping\n\n";
/// The soonest a viewer reconnects after the server shut its stream down…
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// …and the spread added to it, at random per stream.
const RECONNECT_SPREAD: Duration = Duration::from_secs(4);

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
    let session_id = session.id();
    let user_id = UserSession(session)
        .user()
        .await
        .map_err(|err| {
            tracing::error!(error = ?err, "session store failed");
            AppError::Internal
        })?
        .map(|user| user.id);
    if user_id.is_none() && !state.dev_open_stream {
        return Err(AppError::Unauthenticated.into());
    }
    let room: ChannelId = query
        .room
        .as_deref()
        .ok_or_else(|| AppError::InvalidInput("`room` is required: the room's channel ID".to_owned()))?
        .parse()
        .map_err(|err| AppError::InvalidInput(format!("`room` {err}")))?;
    if !state.dev_open_stream {
        let user = user_id.ok_or(AppError::Unauthenticated)?;
        if !state.rooms.may_watch(user, room).await.map_err(AppError::from)? {
            return Err(AppError::Forbidden.into());
        }
    }
    let last_event_id = headers.get("last-event-id").and_then(|value| value.to_str().ok());

    let watcher = live::Viewer {
        user: user_id,
        // Only a signed-in session can sign out; a session-less stream belongs to none.
        session: user_id.and(session_id),
        room,
    };
    let watch = state
        .live
        .watchers()
        .admit(watcher, state.limits.max_streams_per_user, &state.shutdown)
        .await
        .map_err(|err| {
            metrics::counter!(backend::metric_names::RATE_LIMITED, "scope" => "streams").increment(1);
            tracing::info!(user = ?user_id, limit = err.limit, "stream refused: too many open");
            AppError::RateLimited {
                retry_after_ms: RETRY_STREAM_AFTER_MS,
            }
        })?;
    let mut subscription = state.live.subscribe(room, last_event_id);
    if let (Some((after, upto)), Some(stream)) = (subscription.missed_on_stream, &state.stream)
        && let Some(frames) = replay_from_stream(stream, room, after, upto).await
    {
        subscription.initial = frames;
    }
    // The seats and the life totals are read from the store *after* subscribing: a change
    // published before the read is in it, one published after arrives on the receiver. One
    // published in between is in both, which is harmless: seat events set state (re-applying one
    // changes nothing), and a page keeps each player's totals with the highest sequence number.
    // Reading them here rather than keeping them in `Live` keeps the fan-out free of I/O and the
    // store the one truth about seats, including the drop times it keeps across restarts.
    subscription
        .initial
        .extend(table_frames(&state.store, room).await);
    let body = Body::from_stream(room_stream(
        state.live.clone(),
        Some(state.store.clone()),
        room,
        subscription,
        watch,
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

/// Stream entries one replay may scan (every room's): a viewer further behind gets a snapshot.
const STREAM_REPLAY_SCAN: usize = 10_000;

/// The frames of `room` the Stream holds after `after` up to `upto`, formatted as the fan-out
/// formatted them; `None` (a snapshot then) when the Stream no longer reaches back that far, the
/// gap is too long, or Redis fails.
async fn replay_from_stream(
    stream: &EventStream,
    room: ChannelId,
    after: StreamId,
    upto: StreamId,
) -> Option<Vec<Bytes>> {
    match stream.range(after, upto, STREAM_REPLAY_SCAN).await {
        Ok(entries) => Some(
            entries?
                .iter()
                .filter_map(|entry| live::frame_for(room, entry.id, &entry.event))
                .collect(),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "cannot replay from the event Stream; sending a snapshot");
            None
        }
    }
}

/// The room's `seats` message (see [`TableSeats`]) and its `table` of life totals (see
/// [`model::table::TableState`]), or nothing for a voice channel that is no open room (an open room always
/// seats its owner). A store failure costs the viewer these, not the stream: it is logged, and the
/// next resynchronisation or reconnect tries again.
async fn table_frames(store: &Store, room: ChannelId) -> Vec<Bytes> {
    let (seats, table) = match tokio::try_join!(store.seats(room), store.table(room)) {
        Ok(read) => read,
        Err(err) => {
            tracing::error!(error = ?err, %room, "cannot read a room's table for its stream");
            return Vec::new();
        }
    };
    if seats.is_empty() {
        return Vec::new();
    }
    let seats = TableSeats {
        channel_id: room,
        seats,
        server_now_ms: unix_millis(),
    };
    // Plain strings, ids and numbers cannot fail to serialise. No `id:`: the browser keeps the
    // last event id it had, which is what a replay must start from.
    let mut frames: Vec<Bytes> = serde_json::to_string(&seats)
        .ok()
        .map(|data| Bytes::from(format!("event: {SEATS_EVENT}\ndata: {data}\n\n")))
        .into_iter()
        .collect();
    if let Some(data) = table.and_then(|table| serde_json::to_string(&table).ok()) {
        frames.push(Bytes::from(format!("event: {TABLE_EVENT}\ndata: {data}\n\n")));
    }
    frames
}

/// One viewer's stream of SSE bytes; ends when the room is deleted, or when `watch` ends (the
/// viewer may no longer watch, or `shutdown`: then after a reconnect hint). Dropping the stream
/// unregisters it. With a `store`, every resynchronisation also resends the room's seats and life
/// totals.
pub fn room_stream(
    live: Live,
    store: Option<Store>,
    room: ChannelId,
    subscription: RoomSubscription,
    watch: Watch,
    shutdown: tokio_util::sync::CancellationToken,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let viewer = Viewer {
        live,
        store,
        room,
        pending: subscription.initial.into(),
        receiver: subscription.receiver,
        ping_at: Instant::now() + PING_EVERY,
        watch,
        shutdown,
        closing: false,
        metrics: crate::metrics::StreamMetrics::new(),
    };
    stream::unfold(viewer, |mut viewer| async move {
        let frame = viewer.next().await?;
        Some((Ok(frame), viewer))
    })
}

struct Viewer {
    live: Live,
    /// Where a resynchronisation reads the room's seats and life totals from.
    store: Option<Store>,
    room: ChannelId,
    /// Frames to send before live ones: the snapshot or replay.
    pending: VecDeque<Bytes>,
    receiver: tokio::sync::broadcast::Receiver<live::LiveFrame>,
    ping_at: Instant,
    /// This stream's registration in [`live::Watchers`].
    watch: Watch,
    /// The server's shutdown: a stream it ends is told to reconnect.
    shutdown: tokio_util::sync::CancellationToken,
    /// The watch has ended: `pending` holds the last frames, and the stream ends after them.
    closing: bool,
    /// Deliveries, their latency and resyncs, counted on handles taken once per stream.
    metrics: crate::metrics::StreamMetrics,
}

impl Viewer {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.watch.is_ended() && !self.closing {
                // What was published while the viewer could watch (a closed room's
                // `room.deleted` among it) still reaches it; nothing published later does.
                self.closing = true;
                while let Ok(frame) = self.receiver.try_recv() {
                    self.pending.push_back(frame.bytes);
                }
                if self.shutdown.is_cancelled() {
                    self.pending.push_back(reconnect_hint());
                }
            }
            if let Some(frame) = self.pending.pop_front() {
                self.ping_at = Instant::now() + PING_EVERY;
                self.metrics.delivered(None);
                return Some(frame);
            }
            if self.closing {
                return None;
            }
            tokio::select! {
                biased;
                () = self.watch.ended() => {}
                received = self.receiver.recv() => match received {
                    Ok(frame) => {
                        self.ping_at = Instant::now() + PING_EVERY;
                        self.metrics.delivered(Some(frame.published_at));
                        return Some(frame.bytes);
                    }
                    Err(RecvError::Lagged(missed)) => {
                        self.metrics.resynced();
                        tracing::debug!(missed, room = %self.room, "viewer fell behind; resynchronising");
                        let fresh = self.live.resync(self.room);
                        self.pending = fresh.initial.into();
                        self.receiver = fresh.receiver;
                        if let Some(store) = &self.store {
                            self.pending.extend(table_frames(store, self.room).await);
                        }
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

/// The SSE `retry:` field (no event is dispatched for it) that sets how long the browser waits
/// before reconnecting: [`RECONNECT_AFTER`] plus a random part of [`RECONNECT_SPREAD`].
fn reconnect_hint() -> Bytes {
    use std::hash::{BuildHasher as _, RandomState};

    let spread = u64::try_from(RECONNECT_SPREAD.as_millis()).unwrap_or(1).max(1);
    let jitter = RandomState::new().hash_one(Instant::now()) % spread;
    let after = u64::try_from(RECONNECT_AFTER.as_millis()).unwrap_or(0) + jitter;
    Bytes::from(format!(
        ": the server is shutting down; reconnect\nretry: {after}\n\n"
    ))
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use model::event::{AppEvent, VoiceJoined};
    use tokio_util::sync::CancellationToken;

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

    /// A viewer's stream on room 3 of `live`, opened as the handler opens it (by user 7).
    fn open(
        live: &Live,
        shutdown: CancellationToken,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + use<> {
        let room = "3".parse().unwrap();
        let viewer = live::Viewer {
            user: Some("7".parse().unwrap()),
            session: None,
            room,
        };
        let watch = live.watchers().open(viewer, 8, &shutdown).unwrap();
        Box::pin(room_stream(
            live.clone(),
            None,
            room,
            live.subscribe(room, None),
            watch,
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
    async fn a_revoked_stream_sends_what_was_published_before_then_ends_and_unregisters() {
        let live = Live::new();
        let mut events = open(&live, CancellationToken::new());
        events.next().await;
        live.publish(&joined("10"));
        assert_eq!(live.watchers().count(), 1);
        live.watchers()
            .end_player("3".parse().unwrap(), "7".parse().unwrap());
        assert!(text(events.next().await).contains("user10"));
        live.publish(&joined("11"));
        assert!(
            events.next().await.is_none(),
            "nothing published after the revocation"
        );
        drop(events);
        assert_eq!(live.watchers().count(), 0);
    }

    #[tokio::test]
    async fn shutdown_tells_the_viewer_when_to_reconnect_then_ends_the_stream() {
        let live = Live::new();
        let shutdown = CancellationToken::new();
        let mut events = open(&live, shutdown.clone());
        events.next().await;
        shutdown.cancel();
        let hint = text(events.next().await);
        let after: u64 = hint
            .lines()
            .find_map(|line| line.strip_prefix("retry: "))
            .expect("a retry field")
            .parse()
            .unwrap();
        assert!(
            (1_000..5_000).contains(&after),
            "between one and five seconds: {hint}"
        );
        assert!(
            hint.ends_with("\n\n") && !hint.contains("data:"),
            "no event: {hint}"
        );
        assert!(events.next().await.is_none());
    }
}
