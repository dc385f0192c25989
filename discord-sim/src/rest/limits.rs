//! The layer every `/api/v10` request passes: counts it, applies queued faults (429s, error
//! statuses, slow answers) and adds Discord's rate-limit headers.
//!
//! Headers follow `reference/discord-protocol.md` §2.4: `X-RateLimit-Scope`, `Retry-After` and
//! `X-RateLimit-Global` only on 429s, unless `ratelimit_scope_on_success` asks for the scope on
//! every answer (twilight-http learns buckets only when it is present).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::RestError;
use crate::config::RateWindow;
use crate::core::Core;
use crate::fault::RestFault;

/// The bucket size the simulator advertises.
const LIMIT: u32 = 5;
/// The window it advertises, in seconds.
const RESET_AFTER: f64 = 1.0;

#[derive(Serialize)]
struct RateLimited {
    message: &'static str,
    retry_after: f64,
    global: bool,
}

/// The middleware.
pub(crate) async fn layer(State(core): State<Arc<Core>>, request: Request, next: Next) -> Response {
    let bucket = bucket_of(request.uri().path());
    let fault = take_fault(&core, request.uri().path());
    let (limit, remaining, reset_after) = match (fault.is_none(), core.config.rest_bucket_limit) {
        (true, Some(window)) => match take_slot(&core, &bucket, window) {
            Ok(remaining) => (window.count, remaining, window.per.as_secs_f64()),
            Err(wait) => {
                core.lock().counters.rate_limited += 1;
                return too_many_requests(&bucket, false, wait.as_secs_f64());
            }
        },
        _ => (LIMIT, LIMIT - 1, RESET_AFTER),
    };
    match fault {
        Some(RestFault::RateLimit { global, retry_after }) => {
            core.lock().counters.rate_limited += 1;
            return too_many_requests(&bucket, global, retry_after);
        }
        Some(RestFault::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return RestError::Injected(status).into_response();
        }
        Some(RestFault::Slow { delay }) => tokio::time::sleep(delay).await,
        None => {}
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    insert_bucket_headers(headers, &bucket, limit, remaining, reset_after);
    if core.config.ratelimit_scope_on_success {
        headers.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
    }
    response
}

/// Counts the request and pops the first queued fault whose path filter matches.
fn take_fault(core: &Core, path: &str) -> Option<RestFault> {
    let mut state = core.lock();
    state.counters.rest_requests += 1;
    let index = state
        .rest_faults
        .iter()
        .position(|rule| path.contains(&rule.path))?;
    let rule = state.rest_faults.get_mut(index)?;
    let fault = rule.fault.clone();
    rule.times = rule.times.saturating_sub(1);
    if rule.times == 0 {
        state.rest_faults.remove(index);
    }
    Some(fault)
}

/// Takes a slot in the bucket's sliding window: the requests left, or how long until a slot
/// frees up.
fn take_slot(core: &Core, bucket: &str, limit: RateWindow) -> Result<u32, Duration> {
    let now = Instant::now();
    let mut state = core.lock();
    let times = state.buckets.entry(bucket.to_owned()).or_default();
    while times
        .front()
        .is_some_and(|at| now.duration_since(*at) >= limit.per)
    {
        times.pop_front();
    }
    let count = limit.count.max(1) as usize;
    if times.len() >= count {
        let oldest = times.front().copied().unwrap_or(now);
        return Err(limit.per.saturating_sub(now.duration_since(oldest)));
    }
    times.push_back(now);
    Ok(u32::try_from(count - times.len()).unwrap_or(0))
}

/// Discord splits buckets by top-level resource; the path with its major id is close enough.
fn bucket_of(path: &str) -> String {
    let mut segments = path.trim_start_matches('/').split('/');
    let resource = segments.next().unwrap_or_default();
    let major = segments.next().unwrap_or_default();
    format!("sim-{resource}-{major}")
}

fn too_many_requests(bucket: &str, global: bool, retry_after: f64) -> Response {
    let retry_after = retry_after.max(0.0);
    let body = RateLimited {
        message: "You are being rate limited.",
        retry_after,
        global,
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    let headers = response.headers_mut();
    // `Retry-After` is whole seconds on Discord; the precise value is in the body and headers.
    let whole = format!("{}", retry_after.ceil());
    if let Ok(value) = HeaderValue::from_str(&whole) {
        headers.insert("retry-after", value);
    }
    if global {
        headers.insert("x-ratelimit-global", HeaderValue::from_static("true"));
        headers.insert("x-ratelimit-scope", HeaderValue::from_static("global"));
    } else {
        insert_bucket_headers(headers, bucket, LIMIT, 0, retry_after);
        headers.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
    }
    response
}

fn insert_bucket_headers(
    headers: &mut HeaderMap,
    bucket: &str,
    limit: u32,
    remaining: u32,
    reset_after: f64,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64();
    let values = [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", format!("{:.3}", now + reset_after)),
        ("x-ratelimit-reset-after", format!("{reset_after:.3}")),
        ("x-ratelimit-bucket", bucket.to_owned()),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}
