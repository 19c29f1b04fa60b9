//! Plain HTTP on the WebSocket port: routes, files, health, 404/405/426,
//! and upgrades only on the allowed paths.

mod support;

use std::time::Duration;

use support::*;
use wsengine::{Config, Error, Message, connect};

const T: Duration = Duration::from_secs(5);

fn get(server: &wsengine::Server, method: &str, path: &str) -> String {
    let request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    raw_exchange(server.local_addr(), request.as_bytes())
}

fn app(dir: &std::path::Path) -> Config {
    std::fs::write(dir.join("app.js"), "console.log('hi');").unwrap();
    fast_config()
        .with_route("/", "text/html; charset=utf-8", "<h1>chat</h1>")
        .with_file_route("/app.js", dir.join("app.js"))
        .with_file_route("/gone.css", dir.join("gone.css"))
        .with_health_path(Some("/health"))
        .with_websocket_paths(Some(&["/ws"]))
}

#[test]
fn routes_files_health_and_errors() {
    let dir = std::env::temp_dir().join(format!("wsengine-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = server(app(&dir));

    let page = get(&server, "GET", "/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/html; charset=utf-8\r\n"));
    assert!(page.contains("Content-Length: 13\r\n") && page.ends_with("\r\n\r\n<h1>chat</h1>"));
    let head = get(&server, "HEAD", "/?cache=1");
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );

    let js = get(&server, "GET", "/app.js");
    assert!(
        js.contains("Content-Type: text/javascript; charset=utf-8\r\n"),
        "{js}"
    );
    assert!(js.ends_with("console.log('hi');"));
    // Files are read per request: an edit shows at once.
    std::fs::write(dir.join("app.js"), "v2").unwrap();
    assert!(get(&server, "GET", "/app.js").ends_with("\r\n\r\nv2"));
    assert!(get(&server, "GET", "/gone.css").starts_with("HTTP/1.1 404 "));

    // A WebSocket client is open while we ask for health.
    let client = connect(
        &format!("ws://{}/ws?room=a", server.local_addr()),
        fast_config(),
    )
    .unwrap();
    let conn = server.accept_timeout(T).unwrap();
    assert_eq!(conn.request().query.as_deref(), Some("room=a"));
    let health = get(&server, "GET", "/health");
    assert!(
        health.contains("Content-Type: application/json\r\n"),
        "{health}"
    );
    // The count includes the health request itself and the WebSocket client
    // (and earlier plain requests while they are still being closed).
    let count: usize = health
        .rsplit_once(r#"{"status":"ok","connections":"#)
        .and_then(|(_, n)| n.trim_end_matches('}').parse().ok())
        .unwrap_or_else(|| panic!("{health}"));
    assert!(count >= 2, "{health}");
    client.send("still works").unwrap();
    assert_eq!(
        conn.recv_timeout(T).unwrap(),
        Message::Text("still works".into())
    );

    assert!(get(&server, "GET", "/missing").starts_with("HTTP/1.1 404 "));
    let post = get(&server, "POST", "/");
    assert!(
        post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD\r\n"),
        "{post}"
    );
    let plain_ws = get(&server, "GET", "/ws");
    assert!(plain_ws.starts_with("HTTP/1.1 426 ") && plain_ws.contains("Upgrade: websocket\r\n"));
    // None of those reached accept.
    assert!(matches!(
        server.accept_timeout(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn upgrades_only_on_allowed_paths() {
    let dir = std::env::temp_dir().join(format!("wsengine-http-up-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = server(app(&dir));
    for path in ["/", "/other", "/ws/extra"] {
        match connect(
            &format!("ws://{}{path}", server.local_addr()),
            fast_config(),
        ) {
            Err(Error::Handshake(e)) => assert_eq!(e.status(), 404, "{path}"),
            other => panic!("{path}: expected a 404, got {other:?}"),
        }
    }
    assert!(connect(&format!("ws://{}/ws", server.local_addr()), fast_config()).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_websocket_only_server_answers_plain_requests_with_426() {
    let server = server(fast_config());
    let resp = get(&server, "GET", "/anything");
    assert!(resp.starts_with("HTTP/1.1 426 "), "{resp}");
    assert!(
        connect(
            &format!("ws://{}/anything", server.local_addr()),
            fast_config()
        )
        .is_ok()
    );
    // Route paths must be absolute.
    let bad = fast_config().with_route("index.html", "text/html", "x");
    assert!(matches!(
        wsengine::Server::bind("127.0.0.1:0", bad),
        Err(Error::InvalidArgument(_))
    ));
}
