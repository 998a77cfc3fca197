//! `hotline dispatch classify` and `hotline dispatch eval`, the real binary, with no server
//! running and no configuration: what an operator runs from a fresh clone.

use std::io::Write as _;
use std::process::{Command, Stdio};

const HOTLINE: &str = env!("CARGO_BIN_EXE_hotline");

#[test]
fn classify_answers_each_line_in_order_and_reports_bad_lines_without_stopping() {
    let mut child = Command::new(HOTLINE)
        .args(["dispatch", "classify"])
        // No NATS, Postgres or configuration may be needed: point them nowhere.
        .env("NATS_URL", "nats://127.0.0.1:1")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("hotline runs");
    let input = concat!(
        r#"{"id":"a1","subject":"小区路灯不亮","detail":"我们小区门口的路灯坏了一个月了，晚上出行很不安全，请尽快维修。"}"#,
        "\n",
        "this is not json\n",
        r#"{"id":3,"subject":"新生儿医保参保","detail":"请问新生儿如何办理城乡居民医疗保险参保，需要哪些材料？"}"#,
        "\n",
    );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("output");
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["id"], "a1");
    assert_eq!(lines[0]["category"], "城乡建设");
    assert!(
        lines[0]["confidence"]
            .as_f64()
            .is_some_and(|c| c > 0.0 && c <= 1.0)
    );
    assert!(lines[0]["auto"].is_boolean());
    assert!(lines[1]["error"].is_string());
    assert_eq!(lines[2]["id"], 3);
    assert_eq!(lines[2]["category"], "劳动和社会保障");
}

#[test]
fn eval_prints_the_held_out_figures() {
    let heldout = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/seed/messages/heldout.jsonl"
    );
    let output = Command::new(HOTLINE)
        .args(["dispatch", "eval", heldout])
        .env("NATS_URL", "nats://127.0.0.1:1")
        .output()
        .expect("hotline runs");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    for expected in [
        "messages            749",
        "top-1 accuracy",
        "coverage at 95% precision",
        "    60%",
        "confusion matrix",
        "劳动和社会保障",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}
