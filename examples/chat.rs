//! A chat server: the page at http://ADDR/ and its socket at /ws on the same
//! port, one room per `?room=` (a broadcast group), join and leave notices.
//!
//! ```text
//! cargo run --release --example chat -- [ADDR]      (default 127.0.0.1:8080)
//! cargo run --release --example chat -- [ADDR] --tls-cert cert.pem --tls-key key.pem   (https)
//! ```
//!
//! Open http://127.0.0.1:8080/ in two tabs and type in one; add
//! `?room=games&name=ana` to pick a room and a name. One thread runs the
//! whole server on the poll API; the engine's threads do the I/O. The C
//! (`examples/c/chat_server.c`) and Python (`examples/python/chat.py`)
//! versions serve the same page and speak the same protocol:
//!
//! - the page connects to `/ws?room=R&name=N` (both sanitized: letters,
//!   digits, space, `_`, `-`, `.`, at most 32; defaults `lobby`, `guest-ID`);
//! - every text message it sends goes to the whole room, sender included, as
//!   `{"type":"message","user":N,"text":T}`;
//! - joins and leaves go to the room as `{"type":"join"|"leave","user":N,"members":K}`.

use std::collections::HashMap;
use std::time::Duration;

use wsengine::tls::ServerTls;
use wsengine::{Audience, Config, Conn, Groups, Message, OverflowPolicy, Server, ServerEvent};

/// The page every chat example serves.
const PAGE: &str = include_str!("chat/index.html");
/// Longest chat message accepted (longer ones close the connection with 1009).
const MAX_MESSAGE: usize = 4096;
/// Longest room or user name kept.
const MAX_NAME: usize = 32;

struct Member {
    name: String,
    room: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:8080".to_string();
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls-cert" => cert = args.next(),
            "--tls-key" => key = args.next(),
            _ => addr = arg,
        }
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(ServerTls::from_pem_files(cert, key)?),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let config = Config::default()
        .with_server_tls(tls)
        .with_route("/", "text/html; charset=utf-8", PAGE)
        .with_health_path(Some("/health"))
        .with_websocket_paths(Some(&["/ws"]))
        .with_poll_events(true)
        .with_max_message_size(MAX_MESSAGE)
        // A browser tab that stops reading is dropped (it reconnects) rather
        // than holding up the room or growing memory.
        .with_overflow_policy(OverflowPolicy::Disconnect);
    let server = Server::bind(addr.as_str(), config)?;
    println!(
        "chat on {scheme}://{}/ (open it in two tabs; Ctrl-C stops)",
        server.local_addr()
    );
    let groups = server.groups().clone();
    let mut members: HashMap<u64, Member> = HashMap::new();
    loop {
        let Some(event) = server.poll(Duration::MAX)? else {
            continue;
        };
        match event {
            ServerEvent::Open(conn) => {
                let member = member_from_query(&conn);
                // Fails only if the connection is already gone; its Closed
                // event follows and finds no member.
                if groups.join(&conn, &member.room).is_ok() {
                    notice(&groups, "join", &member);
                    members.insert(conn.id(), member);
                }
            }
            ServerEvent::Message(conn, Message::Text(text)) => {
                if let Some(m) = members.get(&conn.id()) {
                    let json = format!(
                        r#"{{"type":"message","user":{},"text":{}}}"#,
                        json_string(&m.name),
                        json_string(&text)
                    );
                    groups.broadcast(Audience::Group(&m.room), json);
                }
            }
            ServerEvent::Closed(conn, _) => {
                // The connection has already left its room.
                if let Some(member) = members.remove(&conn.id()) {
                    notice(&groups, "leave", &member);
                }
            }
            _ => {} // binary messages are not part of the chat
        }
    }
}

/// Tell `member`'s room that they joined or left.
fn notice(groups: &Groups, kind: &str, member: &Member) {
    let json = format!(
        r#"{{"type":"{kind}","user":{},"members":{}}}"#,
        json_string(&member.name),
        groups.member_count(&member.room)
    );
    groups.broadcast(Audience::Group(&member.room), json);
}

fn member_from_query(conn: &Conn) -> Member {
    let query = conn.request().query.as_deref().unwrap_or("");
    let name = query_param(query, "name").unwrap_or_else(|| format!("guest-{}", conn.id()));
    let room = query_param(query, "room").unwrap_or_else(|| "lobby".into());
    Member { name, room }
}

/// The sanitized value of `key` in a query string: percent-decoded, only
/// ASCII letters, digits, space, `_`, `-` and `.` kept, at most 32 of them;
/// `None` if absent or nothing is left.
fn query_param(query: &str, key: &str) -> Option<String> {
    let raw = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)?
        .1
        .as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < raw.len() && out.len() < MAX_NAME {
        let (byte, used) = match raw[i] {
            b'+' => (b' ', 1),
            b'%' if i + 2 < raw.len() => {
                let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => (b, 3),
                    None => (b'%', 1),
                }
            }
            b => (b, 1),
        };
        if byte.is_ascii_alphanumeric() || b" _-.".contains(&byte) {
            out.push(byte as char);
        }
        i += used;
    }
    let trimmed = out.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
