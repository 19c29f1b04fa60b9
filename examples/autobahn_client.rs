//! The Autobahn TestSuite client: runs every case the fuzzing server offers
//! by echoing its messages, then asks it to write its reports.
//!
//! ```sh
//! cargo run --release --example autobahn_client -- [URL] [--ca FILE]   # default ws://127.0.0.1:9001
//! ```
//! `--ca` trusts a CA for a `wss://` fuzzing server (besides the system's).

use wsengine::tls::ClientTls;
use wsengine::{Config, DeflateConfig, Error, connect};

const AGENT: &str = "wsengine";

fn main() {
    let mut url = None;
    let mut tls = ClientTls::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--ca" {
            let loaded = args
                .next()
                .ok_or_else(|| "--ca needs a file".to_string())
                .and_then(|ca| tls.clone().with_ca_file(ca).map_err(|e| e.to_string()));
            tls = loaded.unwrap_or_else(|e| {
                eprintln!("autobahn_client: {e}");
                std::process::exit(2);
            });
        } else {
            url = Some(arg);
        }
    }
    let base = url
        .or_else(|| std::env::var("AUTOBAHN_URL").ok())
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_string());
    let base = base.trim_end_matches('/');
    // Full 32 KiB windows, and an offer that lets the server ask us not to
    // take over context: the suite's compression cases (13.*) accept only
    // offers that allow what each case asks of the client.
    let deflate = DeflateConfig::default()
        .with_server_max_window_bits(15)
        .with_client_max_window_bits(15)
        .with_client_no_context_takeover(true);
    let config = Config::default()
        .with_max_message_size(64 << 20)
        .with_deflate(deflate)
        .with_client_tls(tls);

    let count =
        match connect(&format!("{base}/getCaseCount"), config.clone()).and_then(|c| c.recv()) {
            Ok(m) => m
                .as_text()
                .and_then(|t| t.trim().parse::<u32>().ok())
                .unwrap_or(0),
            Err(e) => {
                eprintln!("autobahn_client: getCaseCount failed: {e}");
                std::process::exit(1);
            }
        };
    eprintln!("autobahn_client: {count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        match connect(&url, config.clone()) {
            Ok(conn) => loop {
                match conn.recv() {
                    Ok(m) => {
                        if conn.send(m).is_err() {
                            break;
                        }
                    }
                    Err(Error::ConnectionClosed(_)) => break,
                    Err(e) => {
                        eprintln!("case {case}: {e}");
                        break;
                    }
                }
            },
            Err(e) => eprintln!("case {case}: connect failed: {e}"),
        }
    }
    match connect(
        &format!("{base}/updateReports?agent={AGENT}"),
        config.clone(),
    ) {
        Ok(conn) => {
            let _ = conn.recv();
        }
        Err(e) => {
            eprintln!("autobahn_client: updateReports failed: {e}");
            std::process::exit(1);
        }
    }
}
