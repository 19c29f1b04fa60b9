//! Reconnection rules for a [`Client`](crate::Client): when to try again,
//! and how long to wait first. Pure functions of their inputs (the random
//! source is seeded), so tests and applications can check every delay.
//!
//! The delay before attempt `n` (1 for the first retry) is drawn uniformly
//! from zero to `min(max_delay, min_delay * factor^(n-1))` ("full jitter":
//! after a server restart, clients spread over the whole window instead
//! of coming back in waves). A server's `Retry-After` on a 429 or 503
//! raises the delay to at least what it asked (up to `max_delay`).

use std::time::Duration;

use crate::error::Error;
use crate::protocol::handshake::HandshakeError;
use crate::protocol::{CloseInfo, CloseInitiator};
use crate::proxy::ProxyErrorKind;

/// When and how a [`Client`](crate::Client) reconnects.
///
/// Equality compares `factor` bit for bit (so it is an equivalence, as
/// `Config`'s `Eq` needs).
#[derive(Clone, Debug)]
pub struct ReconnectPolicy {
    /// The first retry waits up to this long. Default 1 s.
    pub min_delay: Duration,
    /// No retry waits longer. Default 30 s.
    pub max_delay: Duration,
    /// Each failed attempt in a row multiplies the window by this. Default 2.
    pub factor: f64,
    /// Attempts in a row (without a connection that stayed up for
    /// `reset_after`) before giving up; `None`: never give up. Default
    /// `None`.
    pub max_attempts: Option<u32>,
    /// A connection that stayed open this long starts the count of
    /// attempts again. Default 10 s.
    pub reset_after: Duration,
    /// Close codes after which to reconnect: by default 1001 (going away:
    /// a server restart), 1006 (no close frame: the link or the peer died),
    /// 1011 to 1014 (server error, restart, try again later, bad gateway).
    /// Never after a close of our own.
    pub retry_close_codes: Vec<u16>,
    /// Handshake answers after which to retry: by default 429 and 503 (with
    /// their `Retry-After` honoured). Any other refusal (401, 403, 404, ...)
    /// ends the client.
    pub retry_statuses: Vec<u16>,
    /// Seed for the jitter (`None`: a random one). Tests set it to replay
    /// the same delays.
    pub seed: Option<u64>,
    /// Messages [`Client::send`](crate::Client::send) keeps while
    /// disconnected, sent in order once connected again; 0 (the default):
    /// a send while disconnected fails with
    /// [`Error::NotConnected`], the message
    /// handed back.
    pub replay_messages: usize,
    /// Bytes of payload the replay buffer holds at most. Default 1 MiB.
    pub replay_bytes: usize,
}

impl PartialEq for ReconnectPolicy {
    fn eq(&self, other: &Self) -> bool {
        let ReconnectPolicy {
            min_delay,
            max_delay,
            factor,
            max_attempts,
            reset_after,
            retry_close_codes,
            retry_statuses,
            seed,
            replay_messages,
            replay_bytes,
        } = self;
        *min_delay == other.min_delay
            && *max_delay == other.max_delay
            && factor.to_bits() == other.factor.to_bits()
            && *max_attempts == other.max_attempts
            && *reset_after == other.reset_after
            && *retry_close_codes == other.retry_close_codes
            && *retry_statuses == other.retry_statuses
            && *seed == other.seed
            && *replay_messages == other.replay_messages
            && *replay_bytes == other.replay_bytes
    }
}

impl Eq for ReconnectPolicy {}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            factor: 2.0,
            max_attempts: None,
            reset_after: Duration::from_secs(10),
            retry_close_codes: vec![1001, 1006, 1011, 1012, 1013, 1014],
            retry_statuses: vec![429, 503],
            seed: None,
            replay_messages: 0,
            replay_bytes: 1 << 20,
        }
    }
}

impl ReconnectPolicy {
    setters! {
        /// Set [`min_delay`](Self::min_delay).
        with_min_delay: min_delay: Duration;
        /// Set [`max_delay`](Self::max_delay).
        with_max_delay: max_delay: Duration;
        /// Set [`factor`](Self::factor).
        with_factor: factor: f64;
        /// Set [`max_attempts`](Self::max_attempts).
        with_max_attempts: max_attempts: Option<u32>;
        /// Set [`reset_after`](Self::reset_after).
        with_reset_after: reset_after: Duration;
        /// Set [`retry_close_codes`](Self::retry_close_codes).
        with_retry_close_codes: retry_close_codes: Vec<u16>;
        /// Set [`retry_statuses`](Self::retry_statuses).
        with_retry_statuses: retry_statuses: Vec<u16>;
        /// Set [`seed`](Self::seed).
        with_seed: seed: Option<u64>;
        /// Set [`replay_messages`](Self::replay_messages).
        with_replay_messages: replay_messages: usize;
        /// Set [`replay_bytes`](Self::replay_bytes).
        with_replay_bytes: replay_bytes: usize;
    }

    /// Check the settings: delays positive and ordered, a factor of at
    /// least 1, at most [`MAX_TIMEOUT`](crate::MAX_TIMEOUT).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] saying which.
    pub fn validate(&self) -> crate::Result<()> {
        let fail = |why: &str| Err(Error::InvalidArgument(why.to_owned()));
        if self.min_delay.is_zero() || self.min_delay > self.max_delay {
            return fail("reconnect: min_delay must be positive and at most max_delay");
        }
        if self.max_delay > crate::MAX_TIMEOUT || self.reset_after > crate::MAX_TIMEOUT {
            return fail("reconnect: delays are limited to MAX_TIMEOUT");
        }
        if !(self.factor >= 1.0 && self.factor.is_finite()) {
            return fail("reconnect: factor must be at least 1");
        }
        if self.max_attempts == Some(0) {
            return fail("reconnect: max_attempts must be at least 1 (None: no limit)");
        }
        Ok(())
    }

    /// The window attempt `attempt` (1-based) draws its delay from.
    pub fn window(&self, attempt: u32) -> Duration {
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.min_delay.as_secs_f64() * self.factor.powi(exp);
        if secs.is_finite() && secs < self.max_delay.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max_delay
        }
    }

    /// Whether to reconnect after the connection ended with `close`: a
    /// code in [`retry_close_codes`](Self::retry_close_codes) that the peer
    /// sent or the transport caused (a dead link, a keepalive timeout:
    /// 1006), never a close of our own.
    pub fn retries_close(&self, close: &CloseInfo) -> bool {
        close.initiator != CloseInitiator::Local && self.retry_close_codes.contains(&close.code.0)
    }

    /// Whether to try again after a connection attempt failed with `error`,
    /// and the wait the server asked for (`Retry-After`, in seconds).
    ///
    /// Retried: the network (refused, unreachable, timed out, a name that
    /// did not resolve, a proxy that could not reach the server: SOCKS5
    /// codes 3-6, HTTP 502-504) and the statuses in
    /// [`retry_statuses`](Self::retry_statuses). A resolver failure cannot
    /// be told apart from a lost network here (both come back as the
    /// system resolver's text), so a misspelt host is retried too: set
    /// [`max_attempts`](Self::max_attempts) to bound that. Not retried:
    /// what trying again cannot fix (a bad URL or config, TLS failures,
    /// other refusals, bad proxy credentials).
    pub fn retries_failure(&self, error: &Error) -> (bool, Option<Duration>) {
        match error {
            Error::Io(_) | Error::Timeout => (true, None),
            Error::Handshake(HandshakeError::Refused(r))
                if self.retry_statuses.contains(&r.status) =>
            {
                let after = r
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                (true, after)
            }
            Error::Proxy(p) => (
                matches!(
                    p.kind,
                    ProxyErrorKind::SocksReply(3..=6) | ProxyErrorKind::Refused(502..=504)
                ),
                None,
            ),
            _ => (false, None),
        }
    }
}

/// The delays of one client's attempts in a row.
#[derive(Debug)]
pub(crate) struct Backoff {
    rng: fastrand::Rng,
    /// Attempts in a row so far.
    pub(crate) attempt: u32,
}

impl Backoff {
    pub(crate) fn new(seed: Option<u64>) -> Backoff {
        Backoff {
            rng: seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
            attempt: 0,
        }
    }

    /// Count an attempt and draw its delay: uniform in its window, at least
    /// `retry_after` (up to `max_delay`).
    pub(crate) fn next(
        &mut self,
        policy: &ReconnectPolicy,
        retry_after: Option<Duration>,
    ) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        let window = policy.window(self.attempt);
        let drawn = window.mul_f64(self.rng.f64());
        match retry_after {
            Some(after) => drawn.max(after.min(policy.max_delay)),
            None => drawn,
        }
    }

    /// A connection stayed up long enough: the next failure starts over.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::CloseCode;
    use crate::protocol::handshake::RefusedUpgrade;

    #[test]
    fn windows_grow_by_the_factor_up_to_the_maximum() {
        let p = ReconnectPolicy::default();
        assert_eq!(p.window(1), Duration::from_secs(1));
        assert_eq!(p.window(2), Duration::from_secs(2));
        assert_eq!(p.window(5), Duration::from_secs(16));
        assert_eq!(p.window(6), Duration::from_secs(30));
        assert_eq!(p.window(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn delays_are_within_their_window_and_replay_with_a_seed() {
        let p = ReconnectPolicy::default().with_seed(Some(7));
        let (mut a, mut b) = (Backoff::new(p.seed), Backoff::new(p.seed));
        for attempt in 1..=20 {
            let d = a.next(&p, None);
            assert!(d <= p.window(attempt), "attempt {attempt}: {d:?}");
            assert_eq!(d, b.next(&p, None), "the same seed, the same delays");
        }
        a.reset();
        assert!(a.next(&p, None) <= p.min_delay);
        // Retry-After raises the delay, up to max_delay.
        assert!(a.next(&p, Some(Duration::from_secs(20))) >= Duration::from_secs(20));
        assert!(a.next(&p, Some(Duration::from_secs(3600))) <= p.max_delay);
    }

    #[test]
    fn which_closes_and_failures_are_retried() {
        let p = ReconnectPolicy::default();
        let close = |code: u16, initiator| CloseInfo {
            code: CloseCode(code),
            reason: String::new(),
            initiator,
            clean: initiator != CloseInitiator::Transport,
        };
        assert!(p.retries_close(&close(1001, CloseInitiator::Peer)));
        assert!(p.retries_close(&close(1011, CloseInitiator::Peer)));
        assert!(p.retries_close(&close(1006, CloseInitiator::Transport)));
        assert!(!p.retries_close(&close(1000, CloseInitiator::Peer)));
        assert!(!p.retries_close(&close(1008, CloseInitiator::Peer)));
        assert!(
            !p.retries_close(&close(1001, CloseInitiator::Local)),
            "never after our own close"
        );

        let refused = |status: u16, retry_after: Option<&str>| {
            Error::Handshake(HandshakeError::Refused(Box::new(RefusedUpgrade {
                status,
                headers: retry_after
                    .map(|v| vec![("Retry-After".to_owned(), v.to_owned())])
                    .unwrap_or_default(),
                body: Vec::new(),
            })))
        };
        assert_eq!(
            p.retries_failure(&refused(503, Some("2"))),
            (true, Some(Duration::from_secs(2)))
        );
        assert_eq!(p.retries_failure(&refused(429, None)), (true, None));
        assert_eq!(
            p.retries_failure(&refused(503, Some("Wed, 21 Oct 2015 07:28:00 GMT"))),
            (true, None)
        );
        assert!(!p.retries_failure(&refused(401, None)).0);
        assert!(!p.retries_failure(&refused(404, None)).0);
        assert!(p.retries_failure(&Error::Timeout).0);
        assert!(
            p.retries_failure(&Error::Io(std::io::ErrorKind::ConnectionRefused.into()))
                .0
        );
        assert!(!p.retries_failure(&Error::Url("x".into())).0);
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let p = ReconnectPolicy::default();
        assert!(p.validate().is_ok());
        assert!(p.clone().with_min_delay(Duration::ZERO).validate().is_err());
        assert!(
            p.clone()
                .with_min_delay(Duration::from_secs(60))
                .validate()
                .is_err()
        );
        assert!(p.clone().with_factor(0.5).validate().is_err());
        assert!(p.clone().with_factor(f64::NAN).validate().is_err());
        assert!(p.clone().with_max_attempts(Some(0)).validate().is_err());
    }
}
