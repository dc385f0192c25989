//! Server functions (replacing the original product's `createServerFn`), one file per resource.
//!
//! Each body is an adapter: take state from context, call the backend, and return a
//! [`model::error::AppError`] on failure. The server answers such a failure with the error's own
//! HTTP status (a middleware in `server` sets it, also for argument errors the framework raises
//! before a body runs).

pub mod dev;
pub mod rooms;
pub mod table;
pub mod viewer;

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side plumbing shared by the server functions: the contexts the server provides, and
    //! who is calling (always from the session, never from an argument).

    use backend::{
        discord::oauth::DiscordOAuth,
        rate_limit::RateLimiter,
        rooms::{RoomError, Rooms},
        session::{SignedInUser, UserSession},
    };
    use leptos::prelude::use_context;
    use model::error::AppError;

    /// The embedded Discord simulator, provided as context only when the server runs on it.
    #[derive(Debug, Clone)]
    pub struct DevSimulator(pub discord_sim::SimHandle);

    /// The guild hosting the game rooms, provided as context to every page and server function.
    #[derive(Debug, Clone, Copy)]
    pub struct SiteGuild(pub model::ids::GuildId);

    /// What the room server functions need, provided as one context.
    #[derive(Debug, Clone)]
    pub struct RoomServices {
        /// The rooms logic.
        pub rooms: Rooms,
        /// The table's life totals.
        pub table: backend::table::Table,
        /// Per-user request budgets.
        pub limiter: RateLimiter,
        /// Per-user budgets for changes to the life totals, sized for tapping.
        pub taps: RateLimiter,
        /// To renew a user's Discord tokens.
        pub oauth: DiscordOAuth,
    }

    /// The signed-in caller.
    pub struct Caller {
        /// Their session.
        pub session: UserSession,
        /// Who they are.
        pub user: SignedInUser,
    }

    /// The room services, or a 500 when the server forgot to provide them (a wiring bug).
    pub fn services() -> Result<RoomServices, AppError> {
        use_context::<RoomServices>().ok_or_else(|| {
            tracing::error!("room services are not provided to server functions");
            AppError::Internal
        })
    }

    /// The signed-in user of this request, or 401.
    pub async fn caller() -> Result<Caller, AppError> {
        let session: tower_sessions::Session = leptos_axum::extract().await.map_err(|err| {
            tracing::error!(error = %err, "no session layer around server functions");
            AppError::Internal
        })?;
        let session = UserSession(session);
        let user = session
            .user()
            .await
            .map_err(|err| {
                tracing::error!(error = ?err, "session store failed");
                AppError::Internal
            })?
            .ok_or(AppError::Unauthenticated)?;
        Ok(Caller { session, user })
    }

    /// The signed-in user of this request, charged one request of their budget: 401 without a
    /// session, 429 (with how long to wait) when they are going too fast.
    pub async fn throttled_caller(services: &RoomServices) -> Result<Caller, AppError> {
        charged(&services.limiter).await
    }

    /// The signed-in user of this request, charged one tap of their life-total budget (see
    /// [`throttled_caller`]).
    pub async fn tapping_caller(services: &RoomServices) -> Result<Caller, AppError> {
        charged(&services.taps).await
    }

    async fn charged(budget: &RateLimiter) -> Result<Caller, AppError> {
        let caller = caller().await?;
        budget
            .check(&caller.user.id)
            .await
            .map_err(|wait| AppError::RateLimited {
                retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
            })?;
        Ok(caller)
    }

    /// Runs a room operation to completion in a task of its own and waits for its answer. Once
    /// started, an operation must not stop half-way because the browser went away (hyper drops a
    /// request's future when its connection closes): a channel made without its room, or a seat
    /// freed without its permission taken away, is exactly what a dropped request would leave.
    /// The task does not care whether anyone still waits for it. A panic in it is a 500.
    pub async fn to_completion<T: Send + 'static>(
        operation: impl Future<Output = Result<T, RoomError>> + Send + 'static,
    ) -> Result<T, AppError> {
        match tokio::spawn(operation).await {
            Ok(outcome) => Ok(outcome?),
            Err(err) => {
                tracing::error!(error = %err, "a room operation panicked");
                Err(AppError::Internal)
            }
        }
    }

    impl Caller {
        /// The access token [`Self::access_token`] gives, if the user let the app add them to the
        /// guild (`guilds.join`): a 403 `CONSENT_NEEDED` otherwise, which the invite page answers
        /// with a sign-in that asks for it.
        pub async fn join_token(&self, oauth: &DiscordOAuth) -> Result<String, AppError> {
            let tokens = self.session.tokens().await.map_err(|err| {
                tracing::error!(error = ?err, "session store failed");
                AppError::Internal
            })?;
            if tokens.is_some_and(|tokens| !tokens.may_join()) {
                return Err(AppError::Invite(model::error::InviteError::ConsentNeeded));
            }
            self.access_token(oauth).await
        }

        /// The user's Discord access token, renewed first when it is about to expire. A token
        /// that can no longer be renewed means signing in again (401).
        pub async fn access_token(&self, oauth: &DiscordOAuth) -> Result<String, AppError> {
            let store_failed = |err| {
                tracing::error!(error = ?err, "session store failed");
                AppError::Internal
            };
            let tokens = self
                .session
                .tokens()
                .await
                .map_err(store_failed)?
                .ok_or(AppError::Unauthenticated)?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if !tokens.needs_renewal(now) {
                return Ok(tokens.access_token);
            }
            let renewed = oauth.refresh(&tokens).await.map_err(|err| {
                tracing::info!(error = %err, user = %self.user.id, "cannot renew Discord tokens; sign-in needed");
                AppError::Unauthenticated
            })?;
            self.session.set_tokens(&renewed).await.map_err(store_failed)?;
            Ok(renewed.access_token)
        }
    }
}
