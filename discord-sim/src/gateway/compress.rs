//! Transport compression for one connection, as the `compress=` query parameter asks.
//!
//! Discord keeps one stream context per WebSocket connection (never per session): zstd-stream
//! flushes each message without ending the frame, zlib-stream deflates each message with a sync
//! flush so it ends in `00 00 ff ff`. A new connection always starts a fresh context.

use flate2::{Compress, Compression, FlushCompress};
use zstd_safe::{CCtx, InBuffer, OutBuffer, zstd_sys::ZSTD_EndDirective};

/// Why a message could not be compressed (a zstd library error code).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompressError {
    /// zstd reported an error.
    #[error("zstd error {0}")]
    Zstd(usize),
    /// zlib reported an error.
    #[error("zlib error: {0}")]
    Zlib(#[from] flate2::CompressError),
}

/// The per-connection compression context.
pub(crate) enum Compressor {
    /// Plain text frames.
    None,
    /// `compress=zstd-stream`.
    Zstd(CCtx<'static>),
    /// `compress=zlib-stream`.
    Zlib(Compress),
}

impl Compressor {
    /// The context the query value asks for; unknown values mean no compression.
    pub(crate) fn for_query(compress: Option<&str>) -> Self {
        match compress {
            Some("zstd-stream") => Self::Zstd(CCtx::create()),
            Some("zlib-stream") => Self::Zlib(Compress::new(Compression::fast(), true)),
            _ => Self::None,
        }
    }

    /// The query value this context serves, for inspection.
    pub(crate) fn name(&self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Zstd(_) => Some("zstd-stream"),
            Self::Zlib(_) => Some("zlib-stream"),
        }
    }

    /// Compresses one message; `None` for plain text connections.
    pub(crate) fn compress(&mut self, text: &str) -> Result<Option<Vec<u8>>, CompressError> {
        match self {
            Self::None => Ok(None),
            Self::Zstd(cctx) => zstd_flush(cctx, text.as_bytes()).map(Some),
            Self::Zlib(deflate) => zlib_sync(deflate, text.as_bytes()).map(Some),
        }
    }
}

fn zstd_flush(cctx: &mut CCtx<'static>, input: &[u8]) -> Result<Vec<u8>, CompressError> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len() / 2 + 64);
    let mut src = InBuffer::around(input);
    loop {
        if out.capacity() - out.len() < 256 {
            out.reserve(out.capacity().max(1024));
        }
        let pos = out.len();
        let mut dst = OutBuffer::around_pos(&mut out, pos);
        let remaining = cctx
            .compress_stream2(&mut dst, &mut src, ZSTD_EndDirective::ZSTD_e_flush)
            .map_err(CompressError::Zstd)?;
        if remaining == 0 && src.pos() == input.len() {
            return Ok(out);
        }
    }
}

fn zlib_sync(deflate: &mut Compress, input: &[u8]) -> Result<Vec<u8>, CompressError> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let start = deflate.total_in();
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let consumed = usize::try_from(deflate.total_in() - start).unwrap_or(usize::MAX);
        let rest = input.get(consumed..).unwrap_or_default();
        deflate.compress_vec(rest, &mut out, FlushCompress::Sync)?;
        let done = usize::try_from(deflate.total_in() - start).unwrap_or(usize::MAX) == input.len();
        // A sync flush is complete once all input is in and the output did not fill up.
        if done && out.len() < out.capacity() {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Compressor;

    #[test]
    fn zlib_frames_end_with_the_sync_marker_and_inflate_in_sequence() {
        let mut compressor = Compressor::for_query(Some("zlib-stream"));
        let mut inflate = flate2::Decompress::new(true);
        for message in ["{\"op\":10}", &"x".repeat(100_000)] {
            let frame = compressor.compress(message).ok().flatten().unwrap_or_default();
            assert!(frame.ends_with(&[0, 0, 0xff, 0xff]));
            let mut out = Vec::with_capacity(message.len() + 1024);
            inflate
                .decompress_vec(&frame, &mut out, flate2::FlushDecompress::Sync)
                .expect("inflates");
            assert_eq!(out, message.as_bytes());
        }
    }

    #[test]
    fn zstd_frames_decode_in_sequence_with_one_context() {
        let mut compressor = Compressor::for_query(Some("zstd-stream"));
        let mut dctx = zstd_safe::DCtx::create();
        for message in ["{\"op\":10}", &"y".repeat(200_000)] {
            let frame = compressor.compress(message).ok().flatten().unwrap_or_default();
            let mut out: Vec<u8> = Vec::with_capacity(message.len() + 1024);
            let mut src = zstd_safe::InBuffer::around(&frame);
            let mut dst = zstd_safe::OutBuffer::around(&mut out);
            dctx.decompress_stream(&mut dst, &mut src).expect("decodes");
            assert_eq!(out, message.as_bytes());
        }
    }
}
