//! [`Live`]: the per-room fan-out behind `GET /api/stream`.
//!
//! It turns the app events coming off the bus into ready-to-send SSE frames, formatted **once per
//! event** (never once per client), and hands each room's frames only to that room's viewers. It
//! keeps, per room, the members (the source of every stream's opening snapshot) and a bounded log
//! of recent frames (what a reconnecting client with `Last-Event-ID` is replayed).
//!
//! Subscribing takes the snapshot (or the replay) and the live receiver under one lock, so no event
//! can fall between them. A viewer that cannot keep up lags on its own receiver only: publishing
//! never waits for anyone.
//!
//! Owner: `Live` owns this state behind one `std::sync::Mutex`, held only for short, non-async
//! sections. The fan-out task (`fanout`: [`run_fanout`]) is its only writer.
//!
//! Beside it, `Live` carries the registry of open streams ([`Watchers`], in `watchers`), its own
//! owner behind its own lock: whoever holds a `Live` (the rooms, the janitor, the routes) can end
//! the streams of someone who may no longer watch.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    fmt::Write as _,
    sync::{Arc, Mutex, MutexGuard},
};

use bytes::Bytes;
use model::{
    event::{AppEvent, DiscordStatus, RoomDeleted, RosterStatus},
    ids::{ChannelId, GuildId, UserId},
    stream::{RoomMember, RoomSnapshot, SNAPSHOT_EVENT},
};
use tokio::sync::{broadcast, watch};

use crate::{cluster::stream::StreamId, roster::RosterSnapshot};

mod fanout;
mod watchers;

pub use fanout::{Flow, run_fanout};
pub use watchers::{
    AlreadyShared, Revocation, SharedWatchers, TooManyStreams, VIEWER_TTL, Viewer, Watch, Watchers,
};

/// Frames kept per room for `Last-Event-ID` replay; a client further behind gets a snapshot.
pub const REPLAY_LOG_LEN: usize = 256;
/// Frames a viewer may fall behind before it is resynchronised with a snapshot.
pub const VIEWER_BUFFER: usize = 256;

/// What a new viewer receives.
#[derive(Debug)]
pub struct RoomSubscription {
    /// Sent first, in order: a snapshot, or the frames missed since `Last-Event-ID`.
    pub initial: Vec<Bytes>,
    /// Everything published for the room from then on.
    pub receiver: broadcast::Receiver<LiveFrame>,
    /// On the Stream: the viewer missed the events after `.0` up to `.1` (inclusive), which this
    /// process's log does not hold (it started later, or forgot the room). The Stream may: if it
    /// still reaches back to `.0`, its entries for the room replace the snapshot in `initial`
    /// (see [`frame_for`]); the receiver carries on after `.1`.
    pub missed_on_stream: Option<(StreamId, StreamId)>,
}

/// A frame as it is published to a room's viewers: the bytes, and when they were published, so
/// the stream can measure how long the frame took to reach each viewer's connection (the
/// delivery latency metric). Derefs to the bytes.
#[derive(Debug, Clone)]
pub struct LiveFrame {
    /// The SSE message.
    pub bytes: Bytes,
    /// When [`Live::publish`] formatted it, right after the event came off the bus.
    pub published_at: std::time::Instant,
}

impl std::ops::Deref for LiveFrame {
    type Target = Bytes;

    fn deref(&self) -> &Bytes {
        &self.bytes
    }
}

/// The fan-out's state; cheap to clone (all clones share it).
#[derive(Debug, Clone)]
pub struct Live {
    inner: Arc<Mutex<State>>,
    /// How events are numbered, and how their ids read on the wire.
    ids: Ids,
    /// The open streams, so that losing the right to watch ends them.
    watchers: Watchers,
    /// Whether the roster follows Discord, as the last `discord.status` said: seat checks and the
    /// janitor trust the members only while it does.
    status: Arc<watch::Sender<RosterStatus>>,
}

/// How events are numbered.
#[derive(Debug, Clone)]
enum Ids {
    /// By this process: ids are `<epoch>.<sequence>`; a new epoch per process means an id from
    /// before a restart is never mistaken for one of ours.
    Local(Arc<str>),
    /// By the Redis Stream (split roles): ids are Stream ids (`<ms>-<seq>`), the same on every
    /// instance and across restarts.
    Stream,
}

/// An event's place in the order: `(0, sequence)` for local ids, the Stream id's parts otherwise.
type Key = (u64, u64);

impl Ids {
    /// The SSE `id` of the event at `key`.
    fn format(&self, key: Key) -> String {
        match self {
            Self::Local(epoch) => format!("{epoch}.{}", key.1),
            Self::Stream => StreamId {
                ms: key.0,
                seq: key.1,
            }
            .to_string(),
        }
    }

    /// The key of a `Last-Event-ID` we issued; `None` for anything else.
    fn parse(&self, id: &str) -> Option<Key> {
        match self {
            Self::Local(epoch) => id
                .trim()
                .split_once('.')
                .filter(|(theirs, _)| *theirs == &**epoch)
                .and_then(|(_, seq)| seq.parse::<u64>().ok())
                .map(|seq| (0, seq)),
            Self::Stream => id.parse::<StreamId>().ok().map(|id| (id.ms, id.seq)),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// The key of the last event published ((0, 0): none yet).
    last: Key,
    rooms: HashMap<ChannelId, Room>,
    /// The roster's status, as every snapshot reports it (connecting until the gateway says).
    status: RosterStatus,
}

#[derive(Debug)]
struct Room {
    members: BTreeMap<UserId, RoomMember>,
    /// Recent frames with their keys, oldest first.
    log: VecDeque<(Key, Bytes)>,
    /// The highest key `log` no longer covers: replay from before it is impossible.
    /// Frames up to it were evicted, or were published before this log began: a room's state is
    /// dropped (on `room.deleted`, or when nobody watches or occupies it) and recreated by a later
    /// event, and the new log knows nothing of what the old one held.
    evicted_up_to: Key,
    viewers: broadcast::Sender<LiveFrame>,
}

impl Room {
    /// A room whose log begins after `since` (the last key published so far).
    fn new(since: Key) -> Self {
        Self {
            members: BTreeMap::new(),
            log: VecDeque::new(),
            evicted_up_to: since,
            viewers: broadcast::channel(VIEWER_BUFFER).0,
        }
    }
}

impl Room {
    /// Logs the frame for replay and sends it to the room's viewers.
    fn send(&mut self, seq: Key, frame: Bytes) {
        if self.log.len() == REPLAY_LOG_LEN
            && let Some((evicted, _)) = self.log.pop_front()
        {
            self.evicted_up_to = evicted;
        }
        self.log.push_back((seq, frame.clone()));
        // No viewers is fine: the frame stays in the log for whoever comes next.
        let _ = self.viewers.send(LiveFrame {
            bytes: frame,
            published_at: std::time::Instant::now(),
        });
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    /// Empty state numbering its own events, with a fresh epoch (`ROLE=all`).
    pub fn new() -> Self {
        let epoch = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        Self::with_ids(Ids::Local(epoch.into()))
    }

    /// Empty state whose events carry the ids the Redis Stream gave them (the split roles: see
    /// [`Live::publish_at`]).
    pub fn on_stream() -> Self {
        Self::with_ids(Ids::Stream)
    }

    fn with_ids(ids: Ids) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State::default())),
            ids,
            watchers: Watchers::new(),
            status: Arc::new(watch::channel(RosterStatus::Connecting).0),
        }
    }

    /// Whether the members are Discord's truth now (see [`RosterStatus`]).
    pub fn roster_status(&self) -> RosterStatus {
        *self.status.borrow()
    }

    /// Follows [`Live::roster_status`].
    pub fn watch_roster_status(&self) -> watch::Receiver<RosterStatus> {
        self.status.subscribe()
    }

    /// The open streams: register one with [`Watchers::open`], end them with `end_*`.
    pub fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // more than stopping the stream would, so keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies one event: updates the room's members, formats the frame once, logs it and sends it
    /// to the room's viewers. A `room.deleted` ends the room (its viewers' streams then close); a
    /// `discord.status` goes to every room.
    ///
    /// Numbered by this process; on the Stream (where Redis numbers events, see
    /// [`Live::publish_at`]) it is a correction made here, and carries the id of the last event
    /// read, as it belongs right after it.
    pub fn publish(&self, event: &AppEvent) {
        self.apply(None, event);
    }

    /// [`Live::publish`] for the event the Stream gave the id `id`.
    pub fn publish_at(&self, id: StreamId, event: &AppEvent) {
        self.apply(Some((id.ms, id.seq)), event);
    }

    /// The key of the next event: the Stream's, or this process's next one.
    fn next_key(&self, state: &mut State, key: Option<Key>) -> Key {
        match (&self.ids, key) {
            (Ids::Stream, Some(key)) => state.last = state.last.max(key),
            (Ids::Stream, None) => {}
            (Ids::Local(_), _) => state.last.1 += 1,
        }
        state.last
    }

    fn apply(&self, key: Option<Key>, event: &AppEvent) {
        let Some(room_id) = event.channel_id() else {
            if let AppEvent::DiscordStatus(status) = event {
                self.publish_status(key, status);
            }
            return;
        };
        let Some(data) = event_data(event) else {
            return;
        };

        let mut state = self.state();
        let before = state.last;
        let seq = self.next_key(&mut state, key);
        let frame = frame(&self.ids.format(seq), event.name(), &data);
        let room = state.rooms.entry(room_id).or_insert_with(|| Room::new(before));
        match event {
            AppEvent::VoiceJoined(joined) => {
                room.members.insert(
                    joined.user_id,
                    RoomMember {
                        user_id: joined.user_id,
                        username: joined.username.clone(),
                        avatar: joined.avatar.clone(),
                    },
                );
            }
            AppEvent::VoiceLeft(left) => {
                room.members.remove(&left.user_id);
            }
            AppEvent::RoomCreated(_)
            | AppEvent::RoomDeleted(_)
            | AppEvent::RoomInactive(_)
            | AppEvent::DiscordStatus(_)
            | AppEvent::SeatTaken(_)
            | AppEvent::SeatFreed(_)
            | AppEvent::SeatDropped(_)
            | AppEvent::LifeChanged(_)
            | AppEvent::CommandersNamed(_)
            | AppEvent::TableReset(_) => {}
        }
        room.send(seq, frame);
        if matches!(event, AppEvent::RoomDeleted(_)) {
            state.rooms.remove(&room_id);
        }
    }

    /// A `discord.status`: remembered for snapshots and seat checks, and sent (formatted once) to
    /// every room's viewers and replay log. A status that changes nothing is not sent.
    fn publish_status(&self, key: Option<Key>, payload: &DiscordStatus) {
        let status = payload.status;
        let mut state = self.state();
        if state.status == status {
            if let (Ids::Stream, Some(key)) = (&self.ids, key) {
                state.last = state.last.max(key);
            }
            return;
        }
        let seq = self.next_key(&mut state, key);
        state.status = status;
        // Plain enums and ids cannot fail to serialise.
        let data = serde_json::to_string(payload).unwrap_or_default();
        let frame = frame(&self.ids.format(seq), "discord.status", &data);
        for room in state.rooms.values_mut() {
            room.send(seq, frame.clone());
        }
        self.status.send_replace(status);
    }

    /// Starts from `roster`, as it stood at Stream id `at` (a web instance's first roster, from
    /// the gateway link): the events read after `at` then keep it current. Any state held before
    /// is replaced; nobody is told (this runs before anyone watches).
    pub fn seed(&self, roster: &RosterSnapshot, at: StreamId) {
        let mut state = self.state();
        let at = (at.ms, at.seq);
        state.last = state.last.max(at);
        state.status = roster.status;
        let since = state.last;
        state.rooms.clear();
        for member in &roster.members {
            state
                .rooms
                .entry(member.channel_id)
                .or_insert_with(|| Room::new(since))
                .members
                .insert(
                    member.user_id,
                    RoomMember {
                        user_id: member.user_id,
                        username: member.username.clone(),
                        avatar: member.avatar.clone(),
                    },
                );
        }
        drop(state);
        self.status.send_replace(roster.status);
    }

    /// Everyone in voice as this process knows it, the roster's status, and the Stream id this
    /// is the state at: what a gateway process hands a web instance on link (see [`Live::seed`]).
    /// Taken under one lock, so the position and the members always agree.
    pub fn roster(&self, guild_id: GuildId) -> (RosterSnapshot, StreamId) {
        let state = self.state();
        let mut members: Vec<crate::roster::VoiceMember> = state
            .rooms
            .iter()
            .flat_map(|(channel_id, room)| {
                room.members.values().map(|member| crate::roster::VoiceMember {
                    user_id: member.user_id,
                    channel_id: *channel_id,
                    username: member.username.clone(),
                    avatar: member.avatar.clone(),
                })
            })
            .collect();
        members.sort_by_key(|member| member.user_id);
        let snapshot = RosterSnapshot {
            guild_id,
            members,
            status: state.status,
        };
        (
            snapshot,
            StreamId {
                ms: state.last.0,
                seq: state.last.1,
            },
        )
    }

    /// Subscribes to `room`: with a `Last-Event-ID` from this process that is still covered by the
    /// room's log, the missed frames; otherwise (first connection, too old, or from before a
    /// restart) a snapshot of the room.
    pub fn subscribe(&self, room_id: ChannelId, last_event_id: Option<&str>) -> RoomSubscription {
        let mut state = self.state();
        let last_seq = state.last;
        if !state.rooms.contains_key(&room_id) {
            // Rooms nobody watches and nobody is in hold nothing worth keeping; dropping them here
            // bounds the map by what is live, whatever ids clients ask for.
            state
                .rooms
                .retain(|_, room| room.viewers.receiver_count() > 0 || !room.members.is_empty());
        }
        let status = state.status;
        let room = state.rooms.entry(room_id).or_insert_with(|| Room::new(last_seq));
        let seen = last_event_id.and_then(|id| self.ids.parse(id));
        let resume_from = seen.filter(|seq| *seq >= room.evicted_up_to && *seq <= last_seq);
        let missed_on_stream = match (&self.ids, seen, resume_from) {
            (Ids::Stream, Some(seen), None) if seen < last_seq => Some((
                StreamId {
                    ms: seen.0,
                    seq: seen.1,
                },
                StreamId {
                    ms: last_seq.0,
                    seq: last_seq.1,
                },
            )),
            _ => None,
        };
        let initial = match resume_from {
            Some(seen) => room
                .log
                .iter()
                .filter(|(seq, _)| *seq > seen)
                .map(|(_, frame)| frame.clone())
                .collect(),
            None => vec![snapshot_frame(&self.ids.format(last_seq), room_id, room, status)],
        };
        RoomSubscription {
            initial,
            receiver: room.viewers.subscribe(),
            missed_on_stream,
        }
    }

    /// A fresh snapshot and receiver for a viewer that lagged behind its buffer.
    pub fn resync(&self, room_id: ChannelId) -> RoomSubscription {
        self.subscribe(room_id, None)
    }

    /// Who is in `room_id` now.
    pub fn members_of(&self, room_id: ChannelId) -> Vec<RoomMember> {
        self.state()
            .rooms
            .get(&room_id)
            .map(|room| room.members.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Current viewers of `room_id` (streams open on it).
    pub fn viewer_count(&self, room_id: ChannelId) -> usize {
        self.state()
            .rooms
            .get(&room_id)
            .map_or(0, |room| room.viewers.receiver_count())
    }

    /// The app closed or deleted `room_id`: its viewers are told `room.deleted` now, as the
    /// gateway's `CHANNEL_DELETE` would tell them later, and every stream of the room ends. The
    /// gateway's own `room.deleted`, when it comes, finds nobody left to tell.
    pub fn close_room(&self, guild_id: GuildId, room_id: ChannelId) {
        self.publish(&AppEvent::RoomDeleted(RoomDeleted {
            guild_id,
            channel_id: room_id,
        }));
        self.watchers.end_room(room_id);
    }
}

/// The payload of `event` as its frame's `data`.
fn event_data(event: &AppEvent) -> Option<String> {
    let data = match event {
        AppEvent::VoiceJoined(payload) => serde_json::to_string(payload),
        AppEvent::VoiceLeft(payload) => serde_json::to_string(payload),
        AppEvent::RoomCreated(payload) => serde_json::to_string(payload),
        AppEvent::RoomDeleted(payload) => serde_json::to_string(payload),
        AppEvent::RoomInactive(payload) => serde_json::to_string(payload),
        AppEvent::DiscordStatus(payload) => serde_json::to_string(payload),
        AppEvent::SeatTaken(payload) => serde_json::to_string(payload),
        AppEvent::SeatFreed(payload) => serde_json::to_string(payload),
        AppEvent::SeatDropped(payload) => serde_json::to_string(payload),
        AppEvent::LifeChanged(payload) => serde_json::to_string(payload),
        AppEvent::CommandersNamed(payload) => serde_json::to_string(payload),
        AppEvent::TableReset(payload) => serde_json::to_string(payload),
    };
    data.map_err(|_| tracing::error!(event = event.name(), "cannot serialise an app event; dropped"))
        .ok()
}

/// The frame a viewer of `room` got for the Stream entry `id` holding `event`, exactly as the
/// fan-out formatted it then; `None` for an event of another room. What a replay from the Stream
/// is made of (see [`RoomSubscription::missed_on_stream`]).
pub fn frame_for(room: ChannelId, id: StreamId, event: &AppEvent) -> Option<Bytes> {
    let for_room = match event {
        AppEvent::DiscordStatus(_) => true,
        other => other.channel_id() == Some(room),
    };
    if !for_room {
        return None;
    }
    Some(frame(&id.to_string(), event.name(), &event_data(event)?))
}

fn snapshot_frame(id: &str, channel_id: ChannelId, room: &Room, discord: RosterStatus) -> Bytes {
    let mut members: Vec<RoomMember> = room.members.values().cloned().collect();
    members.sort_by(|a, b| a.username.cmp(&b.username).then(a.user_id.cmp(&b.user_id)));
    let snapshot = RoomSnapshot {
        channel_id,
        members,
        discord,
    };
    // Serialising plain strings and ids cannot fail.
    let data = serde_json::to_string(&snapshot).unwrap_or_default();
    frame(id, SNAPSHOT_EVENT, &data)
}

/// One SSE message. `data` is single-line JSON, so it needs no splitting over `data:` lines.
fn frame(id: &str, event: &str, data: &str) -> Bytes {
    let mut text = String::with_capacity(data.len() + event.len() + id.len() + 24);
    let _ = write!(text, "id: {id}\nevent: {event}\ndata: {data}\n\n");
    Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use model::event::{RoomDeleted, VoiceJoined, VoiceLeft};

    use super::*;

    // Shared with the fan-out's tests.
    pub(super) const TABLE: &str = "4000000000000000001";
    pub(super) const LOUNGE: &str = "4000000000000000002";

    pub(super) fn id<T: std::str::FromStr>(text: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        text.parse().unwrap()
    }

    pub(super) fn joined(user: &str, name: &str, channel: &str) -> AppEvent {
        AppEvent::VoiceJoined(VoiceJoined {
            guild_id: id("2"),
            channel_id: id(channel),
            user_id: id(user),
            username: name.to_owned(),
            avatar: None,
        })
    }

    fn left(user: &str, channel: &str) -> AppEvent {
        AppEvent::VoiceLeft(VoiceLeft {
            guild_id: id("2"),
            channel_id: None,
            user_id: id(user),
            left_channel_id: id(channel),
        })
    }

    fn text(frame: &Bytes) -> &str {
        std::str::from_utf8(frame).unwrap()
    }

    /// The `id:` of a frame.
    fn frame_id(frame: &Bytes) -> String {
        text(frame)
            .lines()
            .next()
            .unwrap()
            .strip_prefix("id: ")
            .unwrap()
            .to_owned()
    }

    fn status(status: RosterStatus) -> AppEvent {
        AppEvent::DiscordStatus(DiscordStatus {
            guild_id: id("2"),
            status,
        })
    }

    #[test]
    fn a_status_change_reaches_every_room_once_and_every_later_snapshot() {
        let live = Live::new();
        live.publish(&joined("10", "alice", TABLE));
        let mut table = live.subscribe(id(TABLE), None);
        let mut lounge = live.subscribe(id(LOUNGE), None);
        assert!(text(&table.initial[0]).contains(r#""discord":"connecting""#));
        live.publish(&status(RosterStatus::Ready));
        live.publish(&status(RosterStatus::Ready));
        assert_eq!(live.roster_status(), RosterStatus::Ready);
        for viewer in [&mut table, &mut lounge] {
            let frame = viewer.receiver.try_recv().unwrap();
            let frame = text(&frame);
            assert!(frame.contains("\nevent: discord.status\n"), "{frame}");
            assert!(frame.contains(r#""status":"ready""#), "{frame}");
            assert!(
                viewer.receiver.try_recv().is_err(),
                "an unchanged status is not sent again"
            );
        }
        let later = live.subscribe(id(TABLE), None);
        assert!(text(&later.initial[0]).contains(r#""discord":"ready""#));
    }

    fn stream_id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    #[test]
    fn on_the_stream_ids_are_the_streams_and_replay_works_across_instances() {
        // Two web instances reading the same Stream.
        let first = Live::on_stream();
        let second = Live::on_stream();
        for live in [&first, &second] {
            live.publish_at(stream_id(1_700_000_000_000, 0), &joined("10", "alice", TABLE));
        }
        let snapshot = &first.subscribe(id(TABLE), None).initial[0];
        assert_eq!(frame_id(snapshot), "1700000000000-0");
        for live in [&first, &second] {
            live.publish_at(stream_id(1_700_000_000_001, 0), &joined("11", "bob", TABLE));
            live.publish_at(stream_id(1_700_000_000_001, 1), &left("10", TABLE));
        }
        // The viewer's instance dies; it reconnects to the other one with what it saw last.
        let replay = second.subscribe(id(TABLE), Some("1700000000000-0")).initial;
        let ids: Vec<String> = replay.iter().map(frame_id).collect();
        assert_eq!(ids, ["1700000000001-0", "1700000000001-1"]);
        for stale in ["deadbeef.1", "1-2-3", "", "99999999999999-0"] {
            let initial = second.subscribe(id(TABLE), Some(stale)).initial;
            assert!(text(&initial[0]).contains("event: snapshot"), "{stale:?}");
        }
    }

    #[test]
    fn a_correction_made_here_on_the_stream_reuses_the_last_id_read() {
        let live = Live::on_stream();
        live.publish_at(stream_id(5, 0), &joined("10", "alice", TABLE));
        let mut viewer = live.subscribe(id(TABLE), None).receiver;
        live.publish(&left("10", TABLE));
        assert_eq!(frame_id(&viewer.try_recv().unwrap()), "5-0");
    }

    #[test]
    fn a_seeded_instance_starts_from_the_roster_and_its_position() {
        use crate::roster::{RosterSnapshot, VoiceMember};
        let live = Live::on_stream();
        live.seed(
            &RosterSnapshot {
                guild_id: id("2"),
                members: vec![VoiceMember {
                    user_id: id("10"),
                    channel_id: id(TABLE),
                    username: "alice".to_owned(),
                    avatar: None,
                }],
                status: RosterStatus::Ready,
            },
            stream_id(7, 3),
        );
        assert_eq!(live.roster_status(), RosterStatus::Ready);
        let (roster, at) = live.roster(id("2"));
        assert_eq!(
            (roster.members.len(), roster.status, at),
            (1, RosterStatus::Ready, stream_id(7, 3))
        );
        let snapshot = &live.subscribe(id(TABLE), None).initial[0];
        assert_eq!(frame_id(snapshot), "7-3");
        assert!(text(snapshot).contains("\"alice\"") && text(snapshot).contains(r#""discord":"ready""#));
        // Events read after the seed's position apply on top of it.
        live.publish_at(stream_id(7, 4), &left("10", TABLE));
        assert!(live.members_of(id(TABLE)).is_empty());
    }

    #[test]
    fn first_subscription_opens_with_a_snapshot_of_the_room() {
        let live = Live::new();
        live.publish(&joined("11", "bob", TABLE));
        live.publish(&joined("10", "alice", TABLE));
        live.publish(&joined("12", "carol", LOUNGE));
        let subscription = live.subscribe(id(TABLE), None);
        assert_eq!(subscription.initial.len(), 1);
        let snapshot = text(&subscription.initial[0]);
        assert!(snapshot.contains("\nevent: snapshot\n"), "{snapshot}");
        assert!(
            snapshot.contains(&format!(
                r#"data: {{"channelId":"{TABLE}","members":[{{"userId":"10","username":"alice","avatar":null}},{{"userId":"11","username":"bob","avatar":null}}],"discord":"connecting"}}"#
            )),
            "{snapshot}"
        );
        assert!(snapshot.ends_with("}\n\n"));
    }

    #[tokio::test]
    async fn viewers_receive_only_their_room_and_frames_are_shared_not_reformatted() {
        let live = Live::new();
        let mut table = live.subscribe(id(TABLE), None).receiver;
        let mut table_again = live.subscribe(id(TABLE), None).receiver;
        let mut lounge = live.subscribe(id(LOUNGE), None).receiver;
        live.publish(&joined("10", "alice", TABLE));
        let first = table.recv().await.unwrap();
        let second = table_again.recv().await.unwrap();
        assert!(
            text(&first).contains("event: voice.joined\ndata: {\"guildId\":\"2\""),
            "{}",
            text(&first)
        );
        assert_eq!(
            first.as_ptr(),
            second.as_ptr(),
            "one formatted frame shared by every viewer"
        );
        assert!(lounge.try_recv().is_err(), "another room's event never arrives");
    }

    #[test]
    fn last_event_id_replays_what_was_missed() {
        let live = Live::new();
        live.publish(&joined("10", "alice", TABLE));
        let seen = frame_id(&live.subscribe(id(TABLE), None).initial[0]);
        live.publish(&joined("11", "bob", TABLE));
        live.publish(&joined("12", "carol", LOUNGE));
        live.publish(&left("10", TABLE));
        let replay = live.subscribe(id(TABLE), Some(&seen)).initial;
        let events: Vec<&str> = replay
            .iter()
            .map(|frame| text(frame).lines().nth(1).unwrap())
            .collect();
        assert_eq!(events, ["event: voice.joined", "event: voice.left"]);
        assert!(text(&replay[0]).contains("\"bob\""));
    }

    #[test]
    fn a_gap_too_old_or_an_id_from_another_process_gets_a_snapshot() {
        let live = Live::new();
        live.publish(&joined("10", "alice", TABLE));
        let seen = frame_id(&live.subscribe(id(TABLE), None).initial[0]);
        for n in 0..=REPLAY_LOG_LEN {
            let user = format!("{}", 100 + n);
            live.publish(&joined(&user, "x", TABLE));
            live.publish(&left(&user, TABLE));
        }
        for last_event_id in [seen.as_str(), "deadbeef.1", "garbage", "", "1"] {
            let initial = live.subscribe(id(TABLE), Some(last_event_id)).initial;
            assert_eq!(initial.len(), 1, "{last_event_id:?}");
            assert!(text(&initial[0]).contains("event: snapshot"), "{last_event_id:?}");
        }
        let Ids::Local(epoch) = &live.ids else {
            unreachable!("Live::new numbers its own events")
        };
        let future = format!("{epoch}.999999");
        assert!(text(&live.subscribe(id(TABLE), Some(&future)).initial[0]).contains("event: snapshot"));
    }

    #[test]
    fn a_room_dropped_and_recreated_never_replays_across_what_it_forgot() {
        type Forget = fn(&Live);
        let forget_unwatched: Forget = |live| drop(live.subscribe(id(LOUNGE), None));
        let delete: Forget = |live| {
            live.publish(&AppEvent::RoomDeleted(RoomDeleted {
                guild_id: id("2"),
                channel_id: id(TABLE),
            }));
        };
        for forget in [forget_unwatched, delete] {
            // Recreated by the reconnecting viewer itself: nothing was published since.
            let live = Live::new();
            live.publish(&joined("10", "alice", TABLE));
            let seen = frame_id(&live.subscribe(id(TABLE), None).initial[0]);
            live.publish(&left("10", TABLE));
            forget(&live);
            let initial = live.subscribe(id(TABLE), Some(&seen)).initial;
            assert_eq!(initial.len(), 1);
            assert!(
                text(&initial[0]).contains("\"members\":[]"),
                "{}",
                text(&initial[0])
            );

            // Recreated by a later event.
            let live = Live::new();
            live.publish(&joined("10", "alice", TABLE));
            let seen = frame_id(&live.subscribe(id(TABLE), None).initial[0]);
            // While the viewer is away: alice leaves, the room's state is dropped, bob comes.
            live.publish(&left("10", TABLE));
            forget(&live);
            live.publish(&joined("11", "bob", TABLE));
            let initial = live.subscribe(id(TABLE), Some(&seen)).initial;
            assert_eq!(initial.len(), 1);
            let snapshot = text(&initial[0]);
            assert!(snapshot.contains("event: snapshot"), "{snapshot}");
            assert!(
                snapshot.contains("\"bob\"") && !snapshot.contains("\"alice\""),
                "{snapshot}"
            );

            // Within the recreated room's own life, replay works as before.
            let seen = frame_id(&initial[0]);
            live.publish(&left("11", TABLE));
            let replay = live.subscribe(id(TABLE), Some(&seen)).initial;
            assert_eq!(replay.len(), 1);
            assert!(text(&replay[0]).contains("event: voice.left"));
        }
    }

    #[tokio::test]
    async fn a_slow_viewer_lags_alone_and_publishing_never_waits() {
        let live = Live::new();
        let mut slow = live.subscribe(id(TABLE), None).receiver;
        let mut fast = live.subscribe(id(TABLE), None).receiver;
        for n in 0..(VIEWER_BUFFER + 10) {
            let user = format!("{}", 100 + n);
            live.publish(&joined(&user, "x", TABLE));
            assert!(fast.recv().await.is_ok(), "the live viewer keeps up");
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(10))
        ));
        let resync = live.resync(id(TABLE));
        assert!(text(&resync.initial[0]).contains("event: snapshot"));
        assert_eq!(live.members_of(id(TABLE)).len(), VIEWER_BUFFER + 10);
    }

    #[test]
    fn rooms_nobody_watches_or_occupies_are_not_kept() {
        let live = Live::new();
        live.publish(&joined("10", "alice", TABLE));
        for n in 1..=1000_u64 {
            drop(live.subscribe(id(&(5_000_000_000 + n).to_string()), None));
        }
        let kept = live.state().rooms.len();
        assert!(
            kept <= 2,
            "the occupied room and the last one asked for, not {kept}"
        );
        assert_eq!(live.members_of(id(TABLE)).len(), 1, "the occupied room survives");
    }

    #[tokio::test]
    async fn room_deleted_reaches_viewers_then_ends_their_streams() {
        let live = Live::new();
        live.publish(&joined("10", "alice", TABLE));
        let mut viewer = live.subscribe(id(TABLE), None).receiver;
        assert_eq!(live.viewer_count(id(TABLE)), 1);
        live.publish(&AppEvent::RoomDeleted(RoomDeleted {
            guild_id: id("2"),
            channel_id: id(TABLE),
        }));
        assert!(text(&viewer.recv().await.unwrap()).contains("event: room.deleted"));
        assert!(matches!(
            viewer.recv().await,
            Err(broadcast::error::RecvError::Closed)
        ));
        assert!(live.members_of(id(TABLE)).is_empty());
    }

    #[tokio::test]
    async fn closing_a_room_tells_its_viewers_and_ends_their_streams() {
        let live = Live::new();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let viewer = Viewer {
            user: Some(id("10")),
            session: None,
            room: id(TABLE),
        };
        let watch = live.watchers().open(viewer, 8, &shutdown).unwrap();
        let elsewhere = live
            .watchers()
            .open(
                Viewer {
                    room: id(LOUNGE),
                    ..viewer
                },
                8,
                &shutdown,
            )
            .unwrap();
        let mut receiver = live.subscribe(id(TABLE), None).receiver;
        live.close_room(id("2"), id(TABLE));
        assert!(text(&receiver.recv().await.unwrap()).contains("event: room.deleted"));
        assert!(watch.is_ended());
        assert!(!elsewhere.is_ended());
    }
}
