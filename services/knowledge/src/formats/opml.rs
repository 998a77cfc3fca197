//! OPML 2.0 outlines; the mapping is described in the module docs of [`super`].

use hotline_domain::ItemCode;
use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesStart, Event};

use super::fields as f;
use super::tree::{self, Lists, RawNode};
use super::xml::{self, Lines, MAX_ELEMENT_DEPTH, structure, xml_error};
use super::{ExportError, ImportError, Limits};
use crate::model::{Item, MAX_DEPTH, Node};

/// The attribute that carries the answer: the one outliners show as a row's note.
pub(crate) const NOTE: &str = "_note";

/// OPML's own outline attributes, ignored on import.
const OPML_ATTRIBUTES: [&str; 12] = [
    "type",
    "isComment",
    "isBreakpoint",
    "created",
    "category",
    "xmlUrl",
    "htmlUrl",
    "url",
    "title",
    "description",
    "language",
    "version",
];

enum Frame {
    Opml,
    Body,
    Outline(RawNode),
    Other,
}

pub(crate) fn read(text: &str, limits: Limits) -> Result<Vec<Item>, ImportError> {
    let mut reader = Reader::from_str(text);
    let mut lines = Lines::new(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut roots: Vec<RawNode> = Vec::new();
    let mut seen_root = false;
    let mut seen_body = false;
    let mut outline_depth = 0usize;
    let mut nodes = 0usize;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let line = lines.at(reader.error_position());
                return Err(xml_error(line, e));
            }
        };
        let line = lines.at(reader.buffer_position());
        let (start, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                close(&mut stack, &mut roots, &mut outline_depth);
                continue;
            }
            Event::GeneralRef(r) => {
                // Only to refuse unknown entities: text content means nothing in OPML.
                if r.resolve_char_ref()
                    .map_err(|e| xml_error(line, e))?
                    .is_none()
                {
                    let name = r.xml10_content();
                    if resolve_xml_entity(&name).is_none() {
                        return Err(xml_error(line, format!("unknown entity &{name};")));
                    }
                }
                continue;
            }
            Event::DocType(_) => return Err(structure(line, "DTDs are not accepted")),
            Event::Eof => break,
            Event::Text(_)
            | Event::CData(_)
            | Event::Decl(_)
            | Event::PI(_)
            | Event::Comment(_) => {
                continue;
            }
        };
        if stack.len() >= MAX_ELEMENT_DEPTH {
            return Err(ImportError::TooDeep {
                line,
                max: MAX_DEPTH,
            });
        }
        let name = xml::local_name(&start);
        let frame = match (stack.last(), name.as_str()) {
            (None, "opml") if !seen_root => {
                seen_root = true;
                Frame::Opml
            }
            (None, _) if seen_root => {
                return Err(structure(line, "content after the closing </opml>"));
            }
            (None, other) => {
                return Err(structure(
                    line,
                    format!("an OPML file starts with <opml>, not <{other}>"),
                ));
            }
            (Some(Frame::Opml), "body") => {
                if seen_body {
                    return Err(structure(line, "an OPML file has one <body>"));
                }
                seen_body = true;
                Frame::Body
            }
            (Some(Frame::Body | Frame::Outline(_)), "outline") => {
                nodes += 1;
                if nodes > limits.max_nodes {
                    return Err(ImportError::TooLarge {
                        what: "nodes",
                        max: limits.max_nodes,
                    });
                }
                outline_depth += 1;
                if outline_depth > MAX_DEPTH + 2 {
                    return Err(ImportError::TooDeep {
                        line,
                        max: MAX_DEPTH,
                    });
                }
                Frame::Outline(outline(&start, line)?)
            }
            _ => Frame::Other,
        };
        stack.push(frame);
        if empty {
            close(&mut stack, &mut roots, &mut outline_depth);
        }
    }
    if !stack.is_empty() {
        let line = lines.at(text.len() as u64);
        return Err(xml_error(
            line,
            "unexpected end of file: elements left open",
        ));
    }
    if !seen_body {
        return Err(structure(
            lines.at(text.len() as u64),
            "an OPML file needs a <body>",
        ));
    }
    tree::items(roots)
}

fn outline(e: &BytesStart<'_>, line: usize) -> Result<RawNode, ImportError> {
    let mut node = RawNode {
        line,
        ..RawNode::default()
    };
    for (key, value) in xml::attributes(e, line)? {
        match key.as_str() {
            "text" => node.text = Some(value),
            NOTE => node.fields.push((f::ANSWER.to_owned(), value)),
            k if OPML_ATTRIBUTES.contains(&k) || k.starts_with('_') || k.starts_with("xmlns") => {}
            _ => node.fields.push((key, value)),
        }
    }
    Ok(node)
}

fn close(stack: &mut Vec<Frame>, roots: &mut Vec<RawNode>, outline_depth: &mut usize) {
    if let Some(Frame::Outline(node)) = stack.pop() {
        *outline_depth -= 1;
        match stack.last_mut() {
            Some(Frame::Outline(parent)) => parent.children.push(node),
            _ => roots.push(node),
        }
    }
}

pub(crate) fn write(items: &[Item]) -> Result<Vec<u8>, ExportError> {
    let mut out = String::with_capacity(4096);
    out.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n    <title>",
    );
    match items {
        [item] => xml::push_text(&mut out, xml::checked(&item.code, "title", &item.title)?),
        _ => out.push_str("知识库"),
    }
    out.push_str("</title>\n  </head>\n  <body>\n");
    for item in items {
        let mut attrs = vec![("text", item.title.clone())];
        attrs.extend(tree::item_fields(item));
        open(&mut out, &item.code, &attrs, 2, item.nodes.is_empty())?;
        for node in &item.nodes {
            write_node(&mut out, node, 3)?;
        }
        if !item.nodes.is_empty() {
            close_tag(&mut out, 2);
        }
    }
    out.push_str("  </body>\n</opml>\n");
    Ok(out.into_bytes())
}

fn write_node(out: &mut String, node: &Node, depth: usize) -> Result<(), ExportError> {
    let mut attrs = vec![("text", node.label().to_owned())];
    attrs.extend(
        tree::node_fields(node, Lists::Joined)
            .into_iter()
            .map(|(name, value)| (if name == f::ANSWER { NOTE } else { name }, value)),
    );
    match node {
        Node::Situation { children, .. } => {
            open(out, node.code(), &attrs, depth, children.is_empty())?;
            for child in children {
                write_node(out, child, depth + 1)?;
            }
            if !children.is_empty() {
                close_tag(out, depth);
            }
        }
        Node::Answer(_) => open(out, node.code(), &attrs, depth, true)?,
    }
    Ok(())
}

fn open(
    out: &mut String,
    code: &ItemCode,
    attrs: &[(&'static str, String)],
    depth: usize,
    empty: bool,
) -> Result<(), ExportError> {
    for _ in 0..depth {
        out.push_str("  ");
    }
    out.push_str("<outline");
    for (name, value) in attrs {
        let field = if *name == NOTE { f::ANSWER } else { name };
        let value = xml::checked(code, field, value)?;
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        xml::push_attr_value(out, value);
        out.push('"');
    }
    out.push_str(if empty { "/>\n" } else { ">\n" });
    Ok(())
}

fn close_tag(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
    out.push_str("</outline>\n");
}
