//! The mail relay the email channel hands its auto-replies and notices to: a small SMTP sink
//! (speaks just enough SMTP for lettre) that records every message it takes.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Delivered {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Clone, Default)]
pub struct Sink {
    pub got: Arc<Mutex<Vec<Delivered>>>,
}

impl Sink {
    pub async fn start() -> (Sink, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let sink = Sink::default();
        let got = sink.got.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(sink_session(stream, got.clone()));
            }
        });
        (sink, port)
    }

    pub fn to(&self, rcpt: &str) -> Vec<Delivered> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .filter(|d| d.to.iter().any(|t| t.eq_ignore_ascii_case(rcpt)))
            .cloned()
            .collect()
    }

    /// Waits for the `n`th message to `rcpt`.
    pub async fn wait_for(&self, rcpt: &str, n: usize) -> Delivered {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.to(rcpt);
            if got.len() >= n {
                return got[n - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no auto-reply #{n} reached the relay"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Speaks just enough SMTP for a client (lettre) to hand over a message.
pub async fn sink_session(stream: tokio::net::TcpStream, got: Arc<Mutex<Vec<Delivered>>>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
    let mut from = String::new();
    let mut to = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        let upper = line.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            b"250 OK\r\n"
        } else if let Some(rest) = upper.strip_prefix("MAIL FROM:") {
            from = line[10..10 + rest.len()].trim().to_owned();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(
                line[8..]
                    .trim()
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            );
            b"250 OK\r\n"
        } else if upper == "DATA" {
            let _ = write.write_all(b"354 go ahead\r\n").await;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                if reader.read_until(b'\n', &mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == b".\r\n" {
                    break;
                }
                let l = l.strip_prefix(b".").unwrap_or(&l);
                data.extend_from_slice(l);
            }
            got.lock().expect("lock").push(Delivered {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data,
            });
            b"250 queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"500 what\r\n"
        };
        let _ = write.write_all(answer).await;
    }
}
