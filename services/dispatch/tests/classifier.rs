//! The shipped classifier on the held-out messages (never trained on): a model that falls
//! below what was measured when it was chosen (less a small margin) fails here.

use std::path::Path;

use hotline_dispatch::classifier::{Model, cli, eval};

/// Measured when the model was shipped (CLASSIFIER.md): top-1 0.9105, precision 0.9800 at 60%
/// coverage, coverage 0.9039 at 95% precision.
const MIN_TOP1: f64 = 0.90;
const MIN_PRECISION_AT_60: f64 = 0.97;
const MIN_COVERAGE_AT_95: f64 = 0.85;

#[test]
fn the_shipped_model_keeps_its_held_out_figures() {
    let model = Model::shipped().expect("the shipped model loads");
    assert_eq!(model.classes.len(), 7);
    let heldout =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/seed/messages/heldout.jsonl");
    let messages = cli::read_labeled(&heldout).expect("held-out messages");
    assert_eq!(messages.len(), 749);
    let report = eval::evaluate(&model, &messages).expect("evaluate");
    println!("{report}");
    assert!(report.top1() >= MIN_TOP1, "top-1 {:.4}", report.top1());
    let p60 = report.precision_at(0.6);
    assert!(
        p60 >= MIN_PRECISION_AT_60,
        "precision at 60% coverage {p60:.4}"
    );
    assert!(
        report.coverage_at_95 >= MIN_COVERAGE_AT_95,
        "coverage at 95% precision {:.4}",
        report.coverage_at_95
    );
    // The threshold was chosen on the validation fold; on new messages it should still hold.
    let auto_precision = report.auto_correct as f64 / report.auto.max(1) as f64;
    assert!(
        auto_precision >= 0.94,
        "precision at the model's threshold {auto_precision:.4}"
    );
}
