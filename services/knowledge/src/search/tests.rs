use std::time::{Duration, Instant};

use chrono::NaiveDate;
use hotline_domain::{DeptCode, ItemCode, ServiceCode};

use super::*;
use crate::model::tests::{code, leaf, sample};
use crate::model::{Item, ItemClass, Leaf, Node};

fn dept(s: &str) -> DeptCode {
    DeptCode::parse(s).expect("valid dept")
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// An index that commits in every call, so that tests see their changes at once.
fn index() -> SearchIndex {
    SearchIndex::with_options(SearchOptions {
        commit_interval: None,
        ..SearchOptions::default()
    })
    .expect("index")
}

fn item(code_: &str, title: &str, class: ItemClass, owner: &str, leaves: Vec<Leaf>) -> Item {
    Item {
        code: code(code_),
        title: title.into(),
        class,
        matter_code: ServiceCode::parse("99.01.001").expect("valid"),
        owner: dept(owner),
        nodes: vec![Node::Situation {
            code: code(&format!("{code_}-TJ-1")),
            label: format!("{title}情形"),
            children: leaves.into_iter().map(Node::Answer).collect(),
        }],
    }
}

/// The sample tree plus a few unrelated items, so that IDF means something.
fn corpus() -> Vec<(Item, i64)> {
    let mut sb = leaf(
        "SB-JD-1",
        "补办卡片",
        "社会保障卡遗失后，可携带居民身份证到银行网点挂失并补办。",
    );
    sb.departments = vec![dept("GZ-RS")];
    let mut sb2 = leaf(
        "SB-JD-2",
        "养老保险缴费",
        "灵活就业人员可以按月或按年缴纳基本养老保险费。",
    );
    sb2.keywords = vec!["灵活就业".into()];
    let mut gjj = leaf(
        "GJJ-JD-1",
        "租房提取",
        "无自有住房的职工可以提取住房公积金支付房租，每月可提取一次。",
    );
    gjj.departments = vec![dept("GZ-GJJ")];
    let mut noise = leaf(
        "CG-JD-1",
        "施工噪音",
        "夜间施工噪声扰民可向城市管理部门投诉，22时至次日6时禁止施工。",
    );
    noise.departments = vec![dept("GZ-CG"), dept("GZ-TH")];
    let mut old = leaf(
        "CG-JD-2",
        "旧版占道经营规定",
        "占道经营由城市管理部门查处。",
    );
    old.expires_on = Some(day(2024, 1, 1));
    let mut new = leaf(
        "CG-JD-3",
        "新版占道经营规定",
        "占道经营由街道综合执法队查处。",
    );
    new.effective_from = Some(day(2024, 1, 1));
    vec![
        (sample(), 1),
        (
            item(
                "SB",
                "社保卡业务",
                ItemClass::Consultation,
                "GZ-RS",
                vec![sb, sb2],
            ),
            1,
        ),
        (
            item(
                "GJJ",
                "公积金提取",
                ItemClass::Consultation,
                "GZ-GJJ",
                vec![gjj],
            ),
            1,
        ),
        (
            item(
                "CG",
                "城市管理投诉",
                ItemClass::Appeal,
                "GZ-CG",
                vec![noise, old, new],
            ),
            1,
        ),
    ]
}

fn loaded() -> SearchIndex {
    let idx = index();
    assert_eq!(idx.upsert_many(&corpus()).expect("load"), 4);
    idx
}

fn codes(hits: &[Hit]) -> Vec<String> {
    hits.iter().map(|h| h.code.to_string()).collect()
}

fn find(idx: &SearchIndex, q: &str) -> Vec<String> {
    codes(&idx.search(&SearchQuery::new(q)).expect("search").hits)
}

fn find_with(idx: &SearchIndex, q: &str, filters: Filters) -> Vec<String> {
    let mut query = SearchQuery::new(q);
    query.filters = filters;
    codes(&idx.search(&query).expect("search").hits)
}

#[test]
fn chinese_queries_find_the_right_leaf() {
    let idx = loaded();
    assert_eq!(idx.len(), 8);
    let hits = find(&idx, "新生儿参保");
    assert!(
        hits.first()
            .is_some_and(|c| c == "YB-JD-11" || c == "YB-JD-10"),
        "{hits:?}"
    );
    assert_eq!(
        find(&idx, "中途参保").first().map(String::as_str),
        Some("YB-JD-11")
    );
    assert_eq!(
        find(&idx, "租房怎么提取公积金？")
            .first()
            .map(String::as_str),
        Some("GJJ-JD-1")
    );
    assert_eq!(
        find(&idx, "灵活就业").first().map(String::as_str),
        Some("SB-JD-2")
    );
    // Situation labels are searchable: 本市户籍 is only on the path.
    let hits = find(&idx, "本市户籍");
    assert!(hits.contains(&"YB-JD-10".to_owned()), "{hits:?}");
    let full = idx.search(&SearchQuery::new("中途参保")).expect("search");
    let top = &full.hits[0];
    assert_eq!(top.item.as_str(), "YB");
    assert_eq!(top.item_title, "医保业务");
    assert_eq!(top.class, ItemClass::Consultation);
    assert_eq!(
        top.path,
        vec!["婴幼儿", "本市户籍", "未参加城乡居民（含大病）医保"]
    );
    assert!(top.score > 0.0);
    assert_eq!(
        top.departments,
        vec![dept("GZ-RS")],
        "the owner when the leaf names none"
    );
    assert!(full.total >= 2);
}

#[test]
fn synonyms_bridge_what_citizens_say_and_what_answers_say() {
    let idx = loaded();
    // The answer says 社会保障卡; the citizen says 社保卡.
    assert_eq!(
        find(&idx, "社保卡丢了").first().map(String::as_str),
        Some("SB-JD-1")
    );
    // 噪音 / 噪声.
    assert_eq!(
        find(&idx, "噪音").first().map(String::as_str),
        Some("CG-JD-1")
    );
    // 婴儿 is only a synonym of 婴幼儿 / 新生儿 in the sample tree.
    let hits = find(&idx, "婴儿");
    assert!(
        hits.first().is_some_and(|c| c.starts_with("YB-JD-")),
        "{hits:?}"
    );
    // A custom table replaces the default; a term the dictionary does not know works too.
    assert_eq!(
        idx.set_synonyms(vec![vec!["摆摊".into(), "占道经营".into()]]),
        1
    );
    let hits = find(&idx, "摆摊");
    assert!(hits.contains(&"CG-JD-3".to_owned()), "{hits:?}");
    assert!(find(&idx, "婴儿").is_empty(), "default table replaced");
    // A leaf's own synonyms are indexed with it.
    let mut l = leaf("ZZ-JD-1", "居住登记", "来穗人员办理居住登记。");
    l.synonyms = vec!["来穗登记".into()];
    idx.upsert(
        &item("ZZ", "居住证", ItemClass::Guidance, "GZ-GA", vec![l]),
        1,
    )
    .expect("upsert");
    assert_eq!(
        find(&idx, "来穗登记").first().map(String::as_str),
        Some("ZZ-JD-1")
    );
}

#[test]
fn filters_exclude_at_query_level() {
    let idx = loaded();
    let appeal = Filters {
        class: Some(ItemClass::Appeal),
        ..Filters::default()
    };
    assert!(find_with(&idx, "参保", appeal.clone()).is_empty());
    let hits = find_with(&idx, "城市管理 参保 公积金", appeal);
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(hits.iter().all(|c| c.starts_with("CG-")), "{hits:?}");

    // Department: a leaf's own department, or the item's owner.
    let th = Filters {
        department: Some(dept("GZ-TH")),
        ..Filters::default()
    };
    assert_eq!(find_with(&idx, "噪声 占道经营", th), vec!["CG-JD-1"]);
    let owner = Filters {
        department: Some(dept("GZ-CG")),
        ..Filters::default()
    };
    assert_eq!(find_with(&idx, "占道经营", owner).len(), 2);
    let rs = Filters {
        department: Some(dept("GZ-RS")),
        ..Filters::default()
    };
    let hits = find_with(&idx, "参保 社会保障卡 公积金", rs);
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|c| c.starts_with("YB") || c.starts_with("SB")),
        "{hits:?}"
    );

    // In force on a day: the old rule before 2024, the new one from 2024.
    let on = |d| Filters {
        in_force_on: Some(d),
        ..Filters::default()
    };
    assert_eq!(
        find_with(&idx, "占道经营", on(day(2023, 12, 31))),
        vec!["CG-JD-2"]
    );
    assert_eq!(
        find_with(&idx, "占道经营", on(day(2024, 1, 1))),
        vec!["CG-JD-3"]
    );
    assert_eq!(find(&idx, "占道经营").len(), 2);
    let mut counted = SearchQuery::new("占道经营");
    counted.filters = on(day(2023, 12, 31));
    assert_eq!(
        idx.search(&counted).map(|r| r.total),
        Ok(1),
        "total obeys the date too"
    );

    let only_gjj = Filters {
        item: Some(code("GJJ")),
        ..Filters::default()
    };
    assert_eq!(
        find_with(&idx, "提取 参保 噪声", only_gjj),
        vec!["GJJ-JD-1"]
    );

    // Filters combine; a filter with no match gives no hits, not an error.
    let none = Filters {
        class: Some(ItemClass::Incident),
        department: Some(dept("GZ-CG")),
        ..Filters::default()
    };
    assert!(find_with(&idx, "噪声", none).is_empty());
}

#[test]
fn a_newer_version_replaces_the_leaves_and_an_older_one_is_ignored() {
    let idx = loaded();
    assert_eq!(idx.version_of(&code("YB")), Some(1));
    let mut v2 = sample();
    if let Node::Situation { children, .. } = &mut v2.nodes[0] {
        *children = vec![Node::Answer(leaf(
            "YB-JD-20",
            "异地就医备案",
            "异地就医需先办理备案手续。",
        ))];
    }
    assert!(idx.upsert(&v2, 2).expect("upsert"));
    assert_eq!(idx.version_of(&code("YB")), Some(2));
    assert_eq!(
        find(&idx, "异地就医").first().map(String::as_str),
        Some("YB-JD-20")
    );
    let hits = find(&idx, "中途参保");
    assert!(!hits.iter().any(|c| c.starts_with("YB-JD-1")), "{hits:?}");
    assert_eq!(idx.len(), 7);

    // A replayed old event changes nothing.
    assert!(!idx.upsert(&sample(), 1).expect("upsert"));
    assert!(!idx.upsert(&v2, 2).expect("upsert"));
    assert_eq!(idx.version_of(&code("YB")), Some(2));
    assert!(
        find(&idx, "中途参保")
            .iter()
            .all(|c| !c.starts_with("YB-JD-1"))
    );
    assert_eq!(idx.len(), 7);

    // Bulk load ignores stale entries too.
    assert_eq!(idx.upsert_many(&[(sample(), 1)]).expect("bulk"), 0);
    assert_eq!(idx.len(), 7);
}

#[test]
fn remove_takes_an_item_out_and_keeps_it_out() {
    let idx = loaded();
    assert!(
        !idx.remove(&code("GJJ"), 0).expect("remove"),
        "older than held"
    );
    assert!(idx.remove(&code("GJJ"), 2).expect("remove"));
    assert!(find(&idx, "公积金").iter().all(|c| !c.starts_with("GJJ")));
    assert_eq!(idx.version_of(&code("GJJ")), None);
    assert_eq!(idx.len(), 7);
    // A replayed remove, and a replayed publish of an older version, change nothing.
    assert!(!idx.remove(&code("GJJ"), 2).expect("remove"));
    let (gjj, _) = corpus().swap_remove(2);
    assert!(!idx.upsert(&gjj, 1).expect("upsert"));
    assert!(!idx.upsert(&gjj, 2).expect("upsert"));
    assert_eq!(idx.len(), 7);
    // Republishing at a newer version brings it back.
    assert!(idx.upsert(&gjj, 3).expect("upsert"));
    assert_eq!(
        find(&idx, "租房提取").first().map(String::as_str),
        Some("GJJ-JD-1")
    );
    // Removing what was never there is not an error.
    assert!(!idx.remove(&code("NOPE"), 1).expect("remove"));
}

#[test]
fn hostile_queries_get_typed_errors_or_plain_results() {
    let idx = loaded();
    for q in [
        "title:\"",
        "AND OR ((",
        "\"unbalanced",
        "*:*",
        "参保 AND",
        "~!@#$%^&*()_+{}|:<>?",
        "a:b:c",
    ] {
        match idx.search(&SearchQuery::new(q)) {
            Ok(_) | Err(SearchError::EmptyQuery) => {}
            Err(e) => panic!("{q}: {e}"),
        }
    }
    assert_eq!(
        idx.search(&SearchQuery::new("参保 AND ((("))
            .map(|r| r.hits.is_empty()),
        Ok(false)
    );
    let huge = "参保".repeat(50_000);
    let started = Instant::now();
    assert_eq!(
        idx.search(&SearchQuery::new(huge.clone())),
        Err(SearchError::QueryTooLong {
            max: MAX_QUERY_CHARS
        })
    );
    assert_eq!(
        idx.suggest(&huge, 5, &Filters::default()),
        Err(SearchError::QueryTooLong {
            max: MAX_SUGGEST_CHARS
        })
    );
    assert!(started.elapsed() < Duration::from_millis(50));
    assert_eq!(
        idx.search(&SearchQuery::new("")),
        Err(SearchError::EmptyQuery)
    );
    assert_eq!(
        idx.search(&SearchQuery::new("  \t\n")),
        Err(SearchError::EmptyQuery)
    );
    assert_eq!(
        idx.search(&SearchQuery::new("？！，。、")),
        Err(SearchError::EmptyQuery)
    );
    assert_eq!(
        idx.search(&SearchQuery::new("的了吗")),
        Err(SearchError::EmptyQuery)
    );
    // Many distinct words within the length limit.
    let many: String = (0..60).map(|i| format!("{i},")).collect();
    assert!(many.chars().count() <= MAX_QUERY_CHARS);
    assert_eq!(
        idx.search(&SearchQuery::new(many)),
        Err(SearchError::TooManyTerms {
            max: MAX_QUERY_TERMS
        })
    );
    let mut deep = SearchQuery::new("参保");
    deep.offset = MAX_WINDOW;
    assert_eq!(
        idx.search(&deep),
        Err(SearchError::PageTooDeep { max: MAX_WINDOW })
    );
    assert!(SearchError::EmptyQuery.is_caller_error());
    assert!(!SearchError::Index("x".into()).is_caller_error());
    // A lone character is still searched when it is all there is.
    assert!(idx.search(&SearchQuery::new("卡")).is_ok());
}

#[test]
fn paging_and_counting() {
    let idx = loaded();
    let all = idx
        .search(&SearchQuery::new("城市管理 占道经营 噪声"))
        .expect("search");
    assert_eq!(all.total, 3);
    let mut page = SearchQuery::new("城市管理 占道经营 噪声");
    page.limit = 1;
    page.offset = 1;
    let second = idx.search(&page).expect("search");
    assert_eq!(second.total, 3);
    assert_eq!(codes(&second.hits), vec![all.hits[1].code.to_string()]);
    page.limit = 0;
    let counted = idx.search(&page).expect("search");
    assert_eq!((counted.total, counted.hits.len()), (3, 0));
    let json = serde_json::to_value(&all).expect("json");
    assert_eq!(
        json["hits"][0]["code"],
        serde_json::json!(all.hits[0].code.as_str())
    );
    assert!(json["hits"][0]["score"].is_number());
    assert!(json["hits"][0]["title"].is_string());
}

#[test]
fn highlighting_wraps_matches_and_escapes_html() {
    let idx = index();
    let l = leaf(
        "XSS-JD-1",
        "参保<b>提示</b>",
        "<script>alert('x')</script>新生儿出生后可以参保，详见说明 & 附件。",
    );
    idx.upsert(
        &item("XSS", "测试", ItemClass::Guidance, "GZ-RS", vec![l]),
        1,
    )
    .expect("upsert");
    let res = idx.search(&SearchQuery::new("参保")).expect("search");
    let hit = &res.hits[0];
    let snippet = hit.snippet.as_deref().expect("snippet");
    assert!(snippet.contains("<em>参保</em>"), "{snippet}");
    assert!(snippet.contains("&lt;script&gt;"), "{snippet}");
    assert!(!snippet.contains("<script>"), "{snippet}");
    assert!(snippet.contains("&amp;"), "{snippet}");
    assert_eq!(
        hit.title_highlighted.as_deref(),
        Some("<em>参保</em>&lt;b&gt;提示&lt;/b&gt;")
    );
    // Synonyms are highlighted too.
    let res = idx.search(&SearchQuery::new("婴儿")).expect("search");
    let snippet = res.hits[0].snippet.as_deref().expect("snippet");
    assert!(snippet.contains("<em>新生儿</em>"), "{snippet}");
    // No highlighting unless asked.
    let mut plain = SearchQuery::new("参保");
    plain.highlight = false;
    let res = idx.search(&plain).expect("search");
    assert_eq!(res.hits[0].snippet, None);
    assert_eq!(res.hits[0].title_highlighted, None);
}

#[test]
fn suggest_finds_the_answer_for_a_ticket_text() {
    let idx = loaded();
    idx.upsert_many(&generated(0, 300)).expect("bulk");
    let ticket = "市民来电反映：本人是外地来穗务工人员，目前在天河区租房居住，没有自己的住房，\
        每个月房租负担比较重。听同事说住房公积金可以用来支付房租，想咨询一下租房提取公积金需要满足什么条件，\
        每个月能提取几次，需要准备哪些材料，是否可以在网上直接办理，还是必须到公积金管理中心的窗口现场办理。\
        另外，市民表示自己公积金账户是去年开始缴存的，缴存时间不长，担心不符合提取条件，\
        希望工作人员能够详细解答，并告知办理的具体流程和办理时限。市民还提到，之前曾经拨打过公积金中心的电话，\
        但一直占线没有打通，也在网上搜索过相关信息，但说法不一，不知道以哪个为准，所以来电咨询12345热线。\
        市民情绪平稳，要求尽快回复，谢谢。";
    assert!(ticket.chars().count() >= 290, "{}", ticket.chars().count());
    let hits = idx
        .suggest(ticket, 5, &Filters::default())
        .expect("suggest");
    assert!(hits.len() <= 5 && !hits.is_empty());
    let top3: Vec<String> = codes(&hits[..hits.len().min(3)]);
    assert!(top3.contains(&"GJJ-JD-1".to_owned()), "{top3:?}");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(
        hits[0]
            .snippet
            .as_deref()
            .is_some_and(|s| s.contains("<em>"))
    );

    let ticket = "来电人称家里刚生了小孩，孩子是本市户籍，还没有参加城乡居民医保，想给新生儿办理参保，问怎么办理，需要什么材料。";
    let hits = idx
        .suggest(ticket, 3, &Filters::default())
        .expect("suggest");
    let top: Vec<String> = codes(&hits);
    assert!(
        top.contains(&"YB-JD-11".to_owned()) || top.contains(&"YB-JD-10".to_owned()),
        "{top:?}"
    );
    // Filters apply to suggestions too.
    let appeal = Filters {
        class: Some(ItemClass::Appeal),
        ..Filters::default()
    };
    let hits = idx.suggest(ticket, 3, &appeal).expect("suggest");
    assert!(hits.iter().all(|h| h.class == ItemClass::Appeal));
    assert_eq!(
        idx.suggest("，。！", 3, &Filters::default()),
        Err(SearchError::EmptyQuery)
    );
    assert_eq!(idx.suggest(ticket, 0, &Filters::default()), Ok(Vec::new()));
}

#[test]
fn the_background_committer_makes_edits_visible_within_a_second() {
    let idx = SearchIndex::new().expect("index");
    let started = Instant::now();
    assert!(idx.upsert(&sample(), 1).expect("upsert"));
    assert_eq!(
        idx.version_of(&code("YB")),
        Some(1),
        "versions are tracked at once"
    );
    loop {
        if find(&idx, "中途参保").first().map(String::as_str) == Some("YB-JD-11") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not visible after 1 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // An explicit commit is immediate.
    let mut v2 = sample();
    v2.title = "医保业务（新）".into();
    assert!(idx.upsert(&v2, 2).expect("upsert"));
    idx.commit().expect("commit");
    let hits = idx
        .search(&SearchQuery::new("中途参保"))
        .expect("search")
        .hits;
    assert_eq!(hits[0].item_title, "医保业务（新）");
    assert_eq!(idx.len(), 2);
}

#[test]
fn searches_run_concurrently_with_edits() {
    let idx = loaded();
    std::thread::scope(|s| {
        for _ in 0..3 {
            let idx = idx.clone();
            s.spawn(move || {
                for _ in 0..100 {
                    let res = idx.search(&SearchQuery::new("公积金提取")).expect("search");
                    assert!(res.hits.iter().any(|h| h.code.as_str() == "GJJ-JD-1"));
                }
            });
        }
        let idx = idx.clone();
        s.spawn(move || {
            for v in 2..30 {
                let mut yb = sample();
                yb.title = format!("医保业务{v}");
                assert!(idx.upsert(&yb, v).expect("upsert"));
            }
        });
    });
    assert_eq!(idx.version_of(&code("YB")), Some(29));
    assert_eq!(idx.len(), 8);
}

#[test]
fn a_few_thousand_generated_leaves_build_and_search_quickly() {
    let idx = index();
    let items = generated(0, 400);
    let leaves: usize = items.iter().map(|(i, _)| i.leaves().len()).sum();
    let started = Instant::now();
    assert_eq!(idx.upsert_many(&items).expect("bulk"), 400);
    let build = started.elapsed();
    assert_eq!(idx.len(), leaves);
    // A query matching every leaf: counted exactly or estimated, never far off.
    let broad = idx
        .search(&SearchQuery::new("咨询 办理 申请 政务服务"))
        .expect("search");
    let off = broad.total.abs_diff(leaves);
    assert!(off * 10 <= leaves, "{} of {leaves}", broad.total);
    if broad.total_exact {
        assert_eq!(broad.total, leaves);
    }
    // The estimate beyond the exact budget.
    let words = text::query_words(&text::normalize("咨询"));
    let analyzed = idx.analyze_query("咨询", &words);
    let query = idx.build_query(&analyzed, &Filters::default(), Dates::InQuery);
    let searcher = read(&idx.inner.view).searcher.clone();
    let (exact, is_exact) = count_matches(&searcher, &query, usize::MAX).expect("count");
    assert_eq!((exact, is_exact), (leaves, true));
    let (estimate, is_exact) = count_matches(&searcher, &query, 100).expect("count");
    assert!(!is_exact);
    assert!(
        estimate.abs_diff(leaves) * 10 <= leaves,
        "{estimate} of {leaves}"
    );
    let queries = [
        "公积金提取",
        "社保卡补办",
        "噪音投诉",
        "新生儿医保",
        "居住证办理条件",
        "占道经营",
    ];
    let started = Instant::now();
    let mut total = 0;
    for _ in 0..20 {
        for q in queries {
            total += idx.search(&SearchQuery::new(q)).expect("search").hits.len();
        }
    }
    let per_query = started.elapsed() / (20 * queries.len() as u32);
    assert!(total > 0);
    println!("{leaves} leaves built in {build:?}; {per_query:?} per search");
}

/// Deterministic synthetic items: `n` items of 5 leaves each, texts drawn from hotline
/// vocabulary, so that queries have realistic document frequencies.
pub(super) fn generated(first: usize, n: usize) -> Vec<(Item, i64)> {
    const TOPICS: &[&str] = &[
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
    ];
    const VERBS: &[&str] = &[
        "办理", "申请", "查询", "变更", "注销", "补办", "投诉", "举报", "咨询", "缴纳", "提取",
        "认定", "审核", "备案", "登记",
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
    ];
    let classes = ItemClass::ALL;
    let mut out = Vec::with_capacity(n);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15 ^ first as u64;
    let mut next = |m: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % m as u64) as usize
    };
    for i in first..first + n {
        let topic = TOPICS[i % TOPICS.len()];
        let item_code = format!("G{i}");
        let mut leaves = Vec::new();
        for j in 0..5 {
            let verb = VERBS[next(VERBS.len())];
            let other = TOPICS[next(TOPICS.len())];
            let mut answer = format!("关于{topic}{verb}：");
            for _ in 0..4 {
                answer.push_str(FILLER[next(FILLER.len())]);
                answer.push('，');
            }
            answer.push_str(&format!("涉及{other}的问题请另行咨询。"));
            let mut l = leaf(&format!("G{i}-JD-{j}"), &format!("{topic}{verb}"), &answer);
            l.departments = vec![dept(&format!("GZ-D{}", i % 30))];
            l.keywords = vec![topic.to_owned(), verb.to_owned()];
            l.legal_basis = format!("《广州市{topic}管理办法》第{}条", j + 3);
            leaves.push(l);
        }
        let mut it = item(
            &item_code,
            &format!("{topic}业务{i}"),
            classes[i % classes.len()],
            &format!("GZ-D{}", i % 30),
            leaves,
        );
        it.matter_code = ServiceCode::parse(&format!("{}.{:02}.{:03}", i % 20 + 1, i % 7, i % 997))
            .expect("valid");
        out.push((it, 1));
    }
    out
}

#[test]
fn item_codes_in_generated_corpus_are_valid() {
    for (item, _) in generated(0, 3) {
        assert_eq!(item.check(), Ok(()));
        assert!(ItemCode::parse(item.code.as_str()).is_ok());
    }
}
