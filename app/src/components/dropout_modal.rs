//! The voice dropout modal: shown while the signed-in user, having been in the room's voice
//! channel, is not in it. It cannot be dismissed (no Escape, no outside click): it goes away when
//! the user is back in the channel, or when they leave the game.

use leptos::prelude::*;

/// The modal; `open` says when it shows, `rejoin` is the Discord deep link to the channel.
#[component]
pub fn DropoutModal(
    #[prop(into)] open: Signal<bool>,
    #[prop(into)] rejoin: Signal<Option<String>>,
) -> impl IntoView {
    view! {
        <Show when=move || open.get()>
            <div class="modal-backdrop">
                <div
                    class="modal dropout"
                    role="alertdialog"
                    aria-modal="true"
                    aria-labelledby="dropout-title"
                    aria-describedby="dropout-text"
                >
                    <h2 id="dropout-title">"Your voice connection dropped"</h2>
                    <p id="dropout-text">
                        "You are no longer in this room's voice channel. Rejoin it from Discord to
                        keep playing; this page updates as soon as you are back."
                    </p>
                    <div class="modal__actions">
                        {move || {
                            rejoin
                                .get()
                                .map(|link| {
                                    view! {
                                        <a
                                            class="button dropout__rejoin"
                                            href=link
                                            target="_blank"
                                            rel="noopener external"
                                        >
                                            "Rejoin from Discord"
                                        </a>
                                    }
                                })
                        }}
                        <a class="button button--secondary dropout__leave" href="/" rel="external">
                            "Leave game"
                        </a>
                    </div>
                </div>
            </div>
        </Show>
    }
}
