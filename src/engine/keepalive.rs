//! The keepalive and idle rules as pure functions of the clock: times are
//! engine milliseconds passed in, and the answer says what to do and when
//! to look again. `Shared` reads its clocks, asks, and acts; the rules are
//! tested here without sockets, threads or waiting.
//!
//! Every sum saturates: a deadline too far away to represent is never
//! reached, and never wraps into the past (a huge `ping_timeout` once
//! wrapped and dropped every connection a second after its first ping).

/// What the keepalive timer does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keepalive {
    /// Send a ping (and note the time as the last ping's); look again at `next`.
    Ping { next: u64 },
    /// Nothing to do; look again at `next`.
    Wait { next: u64 },
    /// A ping went unanswered for the ping timeout: the peer is dead.
    Dead,
}

/// The keepalive rule at `now`, given when bytes last arrived, when the
/// last ping was sent (0: never), the ping interval and the ping timeout
/// (`None`: keep pinging, never declare the peer dead).
///
/// A ping is due after `interval` without hearing from the peer; once one
/// is unanswered, the peer is dead after `timeout`, or (no timeout) pinged
/// again every `interval`.
pub(crate) fn keepalive(
    now: u64,
    last_rx: u64,
    last_ping: u64,
    interval: u64,
    timeout: Option<u64>,
) -> Keepalive {
    if last_ping > last_rx {
        // A ping is unanswered.
        return match timeout {
            Some(t) if now >= last_ping.saturating_add(t) => Keepalive::Dead,
            Some(t) => Keepalive::Wait {
                next: last_ping.saturating_add(t),
            },
            None if now >= last_ping.saturating_add(interval) => Keepalive::Ping {
                next: now.saturating_add(interval),
            },
            None => Keepalive::Wait {
                next: last_ping.saturating_add(interval),
            },
        };
    }
    if now >= last_rx.saturating_add(interval) {
        Keepalive::Ping {
            next: now.saturating_add(timeout.unwrap_or(interval)),
        }
    } else {
        Keepalive::Wait {
            next: last_rx.saturating_add(interval),
        }
    }
}

/// The idle rule at `now`: `None` when the connection has carried no
/// message for `idle` since `last_data` (close it), else when to look again.
pub(crate) fn idle_deadline(now: u64, last_data: u64, idle: u64) -> Option<u64> {
    let deadline = last_data.saturating_add(idle);
    (now < deadline).then_some(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: u64 = 20_000;
    const T: u64 = 5_000;

    #[test]
    fn a_quiet_peer_is_pinged_after_the_interval() {
        assert_eq!(
            keepalive(10_000, 1_000, 0, I, Some(T)),
            Keepalive::Wait { next: 21_000 }
        );
        assert_eq!(
            keepalive(21_000, 1_000, 0, I, Some(T)),
            Keepalive::Ping { next: 26_000 }
        );
    }

    #[test]
    fn an_unanswered_ping_kills_after_the_timeout_and_an_answer_resets() {
        // Pinged at 21,000; nothing since.
        assert_eq!(
            keepalive(25_999, 1_000, 21_000, I, Some(T)),
            Keepalive::Wait { next: 26_000 }
        );
        assert_eq!(
            keepalive(26_000, 1_000, 21_000, I, Some(T)),
            Keepalive::Dead
        );
        // Bytes arrived at 22,000: the ping was answered.
        assert_eq!(
            keepalive(26_000, 22_000, 21_000, I, Some(T)),
            Keepalive::Wait { next: 42_000 }
        );
    }

    #[test]
    fn without_a_timeout_the_peer_is_pinged_again_and_never_dead() {
        assert_eq!(
            keepalive(21_000, 1_000, 0, I, None),
            Keepalive::Ping { next: 41_000 }
        );
        assert_eq!(
            keepalive(30_000, 1_000, 21_000, I, None),
            Keepalive::Wait { next: 41_000 }
        );
        assert_eq!(
            keepalive(41_000, 1_000, 21_000, I, None),
            Keepalive::Ping { next: 61_000 }
        );
        // Years later still only pings.
        let much_later = 1_000 * 60 * 60 * 24 * 365 * 10;
        assert!(matches!(
            keepalive(much_later, 1_000, 21_000, I, None),
            Keepalive::Ping { .. }
        ));
    }

    #[test]
    fn huge_durations_saturate_instead_of_wrapping() {
        let huge = u64::MAX / 4;
        // Once wrapped: `last_ping + huge` overflowed and read as the past.
        assert_eq!(
            keepalive(22_000, 1_000, 21_000, I, Some(u64::MAX)),
            Keepalive::Wait { next: u64::MAX }
        );
        assert_eq!(
            keepalive(u64::MAX, 1_000, 0, huge, Some(huge)),
            Keepalive::Ping { next: u64::MAX }
        );
        assert_eq!(idle_deadline(5, 1, u64::MAX), Some(u64::MAX));
    }

    #[test]
    fn idle_closes_after_the_idle_time_without_messages() {
        assert_eq!(idle_deadline(1_500, 1_000, 1_000), Some(2_000));
        assert_eq!(idle_deadline(2_000, 1_000, 1_000), None);
    }
}
