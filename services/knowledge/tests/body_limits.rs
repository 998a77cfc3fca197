//! Body limits per route (issue 8): the import's 32 MiB applies to `/v1/import` only, and
//! neither a too-large body nor an anonymous import is read before it is refused.
//!
//! The client announces a body and sends none: a server that tried to read it would wait until
//! its timeout (30 s); each answer must come at once.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

const MIB: usize = 1024 * 1024;

/// Sends the request head only and returns the answer's status code (within 5 s).
async fn head_only(port: u16, method: &str, path: &str, length: usize, extra: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n{extra}\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "connection closed without an answer");
            answer.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer without the body"));
    let line = String::from_utf8_lossy(&answer);
    line.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {line}"))
}

#[tokio::test]
async fn big_bodies_are_refused_before_they_are_read() {
    let env = hotline_testkit::env().await.expect("test servers");
    let settings = env.settings().expect("settings");
    assert_eq!(
        settings.knowledge.max_import_bytes,
        32 * MIB,
        "the configured import limit"
    );
    let port = settings.knowledge.port;
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(hotline_knowledge::run(settings, shutdown.clone()));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "knowledge never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 40 MiB to an ordinary route and to the import: 413 from the Content-Length alone.
    assert_eq!(
        head_only(port, "POST", "/v1/search", 40 * MIB, "").await,
        413
    );
    assert_eq!(
        head_only(port, "POST", "/v1/import?format=mm", 40 * MIB, "").await,
        413
    );
    // The import's limit is not every route's: 2 MiB is too much for a draft or a search.
    assert_eq!(
        head_only(port, "PUT", "/v1/items/GZ-TEST/draft", 2 * MIB, "").await,
        413
    );
    assert_eq!(
        head_only(port, "POST", "/v1/suggest", 2 * MIB, "").await,
        413
    );
    // Under the import limit but anonymous: refused at once, the body never read.
    let anonymous = head_only(port, "POST", "/v1/import?format=mm", 20 * MIB, "").await;
    assert!(matches!(anonymous, 401 | 403), "{anonymous}");
    let forged = head_only(
        port,
        "POST",
        "/v1/import?format=mm",
        20 * MIB,
        "Authorization: Bearer not-a-credential\r\n",
    )
    .await;
    assert!(matches!(forged, 401 | 403), "{forged}");

    // A small body still passes the small routes' limit.
    let search = http
        .post(format!("http://127.0.0.1:{port}/v1/search"))
        .json(&serde_json::json!({ "q": "噪音" }))
        .send()
        .await
        .expect("search");
    // (Whether the caller may search is the roles' business; the size is fine.)
    let status = search.status().as_u16();
    assert!(status != 413 && status < 500, "{status}");

    shutdown.cancel();
    let _ = service.await;
}
