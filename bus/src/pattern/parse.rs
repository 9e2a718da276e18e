//! Validation and compilation of a pattern from JSON.
//!
//! Validation follows EventBridge (and its engine, `aws/event-ruler`). Where
//! the AWS documentation does not settle a case, the stricter choice is made;
//! each such choice is marked "strict" below.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::condition::{AnythingBut, Cidr, Condition, NUMERIC_LIMIT, NumericRange, Wildcard};
use super::error::{ErrorKind, PatternError};
use super::{Leaf, Node, ObjectPattern};

/// Operator names; inside a `$or` branch they may not be used as field names
/// (as in event-ruler, which would otherwise read them ambiguously).
const OPERATORS: [&str; 8] = [
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
];

type Result<T> = std::result::Result<T, PatternError>;

/// Compiles the root of a pattern.
pub(super) fn compile(value: &Value) -> Result<ObjectPattern> {
    let mut path = Path::root();
    match value {
        Value::Object(map) => compile_object(map, &mut path, false),
        _ => Err(path.error(ErrorKind::NotAnObject)),
    }
}

/// The JSON path of the node being compiled, used in error messages.
struct Path(String);

impl Path {
    fn root() -> Self {
        Path("$".to_owned())
    }

    fn error(&self, kind: ErrorKind) -> PatternError {
        PatternError::new(self.0.clone(), kind)
    }

    /// Runs `f` with `key` appended to the path.
    fn key<T>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        let len = self.0.len();
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'));
        if plain {
            self.0.push('.');
            self.0.push_str(key);
        } else {
            self.0.push('[');
            self.0.push_str(&Value::from(key).to_string());
            self.0.push(']');
        }
        let out = f(self);
        self.0.truncate(len);
        out
    }

    /// Runs `f` with `[index]` appended to the path.
    fn index<T>(&mut self, index: usize, f: impl FnOnce(&mut Self) -> T) -> T {
        let len = self.0.len();
        self.0.push('[');
        self.0.push_str(&index.to_string());
        self.0.push(']');
        let out = f(self);
        self.0.truncate(len);
        out
    }
}

fn compile_object(map: &Map<String, Value>, path: &mut Path, in_or: bool) -> Result<ObjectPattern> {
    if map.is_empty() {
        return Err(path.error(ErrorKind::EmptyObject));
    }
    let mut object = ObjectPattern {
        fields: Vec::with_capacity(map.len()),
        ors: Vec::new(),
    };
    for (name, value) in map {
        path.key(name, |path| {
            if name == "$or" {
                object.ors.push(compile_or(value, path)?);
                return Ok(());
            }
            if in_or && OPERATORS.contains(&name.as_str()) {
                return Err(path.error(ErrorKind::ReservedFieldInOr(name.clone())));
            }
            let node = match value {
                Value::Array(items) => Node::Leaf(compile_leaf(items, path)?),
                Value::Object(nested) => Node::Object(compile_object(nested, path, in_or)?),
                _ => return Err(path.error(ErrorKind::NotArrayOrObject)),
            };
            object.fields.push((name.clone(), node));
            Ok(())
        })?;
    }
    Ok(object)
}

/// `$or`: an array of at least two non-empty pattern objects. Strict: `$or`
/// is always the operator here, never a plain field name.
fn compile_or(value: &Value, path: &mut Path) -> Result<Vec<ObjectPattern>> {
    let items = match value {
        Value::Array(items) if items.len() >= 2 => items,
        _ => return Err(path.error(ErrorKind::InvalidOr)),
    };
    let mut branches = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        path.index(i, |path| match item {
            Value::Object(map) => {
                branches.push(compile_object(map, path, true)?);
                Ok(())
            }
            _ => Err(path.error(ErrorKind::InvalidOr)),
        })?;
    }
    Ok(branches)
}

fn compile_leaf(items: &[Value], path: &mut Path) -> Result<Leaf> {
    if items.is_empty() {
        return Err(path.error(ErrorKind::EmptyArray));
    }
    let mut conditions = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let condition = path.index(i, |path| match item {
            Value::String(s) => Ok(Condition::String(s.clone())),
            Value::Number(n) => Ok(Condition::Number(as_f64(n))),
            Value::Bool(b) => Ok(Condition::Bool(*b)),
            Value::Null => Ok(Condition::Null),
            Value::Array(_) => Err(path.error(ErrorKind::InvalidMatchValue)),
            Value::Object(map) => compile_operator(map, path),
        })?;
        conditions.push(condition);
    }
    Ok(Leaf::new(conditions))
}

/// The single `(key, value)` of an operator object.
fn single_entry<'a>(map: &'a Map<String, Value>, path: &Path) -> Result<(&'a str, &'a Value)> {
    let mut entries = map.iter();
    match (entries.next(), map.len()) {
        (None, _) => Err(path.error(ErrorKind::MissingOperator)),
        (Some((k, v)), 1) => Ok((k.as_str(), v)),
        (Some(_), n) => Err(path.error(ErrorKind::TooManyOperators(n))),
    }
}

fn invalid_operand(path: &Path, operator: &str, expected: &'static str) -> PatternError {
    path.error(ErrorKind::InvalidOperand {
        operator: operator.to_owned(),
        expected,
    })
}

fn compile_operator(map: &Map<String, Value>, path: &mut Path) -> Result<Condition> {
    let (operator, operand) = single_entry(map, path)?;
    path.key(operator, |path| match (operator, operand) {
        ("prefix", Value::String(s)) => Ok(Condition::Prefix(s.clone())),
        ("suffix", Value::String(s)) => Ok(Condition::Suffix(s.clone())),
        ("prefix" | "suffix", Value::Object(inner)) => {
            let lower = compile_ignore_case_modifier(inner, path, operator)?;
            Ok(if operator == "prefix" {
                Condition::PrefixIgnoreCase(lower)
            } else {
                Condition::SuffixIgnoreCase(lower)
            })
        }
        ("prefix" | "suffix", _) => Err(invalid_operand(
            path,
            operator,
            "a string or an equals-ignore-case object",
        )),
        ("equals-ignore-case", Value::String(s)) => {
            Ok(Condition::EqualsIgnoreCase(s.to_lowercase()))
        }
        ("equals-ignore-case", _) => Err(invalid_operand(path, operator, "a string")),
        ("wildcard", Value::String(s)) => Ok(Condition::Wildcard(compile_wildcard(s, path)?)),
        ("wildcard", _) => Err(invalid_operand(path, operator, "a string")),
        ("numeric", Value::Array(items)) => Ok(Condition::Numeric(compile_numeric(items, path)?)),
        ("numeric", _) => Err(invalid_operand(path, operator, "an array")),
        ("cidr", Value::String(s)) => Ok(Condition::Cidr(compile_cidr(s, path)?)),
        ("cidr", _) => Err(invalid_operand(path, operator, "a string")),
        ("exists", Value::Bool(b)) => Ok(Condition::Exists(*b)),
        ("exists", _) => Err(invalid_operand(path, operator, "true or false")),
        ("anything-but", _) => Ok(Condition::AnythingBut(compile_anything_but(operand, path)?)),
        _ => Err(path.error(ErrorKind::UnknownOperator(operator.to_owned()))),
    })
}

/// `{"equals-ignore-case": "..."}` inside `prefix` or `suffix`; returns the
/// lower-cased operand.
fn compile_ignore_case_modifier(
    inner: &Map<String, Value>,
    path: &mut Path,
    outer: &str,
) -> Result<String> {
    let (key, value) = single_entry(inner, path)?;
    path.key(key, |path| match (key, value) {
        ("equals-ignore-case", Value::String(s)) => Ok(s.to_lowercase()),
        ("equals-ignore-case", _) => Err(invalid_operand(
            path,
            &format!("{outer}/equals-ignore-case"),
            "a string",
        )),
        _ => Err(path.error(ErrorKind::UnknownOperator(key.to_owned()))),
    })
}

fn compile_anything_but(operand: &Value, path: &mut Path) -> Result<AnythingBut> {
    const EXPECTED: &str = "a string, a number, a non-empty list of only strings or only \
                            numbers, or a prefix, suffix, wildcard or equals-ignore-case object";
    match operand {
        Value::String(s) => Ok(AnythingBut::Strings(vec![s.clone()])),
        Value::Number(n) => Ok(AnythingBut::Numbers(vec![limited_number(n, path)?])),
        Value::Array(items) => compile_anything_but_list(items, path),
        Value::Object(inner) => {
            let (key, value) = single_entry(inner, path)?;
            path.key(key, |path| compile_anything_but_modifier(key, value, path))
        }
        _ => Err(invalid_operand(path, "anything-but", EXPECTED)),
    }
}

fn compile_anything_but_list(items: &[Value], path: &mut Path) -> Result<AnythingBut> {
    if items.is_empty() {
        return Err(path.error(ErrorKind::EmptyArray));
    }
    let mut strings = Vec::new();
    let mut numbers = Vec::new();
    for (i, item) in items.iter().enumerate() {
        path.index(i, |path| {
            match item {
                Value::String(s) => strings.push(s.clone()),
                Value::Number(n) => numbers.push(limited_number(n, path)?),
                _ => {
                    return Err(invalid_operand(
                        path,
                        "anything-but",
                        "a list of only strings or only numbers",
                    ));
                }
            }
            Ok(())
        })?;
    }
    match (strings.is_empty(), numbers.is_empty()) {
        (false, true) => Ok(AnythingBut::Strings(strings)),
        (true, false) => Ok(AnythingBut::Numbers(numbers)),
        _ => Err(path.error(ErrorKind::MixedAnythingButList)),
    }
}

/// `anything-but` with a nested `prefix`, `suffix`, `equals-ignore-case` or
/// `wildcard`. Strict: `prefix` and `suffix` take a single non-empty string
/// (the documented form); `equals-ignore-case` and `wildcard` take a string
/// or a non-empty list of strings.
fn compile_anything_but_modifier(key: &str, value: &Value, path: &mut Path) -> Result<AnythingBut> {
    let operator = format!("anything-but/{key}");
    match key {
        "prefix" | "suffix" => {
            let s = match value {
                Value::String(s) if s.is_empty() => {
                    return Err(path.error(ErrorKind::EmptyOperand(operator)));
                }
                Value::String(s) => s.clone(),
                _ => return Err(invalid_operand(path, &operator, "a non-empty string")),
            };
            Ok(if key == "prefix" {
                AnythingBut::Prefix(s)
            } else {
                AnythingBut::Suffix(s)
            })
        }
        "equals-ignore-case" => {
            let list = string_or_list(value, path, &operator)?;
            Ok(AnythingBut::EqualsIgnoreCase(
                list.into_iter().map(|(_, s)| s.to_lowercase()).collect(),
            ))
        }
        "wildcard" => {
            let list = string_or_list(value, path, &operator)?;
            let mut wildcards = Vec::with_capacity(list.len());
            for (index, s) in list {
                let w = match index {
                    Some(i) => path.index(i, |path| compile_wildcard(s, path))?,
                    None => compile_wildcard(s, path)?,
                };
                wildcards.push(w);
            }
            Ok(AnythingBut::Wildcard(wildcards))
        }
        _ => Err(path.error(ErrorKind::UnknownOperator(key.to_owned()))),
    }
}

/// A string, or a non-empty list of strings (with their indexes).
fn string_or_list<'a>(
    value: &'a Value,
    path: &mut Path,
    operator: &str,
) -> Result<Vec<(Option<usize>, &'a str)>> {
    const EXPECTED: &str = "a string or a non-empty list of strings";
    match value {
        Value::String(s) => Ok(vec![(None, s.as_str())]),
        Value::Array(items) if items.is_empty() => Err(path.error(ErrorKind::EmptyArray)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok((Some(i), s.as_str())),
                _ => Err(path.index(i, |path| invalid_operand(path, operator, EXPECTED))),
            })
            .collect(),
        _ => Err(invalid_operand(path, operator, EXPECTED)),
    }
}

fn as_f64(n: &serde_json::Number) -> f64 {
    // Without serde_json's `arbitrary_precision` every number has an f64 form.
    n.as_f64().unwrap_or(f64::NAN)
}

/// A number used by `numeric` or numeric `anything-but`, which EventBridge
/// limits to ±5e9 (AWS docs: "Numeric matching").
fn limited_number(n: &serde_json::Number, path: &Path) -> Result<f64> {
    let v = as_f64(n);
    if (-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&v) {
        Ok(v)
    } else {
        Err(path.error(ErrorKind::NumberOutOfRange(v)))
    }
}

/// `["op", n]` or `[">" | ">=", low, "<" | "<=", high]` with `low < high`.
/// Strict (as event-ruler): the lower bound comes first, `=` stands alone.
fn compile_numeric(items: &[Value], path: &mut Path) -> Result<NumericRange> {
    let invalid = |path: &Path, msg: String| path.error(ErrorKind::InvalidNumeric(msg));
    let operator_at = |i: usize, path: &mut Path| -> Result<&str> {
        path.index(i, |path| match items.get(i) {
            Some(Value::String(op)) if ["<", "<=", "=", ">", ">="].contains(&op.as_str()) => {
                Ok(op.as_str())
            }
            Some(Value::String(op)) => Err(invalid(path, format!("unknown operator \"{op}\""))),
            Some(other) => Err(invalid(
                path,
                format!("expected an operator, found {other}"),
            )),
            None => Err(invalid(path, "expected an operator".to_owned())),
        })
    };
    let number_at = |i: usize, op: &str, path: &mut Path| -> Result<f64> {
        path.index(i, |path| match items.get(i) {
            Some(Value::Number(n)) => limited_number(n, path),
            _ => Err(invalid(path, format!("value of \"{op}\" must be a number"))),
        })
    };

    let first = operator_at(0, path)?;
    let first_value = number_at(1, first, path)?;
    let single = match first {
        "=" => NumericRange {
            lower: Some((first_value, true)),
            upper: Some((first_value, true)),
        },
        "<" | "<=" => NumericRange {
            lower: None,
            upper: Some((first_value, first == "<=")),
        },
        _ => NumericRange {
            lower: Some((first_value, first == ">=")),
            upper: None,
        },
    };
    if items.len() == 2 {
        return Ok(single);
    }
    if single.upper.is_some() {
        return Err(path.index(2, |path| {
            invalid(
                path,
                format!(
                    "\"{first}\" must be the only operator, or an upper bound after \">\" or \">=\""
                ),
            )
        }));
    }
    let second = operator_at(2, path)?;
    if !matches!(second, "<" | "<=") {
        return Err(path.index(2, |path| {
            invalid(
                path,
                format!("second operator must be \"<\" or \"<=\", found \"{second}\""),
            )
        }));
    }
    let second_value = number_at(3, second, path)?;
    if items.len() > 4 {
        return Err(path.index(4, |path| invalid(path, "too many elements".to_owned())));
    }
    if first_value >= second_value {
        return Err(invalid(
            path,
            "lower bound must be less than upper bound".to_owned(),
        ));
    }
    Ok(NumericRange {
        lower: single.lower,
        upper: Some((second_value, second == "<=")),
    })
}

/// Strict: the address must be the network address (no host bits set), and
/// the prefix length is plain decimal digits.
fn compile_cidr(text: &str, path: &Path) -> Result<Cidr> {
    let invalid = |reason| {
        path.error(ErrorKind::InvalidCidr {
            cidr: text.to_owned(),
            reason,
        })
    };
    let (addr, bits) = text
        .split_once('/')
        .ok_or_else(|| invalid("missing \"/\" and prefix length"))?;
    let addr: IpAddr = addr.parse().map_err(|_| invalid("invalid ip address"))?;
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("prefix length must be a decimal number"));
    }
    let bits: u32 = bits
        .parse()
        .map_err(|_| invalid("prefix length must be a decimal number"))?;
    match addr {
        IpAddr::V4(ip) => {
            if bits > 32 {
                return Err(invalid("prefix length must be at most 32"));
            }
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            let network = u32::from(ip);
            if network & !mask != 0 {
                return Err(invalid("host bits must be zero"));
            }
            Ok(Cidr::V4 { network, mask })
        }
        IpAddr::V6(ip) => {
            if bits > 128 {
                return Err(invalid("prefix length must be at most 128"));
            }
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            let network = u128::from(ip);
            if network & !mask != 0 {
                return Err(invalid("host bits must be zero"));
            }
            Ok(Cidr::V6 { network, mask })
        }
    }
}

/// `*` matches any sequence; `\*` is a literal star and `\\` a literal
/// backslash; any other escape, a trailing `\`, and `**` are rejected (as
/// EventBridge does).
fn compile_wildcard(text: &str, path: &Path) -> Result<Wildcard> {
    let invalid = |reason, position| {
        path.error(ErrorKind::InvalidWildcard {
            pattern: text.to_owned(),
            reason,
            position,
        })
    };
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((pos, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped @ ('*' | '\\'))) => current.push(escaped),
                _ => return Err(invalid("invalid escape character", pos)),
            },
            '*' => {
                if matches!(chars.peek(), Some((_, '*'))) {
                    return Err(invalid("consecutive wildcard characters", pos));
                }
                parts.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
    }
    parts.push(current);
    Ok(Wildcard::new(parts))
}
