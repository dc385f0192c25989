//! The voice dropout modal: shown while the signed-in user, having been in the room's voice
//! channel, is not in it. It cannot be dismissed (no Escape, no outside click): it goes away when
//! the user is back in the channel, or when they leave the page.
//!
//! It is a modal for the keyboard and screen readers too: it is rendered at the end of `<body>`
//! (a portal), every other child of `<body>` is made `inert` while it shows, the first action
//! takes the focus when it opens, Tab / Shift+Tab cycle inside it, and the focus goes back where
//! it was when it closes. Not a native `<dialog>`: Chromium lets a second Escape close a modal
//! `<dialog>` whatever its `cancel` handler says, and this one must stay until the user is back.

use leptos::{html, portal::Portal, prelude::*};

/// The modal; `open` says when it shows, `rejoin` is the Discord deep link to the channel, and
/// `announcement` the table's last join or leave (the page's own live region is inert behind the
/// modal, and an inert region is not read, so the modal says them while it shows).
#[component]
pub fn DropoutModal(
    #[prop(into)] open: Signal<bool>,
    #[prop(into)] rejoin: Signal<Option<String>>,
    #[prop(into)] announcement: Signal<Option<String>>,
) -> impl IntoView {
    view! {
        <Show when=move || open.get()>
            <Portal>
                <DropoutDialog rejoin announcement />
            </Portal>
        </Show>
    }
}

/// The dialog itself, alive exactly as long as it shows (so its cleanup undoes the `inert`).
#[component]
fn DropoutDialog(rejoin: Signal<Option<String>>, announcement: Signal<Option<String>>) -> impl IntoView {
    let dialog = NodeRef::<html::Div>::new();
    #[cfg(feature = "hydrate")]
    {
        // The elements this dialog made inert, and only those: one already inert stays so.
        let made_inert = StoredValue::new_local(Vec::<web_sys::Element>::new());
        // Where the focus was when the dialog opened: it goes back there when the dialog goes.
        let focused_before = StoredValue::new_local(None::<web_sys::HtmlElement>);
        Effect::new(move || {
            let Some(dialog) = dialog.get() else { return };
            focused_before.set_value(browser::focused());
            made_inert.set_value(browser::make_the_rest_inert(&dialog));
            browser::focus_first(&dialog);
        });
        on_cleanup(move || {
            made_inert.with_value(|elements| {
                for element in elements {
                    let _ = element.remove_attribute("inert");
                }
            });
            focused_before.with_value(|element| browser::give_back_focus(element.as_ref()));
        });
    }
    let on_key = move |event: leptos::ev::KeyboardEvent| {
        #[cfg(feature = "hydrate")]
        if event.key() == "Tab"
            && let Some(dialog) = dialog.get_untracked()
            && browser::wrap_focus(&dialog, event.shift_key())
        {
            event.prevent_default();
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = event;
    };
    view! {
        <div class="modal-backdrop">
            <div
                class="modal dropout"
                role="alertdialog"
                aria-modal="true"
                aria-labelledby="dropout-title"
                aria-describedby="dropout-text"
                tabindex="-1"
                node_ref=dialog
                on:keydown=on_key
            >
                <h2 id="dropout-title">"Your voice connection dropped"</h2>
                <p id="dropout-text">
                    "You are no longer in this room's voice channel. Rejoin it from Discord to
                    keep playing; this page updates as soon as you are back."
                </p>
                // Starts with the announcement already made (a region's first text is not read),
                // and reads the ones that follow.
                <p class="sr-only dropout__announcement" aria-live="polite" role="status">
                    {move || announcement.get()}
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
                    // Only leaves the page: the seat is held, as for any drop. Giving it up is
                    // the room's own "Leave game", which asks first.
                    <a class="button button--secondary dropout__leave" href="/" rel="external">
                        "Go home (your seat stays held)"
                    </a>
                </div>
            </div>
        </div>
    }
}

/// The DOM work behind the modal's focus and `inert` rules (browser only).
#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;
    use web_sys::{Element, HtmlElement};

    /// What can take the focus inside the dialog, in tab order (none has a positive tabindex).
    const FOCUSABLE: &str = "a[href], button:not([disabled]), input:not([disabled]), \
                             select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex=\"-1\"])";

    /// Makes every child of `<body>` that does not hold `dialog` inert; returns those it changed.
    pub(super) fn make_the_rest_inert(dialog: &Element) -> Vec<Element> {
        let Some(body) = leptos::prelude::document().body() else {
            return Vec::new();
        };
        let children = body.children();
        (0..children.length())
            .filter_map(|index| children.item(index))
            .filter(|child| !child.contains(Some(dialog)) && !child.has_attribute("inert"))
            .filter(|child| child.set_attribute("inert", "").is_ok())
            .collect()
    }

    /// Focuses the dialog's first action (rejoining, the least destructive), else the dialog.
    pub(super) fn focus_first(dialog: &Element) {
        let target = focusables(dialog)
            .into_iter()
            .next()
            .or_else(|| dialog.clone().dyn_into().ok());
        if let Some(target) = target {
            let _ = target.focus();
        }
    }

    /// The element that has the focus, if any does (not `<body>`).
    pub(super) fn focused() -> Option<HtmlElement> {
        let document = leptos::prelude::document();
        let active = document.active_element()?;
        let body: Option<Element> = document.body().map(Into::into);
        (Some(&active) != body.as_ref())
            .then(|| active.dyn_into().ok())
            .flatten()
    }

    /// Returns the focus to `element` if it is still on the page (the dialog is gone by now).
    pub(super) fn give_back_focus(element: Option<&HtmlElement>) {
        if let Some(element) = element
            && element.is_connected()
        {
            let _ = element.focus();
        }
    }

    /// On Tab from the last action (Shift+Tab from the first, or from outside them), moves the
    /// focus to the other end; returns whether it did (the browser's own move is then cancelled).
    pub(super) fn wrap_focus(dialog: &Element, backwards: bool) -> bool {
        let actions = focusables(dialog);
        let (Some(first), Some(last)) = (actions.first(), actions.last()) else {
            return true;
        };
        let active = leptos::prelude::document().active_element();
        let at = |element: &HtmlElement| active.as_ref() == Some(element.unchecked_ref::<Element>());
        let inside = actions.iter().any(at);
        let target = if backwards && (at(first) || !inside) {
            last
        } else if !backwards && (at(last) || !inside) {
            first
        } else {
            return false;
        };
        let _ = target.focus();
        true
    }

    fn focusables(dialog: &Element) -> Vec<HtmlElement> {
        let Ok(found) = dialog.query_selector_all(FOCUSABLE) else {
            return Vec::new();
        };
        (0..found.length())
            .filter_map(|index| found.item(index))
            .filter_map(|node| node.dyn_into::<HtmlElement>().ok())
            .collect()
    }
}
