//! `hotline dispatch assist | assist-eval`: the seat assistant offline (the subcommands are
//! variants of the classifier's [`ClassifierCommand`](crate::classifier::cli::ClassifierCommand),
//! which the `hotline` binary already routes here).
//!
//! - `assist`: JSON lines `{"id","subject","detail"}` on stdin, one line out per line in, in
//!   order: `{"id", ...}` with every [`Fields`] field, the category from the classifier. A line
//!   that is not such an object, or has no text, gets `{"id","error"}` (the id when it could be
//!   read) and the stream goes on — the same refusals as `classify`.
//! - `assist-eval FILE.jsonl`: the [`Report`](super::eval::Report) on hand-checked samples
//!   (`--mistakes` lists every wrong field).

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

use super::Fields;
use super::eval::{self, parse_samples};
use crate::classifier::Model;

/// An answer: the line's id and the fields.
#[derive(serde::Serialize)]
struct Answer<'a> {
    id: Value,
    #[serde(flatten)]
    fields: &'a Fields,
}

#[derive(serde::Serialize)]
struct Refusal {
    id: Value,
    error: String,
}

fn refuse(id: Value, error: impl Into<String>) -> String {
    serde_json::to_string(&Refusal {
        id,
        error: error.into(),
    })
    .unwrap_or_else(|_| r#"{"id":null,"error":"unprintable"}"#.to_owned())
}

/// One output line for one input line.
pub fn assist_line(model: &Model, line: &str) -> String {
    let (id, subject, detail) = match crate::classifier::cli::read_message_line(line) {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    let fields = super::assist(model, &subject, &detail);
    let answer = Answer {
        id: id.clone(),
        fields: &fields,
    };
    serde_json::to_string(&answer).unwrap_or_else(|e| refuse(id, format!("unprintable: {e}")))
}

/// Every line of `input` (blank lines skipped), each answer flushed as it goes.
pub fn assist_stream(
    model: &Model,
    input: impl BufRead,
    mut output: impl Write,
) -> anyhow::Result<()> {
    for line in input.lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        writeln!(output, "{}", assist_line(model, &line)).context("writing stdout")?;
        output.flush().context("writing stdout")?;
    }
    Ok(())
}

/// The samples of a file.
pub fn read_samples(path: &Path) -> anyhow::Result<Vec<eval::Sample>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_samples(&text).with_context(|| format!("reading {}", path.display()))
}

/// `assist-eval`: the report, and each mistake when asked.
pub fn run_eval(model: &Model, file: &Path, mistakes: bool) -> anyhow::Result<()> {
    let samples = read_samples(file)?;
    let report = eval::evaluate(&samples, Some(model));
    println!("model               {}", model.version);
    print!("{report}");
    if mistakes {
        for m in &report.mistakes {
            println!(
                "{}",
                serde_json::to_string(m).context("printing a mistake")?
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_lines_out() {
        let model = Model::shipped().expect("the shipped model");
        let input = "{\"id\":\"a\",\"subject\":\"A3区路灯不亮\",\"detail\":\"电话13800138000\"}\n\
                     \n\
                     not json\n\
                     {\"id\":7,\"subject\":\"\"}\n\
                     {\"id\":8,\"detail\":3}\n";
        let mut out = Vec::new();
        assist_stream(&model, input.as_bytes(), &mut out).expect("stream");
        let lines: Vec<Value> = String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["id"], "a");
        assert_eq!(lines[0]["district"], "A3区");
        assert_eq!(lines[0]["phones"][0], "13800138000");
        assert!(lines[0]["category"].is_string());
        assert_eq!(lines[0]["top3"].as_array().map(Vec::len), Some(3));
        assert!(lines[1]["error"].is_string() && lines[1]["id"].is_null());
        assert_eq!(lines[2]["id"], 7);
        assert!(lines[2]["error"].is_string());
        assert_eq!(lines[3]["id"], 8);
        assert!(lines[3]["error"].is_string());
    }
}
