//! The `/_sim` control endpoint.

use std::sync::Arc;

use axum::Router;

use crate::core::Core;

pub(crate) fn router(_core: Arc<Core>) -> Router<Arc<Core>> {
    Router::new()
}
