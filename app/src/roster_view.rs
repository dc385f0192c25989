//! The member list's state and how each stream message changes it.
//!
//! Pure, so it is tested natively; `live` (browser only) feeds it from the `EventSource`.

use model::{
    event::{DiscordStatus, RosterStatus, VoiceJoined, VoiceLeft},
    ids::{ChannelId, UserId},
    stream::{RoomMember, RoomSnapshot, SNAPSHOT_EVENT},
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
}

impl StreamStatus {
    /// A stable name for `data-status` attributes (what tests and CSS select on).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Reconnecting => "reconnecting",
            Self::RoomClosed => "closed",
        }
    }

    /// What the player reads.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Connecting => "Connecting…",
            Self::Live => "Live",
            Self::Reconnecting => "Reconnecting…",
            Self::RoomClosed => "This room has closed",
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
/// is Discord's truth or a roster still connecting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterView {
    members: Vec<RoomMember>,
    discord: RosterStatus,
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

    /// Applies one SSE message (`event:` name and `data:` JSON) for `room`. Events for other
    /// channels are ignored (the server already filters; this keeps a stale frame harmless).
    pub fn apply(&mut self, room: ChannelId, event: &str, data: &str) -> Result<Applied, ViewError> {
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
                    self.members.retain(|member| member.user_id != left.user_id);
                }
            }
            "room.deleted" => return Ok(Applied::RoomClosed),
            "discord.status" => {
                let status: DiscordStatus = serde_json::from_str(data).map_err(malformed)?;
                self.discord = status.status;
            }
            _ => {}
        }
        Ok(Applied::Updated)
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
