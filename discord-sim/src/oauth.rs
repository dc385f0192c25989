//! OAuth2 as Discord serves it: the consent page (`/oauth2/authorize`), the token endpoint
//! (`/api/v10/oauth2/token`) and revocation, shaped so the `oauth2` crate works unchanged.

mod authorize;
mod grants;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub(crate) use self::grants::OAuthState;
use crate::core::Core;

/// Routes at the site root (the consent page).
pub(crate) fn router() -> Router<Arc<Core>> {
    Router::new().route("/oauth2/authorize", get(authorize::page).post(authorize::decide))
}

/// Routes under `/api/v10`.
pub(crate) fn api_router() -> Router<Arc<Core>> {
    Router::new()
        .route("/oauth2/token", post(token::exchange))
        .route("/oauth2/token/revoke", post(token::revoke))
}
