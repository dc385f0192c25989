//! The lean path for live streams: just enough HTTP/1.1 for `GET /api/stream`.
//!
//! The request head is read into a buffer that is freed once parsed; the router (session layer,
//! tracing, the stream handler) answers it as it answers any request; the response is written in
//! chunked encoding as frames arrive (those already waiting go out together), with no buffer
//! held between writes. The connection
//! closes when the response ends: one stream per connection, as browsers use them. A request this
//! path cannot serve faithfully (a body, HTTP/1.0, a malformed or oversized head) is answered with
//! the matching error status and closed.

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{HeaderName, HeaderValue, Request, StatusCode, Version, header},
    response::Response,
};
use bytes::Bytes;
use futures::FutureExt;
use http_body_util::BodyExt;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpStream,
        tcp::{ReadHalf, WriteHalf},
    },
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The largest request head accepted (cookies included); browsers send well under 4 KiB.
const MAX_HEAD: usize = 16 * 1024;
/// Headers in a request head, at most.
const MAX_HEADERS: usize = 64;
/// Frames written together at most, when a viewer has several waiting.
const MAX_BATCH: usize = 64;
/// How long the whole request head may take to arrive.
const HEAD_WITHIN: Duration = Duration::from_secs(10);

/// Serves one live-stream connection, start to end.
pub(super) async fn serve_stream(
    mut stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) {
    // Frames are small and latency matters more than packet count.
    let _ = stream.set_nodelay(true);
    let response = match read_request(&mut stream).await {
        Ok(mut request) => {
            // Handlers see the peer as axum's `ConnectInfo`, as on the hyper path.
            request.extensions_mut().insert(ConnectInfo(peer));
            match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
        Err(status) => plain(status),
    };
    let (mut reader, mut writer) = stream.split();
    if let Err(err) = write_response(&mut reader, &mut writer, response, &shutdown).await {
        tracing::debug!(error = %err, "live stream connection ended");
    }
    let _ = writer.shutdown().await;
}

/// Reads and parses the request head; the status to answer with when it cannot be served.
async fn read_request(stream: &mut TcpStream) -> Result<Request<Body>, StatusCode> {
    let mut head = Vec::with_capacity(1024);
    let end = tokio::time::timeout(HEAD_WITHIN, async {
        loop {
            if let Some(end) = find_head_end(&head) {
                return Ok(end);
            }
            if head.len() >= MAX_HEAD {
                return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
            }
            let mut chunk = [0_u8; 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Err(StatusCode::BAD_REQUEST),
                Ok(read) => head.extend_from_slice(&chunk[..read]),
            }
        }
    })
    .await
    .map_err(|_| StatusCode::REQUEST_TIMEOUT)??;
    parse_head(&head[..end])
}

/// Where the head ends (just past the blank line), if it has ended.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
}

fn parse_head(head: &[u8]) -> Result<Request<Body>, StatusCode> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        _ => return Err(StatusCode::BAD_REQUEST),
    }
    if parsed.version != Some(1) {
        return Err(StatusCode::HTTP_VERSION_NOT_SUPPORTED);
    }
    let mut request = Request::builder()
        .method(parsed.method.unwrap_or_default())
        .uri(parsed.path.unwrap_or_default())
        .version(Version::HTTP_11);
    for field in parsed.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| StatusCode::BAD_REQUEST)?;
        let has_body =
            (name == header::CONTENT_LENGTH && field.value != b"0") || name == header::TRANSFER_ENCODING;
        if has_body {
            // A GET with a body is not something a live stream needs; refusing keeps this simple.
            return Err(StatusCode::BAD_REQUEST);
        }
        let value = HeaderValue::from_bytes(field.value).map_err(|_| StatusCode::BAD_REQUEST)?;
        request = request.header(name, value);
    }
    request.body(Body::empty()).map_err(|_| StatusCode::BAD_REQUEST)
}

/// An empty response with `status`, for requests the router never saw.
fn plain(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// Writes the head, then each body frame as a chunk as soon as it exists, until the body ends,
/// the client goes away, or the server shuts down.
async fn write_response(
    reader: &mut ReadHalf<'_>,
    writer: &mut WriteHalf<'_>,
    response: Response,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    let (parts, mut body) = response.into_parts();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        // Framing is this writer's to decide.
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(header::CONNECTION) {
        head.extend_from_slice(b"connection: close\r\n");
    }
    head.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
    writer.write_all(&head).await?;
    drop(head);

    let mut probe = [0_u8; 1];
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            frame = body.frame() => match frame {
                Some(Ok(frame)) => {
                    batch.extend(frame.into_data().ok());
                    // Frames that are already waiting go out in the same write: a viewer that fell
                    // a little behind catches up in one syscall, not one per frame.
                    let ended = loop {
                        if batch.len() >= MAX_BATCH {
                            break false;
                        }
                        match body.frame().now_or_never() {
                            Some(Some(Ok(frame))) => batch.extend(frame.into_data().ok()),
                            Some(Some(Err(err))) => return Err(std::io::Error::other(err)),
                            Some(None) => break true,
                            None => break false,
                        }
                    };
                    write_chunks(writer, &batch).await?;
                    batch.clear();
                    if ended {
                        break;
                    }
                }
                Some(Err(err)) => return Err(std::io::Error::other(err)),
                None => break,
            },
            // A client that closes its side (or sends anything) is done with the stream.
            _ = reader.read(&mut probe) => return Ok(()),
            () = shutdown.cancelled() => break,
        }
    }
    writer.write_all(b"0\r\n\r\n").await
}

/// Writes `frames` as chunks in one write. The buffer lives only for this write, so an idle
/// stream holds no buffer at all.
async fn write_chunks(writer: &mut WriteHalf<'_>, frames: &[Bytes]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(frames.iter().map(|frame| frame.len() + 12).sum());
    for frame in frames.iter().filter(|frame| !frame.is_empty()) {
        // An empty chunk would end the body, so empty frames are skipped.
        out.extend_from_slice(format!("{:x}\r\n", frame.len()).as_bytes());
        out.extend_from_slice(frame);
        out.extend_from_slice(b"\r\n");
    }
    writer.write_all(&out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_request_head_parses_into_a_request() {
        let head = b"GET /api/stream?room=5 HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\nLast-Event-ID: e.3\r\n\r\n";
        let end = find_head_end(head).unwrap();
        assert_eq!(end, head.len());
        let request = parse_head(&head[..end]).unwrap();
        assert_eq!(request.uri(), "/api/stream?room=5");
        assert_eq!(request.headers()["cookie"], "a=b");
        assert_eq!(request.headers()["last-event-id"], "e.3");
    }

    #[test]
    fn heads_this_path_cannot_serve_are_refused_with_their_status() {
        for (head, status) in [
            (
                &b"GET /api/stream HTTP/1.0\r\n\r\n"[..],
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            ),
            (
                b"GET /api/stream HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
                StatusCode::BAD_REQUEST,
            ),
            (
                b"GET /api/stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                StatusCode::BAD_REQUEST,
            ),
            (
                b"GET /api/stream HTTP/1.1\r\nBad Header\r\n\r\n",
                StatusCode::BAD_REQUEST,
            ),
        ] {
            assert_eq!(
                parse_head(head).unwrap_err(),
                status,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        assert!(parse_head(b"GET /api/stream HTTP/1.1\r\nContent-Length: 0\r\n\r\n").is_ok());
    }
}
