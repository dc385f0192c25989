//! Invite links the owner was given, kept in this browser tab.
//!
//! The server stores only a hash of each invite token, so a link can be shown only by the browser
//! that received it (from `create_room` or `refresh_invite`). The links live in the tab's
//! `sessionStorage` too, so a reload still shows the link friends already have (the only other way
//! back would be Refresh, which kills it). They never go to the server, and end with the tab. A
//! link is a bearer secret: the site's Content-Security-Policy (scripts only with the page's
//! nonce) is what keeps other scripts from reading it there.

use std::collections::HashMap;

use leptos::prelude::*;
use model::{ids::ChannelId, room::Invite};

/// The `sessionStorage` key of a room's link.
#[cfg_attr(
    not(feature = "hydrate"),
    allow(dead_code, reason = "the storage is the browser's")
)]
fn storage_key(room: ChannelId) -> String {
    format!("spell-coven.invite.{room}")
}

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

    /// The link for `room`, if this tab was given one.
    pub fn get(self, room: ChannelId) -> Option<Invite> {
        self.0.with(|links| links.get(&room).cloned())
    }

    /// Reads `room`'s link back from the tab's storage, if it is there and still works. Called
    /// from an effect, after hydration: the server renders no link, so the first render in the
    /// browser must not have one either.
    pub fn restore(self, room: ChannelId) {
        #[cfg(feature = "hydrate")]
        {
            let Some(storage) = session_storage() else {
                return;
            };
            let stored = storage.get_item(&storage_key(room)).ok().flatten();
            let invite = stored.and_then(|json| serde_json::from_str::<Invite>(&json).ok());
            match invite {
                Some(invite) if invite.expires_at_ms > crate::countdown::now_ms() => {
                    self.0.update(|links| {
                        links.insert(room, invite);
                    });
                }
                Some(_) => {
                    let _ = storage.remove_item(&storage_key(room));
                }
                None => {}
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = room;
    }

    /// Remembers the newest link for `room`.
    pub fn remember(self, room: ChannelId, invite: Invite) {
        #[cfg(feature = "hydrate")]
        if let (Some(storage), Ok(json)) = (session_storage(), serde_json::to_string(&invite)) {
            // A full or refused storage costs the link after a reload, nothing else.
            let _ = storage.set_item(&storage_key(room), &json);
        }
        self.0.update(|links| {
            links.insert(room, invite);
        });
    }

    /// Forgets the link for `room` (revoked, or the room closed).
    pub fn forget(self, room: ChannelId) {
        #[cfg(feature = "hydrate")]
        if let Some(storage) = session_storage() {
            let _ = storage.remove_item(&storage_key(room));
        }
        self.0.update(|links| {
            links.remove(&room);
        });
    }
}

/// The tab's `sessionStorage`, when the browser lets the page use it.
#[cfg(feature = "hydrate")]
fn session_storage() -> Option<web_sys::Storage> {
    window().session_storage().ok().flatten()
}
