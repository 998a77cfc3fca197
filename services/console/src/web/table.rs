//! The opening of a data table, the same on every screen: its scrolling wrapper, the header
//! row, and the body the caller's rows go in (closed with `</tbody></table></div>`).

use crate::html::Html;

/// `<div class="table-wrap"><table id=…><thead>…</thead><tbody>`: `id` (none: no id) and a
/// header cell per column, in order (`""`: an empty one, over a column of links or forms).
pub fn head(id: Option<&str>, columns: &[&str]) -> Html {
    let mut h = Html::new();
    h.raw("<div class=\"table-wrap\"><table");
    if let Some(id) = id {
        h.raw(" id=\"").text(id).raw("\"");
    }
    h.raw("><thead><tr>");
    for column in columns {
        h.raw("<th>").text(column).raw("</th>");
    }
    h.raw("</tr></thead><tbody>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_opens_the_wrapper_the_header_row_and_the_body() {
        assert_eq!(
            head(Some("diff"), &["a", "", "<b>"]).finish(),
            "<div class=\"table-wrap\"><table id=\"diff\"><thead><tr><th>a</th><th></th>\
             <th>&lt;b&gt;</th></tr></thead><tbody>"
        );
        assert_eq!(
            head(None, &["x"]).finish(),
            "<div class=\"table-wrap\"><table><thead><tr><th>x</th></tr></thead><tbody>"
        );
    }
}
