//! Invite links the owner was just given, kept in the browser for this visit.
//!
//! The server stores only a hash of each invite token, so a link can be shown only by the browser
//! that received it (from `create_room` or `refresh_invite`). After a reload the owner sees when
//! the current link expires and refreshes it to get a new one to share.

use std::collections::HashMap;

use leptos::prelude::*;
use model::{ids::ChannelId, room::Invite};

/// The links, by room.
#[derive(Debug, Clone, Copy)]
pub struct RecentInvites(RwSignal<HashMap<ChannelId, Invite>>);

impl RecentInvites {
    /// Makes the store available to every page (called once by `App`).
    pub fn provide() {
        provide_context(Self(RwSignal::new(HashMap::new())));
    }

    /// The store `App` provided.
    pub fn expect() -> Self {
        expect_context()
    }

    /// The link for `room`, if this browser was given one.
    pub fn get(self, room: ChannelId) -> Option<Invite> {
        self.0.with(|links| links.get(&room).cloned())
    }

    /// Remembers the newest link for `room`.
    pub fn remember(self, room: ChannelId, invite: Invite) {
        self.0.update(|links| {
            links.insert(room, invite);
        });
    }

    /// Forgets the link for `room` (revoked).
    pub fn forget(self, room: ChannelId) {
        self.0.update(|links| {
            links.remove(&room);
        });
    }
}
