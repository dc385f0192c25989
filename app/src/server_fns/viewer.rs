//! Who is looking: the signed-in user (from the session, never from an argument) and the guild.

use leptos::prelude::*;
use model::{error::AppError, viewer::Viewer};

/// The viewer of the current page.
#[server(prefix = "/api", endpoint = "viewer")]
pub async fn load_viewer() -> Result<Viewer, AppError> {
    use backend::session::UserSession;

    let guild_id = use_context::<super::ssr::SiteGuild>()
        .ok_or(AppError::Internal)?
        .0;
    let session: tower_sessions::Session = leptos_axum::extract().await.map_err(|err| {
        tracing::error!(error = %err, "no session layer around server functions");
        AppError::Internal
    })?;
    let user = UserSession(session).user().await.map_err(|err| {
        tracing::error!(error = ?err, "session store failed");
        AppError::Internal
    })?;
    Ok(Viewer {
        user_id: user.as_ref().map(|user| user.id),
        username: user.map(|user| user.username),
        guild_id,
    })
}
