//! The application decides who connects, before the 101: a hook on the
//! connection's thread, or upgrade-request events in poll mode.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::*;
use wsengine::protocol::handshake::HandshakeError;
use wsengine::{Config, Error, Message, RequestInfo, Server, ServerEvent, UpgradeHook, Verdict};

fn url(server: &Server, rest: &str) -> String {
    format!("ws://127.0.0.1:{}{rest}", server.local_addr().port())
}

/// The refusal a client saw.
fn refused(
    r: wsengine::Result<wsengine::Conn>,
) -> Box<wsengine::protocol::handshake::RefusedUpgrade> {
    match r {
        Err(Error::Handshake(HandshakeError::Refused(r))) => r,
        Err(e) => panic!("expected a refusal, got {e:?}"),
        Ok(_) => panic!("expected a refusal, connected"),
    }
}

struct User(String);

fn token_hook() -> UpgradeHook {
    UpgradeHook::new(|req: &RequestInfo| {
        let token = req.query_param("token").or_else(|| {
            req.header("authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
        });
        match token {
            Some("s3cret") => Verdict::accept()
                .with_header("X-Welcome", "yes")
                .with_data(User(req.cookie("name").unwrap_or("anonymous").to_owned())),
            _ => Verdict::refuse(401, "token required").with_header("WWW-Authenticate", "Bearer"),
        }
    })
}

#[test]
fn a_token_in_the_query_or_a_header_is_accepted_and_a_missing_one_refused_with_401() {
    let server = Arc::new(server(fast_config().with_upgrade_hook(Some(token_hook()))));
    let s = Arc::clone(&server);
    let names = std::thread::spawn(move || {
        let mut names = Vec::new();
        for _ in 0..2 {
            let conn = s.accept().unwrap();
            names.push(conn.data::<User>().expect("attached").0.clone());
            conn.send(Message::Text("hello".into())).unwrap();
        }
        names
    });
    let by_query = wsengine::connect(&url(&server, "/chat?token=s3cret"), fast_config()).unwrap();
    assert_eq!(by_query.request().header("x-welcome"), Some("yes"));
    assert_eq!(by_query.recv().unwrap(), Message::Text("hello".into()));
    let by_header = fast_config().with_extra_headers(vec![
        ("Authorization".into(), "Bearer s3cret".into()),
        ("Cookie".into(), "theme=dark; name=ada".into()),
    ]);
    let by_header = wsengine::connect(&url(&server, "/chat"), by_header).unwrap();
    assert_eq!(by_header.recv().unwrap(), Message::Text("hello".into()));
    assert_eq!(names.join().unwrap(), ["anonymous", "ada"]);

    let r = refused(wsengine::connect(&url(&server, "/chat"), fast_config()));
    assert_eq!((r.status, r.body.as_slice()), (401, &b"token required"[..]));
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = refused(wsengine::connect(
        &url(&server, "/chat?token=wrong"),
        fast_config(),
    ));
    assert_eq!(r.status, 401);
    assert!(
        eventually(Duration::from_secs(2), || server.connection_count() == 2),
        "refused clients never became connections"
    );
}

#[test]
fn any_status_and_headers_and_a_chosen_subprotocol() {
    let hook = UpgradeHook::new(|req: &RequestInfo| match req.path.as_str() {
        "/busy" => Verdict::refuse(429, "slow down").with_header("Retry-After", "2"),
        "/private" => Verdict::refuse(403, "")
            .with_header("Content-Type", "application/json")
            .with_header("X-Reason", "members only"),
        _ => {
            // Prefer the client's last offer (the server's list would pick the first).
            let last = req.offered_subprotocols().last().map(str::to_owned);
            let mut v = Verdict::accept();
            if let Some(p) = last {
                v = v.with_subprotocol(p);
            }
            v
        }
    });
    let config = fast_config()
        .with_subprotocols(vec!["a".into(), "b".into()])
        .with_upgrade_hook(Some(hook));
    let server = server(config);
    let r = refused(wsengine::connect(&url(&server, "/busy"), fast_config()));
    assert_eq!((r.status, r.header("retry-after")), (429, Some("2")));
    let r = refused(wsengine::connect(&url(&server, "/private"), fast_config()));
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-reason"), Some("members only"));
    let offer = fast_config().with_subprotocols(vec!["a".into(), "b".into()]);
    let conn = wsengine::connect(&url(&server, "/"), offer).unwrap();
    assert_eq!(conn.subprotocol(), Some("b"));
}

#[test]
fn an_answer_that_cannot_be_sent_is_a_500_and_so_is_a_panic() {
    let hook = UpgradeHook::new(|req: &RequestInfo| match req.path.as_str() {
        "/not-offered" => Verdict::accept().with_subprotocol("never-offered"),
        "/smuggle" => Verdict::accept().with_header("X-A", "1\r\nSet-Cookie: x=1"),
        "/reserved" => Verdict::refuse(401, "").with_header("Content-Length", "0"),
        "/status" => Verdict::refuse(200, "fine"),
        // Unwind without the panic hook's message in the test output.
        _ => std::panic::resume_unwind(Box::new("the application's bug")),
    });
    let server = server(fast_config().with_upgrade_hook(Some(hook)));
    for path in ["/not-offered", "/smuggle", "/reserved", "/status", "/panic"] {
        let r = refused(wsengine::connect(&url(&server, path), fast_config()));
        assert_eq!(r.status, 500, "{path}");
        assert!(r.header("set-cookie").is_none());
    }
    assert!(eventually(Duration::from_secs(2), || server
        .connection_count()
        == 0));
}

#[test]
fn a_slow_hook_is_cut_at_the_handshake_timeout_and_delays_nobody_else() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let hook = UpgradeHook::new(move |req: &RequestInfo| {
        counted.fetch_add(1, Ordering::SeqCst);
        if req.path == "/slow" {
            std::thread::sleep(Duration::from_secs(4));
        }
        Verdict::accept()
    });
    let config = fast_config()
        .with_handshake_timeout(Duration::from_secs(1))
        .with_upgrade_hook(Some(hook));
    let server = Arc::new(server(config));
    let slow_url = url(&server, "/slow");
    let slow = std::thread::spawn(move || {
        let started = Instant::now();
        let client = fast_config().with_handshake_timeout(Duration::from_secs(10));
        let result = wsengine::connect(&slow_url, client);
        (started.elapsed(), result.is_err())
    });
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let fast = wsengine::connect(&url(&server, "/fast"), fast_config()).unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    drop(fast);
    let (took, failed) = slow.join().unwrap();
    assert!(failed, "the slow hook's connection must not open");
    assert!(
        took < Duration::from_millis(2500),
        "cut at the deadline, not after the hook: {took:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

fn poll_server() -> Arc<Server> {
    let config = fast_config()
        .with_poll_events(true)
        .with_upgrade_events(true);
    Arc::new(server(config))
}

#[test]
fn poll_mode_answers_upgrade_requests_from_the_loop() {
    let server = poll_server();
    let s = Arc::clone(&server);
    let looped = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut opened, mut asked) = (0, 0);
        while opened < 1 && Instant::now() < deadline {
            match s.poll(Duration::from_millis(50)).unwrap() {
                Some(ServerEvent::UpgradeRequest(pending)) => {
                    asked += 1;
                    let verdict = match pending.request().query_param("token") {
                        Some("ok") => Verdict::accept().with_data(42u32),
                        Some("ignore") => {
                            drop(pending); // unanswered: 503
                            continue;
                        }
                        _ => Verdict::refuse(401, "no").with_header("WWW-Authenticate", "Bearer"),
                    };
                    pending.answer(verdict);
                }
                Some(ServerEvent::Open(conn)) => {
                    assert_eq!(conn.data::<u32>(), Some(&42));
                    conn.send(Message::Text("in".into())).unwrap();
                    opened += 1;
                }
                _ => {}
            }
        }
        asked
    });
    let r = refused(wsengine::connect(
        &url(&server, "/?token=bad"),
        fast_config(),
    ));
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, Some("Bearer"))
    );
    let r = refused(wsengine::connect(
        &url(&server, "/?token=ignore"),
        fast_config(),
    ));
    assert_eq!(r.status, 503);
    let conn = wsengine::connect(&url(&server, "/?token=ok"), fast_config()).unwrap();
    assert_eq!(conn.recv().unwrap(), Message::Text("in".into()));
    assert_eq!(looped.join().unwrap(), 3);
}

#[test]
fn an_unanswered_upgrade_event_refuses_at_the_handshake_timeout() {
    let config = fast_config()
        .with_poll_events(true)
        .with_upgrade_events(true)
        .with_handshake_timeout(Duration::from_millis(600));
    let server = server(config);
    // Nobody polls.
    let started = Instant::now();
    let r = refused(wsengine::connect(&url(&server, "/"), fast_config()));
    assert_eq!(r.status, 503);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn upgrade_events_need_poll_mode_and_exclude_a_hook() {
    let bad = Config::default().with_upgrade_events(true);
    assert!(matches!(bad.validate(), Err(Error::InvalidArgument(_))));
    let both = Config::default()
        .with_poll_events(true)
        .with_upgrade_events(true)
        .with_upgrade_hook(Some(token_hook()));
    assert!(matches!(both.validate(), Err(Error::InvalidArgument(_))));
}

#[test]
fn upgrade_requests_waiting_for_the_loop_are_bounded_by_the_event_budget() {
    // Nobody polls: one request fills a budget of one event, the next is
    // refused at once (not after the timeout) instead of being held.
    let config = fast_config()
        .with_poll_events(true)
        .with_upgrade_events(true)
        .with_event_queue_capacity(1)
        .with_handshake_timeout(Duration::from_secs(3));
    let server = server(config);
    let patient = fast_config().with_handshake_timeout(Duration::from_secs(10));
    let first_url = url(&server, "/first");
    let first = {
        let patient = patient.clone();
        std::thread::spawn(move || refused(wsengine::connect(&first_url, patient)))
    };
    std::thread::sleep(Duration::from_millis(500));
    let second = refused(wsengine::connect(&url(&server, "/second"), patient));
    assert_eq!(second.status, 503);
    assert_eq!(second.body, b"server busy: event queue full");
    let first = first.join().unwrap();
    assert_eq!(first.status, 503);
    assert_eq!(first.body, b"the server did not answer the upgrade in time");
}
