//! Message assembly: data frames (possibly fragmented) into whole messages.

use super::mask::apply_mask;
use super::utf8::{Utf8Progress, into_string};
use super::{Message, ProtocolError};

/// Bytes reserved up front for a frame, at most: a peer announcing a huge
/// frame and then trickling it in must not make us commit the whole size.
const MAX_UPFRONT_RESERVE: u64 = 256 * 1024;

/// Reassembles the data frames of one message at a time.
#[derive(Debug)]
pub(crate) struct Assembler {
    /// `Some(is_text)` while a message is in progress.
    in_progress: Option<bool>,
    buf: Vec<u8>,
    utf8: Utf8Progress,
    max_message_size: usize,
}

impl Assembler {
    pub(crate) fn new(max_message_size: usize) -> Self {
        Assembler {
            in_progress: None,
            buf: Vec::new(),
            utf8: Utf8Progress::default(),
            max_message_size,
        }
    }

    /// Account for a data frame header before any of its payload arrives:
    /// checks fragmentation order and the message size limit, and reserves
    /// (a bounded amount of) space.
    pub(crate) fn begin_frame(
        &mut self,
        first: Option<bool>,
        payload_len: u64,
    ) -> Result<(), ProtocolError> {
        match (first, self.in_progress) {
            (Some(_), Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (None, None) => return Err(ProtocolError::UnexpectedContinuation),
            (Some(is_text), None) => {
                self.in_progress = Some(is_text);
                self.utf8 = Utf8Progress::default();
            }
            (None, Some(_)) => {}
        }
        let size = self.buf.len() as u64 + payload_len;
        if size > self.max_message_size as u64 {
            return Err(ProtocolError::MessageTooBig {
                size,
                max: self.max_message_size,
            });
        }
        self.buf
            .reserve(payload_len.min(MAX_UPFRONT_RESERVE) as usize);
        Ok(())
    }

    /// Append payload bytes (unmasking them with `mask` from payload position
    /// `offset`) and validate new text at once.
    pub(crate) fn push(
        &mut self,
        data: &[u8],
        mask: Option<[u8; 4]>,
        offset: usize,
    ) -> Result<(), ProtocolError> {
        let start = self.buf.len();
        self.buf.extend_from_slice(data);
        if let Some(key) = mask {
            apply_mask(&mut self.buf[start..], key, offset);
        }
        if self.in_progress == Some(true) {
            self.utf8
                .advance(&self.buf)
                .map_err(|()| ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// Finish the message after its FIN frame.
    pub(crate) fn finish(&mut self) -> Result<Message, ProtocolError> {
        let is_text = self.in_progress.take().unwrap_or(false);
        let bytes = std::mem::take(&mut self.buf);
        if is_text {
            if !self.utf8.is_complete(&bytes) {
                return Err(ProtocolError::InvalidUtf8);
            }
            Ok(Message::Text(into_string(bytes, &self.utf8)))
        } else {
            Ok(Message::Binary(bytes))
        }
    }
}
