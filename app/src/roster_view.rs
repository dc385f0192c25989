//! The table's state (the room's seats merged with who is in its voice channel) and how each
//! stream message changes it.
//!
//! Pure, so it is tested natively; `live` (browser only) feeds it from the `EventSource`.

use model::{
    error::AppError,
    event::{
        DiscordStatus, RosterStatus, SeatDropped, SeatFreed, SeatFreedReason, SeatTaken, VoiceJoined,
        VoiceLeft,
    },
    ids::{ChannelId, UserId},
    room::RoomStatus,
    stream::{RoomMember, RoomSnapshot, SEATS_EVENT, SNAPSHOT_EVENT, Seat, TableSeats},
};

/// The most players a game room holds.
pub const ROOM_CAPACITY: usize = 4;

/// How the stream is doing, shown next to the member list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// Opening the first connection (also what the server renders).
    Connecting,
    /// Receiving events.
    Live,
    /// The connection dropped; reconnecting.
    Reconnecting,
    /// The room's voice channel was deleted.
    RoomClosed,
    /// The server refused the stream because the viewer is signed out (their session ended).
    SignedOut,
    /// The server refused the stream because the viewer is no longer one of the room's players.
    NotAPlayer,
}

impl StreamStatus {
    /// A stable name for `data-status` attributes (what tests and CSS select on).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Reconnecting => "reconnecting",
            Self::RoomClosed => "closed",
            Self::SignedOut => "signed-out",
            Self::NotAPlayer => "not-a-player",
        }
    }

    /// What the player reads.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Connecting => "Connecting…",
            Self::Live => "Live",
            Self::Reconnecting => "Reconnecting…",
            Self::RoomClosed => "This room has closed",
            Self::SignedOut => "Signed out",
            Self::NotAPlayer => "Not at this table",
        }
    }

    /// Whether the stream is over for good: nothing the browser retries would be allowed.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::RoomClosed | Self::SignedOut | Self::NotAPlayer)
    }

    /// Why a stream the browser gave up on will never be allowed, from what the server says of the
    /// room now: its status, and (for an open room) the viewer's access to its page. `None` means
    /// the refusal may pass (an outage, a rate limit, a restart) and the stream is tried again.
    pub fn after_refusal(
        status: &Result<RoomStatus, AppError>,
        access: Option<&Result<(), AppError>>,
    ) -> Option<Self> {
        match status {
            Ok(RoomStatus::Ended | RoomStatus::Unknown) => Some(Self::RoomClosed),
            Ok(RoomStatus::Open) => match access {
                Some(Err(AppError::Unauthenticated)) => Some(Self::SignedOut),
                Some(Err(AppError::Forbidden)) => Some(Self::NotAPlayer),
                Some(Err(AppError::NotFound)) => Some(Self::RoomClosed),
                _ => None,
            },
            Ok(RoomStatus::DemoChannel) | Err(_) => None,
        }
    }
}

/// What the member list shows as its status (`data-status` and the label): the stream's, except
/// that a live stream over a roster not following Discord says "Connecting to Discord…" — a frozen
/// roster is never passed off as live.
pub fn shown_status(stream: StreamStatus, view: &RosterView) -> (&'static str, &'static str) {
    if stream == StreamStatus::Live && !view.follows_discord() {
        ("discord", "Connecting to Discord…")
    } else {
        (stream.as_str(), stream.label())
    }
}

/// What the member list says when nobody is listed.
pub fn empty_text(view: &RosterView) -> &'static str {
    if view.follows_discord() {
        "Nobody is in the voice channel yet."
    } else {
        "Connecting to Discord…"
    }
}

/// Who is in the room's voice channel, in a stable order (by name, then id), and whether that
/// is Discord's truth or a roster still connecting; for a game room, also its seats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterView {
    members: Vec<RoomMember>,
    discord: RosterStatus,
    /// The room's seats, in the order they were taken; `None` until the stream's `seats` message
    /// (and for ever on a voice channel that is no room).
    seats: Option<Vec<Seat>>,
    /// The server's clock minus this browser's, in milliseconds, as measured by the last `seats`.
    skew_ms: i64,
    /// The last player who got up on purpose or was removed: told on the table, unlike a drop.
    departure: Option<Departure>,
    /// The room was closed (its `room.deleted` arrived): nothing can be done in it any more.
    closed: bool,
    /// The last join or leave, for the page's polite live region; a snapshot never sets it, so
    /// opening the page does not read out everyone already there.
    announcement: Option<Announcement>,
}

/// One join or leave, said to screen readers: "Bob joined the table".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// Counts every announcement, so the same sentence twice is still two announcements.
    pub seq: u64,
    /// The sentence, the player's name first.
    pub text: String,
}

/// Someone who no longer holds a seat, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    /// Their display name.
    pub username: String,
    /// Left on purpose, or removed by the owner.
    pub reason: SeatFreedReason,
}

/// Where a seated player is, as far as voice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Voice {
    /// In the room's voice channel.
    In,
    /// Left it at this server time (unix milliseconds); the seat is held.
    Dropped {
        /// When, on the server's clock.
        since_ms: i64,
    },
    /// Seated but not in the channel, and not seen leaving it: has not come yet.
    NotYet,
    /// The roster does not follow Discord right now: nobody can say.
    Connecting,
}

impl Voice {
    /// A stable name for `data-voice` attributes.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Dropped { .. } => "dropped",
            Self::NotYet => "waiting",
            Self::Connecting => "connecting",
        }
    }

    /// What the seat says, at `server_now_ms` (the browser's clock corrected by the server's).
    pub fn label(self, server_now_ms: i64) -> String {
        match self {
            Self::In => "in voice".to_owned(),
            Self::Dropped { since_ms } => {
                format!("dropped {} ago", minutes_seconds(server_now_ms - since_ms))
            }
            Self::NotYet => "not in voice yet".to_owned(),
            Self::Connecting => "connecting to Discord…".to_owned(),
        }
    }
}

/// `m:ss` for a duration in milliseconds (negative, from clock jitter, counts as zero).
pub fn minutes_seconds(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// One seat as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatView {
    /// The seat, as stored.
    pub seat: Seat,
    /// The avatar to show: Discord's current one while in voice, else the stored one.
    pub avatar: Option<String>,
    /// Their voice status.
    pub voice: Voice,
}

/// Why a stream message could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The `data:` was not the JSON the event name promises.
    #[error("malformed `{event}` data: {reason}")]
    Malformed {
        /// The SSE event name.
        event: String,
        /// The decoder's message.
        reason: String,
    },
}

/// What applying a message did, beyond changing the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The list changed, or nothing relevant happened.
    Updated,
    /// The room's channel was deleted: the room is over.
    RoomClosed,
}

impl RosterView {
    /// The members, in display order.
    pub fn members(&self) -> &[RoomMember] {
        &self.members
    }

    /// Whether `user` is in the room's voice channel.
    pub fn contains(&self, user: UserId) -> bool {
        self.members.iter().any(|member| member.user_id == user)
    }

    /// Whether the members are Discord's truth. Until they are, the list says "Connecting to
    /// Discord…" and nobody is judged absent.
    pub fn follows_discord(&self) -> bool {
        self.discord.is_ready()
    }

    /// Whether `user` is in the room's voice channel, when that can be known: `None` while the
    /// roster is not following Discord.
    pub fn presence(&self, user: UserId) -> Option<bool> {
        self.follows_discord().then(|| self.contains(user))
    }

    /// The seats merged with the voice roster, or `None` before the room's seats are known.
    pub fn seat_views(&self) -> Option<Vec<SeatView>> {
        let seats = self.seats.as_ref()?;
        Some(
            seats
                .iter()
                .map(|seat| {
                    let member = self.members.iter().find(|member| member.user_id == seat.user_id);
                    let voice = if !self.follows_discord() {
                        Voice::Connecting
                    } else if member.is_some() {
                        Voice::In
                    } else if let Some(since_ms) = seat.dropped_at_ms {
                        Voice::Dropped { since_ms }
                    } else {
                        Voice::NotYet
                    };
                    SeatView {
                        avatar: member.map_or_else(|| seat.avatar.clone(), |member| member.avatar.clone()),
                        seat: seat.clone(),
                        voice,
                    }
                })
                .collect(),
        )
    }

    /// The seats as stored, once known.
    pub fn seats(&self) -> Option<&[Seat]> {
        self.seats.as_deref()
    }

    /// Who is in the voice channel without a seat: shown apart, never counted as a player. Empty
    /// while the seats are not known.
    pub fn unseated(&self) -> Vec<RoomMember> {
        let Some(seats) = &self.seats else {
            return Vec::new();
        };
        self.members
            .iter()
            .filter(|member| !seats.iter().any(|seat| seat.user_id == member.user_id))
            .cloned()
            .collect()
    }

    /// The count beside the table's title: the seats taken in a room (so never more than four),
    /// else who is in the channel.
    pub fn count(&self) -> usize {
        self.seats.as_ref().map_or(self.members.len(), Vec::len)
    }

    /// Whether the room was closed while the page was open.
    pub const fn is_closed(&self) -> bool {
        self.closed
    }

    /// The room was found closed without its `room.deleted` (it closed while the stream was down).
    pub const fn mark_closed(&mut self) {
        self.closed = true;
    }

    /// The last departure (leave or removal) from the table.
    pub fn departure(&self) -> Option<&Departure> {
        self.departure.as_ref()
    }

    /// The last join or leave (into or out of voice, a seat or the game) since the page opened.
    pub fn last_announcement(&self) -> Option<&Announcement> {
        self.announcement.as_ref()
    }

    fn announce(&mut self, username: &str, what: &str) {
        let seq = self.announcement.as_ref().map_or(1, |last| last.seq + 1);
        // No bidi isolation (unlike names on the page): the text is only ever heard, in logical
        // order, never seen.
        self.announcement = Some(Announcement {
            seq,
            text: format!("{username} {what}"),
        });
    }

    /// The server's clock when this browser's reads `browser_now_ms`.
    pub const fn server_now(&self, browser_now_ms: i64) -> i64 {
        browser_now_ms.saturating_add(self.skew_ms)
    }

    /// Applies one SSE message as [`Self::apply_at`] does, with the browser's clock at 0 (tests).
    pub fn apply(&mut self, room: ChannelId, event: &str, data: &str) -> Result<Applied, ViewError> {
        self.apply_at(room, event, data, 0)
    }

    /// Applies one SSE message (`event:` name and `data:` JSON) for `room`, received when the
    /// browser's clock read `now_ms`. Events for other channels are ignored (the server already
    /// filters; this keeps a stale frame harmless).
    pub fn apply_at(
        &mut self,
        room: ChannelId,
        event: &str,
        data: &str,
        now_ms: i64,
    ) -> Result<Applied, ViewError> {
        let malformed = |err: serde_json::Error| ViewError::Malformed {
            event: event.to_owned(),
            reason: err.to_string(),
        };
        match event {
            SNAPSHOT_EVENT => {
                let snapshot: RoomSnapshot = serde_json::from_str(data).map_err(malformed)?;
                if snapshot.channel_id == room {
                    self.members = snapshot.members;
                    self.discord = snapshot.discord;
                    self.sort();
                }
            }
            "voice.joined" => {
                let joined: VoiceJoined = serde_json::from_str(data).map_err(malformed)?;
                if joined.channel_id == room {
                    if let Some(seat) = self.seat_mut(joined.user_id) {
                        seat.dropped_at_ms = None;
                    }
                    if !self.contains(joined.user_id) {
                        self.announce(&joined.username, "joined the table");
                    }
                    self.members.retain(|member| member.user_id != joined.user_id);
                    self.members.push(RoomMember {
                        user_id: joined.user_id,
                        username: joined.username,
                        avatar: joined.avatar,
                    });
                    self.sort();
                }
            }
            "voice.left" => {
                let left: VoiceLeft = serde_json::from_str(data).map_err(malformed)?;
                if left.left_channel_id == room {
                    if let Some(index) = self
                        .members
                        .iter()
                        .position(|member| member.user_id == left.user_id)
                    {
                        let gone = self.members.remove(index);
                        self.announce(&gone.username, "left voice");
                    }
                    // Until the stored time arrives (`seat.dropped`, right behind), the server's
                    // now as this browser estimates it.
                    let estimate = self.server_now(now_ms);
                    if let Some(seat) = self.seat_mut(left.user_id) {
                        seat.dropped_at_ms = Some(estimate);
                    }
                }
            }
            SEATS_EVENT => {
                let table: TableSeats = serde_json::from_str(data).map_err(malformed)?;
                if table.channel_id == room {
                    self.seats = Some(table.seats);
                    self.skew_ms = table.server_now_ms.saturating_sub(now_ms);
                }
            }
            "seat.taken" => {
                let taken: SeatTaken = serde_json::from_str(data).map_err(malformed)?;
                if taken.channel_id == room {
                    self.seat_taken(taken);
                }
            }
            "seat.freed" => {
                let freed: SeatFreed = serde_json::from_str(data).map_err(malformed)?;
                if freed.channel_id == room {
                    self.seat_freed(&freed);
                }
            }
            "seat.dropped" => {
                let dropped: SeatDropped = serde_json::from_str(data).map_err(malformed)?;
                if dropped.channel_id == room
                    && !self.contains(dropped.user_id)
                    && let Some(seat) = self.seat_mut(dropped.user_id)
                {
                    seat.dropped_at_ms = Some(dropped.dropped_at_ms);
                }
            }
            "room.deleted" => {
                self.closed = true;
                return Ok(Applied::RoomClosed);
            }
            "discord.status" => {
                let status: DiscordStatus = serde_json::from_str(data).map_err(malformed)?;
                self.discord = status.status;
            }
            _ => {}
        }
        Ok(Applied::Updated)
    }

    fn seat_taken(&mut self, taken: SeatTaken) {
        let seats = self.seats.get_or_insert_with(Vec::new);
        let new = !seats.iter().any(|seat| seat.user_id == taken.user_id);
        if new {
            seats.push(Seat {
                user_id: taken.user_id,
                username: taken.username.clone(),
                avatar: taken.avatar,
                owner: taken.owner,
                dropped_at_ms: None,
            });
        }
        if self.departure.as_ref().is_some_and(|gone| {
            seats
                .iter()
                .any(|seat| seat.user_id == taken.user_id && seat.username == gone.username)
        }) {
            self.departure = None;
        }
        if new {
            self.announce(&taken.username, "took a seat");
        }
    }

    fn seat_freed(&mut self, freed: &SeatFreed) {
        let Some(seats) = &mut self.seats else { return };
        let Some(index) = seats.iter().position(|seat| seat.user_id == freed.user_id) else {
            return;
        };
        let seat = seats.remove(index);
        let what = match freed.reason {
            SeatFreedReason::Left => "left the game",
            SeatFreedReason::Removed => "was removed from the game",
        };
        self.announce(&seat.username, what);
        self.departure = Some(Departure {
            username: seat.username,
            reason: freed.reason,
        });
    }

    fn seat_mut(&mut self, user: UserId) -> Option<&mut Seat> {
        self.seats.as_mut()?.iter_mut().find(|seat| seat.user_id == user)
    }

    fn sort(&mut self) {
        self.members
            .sort_by(|a, b| a.username.cmp(&b.username).then(a.user_id.cmp(&b.user_id)));
    }
}

/// Whether the voice dropout modal shows: it opens when the signed-in user, having been in the
/// room's voice channel, is no longer in it (left voice or moved away), and closes by itself when
/// they are back. It never rejoins anyone: that is the user's choice in Discord.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropoutWatch {
    was_present: bool,
}

impl DropoutWatch {
    /// Feeds whether the user is in the room now (`None`: cannot be known, the roster is not
    /// following Discord); returns whether the modal shows. Not knowing never opens it.
    pub fn observe(&mut self, present: Option<bool>) -> bool {
        match present {
            Some(true) => {
                self.was_present = true;
                false
            }
            Some(false) => self.was_present,
            None => false,
        }
    }
}

/// Discord's deep link to a voice channel, which opens it in the Discord app or web client.
pub fn discord_channel_link(guild: model::ids::GuildId, channel: ChannelId) -> String {
    format!("https://discord.com/channels/{guild}/{channel}")
}

/// The avatar image for a member with a custom avatar, on Discord's CDN. Members without one get an
/// initial drawn by the page instead of an image (which also works with no network at all).
pub fn avatar_url(member: &RoomMember) -> Option<String> {
    let hash = member.avatar.as_ref()?;
    Some(format!(
        "https://cdn.discordapp.com/avatars/{}/{hash}.png?size=64",
        member.user_id
    ))
}

/// The letter shown when a member has no avatar image.
pub fn initial(member: &RoomMember) -> String {
    member
        .username
        .chars()
        .next()
        .map_or_else(|| "?".to_owned(), |c| c.to_uppercase().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "4000000000000000001";
    const OTHER: &str = "4000000000000000002";

    fn room() -> ChannelId {
        ROOM.parse().unwrap()
    }

    fn joined(user: &str, name: &str, channel: &str) -> String {
        format!(
            r#"{{"guildId":"2","channelId":"{channel}","userId":"{user}","username":"{name}","avatar":null}}"#
        )
    }

    fn left(user: &str, channel: &str) -> String {
        format!(r#"{{"guildId":"2","channelId":null,"userId":"{user}","leftChannelId":"{channel}"}}"#)
    }

    #[test]
    fn a_refused_stream_stops_only_when_it_can_never_be_allowed() {
        let open = Ok(RoomStatus::Open);
        let refused = |err: AppError| StreamStatus::after_refusal(&open, Some(&Err(err)));
        assert_eq!(refused(AppError::Unauthenticated), Some(StreamStatus::SignedOut));
        assert_eq!(refused(AppError::Forbidden), Some(StreamStatus::NotAPlayer));
        assert_eq!(refused(AppError::NotFound), Some(StreamStatus::RoomClosed));
        // Passing trouble: tried again.
        assert_eq!(refused(AppError::Upstream), None);
        assert_eq!(
            refused(AppError::RateLimited {
                retry_after_ms: 1_000
            }),
            None
        );
        assert_eq!(StreamStatus::after_refusal(&open, Some(&Ok(()))), None);
        assert_eq!(StreamStatus::after_refusal(&open, None), None);
        assert_eq!(
            StreamStatus::after_refusal(&Ok(RoomStatus::Ended), None),
            Some(StreamStatus::RoomClosed)
        );
        assert_eq!(
            StreamStatus::after_refusal(&Ok(RoomStatus::Unknown), None),
            Some(StreamStatus::RoomClosed)
        );
        // A demo channel has no players to be refused as; the server not answering says nothing.
        assert_eq!(
            StreamStatus::after_refusal(&Ok(RoomStatus::DemoChannel), None),
            None
        );
        assert_eq!(StreamStatus::after_refusal(&Err(AppError::Internal), None), None);
        assert!(StreamStatus::SignedOut.is_final() && !StreamStatus::Reconnecting.is_final());
    }

    fn names(view: &RosterView) -> Vec<&str> {
        view.members()
            .iter()
            .map(|member| member.username.as_str())
            .collect()
    }

    #[test]
    fn messages_update_the_list_in_place() {
        let mut view = RosterView::default();
        let steps: Vec<(&str, String, Vec<&str>)> = vec![
            (
                "snapshot",
                format!(
                    r#"{{"channelId":"{ROOM}","members":[{{"userId":"11","username":"bob","avatar":null}}],"discord":"ready"}}"#
                ),
                vec!["bob"],
            ),
            ("voice.joined", joined("10", "alice", ROOM), vec!["alice", "bob"]),
            ("voice.joined", joined("10", "alice", ROOM), vec!["alice", "bob"]),
            ("voice.joined", joined("12", "carol", OTHER), vec!["alice", "bob"]),
            ("voice.left", left("11", OTHER), vec!["alice", "bob"]),
            ("voice.left", left("11", ROOM), vec!["alice"]),
            (
                "snapshot",
                format!(r#"{{"channelId":"{ROOM}","members":[],"discord":"ready"}}"#),
                vec![],
            ),
        ];
        for (event, data, expected) in steps {
            assert_eq!(
                view.apply(room(), event, &data),
                Ok(Applied::Updated),
                "{event} {data}"
            );
            assert_eq!(names(&view), expected, "{event} {data}");
        }
    }

    #[test]
    fn room_deleted_closes_the_room_and_bad_data_is_an_error_not_a_panic() {
        let mut view = RosterView::default();
        let deleted = format!(r#"{{"guildId":"2","channelId":"{ROOM}"}}"#);
        assert_eq!(
            view.apply(room(), "room.deleted", &deleted),
            Ok(Applied::RoomClosed)
        );
        assert!(matches!(
            view.apply(room(), "voice.joined", "{not json"),
            Err(ViewError::Malformed { .. })
        ));
        assert_eq!(
            view.apply(room(), "unknown.event", "whatever"),
            Ok(Applied::Updated)
        );
    }

    #[test]
    fn until_discord_is_followed_nobody_is_judged_absent() {
        let mut view = RosterView::default();
        let me: UserId = "11".parse().unwrap();
        assert_eq!(view.presence(me), None, "before any snapshot");
        let frozen = format!(
            r#"{{"channelId":"{ROOM}","members":[{{"userId":"11","username":"bob","avatar":null}}],"discord":"connecting"}}"#
        );
        view.apply(room(), "snapshot", &frozen).unwrap();
        assert_eq!(view.presence(me), None, "a snapshot that is not the truth");
        view.apply(room(), "discord.status", r#"{"guildId":"2","status":"ready"}"#)
            .unwrap();
        assert_eq!(view.presence(me), Some(true));
        view.apply(
            room(),
            "discord.status",
            r#"{"guildId":"2","status":"connecting"}"#,
        )
        .unwrap();
        view.apply(room(), "voice.left", &left("11", ROOM)).unwrap();
        assert_eq!(view.presence(me), None, "lost connection: absent is not known");
        assert!(!view.follows_discord());
        assert_eq!(
            shown_status(StreamStatus::Live, &view),
            ("discord", "Connecting to Discord…")
        );
        assert_eq!(empty_text(&view), "Connecting to Discord…");
        assert_eq!(shown_status(StreamStatus::Reconnecting, &view).0, "reconnecting");
        view.apply(room(), "discord.status", r#"{"guildId":"2","status":"ready"}"#)
            .unwrap();
        assert_eq!(shown_status(StreamStatus::Live, &view), ("live", "Live"));
        assert_eq!(empty_text(&view), "Nobody is in the voice channel yet.");
    }

    #[test]
    fn the_dropout_modal_opens_only_after_being_in_the_room_and_closes_on_return() {
        let mut watch = DropoutWatch::default();
        let shown: Vec<bool> = [false, false, true, true, false, false, true, false]
            .into_iter()
            .map(|present| watch.observe(Some(present)))
            .collect();
        assert_eq!(shown, [false, false, false, false, true, true, false, true]);
        assert!(
            !watch.observe(None),
            "a roster that is not following never opens it"
        );
        assert!(watch.observe(Some(false)), "the truth does, once it is back");
        assert_eq!(
            discord_channel_link("2".parse().unwrap(), room()),
            format!("https://discord.com/channels/2/{ROOM}")
        );
    }

    fn seats(server_now_ms: i64) -> String {
        format!(
            r#"{{"channelId":"{ROOM}","serverNowMs":{server_now_ms},"seats":[
                {{"userId":"10","username":"alice","avatar":null,"owner":true,"droppedAtMs":null}},
                {{"userId":"11","username":"bob","avatar":null,"owner":false,"droppedAtMs":{}}}]}}"#,
            server_now_ms - 65_000
        )
    }

    fn voices(view: &RosterView) -> Vec<(String, Voice)> {
        view.seat_views()
            .unwrap()
            .into_iter()
            .map(|seat| (seat.seat.username, seat.voice))
            .collect()
    }

    #[test]
    fn seats_merge_with_voice_drops_count_from_the_server_clock_and_clear_on_return() {
        let mut view = RosterView::default();
        let server_now = 1_700_000_100_000;
        let browser_now = server_now - 7_000; // the browser's clock is 7 s slow
        let ready = format!(
            r#"{{"channelId":"{ROOM}","members":[{{"userId":"10","username":"alice","avatar":null}},{{"userId":"12","username":"carol","avatar":null}}],"discord":"ready"}}"#
        );
        view.apply_at(room(), "snapshot", &ready, browser_now).unwrap();
        assert_eq!(view.seat_views(), None, "no seats before the room's `seats`");
        view.apply_at(room(), "seats", &seats(server_now), browser_now)
            .unwrap();
        assert_eq!(view.count(), 2, "seats, not voices, are counted");
        assert_eq!(names(&view).len(), 2);
        let unseated: Vec<String> = view.unseated().into_iter().map(|m| m.username).collect();
        assert_eq!(unseated, ["carol"]);
        assert_eq!(
            voices(&view),
            [
                ("alice".to_owned(), Voice::In),
                (
                    "bob".to_owned(),
                    Voice::Dropped {
                        since_ms: server_now - 65_000
                    }
                )
            ]
        );
        assert_eq!(
            view.seat_views().unwrap()[1]
                .voice
                .label(view.server_now(browser_now)),
            "dropped 1:05 ago"
        );

        // bob comes back: the timer goes; alice drops: the stored time replaces the estimate.
        view.apply_at(room(), "voice.joined", &joined("11", "bob", ROOM), browser_now)
            .unwrap();
        view.apply_at(room(), "voice.left", &left("10", ROOM), browser_now + 1_000)
            .unwrap();
        assert_eq!(
            voices(&view),
            [
                (
                    "alice".to_owned(),
                    Voice::Dropped {
                        since_ms: server_now + 1_000
                    }
                ),
                ("bob".to_owned(), Voice::In)
            ]
        );
        let stored = format!(
            r#"{{"channelId":"{ROOM}","userId":"10","droppedAtMs":{}}}"#,
            server_now + 1_003
        );
        view.apply_at(room(), "seat.dropped", &stored, browser_now + 1_010)
            .unwrap();
        assert_eq!(
            voices(&view)[0].1,
            Voice::Dropped {
                since_ms: server_now + 1_003
            }
        );

        // Carol sits down; bob leaves on purpose, which is told apart from a drop.
        let taken = format!(
            r#"{{"channelId":"{ROOM}","userId":"12","username":"carol","avatar":null,"owner":false}}"#
        );
        view.apply(room(), "seat.taken", &taken).unwrap();
        view.apply(room(), "seat.taken", &taken).unwrap();
        assert_eq!(view.count(), 3);
        assert!(view.unseated().is_empty());
        let freed = format!(r#"{{"channelId":"{ROOM}","userId":"11","reason":"left"}}"#);
        view.apply(room(), "seat.freed", &freed).unwrap();
        assert_eq!(view.count(), 2);
        assert_eq!(
            view.departure(),
            Some(&Departure {
                username: "bob".to_owned(),
                reason: SeatFreedReason::Left
            })
        );
        let unseated: Vec<String> = view.unseated().into_iter().map(|m| m.username).collect();
        assert_eq!(unseated, ["bob"], "still in the channel, no longer seated");

        // While the roster does not follow Discord, nobody's voice is judged.
        view.apply(
            room(),
            "discord.status",
            r#"{"guildId":"2","status":"connecting"}"#,
        )
        .unwrap();
        assert!(voices(&view).iter().all(|(_, voice)| *voice == Voice::Connecting));
        assert_eq!(Voice::Connecting.label(0), "connecting to Discord…");
        assert_eq!(Voice::NotYet.label(0), "not in voice yet");
        assert_eq!(minutes_seconds(-5), "0:00");
        assert_eq!(minutes_seconds(600_000), "10:00");
    }

    fn announced(view: &RosterView) -> Option<(u64, &str)> {
        view.last_announcement()
            .map(|announcement| (announcement.seq, announcement.text.as_str()))
    }

    #[test]
    fn joins_and_leaves_are_announced_once_each_but_a_snapshot_is_not() {
        let mut view = RosterView::default();
        let ready = format!(
            r#"{{"channelId":"{ROOM}","members":[{{"userId":"10","username":"alice","avatar":null}}],"discord":"ready"}}"#
        );
        view.apply(room(), "snapshot", &ready).unwrap();
        view.apply(room(), "seats", &seats(0)).unwrap();
        assert_eq!(announced(&view), None, "who is already there is not read out");

        let taken = format!(
            r#"{{"channelId":"{ROOM}","userId":"12","username":"Carol","avatar":null,"owner":false}}"#
        );
        let freed = |user: &str, reason: &str| {
            format!(r#"{{"channelId":"{ROOM}","userId":"{user}","reason":"{reason}"}}"#)
        };
        let steps: Vec<(&str, String, (u64, &str))> = vec![
            (
                "voice.joined",
                joined("12", "Carol", ROOM),
                (1, "Carol joined the table"),
            ),
            (
                "voice.joined",
                joined("12", "Carol", ROOM),
                (1, "Carol joined the table"),
            ),
            (
                "voice.joined",
                joined("13", "Dan", OTHER),
                (1, "Carol joined the table"),
            ),
            ("seat.taken", taken.clone(), (2, "Carol took a seat")),
            ("seat.taken", taken, (2, "Carol took a seat")),
            ("voice.left", left("12", ROOM), (3, "Carol left voice")),
            ("voice.left", left("12", ROOM), (3, "Carol left voice")),
            ("seat.freed", freed("12", "left"), (4, "Carol left the game")),
            (
                "seat.freed",
                freed("11", "removed"),
                (5, "bob was removed from the game"),
            ),
            ("voice.left", left("10", ROOM), (6, "alice left voice")),
            (
                "voice.joined",
                joined("10", "alice", ROOM),
                (7, "alice joined the table"),
            ),
            ("voice.left", left("10", ROOM), (8, "alice left voice")),
        ];
        for (event, data, expected) in steps {
            view.apply(room(), event, &data).unwrap();
            assert_eq!(announced(&view), Some(expected), "{event} {data}");
        }
    }

    #[test]
    fn avatars_use_the_custom_hash_or_fall_back_to_an_initial() {
        let mut member = RoomMember {
            user_id: "80351110224678912".parse().unwrap(),
            username: "élise".into(),
            avatar: None,
        };
        assert_eq!(avatar_url(&member), None);
        assert_eq!(initial(&member), "É");
        member.avatar = Some("8342729096ea3675442027381ff50dfe".into());
        assert_eq!(
            avatar_url(&member).as_deref(),
            Some(
                "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png?size=64"
            )
        );
    }
}
