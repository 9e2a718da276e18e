//! JSONPath as Step Functions' JSONPath query language uses it, restricted to
//! single-node paths: `$`, `$.a.b`, `$['a-b']`, `$.a[0]`, and `$$...` for the
//! Context object. Filters, wildcards, slices, unions and recursive descent
//! are refused when the definition is loaded.

use std::fmt;

use serde_json::{Map, Value};

/// Which document a path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the state's (effective) input.
    Input,
    /// `$$`: the Context object.
    Context,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A parsed single-node path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    root: Root,
    segments: Vec<Segment>,
    text: String,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Path {
    /// Parses a path; the error says what is wrong or unsupported.
    pub fn parse(text: &str) -> Result<Path, String> {
        let (root, rest) = if let Some(r) = text.strip_prefix("$$") {
            (Root::Context, r)
        } else if let Some(r) = text.strip_prefix('$') {
            (Root::Input, r)
        } else {
            return Err(format!("path \"{text}\" does not start with \"$\""));
        };
        let unsupported = |what: &str| format!("path \"{text}\": {what} is not supported");
        let bytes: Vec<char> = rest.chars().collect();
        let mut i = 0;
        let mut segments = Vec::new();
        while i < bytes.len() {
            match bytes[i] {
                '.' => {
                    i += 1;
                    if bytes.get(i) == Some(&'.') {
                        return Err(unsupported("recursive descent \"..\""));
                    }
                    let start = i;
                    while i < bytes.len() && bytes[i] != '.' && bytes[i] != '[' {
                        i += 1;
                    }
                    let name: String = bytes[start..i].iter().collect();
                    if name.is_empty() {
                        return Err(format!("path \"{text}\": empty member name"));
                    }
                    if name == "*" {
                        return Err(unsupported("wildcard \"*\""));
                    }
                    if let Some(c) = name.chars().find(|c| {
                        c.is_whitespace()
                            || matches!(c, '*' | '?' | '@' | '(' | ')' | ',' | ']' | '\'' | '"')
                    }) {
                        return Err(format!(
                            "path \"{text}\": character '{c}' in member name \"{name}\" is not supported"
                        ));
                    }
                    segments.push(Segment::Key(name));
                }
                '[' => {
                    i += 1;
                    match bytes.get(i) {
                        Some(q @ ('\'' | '"')) => {
                            let quote = *q;
                            i += 1;
                            let mut name = String::new();
                            loop {
                                match bytes.get(i) {
                                    None => {
                                        return Err(format!(
                                            "path \"{text}\": unterminated quoted member"
                                        ));
                                    }
                                    Some('\\') => {
                                        match bytes.get(i + 1) {
                                            Some(c) => name.push(*c),
                                            None => {
                                                return Err(format!(
                                                    "path \"{text}\": unterminated quoted member"
                                                ));
                                            }
                                        }
                                        i += 2;
                                    }
                                    Some(c) if *c == quote => {
                                        i += 1;
                                        break;
                                    }
                                    Some(c) => {
                                        name.push(*c);
                                        i += 1;
                                    }
                                }
                            }
                            if bytes.get(i) != Some(&']') {
                                return Err(unsupported("a bracket with several members"));
                            }
                            i += 1;
                            segments.push(Segment::Key(name));
                        }
                        Some('*') => return Err(unsupported("wildcard \"[*]\"")),
                        Some('?') => return Err(unsupported("filter expression \"[?(...)]\"")),
                        Some('(') => return Err(unsupported("script expression \"[(...)]\"")),
                        Some(_) => {
                            let start = i;
                            while i < bytes.len() && bytes[i] != ']' {
                                i += 1;
                            }
                            if i >= bytes.len() {
                                return Err(format!("path \"{text}\": unterminated \"[\""));
                            }
                            let inner: String = bytes[start..i].iter().collect();
                            i += 1;
                            if inner.contains(':') {
                                return Err(unsupported("array slice"));
                            }
                            if inner.contains(',') {
                                return Err(unsupported("union"));
                            }
                            let index = inner.trim().parse::<usize>().map_err(|_| {
                                format!(
                                    "path \"{text}\": \"[{inner}]\" is not a supported array index"
                                )
                            })?;
                            segments.push(Segment::Index(index));
                        }
                        None => return Err(format!("path \"{text}\": unterminated \"[\"")),
                    }
                }
                c => return Err(format!("path \"{text}\": unexpected character '{c}'")),
            }
        }
        Ok(Path {
            root,
            segments,
            text: text.to_owned(),
        })
    }

    /// Which document this path reads.
    pub fn root(&self) -> Root {
        self.root
    }

    /// Whether this is exactly `$`.
    pub fn is_root(&self) -> bool {
        self.root == Root::Input && self.segments.is_empty()
    }

    /// The steps after the root.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Reads the node this path selects; `None` if it does not exist.
    pub fn select<'a>(&self, input: &'a Value, context: &'a Value) -> Option<&'a Value> {
        let mut node = match self.root {
            Root::Input => input,
            Root::Context => context,
        };
        for seg in &self.segments {
            node = match (seg, node) {
                (Segment::Key(k), Value::Object(m)) => m.get(k)?,
                (Segment::Index(i), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Writes `value` at this reference path inside `target` (as `ResultPath`
    /// does): missing object members are created, anything else that is in
    /// the way is an error.
    pub fn insert(&self, target: Value, value: Value) -> Result<Value, String> {
        if self.segments.is_empty() {
            return Ok(value);
        }
        let mut target = target;
        let mut node = &mut target;
        let last = self.segments.len() - 1;
        for (n, seg) in self.segments.iter().enumerate() {
            let is_last = n == last;
            node = match seg {
                Segment::Key(k) => {
                    let Value::Object(m) = node else {
                        return Err(format!(
                            "unable to apply path \"{}\": the value at member \"{k}\" is not inside an object",
                            self.text
                        ));
                    };
                    if is_last {
                        m.insert(k.clone(), value);
                        return Ok(target);
                    }
                    m.entry(k.clone())
                        .or_insert_with(|| Value::Object(Map::new()))
                }
                Segment::Index(i) => {
                    let Value::Array(a) = node else {
                        return Err(format!(
                            "unable to apply path \"{}\": index [{i}] is not inside an array",
                            self.text
                        ));
                    };
                    let len = a.len();
                    let Some(slot) = a.get_mut(*i) else {
                        return Err(format!(
                            "unable to apply path \"{}\": index [{i}] is out of bounds (length {len})",
                            self.text
                        ));
                    };
                    if is_last {
                        *slot = value;
                        return Ok(target);
                    }
                    slot
                }
            };
        }
        Ok(target)
    }
}
