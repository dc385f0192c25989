//! OAuth2 as Discord serves it: the consent page, the token endpoint and revocation.

use std::sync::Arc;

use axum::Router;

use crate::core::Core;

/// Codes and tokens handed out. Owned by `State::oauth`.
#[derive(Debug, Default)]
pub(crate) struct OAuthState {}

pub(crate) fn router() -> Router<Arc<Core>> {
    Router::new()
}
