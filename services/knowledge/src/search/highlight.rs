//! Highlighting over the in-memory texts: matched query terms wrapped in `<em>`…`</em>`,
//! everything else HTML-escaped.
//!
//! Matching is by substring (case-insensitive for ASCII) rather than by re-tokenising: for
//! Chinese that is both what a reader expects (参保 lit up inside 未参保) and cheaper.

/// Wraps every occurrence of `terms` in `text` and escapes the rest. For titles.
pub(crate) fn highlight_all(text: &str, terms: &[String]) -> String {
    let ranges = match_ranges(text, terms);
    render(text, 0, text.len(), &ranges)
}

/// The best fragment of at most `max_chars` characters of `text`: the window holding the most
/// matches, starting a little before the first of them; `…` marks a cut. Without any match,
/// the beginning of the text.
pub(crate) fn fragment(text: &str, terms: &[String], max_chars: usize) -> String {
    let ranges = match_ranges(text, terms);
    // Byte offset of every character, plus the end.
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let n_chars = bounds.len() - 1;
    if n_chars <= max_chars {
        return render(text, 0, text.len(), &ranges);
    }
    let char_of = |byte: usize| bounds.partition_point(|&b| b < byte);
    // Best window: starting at a match, counting the matches wholly inside it.
    let mut best: Option<(usize, usize)> = None; // (count, first char of window)
    let mut j = 0;
    for i in 0..ranges.len() {
        let start_char = char_of(ranges[i].0);
        let end_char = start_char + max_chars;
        if j < i {
            j = i;
        }
        while j < ranges.len() && char_of(ranges[j].1) <= end_char {
            j += 1;
        }
        let count = j - i;
        if best.is_none_or(|(c, _)| count > c) {
            best = Some((count, start_char));
        }
    }
    let first = match best {
        // A little context before the first match, without running past the end.
        Some((_, c)) => c.saturating_sub(max_chars / 8).min(n_chars - max_chars),
        None => 0,
    };
    let last = (first + max_chars).min(n_chars);
    let (from, to) = (bounds[first], bounds[last]);
    let inside: Vec<(usize, usize)> = ranges
        .into_iter()
        .filter(|&(s, e)| s >= from && e <= to)
        .collect();
    let mut out = String::with_capacity((to - from) + 32);
    if first > 0 {
        out.push('…');
    }
    out.push_str(&render(text, from, to, &inside));
    if last < n_chars {
        out.push('…');
    }
    out
}

/// Byte ranges of the terms in `text`, sorted, overlapping ones merged.
fn match_ranges(text: &str, terms: &[String]) -> Vec<(usize, usize)> {
    /// Enough for any fragment; bounds the work on a long text full of a common term.
    const MAX_MATCHES_PER_TERM: usize = 256;
    let lower = text.to_ascii_lowercase();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for term in terms.iter().filter(|t| !t.is_empty()) {
        ranges.extend(
            lower
                .match_indices(term.as_str())
                .take(MAX_MATCHES_PER_TERM)
                .map(|(i, m)| (i, i + m.len())),
        );
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// `text[from..to]` escaped, with `ranges` (inside it, sorted, disjoint) wrapped in `<em>`.
fn render(text: &str, from: usize, to: usize, ranges: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(to.saturating_sub(from) + 16 * ranges.len());
    let mut at = from;
    for &(s, e) in ranges {
        if s < at || e > to {
            continue;
        }
        escape_into(&mut out, text.get(at..s).unwrap_or(""));
        out.push_str("<em>");
        escape_into(&mut out, text.get(s..e).unwrap_or(""));
        out.push_str("</em>");
        at = e;
    }
    escape_into(&mut out, text.get(at..to).unwrap_or(""));
    out
}

/// Escapes the five HTML-significant characters.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wraps_matches_and_escapes_the_rest() {
        let out = highlight_all("<script>参保</script> & 参保", &terms(&["参保"]));
        assert_eq!(
            out,
            "&lt;script&gt;<em>参保</em>&lt;/script&gt; &amp; <em>参保</em>"
        );
    }

    #[test]
    fn overlapping_terms_merge_and_ascii_is_case_insensitive() {
        let out = highlight_all("社会保障卡 ETC", &terms(&["社会保障", "保障卡", "etc"]));
        assert_eq!(out, "<em>社会保障卡</em> <em>ETC</em>");
    }

    #[test]
    fn a_fragment_is_short_and_centred_on_the_matches() {
        let text = format!("{}新生儿参保{}", "甲".repeat(300), "乙".repeat(300));
        let out = fragment(&text, &terms(&["新生儿", "参保"]), 120);
        assert!(
            out.contains("<em>新生儿</em><em>参保</em>") || out.contains("<em>新生儿参保</em>")
        );
        assert!(out.starts_with('…') && out.ends_with('…'));
        let visible = out.replace("<em>", "").replace("</em>", "");
        assert!(
            visible.chars().count() <= 122,
            "{}",
            visible.chars().count()
        );
        let none = fragment(&text, &terms(&["无关"]), 10);
        assert_eq!(none, format!("{}…", "甲".repeat(10)));
    }
}
