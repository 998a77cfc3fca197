//! Measures the search index at scale: build time for N leaves, memory, search and suggestion
//! latency (single thread and two threads), and how soon an edit becomes searchable.
//!
//! ```text
//! cargo run -p hotline-knowledge --release --example search_load -- 100000
//! ```
//!
//! The corpus is synthetic but shaped like the real one: items of five leaves, answers of
//! 150–300 characters drawn from hotline phrasing, a few hundred topics.

use std::time::{Duration, Instant};

use hotline_domain::{DeptCode, ItemCode, ServiceCode};
use hotline_knowledge::model::{Item, ItemClass, Leaf, Node};
use hotline_knowledge::search::{Filters, SearchIndex, SearchQuery};

const SUBJECTS: &[&str] = &[
    "公积金",
    "社保",
    "医保",
    "户籍",
    "居住证",
    "驾驶证",
    "噪声",
    "物业",
    "供水",
    "供电",
    "燃气",
    "公交",
    "地铁",
    "出租车",
    "学位",
    "入学",
    "低保",
    "养老",
    "就业",
    "失业",
    "工伤",
    "生育",
    "残疾",
    "退役军人",
    "税务",
    "发票",
    "营业执照",
    "食品安全",
    "消费维权",
    "房屋租赁",
    "不动产",
    "违章建筑",
    "占道经营",
    "绿化",
    "环境卫生",
    "垃圾分类",
    "停车",
    "交通违法",
    "人才引进",
    "积分入户",
    "新生儿",
    "婚姻登记",
    "出入境",
    "护照",
    "港澳通行证",
    "医疗救助",
    "临时救助",
    "高龄津贴",
    "电动自行车",
    "充电桩",
    "网约车",
    "共享单车",
    "学生资助",
    "职业技能培训",
    "创业补贴",
    "农民工工资",
    "劳动仲裁",
    "餐饮油烟",
    "装修噪音",
    "电梯故障",
    "小区停车",
    "水费",
    "电费",
    "燃气费",
    "宽带",
    "快递",
    "预付卡",
    "教育培训",
    "托育",
    "疫苗接种",
];
const SUFFIXES: &[&str] = &[
    "", "补贴", "证明", "备案", "资格", "服务", "费用", "政策", "待遇",
];
const VERBS: &[&str] = &[
    "办理", "申请", "查询", "变更", "注销", "补办", "投诉", "举报", "咨询", "缴纳", "提取", "认定",
    "审核", "备案", "登记", "续期", "转移", "报销",
];
const PLACES: &[&str] = &[
    "天河区",
    "越秀区",
    "海珠区",
    "荔湾区",
    "白云区",
    "黄埔区",
    "番禺区",
    "花都区",
    "南沙区",
    "从化区",
    "增城区",
];
const FILLER: &[&str] = &[
    "市民可通过广州市政务服务网在线申请",
    "需携带本人有效身份证件原件及复印件",
    "办理时限为受理之日起十五个工作日",
    "具体以主管部门最新公布的政策为准",
    "符合条件的可在各区政务服务中心窗口办理",
    "如有疑问可拨打12345政务服务便民热线咨询",
    "申请人应当如实提交有关材料并对其真实性负责",
    "逾期未办理的视为自动放弃",
    "委托他人办理的还需提供授权委托书和受托人身份证明",
    "审核通过后将通过短信通知申请人",
    "不符合条件的将书面告知理由",
    "相关费用按照物价部门核定的标准收取",
    "申请材料不齐全的一次性告知需要补正的全部内容",
    "可在粤省事小程序查询办理进度",
    "节假日期间窗口服务时间另行公告",
    "外地户籍人员需持有有效居住证",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next(from.len())]
    }
}

fn code(s: &str) -> ItemCode {
    ItemCode::parse(s).expect("valid code")
}

fn leaf(rng: &mut Rng, code_: String, topic: &str) -> Leaf {
    let verb = rng.pick(VERBS);
    let place = rng.pick(PLACES);
    let mut answer = format!("{place}{topic}{verb}：");
    while answer.chars().count() < 150 + rng.next(150) {
        answer.push_str(rng.pick(FILLER));
        answer.push('，');
        if rng.next(4) == 0 {
            answer.push_str(&format!("涉及{}的请另行咨询，", rng.pick(SUBJECTS)));
        }
    }
    answer.push('。');
    Leaf {
        code: code(&code_),
        title: format!("{topic}{verb}"),
        answer,
        legal_basis: format!("《广州市{topic}管理办法》第{}条", rng.next(40) + 1),
        departments: vec![DeptCode::parse(&format!("GZ-D{}", rng.next(60))).expect("dept")],
        procedure: "受理、审核、办结".into(),
        materials: vec!["身份证".into(), "申请表".into()],
        fees: String::new(),
        time_limit: "15个工作日".into(),
        contact: "12345".into(),
        effective_from: match rng.next(100) {
            0..10 => chrono::NaiveDate::from_ymd_opt(2024, 1, 1),
            10 => chrono::NaiveDate::from_ymd_opt(2027, 1, 1),
            _ => None,
        },
        expires_on: match rng.next(100) {
            0..2 => chrono::NaiveDate::from_ymd_opt(2025, 1, 1),
            2..5 => chrono::NaiveDate::from_ymd_opt(2028, 1, 1),
            _ => None,
        },
        keywords: vec![topic.to_owned(), verb.to_owned()],
        synonyms: vec![],
    }
}

fn corpus(items: usize) -> Vec<(Item, i64)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..items)
        .map(|i| {
            let topic = format!("{}{}", rng.pick(SUBJECTS), rng.pick(SUFFIXES));
            let c = format!("K{i}");
            let leaves: Vec<Node> = (0..5)
                .map(|j| Node::Answer(leaf(&mut rng, format!("K{i}-JD-{j}"), &topic)))
                .collect();
            let item = Item {
                code: code(&c),
                title: format!("{topic}业务"),
                class: ItemClass::ALL[i % 5],
                matter_code: ServiceCode::parse(&format!("{}.{:03}", i % 50, i % 997))
                    .expect("service"),
                owner: DeptCode::parse(&format!("GZ-D{}", i % 60)).expect("dept"),
                nodes: vec![Node::Situation {
                    code: code(&format!("{c}-TJ-1")),
                    label: format!("{}户籍", rng.pick(PLACES)),
                    children: leaves,
                }],
            };
            (item, 1)
        })
        .collect()
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p) as usize];
    format!(
        "p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

fn main() {
    let leaves: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let items = leaves / 5;
    let before = rss_mb();
    let t = Instant::now();
    let data = corpus(items);
    println!("generated {items} items in {:?}", t.elapsed());
    let after_data = rss_mb();

    let t = Instant::now();
    let index = SearchIndex::new().expect("index");
    println!(
        "index created (jieba dictionary loaded) in {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let applied = index.upsert_many(&data).expect("bulk load");
    println!(
        "bulk load: {applied} items, {} leaves in {:?}",
        index.len(),
        t.elapsed()
    );
    println!(
        "RSS: {before:.0} MB at start, {after_data:.0} MB with the corpus, {:.0} MB with the index",
        rss_mb()
    );

    let mut rng = Rng(42);
    let queries: Vec<String> = (0..2_000)
        .map(|i| match i % 4 {
            0 => rng.pick(SUBJECTS).to_owned(),
            1 => format!("{}{}", rng.pick(SUBJECTS), rng.pick(VERBS)),
            2 => format!("请问{}怎么{}？", rng.pick(SUBJECTS), rng.pick(VERBS)),
            _ => format!(
                "{}{}{}需要什么材料",
                rng.pick(PLACES),
                rng.pick(SUBJECTS),
                rng.pick(VERBS)
            ),
        })
        .collect();
    let filters = Filters {
        in_force_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 30),
        ..Filters::default()
    };
    let query = |q: &str| SearchQuery {
        q: q.to_owned(),
        filters: filters.clone(),
        limit: 10,
        offset: 0,
        highlight: true,
    };
    // Warm up.
    for q in queries.iter().take(200) {
        index.search(&query(q)).expect("search");
    }
    let mut lat = Vec::new();
    let mut totals = 0usize;
    let t = Instant::now();
    for q in &queries {
        let s = Instant::now();
        let r = index.search(&query(q)).expect("search");
        lat.push(s.elapsed());
        totals += r.total;
    }
    let el = t.elapsed();
    println!(
        "search, 1 thread: {:.0} q/s, {}  (mean total hits {})",
        queries.len() as f64 / el.as_secs_f64(),
        percentiles(lat),
        totals / queries.len()
    );

    let t = Instant::now();
    let lats: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|k| {
                let index = index.clone();
                let queries = &queries;
                let query = &query;
                s.spawn(move || {
                    let mut lat = Vec::new();
                    for q in queries
                        .iter()
                        .skip(k)
                        .step_by(2)
                        .cycle()
                        .take(queries.len())
                    {
                        let s = Instant::now();
                        index.search(&query(q)).expect("search");
                        lat.push(s.elapsed());
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let n = lats.len();
    println!(
        "search, 2 threads: {:.0} q/s, {}",
        n as f64 / t.elapsed().as_secs_f64(),
        percentiles(lats)
    );

    // Ticket texts of about 300 characters.
    let tickets: Vec<String> = (0..300)
        .map(|_| {
            let subject = rng.pick(SUBJECTS);
            let mut text = format!(
                "市民来电反映，本人户籍在{}，想咨询{}{}的相关问题。",
                rng.pick(PLACES),
                subject,
                rng.pick(VERBS)
            );
            while text.chars().count() < 300 {
                text.push_str(match rng.next(6) {
                    0 => "市民表示之前已经在网上查询过，但说法不一，不知道以哪个为准。",
                    1 => "希望工作人员能够详细解答办理条件、所需材料和办理时限。",
                    2 => "市民情绪比较着急，要求尽快回复处理结果。",
                    3 => "另外市民还想了解是否可以委托家人代为办理。",
                    4 => "市民称多次拨打相关部门电话均无人接听。",
                    _ => subject,
                });
            }
            text
        })
        .collect();
    for t in tickets.iter().take(30) {
        index.suggest(t, 5, &filters).expect("suggest");
    }
    let mut lat = Vec::new();
    for t in &tickets {
        let s = Instant::now();
        let hits = index.suggest(t, 5, &filters).expect("suggest");
        lat.push(s.elapsed());
        assert!(!hits.is_empty());
    }
    println!("suggest (300 chars, k=5): {}", percentiles(lat));

    // A long query is refused at once.
    let huge = "参保".repeat(50_000);
    let s = Instant::now();
    let err = index.search(&query(&huge)).expect_err("too long");
    println!("100 KB query: {err} in {:?}", s.elapsed());

    // Edit visibility through the background committer (the default 200 ms interval).
    let mut lat = Vec::new();
    for v in 2..12 {
        let (mut item, _) = data[(v as usize * 37) % data.len()].clone();
        let marker = format!("特殊标记{}号", 1000 + v);
        if let Node::Situation { children, .. } = &mut item.nodes[0]
            && let Some(Node::Answer(l)) = children.first_mut()
        {
            l.title = marker.clone();
            l.effective_from = None;
            l.expires_on = None;
        }
        let s = Instant::now();
        assert!(index.upsert(&item, v).expect("upsert"));
        loop {
            let r = index.search(&query(&marker)).expect("search");
            if r.hits.first().is_some_and(|h| h.title == marker) {
                break;
            }
            if s.elapsed() > Duration::from_secs(5) {
                let titles: Vec<&str> = r.hits.iter().map(|h| h.title.as_str()).collect();
                panic!("{marker} not found after 5 s: {titles:?}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        lat.push(s.elapsed());
        std::thread::sleep(Duration::from_millis(rng.next(200) as u64));
    }
    println!("edit visible after: {}", percentiles(lat));
    let s = Instant::now();
    for v in 20..220 {
        let (item, _) = &data[v as usize % data.len()];
        index.upsert(item, v).expect("upsert");
    }
    let staged = s.elapsed();
    index.commit().expect("commit");
    println!(
        "200 edits staged in {staged:?}, committed after {:?}; RSS {:.0} MB",
        s.elapsed(),
        rss_mb()
    );
}
