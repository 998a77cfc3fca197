//! `hotline dispatch classify | eval | train`: the classifier offline, without NATS, Postgres or
//! a configuration.
//!
//! - `classify`: JSON lines `{"id","subject","detail"}` on stdin, one line out per line in, in
//!   order: `{"id","category","confidence","auto"}` (`--top3` adds the three most likely
//!   categories). A line that is not such an object gets `{"id","error"}` (the id when it could
//!   be read, else null) and the stream goes on.
//! - `eval FILE.jsonl`: lines with `category` and `subject`/`detail` (or segmented `tokens`);
//!   prints the [`Report`](super::eval::Report).
//! - `train`: retrains from the repository's data (plus `--extra` files: the platform's
//!   corrections, later) and writes a new versioned model file.
//! - `assist`, `assist-eval`: the seat assistant (`crate::assistant::cli`), here because the
//!   `hotline` binary routes this enum; they use the same model for the category.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Value, json};

use super::corpus::{self, Corpus};
use super::eval::{self, Labeled};
use super::model::Model;
use super::train::{self, TrainOptions};

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ClassifierCommand {
    /// Classify JSON lines {"id","subject","detail"} from stdin: one {"id","category",
    /// "confidence","auto"} line out per line in; a bad line gets {"id","error"} and the
    /// stream goes on.
    Classify {
        /// A model file instead of the one built in (deploy/seed/models/dispatch-classifier.json).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Add "top3": the three most likely categories with their probabilities.
        #[arg(long)]
        top3: bool,
    },
    /// Evaluate on labeled JSON lines (category and subject/detail or tokens): top-1 accuracy,
    /// precision at each coverage decile, coverage at 95% precision, confusion matrix.
    Eval {
        file: PathBuf,
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Retrain from the repository's messages (never the held-out ones) and write a new
    /// versioned model file.
    Train {
        /// Where to write the model [default: deploy/seed/models/<version>.json].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The message files' directory [default: deploy/seed/messages of the repository].
        #[arg(long)]
        data: Option<PathBuf>,
        /// More labeled JSON lines to train on (e.g. dispatchers' corrections), repeatable.
        #[arg(long)]
        extra: Vec<PathBuf>,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// The seat assistant: JSON lines {"id","subject","detail"} from stdin, one line of
    /// extracted fields (address, district, phones, time, request type, urgency, category) out
    /// per line in; a bad line gets {"id","error"} and the stream goes on.
    Assist {
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// The seat assistant on hand-checked samples (deploy/seed/messages/assistant-sample.jsonl):
    /// per field expected, filled, correct, false fills; the share of fields right.
    AssistEval {
        file: PathBuf,
        #[arg(long)]
        model: Option<PathBuf>,
        /// Also print every wrong field as a JSON line.
        #[arg(long)]
        mistakes: bool,
    },
}

pub fn run(command: &ClassifierCommand) -> anyhow::Result<()> {
    match command {
        ClassifierCommand::Assist { model } => {
            let model = load(model.as_deref())?;
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            crate::assistant::cli::assist_stream(&model, stdin.lock(), stdout.lock())
        }
        ClassifierCommand::AssistEval {
            file,
            model,
            mistakes,
        } => crate::assistant::cli::run_eval(&load(model.as_deref())?, file, *mistakes),
        ClassifierCommand::Classify { model, top3 } => {
            let model = load(model.as_deref())?;
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            classify_stream(&model, stdin.lock(), stdout.lock(), *top3)
        }
        ClassifierCommand::Eval { file, model } => {
            let model = load(model.as_deref())?;
            let messages = read_labeled(file)?;
            let report = eval::evaluate(&model, &messages)?;
            println!("model               {}", model.version);
            print!("{report}");
            Ok(())
        }
        ClassifierCommand::Train {
            out,
            data,
            extra,
            seed,
        } => {
            let dir = data.clone().unwrap_or_else(corpus::default_data_dir);
            let mut options = TrainOptions::default();
            if let Some(seed) = seed {
                options.seed = *seed;
            }
            let started = std::time::Instant::now();
            let corpus = Corpus::load(&dir, extra)?;
            eprintln!(
                "training on {} messages ({} raw); left out: {} held-out copies, {} near copies of held-out messages, {} duplicates",
                corpus.examples.len(),
                corpus.examples.iter().filter(|e| e.raw).count(),
                corpus.dropped_heldout,
                corpus.dropped_near_heldout,
                corpus.dropped_copies
            );
            let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
            let model = train::train(&corpus, &options, &today)?;
            let seconds = started.elapsed().as_secs_f64();
            let path = match out {
                Some(path) => path.clone(),
                None => dir.join("..").join("models").join(model.file_name()),
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, model.to_json()?)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("model               {}", model.version);
            println!("written to          {}", path.display());
            println!("trained in          {seconds:.1} s");
            println!(
                "validation fold     {} messages, top-1 {:.4}, temperature {:.3}, auto threshold {:.4} (coverage {:.4}, precision {:.4})",
                model.validation.messages,
                model.validation.top1,
                model.temperature,
                model.auto_threshold,
                model.validation.auto_coverage,
                model.validation.auto_precision
            );
            let heldout = read_labeled(&dir.join(corpus::HELDOUT))?;
            println!("held-out messages ({}):", corpus::HELDOUT);
            print!("{}", eval::evaluate(&model, &heldout)?);
            Ok(())
        }
    }
}

/// The model in `path`, or the one built in.
pub fn load(path: Option<&Path>) -> anyhow::Result<Model> {
    match path {
        Some(path) => {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Model::from_json(&json).with_context(|| format!("loading {}", path.display()))
        }
        None => Model::shipped().context("loading the built-in model"),
    }
}

/// Labeled messages of a JSON-lines file.
pub fn read_labeled(path: &Path) -> anyhow::Result<Vec<Labeled>> {
    let (messages, _) = corpus::read_messages(path)?;
    messages
        .into_iter()
        .enumerate()
        .map(|(n, m)| {
            let category = m
                .category
                .clone()
                .with_context(|| format!("{} line {}: no category", path.display(), n + 1))?;
            let words = m
                .words()
                .with_context(|| format!("{} line {}: no text", path.display(), n + 1))?;
            Ok(Labeled { words, category })
        })
        .collect()
}

/// A classified line, its fields in the documented order.
#[derive(serde::Serialize)]
struct Answer<'a> {
    id: Value,
    category: &'a str,
    confidence: f64,
    auto: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    top3: Option<Vec<Value>>,
}

/// A line that could not be classified.
#[derive(serde::Serialize)]
struct Refusal {
    id: Value,
    error: String,
}

fn refuse(id: Value, error: impl Into<String>) -> String {
    let refusal = Refusal {
        id,
        error: error.into(),
    };
    serde_json::to_string(&refusal)
        .unwrap_or_else(|_| r#"{"id":null,"error":"unprintable"}"#.to_owned())
}

/// A `{"id","subject","detail"}` input line read (either text may be missing, not both), or
/// the `{"id","error"}` line to write instead. Shared by `classify` and `assist`.
pub(crate) fn read_message_line(line: &str) -> Result<(Value, String, String), String> {
    let parsed: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Err(refuse(Value::Null, format!("not JSON: {e}"))),
    };
    let Some(object) = parsed.as_object() else {
        return Err(refuse(Value::Null, "not a JSON object"));
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    let text = |field: &str| -> Result<&str, String> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(""),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(format!("{field} is not a string")),
        }
    };
    let (subject, detail) = match (text("subject"), text("detail")) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return Err(refuse(id, e)),
    };
    if subject.trim().is_empty() && detail.trim().is_empty() {
        return Err(refuse(id, "no subject and no detail"));
    }
    Ok((id, subject.to_owned(), detail.to_owned()))
}

/// One output line for one input line (see the module's notes).
pub fn classify_line(model: &Model, line: &str, top3: bool) -> String {
    let (id, subject, detail) = match read_message_line(line) {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    let (subject, detail) = (subject.as_str(), detail.as_str());
    let c = model.classify(subject, detail);
    let Some(best) = c.best() else {
        return refuse(id, "the model gave no category");
    };
    let answer = Answer {
        id: id.clone(),
        category: &best.category,
        confidence: round4(best.probability),
        auto: c.auto,
        top3: top3.then(|| {
            c.top
                .iter()
                .map(|s| json!({"category": s.category, "probability": round4(s.probability)}))
                .collect()
        }),
    };
    serde_json::to_string(&answer).unwrap_or_else(|e| refuse(id, format!("unprintable: {e}")))
}

fn round4(p: f32) -> f64 {
    (f64::from(p) * 1e4).round() / 1e4
}

/// Classifies every line of `input` (blank lines skipped), flushing each answer as it goes.
pub fn classify_stream(
    model: &Model,
    input: impl BufRead,
    mut output: impl Write,
    top3: bool,
) -> anyhow::Result<()> {
    for line in input.lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = classify_line(model, &line, top3);
        writeln!(output, "{answer}").context("writing stdout")?;
        output.flush().context("writing stdout")?;
    }
    Ok(())
}
