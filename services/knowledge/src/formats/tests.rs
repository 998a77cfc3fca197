//! Tests of import and export: round trips (unit and property), every kind of bad input, and
//! the demo data in `deploy/seed/knowledge/`.

use chrono::NaiveDate;
use hotline_domain::{DeptCode, ItemCode, ServiceCode};
use proptest::prelude::*;

use super::*;
use crate::model::tests::{code, leaf, sample};
use crate::model::{ItemClass, Leaf, MAX_DEPTH, ModelError, Node};

fn round_trip(format: Format, items: &[Item]) -> Vec<Item> {
    let bytes = export(format, items).expect("export");
    import(format, &bytes).unwrap_or_else(|e| {
        panic!(
            "{format:?} import of its own export failed: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// A leaf with every field set to awkward text.
fn full_leaf(c: &str) -> Leaf {
    Leaf {
        code: code(c),
        title: " 缴费标准 \"2026\" <新> & 旧 ".into(),
        answer: "第一行：以当年公布的标准为准。\n第二行, 含逗号; 分号；全角\r\n第三行\t制表 &amp; <b>不是标签</b>\n\n"
            .into(),
        legal_basis: "《社会保险法》第二十三条, \"引号\"".into(),
        departments: vec![
            DeptCode::parse("GZ-YB").expect("dept"),
            DeptCode::parse("GZ-RS").expect("dept"),
        ],
        procedure: "1. 网上办理\n2. 窗口办理".into(),
        materials: vec!["户口簿".into(), "身份证; 复印件".into(), String::new(), " 前后空格 ".into()],
        fees: "不收费".into(),
        time_limit: "即时办结".into(),
        contact: "12345".into(),
        effective_from: NaiveDate::from_ymd_opt(2026, 1, 1),
        expires_on: NaiveDate::from_ymd_opt(2027, 1, 1),
        keywords: vec!["[医保]".into(), "参保".into()],
        synonyms: vec!["社保卡".into()],
    }
}

fn full_item() -> Item {
    let mut item = sample();
    if let Node::Situation { children, .. } = &mut item.nodes[0] {
        children.push(Node::Answer(full_leaf("YB-JD-50")));
    }
    item.nodes
        .push(Node::Answer(leaf("YB-JD-51", "直接答案", "无需选择情形。")));
    item
}

fn other_item() -> Item {
    Item {
        code: code("KB-15-01-004"),
        title: "城镇居民医疗保险".into(),
        class: ItemClass::Guidance,
        matter_code: ServiceCode::parse("15.01.004").expect("service"),
        owner: DeptCode::parse("GZ-RS").expect("dept"),
        nodes: vec![Node::Answer(leaf(
            "KB-15-01-004-1",
            "指引",
            "请联系医保部门。",
        ))],
    }
}

#[test]
fn every_format_round_trips_a_full_item_and_several_items() {
    for format in Format::ALL {
        assert_eq!(
            round_trip(format, &[full_item()]),
            vec![full_item()],
            "{format:?}"
        );
        let two = vec![full_item(), other_item()];
        assert_eq!(round_trip(format, &two), two, "{format:?}");
        assert_eq!(round_trip(format, &[]), Vec::<Item>::new(), "{format:?}");
    }
}

#[test]
fn export_refuses_what_would_not_import_again() {
    let mut bad = sample();
    bad.nodes.push(Node::Situation {
        code: code("YB-TJ-99"),
        label: "空".into(),
        children: vec![],
    });
    for format in Format::ALL {
        assert!(matches!(
            export(format, &[bad.clone()]),
            Err(ExportError::Model(ModelError::EmptySituation(_)))
        ));
        assert!(matches!(
            export(format, &[sample(), sample()]),
            Err(ExportError::Model(ModelError::DuplicateCode(_)))
        ));
    }
    // Control characters are refused by the model itself (the domain's text rule), so no
    // format writes them and none reads them back in, CSV included (which could carry them).
    let mut control = sample();
    control
        .nodes
        .push(Node::Answer(leaf("YB-JD-60", "控制字符", "a\u{1}b")));
    for format in Format::ALL {
        assert!(matches!(
            export(format, &[control.clone()]),
            Err(ExportError::Model(ModelError::ControlCharacter {
                field: "answer",
                char: 1,
                ..
            }))
        ));
    }
    let csv = String::from_utf8(export(Format::Csv, &[sample()]).expect("csv"))
        .expect("utf-8")
        .replacen("\n", "\n\0", 2);
    assert!(
        import(Format::Csv, csv.as_bytes()).is_err(),
        "a NUL in a cell is refused"
    );
}

#[test]
fn format_names_extensions_and_content_types() {
    assert_eq!(Format::from_name("mm"), Some(Format::FreeMind));
    assert_eq!(Format::from_name("FreeMind"), Some(Format::FreeMind));
    assert_eq!(Format::from_name(".opml"), Some(Format::Opml));
    assert_eq!(Format::from_name("CSV"), Some(Format::Csv));
    assert_eq!(Format::from_name("xlsx"), None);
    assert_eq!(
        Format::from_file_name("医保业务.mm"),
        Some(Format::FreeMind)
    );
    assert_eq!(Format::from_file_name("a/b.tar.csv"), Some(Format::Csv));
    assert_eq!(Format::from_file_name("README"), None);
    assert_eq!(
        Format::from_content_type("text/csv; charset=utf-8"),
        Some(Format::Csv)
    );
    assert_eq!(Format::from_content_type("text/x-opml"), Some(Format::Opml));
    assert_eq!(Format::from_content_type("application/xml"), None);
    for format in Format::ALL {
        assert_eq!(
            Format::from_content_type(format.content_type()),
            Some(format)
        );
        assert_eq!(Format::from_name(format.extension()), Some(format));
        assert_eq!(Format::from_name(format.name()), Some(format));
    }
}

#[test]
fn lists_are_plain_when_they_can_be_and_json_otherwise() {
    assert_eq!(
        encode_list(&["户口簿", "出生医学证明"]),
        "户口簿;出生医学证明"
    );
    assert_eq!(encode_list::<&str>(&[]), "");
    assert_eq!(encode_list(&["a;b"]), r#"["a;b"]"#);
    assert_eq!(encode_list(&[""]), r#"[""]"#);
    assert_eq!(encode_list(&["[x"]), r#"["[x"]"#);
    assert_eq!(encode_list(&["x", "[y"]), "x;[y");
    assert_eq!(
        decode_list(1, "m", " 户口簿；出生医学证明 ; ;身份证").expect("plain"),
        vec!["户口簿", "出生医学证明", "身份证"]
    );
    assert_eq!(
        decode_list(1, "m", r#"["a;b", ""]"#).expect("json"),
        vec!["a;b", ""]
    );
    assert!(matches!(
        decode_list(1, "m", "[unclosed"),
        Err(ImportError::BadList { .. })
    ));
}

// ---- property test -------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        r#"[a-zA-Z0-9 医保参缴费户籍婴幼儿情形\n\r\t<>&"',;；=+@#%/\\（）、。“”😀\[\]{}\u{a0}\u{2028}-]{0,24}"#,
    )
    .expect("regex")
}

fn nonblank() -> impl Strategy<Value = String> {
    text().prop_map(|s| {
        if s.trim().is_empty() {
            format!("{s}题")
        } else {
            s
        }
    })
}

fn date() -> impl Strategy<Value = Option<NaiveDate>> {
    proptest::option::of((1990i32..2100, 1u32..=365))
        .prop_map(|d| d.and_then(|(y, o)| NaiveDate::from_yo_opt(y, o)))
}

fn arb_leaf() -> impl Strategy<Value = Leaf> {
    let depts = proptest::collection::vec(
        proptest::sample::select(vec!["GZ-RS", "GZ-YB", "GZ-TH-SP", "GZ-CENTRE"]),
        0..3,
    );
    let list = || proptest::collection::vec(text(), 0..4);
    (
        (nonblank(), nonblank(), text(), depts, text(), list()),
        (text(), text(), text(), date(), date(), list(), list()),
    )
        .prop_map(
            |(
                (title, answer, legal_basis, departments, procedure, materials),
                (fees, time_limit, contact, from, until, keywords, synonyms),
            )| {
                let (effective_from, expires_on) = match (from, until) {
                    (Some(a), Some(b)) if b <= a => (Some(a), None),
                    dates => dates,
                };
                Leaf {
                    code: code("XX"),
                    title,
                    answer,
                    legal_basis,
                    departments: departments
                        .into_iter()
                        .map(|d| DeptCode::parse(d).expect("dept"))
                        .collect(),
                    procedure,
                    materials,
                    fees,
                    time_limit,
                    contact,
                    effective_from,
                    expires_on,
                    keywords,
                    synonyms,
                }
            },
        )
}

fn arb_node() -> impl Strategy<Value = Node> {
    arb_leaf()
        .prop_map(Node::Answer)
        .prop_recursive(4, 32, 4, |inner| {
            (nonblank(), proptest::collection::vec(inner, 1..4)).prop_map(|(label, children)| {
                Node::Situation {
                    code: code("XX"),
                    label,
                    children,
                }
            })
        })
}

fn arb_items() -> impl Strategy<Value = Vec<Item>> {
    let item = (
        nonblank(),
        proptest::sample::select(ItemClass::ALL.to_vec()),
        proptest::sample::select(vec!["15.01.004", "01.02.003", "X-1_a"]),
        proptest::sample::select(vec!["GZ-RS", "GZ-CENTRE", "GZ-TH"]),
        proptest::collection::vec(arb_node(), 1..4),
    )
        .prop_map(|(title, class, matter, owner, nodes)| Item {
            code: code("XX"),
            title,
            class,
            matter_code: ServiceCode::parse(matter).expect("service"),
            owner: DeptCode::parse(owner).expect("dept"),
            nodes,
        });
    proptest::collection::vec(item, 0..3).prop_map(|mut items| {
        for (i, item) in items.iter_mut().enumerate() {
            item.code = code(&format!("K{i}"));
            let mut n = 0;
            renumber(&mut item.nodes, &item.code, &mut n);
        }
        items
    })
}

fn renumber(nodes: &mut [Node], prefix: &ItemCode, n: &mut usize) {
    for node in nodes {
        *n += 1;
        let fresh = code(&format!("{prefix}-N{n}"));
        match node {
            Node::Situation { code, children, .. } => {
                *code = fresh;
                renumber(children, prefix, n);
            }
            Node::Answer(leaf) => leaf.code = fresh,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_valid_items_round_trip_in_every_format(items in arb_items()) {
        for item in &items {
            prop_assert_eq!(item.check(), Ok(()));
        }
        for format in Format::ALL {
            let bytes = export(format, &items).expect("export");
            let back = import(format, &bytes);
            prop_assert_eq!(back.as_ref(), Ok(&items), "{:?}\n{}", format, String::from_utf8_lossy(&bytes));
        }
    }
}

// ---- bad input -----------------------------------------------------------------------------

fn mm(body: &str) -> Result<Vec<Item>, ImportError> {
    import(
        Format::FreeMind,
        format!("<map version=\"1.0.1\">{body}</map>").as_bytes(),
    )
}

/// A FreeMind item node with the item attributes and `inner` as its content.
fn mm_item(code: &str, inner: &str) -> String {
    format!(
        r#"<node TEXT="事项"><attribute NAME="code" VALUE="{code}"/><attribute NAME="class" VALUE="consultation"/><attribute NAME="matter_code" VALUE="15.01.004"/><attribute NAME="owner" VALUE="GZ-RS"/>{inner}</node>"#
    )
}

fn mm_answer(code: &str) -> String {
    format!(
        r#"<node TEXT="答案"><attribute NAME="code" VALUE="{code}"/><attribute NAME="answer" VALUE="内容"/></node>"#
    )
}

#[test]
fn freemind_infers_kinds_and_reads_notes_and_ignores_freemind_decoration() {
    let file = r##"<?xml version="1.0" encoding="UTF-8"?>
<map version="1.0.1">
<!-- saved by FreeMind -->
<node CREATED="1" ID="ID_1" MODIFIED="2" TEXT="医保业务">
<font NAME="SansSerif" SIZE="12"/>
<attribute_layout NAME_WIDTH="80"/>
<attribute NAME="code" VALUE="YB"/>
<attribute NAME="class" VALUE="咨询"/>
<attribute NAME="matter_code" VALUE="15.01.004"/>
<attribute NAME="owner" VALUE="GZ-RS"/>
<node ID="ID_2" POSITION="right" TEXT="婴幼儿" FOLDED="true">
<icon BUILTIN="help"/>
<attribute NAME="code" VALUE="YB-TJ-1"/>
<node ID="ID_3" TEXT="参保登记">
<attribute NAME="code" VALUE="YB-JD-10"/>
<attribute NAME="material" VALUE="户口簿"/>
<attribute NAME="material" VALUE="出生医学证明"/>
<attribute NAME="departments" VALUE="GZ-YB;GZ-RS"/>
<richcontent TYPE="NOTE"><html>
  <head><style>p { margin: 0 }</style></head>
  <body>
    <p>
      携带户口簿到
      社区服务中心办理&#160;参保登记。
    </p>
    <p>咨询电话 12345 &amp; 官网<br/>周一至周五</p>
  </body>
</html></richcontent>
<edge COLOR="#808080"/>
</node>
</node>
</node>
</map>"##;
    let items = import(Format::FreeMind, file.as_bytes()).expect("import");
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item.class, ItemClass::Consultation);
    let Node::Situation { children, .. } = &item.nodes[0] else {
        panic!("situation inferred from children");
    };
    let Node::Answer(leaf) = &children[0] else {
        panic!("answer inferred from no children");
    };
    assert_eq!(
        leaf.answer,
        "携带户口簿到 社区服务中心办理 参保登记。\n咨询电话 12345 & 官网\n周一至周五"
    );
    assert_eq!(leaf.materials, vec!["户口簿", "出生医学证明"]);
    assert_eq!(leaf.departments.len(), 2);
}

#[test]
fn opml_reads_notes_and_ignores_outliner_attributes() {
    let file = r#"<?xml version="1.0"?>
<opml version="2.0"><head><title>x</title><dateCreated>today</dateCreated></head>
<body>
  <outline text="医保业务" code="YB" class="consultation" matter_code="15.01.004" owner="GZ-RS" _status="checked" created="Mon">
    <outline text="婴幼儿" code="YB-TJ-1" type="text">
      <outline text="参保登记" code="YB-JD-10" _note="第一行&#10;第二行" materials='["a;b"]' effective_from="2026-01-01"/>
    </outline>
  </outline>
</body></opml>"#;
    let items = import(Format::Opml, file.as_bytes()).expect("import");
    let Node::Situation { children, .. } = &items[0].nodes[0] else {
        panic!("situation");
    };
    let Node::Answer(leaf) = &children[0] else {
        panic!("answer");
    };
    assert_eq!(leaf.answer, "第一行\n第二行");
    assert_eq!(leaf.materials, vec!["a;b"]);
    assert_eq!(leaf.effective_from, NaiveDate::from_ymd_opt(2026, 1, 1));
}

#[test]
fn malformed_xml_is_refused_with_its_line() {
    let unclosed = "<map>\n<node TEXT=\"a\">\n</map>";
    assert!(matches!(
        import(Format::FreeMind, unclosed.as_bytes()),
        Err(ImportError::Xml { line: 3, .. })
    ));
    assert!(matches!(
        import(Format::FreeMind, b"<map><node TEXT=\"a\">"),
        Err(ImportError::Xml { .. })
    ));
    assert!(matches!(
        import(
            Format::FreeMind,
            b"<map><node TEXT=\"a\" TEXT=\"b\"/></map>"
        ),
        Err(ImportError::Xml { .. })
    ));
    assert!(matches!(
        import(
            Format::Opml,
            b"<opml><body><outline text=\"a\" code=yb/></body></opml>"
        ),
        Err(ImportError::Xml { .. })
    ));
    assert!(matches!(
        import(Format::FreeMind, b"<opml/>"),
        Err(ImportError::Structure { .. })
    ));
    assert!(matches!(
        import(Format::Opml, b"<map/>"),
        Err(ImportError::Structure { .. })
    ));
    assert!(matches!(
        import(Format::Opml, b"<opml version=\"2.0\"><head/></opml>"),
        Err(ImportError::Structure { .. })
    ));
    let two_roots = format!(
        "{}{}",
        mm_item("YB", &mm_answer("YB-1")),
        mm_item("YC", &mm_answer("YC-1"))
    );
    assert!(matches!(mm(&two_roots), Err(ImportError::Structure { .. })));
    assert!(matches!(
        import(Format::FreeMind, b"<map></map><map></map>"),
        Err(ImportError::Structure { .. }) | Err(ImportError::Xml { .. })
    ));
}

#[test]
fn entity_expansion_is_impossible() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<map><node TEXT="&lol3;"/></map>"#;
    assert!(matches!(
        import(Format::FreeMind, laughs.as_bytes()),
        Err(ImportError::Structure { line: 6, .. })
    ));
    let opml = laughs.replace("<map><node TEXT=\"&lol3;\"/></map>", "<opml><body/></opml>");
    assert!(matches!(
        import(Format::Opml, opml.as_bytes()),
        Err(ImportError::Structure { .. })
    ));
    // Without a DTD an undeclared entity is simply an error.
    assert!(matches!(
        mm(r#"<node TEXT="&lol3;"/>"#),
        Err(ImportError::Xml { .. })
    ));
    assert!(matches!(
        mm("<node TEXT=\"a\">&lol3;</node>"),
        Err(ImportError::Xml { .. })
    ));
}

#[test]
fn deep_nesting_is_refused_before_it_can_exhaust_the_stack() {
    let n = 100_000;
    let deep = format!(
        "<map>{}{}</map>",
        "<node TEXT=\"x\">".repeat(n),
        "</node>".repeat(n)
    );
    assert!(matches!(
        import(Format::FreeMind, deep.as_bytes()),
        Err(ImportError::TooDeep { .. })
    ));
    let deep = format!(
        "<opml><body>{}{}</body></opml>",
        "<outline text=\"x\">".repeat(n),
        "</outline>".repeat(n)
    );
    assert!(matches!(
        import(Format::Opml, deep.as_bytes()),
        Err(ImportError::TooDeep { .. })
    ));
    let deep = format!("<map>{}{}</map>", "<font>".repeat(n), "</font>".repeat(n));
    assert!(matches!(
        import(Format::FreeMind, deep.as_bytes()),
        Err(ImportError::TooDeep { .. })
    ));

    // Exactly MAX_DEPTH levels is fine in every format; one more is not.
    let chain = |levels: usize| {
        let mut node = Node::Answer(leaf("D-0", "答", "案"));
        for i in 1..levels {
            node = Node::Situation {
                code: code(&format!("D-{i}")),
                label: "层".into(),
                children: vec![node],
            };
        }
        let mut item = sample();
        item.nodes = vec![node];
        item
    };
    for format in Format::ALL {
        let ok = chain(MAX_DEPTH);
        assert_eq!(round_trip(format, std::slice::from_ref(&ok)), vec![ok]);
    }
    let mut inner = mm_answer("D-0");
    for i in 1..=MAX_DEPTH {
        inner = format!(r#"<node TEXT="层"><attribute NAME="code" VALUE="D-{i}"/>{inner}</node>"#);
    }
    assert!(matches!(
        mm(&mm_item("YB", &inner)),
        Err(ImportError::TooDeep { max: MAX_DEPTH, .. })
    ));
}

#[test]
fn bad_fields_are_named() {
    let answer_with = |attr: &str| {
        mm(&mm_item(
            "YB",
            &format!(
                r#"<node TEXT="答案"><attribute NAME="code" VALUE="YB-1"/><attribute NAME="answer" VALUE="内容"/>{attr}</node>"#
            ),
        ))
    };
    assert!(answer_with("").is_ok());
    assert!(matches!(
        mm(r#"<node TEXT="事项"><attribute NAME="class" VALUE="consultation"/></node>"#),
        Err(ImportError::MissingAttribute { .. })
    ));
    assert!(matches!(
        mm(&mm_item("yb", &mm_answer("YB-1"))),
        Err(ImportError::BadCode { .. })
    ));
    assert!(matches!(
        mm(&mm_item("YB", &mm_answer("YB--1"))),
        Err(ImportError::BadCode { .. })
    ));
    assert!(matches!(
        mm(&mm_item("YB", &mm_answer("YB-1")).replace("consultation", "chat")),
        Err(ImportError::UnknownClass { .. })
    ));
    assert!(matches!(
        mm(&mm_item("YB", &mm_answer("YB-1")).replace("GZ-RS", "gz rs")),
        Err(ImportError::BadCode { .. })
    ));
    assert!(matches!(
        answer_with(r#"<attribute NAME="kind" VALUE="twig"/>"#),
        Err(ImportError::UnknownKind { .. })
    ));
    assert!(matches!(
        answer_with(r#"<attribute NAME="answr" VALUE="x"/>"#),
        Err(ImportError::UnknownField { .. })
    ));
    assert!(matches!(
        answer_with(r#"<attribute NAME="owner" VALUE="GZ-RS"/>"#),
        Err(ImportError::MisplacedField { .. })
    ));
    assert!(matches!(
        answer_with(r#"<attribute NAME="answer" VALUE="again"/>"#),
        Err(ImportError::RepeatedField { .. })
    ));
    assert!(matches!(
        answer_with(r#"<attribute NAME="effective_from" VALUE="2026-13-01"/>"#),
        Err(ImportError::BadDate { .. })
    ));
    assert!(matches!(
        answer_with(r#"<attribute NAME="keywords" VALUE="[1, 2]"/>"#),
        Err(ImportError::BadList { .. })
    ));
    assert!(matches!(
        answer_with(r#"<attribute NAME="department" VALUE="rs"/>"#),
        Err(ImportError::BadCode { .. })
    ));
    assert!(matches!(
        answer_with(
            r#"<attribute NAME="effective_from" VALUE="2026-02-01"/><attribute NAME="expires_on" VALUE="2026-01-01"/>"#
        ),
        Err(ImportError::Model(ModelError::DatesOutOfOrder(_)))
    ));
    // An answer field on a situation would be lost: refused.
    let situation = r#"<node TEXT="情形"><attribute NAME="code" VALUE="YB-TJ-1"/><attribute NAME="answer" VALUE="x"/><attribute NAME="kind" VALUE="situation"/>"#;
    assert!(matches!(
        mm(&mm_item(
            "YB",
            &format!("{situation}{}</node>", mm_answer("YB-1"))
        )),
        Err(ImportError::MisplacedField { .. })
    ));
    // An answer with children.
    let answer = r#"<node TEXT="答案"><attribute NAME="code" VALUE="YB-1"/><attribute NAME="kind" VALUE="answer"/><attribute NAME="answer" VALUE="x"/>"#;
    assert!(matches!(
        mm(&mm_item(
            "YB",
            &format!("{answer}{}</node>", mm_answer("YB-2"))
        )),
        Err(ImportError::AnswerWithChildren { .. })
    ));
    // A node with no TEXT.
    assert!(matches!(
        mm(&mm_item(
            "YB",
            r#"<node><attribute NAME="code" VALUE="YB-1"/><attribute NAME="answer" VALUE="x"/></node>"#
        )),
        Err(ImportError::MissingAttribute { .. })
    ));
}

#[test]
fn model_errors_and_duplicates_fail_the_whole_file() {
    // Duplicate within an item.
    let dup = mm_item("YB", &format!("{}{}", mm_answer("YB-1"), mm_answer("YB-1")));
    assert_eq!(
        mm(&dup),
        Err(ImportError::Model(ModelError::DuplicateCode(code("YB-1"))))
    );
    // An empty situation.
    let empty = mm_item(
        "YB",
        r#"<node TEXT="情形"><attribute NAME="code" VALUE="YB-TJ-1"/><attribute NAME="kind" VALUE="situation"/></node>"#,
    );
    assert!(matches!(
        mm(&empty),
        Err(ImportError::Model(ModelError::EmptySituation(_)))
    ));
    // An item with no nodes.
    assert!(matches!(
        mm(&mm_item("YB", "")),
        Err(ImportError::Model(ModelError::EmptyItem))
    ));
    // A blank answer (no answer attribute, no note).
    assert!(matches!(
        mm(&mm_item(
            "YB",
            r#"<node TEXT="答案"><attribute NAME="code" VALUE="YB-1"/></node>"#
        )),
        Err(ImportError::Model(ModelError::EmptyText {
            field: "answer",
            ..
        }))
    ));

    // All or nothing: one good item, one bad, nothing returned.
    let collection = |items: &str| {
        mm(&format!(
            r#"<node TEXT="知识库"><attribute NAME="kind" VALUE="collection"/>{items}</node>"#
        ))
    };
    let good = mm_item("YA", &mm_answer("YA-1"));
    assert_eq!(collection(&good).map(|items| items.len()), Ok(1));
    assert!(matches!(
        collection(&format!("{good}{empty}")),
        Err(ImportError::Model(ModelError::EmptySituation(_)))
    ));
    // Codes unique across the file, not just within an item.
    assert_eq!(
        collection(&format!("{good}{}", mm_item("YB", &mm_answer("YA-1")))),
        Err(ImportError::Model(ModelError::DuplicateCode(code("YA-1"))))
    );
    assert_eq!(
        collection(&format!("{good}{}", mm_item("YB", &mm_answer("YA")))),
        Err(ImportError::Model(ModelError::DuplicateCode(code("YA"))))
    );
    assert!(matches!(
        collection(&format!(
            r#"<node TEXT="x"><attribute NAME="kind" VALUE="collection"/>{good}</node>"#
        )),
        Err(ImportError::Structure { .. })
    ));
}

const CSV_HEADER: &str =
    "item_code,item_title,class,matter_code,owner,code,parent_code,kind,title,answer\n";

fn csv(rows: &str) -> Result<Vec<Item>, ImportError> {
    import(Format::Csv, format!("{CSV_HEADER}{rows}").as_bytes())
}

const YB: &str = "YB,医保业务,consultation,15.01.004,GZ-RS";

#[test]
fn csv_rows_may_come_in_any_order_and_keep_their_order() {
    let rows = format!(
        "{YB},YB-JD-1,YB-TJ-2,,参保登记,先登记\n\
         {YB},YB-TJ-1,,,婴幼儿,\n\
         ,,,,,YB-JD-9,YB-TJ-1,answer,直接答案,答\n\
         {YB},YB-TJ-2,YB-TJ-1,,本市户籍,\n\
         {YB},YB-JD-2,YB-TJ-2,,中途参保,后参保\n"
    );
    // The third row leaves the item's fields blank: it must then name the item.
    assert!(matches!(
        csv(&rows),
        Err(ImportError::MissingAttribute { line: 4, .. })
    ));
    let rows = rows.replace(",,,,,YB-JD-9", "YB,,,,,YB-JD-9");
    let items = csv(&rows).expect("import");
    let item = &items[0];
    let Node::Situation { children, .. } = &item.nodes[0] else {
        panic!("situation");
    };
    assert_eq!(
        children
            .iter()
            .map(|n| n.code().as_str())
            .collect::<Vec<_>>(),
        vec!["YB-JD-9", "YB-TJ-2"]
    );
    let (_, tj2) = item.find(&code("YB-TJ-2")).expect("present");
    let Node::Situation { children, .. } = tj2 else {
        panic!("situation");
    };
    assert_eq!(
        children
            .iter()
            .map(|n| n.code().as_str())
            .collect::<Vec<_>>(),
        vec!["YB-JD-1", "YB-JD-2"]
    );
}

#[test]
fn csv_parent_links_that_loop_or_dangle_are_refused() {
    let cycle = format!(
        "{YB},YB-JD-1,,,答案,答\n{YB},YB-TJ-1,YB-TJ-2,,甲,\n{YB},YB-TJ-2,YB-TJ-1,,乙,\n{YB},YB-JD-2,YB-TJ-2,,丙,答\n"
    );
    assert!(
        matches!(csv(&cycle), Err(ImportError::Cycle { code }) if code.as_str().starts_with("YB-TJ-"))
    );
    let own = format!("{YB},YB-JD-1,,,答案,答\n{YB},YB-TJ-1,YB-TJ-1,,甲,\n");
    assert_eq!(
        csv(&own),
        Err(ImportError::Cycle {
            code: code("YB-TJ-1")
        })
    );
    let dangling = format!("{YB},YB-JD-1,YB-TJ-9,,答案,答\n");
    assert!(matches!(
        csv(&dangling),
        Err(ImportError::UnknownParent { line: 2, .. })
    ));
    let bad_parent = format!("{YB},YB-JD-1,not a code,,答案,答\n");
    assert!(matches!(
        csv(&bad_parent),
        Err(ImportError::UnknownParent { .. })
    ));
    // A parent in another item is not a parent.
    let other = format!(
        "{YB},YB-TJ-1,,,甲,\n{YB},YB-JD-1,YB-TJ-1,,答案,答\nYC,其他,consultation,15.01.004,GZ-RS,YC-1,YB-TJ-1,,答案,答\n"
    );
    assert!(matches!(
        csv(&other),
        Err(ImportError::UnknownParent { line: 4, .. })
    ));
    // The item's own code as parent means first level.
    let top = format!("{YB},YB-JD-1,YB,,答案,答\n");
    assert_eq!(csv(&top).map(|i| i[0].nodes.len()), Ok(1));
    // Too deep a chain.
    let mut rows = format!("{YB},D-0,,,层,\n");
    for i in 1..=MAX_DEPTH {
        rows.push_str(&format!("{YB},D-{i},D-{},,层,\n", i - 1));
    }
    rows.push_str(&format!("{YB},D-X,D-{MAX_DEPTH},answer,答,答\n"));
    assert!(matches!(csv(&rows), Err(ImportError::TooDeep { .. })));
}

#[test]
fn csv_bad_rows_are_named() {
    assert!(matches!(
        import(Format::Csv, "item_code,code\nYB,YB-1\n".as_bytes()),
        Err(ImportError::MissingAttribute { line: 1, .. })
    ));
    assert!(matches!(
        import(
            Format::Csv,
            format!("{}x\n", CSV_HEADER.trim_end()).as_bytes()
        ),
        Err(ImportError::UnknownField { line: 1, .. })
    ));
    assert!(matches!(
        import(Format::Csv, "code,code\n".as_bytes()),
        Err(ImportError::RepeatedField { .. })
    ));
    assert!(matches!(
        csv(&format!("{YB},YB-1,,,答案,答,多余\n")),
        Err(ImportError::Csv { line: 2, .. })
    ));
    assert!(matches!(
        csv(&format!("{YB},YB-1,,,答案,答\n{YB},YB-1,,,答案,答\n")),
        Err(ImportError::Model(ModelError::DuplicateCode(_)))
    ));
    assert!(matches!(
        csv(&format!(
            "{YB},YB-1,,,答案,答\nYB,医保,consultation,15.01.004,GZ-RS,YB-2,,,答案,答\n"
        )),
        Err(ImportError::InconsistentItem {
            line: 3,
            name: "item_title",
            ..
        })
    ));
    assert!(matches!(
        csv(&format!("{YB},YB-1,,item,答案,答\n")),
        Err(ImportError::Structure { .. })
    ));
    assert!(matches!(
        csv(&format!("{YB},YB-1,,twig,答案,答\n")),
        Err(ImportError::UnknownKind { .. })
    ));
    assert!(matches!(
        csv(&format!(
            "{YB},YB-TJ-1,,,甲,答\n{YB},YB-1,YB-TJ-1,,答案,答\n"
        )),
        Err(ImportError::MisplacedField { .. })
    ));
    assert!(matches!(
        csv(&format!(
            "{YB},YB-TJ-1,,answer,甲,答\n{YB},YB-1,YB-TJ-1,,答案,答\n"
        )),
        Err(ImportError::AnswerWithChildren { .. })
    ));
    assert!(matches!(
        csv("YB,医保业务,chat,15.01.004,GZ-RS,YB-1,,,答案,答\n"),
        Err(ImportError::UnknownClass { .. })
    ));
    // All or nothing: a good item and a bad one.
    let two =
        format!("{YB},YB-1,,,答案,答\nYC,其他,consultation,15.01.004,GZ-RS,YC-1,,situation,空,\n");
    assert!(matches!(
        csv(&two),
        Err(ImportError::Model(ModelError::EmptySituation(_)))
    ));
    // Header only: a file with no items.
    assert_eq!(csv(""), Ok(vec![]));
}

#[test]
fn input_limits_hold() {
    let bytes = export(Format::Csv, &[full_item()]).expect("export");
    let small = Limits {
        max_bytes: 100,
        max_nodes: 3,
    };
    for format in Format::ALL {
        let bytes = export(format, &[full_item()]).expect("export");
        assert!(matches!(
            import_with(format, &bytes, small),
            Err(ImportError::TooLarge { what: "bytes", .. })
        ));
        let few_nodes = Limits {
            max_bytes: MAX_IMPORT_BYTES,
            max_nodes: 3,
        };
        assert!(matches!(
            import_with(format, &bytes, few_nodes),
            Err(ImportError::TooLarge { what: "nodes", .. })
        ));
        assert_eq!(import(format, b" \n "), Err(ImportError::Empty));
        assert_eq!(
            import(format, b"\n\n\xff\xfe"),
            Err(ImportError::NotUtf8 { line: 3 })
        );
    }
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
}

#[test]
fn a_node_with_very_many_attributes_is_read_in_linear_time() {
    let n = 200_000;
    let materials = r#"<attribute NAME="material" VALUE="m"/>"#.repeat(n);
    let file = mm_item(
        "YB",
        &format!(
            r#"<node TEXT="答案"><attribute NAME="code" VALUE="YB-1"/><attribute NAME="answer" VALUE="x"/>{materials}</node>"#
        ),
    );
    let started = std::time::Instant::now();
    let items = mm(&file).expect("import");
    let Node::Answer(leaf) = &items[0].nodes[0] else {
        panic!("answer");
    };
    assert_eq!(leaf.materials.len(), n);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

// ---- demo data -----------------------------------------------------------------------------

const DEMO_MM: &[u8] = include_bytes!("../../../../deploy/seed/knowledge/medical-insurance.mm");
const DEMO_CSV: &[u8] = include_bytes!("../../../../deploy/seed/knowledge/catalogue-answers.csv");

fn situation_children<'a>(item: &'a Item, c: &str) -> Vec<&'a Node> {
    match item.find(&code(c)) {
        Some((_, Node::Situation { children, .. })) => children.iter().collect(),
        other => panic!("{c} is not a situation: {other:?}"),
    }
}

#[test]
fn the_demo_medical_insurance_map_is_shaped_like_the_seed() {
    let items = import(Format::FreeMind, DEMO_MM).expect("demo map imports");
    assert_eq!(items.len(), 1);
    let yb = &items[0];
    assert_eq!(yb.check(), Ok(()));
    assert_eq!(yb.code, code("YB"));
    assert_eq!(yb.title, "医保业务");
    assert_eq!(yb.class, ItemClass::Consultation);
    assert_eq!(yb.matter_code.as_str(), "15.01.004");
    assert_eq!(yb.owner.as_str(), "GZ-RS");
    let tops: Vec<(&str, &str)> = yb
        .nodes
        .iter()
        .map(|n| (n.code().as_str(), n.label()))
        .collect();
    assert_eq!(
        tops,
        vec![
            ("YB-TJ-1", "婴幼儿"),
            ("YB-TJ-52", "全日制在校学生"),
            ("YB-TJ-55", "无业人员"),
            ("YB-TJ-122", "灵活就业人员"),
            ("YB-TJ-123", "在职人员"),
            ("YB-TJ-139", "达到法定退休年龄的人员"),
            ("YB-TJ-149", "原机关事业单位人员"),
        ]
    );
    for top in &yb.nodes {
        assert!(
            yb.leaves()
                .iter()
                .any(|l| l.path.first() == Some(&top.label())),
            "{} has answers",
            top.code()
        );
    }
    let infants: Vec<&str> = situation_children(yb, "YB-TJ-1")
        .iter()
        .map(|n| n.code().as_str())
        .collect();
    assert_eq!(infants, vec!["YB-TJ-2", "YB-TJ-3"]);
    let local: Vec<&str> = situation_children(yb, "YB-TJ-2")
        .iter()
        .map(|n| n.code().as_str())
        .collect();
    assert_eq!(local, vec!["YB-TJ-4", "YB-TJ-5"]);
    let not_insured = situation_children(yb, "YB-TJ-4");
    let titles: Vec<&str> = not_insured.iter().map(|n| n.label()).collect();
    for wanted in ["缴费和资助标准", "参保登记", "中途参保"] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "YB-TJ-4 has {wanted}: {titles:?}"
        );
    }
    assert!(not_insured.iter().all(|n| matches!(n, Node::Answer(_))));
    let insured: Vec<&str> = situation_children(yb, "YB-TJ-5")
        .iter()
        .map(|n| n.code().as_str())
        .collect();
    for wanted in ["YB-JD-2", "YB-JD-3", "YB-TJ-6", "YB-TJ-7"] {
        assert!(insured.contains(&wanted), "YB-TJ-5 has {wanted}");
    }
    // Answers are dated, name a department and tell the citizen where to ask.
    for at in yb.leaves() {
        assert!(at.leaf.code.as_str().starts_with("YB-"));
        assert!(at.leaf.effective_from.is_some(), "{}", at.leaf.code);
        assert!(!at.leaf.departments.is_empty(), "{}", at.leaf.code);
        assert!(at.leaf.contact.contains("12345"), "{}", at.leaf.code);
    }
    // The same tree through the other formats.
    for format in Format::ALL {
        assert_eq!(round_trip(format, &items), items, "{format:?}");
    }
}

#[test]
fn the_demo_catalogue_answers_cover_the_catalogue() {
    let items = import(Format::Csv, DEMO_CSV).expect("demo answers import");
    assert!(items.len() >= 60, "{} items", items.len());
    let mut first_levels = std::collections::BTreeSet::new();
    for item in &items {
        assert_eq!(item.check(), Ok(()));
        // LL.MM.NNN, and the item code derived from it.
        let m = item.matter_code.as_str();
        let parts: Vec<&str> = m.split('.').collect();
        assert!(
            parts.len() == 3
                && [2, 2, 3]
                    .iter()
                    .zip(&parts)
                    .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit())),
            "matter code {m}"
        );
        assert_eq!(item.code.as_str(), format!("KB-{}", m.replace('.', "-")));
        first_levels.insert(parts[0].to_owned());
        for at in item.leaves() {
            assert!(at.leaf.code.as_str().starts_with(item.code.as_str()));
            // District matters are handled where they happen: no one department to name.
            assert!(
                item.owner.as_str() == "GZ-CENTRE" || !at.leaf.departments.is_empty(),
                "{}",
                at.leaf.code
            );
        }
    }
    assert_eq!(first_levels.len(), 15, "{first_levels:?}");
    // Both demo files load together: no code clashes.
    let mut all = import(Format::FreeMind, DEMO_MM).expect("map");
    all.extend(items);
    assert_eq!(check_all(&all), Ok(()));
    for format in Format::ALL {
        assert_eq!(round_trip(format, &all), all, "{format:?}");
    }
}

// ---- fuzz: hostile files (issue 8) ----------------------------------------------------------

/// Pieces of the three formats, for token soups that get further into the parsers than random
/// bytes do.
const TOKENS: &[&str] = &[
    "<map version=\"1.0.1\">",
    "</map>",
    "<node TEXT=\"事项\">",
    "<node TEXT=\"a\"/>",
    "</node>",
    "<attribute NAME=\"code\" VALUE=\"K1\"/>",
    "<attribute NAME=\"kind\" VALUE=\"collection\"/>",
    "<attribute NAME=\"class\" VALUE=\"consultation\"/>",
    "<attribute NAME=\"matter_code\" VALUE=\"15.01.004\"/>",
    "<attribute NAME=\"owner\" VALUE=\"GZ-RS\"/>",
    "<attribute NAME=\"answer\" VALUE=\"内容\"/>",
    "<richcontent TYPE=\"NOTE\"><html><body><p>",
    "</p></body></html></richcontent>",
    "<opml version=\"2.0\"><head><title>t</title></head><body>",
    "</body></opml>",
    "<outline text=\"x\" code=\"K1-N1\" _note=\"答\">",
    "<outline text=\"x\" kind=\"collection\">",
    "</outline>",
    "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>",
    "<![CDATA[x]]>",
    "<!-- c -->",
    "<?xml version=\"1.0\"?>",
    "&#0;",
    "&#x1F;",
    "&#xD800;",
    "&#1114112;",
    "&a;",
    "&amp;",
    "&",
    "\"",
    "<",
    ">",
    "\0",
    "\u{feff}",
    "item_code,item_title,class,matter_code,owner,code,parent_code,kind,title,answer\n",
    "K1,题,consultation,15.01.004,GZ-RS,K1-N1,,answer,t,a\n",
    "K1,,,,,K1-N2,K1-N1,situation,s,\n",
    ",",
    "\n",
    "\"a\"\"b\"",
    "[\"a;b\"]",
];

fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(proptest::sample::select(TOKENS.to_vec()), 0..40)
        .prop_map(|tokens| tokens.concat().into_bytes())
}

/// What an import returned is whole: every item passes the model's checks and no code is used
/// twice in the file. An error returns nothing at all (the `Result` holds no partial list).
fn whole(result: &Result<Vec<Item>, ImportError>) -> Result<(), TestCaseError> {
    if let Ok(items) = result {
        for item in items {
            prop_assert_eq!(item.check(), Ok(()));
        }
        prop_assert_eq!(check_all(items), Ok(()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes in every format: items or a typed error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        format in proptest::sample::select(Format::ALL.to_vec()),
    ) {
        whole(&import(format, &bytes))?;
    }

    /// Soups of the formats' own pieces (DTDs, entities, NUL references, unbalanced elements).
    #[test]
    fn token_soups_never_panic(
        bytes in token_soup(),
        format in proptest::sample::select(Format::ALL.to_vec()),
    ) {
        whole(&import(format, &bytes))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Valid documents with a few bytes replaced, inserted or deleted: items or a typed error.
    #[test]
    fn mutated_documents_never_panic(
        items in arb_items(),
        format in proptest::sample::select(Format::ALL.to_vec()),
        edits in proptest::collection::vec(
            (any::<proptest::sample::Index>(), any::<u8>(), 0u8..3),
            1..6,
        ),
    ) {
        let mut bytes = export(format, &items).expect("export");
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        whole(&import(format, &bytes))?;
    }
}
