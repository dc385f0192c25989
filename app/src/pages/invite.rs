//! The invite page, `/invite/:token`: what a friend opens from the shared link. It says what the
//! link invites to (the game, its host, the seats taken, the starting life, the expiry), rendered
//! on the server so it is right before any script runs; a dead link says so at once, before anyone
//! signs in, and is answered 404 (410 once expired). Signed out, it offers to sign in (coming back
//! here); signed in, one button joins the game.

use leptos::prelude::*;
use leptos_router::{
    NavigateOptions,
    hooks::{use_navigate, use_params_map},
};
use model::{
    error::AppError,
    room::{InvitePreview, invite_path, room_path, sign_in_path},
};

use crate::{
    countdown::{now_ms, remaining},
    server_fns::{
        rooms::{join_room, preview_invite},
        viewer::load_viewer,
    },
};

/// The page for the invite in the path.
#[component]
pub fn InvitePage() -> impl IntoView {
    let token = use_params_map().with_untracked(|params| params.get("token").unwrap_or_default());
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move || set_hydrated.set(true));
    // Server-rendered too: a signed-out visitor sees the way to sign in before any script runs.
    let viewer = Resource::new_blocking(|| (), |()| load_viewer());
    let join = Action::new(|token: &String| join_room(token.clone()));
    let navigate = use_navigate();
    Effect::new(move || {
        if let Some(Ok(joined)) = join.value().get() {
            navigate(&room_path(joined.channel_id), NavigateOptions::default());
        }
    });
    let sign_in = sign_in_path(&invite_path(&token));
    let sign_in_again = sign_in.clone();
    // While a new try is on its way, the last one's error no longer holds.
    let failed = move || {
        (!join.pending().get())
            .then(|| join.value().get().and_then(Result::err))
            .flatten()
    };
    // An invite that failed for its own reasons (expired, full, …) will not work on a retry.
    let settled = move || matches!(failed(), Some(AppError::Invite(_)));
    let join_token = token.clone();
    // Awaited by the server before it answers (the route renders in `SsrMode::Async`), so the
    // first paint says what the link is for, or that it is dead.
    let preview = Resource::new_blocking(move || token.clone(), preview_invite);
    // Who is looking decides the action; read under the `Suspense`, so the server awaits it too.
    let actions = move || {
        let signed_in = viewer
            .get()
            .and_then(Result::ok)
            .map(|viewer| viewer.user_id.is_some());
        match signed_in {
            None => ().into_any(),
            Some(false) => view! {
                <p class="invite-page__actions">
                    <a class="button invite-page__signin" href=sign_in.clone() rel="external">
                        "Sign in with Discord to join"
                    </a>
                </p>
            }
            .into_any(),
            Some(true) if settled() => ().into_any(),
            Some(true) => {
                let token = join_token.clone();
                view! {
                    <p class="invite-page__actions">
                        <button
                            class="button invite-page__join"
                            type="button"
                            disabled=move || join.pending().get()
                            on:click=move |_| {
                                join.dispatch(token.clone());
                            }
                        >
                            {move || if join.pending().get() { "Joining…" } else { "Join game" }}
                        </button>
                    </p>
                }
                .into_any()
            }
        }
    };

    view! {
        <main class="page invite-page" data-hydrated=move || hydrated.get().to_string()>
            <p class="hero__eyebrow">"Game invite"</p>
            <Suspense fallback=|| view! { <h1>"You're invited to a game of Magic"</h1> }>
                {move || {
                    preview
                        .get()
                        .map(|answer| match answer {
                            Ok(preview) => {
                                view! {
                                    <InviteDetails preview />
                                    <p class="invite-page__lede">
                                        "Join the table: you'll get a seat in the game's private Discord voice channel."
                                    </p>
                                    {actions.clone()}
                                }
                                    .into_any()
                            }
                            Err(err) => view! { <DeadLink err /> }.into_any(),
                        })
                }}
            </Suspense>
            {move || failed().map(|err| view! { <JoinProblem err sign_in=sign_in_again.clone() /> })}
        </main>
    }
}

/// What the link invites to.
#[component]
fn InviteDetails(preview: InvitePreview) -> impl IntoView {
    let InvitePreview {
        name,
        host,
        seats_taken,
        seats,
        starting_life,
        expires_at_ms,
    } = preview;
    let left = seats.saturating_sub(seats_taken);
    let seats_text = match left {
        0 => "none left: the table is full".to_owned(),
        1 => format!("1 of {seats} left"),
        left => format!("{left} of {seats} left"),
    };
    view! {
        <h1>"You're invited to " <bdi class="invite-page__game">{name}</bdi></h1>
        <dl class="invite-page__details">
            <dt>"Host"</dt>
            <dd>
                <bdi class="invite-page__host">{host}</bdi>
            </dd>
            <dt>"Seats"</dt>
            <dd class="invite-page__seats" data-left=left.to_string()>
                {seats_text}
            </dd>
            <dt>"Starting life"</dt>
            <dd>{starting_life}</dd>
            <dt>"Link expires in"</dt>
            <dd class="invite-page__expiry">{remaining(expires_at_ms - now_ms())}</dd>
        </dl>
    }
}

/// A link that does not work, told before anyone signs in: its headline replaces the invitation.
/// The server answers such a page 404 (the link or its game is gone) or 410 (it expired).
#[component]
fn DeadLink(err: AppError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        let status = match err {
            AppError::Invite(model::error::InviteError::TokenExpired) => http::StatusCode::GONE,
            AppError::Invite(_) | AppError::NotFound => http::StatusCode::NOT_FOUND,
            _ => http::StatusCode::SERVICE_UNAVAILABLE,
        };
        response.set_status(status);
    }
    let (code, headline) = match &err {
        AppError::Invite(reason) => (reason.code(), reason.headline()),
        _ => ("", "This invite cannot be checked right now"),
    };
    let retry = !matches!(err, AppError::Invite(_));
    view! {
        <div class="invite-page__dead" role="alert" data-code=code>
            <h1>{headline}</h1>
            <p>{err.to_string()}</p>
            {retry.then(|| view! { <p>"Please try again in a moment."</p> })}
            <a class="button button--secondary" href="/">
                "Return home"
            </a>
        </div>
    }
}

/// Why joining failed, with the way forward: home, or signing in again.
#[component]
fn JoinProblem(err: AppError, sign_in: String) -> impl IntoView {
    let (code, headline) = match &err {
        AppError::Invite(reason) => (reason.code(), reason.headline()),
        AppError::Unauthenticated => ("UNAUTHENTICATED", "Please sign in again"),
        _ => ("", "Could not join the game"),
    };
    let again = matches!(
        err,
        AppError::Unauthenticated | AppError::Invite(model::error::InviteError::ConsentNeeded)
    )
    .then(|| {
        view! {
            <a class="button" href=sign_in rel="external">
                "Sign in with Discord"
            </a>
        }
    });
    view! {
        <div class="invite-page__error" role="alert" data-code=code>
            <h2>{headline}</h2>
            <p>{err.to_string()}</p>
            {again}
            <a class="button button--secondary" href="/">
                "Return home"
            </a>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use model::error::InviteError;

    use super::*;

    #[test]
    fn a_removed_player_is_told_why_and_what_to_do() {
        let html = view! {
            <JoinProblem err=AppError::Invite(InviteError::Removed) sign_in="/auth/login".to_owned() />
        }
        .to_html();
        assert!(html.contains(r#"data-code="REMOVED""#), "{html}");
        assert!(
            html.contains("The host removed you from this game. Ask them to let you back in."),
            "{html}"
        );
    }
}
