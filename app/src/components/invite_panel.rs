//! The owner's invite panel: the link to share (with a copy button), the Discord deep link, when
//! the link expires, and refresh / revoke, each confirmed with what it does to the link friends
//! already have. The link survives a reload of the tab (see [`RecentInvites`]).

use leptos::prelude::*;
use model::{
    ids::ChannelId,
    room::{Invite, RoomDetails, discord_channel_link, invite_path},
};

use crate::{
    countdown::{now_ms, remaining},
    recent_invites::RecentInvites,
    server_fns::rooms::{refresh_invite, revoke_invite},
};

/// How often the countdown is redrawn.
#[cfg(feature = "hydrate")]
const TICK: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a toast stays.
const TOAST_SHOWN: std::time::Duration = std::time::Duration::from_secs(4);

/// Shows `text` in `toast` for [`TOAST_SHOWN`], unless another toast replaced it meanwhile.
fn show(toast: RwSignal<Option<&'static str>>, text: &'static str) {
    toast.set(Some(text));
    set_timeout(
        move || {
            if toast.get_untracked() == Some(text) {
                toast.set(None);
            }
        },
        TOAST_SHOWN,
    );
}

/// Asks the player to confirm `question` (a browser dialog); `true` on the server, where nothing
/// is ever dispatched.
fn confirmed(question: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        window().confirm_with_message(question).unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = question;
        true
    }
}

/// The panel for `details`' room; shown to its owner only.
#[component]
pub fn InvitePanel(details: RoomDetails) -> impl IntoView {
    let room = details.channel_id;
    let invites = RecentInvites::expect();
    let expires_at = RwSignal::new(details.invite_expires_at_ms);
    // After hydration: the link this tab was given, if it still works.
    Effect::new(move || invites.restore(room));
    let toast = RwSignal::new(None::<&'static str>);
    let now = RwSignal::new(now_ms());
    #[cfg(feature = "hydrate")]
    {
        let ticking = set_interval_with_handle(move || now.set(now_ms()), TICK);
        on_cleanup(move || {
            if let Ok(handle) = ticking {
                handle.clear();
            }
        });
    }
    let refresh = Action::new(move |(): &()| refresh_invite(room));
    let revoke = Action::new(move |(): &()| revoke_invite(room));
    let failure = RwSignal::new(None::<String>);
    // A new try clears the last one's error: it says what went wrong with that try only.
    Effect::new(move || {
        if refresh.pending().get() || revoke.pending().get() {
            failure.set(None);
        }
    });
    Effect::new(move || match refresh.value().get() {
        Some(Ok(invite)) => {
            expires_at.set(Some(invite.expires_at_ms));
            invites.remember(room, invite);
            show(toast, "New invite link ready: the old one no longer works");
        }
        Some(Err(err)) => failure.set(Some(err.to_string())),
        None => {}
    });
    Effect::new(move || match revoke.value().get() {
        Some(Ok(())) => {
            expires_at.set(None);
            invites.forget(room);
            show(toast, "Invite link revoked: nobody new can join");
        }
        Some(Err(err)) => failure.set(Some(err.to_string())),
        None => {}
    });
    let expiry = move || match expires_at.get() {
        Some(at) if at > now.get() => format!("Expires in {}", remaining(at - now.get())),
        Some(_) => "This link has expired: refresh to make a new one".to_owned(),
        None => "No invite link: refresh to make one".to_owned(),
    };

    view! {
        <section class="invite" aria-label="Invite players">
            <h2 class="invite__title">"Invite players"</h2>
            <InviteLink room toast />
            <p class="invite__expiry">{expiry}</p>
            <div class="invite__actions">
                <button
                    class="button button--secondary invite__refresh"
                    type="button"
                    disabled=move || refresh.pending().get()
                    on:click=move |_| {
                        if confirmed(
                            "Make a new invite link? The link you already shared will stop working.",
                        ) {
                            refresh.dispatch(());
                        }
                    }
                >
                    {move || if refresh.pending().get() { "Refreshing…" } else { "Refresh link" }}
                </button>
                <button
                    class="button button--secondary invite__revoke"
                    type="button"
                    disabled=move || revoke.pending().get() || expires_at.get().is_none()
                    on:click=move |_| {
                        if confirmed(
                            "Revoke the invite link? Nobody new can join with it; players already seated stay.",
                        ) {
                            revoke.dispatch(());
                        }
                    }
                >
                    {move || if revoke.pending().get() { "Revoking…" } else { "Revoke link" }}
                </button>
                <a class="button button--secondary invite__discord" href=discord_channel_link(details.guild_id, room) rel="external" target="_blank">
                    "Open in Discord"
                </a>
            </div>
            {move || toast.get().map(|text| view! { <p class="toast" role="status">{text}</p> })}
            {move || failure.get().map(|text| view! { <p class="form-error" role="alert">{text}</p> })}
        </section>
    }
}

/// The link to share with its copy button, or why it is not shown.
#[component]
fn InviteLink(room: ChannelId, toast: RwSignal<Option<&'static str>>) -> impl IntoView {
    let invites = RecentInvites::expect();
    let link = move || {
        invites
            .get(room)
            .map(|invite: Invite| format!("{}{}", origin(), invite_path(&invite.token)))
    };
    let field: NodeRef<leptos::html::Input> = NodeRef::new();
    // Says "copied" only once the browser says so; otherwise the link is selected to copy by
    // hand (no clipboard on an http page off localhost, or permission refused).
    let copy = move |_| {
        let Some(link) = link() else { return };
        let by_hand = move || {
            if let Some(field) = field.get_untracked() {
                field.select();
            }
            show(toast, "Link selected: press Ctrl+C (⌘C on a Mac) to copy it");
        };
        copy_to_clipboard(link, move |copied| {
            if copied {
                show(toast, "Invite link copied");
            } else {
                by_hand();
            }
        });
    };
    move || match link() {
        Some(link) => view! {
            <div class="invite__link">
                <input node_ref=field type="text" readonly prop:value=link aria-label="Invite link" />
                <button class="button invite__copy" type="button" on:click=copy>
                    "Copy link"
                </button>
            </div>
        }
        .into_any(),
        None => view! {
            <p class="invite__hidden">
                "For safety the link is shown only when it is made. Refresh to get a new one to share."
            </p>
        }
        .into_any(),
    }
}

/// This site's origin, for absolute links.
fn origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        window().location().origin().unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

/// Puts `text` on the clipboard if the browser offers one (only secure contexts do: https, or
/// localhost; calling into a missing one would throw), then tells `done` whether it is there.
fn copy_to_clipboard(text: String, done: impl FnOnce(bool) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        let navigator = window().navigator();
        let available = web_sys::js_sys::Reflect::get(&navigator, &"clipboard".into())
            .is_ok_and(|clipboard| !clipboard.is_undefined());
        if !available {
            done(false);
            return;
        }
        let written = navigator.clipboard().write_text(&text);
        leptos::task::spawn_local(async move {
            done(wasm_bindgen_futures::JsFuture::from(written).await.is_ok());
        });
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = text;
        done(false);
    }
}
