//! Incremental UTF-8 validation for text that arrives in pieces.
//!
//! A text message is validated as its bytes arrive, not when it ends: an
//! invalid sequence fails the connection (1007) in the read that brought
//! it, while a sequence merely cut by a frame or read boundary waits for its
//! remaining bytes.

/// Tracks how far a growing buffer has been proven valid UTF-8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Progress {
    /// Index of the first byte not yet proven valid (the start of an
    /// incomplete trailing sequence, or the end of the buffer).
    checked: usize,
}

impl Utf8Progress {
    /// Validate the bytes of `buf` appended since the last call.
    ///
    /// `buf` must be the same buffer, grown only at its end. Returns
    /// `Err(())` at the first byte that can start no valid sequence; an
    /// incomplete sequence at the very end is accepted for now.
    #[allow(clippy::result_unit_err)]
    pub fn advance(&mut self, buf: &[u8]) -> Result<(), ()> {
        match std::str::from_utf8(&buf[self.checked..]) {
            Ok(_) => {
                self.checked = buf.len();
                Ok(())
            }
            Err(e) if e.error_len().is_none() => {
                self.checked += e.valid_up_to();
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    /// Whether everything validated so far ends on a character boundary,
    /// i.e. `buf` (as last passed to [`advance`](Self::advance)) is complete UTF-8.
    pub fn is_complete(&self, buf: &[u8]) -> bool {
        self.checked == buf.len()
    }
}

/// Take ownership of bytes already proven to be valid UTF-8.
///
/// This is the one `unsafe` block in the protocol core: validating a large
/// text message a second time just to build a `String` would double the
/// cost of UTF-8 checking on every text message.
pub(crate) fn into_string(bytes: Vec<u8>, progress: &Utf8Progress) -> String {
    assert!(progress.is_complete(&bytes), "bytes not fully validated");
    debug_assert!(std::str::from_utf8(&bytes).is_ok());
    #[allow(unsafe_code)]
    // SAFETY: `progress.checked == bytes.len()` means `Utf8Progress::advance`
    // saw `std::str::from_utf8` accept every byte of `bytes` (it only moves
    // `checked` over bytes that `from_utf8` accepted, and never past an
    // incomplete sequence); the assert above checks exactly that. Nothing
    // can change validated bytes afterwards: the assembler owns the buffer
    // and hands callers only fresh room past them (`direct_room`).
    unsafe {
        String::from_utf8_unchecked(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_in_pieces(data: &[u8], piece: usize) -> Result<bool, ()> {
        let mut buf = Vec::new();
        let mut p = Utf8Progress::default();
        for chunk in data.chunks(piece.max(1)) {
            buf.extend_from_slice(chunk);
            p.advance(&buf)?;
        }
        Ok(p.is_complete(&buf))
    }

    #[test]
    fn valid_text_split_anywhere_is_accepted() {
        let text = "κόσμε ascii 𝄞 ∑ end".as_bytes();
        for piece in 1..text.len() {
            assert_eq!(feed_in_pieces(text, piece), Ok(true), "piece {piece}");
        }
    }

    #[test]
    fn invalid_bytes_fail_as_soon_as_they_arrive() {
        // A surrogate (ED A0 80) fails at its second byte, before the rest.
        let mut buf = b"ok".to_vec();
        let mut p = Utf8Progress::default();
        p.advance(&buf).unwrap();
        buf.push(0xED);
        assert!(p.advance(&buf).is_ok());
        buf.push(0xA0);
        assert!(p.advance(&buf).is_err());
        // Code points above U+10FFFF fail at F4 90.
        assert_eq!(feed_in_pieces(&[0xF4, 0x90, 0x80, 0x80], 1), Err(()));
        assert_eq!(feed_in_pieces(&[0xF5], 1), Err(()));
    }

    #[test]
    fn truncated_text_is_incomplete() {
        assert_eq!(feed_in_pieces(&[b'a', 0xE2, 0x82], 1), Ok(false));
    }
}
