//! `hotline bench --suite channels`: accepted contacts per second on each channel, each against a
//! raw baseline of the same protocol run in the same process at the same concurrency:
//!
//! - HTTP channels (Open311 POST, WeChat's plaintext push, the phone platform's CTI webhook)
//!   against a raw HTTP server (axum, reads the body, answers 201) driven by the same client;
//! - email (one SMTP session per mail: EHLO, MAIL, RCPT, DATA, QUIT) against a raw SMTP sink
//!   (answers every command, reads the data to the final dot) driven by the same SMTP client.
//!
//! "Accepted" is the channel's own answer to the sender: Open311's 201 with a number, WeChat's
//! passive reply, the CTI webhook's 200, SMTP's 250 after the data. The platform (`hotline all
//! --demo` on a fresh namespace and database) runs in this process; CPU is read from /proc for
//! this process, nats-server and postgres, as in the tickets suite.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use hotline_config::Settings;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{Args, Fresh, Run, cpu_seconds, free_port, summarize};

/// SMTP sessions in flight: under the email channel's default connection limit (50).
const SMTP_CONCURRENCY: usize = 32;

pub(crate) async fn run(mut settings: Settings, args: Args) -> anyhow::Result<()> {
    settings.demo = true;
    // One api key files every Open311 contact of the run: no per-key allowance.
    settings.intake.open311_posts_per_key_per_minute = 0;
    for port in [
        &mut settings.intake.port,
        &mut settings.tickets.port,
        &mut settings.dispatch.port,
        &mut settings.gateway.port,
        &mut settings.gateway.grpc_port,
        &mut settings.knowledge.port,
        &mut settings.sla.port,
        &mut settings.identity.port,
        &mut settings.wechat.port,
        &mut settings.phone.port,
        &mut settings.email.port,
        &mut settings.email.http_port,
    ] {
        *port = free_port()?;
    }
    settings.identity.issuer = format!("http://127.0.0.1:{}", settings.identity.port);
    settings.auth.issuer = settings.identity.issuer.clone();
    // No relay: the email run measures taking mail, not sending auto-replies.
    settings.email.relay_host = None;
    let fresh = Fresh::new(&mut settings).await?;
    let n = args.tickets;
    let concurrency = args.concurrency;
    eprintln!(
        "bench channels: namespace {}, {n} contacts per channel at concurrency {concurrency} \
         (SMTP {SMTP_CONCURRENCY})",
        settings.namespace
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let mut runs = Vec::new();
    runs.push(raw_http(&client, n, concurrency).await?);
    runs.push(raw_smtp(n).await?);

    let shutdown = CancellationToken::new();
    let platform = {
        let settings = settings.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { crate::all(settings, shutdown).await })
    };
    let outcome = measure_channels(&client, &settings, n, concurrency).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(20), platform).await;
    fresh.drop().await?;
    runs.extend(outcome?);

    println!();
    println!(
        "{:<58} {:>8} {:>9} {:>10} {:>9} {:>9} {:>11}",
        "run", "items", "seconds", "items/s", "p50 ms", "p99 ms", "CPU ms/item"
    );
    for r in &runs {
        println!(
            "{:<58} {:>8} {:>9.2} {:>10.0} {:>9.2} {:>9.2} {:>11.3}",
            r.name, r.count, r.seconds, r.per_second, r.p50_ms, r.p99_ms, r.cpu_ms_per_item
        );
    }
    println!();
    let (http, smtp) = (&runs[0], &runs[1]);
    for r in &runs[2..] {
        let base = if r.name.starts_with("email") {
            smtp
        } else {
            http
        };
        let short = |name: &str| name.split(" ->").next().unwrap_or(name).to_owned();
        println!(
            "ratio {} / {} (throughput): {:.3}",
            short(&r.name),
            short(&base.name),
            r.per_second / base.per_second
        );
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&runs)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

async fn measure_channels(
    client: &reqwest::Client,
    s: &Settings,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Run>> {
    super::wait_ports_ready(
        client,
        &[
            s.intake.port,
            s.tickets.port,
            s.wechat.port,
            s.phone.port,
            s.email.http_port,
        ],
    )
    .await?;
    let open311 = format!("http://127.0.0.1:{}/open311/v2", s.intake.port);
    let service_code = wait_for_catalogue(client, &open311).await?;
    let wechat = format!("http://127.0.0.1:{}/wechat", s.wechat.port);
    let cti = format!(
        "http://127.0.0.1:{}/cti/{}",
        s.phone.port,
        hotline_intake::phone::DEMO_CTI_TOKEN
    );
    let smtp = format!("127.0.0.1:{}", s.email.port);
    let rcpt = format!("{}@{}", s.email.mailbox, s.email.domain);
    // Each run's contacts are distinct (numbers, message ids, call ids): a repeat would be
    // answered from the de-duplication record and measure nothing.
    let run_id = uuid::Uuid::new_v4().simple().to_string();

    // Warm up every path once at low volume (connections, plan caches, the catalogue).
    let warm = 200.min(n);
    let warm_id = format!("w{run_id}");
    closed_loop(warm, concurrency, |i| {
        open311_post(client, &open311, &service_code, i)
    })
    .await?;
    closed_loop(warm, concurrency, |i| {
        wechat_post(client, &wechat, &warm_id, i)
    })
    .await?;
    closed_loop(warm, concurrency, |i| cti_post(client, &cti, &warm_id, i)).await?;
    closed_loop(warm, SMTP_CONCURRENCY, |i| {
        smtp_mail(&smtp, &rcpt, &warm_id, i)
    })
    .await?;

    let mut runs = Vec::new();
    settle().await;
    let (lat, secs, cpu) = closed_loop(n, concurrency, |i| {
        open311_post(client, &open311, &service_code, i)
    })
    .await?;
    runs.push(summarize(
        "Open311 POST -> 201 with the number",
        lat,
        secs,
        cpu,
    ));
    settle().await;
    let (lat, secs, cpu) =
        closed_loop(n, concurrency, |i| wechat_post(client, &wechat, &run_id, i)).await?;
    runs.push(summarize(
        "WeChat text message -> passive reply",
        lat,
        secs,
        cpu,
    ));
    settle().await;
    let (lat, secs, cpu) =
        closed_loop(n, concurrency, |i| cti_post(client, &cti, &run_id, i)).await?;
    runs.push(summarize(
        "phone CTI newCall -> 200 (call recorded)",
        lat,
        secs,
        cpu,
    ));
    settle().await;
    let (lat, secs, cpu) =
        closed_loop(n, SMTP_CONCURRENCY, |i| smtp_mail(&smtp, &rcpt, &run_id, i)).await?;
    runs.push(summarize(
        "email SMTP session -> 250 after DATA",
        lat,
        secs,
        cpu,
    ));
    Ok(runs)
}

/// Waits until the previous run's tickets have gone through dispatch and the rest (the
/// platform, NATS and Postgres use under 5 % of a core over half a second), at most 60 s, so
/// one channel's CPU is not charged to the next.
async fn settle() {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let before = cpu_seconds();
        tokio::time::sleep(Duration::from_millis(500)).await;
        if cpu_seconds() - before < 0.025 {
            return;
        }
    }
    eprintln!("bench channels: the platform was still busy after 60 s; measuring anyway");
}

/// Runs `n` contacts with `concurrency` in flight; answers latencies (s), seconds, CPU seconds.
async fn closed_loop<F, Fut>(
    n: usize,
    concurrency: usize,
    contact: F,
) -> anyhow::Result<(Vec<f64>, f64, f64)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut answers = futures::stream::iter(0..n)
        .map(|i| {
            let fut = contact(i);
            async move {
                let begin = Instant::now();
                fut.await.map(|()| begin.elapsed().as_secs_f64())
            }
        })
        .buffer_unordered(concurrency);
    let mut latencies = Vec::with_capacity(n);
    while let Some(answer) = answers.next().await {
        latencies.push(answer?);
    }
    Ok((latencies, t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0))
}

async fn open311_post(
    client: &reqwest::Client,
    base: &str,
    service_code: &str,
    i: usize,
) -> anyhow::Result<()> {
    let response = client
        .post(format!("{base}/requests.json"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(super::form_body(service_code))
        .send()
        .await
        .with_context(|| format!("Open311 POST {i}"))?;
    anyhow::ensure!(
        response.status().as_u16() == 201,
        "Open311 POST {i} answered {}",
        response.status()
    );
    let body = response.text().await?;
    anyhow::ensure!(body.contains("service_request_id"), "no number in {body}");
    Ok(())
}

async fn wechat_post(
    client: &reqwest::Client,
    url: &str,
    run_id: &str,
    i: usize,
) -> anyhow::Result<()> {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let nonce = i.to_string();
    let signature = hotline_intake::wechat::crypto::signature(&[
        hotline_intake::wechat::DEMO_TOKEN,
        &timestamp,
        &nonce,
    ]);
    // One follower per message (a conversation would fold a follower's messages together).
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_hotline]]></ToUserName>\
         <FromUserName><![CDATA[o{run_id}{i}]]></FromUserName>\
         <CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[天河路208号路灯不亮，已经三天了]]></Content>\
         <MsgId>{}</MsgId></xml>",
        1_000_000_000u64 + i as u64 + u64::from(fnv(run_id)) * 1_000_000,
    );
    let response = client
        .post(url)
        .query(&[
            ("signature", signature.as_str()),
            ("timestamp", &timestamp),
            ("nonce", &nonce),
        ])
        .body(xml)
        .send()
        .await
        .with_context(|| format!("WeChat POST {i}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "WeChat POST {i} answered {}",
        response.status()
    );
    let body = response.text().await?;
    anyhow::ensure!(
        body.contains("<xml>") || body == "success",
        "WeChat reply {i}: {body}"
    );
    Ok(())
}

/// A small stable hash, so each run's MsgIds differ from the last run's.
fn fnv(s: &str) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    (h % 60_000) as u16
}

async fn cti_post(
    client: &reqwest::Client,
    url: &str,
    run_id: &str,
    i: usize,
) -> anyhow::Result<()> {
    let body = serde_urlencoded::to_string([
        ("event", "newCall"),
        ("from", &format!("1380013{:04}", i % 10_000)),
        ("to", "12345"),
        ("direction", "in"),
        ("callId", &format!("{run_id}-{i}")),
    ])?;
    let response = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .with_context(|| format!("CTI POST {i}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "CTI POST {i} answered {}",
        response.status()
    );
    Ok(())
}

/// One SMTP session delivering one mail; errors on any reply other than the expected one.
async fn smtp_mail(addr: &str, rcpt: &str, run_id: &str, i: usize) -> anyhow::Result<()> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("SMTP connect {i}"))?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    expect(&mut read, "220").await?;
    write.write_all(b"EHLO bench.example\r\n").await?;
    expect(&mut read, "250").await?;
    let from = format!("citizen{i}@example.com");
    write
        .write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())
        .await?;
    expect(&mut read, "250").await?;
    write
        .write_all(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
        .await?;
    expect(&mut read, "250").await?;
    write.write_all(b"DATA\r\n").await?;
    expect(&mut read, "354").await?;
    let mail = format!(
        "From: <{from}>\r\nTo: <{rcpt}>\r\nSubject: =?UTF-8?B?6Lev54Gv5LiN5Lqu?=\r\n\
         Message-ID: <{run_id}.{i}@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         广州市天河区天河路208号的路灯不亮，已经三天了。\r\n.\r\n"
    );
    write.write_all(mail.as_bytes()).await?;
    expect(&mut read, "250").await?;
    // Wait for the server's goodbye, as a real client does: a session is not over (and does
    // not free its connection slot) until then.
    write.write_all(b"QUIT\r\n").await?;
    expect(&mut read, "221").await?;
    Ok(())
}

/// Reads one SMTP reply (all its lines) and checks its code.
async fn expect(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    code: &str,
) -> anyhow::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        let got = read.read_line(&mut line).await?;
        anyhow::ensure!(got > 0, "SMTP connection closed waiting for {code}");
        // "250-..." continues a multi-line reply; "250 ..." ends it.
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    }
    anyhow::ensure!(line.starts_with(code), "SMTP expected {code}, got {line:?}");
    Ok(())
}

/// The raw HTTP baseline: an axum server that reads the body and answers 201.
async fn raw_http(client: &reqwest::Client, n: usize, concurrency: usize) -> anyhow::Result<Run> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let app = axum::Router::new().route(
        "/raw",
        axum::routing::post(|body: bytes::Bytes| async move {
            (axum::http::StatusCode::CREATED, body.len().to_string())
        }),
    );
    let server = {
        let stop = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        })
    };
    let url = format!("http://{addr}/raw");
    let body = super::form_body("01.01.001");
    let post = |i: usize| {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        async move {
            let response = client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .with_context(|| format!("raw POST {i}"))?;
            anyhow::ensure!(response.status().as_u16() == 201, "raw POST {i}");
            response.bytes().await?;
            Ok(())
        }
    };
    closed_loop(200.min(n), concurrency, post).await?;
    let (lat, secs, cpu) = closed_loop(n, concurrency, post).await?;
    stop.cancel();
    let _ = server.await;
    Ok(summarize("raw HTTP POST -> 201 (axum)", lat, secs, cpu))
}

/// The raw SMTP baseline: a sink that answers every command and reads the data to the dot.
async fn raw_smtp(n: usize) -> anyhow::Result<Run> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let stop = CancellationToken::new();
    let sink = {
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((stream, _)) = accepted else { continue };
                tokio::spawn(async move {
                    let _ = sink_session(stream).await;
                });
            }
        })
    };
    closed_loop(200.min(n), SMTP_CONCURRENCY, |i| {
        smtp_mail(&addr, "sink@raw.local", "warm", i)
    })
    .await?;
    let (lat, secs, cpu) = closed_loop(n, SMTP_CONCURRENCY, |i| {
        smtp_mail(&addr, "sink@raw.local", "raw", i)
    })
    .await?;
    stop.cancel();
    let _ = sink.await;
    Ok(summarize("raw SMTP session -> 250 (sink)", lat, secs, cpu))
}

async fn sink_session(stream: TcpStream) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 raw ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                loop {
                    line.clear();
                    if read.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                }
                write.write_all(b"250 queued\r\n").await?;
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"250 ok\r\n").await?,
        }
    }
}

/// Open311 lists services once the catalogue reached intake; answers a district matter's code.
async fn wait_for_catalogue(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(code) = super::pick_service(client, base).await {
            return Ok(code);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "Open311 services never became available"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
