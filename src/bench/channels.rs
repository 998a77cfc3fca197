//! `hotline bench --suite channels`: accepted contacts per second on each channel, each against a
//! raw baseline of the same protocol run in the same process at the same concurrency:
//!
//! - HTTP channels (Open311 POST, WeChat's plaintext push, the phone platform's CTI webhook,
//!   the SMS gateway's signed inbound callback, the mobile app's ticket submission by a
//!   signed-in citizen) against a raw HTTP server (axum, reads the body, answers 201) driven
//!   by the same client; the app, which takes 8 submissions at once, against that server at
//!   8 in flight;
//! - email (one SMTP session per mail: EHLO, MAIL, RCPT, DATA, QUIT) against a raw SMTP sink
//!   (answers every command, reads the data to the final dot) driven by the same SMTP client.
//!
//! "Accepted" is the channel's own answer to the sender: Open311's 201 with a number, WeChat's
//! passive reply, the CTI webhook's 200, the SMS callback's 200 (the ticket made, its receipt
//! SMS handed to the gateway), the app's 201 with a number, SMTP's 250 after the data. The
//! platform (`hotline all --demo` on a fresh namespace and database) runs in this process; CPU
//! is read from /proc for this process, nats-server and postgres, as in the tickets suite.
//!
//! SMS needs a gateway: the suite runs a fake one on 127.0.0.1 (in this process, so its CPU is
//! counted too) that takes the receipts and the app's sign-in codes and answers as the real one
//! does. The app's citizens sign in before the app run; only their submissions are timed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use hotline_config::Settings;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{Args, Fresh, Run, cpu_seconds, summarize};

/// SMTP sessions in flight: under the email channel's default connection limit (50).
const SMTP_CONCURRENCY: usize = 32;
/// App submissions in flight: the app takes 8 bodies at once and sheds the rest with 503
/// (`UPLOADS_AT_ONCE` in services/intake/src/app), so its run and its baseline use 8.
const APP_CONCURRENCY: usize = 8;

pub(crate) async fn run(mut settings: Settings, args: Args) -> anyhow::Result<()> {
    settings.demo = true;
    // One api key files every Open311 contact of the run: no per-key allowance.
    settings.intake.open311_posts_per_key_per_minute = 0;
    super::free_ports(&mut settings)?;
    // No relay: the email run measures taking mail, not sending auto-replies.
    settings.email.relay_host = None;
    // The SMS channel and the app's sign-in codes go through the fake gateway.
    let gateway = FakeSmsGateway::start().await?;
    settings.sms.provider_url = Some(gateway.url.clone());
    settings.sms.access_key_id = "LTAI-bench".to_owned();
    settings.sms.provider_secret = Some(hotline_config::Secret::new(SMS_PROVIDER_SECRET));
    settings.sms.inbound_secret = Some(hotline_config::Secret::new(SMS_INBOUND_SECRET));
    settings.sms.number_key = Some(hotline_config::Secret::new(SMS_NUMBER_KEY));
    // Every app citizen signs in from this one address.
    settings.app.codes_per_client = 1000;
    settings.validate().context("the bench's settings")?;
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
    runs.push(raw_http(&client, n, concurrency, "raw HTTP POST -> 201 (axum)").await?);
    runs.push(raw_smtp(n).await?);
    runs.push(
        raw_http(
            &client,
            n,
            APP_CONCURRENCY,
            "raw HTTP POST -> 201 (axum), 8 in flight",
        )
        .await?,
    );

    let shutdown = CancellationToken::new();
    let platform = {
        let settings = settings.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { crate::all(settings, shutdown).await })
    };
    let outcome = measure_channels(&client, &settings, &gateway, n, concurrency).await;
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
    let (http, smtp, http_8) = (&runs[0], &runs[1], &runs[2]);
    for r in &runs[3..] {
        let base = if r.name.starts_with("email") {
            smtp
        } else if r.name.starts_with("app") {
            http_8
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
    gateway: &FakeSmsGateway,
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
            s.sms.port,
            s.app.port,
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
    let sms = format!("http://127.0.0.1:{}/sms/inbound", s.sms.port);
    let app = format!("http://127.0.0.1:{}/v1", s.app.port);
    // Each run's contacts are distinct (numbers, message ids, call ids): a repeat would be
    // answered from the de-duplication record and measure nothing.
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    // One app citizen per request in flight, signed in once (a code each, through the gateway).
    let mut citizens = Vec::with_capacity(APP_CONCURRENCY);
    for c in 0..APP_CONCURRENCY {
        citizens.push(app_sign_in(client, &app, gateway, &format!("1370000{c:04}")).await?);
    }
    let citizens = &citizens;

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
    closed_loop(warm, concurrency, |i| {
        sms_post(client, &sms, &warm_id, 0, i)
    })
    .await?;
    closed_loop(warm, APP_CONCURRENCY, |i| {
        app_submit(client, &app, &service_code, citizens, &warm_id, i)
    })
    .await?;
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
    // Numbers after the warm-up's: each contact its own number, within the per-number limits.
    let (lat, secs, cpu) =
        closed_loop(n, concurrency, |i| sms_post(client, &sms, &run_id, warm, i)).await?;
    runs.push(summarize(
        "SMS inbound callback (signed) -> 200 (ticket + receipt)",
        lat,
        secs,
        cpu,
    ));
    settle().await;
    let (lat, secs, cpu) = closed_loop(n, APP_CONCURRENCY, |i| {
        app_submit(client, &app, &service_code, citizens, &run_id, i)
    })
    .await?;
    runs.push(summarize(
        "app POST /v1/tickets (signed in, 8 in flight) -> 201 with the number",
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

const SMS_PROVIDER_SECRET: &str = "bench-provider-secret-0123456789";
const SMS_INBOUND_SECRET: &str = "bench-inbound-secret-0123456789";
const SMS_NUMBER_KEY: &str = "bench-number-key-0123456789";

/// The SMS gateway the bench talks to: takes every send (receipts, sign-in codes) with the
/// real gateway's answer and keeps the codes, so the app's citizens can sign in. It does not
/// check our signature: the channel's tests do, and here it would only add CPU.
struct FakeSmsGateway {
    url: String,
    codes: Arc<Mutex<HashMap<String, String>>>,
}

impl FakeSmsGateway {
    async fn start() -> anyhow::Result<FakeSmsGateway> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/sms/send", listener.local_addr()?);
        let codes: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let taken = codes.clone();
        let app = axum::Router::new().route(
            "/sms/send",
            axum::routing::post(move |body: bytes::Bytes| {
                let taken = taken.clone();
                async move {
                    if let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body)
                        && let (Some(to), Some(code)) = (
                            request["phone_numbers"].as_str(),
                            request["template_param"]["code"].as_str(),
                        )
                        && let Ok(mut codes) = taken.lock()
                    {
                        codes.insert(to.to_owned(), code.to_owned());
                    }
                    axum::Json(serde_json::json!({
                        "code": "OK", "message": "OK", "biz_id": "1^0"
                    }))
                }
            }),
        );
        // Lives as long as the bench process.
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(FakeSmsGateway { url, codes })
    }

    fn code_for(&self, phone: &str) -> Option<String> {
        self.codes.lock().ok()?.get(phone).cloned()
    }
}

/// The gateway's signed callback for one inbound SMS from its own number.
async fn sms_post(
    client: &reqwest::Client,
    url: &str,
    run_id: &str,
    offset: usize,
    i: usize,
) -> anyhow::Result<()> {
    use hotline_intake::sms::sign;
    let timestamp = chrono::Utc::now().timestamp();
    let body = serde_json::json!({
        "from": format!("139{:08}", offset + i),
        "to": "12345",
        "text": "天河路208号路灯不亮，已经三天了",
        "message_id": format!("{run_id}-{i}"),
        "timestamp": timestamp,
    })
    .to_string();
    let timestamp = timestamp.to_string();
    let nonce = sign::nonce();
    let signature = sign::signature(SMS_INBOUND_SECRET, &timestamp, &nonce, body.as_bytes());
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header(sign::TIMESTAMP_HEADER, &timestamp)
        .header(sign::NONCE_HEADER, &nonce)
        .header(sign::SIGNATURE_HEADER, &signature)
        .body(body)
        .send()
        .await
        .with_context(|| format!("SMS callback {i}"))?;
    anyhow::ensure!(
        response.status().as_u16() == 200,
        "SMS callback {i} answered {}",
        response.status()
    );
    Ok(())
}

/// Signs a citizen in to the app (code by SMS through the fake gateway); answers the bearer.
async fn app_sign_in(
    client: &reqwest::Client,
    base: &str,
    gateway: &FakeSmsGateway,
    phone: &str,
) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/auth/code"))
        .json(&serde_json::json!({ "phone": phone }))
        .send()
        .await
        .context("app code request")?;
    anyhow::ensure!(
        response.status().as_u16() == 202,
        "app code request answered {}",
        response.status()
    );
    let code = gateway
        .code_for(phone)
        .with_context(|| format!("no sign-in code reached the gateway for {phone}"))?;
    let response = client
        .post(format!("{base}/auth/token"))
        .json(&serde_json::json!({ "phone": phone, "code": code }))
        .send()
        .await
        .context("app token request")?;
    anyhow::ensure!(
        response.status().is_success(),
        "app token request answered {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access token")
}

/// One ticket from a signed-in app citizen (multipart, GPS, an idempotency key of its own).
async fn app_submit(
    client: &reqwest::Client,
    base: &str,
    service_code: &str,
    citizens: &[String],
    run_id: &str,
    i: usize,
) -> anyhow::Result<()> {
    let bearer = citizens
        .get(i % citizens.len().max(1))
        .context("no app citizen")?;
    let ticket = serde_json::json!({
        "category": service_code,
        "description": "天河路208号路灯不亮，已经三天了",
        "address": "广州市天河区天河路208号",
        "lat": 23.1291,
        "long": 113.3276,
    });
    let boundary = "----hotline-bench-app";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"ticket\"\r\n\
         Content-Type: application/json\r\n\r\n{ticket}\r\n--{boundary}--\r\n"
    );
    let response = client
        .post(format!("{base}/tickets"))
        .bearer_auth(bearer)
        .header("idempotency-key", format!("{run_id}-{i}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .with_context(|| format!("app POST {i}"))?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    anyhow::ensure!(status == 201, "app POST {i} answered {status}: {body}");
    anyhow::ensure!(body.contains("ticket_no"), "no number in {body}");
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
async fn raw_http(
    client: &reqwest::Client,
    n: usize,
    concurrency: usize,
    name: &str,
) -> anyhow::Result<Run> {
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
    Ok(summarize(name, lat, secs, cpu))
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
