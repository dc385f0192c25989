//! The guild's voice roster, and the translation of gateway events into [`AppEvent`]s.
//!
//! [`Roster::apply`] is the pure core of the gateway task: given a Discord event it updates who is
//! in which voice channel and returns the app events that describe the change. It is idempotent
//! (a replayed or duplicated event changes nothing and emits nothing), treats a move as `voice.left`
//! for the old channel plus `voice.joined` for the new one, ignores mute/deafen/video toggles, and
//! turns a fresh `GUILD_CREATE` (after a re-identify) into exactly the differences from what it knew.
//!
//! Owner: the gateway task holds the only `Roster`; streams read snapshots it publishes.

use std::collections::HashMap;

use model::{
    event::{AppEvent, DiscordStatus, RoomCreated, RoomDeleted, RosterStatus, VoiceJoined, VoiceLeft},
    ids::{ChannelId, GuildId, UserId},
};
use twilight_model::{
    channel::{Channel, ChannelType},
    gateway::{event::Event, payload::incoming::GuildCreate},
    guild::Member,
    id::{
        Id,
        marker::{ChannelMarker, GuildMarker, UserMarker},
    },
    voice::VoiceState,
};

/// Someone in a voice channel of the guild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceMember {
    /// Who.
    pub user_id: UserId,
    /// Where.
    pub channel_id: ChannelId,
    /// Display name: guild nickname, else global name, else username.
    pub username: String,
    /// Avatar hash, if any.
    pub avatar: Option<String>,
}

/// The whole roster at one moment: what a consumer that lost events rebuilds from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterSnapshot {
    /// The guild.
    pub guild_id: GuildId,
    /// Everyone in voice, ordered by user id.
    pub members: Vec<VoiceMember>,
    /// Whether `members` is Discord's truth now.
    pub status: RosterStatus,
}

/// Asks the roster's owner (the gateway task) for a [`RosterSnapshot`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct RosterSource(tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<RosterSnapshot>>);

/// The owner's end of a [`RosterSource`].
pub type SnapshotRequests = tokio::sync::mpsc::Receiver<tokio::sync::oneshot::Sender<RosterSnapshot>>;

impl RosterSource {
    /// A source and the requests its owner must answer.
    pub fn channel() -> (Self, SnapshotRequests) {
        let (sender, receiver) = tokio::sync::mpsc::channel(8);
        (Self(sender), receiver)
    }

    /// The current roster, or `None` when its owner has stopped.
    pub async fn snapshot(&self) -> Option<RosterSnapshot> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.0.send(reply).await.ok()?;
        answer.await.ok()
    }
}

/// A user's name and avatar, remembered from any event that carried them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Profile {
    username: String,
    avatar: Option<String>,
}

/// Who is in which voice channel of one guild.
#[derive(Debug, Clone)]
pub struct Roster {
    guild_id: GuildId,
    /// Everyone currently in a voice channel of the guild; at most one channel per user, as in
    /// Discord.
    voice: HashMap<UserId, VoiceMember>,
    /// Names and avatars of members seen so far, so a voice state without a member (as in
    /// `GUILD_CREATE`) still gets a name.
    profiles: HashMap<UserId, Profile>,
    /// Whether the roster follows Discord now; announced as `discord.status` when it changes.
    status: RosterStatus,
    /// Whether `voice` is a truth a RESUME can build on: it came from a `GUILD_CREATE` of this
    /// session, or was saved with the session being resumed. A new session (`READY`) starts from
    /// nothing until its `GUILD_CREATE`.
    grounded: bool,
}

impl Roster {
    /// An empty roster for `guild_id`; events of other guilds are ignored.
    pub fn new(guild_id: GuildId) -> Self {
        Self {
            guild_id,
            voice: HashMap::new(),
            profiles: HashMap::new(),
            status: RosterStatus::Connecting,
            grounded: false,
        }
    }

    /// The guild this roster follows.
    pub fn guild_id(&self) -> GuildId {
        self.guild_id
    }

    /// Applies one gateway event and returns the app events it amounts to (often none).
    ///
    /// It also follows whether the roster is Discord's truth: not after a `READY` until the
    /// guild's `GUILD_CREATE` (whose differences are announced first), again after a `RESUMED` on a
    /// grounded roster, and not while the guild is unavailable.
    pub fn apply(&mut self, event: &Event) -> Vec<AppEvent> {
        match event {
            Event::GuildCreate(guild) => self.apply_guild_create(guild),
            Event::GuildDelete(guild) if guild_id(guild.id) == self.guild_id => {
                self.set_status(RosterStatus::Connecting).into_iter().collect()
            }
            Event::VoiceStateUpdate(update) => self.apply_voice_state(&update.0),
            Event::ChannelCreate(channel) => self.room_created(&channel.0).into_iter().collect(),
            Event::ChannelDelete(channel) => self.apply_channel_delete(&channel.0),
            Event::Ready(_) => {
                self.grounded = false;
                self.set_status(RosterStatus::Connecting).into_iter().collect()
            }
            Event::Resumed if self.grounded => self.set_status(RosterStatus::Ready).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// The connection to Discord is lost (or not yet open): the roster stops being the truth until
    /// a `RESUMED` or a new `GUILD_CREATE`. Returns the `discord.status` to announce, if it changed.
    pub fn lost(&mut self) -> Option<AppEvent> {
        self.set_status(RosterStatus::Connecting)
    }

    /// Whether the roster follows Discord now.
    pub fn status(&self) -> RosterStatus {
        self.status
    }

    fn set_status(&mut self, status: RosterStatus) -> Option<AppEvent> {
        if self.status == status {
            return None;
        }
        self.status = status;
        Some(AppEvent::DiscordStatus(DiscordStatus {
            guild_id: self.guild_id,
            status,
        }))
    }

    /// Makes the roster the saved one (`members`, as [`Roster::snapshot`] listed them when the
    /// gateway session was saved) and returns the differences as app events, so viewers start
    /// from it. Events Discord then replays on RESUME apply on top; those it already reflects
    /// emit nothing.
    pub fn restore(&mut self, members: &[VoiceMember]) -> Vec<AppEvent> {
        let mut truth: HashMap<UserId, ChannelId> = HashMap::new();
        for member in members {
            self.profiles.insert(
                member.user_id,
                Profile {
                    username: member.username.clone(),
                    avatar: member.avatar.clone(),
                },
            );
            truth.insert(member.user_id, member.channel_id);
        }
        // The saved roster is the truth at the saved sequence: a RESUME from there is grounded.
        self.grounded = true;
        self.replace_voice(truth)
    }

    /// Who is in `channel_id`, in a stable order (by name, then id).
    pub fn members_of(&self, channel_id: ChannelId) -> Vec<VoiceMember> {
        let mut members: Vec<VoiceMember> = self
            .voice
            .values()
            .filter(|member| member.channel_id == channel_id)
            .cloned()
            .collect();
        members.sort_by(|a, b| a.username.cmp(&b.username).then(a.user_id.cmp(&b.user_id)));
        members
    }

    /// The voice channel `user_id` is in, if any.
    pub fn channel_of(&self, user_id: UserId) -> Option<ChannelId> {
        self.voice.get(&user_id).map(|member| member.channel_id)
    }

    /// Everyone in voice across the guild, in a stable order.
    pub fn snapshot(&self) -> RosterSnapshot {
        let mut members: Vec<VoiceMember> = self.voice.values().cloned().collect();
        members.sort_by_key(|member| member.user_id);
        RosterSnapshot {
            guild_id: self.guild_id,
            members,
            status: self.status,
        }
    }

    /// How many users are in voice across the guild.
    pub fn len(&self) -> usize {
        self.voice.len()
    }

    /// True when nobody is in voice.
    pub fn is_empty(&self) -> bool {
        self.voice.is_empty()
    }

    fn is_ours(&self, guild: Option<Id<GuildMarker>>) -> bool {
        guild.is_some_and(|id| guild_id(id) == self.guild_id)
    }

    /// A full guild: the truth replaces what we had, and the differences become events, so that a
    /// re-identify after missed events corrects every viewer without ghosts or duplicates.
    fn apply_guild_create(&mut self, guild: &GuildCreate) -> Vec<AppEvent> {
        let guild = match guild {
            GuildCreate::Available(guild) if guild_id(guild.id) == self.guild_id => guild,
            GuildCreate::Unavailable(guild) if guild_id(guild.id) == self.guild_id => {
                return self.set_status(RosterStatus::Connecting).into_iter().collect();
            }
            _ => return Vec::new(),
        };
        for member in &guild.members {
            self.remember(member);
        }
        let mut truth: HashMap<UserId, ChannelId> = HashMap::new();
        for state in &guild.voice_states {
            if let Some(channel_id) = state.channel_id {
                truth.insert(user_id(state.user_id), channel_id_of(channel_id));
            }
        }
        let mut events = self.replace_voice(truth);
        // Announced after the differences, so whoever hears "ready" already has the truth.
        self.grounded = true;
        events.extend(self.set_status(RosterStatus::Ready));
        events
    }

    /// Replaces who is where with `truth`, returning the leaves and joins that amounts to.
    fn replace_voice(&mut self, truth: HashMap<UserId, ChannelId>) -> Vec<AppEvent> {
        let mut events = Vec::new();
        let mut gone: Vec<UserId> = self
            .voice
            .iter()
            .filter(|(user, member)| truth.get(user) != Some(&member.channel_id))
            .map(|(user, _)| *user)
            .collect();
        gone.sort_unstable();
        for user in gone {
            events.extend(self.leave(user));
        }
        let mut arrived: Vec<(UserId, ChannelId)> = truth
            .into_iter()
            .filter(|(user, _)| !self.voice.contains_key(user))
            .collect();
        arrived.sort_unstable();
        for (user, channel) in arrived {
            events.push(self.join(user, channel));
        }
        events
    }

    fn apply_voice_state(&mut self, state: &VoiceState) -> Vec<AppEvent> {
        if !self.is_ours(state.guild_id) {
            return Vec::new();
        }
        if let Some(member) = &state.member {
            self.remember(member);
        }
        let user = user_id(state.user_id);
        let now = state.channel_id.map(channel_id_of);
        let before = self.channel_of(user);
        if before == now {
            // Mute, deafen, video or stream toggles, or a replayed duplicate: nobody moved.
            self.refresh_profile(user);
            return Vec::new();
        }
        let mut events: Vec<AppEvent> = self.leave(user).into_iter().collect();
        if let Some(channel) = now {
            events.push(self.join(user, channel));
        }
        events
    }

    fn apply_channel_delete(&mut self, channel: &Channel) -> Vec<AppEvent> {
        if !self.is_ours(channel.guild_id) || !is_voice(channel.kind) {
            return Vec::new();
        }
        let deleted = channel_id_of(channel.id);
        // Discord also sends each member's leave; removing them now makes those a no-op.
        let mut inside: Vec<UserId> = self
            .voice
            .values()
            .filter(|member| member.channel_id == deleted)
            .map(|member| member.user_id)
            .collect();
        inside.sort_unstable();
        let mut events: Vec<AppEvent> = inside.into_iter().filter_map(|user| self.leave(user)).collect();
        events.push(AppEvent::RoomDeleted(RoomDeleted {
            guild_id: self.guild_id,
            channel_id: deleted,
        }));
        events
    }

    fn room_created(&self, channel: &Channel) -> Option<AppEvent> {
        if !self.is_ours(channel.guild_id) || !is_voice(channel.kind) {
            return None;
        }
        Some(AppEvent::RoomCreated(RoomCreated {
            guild_id: self.guild_id,
            channel_id: channel_id_of(channel.id),
            name: channel.name.clone().unwrap_or_default(),
            parent_id: channel.parent_id.map(channel_id_of),
            user_limit: channel.user_limit.unwrap_or(0),
        }))
    }

    fn remember(&mut self, member: &Member) {
        let username = member
            .nick
            .clone()
            .or_else(|| member.user.global_name.clone())
            .unwrap_or_else(|| member.user.name.clone());
        let avatar = member.user.avatar.map(|hash| hash.to_string());
        self.profiles
            .insert(user_id(member.user.id), Profile { username, avatar });
    }

    /// Copies a newer name or avatar onto a user already in voice, without an event.
    fn refresh_profile(&mut self, user: UserId) {
        if let (Some(member), Some(profile)) = (self.voice.get_mut(&user), self.profiles.get(&user)) {
            member.username.clone_from(&profile.username);
            member.avatar.clone_from(&profile.avatar);
        }
    }

    fn join(&mut self, user: UserId, channel: ChannelId) -> AppEvent {
        let profile = self.profiles.get(&user).cloned().unwrap_or_else(|| Profile {
            username: format!("User {user}"),
            avatar: None,
        });
        self.voice.insert(
            user,
            VoiceMember {
                user_id: user,
                channel_id: channel,
                username: profile.username.clone(),
                avatar: profile.avatar.clone(),
            },
        );
        AppEvent::VoiceJoined(VoiceJoined {
            guild_id: self.guild_id,
            channel_id: channel,
            user_id: user,
            username: profile.username,
            avatar: profile.avatar,
        })
    }

    fn leave(&mut self, user: UserId) -> Option<AppEvent> {
        let member = self.voice.remove(&user)?;
        Some(AppEvent::VoiceLeft(VoiceLeft {
            guild_id: self.guild_id,
            channel_id: None,
            user_id: user,
            left_channel_id: member.channel_id,
        }))
    }
}

// twilight's typed ids and ours wrap the same non-zero snowflake.
fn guild_id(id: Id<GuildMarker>) -> GuildId {
    GuildId::new(id.into_nonzero())
}

fn user_id(id: Id<UserMarker>) -> UserId {
    UserId::new(id.into_nonzero())
}

fn channel_id_of(id: Id<ChannelMarker>) -> ChannelId {
    ChannelId::new(id.into_nonzero())
}

fn is_voice(kind: ChannelType) -> bool {
    matches!(kind, ChannelType::GuildVoice | ChannelType::GuildStageVoice)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use twilight_model::gateway::payload::incoming::{ChannelCreate, ChannelDelete, VoiceStateUpdate};

    use super::*;

    const GUILD: &str = "2000000000000000001";
    const OTHER_GUILD: &str = "2000000000000000009";
    const TABLE: &str = "4000000000000000001";
    const LOUNGE: &str = "4000000000000000002";
    const ALICE: &str = "3000000000000000001";
    const BOB: &str = "3000000000000000002";

    fn id<T: std::str::FromStr>(text: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        text.parse().unwrap()
    }

    fn member(user: &str, name: &str) -> Value {
        json!({
            "user": {"id": user, "username": name, "discriminator": "0", "global_name": null, "avatar": null},
            "roles": [], "deaf": false, "mute": false, "flags": 0, "joined_at": "2026-01-01T00:00:00.000000+00:00"
        })
    }

    fn voice_state(guild: &str, user: &str, channel: Option<&str>, self_mute: bool) -> Value {
        json!({
            "guild_id": guild, "channel_id": channel, "user_id": user, "session_id": format!("s-{user}"),
            "deaf": false, "mute": false, "self_deaf": false, "self_mute": self_mute, "self_video": false,
            "suppress": false, "member": member(user, if user == ALICE { "alice" } else { "bob" })
        })
    }

    fn vsu(guild: &str, user: &str, channel: Option<&str>) -> Event {
        vsu_muted(guild, user, channel, false)
    }

    fn vsu_muted(guild: &str, user: &str, channel: Option<&str>, self_mute: bool) -> Event {
        let state = serde_json::from_value(voice_state(guild, user, channel, self_mute)).unwrap();
        Event::VoiceStateUpdate(Box::new(VoiceStateUpdate(state)))
    }

    fn voice_channel(guild: &str, channel: &str, name: &str) -> Value {
        json!({"id": channel, "guild_id": guild, "type": 2, "name": name, "user_limit": 4, "parent_id": null})
    }

    fn guild_create(voice: &[(&str, &str)]) -> Event {
        let voice_states: Vec<Value> = voice
            .iter()
            .map(|(user, channel)| {
                let mut state = voice_state(GUILD, user, Some(channel), false);
                // GUILD_CREATE voice states carry neither member nor guild_id.
                state.as_object_mut().unwrap().remove("member");
                state.as_object_mut().unwrap().remove("guild_id");
                state
            })
            .collect();
        let guild = json!({
            "id": GUILD, "name": "Coven", "owner_id": ALICE, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0,
            "features": [], "roles": [], "system_channel_flags": 0, "premium_progress_bar_enabled": false,
            "preferred_locale": "en-US",
            "channels": [voice_channel(GUILD, TABLE, "table"), voice_channel(GUILD, LOUNGE, "lounge")],
            "members": [member(ALICE, "alice"), member(BOB, "bob")],
            "voice_states": voice_states,
        });
        Event::GuildCreate(Box::new(serde_json::from_value(guild).unwrap()))
    }

    fn joined(user: &str, channel: &str) -> AppEvent {
        AppEvent::VoiceJoined(VoiceJoined {
            guild_id: id(GUILD),
            channel_id: id(channel),
            user_id: id(user),
            username: if user == ALICE { "alice" } else { "bob" }.to_owned(),
            avatar: None,
        })
    }

    fn left(user: &str, channel: &str) -> AppEvent {
        AppEvent::VoiceLeft(VoiceLeft {
            guild_id: id(GUILD),
            channel_id: None,
            user_id: id(user),
            left_channel_id: id(channel),
        })
    }

    fn names(roster: &Roster, channel: &str) -> Vec<String> {
        roster
            .members_of(id(channel))
            .into_iter()
            .map(|member| member.username)
            .collect()
    }

    #[test]
    fn voice_state_updates_translate_to_app_events() {
        // (description, event, expected app events) applied in order to one roster.
        let table: Vec<(&str, Event, Vec<AppEvent>)> = vec![
            (
                "alice joins the table",
                vsu(GUILD, ALICE, Some(TABLE)),
                vec![joined(ALICE, TABLE)],
            ),
            (
                "a replayed duplicate is a no-op",
                vsu(GUILD, ALICE, Some(TABLE)),
                vec![],
            ),
            (
                "mute toggle is not a join",
                vsu_muted(GUILD, ALICE, Some(TABLE), true),
                vec![],
            ),
            (
                "unmute neither",
                vsu_muted(GUILD, ALICE, Some(TABLE), false),
                vec![],
            ),
            (
                "bob joins the lounge",
                vsu(GUILD, BOB, Some(LOUNGE)),
                vec![joined(BOB, LOUNGE)],
            ),
            (
                "a move is left + joined",
                vsu(GUILD, BOB, Some(TABLE)),
                vec![left(BOB, LOUNGE), joined(BOB, TABLE)],
            ),
            ("another guild is ignored", vsu(OTHER_GUILD, ALICE, None), vec![]),
            (
                "alice leaves voice",
                vsu(GUILD, ALICE, None),
                vec![left(ALICE, TABLE)],
            ),
            ("a replayed leave is a no-op", vsu(GUILD, ALICE, None), vec![]),
        ];
        let mut roster = Roster::new(id(GUILD));
        for (what, event, expected) in table {
            assert_eq!(roster.apply(&event), expected, "{what}");
        }
        assert_eq!(names(&roster, TABLE), ["bob"]);
        assert_eq!(names(&roster, LOUNGE), Vec::<String>::new());
    }

    #[test]
    fn guild_create_seeds_the_roster_with_names_from_members() {
        let mut roster = Roster::new(id(GUILD));
        let events = roster.apply(&guild_create(&[(ALICE, TABLE), (BOB, TABLE)]));
        assert_eq!(
            events,
            vec![
                joined(ALICE, TABLE),
                joined(BOB, TABLE),
                status(RosterStatus::Ready)
            ]
        );
        assert_eq!(names(&roster, TABLE), ["alice", "bob"]);
        assert_eq!(
            roster.apply(&guild_create(&[(ALICE, TABLE), (BOB, TABLE)])),
            vec![],
            "same truth, no events"
        );
    }

    #[test]
    fn guild_create_after_reidentify_emits_only_the_differences() {
        let mut roster = Roster::new(id(GUILD));
        roster.apply(&guild_create(&[(ALICE, TABLE), (BOB, LOUNGE)]));
        // While disconnected: alice left, bob moved to the table.
        let events = roster.apply(&guild_create(&[(BOB, TABLE)]));
        assert_eq!(
            events,
            vec![left(ALICE, TABLE), left(BOB, LOUNGE), joined(BOB, TABLE)]
        );
        assert_eq!(names(&roster, TABLE), ["bob"]);
        assert_eq!(roster.len(), 1);
    }

    fn status(status: RosterStatus) -> AppEvent {
        AppEvent::DiscordStatus(DiscordStatus {
            guild_id: id(GUILD),
            status,
        })
    }

    fn ready_event() -> Event {
        let ready = json!({
            "v": 10, "user": {"id": "1000000000000000001", "username": "bot", "discriminator": "0", "avatar": null, "bot": true,
                "mfa_enabled": false, "verified": true, "flags": 0},
            "guilds": [{"id": GUILD, "unavailable": true}], "session_id": "s1",
            "resume_gateway_url": "wss://gateway-us-east1-b.discord.gg",
            "application": {"id": "1000000000000000001", "flags": 0}
        });
        Event::Ready(serde_json::from_value(ready).unwrap())
    }

    #[test]
    fn the_roster_is_ready_after_the_guild_arrives_or_a_grounded_resume_and_not_while_lost() {
        let mut roster = Roster::new(id(GUILD));
        assert_eq!(roster.status(), RosterStatus::Connecting);
        assert_eq!(roster.apply(&ready_event()), vec![], "READY alone is no roster");
        assert_eq!(
            roster.apply(&Event::Resumed),
            vec![],
            "nothing to resume onto yet"
        );
        assert_eq!(roster.snapshot().status, RosterStatus::Connecting);
        let events = roster.apply(&guild_create(&[(ALICE, TABLE)]));
        assert_eq!(
            events,
            vec![joined(ALICE, TABLE), status(RosterStatus::Ready)],
            "the truth first, then ready"
        );
        assert_eq!(roster.lost(), Some(status(RosterStatus::Connecting)));
        assert_eq!(roster.lost(), None, "announced once");
        assert_eq!(
            roster.apply(&Event::Resumed),
            vec![status(RosterStatus::Ready)],
            "a resume on the truth is the truth"
        );
        roster.lost();
        assert_eq!(roster.apply(&ready_event()), vec![], "a new session");
        assert_eq!(
            roster.apply(&Event::Resumed),
            vec![],
            "READY ungrounded the roster"
        );
        roster.apply(&guild_create(&[(ALICE, TABLE)]));
        let unavailable = Event::GuildCreate(Box::new(
            serde_json::from_value(json!({"id": GUILD, "unavailable": true})).unwrap(),
        ));
        assert_eq!(roster.apply(&unavailable), vec![status(RosterStatus::Connecting)]);

        let mut restored = Roster::new(id(GUILD));
        restored.restore(&roster.snapshot().members);
        assert_eq!(
            restored.status(),
            RosterStatus::Connecting,
            "until Discord confirms"
        );
        assert_eq!(restored.apply(&Event::Resumed), vec![status(RosterStatus::Ready)]);
    }

    #[test]
    fn channel_events_become_room_events() {
        let mut roster = Roster::new(id(GUILD));
        roster.apply(&vsu(GUILD, ALICE, Some(TABLE)));
        let create = Event::ChannelCreate(Box::new(ChannelCreate(
            serde_json::from_value(voice_channel(GUILD, LOUNGE, "Friday Commander")).unwrap(),
        )));
        assert_eq!(
            roster.apply(&create),
            vec![AppEvent::RoomCreated(RoomCreated {
                guild_id: id(GUILD),
                channel_id: id(LOUNGE),
                name: "Friday Commander".to_owned(),
                parent_id: None,
                user_limit: 4,
            })]
        );
        let text = Event::ChannelCreate(Box::new(ChannelCreate(
            serde_json::from_value(
                json!({"id": "4000000000000000003", "guild_id": GUILD, "type": 0, "name": "chat"}),
            )
            .unwrap(),
        )));
        assert_eq!(roster.apply(&text), vec![], "text channels are not rooms");

        let delete = Event::ChannelDelete(Box::new(ChannelDelete(
            serde_json::from_value(voice_channel(GUILD, TABLE, "table")).unwrap(),
        )));
        assert_eq!(
            roster.apply(&delete),
            vec![
                left(ALICE, TABLE),
                AppEvent::RoomDeleted(RoomDeleted {
                    guild_id: id(GUILD),
                    channel_id: id(TABLE)
                })
            ]
        );
        assert_eq!(
            roster.apply(&vsu(GUILD, ALICE, None)),
            vec![],
            "Discord's own leave after the delete"
        );
        assert!(roster.is_empty());
    }

    #[test]
    fn a_restored_roster_is_announced_once_and_replays_it_reflects_emit_nothing() {
        let mut live = Roster::new(id(GUILD));
        live.apply(&vsu(GUILD, ALICE, Some(TABLE)));
        live.apply(&vsu(GUILD, BOB, Some(LOUNGE)));
        let saved = live.snapshot().members;

        let mut restored = Roster::new(id(GUILD));
        assert_eq!(
            restored.restore(&saved),
            vec![joined(ALICE, TABLE), joined(BOB, LOUNGE)],
            "viewers of a fresh process learn the saved roster"
        );
        assert_eq!(restored.snapshot(), live.snapshot());
        assert_eq!(
            restored.apply(&vsu(GUILD, ALICE, Some(TABLE))),
            vec![],
            "a replayed join it already reflects"
        );
        assert_eq!(
            restored.apply(&vsu(GUILD, BOB, Some(TABLE))),
            vec![left(BOB, LOUNGE), joined(BOB, TABLE)],
            "what happened while the app was down"
        );
        assert_eq!(
            names(&restored, TABLE),
            ["alice", "bob"],
            "names survive the restore"
        );
    }
}
