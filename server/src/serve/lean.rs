//! The lean path for live streams: just enough HTTP/1.1 for `GET /api/stream`.
//!
//! The request head is read into a buffer that is freed once parsed; the router (session layer,
//! tracing, the stream handler) answers it as it answers any request; the response is written as
//! frames arrive (those already waiting go out together), with no buffer held between writes. The
//! connection closes when the response ends, and says so (`Connection: close`): one stream per
//! connection, as browsers use them. A request this path cannot serve faithfully (a body, a
//! malformed or oversized head) is answered with the matching error status and closed.
//!
//! Where this deviates from, or picks among the options of, RFC 9112:
//! * A lone LF ends a line as well as CRLF (§2.2 allows it), so a head may end `\n\n`.
//! * HTTP/1.0 is served: a response of unknown length has no chunked encoding (1.0 has none) and
//!   ends when the connection closes (§6.3, last rule). The status line says `HTTP/1.1`, this
//!   server's version (RFC 9110 §6.2); a 1.0 client reads it as 1.0.
//! * A response of known length (an error) has `Content-Length`, which every version reads.
//! * Every write waits at most the stream write timeout for a client that stopped reading: a
//!   stalled reader is dropped. At shutdown the stream's last frames (a reconnect hint) and its
//!   end are still written, so the browser reconnects when the hint says rather than after a
//!   broken connection; the shutdown deadline (enforced by `serve`, which drops the connection)
//!   bounds that.
//! * A connection that has not sent its whole request head when shutdown begins is closed:
//!   nothing was asked yet.

use std::{io, net::SocketAddr, time::Duration};

use axum::{
    Router,
    body::{Body, HttpBody as _},
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

/// How a response's body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// `Content-Length`: the body's size is known.
    Length(u64),
    /// `Transfer-Encoding: chunked`: an HTTP/1.1 body of unknown size.
    Chunked,
    /// The body ends when the connection closes: an HTTP/1.0 body of unknown size.
    UntilClose,
}

/// How one connection's writes are bounded.
#[derive(Debug, Clone)]
struct Deadlines {
    /// The longest one write may wait for the client to read.
    write_within: Duration,
}

impl Deadlines {
    async fn write(&self, writer: &mut WriteHalf<'_>, bytes: &[u8]) -> io::Result<()> {
        tokio::time::timeout(self.write_within, writer.write_all(bytes))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))?
    }
}

/// Serves one live-stream connection, start to end. `write_within` bounds every write; a request
/// head still incomplete at `shutdown` is not waited for.
pub(super) async fn serve_stream(
    mut stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
    write_within: Duration,
) {
    // Frames are small and latency matters more than packet count.
    let _ = stream.set_nodelay(true);
    let request = tokio::select! {
        request = read_request(&mut stream) => request,
        () = shutdown.cancelled() => return,
    };
    let (response, version) = match request {
        Ok(mut request) => {
            let version = request.version();
            // Handlers see the peer as axum's `ConnectInfo`, as on the hyper path.
            request.extensions_mut().insert(ConnectInfo(peer));
            match router.oneshot(request).await {
                Ok(response) => (response, version),
                Err(never) => match never {},
            }
        }
        // Its version is unknown, but `plain` responses have a length, which every version reads.
        Err(status) => (plain(status), Version::HTTP_11),
    };
    let deadlines = Deadlines { write_within };
    let (mut reader, mut writer) = stream.split();
    if let Err(err) = write_response(&mut reader, &mut writer, response, version, &deadlines).await {
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

/// Where the head ends (just past the empty line that ends it), if it has ended. A line ends with
/// LF, optionally preceded by CR, so the empty line is `\n\n` or `\n\r\n`.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().find_map(|(at, byte)| {
        if *byte != b'\n' {
            return None;
        }
        match bytes.get(at + 1..) {
            Some([b'\n', ..]) => Some(at + 2),
            Some([b'\r', b'\n', ..]) => Some(at + 3),
            _ => None,
        }
    })
}

fn parse_head(head: &[u8]) -> Result<Request<Body>, StatusCode> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        _ => return Err(StatusCode::BAD_REQUEST),
    }
    // httparse knows HTTP/1.0 and HTTP/1.1 only.
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(StatusCode::HTTP_VERSION_NOT_SUPPORTED),
    };
    let mut request = Request::builder()
        .method(parsed.method.unwrap_or_default())
        .uri(parsed.path.unwrap_or_default())
        .version(version);
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

/// The response head for `parts`, delimited by `framing`; the connection always closes after it.
fn response_head(parts: &axum::http::response::Parts, framing: Framing) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        // Framing and the connection's fate are this writer's to decide.
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"connection: close\r\n");
    match framing {
        Framing::Length(length) => head.extend_from_slice(format!("content-length: {length}\r\n").as_bytes()),
        Framing::Chunked => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::UntilClose => {}
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Writes the head, then each body frame as soon as it exists, until the body ends (a stream's
/// does at shutdown, after its reconnect hint), the client goes away, or a write times out.
async fn write_response(
    reader: &mut ReadHalf<'_>,
    writer: &mut WriteHalf<'_>,
    response: Response,
    version: Version,
    deadlines: &Deadlines,
) -> io::Result<()> {
    let (parts, mut body) = response.into_parts();
    let framing = match body.size_hint().exact() {
        Some(length) => Framing::Length(length),
        None if version == Version::HTTP_10 => Framing::UntilClose,
        None => Framing::Chunked,
    };
    deadlines.write(writer, &response_head(&parts, framing)).await?;

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
                            Some(Some(Err(err))) => return Err(io::Error::other(err)),
                            Some(None) => break true,
                            None => break false,
                        }
                    };
                    deadlines.write(writer, &encode(&batch, framing)).await?;
                    batch.clear();
                    if ended {
                        break;
                    }
                }
                Some(Err(err)) => return Err(io::Error::other(err)),
                None => break,
            },
            // A client that closes its side (or sends anything) is done with the stream.
            _ = reader.read(&mut probe) => return Ok(()),
        }
    }
    if framing == Framing::Chunked {
        deadlines.write(writer, b"0\r\n\r\n").await?;
    }
    Ok(())
}

/// `frames` as they go on the wire, in one buffer for one write. The buffer lives only for that
/// write, so an idle stream holds no buffer at all.
fn encode(frames: &[Bytes], framing: Framing) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames.iter().map(|frame| frame.len() + 12).sum());
    for frame in frames.iter().filter(|frame| !frame.is_empty()) {
        if framing == Framing::Chunked {
            // An empty chunk would end the body, hence the filter above.
            out.extend_from_slice(format!("{:x}\r\n", frame.len()).as_bytes());
            out.extend_from_slice(frame);
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(frame);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Heads as a peer might send them: a plausible request line and headers with arbitrary
    /// bytes spliced in, or arbitrary bytes outright.
    fn head() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            Just(b"GET /api/stream?room=5 HTTP/1.1".to_vec()),
            Just(b"GET /api/stream HTTP/1.0".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ];
        let field = prop_oneof![
            Just(b"Host: x".to_vec()),
            Just(b"Content-Length: 7".to_vec()),
            Just(b"Transfer-Encoding: chunked".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ];
        let ending = prop_oneof![Just(b"\r\n".to_vec()), Just(b"\n".to_vec()), Just(Vec::new())];
        prop_oneof![
            (
                line,
                proptest::collection::vec((field, ending.clone()), 0..70),
                ending
            )
                .prop_map(|(line, fields, end)| {
                    let mut head = line;
                    head.extend_from_slice(b"\r\n");
                    for (field, ending) in fields {
                        head.extend(field);
                        head.extend(ending);
                    }
                    head.extend(end);
                    head
                }),
            proptest::collection::vec(any::<u8>(), 0..600),
        ]
    }

    /// A status that blames the request: a 4xx, or 505 for a version the path does not speak.
    fn refusal(status: StatusCode) -> bool {
        status.is_client_error() || status == StatusCode::HTTP_VERSION_NOT_SUPPORTED
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever arrives, the parser answers a request or a refusal status; it never
        /// panics and never claims a head ends past the bytes it was given.
        #[test]
        fn any_head_parses_or_is_refused(bytes in head()) {
            if let Some(end) = find_head_end(&bytes) {
                prop_assert!(end <= bytes.len());
                match parse_head(&bytes[..end]) {
                    Ok(request) => prop_assert!(request.body().size_hint().exact() == Some(0)),
                    Err(status) => prop_assert!(refusal(status), "{status}"),
                }
            }
            if let Err(status) = parse_head(&bytes) {
                prop_assert!(refusal(status), "{status}");
            }
        }
    }

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
    fn a_head_with_bare_lf_line_endings_ends_at_its_blank_line() {
        // RFC 9112 §2.2: a recipient may take a lone LF as a line terminator.
        for head in [
            &b"GET /api/stream?room=5 HTTP/1.1\nHost: x\nCookie: a=b\n\n"[..],
            b"GET /api/stream?room=5 HTTP/1.1\r\nHost: x\nCookie: a=b\r\n\n",
            b"GET /api/stream?room=5 HTTP/1.1\nHost: x\r\nCookie: a=b\n\r\n",
        ] {
            let text = String::from_utf8_lossy(head);
            let end = find_head_end(head).unwrap_or_else(|| panic!("{text:?}"));
            assert_eq!(end, head.len(), "{text:?}");
            let request = parse_head(&head[..end]).unwrap();
            assert_eq!(request.headers()["cookie"], "a=b", "{text:?}");
        }
        assert_eq!(find_head_end(b"GET / HTTP/1.1\nHost: x\n"), None);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    #[test]
    fn an_http_1_0_request_is_served_as_http_1_0() {
        let request = parse_head(b"GET /api/stream?room=5 HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(request.version(), Version::HTTP_10);
    }

    fn head_for(response: Response, framing: Framing) -> String {
        let (parts, _) = response.into_parts();
        String::from_utf8(response_head(&parts, framing)).unwrap()
    }

    #[test]
    fn the_response_always_says_the_connection_closes() {
        let response = Response::builder()
            .header(header::CONNECTION, "keep-alive")
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            head_for(response, Framing::Chunked),
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn an_http_1_0_body_of_unknown_length_is_unframed_and_a_known_one_has_its_length() {
        assert_eq!(
            head_for(plain(StatusCode::OK), Framing::UntilClose),
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            head_for(plain(StatusCode::BAD_REQUEST), Framing::Length(0)),
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        );
        let frames = [
            Bytes::from_static(b"data: a\n\n"),
            Bytes::new(),
            Bytes::from_static(b": ping\n\n"),
        ];
        assert_eq!(encode(&frames, Framing::UntilClose), b"data: a\n\n: ping\n\n");
        assert_eq!(
            encode(&frames, Framing::Chunked),
            b"9\r\ndata: a\n\n\r\n8\r\n: ping\n\n\r\n"
        );
    }

    #[test]
    fn heads_this_path_cannot_serve_are_refused_with_their_status() {
        for (head, status) in [
            (
                &b"GET /api/stream HTTP/1.1\r\nContent-Length: 5\r\n\r\n"[..],
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
