//! `hotline bench --suite knowledge`: search and answer suggestions over N published leaves
//! (100,000 by default), against the naive baseline a small hotline would start with (a Postgres
//! `ILIKE` scan of the same leaves for the same queries), and the time from publishing an edit to
//! seeing it in the search of every replica (two replicas run in this process).
//!
//! Leaves are generated from real text: official replies and citizens' messages from the public
//! TipDM data set (`deploy/seed/messages/`) cut into answers, titled with the catalogue's matter
//! names. Queries are the citizens' message subjects; suggestion texts are 300 characters of
//! their messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::NaiveDate;
use hotline_config::Settings;
use hotline_domain::{DeptCode, ItemCode, ServiceCode};
use hotline_knowledge::governance::Editor;
use hotline_knowledge::model::{Item, ItemClass, Leaf, Node};
use hotline_knowledge::search::{Filters, SearchIndex, SearchQuery};
use hotline_knowledge::store::Store;
use tokio_util::sync::CancellationToken;

use super::{Args, Fresh, cpu_seconds, free_port, percentile, rss_mib, summarize};

const REPLIES: &str = include_str!("../../deploy/seed/messages/replies.jsonl");
const MESSAGES: &str = include_str!("../../deploy/seed/messages/messages-labeled.jsonl");
const CATEGORIES: &str = include_str!("../../deploy/seed/categories.csv");
const LEAVES_PER_ITEM: usize = 20;
/// Concurrent HTTP clients in the end-to-end search run (closed loop: each waits for its answer).
const CLIENTS: usize = 4;

#[derive(serde::Deserialize)]
struct Message {
    subject: String,
    detail: String,
}

#[derive(serde::Deserialize)]
struct Reply {
    #[serde(default)]
    reply: String,
    #[serde(default)]
    detail: String,
}

struct Corpus {
    /// Text the answers are cut from.
    text: Vec<char>,
    /// (level2, level3) matter names.
    matters: Vec<(String, String)>,
    queries: Vec<String>,
    texts: Vec<String>,
}

fn corpus() -> anyhow::Result<Corpus> {
    let mut text = String::new();
    for line in REPLIES.lines().filter(|l| !l.trim().is_empty()) {
        let r: Reply = serde_json::from_str(line).context("replies.jsonl")?;
        text.push_str(&r.reply);
        text.push_str(&r.detail);
    }
    let mut queries = Vec::new();
    let mut texts = Vec::new();
    for line in MESSAGES.lines().filter(|l| !l.trim().is_empty()) {
        let m: Message = serde_json::from_str(line).context("messages-labeled.jsonl")?;
        text.push_str(&m.detail);
        queries.push(m.subject.trim().to_owned());
        texts.push(m.detail.chars().take(300).collect());
    }
    let matters = CATEGORIES
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let _ = f.next()?;
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect();
    Ok(Corpus {
        text: text.chars().filter(|c| !c.is_control()).collect(),
        matters,
        queries,
        texts,
    })
}

/// Deterministic pseudo-random numbers (the run must be repeatable).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }
}

fn generate(corpus: &Corpus, leaves: usize) -> anyhow::Result<Vec<Item>> {
    let mut rng = Lcg(12345);
    let items = leaves.div_ceil(LEAVES_PER_ITEM);
    let owners = [
        "GZ-RS", "GZ-JT", "GZ-ZJ", "GZ-CG", "GZ-WJ", "GZ-JY", "GZ-MZ", "GZ-HB",
    ];
    let mut out = Vec::with_capacity(items);
    let mut made = 0;
    for i in 0..items {
        let (l2, l3) = &corpus.matters[i % corpus.matters.len()];
        let mut situations = Vec::new();
        for s in 0..4 {
            let mut children = Vec::new();
            for j in 0..LEAVES_PER_ITEM / 4 {
                if made >= leaves {
                    break;
                }
                made += 1;
                let start = rng.next() % corpus.text.len().saturating_sub(400).max(1);
                let len = 120 + rng.next() % 200;
                let answer: String = corpus.text[start..(start + len).min(corpus.text.len())]
                    .iter()
                    .collect();
                children.push(Node::Answer(Leaf {
                    code: ItemCode::parse(&format!("BK{i}-JD-{s}-{j}"))?,
                    title: format!("{l3}办理指引{j}"),
                    answer,
                    legal_basis: String::new(),
                    departments: vec![DeptCode::parse(owners[i % owners.len()])?],
                    procedure: String::new(),
                    materials: vec![],
                    fees: String::new(),
                    time_limit: String::new(),
                    contact: "12345".into(),
                    effective_from: NaiveDate::from_ymd_opt(2025, 1, 1),
                    expires_on: None,
                    keywords: vec![l2.clone(), l3.clone()],
                    synonyms: vec![],
                }));
            }
            if !children.is_empty() {
                situations.push(Node::Situation {
                    code: ItemCode::parse(&format!("BK{i}-TJ-{s}"))?,
                    label: format!("{l2}情形{s}"),
                    children,
                });
            }
        }
        out.push(Item {
            code: ItemCode::parse(&format!("BK{i}"))?,
            title: format!("{l2}·{l3}"),
            class: ItemClass::Consultation,
            matter_code: ServiceCode::parse(&format!("99.{:02}.{:03}", i % 97, i % 1000))?,
            owner: DeptCode::parse(owners[i % owners.len()])?,
            nodes: situations,
        });
    }
    Ok(out)
}

/// Runs `work` on `threads` OS threads for `seconds`, each call timed.
fn hammer<F>(threads: usize, seconds: f64, work: F) -> (Vec<f64>, f64)
where
    F: Fn(usize) -> anyhow::Result<()> + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let t0 = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let work = work.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut i = t;
                while t0.elapsed().as_secs_f64() < seconds {
                    let begin = Instant::now();
                    if work(i).is_ok() {
                        lat.push(begin.elapsed().as_secs_f64());
                    }
                    i += threads;
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().unwrap_or_default());
    }
    (all, t0.elapsed().as_secs_f64())
}

pub async fn run(mut settings: Settings, args: Args) -> anyhow::Result<()> {
    let fresh = Fresh::new(&mut settings).await?;
    let result = measure(&settings, &args).await;
    fresh.drop().await?;
    result
}

async fn measure(settings: &Settings, args: &Args) -> anyhow::Result<()> {
    let corpus = corpus()?;
    let items = generate(&corpus, args.leaves)?;
    eprintln!(
        "bench: namespace {}, {} items, {} leaves",
        settings.namespace,
        items.len(),
        args.leaves
    );
    let bus = hotline_bus::Bus::connect_with(&settings.nats, &settings.namespace, "setup").await?;
    hotline_bus::streams::ensure(&bus, Default::default()).await?;
    let pool = hotline_bus::db::connect(&settings.database.url, 8).await?;
    let store = Store::new(pool.clone(), bus.subjects.clone());
    store.migrate().await?;
    let centre = Editor::Centre(DeptCode::parse(&settings.city.centre)?);

    // Publish everything through the governed path (drafts in review, then the centre publishes).
    let t0 = Instant::now();
    for chunk in items.chunks(500) {
        store
            .write_drafts(&centre, chunk, true)
            .await
            .map_err(anyhow::Error::from)?;
    }
    let publish = futures::stream::iter(items.iter().map(|item| {
        let store = store.clone();
        let centre = centre.clone();
        async move {
            store
                .publish(&centre, &item.code, None, |_| true)
                .await
                .map_err(anyhow::Error::from)
        }
    }));
    use futures::StreamExt as _;
    let published: Vec<_> = publish.buffer_unordered(8).collect().await;
    for p in published {
        p?;
    }
    eprintln!(
        "bench: {} items published in {:.1} s",
        items.len(),
        t0.elapsed().as_secs_f64()
    );

    // One index in this process, loaded the way a replica loads at start.
    let rss0 = rss_mib();
    let t0 = Instant::now();
    let index = Arc::new(SearchIndex::new().map_err(anyhow::Error::from)?);
    let rows: Vec<(Item, i64)> = store
        .published()
        .await
        .map_err(anyhow::Error::from)?
        .into_iter()
        .map(|(i, v)| (i, i64::from(v)))
        .collect();
    let load_index = index.clone();
    tokio::task::spawn_blocking(move || load_index.upsert_many(&rows)).await??;
    let load_secs = t0.elapsed().as_secs_f64();
    let index_mib = rss_mib() - rss0;
    eprintln!(
        "bench: index of {} leaves built in {load_secs:.1} s, about {index_mib:.0} MiB resident",
        index.len()
    );

    let queries = Arc::new(corpus.queries.clone());
    let texts = Arc::new(corpus.texts.clone());
    let seconds = args.seconds as f64;
    let mut runs = Vec::new();

    // Search: two threads (the machine's two cores), the index API a replica serves from.
    let cpu0 = cpu_seconds();
    let (lat, secs) = {
        let index = index.clone();
        let queries = queries.clone();
        tokio::task::spawn_blocking(move || {
            hammer(2, seconds, move |i| {
                let q = SearchQuery {
                    q: queries[i % queries.len()].clone(),
                    filters: Filters::default(),
                    limit: 10,
                    offset: 0,
                    highlight: true,
                };
                index.search(&q).map(|_| ()).map_err(anyhow::Error::from)
            })
        })
        .await?
    };
    runs.push(summarize(
        "search (index, 2 threads, top 10 + highlights)",
        lat,
        secs,
        cpu_seconds() - cpu0,
    ));

    let cpu0 = cpu_seconds();
    let (lat, secs) = {
        let index = index.clone();
        let texts = texts.clone();
        tokio::task::spawn_blocking(move || {
            hammer(2, seconds, move |i| {
                index
                    .suggest(&texts[i % texts.len()], 5, &Filters::default())
                    .map(|_| ())
                    .map_err(anyhow::Error::from)
            })
        })
        .await?
    };
    runs.push(summarize(
        "suggest (index, 300-character ticket text, top 5)",
        lat,
        secs,
        cpu_seconds() - cpu0,
    ));

    // The naive baseline: the same queries as an ILIKE scan over the same leaves.
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut lat = Vec::new();
    let mut i = 0;
    while t0.elapsed().as_secs_f64() < seconds {
        let q = &queries[i % queries.len()];
        i += 1;
        let pattern = format!("%{}%", q.replace(['%', '_', '\\'], ""));
        let begin = Instant::now();
        let _: Vec<String> = sqlx::query_scalar(
            "SELECT code FROM knowledge.leaf WHERE title ILIKE $1 OR answer ILIKE $1 OR keywords ILIKE $1 LIMIT 10",
        )
        .bind(&pattern)
        .fetch_all(&pool)
        .await?;
        lat.push(begin.elapsed().as_secs_f64());
    }
    runs.push(summarize(
        "baseline: Postgres ILIKE scan, same queries (1 connection)",
        lat,
        t0.elapsed().as_secs_f64(),
        cpu_seconds() - cpu0,
    ));
    drop(index);

    // Two replicas of the service, sharing the store; search over HTTP, and publish-to-visible.
    let shutdown = CancellationToken::new();
    let mut ports = Vec::new();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let mut s = settings.clone();
        s.knowledge.port = free_port()?;
        ports.push(s.knowledge.port);
        replicas.push(tokio::spawn(hotline_knowledge::run(s, shutdown.clone())));
    }
    let client = reqwest::Client::new();
    for port in &ports {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let ok = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ok {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "replica on {port} never became ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let lat: Vec<f64> = {
        let stop = t0 + Duration::from_secs(args.seconds);
        let workers = (0..CLIENTS).map(|w| {
            let client = client.clone();
            let queries = queries.clone();
            let port = ports[w % ports.len()];
            async move {
                let mut lat = Vec::new();
                let mut i = w;
                while Instant::now() < stop {
                    let begin = Instant::now();
                    let ok = client
                        .get(format!("http://127.0.0.1:{port}/v1/search"))
                        .query(&[("q", queries[i % queries.len()].as_str())])
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false);
                    if ok {
                        lat.push(begin.elapsed().as_secs_f64());
                    }
                    i += CLIENTS;
                }
                lat
            }
        });
        futures::future::join_all(workers)
            .await
            .into_iter()
            .flatten()
            .collect()
    };
    runs.push(summarize(
        "search over HTTP (2 replicas, 4 clients, same process)",
        lat,
        t0.elapsed().as_secs_f64(),
        cpu_seconds() - cpu0,
    ));

    // Publish an edit, then poll both replicas until each finds the new word.
    let mut visible = Vec::new();
    for round in 0..20 {
        let mut item = items[round * 7 % items.len()].clone();
        let word = format!("benchmark{round}visible");
        if let Some(Node::Situation { children, .. }) = item.nodes.first_mut()
            && let Some(Node::Answer(leaf)) = children.first_mut()
        {
            leaf.answer = format!("{} {word}", leaf.answer);
        }
        store
            .write_drafts(&centre, std::slice::from_ref(&item), true)
            .await
            .map_err(anyhow::Error::from)?;
        let begin = Instant::now();
        store
            .publish(&centre, &item.code, None, |_| true)
            .await
            .map_err(anyhow::Error::from)?;
        for port in &ports {
            loop {
                let found = client
                    .get(format!("http://127.0.0.1:{port}/v1/search"))
                    .query(&[("q", word.as_str())])
                    .send()
                    .await?
                    .json::<serde_json::Value>()
                    .await
                    .map(|v| v["hits"].as_array().is_some_and(|h| !h.is_empty()))
                    .unwrap_or(false);
                if found {
                    break;
                }
                anyhow::ensure!(
                    begin.elapsed() < Duration::from_secs(30),
                    "edit {round} never became visible on port {port}"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        visible.push(begin.elapsed().as_secs_f64());
    }
    shutdown.cancel();
    for r in replicas {
        let _ = tokio::time::timeout(Duration::from_secs(20), r).await;
    }
    visible.sort_by(f64::total_cmp);

    println!();
    println!(
        "{:<62} {:>8} {:>10} {:>9} {:>9} {:>11}",
        "run", "queries", "queries/s", "p50 ms", "p99 ms", "CPU ms/query"
    );
    for r in &runs {
        println!(
            "{:<62} {:>8} {:>10.0} {:>9.3} {:>9.3} {:>11.3}",
            r.name, r.count, r.per_second, r.p50_ms, r.p99_ms, r.cpu_ms_per_item
        );
    }
    println!();
    println!(
        "index: {} leaves loaded in {load_secs:.2} s, about {index_mib:.0} MiB resident",
        args.leaves
    );
    println!(
        "ratio search / ILIKE baseline (queries/s): {:.1}",
        runs[0].per_second / runs[2].per_second.max(1e-9)
    );
    println!(
        "publish -> visible in both replicas' search: p50 {:.0} ms, max {:.0} ms over {} edits",
        percentile(&visible, 0.5) * 1000.0,
        visible.last().copied().unwrap_or_default() * 1000.0,
        visible.len()
    );
    Ok(())
}
