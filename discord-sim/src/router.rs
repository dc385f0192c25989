//! Assembles the one axum router: gateway upgrades, `/api/v10`, OAuth2 and `/_sim`.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::core::Core;
use crate::{control, gateway, oauth, rest};

/// Every route of one simulator.
pub(crate) fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/", get(gateway::base))
        .route("/resume", get(gateway::resume))
        .route("/resume/", get(gateway::resume))
        .nest("/api/v10", rest::router(Arc::clone(&core)))
        .merge(oauth::router())
        .nest("/_sim", control::router(Arc::clone(&core)))
        .with_state(core)
}
