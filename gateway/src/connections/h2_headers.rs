//! The HTTP/2 header timeout hyper does not have: a client that announces a `HEADERS` frame
//! and then sends its payload a byte at a time keeps bytes moving, so the idle timeout never
//! fires, and hyper waits for the whole frame without limit (HTTP/1.1 has
//! `header_read_timeout` for exactly this; the `h2` crate already caps how many `CONTINUATION`
//! frames a block may have, not how slowly each arrives). [`HeaderWatch`] reads the frame
//! headers of what the client sends, as it passes to hyper, and notes since when a header block
//! has been open: from its `HEADERS` frame header to the last byte of the frame that ends it
//! (`END_HEADERS`). The connection driver closes a connection whose block stays open longer
//! than `header_read_timeout`.
//!
//! Only the 9-byte frame headers are read (RFC 9113, 4.1: 24-bit length, type, flags, stream
//! id); payloads are skipped by length, so the cost is a few comparisons per frame.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// The client connection preface, already matched by the protocol sniff.
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const TYPE_HEADERS: u8 = 0x1;
const TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_HEADERS: u8 = 0x4;
/// No header block open.
const NONE: u64 = u64::MAX;

/// Since when (ms from the connection's epoch) a header block has been open, shared with the
/// connection driver.
#[derive(Clone, Debug)]
pub(crate) struct OpenBlock(Arc<AtomicU64>, Arc<Notify>);

impl OpenBlock {
    /// Resolves when a block opens (the driver then arms its timer).
    pub(crate) async fn opened(&self) {
        self.1.notified().await;
    }

    /// Milliseconds from the epoch when the open block started; `None` when none is open.
    pub(crate) fn since_ms(&self) -> Option<u64> {
        let v = self.0.load(Ordering::Relaxed);
        (v != NONE).then_some(v)
    }
}

/// Follows the frames of the bytes a client sends.
#[derive(Debug)]
pub(crate) struct HeaderWatch {
    /// Bytes still to skip: the preface, then each frame's payload.
    skip: usize,
    head: [u8; FRAME_HEADER_LEN],
    have: usize,
    /// The frame being skipped ends the open header block.
    ends_block: bool,
    open: OpenBlock,
}

impl HeaderWatch {
    /// A watch over a connection whose first bytes are the preface.
    pub(crate) fn new() -> (HeaderWatch, OpenBlock) {
        let open = OpenBlock(Arc::new(AtomicU64::new(NONE)), Arc::new(Notify::new()));
        let watch = HeaderWatch {
            skip: PREFACE_LEN,
            head: [0; FRAME_HEADER_LEN],
            have: 0,
            ends_block: false,
            open: open.clone(),
        };
        (watch, open)
    }

    /// Reads `bytes`, the next bytes the client sent, at `now_ms` from the epoch.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], now_ms: u64) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                if self.skip == 0 {
                    self.payload_done();
                }
                continue;
            }
            let n = (FRAME_HEADER_LEN - self.have).min(bytes.len());
            self.head[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == FRAME_HEADER_LEN {
                self.have = 0;
                self.frame(now_ms);
            }
        }
    }

    fn frame(&mut self, now_ms: u64) {
        let [a, b, c, kind, flags, ..] = self.head;
        self.skip = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        if kind == TYPE_HEADERS {
            // A block starts its clock only if none was open (two at once would be a
            // protocol error hyper reports itself).
            let started = self.open.0.compare_exchange(
                NONE,
                now_ms.min(NONE - 1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            if started.is_ok() {
                self.open.1.notify_one();
            }
        }
        self.ends_block =
            matches!(kind, TYPE_HEADERS | TYPE_CONTINUATION) && flags & FLAG_END_HEADERS != 0;
        if self.skip == 0 {
            self.payload_done();
        }
    }

    /// The frame being read is complete.
    fn payload_done(&mut self) {
        if std::mem::take(&mut self.ends_block) {
            self.open.0.store(NONE, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn an_open_block_is_timed_until_its_end_whatever_the_read_sizes() {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(0x4, 0, &[0; 6])); // SETTINGS
        let opened = bytes.len();
        bytes.extend(frame(TYPE_HEADERS, 0, &[1, 2, 3]));
        bytes.extend(frame(TYPE_CONTINUATION, 0, &[4; 300]));
        // Open until the last byte of the frame that ends the block.
        bytes.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, &[5; 20]));
        for step in [1, 2, 7, 9, 64, 10_000] {
            let (mut watch, open) = HeaderWatch::new();
            let mut at = 0;
            while at < bytes.len() {
                let end = (at + step).min(bytes.len());
                // The clock is the byte offset: the block opens at its frame's ninth byte.
                watch.feed(&bytes[at..end], end as u64);
                if end < opened + FRAME_HEADER_LEN {
                    assert_eq!(open.since_ms(), None, "step {step}");
                } else if end < bytes.len() {
                    let since = open.since_ms().unwrap();
                    assert!(since >= (opened + FRAME_HEADER_LEN) as u64, "step {step}");
                    assert!(
                        since < (opened + FRAME_HEADER_LEN + step) as u64,
                        "step {step}"
                    );
                }
                at = end;
            }
            assert_eq!(open.since_ms(), None, "closed by END_HEADERS, step {step}");
        }
    }

    #[test]
    fn a_whole_block_closes_its_clock_and_frame_payloads_are_skipped() {
        let (mut watch, open) = HeaderWatch::new();
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, &[1; 40]));
        // A DATA frame whose payload looks like an open HEADERS frame is skipped as payload.
        bytes.extend(frame(0x0, 0, &frame(TYPE_HEADERS, 0, &[0; 3])));
        watch.feed(&bytes, 5);
        assert_eq!(open.since_ms(), None);
        // A one-frame block whose payload is still arriving is open.
        let (mut watch, open) = HeaderWatch::new();
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, &[1; 40]));
        watch.feed(&bytes[..bytes.len() - 1], 7);
        assert_eq!(open.since_ms(), Some(7));
        watch.feed(&bytes[bytes.len() - 1..], 8);
        assert_eq!(open.since_ms(), None);
    }
}
