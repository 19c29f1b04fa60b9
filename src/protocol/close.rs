//! Close codes and close frame payloads (RFC 6455 sections 5.5.1 and 7.4).

use super::ProtocolError;

/// A close status code.
///
/// Any `u16` can be held; [`is_valid_on_wire`](Self::is_valid_on_wire) says
/// whether it may appear in a close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation, idle timeout).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer violated the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: the endpoint cannot accept this kind of data.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection ended without a close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a message's data was inconsistent with its type (invalid UTF-8 text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy (also: a slow consumer).
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition (also: keepalive failure).
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (temporary overload).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway received an invalid response upstream.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: the TLS handshake failed (never sent on the wire).
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may be sent in, or accepted from, a close frame:
    /// 1000-1003, 1007-1014 (registered with IANA) and 3000-4999 (libraries
    /// and applications). 0-999, 1004-1006, 1015-2999 and 5000+ are not.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The longest close reason: a control payload is at most 125 bytes, two of
/// which hold the code.
pub const MAX_REASON_LEN: usize = 123;

/// The payload of a close frame that carried a status code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason: UTF-8, at most [`MAX_REASON_LEN`] bytes.
    pub reason: String,
}

impl CloseFrame {
    /// Parse a close frame's (unmasked) payload.
    ///
    /// An empty payload is a valid close without a code (`Ok(None)`). A
    /// one-byte payload or a code not valid on the wire is a protocol error
    /// (1002); a reason that is not UTF-8 is [`ProtocolError::InvalidUtf8`] (1007).
    pub fn parse(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::InvalidClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(Some(CloseFrame {
                    code,
                    reason: reason.to_owned(),
                }))
            }
        }
    }

    /// The payload bytes for a close frame with this code and reason.
    ///
    /// The reason is cut to [`MAX_REASON_LEN`] bytes on a character boundary.
    pub fn payload(&self) -> Vec<u8> {
        let reason = truncate_reason(&self.reason);
        let mut out = Vec::with_capacity(2 + reason.len());
        out.extend_from_slice(&self.code.0.to_be_bytes());
        out.extend_from_slice(reason.as_bytes());
        out
    }
}

/// `reason` cut to at most [`MAX_REASON_LEN`] bytes without splitting a character.
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Who decided that the connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseInitiator {
    /// This endpoint: the application (`close`, drop, server shutdown) or
    /// the engine enforcing a rule (protocol violation by the peer, size
    /// limit, idle timeout, slow-consumer policy). The reason says which.
    Local,
    /// The peer sent the first close frame.
    Peer,
    /// Neither: the TCP connection failed or went silent (reset, end of
    /// stream without a close frame, keepalive timeout). The code is 1006.
    Transport,
}

/// How a connection ended (or is ending).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code: the one sent by whoever initiated the close, 1005 if
    /// the peer's close frame had none, 1006 if there was no close handshake.
    pub code: CloseCode,
    /// The close reason (may be empty).
    pub reason: String,
    /// Who initiated the close.
    pub initiator: CloseInitiator,
    /// `true` when the peer's close frame was received and the connection was
    /// not failed (no protocol error, timeout or transport error).
    pub clean: bool,
}

impl std::fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match self.initiator {
            CloseInitiator::Local => "locally",
            CloseInitiator::Peer => "by peer",
            CloseInitiator::Transport => "by transport failure",
        };
        write!(f, "code {} closed {who}", self.code)?;
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        f.write_str(if self.clean { ", clean" } else { ", not clean" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_table() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ];
        let invalid = [
            0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for c in valid {
            assert!(CloseCode(c).is_valid_on_wire(), "{c} should be valid");
            let frame = CloseFrame {
                code: CloseCode(c),
                reason: "r".into(),
            };
            assert_eq!(CloseFrame::parse(&frame.payload()), Ok(Some(frame)));
        }
        for c in invalid {
            assert!(!CloseCode(c).is_valid_on_wire(), "{c} should be invalid");
            assert_eq!(
                CloseFrame::parse(&c.to_be_bytes()),
                Err(ProtocolError::InvalidCloseCode(c))
            );
        }
    }

    #[test]
    fn payload_shapes() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
        assert_eq!(
            CloseFrame::parse(&[0x03]),
            Err(ProtocolError::InvalidClosePayload)
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xe8, 0xff]),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let reason = "é".repeat(100); // 200 bytes
        let frame = CloseFrame {
            code: CloseCode::NORMAL,
            reason,
        };
        let payload = frame.payload();
        assert!(payload.len() <= 125);
        let parsed = CloseFrame::parse(&payload).unwrap().unwrap();
        assert_eq!(parsed.reason.len(), 122);
    }
}
