//! A TOML file as keys and values with their places, for `--config` (see the parent module).
//!
//! In: the text of a file and its name. Out: its top-level entries, each key and value with
//! its byte range, or its first error as `FILE:LINE:COLUMN: message`. Guarantees: every
//! TOML value but dates and times is taken (those are an error at their place).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// A TOML value with the byte range of each key and value in it.
#[derive(Debug)]
pub(super) enum Node {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Spanned<Node>>),
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
}

pub(super) type Entries = Vec<(Spanned<String>, Spanned<Node>)>;

impl Node {
    /// The value as a command-line word, for strings, numbers and (when `bools`) booleans.
    pub(super) fn scalar(&self, bools: bool) -> Option<String> {
        match self {
            Node::Str(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Bool(b) if bools => Some(b.to_string()),
            _ => None,
        }
    }

    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Int(_) => "an integer",
            Node::Float(_) => "a float",
            Node::Bool(_) => "a boolean",
            Node::Array(_) => "an array",
            Node::Table(_) => "a table",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string, number, boolean, array or table")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v).map(Node::Int).map_err(E::custom)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Node::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut v = Vec::new();
        while let Some(k) = map.next_key::<Spanned<String>>()? {
            v.push((k, map.next_value()?));
        }
        Ok(Node::Table(v))
    }
}

/// The file's top-level entries, or its syntax error at its place.
pub(super) fn parse_toml(text: &str, file: &str) -> Result<Entries, Vec<String>> {
    let place = |e: &toml::de::Error| match e.span() {
        Some(s) => place(file, text, s.start),
        None => file.to_string(),
    };
    // Plain values first: the syntax, with toml's own messages.
    if let Err(e) = toml::from_str::<toml::Table>(text) {
        return Err(vec![format!("{}: {}", place(&e), e.message().trim_end())]);
    }
    match toml::from_str::<Node>(text) {
        Ok(Node::Table(entries)) => Ok(entries),
        Ok(_) => Err(vec![format!("{file}: not a table of options")]),
        // The syntax is fine, so this is the one value Node does not take.
        Err(e) => Err(vec![format!(
            "{}: a date or time is not a value of any option",
            place(&e)
        )]),
    }
}

/// `FILE:LINE:COLUMN` of byte offset `at` (1-based, the column in characters).
pub(super) fn place(file: &str, text: &str, at: usize) -> String {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    format!("{file}:{line}:{}", before[start..].chars().count() + 1)
}
