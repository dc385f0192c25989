//! Voice changes: join, move, leave, mute. Each yields one `VOICE_STATE_UPDATE`, as Discord sends a
//! single event for a move (no leave in between) and keeps the voice `session_id` across moves.

use super::{CHANNEL_VOICE, Dispatch, INTENT_GUILD_VOICE_STATES, Member, VoiceState, World, WorldError};
use crate::id::Snowflake;
use crate::wire::{self, MemberWire, VoiceStateWire};

impl World {
    /// Connects `user` to `channel`, or moves them there if already connected.
    pub fn join_voice(&mut self, user: Snowflake, channel: Snowflake) -> Result<Vec<Dispatch>, WorldError> {
        self.check_voice_channel(channel)?;
        if !self.members.contains_key(&user) {
            return Err(WorldError::UnknownMember(user));
        }
        let state = self
            .voice
            .entry(user)
            .and_modify(|state| state.channel_id = channel)
            .or_insert_with(|| VoiceState {
                user_id: user,
                channel_id: channel,
                session_id: World::fresh_voice_session(),
                self_mute: false,
                self_deaf: false,
            })
            .clone();
        Ok(vec![self.voice_dispatch(&state, Some(channel))])
    }

    /// Moves a connected user; 40032 semantics when they are not in voice.
    pub fn move_voice(&mut self, user: Snowflake, channel: Snowflake) -> Result<Vec<Dispatch>, WorldError> {
        self.check_voice_channel(channel)?;
        if !self.voice.contains_key(&user) {
            return Err(WorldError::NotInVoice(user));
        }
        self.join_voice(user, channel)
    }

    /// Disconnects a user from voice.
    pub fn leave_voice(&mut self, user: Snowflake) -> Result<Vec<Dispatch>, WorldError> {
        let state = self.voice.remove(&user).ok_or(WorldError::NotInVoice(user))?;
        Ok(vec![self.voice_dispatch(&state, None)])
    }

    /// Sets the server mute flag of a member (Discord stores it on the member); emits a
    /// `VOICE_STATE_UPDATE` only when they are connected.
    pub fn set_mute(&mut self, user: Snowflake, mute: bool) -> Result<Vec<Dispatch>, WorldError> {
        let member = self
            .members
            .get_mut(&user)
            .ok_or(WorldError::UnknownMember(user))?;
        member.mute = mute;
        Ok(self.voice_refresh(user))
    }

    /// Sets the server deafen flag of a member; emits like [`World::set_mute`].
    pub fn set_deaf(&mut self, user: Snowflake, deaf: bool) -> Result<Vec<Dispatch>, WorldError> {
        let member = self
            .members
            .get_mut(&user)
            .ok_or(WorldError::UnknownMember(user))?;
        member.deaf = deaf;
        Ok(self.voice_refresh(user))
    }

    /// Sets the self-mute flag a user's own client reports.
    pub fn set_self_mute(&mut self, user: Snowflake, self_mute: bool) -> Result<Vec<Dispatch>, WorldError> {
        let state = self.voice.get_mut(&user).ok_or(WorldError::NotInVoice(user))?;
        state.self_mute = self_mute;
        Ok(self.voice_refresh(user))
    }

    fn voice_refresh(&self, user: Snowflake) -> Vec<Dispatch> {
        self.voice
            .get(&user)
            .map(|state| self.voice_dispatch(state, Some(state.channel_id)))
            .into_iter()
            .collect()
    }

    fn check_voice_channel(&self, channel: Snowflake) -> Result<(), WorldError> {
        match self.channels.get(&channel) {
            None => Err(WorldError::UnknownChannel(channel)),
            Some(found) if found.kind != CHANNEL_VOICE => Err(WorldError::NotVoice(channel)),
            Some(_) => Ok(()),
        }
    }

    /// The voice state JSON as REST returns it (`guild_id`, no `member`) or as `GUILD_CREATE`
    /// embeds it (`with_guild` false: Discord omits `guild_id` there).
    pub fn voice_state_json(&self, user: Snowflake, with_guild: bool) -> Option<String> {
        let state = self.voice.get(&user)?;
        let member = self.members.get(&user)?;
        Some(wire::to_json(&VoiceStateWire::new(
            state,
            Some(state.channel_id),
            member,
            with_guild.then_some(self.guild_id),
            None,
        )))
    }

    fn voice_dispatch(&self, state: &VoiceState, channel: Option<Snowflake>) -> Dispatch {
        // Server mute/deaf live on the member; a state is only stored for members, and a member
        // removed meanwhile still gets a well-formed payload with default flags.
        let fallback = Member {
            user_id: state.user_id,
            joined_at: World::now(),
            mute: false,
            deaf: false,
        };
        let member = self.members.get(&state.user_id).unwrap_or(&fallback);
        let embedded = self
            .users
            .get(&state.user_id)
            .map(|user| MemberWire::new(member, user, None));
        Dispatch {
            name: "VOICE_STATE_UPDATE".into(),
            intent: INTENT_GUILD_VOICE_STATES,
            data: wire::to_json(&VoiceStateWire::new(
                state,
                channel,
                member,
                Some(self.guild_id),
                embedded,
            )),
        }
    }
}
