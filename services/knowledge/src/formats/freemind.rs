//! FreeMind `.mm` mind maps; the mapping is described in the module docs of [`super`].

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesStart, Event};

use super::tree::{self, Lists, RawNode};
use super::xml::{self, Lines, MAX_ELEMENT_DEPTH, structure, xml_error};
use super::{ExportError, ImportError, Limits};
use crate::model::{Item, MAX_DEPTH, Node};

/// What an open element is, while reading.
enum Frame {
    Map,
    Node(RawNode),
    /// `<richcontent TYPE="NOTE|NODE">`: HTML, gathered as text.
    Rich {
        note: bool,
        text: String,
    },
    /// An element inside rich content; `skip` for `head`, `style` and `script`, whose text is
    /// not shown.
    Html {
        block: bool,
        skip: bool,
    },
    /// Anything else (FreeMind's `font`, `icon`, `edge`, …, or `attribute`): ignored.
    Other,
}

/// The HTML elements that start a new line of a note.
fn is_block(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "p" | "div"
            | "br"
            | "li"
            | "tr"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "pre"
            | "ul"
            | "ol"
            | "table"
            | "body"
    )
}

struct State<'a> {
    lines: Lines<'a>,
    stack: Vec<Frame>,
    root: Option<RawNode>,
    seen_map: bool,
    node_depth: usize,
    nodes: usize,
    limits: Limits,
}

pub(crate) fn read(text: &str, limits: Limits) -> Result<Vec<Item>, ImportError> {
    let mut reader = Reader::from_str(text);
    let mut state = State {
        lines: Lines::new(text),
        stack: Vec::new(),
        root: None,
        seen_map: false,
        node_depth: 0,
        nodes: 0,
        limits,
    };
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let line = state.lines.at(reader.error_position());
                return Err(xml_error(line, e));
            }
        };
        let line = state.lines.at(reader.buffer_position());
        match event {
            Event::Start(e) => state.open(&e, line)?,
            Event::Empty(e) => {
                state.open(&e, line)?;
                state.close(line)?;
            }
            Event::End(_) => state.close(line)?,
            Event::Text(t) => state.text(&t.xml10_content()),
            Event::CData(c) => state.text(&c.xml10_content()),
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| xml_error(line, e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.xml10_content();
                        resolve_xml_entity(&name)
                            .ok_or_else(|| xml_error(line, format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                state.text(&c);
            }
            Event::DocType(_) => return Err(structure(line, "DTDs are not accepted")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !state.stack.is_empty() {
        let line = state.lines.at(text.len() as u64);
        return Err(xml_error(
            line,
            "unexpected end of file: elements left open",
        ));
    }
    let root = state
        .root
        .ok_or_else(|| structure(1, "a FreeMind map needs a root <node> inside <map>"))?;
    tree::items(vec![root])
}

impl State<'_> {
    fn open(&mut self, e: &BytesStart<'_>, line: usize) -> Result<(), ImportError> {
        if self.stack.len() >= MAX_ELEMENT_DEPTH {
            return Err(ImportError::TooDeep {
                line,
                max: MAX_DEPTH,
            });
        }
        let name = xml::local_name(e);
        let frame = match (self.stack.last_mut(), name.as_str()) {
            (None, "map") if !self.seen_map => {
                self.seen_map = true;
                Frame::Map
            }
            (None, _) if self.seen_map => {
                return Err(structure(line, "content after the closing </map>"));
            }
            (None, other) => {
                return Err(structure(
                    line,
                    format!("a FreeMind file starts with <map>, not <{other}>"),
                ));
            }
            (Some(Frame::Map), "node") => {
                if self.root.is_some() {
                    return Err(structure(line, "a map has exactly one root node"));
                }
                self.new_node(e, line)?
            }
            (Some(Frame::Node(_)), "node") => self.new_node(e, line)?,
            (Some(Frame::Node(parent)), "attribute") => {
                let mut name = None;
                let mut value = String::new();
                for (key, v) in xml::attributes(e, line)? {
                    match key.as_str() {
                        "NAME" => name = Some(v),
                        "VALUE" => value = v,
                        _ => {}
                    }
                }
                let name = name.ok_or_else(|| ImportError::MissingAttribute {
                    line,
                    name: "NAME".to_owned(),
                })?;
                parent.fields.push((name.trim().to_owned(), value));
                Frame::Other
            }
            (Some(Frame::Node(_)), "richcontent") => {
                let kind = xml::attributes(e, line)?
                    .into_iter()
                    .find(|(k, _)| k == "TYPE")
                    .map(|(_, v)| v.to_ascii_uppercase());
                match kind.as_deref() {
                    Some("NOTE") => Frame::Rich {
                        note: true,
                        text: String::new(),
                    },
                    Some("NODE") => Frame::Rich {
                        note: false,
                        text: String::new(),
                    },
                    _ => Frame::Other,
                }
            }
            (Some(Frame::Rich { .. } | Frame::Html { .. }), name) => {
                let parent_skip = matches!(self.stack.last(), Some(Frame::Html { skip: true, .. }));
                let skip = parent_skip
                    || matches!(
                        name.to_ascii_lowercase().as_str(),
                        "head" | "style" | "script" | "title"
                    );
                let block = is_block(name);
                if block {
                    self.line_break(name.eq_ignore_ascii_case("br"));
                }
                Frame::Html { block, skip }
            }
            _ => Frame::Other,
        };
        self.stack.push(frame);
        Ok(())
    }

    fn new_node(&mut self, e: &BytesStart<'_>, line: usize) -> Result<Frame, ImportError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(ImportError::TooLarge {
                what: "nodes",
                max: self.limits.max_nodes,
            });
        }
        // The root may be a collection, then come items, then MAX_DEPTH levels of nodes.
        self.node_depth += 1;
        if self.node_depth > MAX_DEPTH + 2 {
            return Err(ImportError::TooDeep {
                line,
                max: MAX_DEPTH,
            });
        }
        let text = xml::attributes(e, line)?
            .into_iter()
            .find(|(k, _)| k == "TEXT")
            .map(|(_, v)| v);
        Ok(Frame::Node(RawNode {
            line,
            text,
            ..RawNode::default()
        }))
    }

    fn close(&mut self, line: usize) -> Result<(), ImportError> {
        let Some(frame) = self.stack.pop() else {
            return Err(xml_error(line, "closing tag without an opening one"));
        };
        match frame {
            Frame::Node(node) => {
                self.node_depth -= 1;
                match self.stack.last_mut() {
                    Some(Frame::Node(parent)) => parent.children.push(node),
                    _ => self.root = Some(node),
                }
            }
            Frame::Rich { note, text } => {
                let text = html_text(&text);
                if let Some(Frame::Node(node)) = self.stack.last_mut() {
                    if note {
                        node.note = Some(text);
                    } else if node.text.is_none() {
                        node.text = Some(text);
                    }
                }
            }
            Frame::Html { block: true, .. } => self.line_break(false),
            Frame::Map | Frame::Html { .. } | Frame::Other => {}
        }
        Ok(())
    }

    /// The rich content being read, unless inside a skipped element.
    fn rich(&mut self) -> Option<&mut String> {
        if matches!(self.stack.last(), Some(Frame::Html { skip: true, .. })) {
            return None;
        }
        self.stack.iter_mut().rev().find_map(|f| match f {
            Frame::Rich { text, .. } => Some(text),
            _ => None,
        })
    }

    /// A paragraph boundary (once) or a `<br>` (always).
    fn line_break(&mut self, forced: bool) {
        if let Some(text) = self.rich()
            && (forced || !text.is_empty() && !text.ends_with('\n'))
        {
            text.push('\n');
        }
    }

    /// Text inside rich content, white space collapsed as HTML shows it; elsewhere ignored.
    fn text(&mut self, raw: &str) {
        let Some(text) = self.rich() else {
            return;
        };
        for c in raw.chars() {
            if c.is_whitespace() && c != '\u{a0}' {
                if !text.is_empty() && !text.ends_with([' ', '\n']) {
                    text.push(' ');
                }
            } else {
                text.push(c);
            }
        }
    }
}

/// Gathered HTML text to plain text: lines trimmed, blank lines at either end dropped.
fn html_text(raw: &str) -> String {
    let lines: Vec<&str> = raw.split('\n').map(str::trim).collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |i| i + 1);
    lines[start..end].join("\n").replace('\u{a0}', " ")
}

pub(crate) fn write(items: &[Item]) -> Result<Vec<u8>, ExportError> {
    let mut out = String::with_capacity(4096);
    out.push_str("<map version=\"1.0.1\">\n");
    out.push_str(
        "<!-- Knowledge items for the 12345 hotline. Fields are node attributes; see deploy/seed/knowledge/README.md -->\n",
    );
    if let [item] = items {
        write_item(&mut out, item, 0)?;
    } else {
        out.push_str("<node TEXT=\"知识库\">\n  <attribute NAME=\"kind\" VALUE=\"collection\"/>\n");
        for item in items {
            write_item(&mut out, item, 1)?;
        }
        out.push_str("</node>\n");
    }
    out.push_str("</map>\n");
    Ok(out.into_bytes())
}

fn write_item(out: &mut String, item: &Item, depth: usize) -> Result<(), ExportError> {
    open_node(out, &item.code, &item.title, depth)?;
    for (name, value) in tree::item_fields(item) {
        attribute(out, &item.code, name, &value, depth + 1)?;
    }
    for node in &item.nodes {
        write_node(out, node, depth + 1)?;
    }
    close_node(out, depth);
    Ok(())
}

fn write_node(out: &mut String, node: &Node, depth: usize) -> Result<(), ExportError> {
    open_node(out, node.code(), node.label(), depth)?;
    for (name, value) in tree::node_fields(node, Lists::Repeated) {
        attribute(out, node.code(), name, &value, depth + 1)?;
    }
    if let Node::Situation { children, .. } = node {
        for child in children {
            write_node(out, child, depth + 1)?;
        }
    }
    close_node(out, depth);
    Ok(())
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn open_node(
    out: &mut String,
    code: &hotline_domain::ItemCode,
    text: &str,
    depth: usize,
) -> Result<(), ExportError> {
    let text = xml::checked(code, "title", text)?;
    indent(out, depth);
    out.push_str("<node TEXT=\"");
    xml::push_attr_value(out, text);
    out.push_str("\">\n");
    Ok(())
}

fn close_node(out: &mut String, depth: usize) {
    indent(out, depth);
    out.push_str("</node>\n");
}

fn attribute(
    out: &mut String,
    code: &hotline_domain::ItemCode,
    name: &'static str,
    value: &str,
    depth: usize,
) -> Result<(), ExportError> {
    let value = xml::checked(code, name, value)?;
    indent(out, depth);
    out.push_str("<attribute NAME=\"");
    xml::push_attr_value(out, name);
    out.push_str("\" VALUE=\"");
    xml::push_attr_value(out, value);
    out.push_str("\"/>\n");
    Ok(())
}
