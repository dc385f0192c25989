//! The invite page, `/invite/:token`: what a friend opens from the shared link. Signed out, it
//! explains and offers to sign in (coming back here); signed in, one button joins the game.

use leptos::prelude::*;
use leptos_router::{
    NavigateOptions,
    hooks::{use_navigate, use_params_map},
};
use model::{
    error::AppError,
    room::{invite_path, room_path, sign_in_path},
};

use crate::server_fns::{rooms::join_room, viewer::load_viewer};

/// The page for the invite in the path.
#[component]
pub fn InvitePage() -> impl IntoView {
    let token = use_params_map().with_untracked(|params| params.get("token").unwrap_or_default());
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move || set_hydrated.set(true));
    let viewer = LocalResource::new(load_viewer);
    let join = Action::new(|token: &String| join_room(token.clone()));
    let navigate = use_navigate();
    Effect::new(move || {
        if let Some(Ok(joined)) = join.value().get() {
            navigate(&room_path(joined.channel_id), NavigateOptions::default());
        }
    });
    let sign_in = sign_in_path(&invite_path(&token));
    let sign_in_again = sign_in.clone();
    let failed = move || join.value().get().and_then(Result::err);
    // An invite that failed for its own reasons (expired, full, …) will not work on a retry.
    let settled = move || matches!(failed(), Some(AppError::Invite(_)));
    let join_token = token.clone();

    view! {
        <main class="page invite-page" data-hydrated=move || hydrated.get().to_string()>
            <p class="hero__eyebrow">"Game invite"</p>
            <h1>"You're invited to a game of Magic"</h1>
            <p class="invite-page__lede">
                "Join the table: you'll get a seat in the game's private Discord voice channel."
            </p>
            {move || {
                let signed_in = viewer.get().and_then(Result::ok).map(|viewer| viewer.user_id.is_some());
                match signed_in {
                    None => ().into_any(),
                    Some(false) => {
                        view! {
                            <p class="invite-page__actions">
                                <a class="button invite-page__signin" href=sign_in.clone() rel="external">
                                    "Sign in with Discord to join"
                                </a>
                            </p>
                        }
                            .into_any()
                    }
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
                                    "Join game"
                                </button>
                            </p>
                        }
                            .into_any()
                    }
                }
            }}
            {move || failed().map(|err| view! { <JoinProblem err sign_in=sign_in_again.clone() /> })}
        </main>
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
    let again = matches!(err, AppError::Unauthenticated).then(|| {
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
