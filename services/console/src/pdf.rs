//! The report as PDF: a table on A4 landscape pages, written here (no PDF crate, no font file).
//!
//! Chinese is set in `STSong-Light`, one of the Adobe standard CJK fonts every conforming
//! reader supplies itself (Acrobat, Chrome's and Firefox's viewers, poppler with poppler-data):
//! a `Type0` font with the `UniGB-UCS2-H` CMap, the text written as UTF-16 code units. So the
//! console ships and embeds no font (nothing to license, a report of a few KB); what is left
//! out is embedding, which PDF/A archiving would require, and characters outside the BMP (shown
//! as `?`). [`check`] reads a file's cross-reference table back (tests, and anything that wants
//! to know the file is whole).

use std::fmt::Write as _;

/// A4 landscape, in points.
const WIDTH: f64 = 842.0;
const HEIGHT: f64 = 595.0;
const MARGIN: f64 = 40.0;
const SIZE: f64 = 10.0;
const ROW: f64 = 18.0;

/// Width of `text` in points at `size`: CJK full width, ASCII half (the font's widths below).
fn width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|c| if c.is_ascii() { 0.5 } else { 1.0 })
        .sum::<f64>()
        * size
}

/// `text` as the hex string of its UTF-16 code units (UCS-2: outside the BMP becomes `?`).
fn hex(text: &str) -> String {
    let mut out = String::from("<");
    for c in text.chars() {
        let unit = u16::try_from(u32::from(c)).unwrap_or(0x3F);
        // Control characters have no glyph: a space.
        let unit = if unit < 0x20 { 0x20 } else { unit };
        let _ = write!(out, "{unit:04X}");
    }
    out.push('>');
    out
}

/// `text` cut to fit `max` points, with an ellipsis when cut.
fn fit(text: &str, max: f64) -> String {
    if width(text, SIZE) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    for c in text.chars() {
        if width(&out, SIZE) + width(&c.to_string(), SIZE) + SIZE > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// A table report: `title`, a `subtitle` line, the header and the rows, as many pages as they
/// need; columns share the width in proportion to `weights` (the first column, the department,
/// wider).
pub fn table(title: &str, subtitle: &str, header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let columns = header.len().max(1);
    let weights: Vec<f64> = (0..columns)
        .map(|i| if i == 0 { 2.0 } else { 1.0 })
        .collect();
    let total: f64 = weights.iter().sum();
    let inner = WIDTH - 2.0 * MARGIN;
    let widths: Vec<f64> = weights.iter().map(|w| inner * w / total).collect();
    let per_page = (((HEIGHT - 2.0 * MARGIN - 60.0) / ROW).floor() as usize).max(1);
    let chunks: Vec<&[Vec<String>]> = if rows.is_empty() {
        vec![&[]]
    } else {
        rows.chunks(per_page).collect()
    };
    let pages = chunks.len();
    let mut contents = Vec::new();
    for (n, chunk) in chunks.iter().enumerate() {
        let mut s = String::new();
        let text = |s: &mut String, x: f64, y: f64, size: f64, t: &str| {
            let _ = writeln!(s, "BT /F1 {size} Tf {x:.1} {y:.1} Td {} Tj ET", hex(t));
        };
        let mut y = HEIGHT - MARGIN - 16.0;
        text(&mut s, MARGIN, y, 16.0, title);
        y -= 20.0;
        text(
            &mut s,
            MARGIN,
            y,
            SIZE,
            &format!("{subtitle}    {}/{pages}", n + 1),
        );
        y -= 24.0;
        let line = |s: &mut String, y: f64| {
            let _ = writeln!(s, "{MARGIN:.1} {y:.1} m {:.1} {y:.1} l S", WIDTH - MARGIN);
        };
        s.push_str("0.5 w\n");
        line(&mut s, y + ROW - 4.0);
        let cells = |s: &mut String, y: f64, values: &mut dyn Iterator<Item = &str>| {
            let mut x = MARGIN + 2.0;
            for (value, w) in values.zip(&widths) {
                let _ = writeln!(
                    s,
                    "BT /F1 {SIZE} Tf {x:.1} {y:.1} Td {} Tj ET",
                    hex(&fit(value, w - 4.0))
                );
                x += w;
            }
        };
        cells(&mut s, y, &mut header.iter().copied());
        line(&mut s, y - 6.0);
        for row in chunk.iter() {
            y -= ROW;
            cells(&mut s, y, &mut row.iter().map(String::as_str));
        }
        line(&mut s, y - 6.0);
        contents.push(s);
    }

    // Objects: 1 catalog, 2 pages, 3 the font, 4 its CID font, 5 its descriptor, then a page
    // and its content per page.
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            (0..pages)
                .map(|i| format!("{} 0 R", 6 + 2 * i))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H \
         /DescendantFonts [4 0 R] >>"
            .to_owned(),
        "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light \
         /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> \
         /FontDescriptor 5 0 R /DW 1000 /W [1 95 500] >>"
            .to_owned(),
        "<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 \
         /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 \
         /CapHeight 880 /StemV 93 >>"
            .to_owned(),
    ];
    for (i, content) in contents.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {WIDTH} {HEIGHT}] \
             /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            7 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ));
    }
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(tail, "{offset:010} 00000 n ");
    }
    let _ = write!(
        tail,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(tail.as_bytes());
    out
}

/// Reads a PDF's structure back: the header, `startxref`, the cross-reference table, every
/// object where the table says it is, the catalog's page count. The number of pages, or what
/// is wrong.
pub fn check(pdf: &[u8]) -> Result<usize, String> {
    if !pdf.starts_with(b"%PDF-") {
        return Err("no %PDF- header".into());
    }
    let text = String::from_utf8_lossy(pdf);
    let at = text.rfind("startxref").ok_or("no startxref")?;
    let xref: usize = text[at + 9..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or("startxref is not a number")?;
    let table = pdf.get(xref..).ok_or("startxref past the end")?;
    let table = String::from_utf8_lossy(table);
    let mut lines = table.lines();
    if lines.next() != Some("xref") {
        return Err("startxref does not point at the xref table".into());
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .ok_or("no xref subsection")?;
    lines.next();
    for n in 1..count {
        let entry = lines.next().ok_or("the xref table is short")?;
        let offset: usize = entry
            .get(..10)
            .and_then(|o| o.parse().ok())
            .ok_or("a bad xref entry")?;
        let marker = format!("{n} 0 obj");
        if !pdf
            .get(offset..)
            .is_some_and(|rest| rest.starts_with(marker.as_bytes()))
        {
            return Err(format!("object {n} is not at {offset}"));
        }
    }
    if !text.trim_end().ends_with("%%EOF") {
        return Err("no %%EOF".into());
    }
    let pages = text
        .split("/Count ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or("no page count")?;
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_a_whole_pdf_with_its_chinese_as_ucs2() {
        let rows: Vec<Vec<String>> = vec![vec!["天河区人民政府".into(), "95.0%".into()]];
        let pdf = table("督办通报", "2026-03", &["部门", "按时办结率"], &rows);
        assert_eq!(check(&pdf), Ok(1));
        let text = String::from_utf8_lossy(&pdf);
        // 督 U+7763 办 U+529E: the title as UTF-16 code units.
        assert!(text.contains("<7763529E901A62A5>"), "the title");
        assert!(text.contains("/UniGB-UCS2-H"));
        assert!(text.contains("<00390035002E00300025>"), "95.0%");
    }

    #[test]
    fn long_tables_take_more_pages_and_an_empty_one_still_has_its_page() {
        let rows: Vec<Vec<String>> = (0..100)
            .map(|i| vec![format!("GZ-{i}"), "1".into()])
            .collect();
        let pages = check(&table("t", "s", &["a", "b"], &rows)).expect("whole");
        assert!(pages >= 4, "{pages}");
        assert_eq!(check(&table("t", "s", &["a", "b"], &[])), Ok(1));
    }

    #[test]
    fn a_damaged_file_is_found_out() {
        let pdf = table("t", "s", &["a"], &[vec!["x".into()]]);
        assert!(check(b"hello").is_err());
        let mut shifted = pdf.clone();
        shifted.insert(20, b' ');
        assert!(check(&shifted).is_err(), "objects moved from their offsets");
        assert!(check(&pdf[..pdf.len() - 8]).is_err(), "cut short");
    }

    #[test]
    fn text_is_hex_utf16_and_cut_to_its_column() {
        assert_eq!(hex("A中"), "<00414E2D>");
        assert_eq!(hex("😀"), "<003F>", "outside the BMP");
        assert_eq!(hex("a\nb"), "<00610020006200>".replace("006200", "0062"));
        let cut = fit(&"很".repeat(50), 60.0);
        assert!(cut.ends_with('…') && width(&cut, SIZE) <= 60.0 + SIZE);
    }
}
