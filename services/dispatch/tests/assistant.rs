//! The seat assistant on hand-checked real messages (held out from the classifier's training):
//! the 60-message sample it was tuned on and a 30-message check set labelled after tuning,
//! never tuned on. A change that loses fields falls below what was measured (less a small
//! margin) and fails here. Figures and matching rules: ASSISTANT.md.

use std::path::{Path, PathBuf};

use hotline_dispatch::assistant::{Report, cli, evaluate};
use hotline_dispatch::classifier::Model;

/// Measured when the extractor was written (ASSISTANT.md): 0.8929 on the sample, 0.8667 on
/// the check set; the floors leave room for about one field in a hundred.
const MIN_SAMPLE_CORRECT_SHARE: f64 = 0.88;
const MIN_CHECK_CORRECT_SHARE: f64 = 0.85;

fn file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/seed/messages")
        .join(name)
}

fn measure(name: &str, expected_len: usize) -> Report {
    let samples = cli::read_samples(&file(name)).expect("the samples");
    assert_eq!(samples.len(), expected_len);
    let model = Model::shipped().expect("the shipped model");
    let report = evaluate(&samples, Some(&model));
    println!("{name}\n{report}");
    for m in &report.mistakes {
        println!("{}", serde_json::to_string(m).unwrap_or_default());
    }
    report
}

#[test]
fn the_assistant_keeps_its_sample_figures() {
    let report = measure("assistant-sample.jsonl", 60);
    assert!(
        report.correct_share() >= MIN_SAMPLE_CORRECT_SHARE,
        "fields right {:.4}",
        report.correct_share()
    );
}

#[test]
fn the_assistant_keeps_its_check_set_figures() {
    let report = measure("assistant-check.jsonl", 30);
    assert!(
        report.correct_share() >= MIN_CHECK_CORRECT_SHARE,
        "fields right {:.4}",
        report.correct_share()
    );
}
