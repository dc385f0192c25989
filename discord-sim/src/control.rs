//! The `/_sim` control endpoint for the dev panel and CLI: the same controls as [`SimHandle`]
//! (voice moves, new users, faults) over HTTP, behind `Authorization: Bearer <control token>`.
//!
//! [`SimHandle`]: crate::SimHandle

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::core::Core;
use crate::fault::{GatewayFault, RestFaultRule};
use crate::id::Snowflake;
use crate::world::{World, WorldError};

/// The control router (nested at `/_sim` by the caller).
pub(crate) fn router(core: Arc<Core>) -> Router<Arc<Core>> {
    Router::new()
        .route("/state", get(state))
        .route("/users", post(create_user))
        .route("/voice/join", post(join))
        .route("/voice/move", post(move_to))
        .route("/voice/leave", post(leave))
        .route("/voice/mute", post(mute))
        .route("/gateway/faults", post(gateway_fault))
        .route("/gateway/refuse-resume", post(refuse_resume))
        .route("/gateway/refuse-all", post(refuse_all))
        .route("/rest/faults", post(rest_fault))
        .route("/gateway/frame-size", post(frame_size))
        .route("/gateway/dispatch", post(dispatch))
        .route("/guild/outage", post(outage))
        .layer(middleware::from_fn_with_state(core, require_token))
}

/// Rejects requests without the control token.
async fn require_token(State(core): State<Arc<Core>>, request: Request, next: Next) -> Response {
    let expected = format!("Bearer {}", core.config.control_token);
    let ok = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == expected);
    if ok {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(Problem {
                error: "missing or wrong control token".to_owned(),
            }),
        )
            .into_response()
    }
}

#[derive(Serialize)]
struct Problem {
    error: String,
}

/// A refused control request.
struct ControlError(WorldError);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            WorldError::NotInVoice(_) | WorldError::NotVoice(_) => StatusCode::CONFLICT,
            WorldError::MissingPermissions => StatusCode::FORBIDDEN,
            _ => StatusCode::NOT_FOUND,
        };
        (
            status,
            Json(Problem {
                error: self.0.to_string(),
            }),
        )
            .into_response()
    }
}

impl From<WorldError> for ControlError {
    fn from(err: WorldError) -> Self {
        Self(err)
    }
}

#[derive(Serialize)]
struct ChannelView {
    id: Snowflake,
    name: String,
    #[serde(rename = "type")]
    kind: u8,
}

#[derive(Serialize)]
struct UserView {
    id: Snowflake,
    username: String,
    bot: bool,
    member: bool,
    voice_channel_id: Option<Snowflake>,
    mute: bool,
}

#[derive(Serialize)]
struct ConnectionView {
    id: u64,
    session_id: Option<String>,
    via_resume_url: bool,
    compression: Option<&'static str>,
}

#[derive(Serialize)]
struct StateView {
    guild_id: Snowflake,
    channels: Vec<ChannelView>,
    users: Vec<UserView>,
    connections: Vec<ConnectionView>,
    identifies: u64,
    resumes: u64,
    gateway_connections: u64,
    rest_requests: u64,
}

async fn state(State(core): State<Arc<Core>>) -> Json<StateView> {
    let state = core.lock();
    let world = &state.world;
    Json(StateView {
        guild_id: world.guild_id,
        channels: world
            .channels
            .values()
            .map(|c| ChannelView {
                id: c.id,
                name: c.name.clone(),
                kind: c.kind,
            })
            .collect(),
        users: world
            .users
            .values()
            .map(|u| UserView {
                id: u.id,
                username: u.username.clone(),
                bot: u.bot,
                member: world.members.contains_key(&u.id),
                voice_channel_id: world.voice.get(&u.id).map(|v| v.channel_id),
                mute: world.members.get(&u.id).is_some_and(|m| m.mute),
            })
            .collect(),
        connections: state
            .connections
            .iter()
            .map(|(id, entry)| ConnectionView {
                id: *id,
                session_id: entry.session.clone(),
                via_resume_url: entry.via_resume_url,
                compression: entry.compression,
            })
            .collect(),
        identifies: state.counters.identifies,
        resumes: state.counters.resumes,
        gateway_connections: state.counters.connections,
        rest_requests: state.counters.rest_requests,
    })
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    #[serde(default = "yes")]
    member: bool,
}

fn yes() -> bool {
    true
}

#[derive(Serialize)]
struct Created {
    id: Snowflake,
}

async fn create_user(State(core): State<Arc<Core>>, Json(body): Json<NewUser>) -> Json<Created> {
    let mut state = core.lock();
    let id = state.world.create_user(&body.username, Some(&body.username));
    if body.member {
        let dispatches = state.world.add_member(id, World::now());
        state.publish(&dispatches);
    }
    Json(Created { id })
}

#[derive(Deserialize)]
struct Voice {
    user_id: Snowflake,
    #[serde(default)]
    channel_id: Option<Snowflake>,
    #[serde(default)]
    mute: Option<bool>,
}

fn missing_channel(body: &Voice) -> Result<Snowflake, ControlError> {
    // No channel given reads as "unknown channel" rather than a separate error shape.
    body.channel_id
        .ok_or(ControlError(WorldError::UnknownChannel(body.user_id)))
}

async fn join(State(core): State<Arc<Core>>, Json(body): Json<Voice>) -> Result<StatusCode, ControlError> {
    let channel = missing_channel(&body)?;
    core.change(|world| world.join_voice(body.user_id, channel).map(|d| ((), d)))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn move_to(State(core): State<Arc<Core>>, Json(body): Json<Voice>) -> Result<StatusCode, ControlError> {
    let channel = missing_channel(&body)?;
    core.change(|world| world.move_voice(body.user_id, channel).map(|d| ((), d)))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn leave(State(core): State<Arc<Core>>, Json(body): Json<Voice>) -> Result<StatusCode, ControlError> {
    core.change(|world| world.leave_voice(body.user_id).map(|d| ((), d)))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn mute(State(core): State<Arc<Core>>, Json(body): Json<Voice>) -> Result<StatusCode, ControlError> {
    let mute = body.mute.unwrap_or(true);
    core.change(|world| world.set_mute(body.user_id, mute).map(|d| ((), d)))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct FaultRequest {
    /// One connection, or every connection with a session when absent.
    #[serde(default)]
    connection_id: Option<u64>,
    fault: GatewayFault,
}

#[derive(Serialize)]
struct Applied {
    applied: usize,
}

async fn gateway_fault(State(core): State<Arc<Core>>, Json(body): Json<FaultRequest>) -> Json<Applied> {
    let state = core.lock();
    let applied = match body.connection_id {
        Some(id) => usize::from(state.send_fault(id, body.fault)),
        None => state.fault_sessions(&body.fault),
    };
    Json(Applied { applied })
}

#[derive(Deserialize)]
struct Refuse {
    refuse: bool,
}

async fn refuse_resume(State(core): State<Arc<Core>>, Json(body): Json<Refuse>) -> StatusCode {
    core.lock().refuse_resume = body.refuse;
    StatusCode::NO_CONTENT
}

async fn refuse_all(State(core): State<Arc<Core>>, Json(body): Json<Refuse>) -> StatusCode {
    core.lock().refuse_gateway = body.refuse;
    StatusCode::NO_CONTENT
}

async fn rest_fault(State(core): State<Arc<Core>>, Json(rule): Json<RestFaultRule>) -> StatusCode {
    core.lock().rest_faults.push_back(rule);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct FrameSize {
    /// `null` restores whole frames.
    size: Option<usize>,
}

async fn frame_size(State(core): State<Arc<Core>>, Json(body): Json<FrameSize>) -> StatusCode {
    core.lock().frame_size = body.size;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct RawDispatch {
    name: String,
    intent: u64,
    data: serde_json::Value,
}

/// Any dispatch to every session with the intent (`data` is re-serialised compactly).
async fn dispatch(State(core): State<Arc<Core>>, Json(body): Json<RawDispatch>) -> StatusCode {
    let dispatch = crate::world::Dispatch {
        name: body.name.into(),
        intent: body.intent,
        data: body.data.to_string(),
    };
    core.lock().publish(&[dispatch]);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Outage {
    down: bool,
}

async fn outage(State(core): State<Arc<Core>>, Json(body): Json<Outage>) -> StatusCode {
    core.lock().guild_outage(body.down);
    StatusCode::NO_CONTENT
}
