//! `Choice` rules: comparison operators, type tests and `And`/`Or`/`Not`.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::error::StateError;
use crate::path::Path;

/// What kind of value a comparison works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // named as the ASL operators
pub(crate) enum TypeTest {
    IsPresent,
    IsNull,
    IsString,
    IsNumeric,
    IsBoolean,
    IsTimestamp,
}

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Value(Value),
    Path(Path),
}

/// One compiled Choice rule (top level or nested).
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Compare {
        variable: Path,
        kind: Kind,
        cmp: Cmp,
        operand: Operand,
    },
    Matches {
        variable: Path,
        pattern: String,
    },
    Test {
        variable: Path,
        test: TypeTest,
        expected: bool,
    },
}

fn parse_operator(name: &str) -> Option<(Kind, Cmp, bool)> {
    let (kind, rest) = if let Some(r) = name.strip_prefix("String") {
        (Kind::String, r)
    } else if let Some(r) = name.strip_prefix("Numeric") {
        (Kind::Numeric, r)
    } else if let Some(r) = name.strip_prefix("Boolean") {
        (Kind::Boolean, r)
    } else if let Some(r) = name.strip_prefix("Timestamp") {
        (Kind::Timestamp, r)
    } else {
        return None;
    };
    let (rest, is_path) = match rest.strip_suffix("Path") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let cmp = match rest {
        "Equals" => Cmp::Equals,
        "LessThan" => Cmp::LessThan,
        "GreaterThan" => Cmp::GreaterThan,
        "LessThanEquals" => Cmp::LessThanEquals,
        "GreaterThanEquals" => Cmp::GreaterThanEquals,
        _ => return None,
    };
    if kind == Kind::Boolean && cmp != Cmp::Equals {
        return None;
    }
    Some((kind, cmp, is_path))
}

fn parse_test(name: &str) -> Option<TypeTest> {
    Some(match name {
        "IsPresent" => TypeTest::IsPresent,
        "IsNull" => TypeTest::IsNull,
        "IsString" => TypeTest::IsString,
        "IsNumeric" => TypeTest::IsNumeric,
        "IsBoolean" => TypeTest::IsBoolean,
        "IsTimestamp" => TypeTest::IsTimestamp,
        _ => return None,
    })
}

/// Parses a timestamp as Step Functions accepts it: RFC 3339 with an
/// upper-case `T` and an upper-case `Z` (or a numeric offset).
pub(crate) fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.as_bytes().get(10) != Some(&b'T') || s.ends_with('z') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

impl Rule {
    /// Compiles a rule. `top` says whether this is a top-level rule, which
    /// must have `Next`; nested ones must not. `Next` and `Comment` are read
    /// by the caller for top-level rules.
    pub(crate) fn compile(value: &Value, top: bool) -> Result<Rule, String> {
        let Value::Object(m) = value else {
            return Err("a choice rule must be an object".into());
        };
        let mut operators: Vec<(&String, &Value)> = Vec::new();
        let mut variable: Option<Path> = None;
        for (k, v) in m {
            match k.as_str() {
                "Next" if top => {}
                "Next" => return Err("a nested choice rule must not have \"Next\"".into()),
                "Comment" => {}
                "Variable" => {
                    let Value::String(s) = v else {
                        return Err("\"Variable\" must be a string".into());
                    };
                    variable = Some(Path::parse(s)?);
                }
                "And" | "Or" | "Not" => operators.push((k, v)),
                other
                    if parse_operator(other).is_some()
                        || parse_test(other).is_some()
                        || other == "StringMatches" =>
                {
                    operators.push((k, v));
                }
                other => return Err(format!("unsupported field \"{other}\" in choice rule")),
            }
        }
        if top && !m.contains_key("Next") {
            return Err("a top-level choice rule must have \"Next\"".into());
        }
        let [(op, operand)] = operators.as_slice() else {
            return Err(format!(
                "a choice rule must have exactly one comparison operator, found {}",
                operators.len()
            ));
        };
        let op = op.as_str();
        match op {
            "And" | "Or" => {
                if variable.is_some() {
                    return Err(format!("\"{op}\" must not have \"Variable\""));
                }
                let Value::Array(items) = operand else {
                    return Err(format!("\"{op}\" must be an array of rules"));
                };
                if items.is_empty() {
                    return Err(format!("\"{op}\" must not be empty"));
                }
                let rules = items
                    .iter()
                    .map(|r| Rule::compile(r, false))
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(if op == "And" {
                    Rule::And(rules)
                } else {
                    Rule::Or(rules)
                });
            }
            "Not" => {
                if variable.is_some() {
                    return Err("\"Not\" must not have \"Variable\"".into());
                }
                return Ok(Rule::Not(Box::new(Rule::compile(operand, false)?)));
            }
            _ => {}
        }
        let Some(variable) = variable else {
            return Err(format!("\"{op}\" needs \"Variable\""));
        };
        if op == "StringMatches" {
            let Value::String(pattern) = operand else {
                return Err("\"StringMatches\" must be a string".into());
            };
            return Ok(Rule::Matches {
                variable,
                pattern: pattern.clone(),
            });
        }
        if let Some(test) = parse_test(op) {
            let Value::Bool(expected) = operand else {
                return Err(format!("\"{op}\" must be true or false"));
            };
            return Ok(Rule::Test {
                variable,
                test,
                expected: *expected,
            });
        }
        let Some((kind, cmp, is_path)) = parse_operator(op) else {
            return Err(format!("unsupported comparison operator \"{op}\""));
        };
        let operand = if is_path {
            let Value::String(s) = operand else {
                return Err(format!("\"{op}\" must be a path string"));
            };
            Operand::Path(Path::parse(s)?)
        } else {
            let ok = match kind {
                Kind::String => operand.is_string(),
                Kind::Numeric => operand.is_number(),
                Kind::Boolean => operand.is_boolean(),
                Kind::Timestamp => operand.as_str().and_then(parse_timestamp).is_some(),
            };
            if !ok {
                return Err(format!("\"{op}\" has a value of the wrong type: {operand}"));
            }
            Operand::Value((*operand).clone())
        };
        Ok(Rule::Compare {
            variable,
            kind,
            cmp,
            operand,
        })
    }

    /// Evaluates the rule. A `Variable` (or `...Path` operand) that does not
    /// resolve is a `States.Runtime` error, except under `IsPresent`.
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<bool, StateError> {
        let resolve = |p: &Path| {
            p.select(input, context).ok_or_else(|| {
                StateError::runtime(format!(
                    "invalid path \"{p}\": the choice state's condition path references an invalid value"
                ))
            })
        };
        Ok(match self {
            Rule::And(rules) => {
                for r in rules {
                    if !r.eval(input, context)? {
                        return Ok(false);
                    }
                }
                true
            }
            Rule::Or(rules) => {
                for r in rules {
                    if r.eval(input, context)? {
                        return Ok(true);
                    }
                }
                false
            }
            Rule::Not(r) => !r.eval(input, context)?,
            Rule::Test {
                variable,
                test,
                expected,
            } => {
                let got = match test {
                    TypeTest::IsPresent => variable.select(input, context).is_some(),
                    _ => {
                        let v = resolve(variable)?;
                        match test {
                            TypeTest::IsNull => v.is_null(),
                            TypeTest::IsString => v.is_string(),
                            TypeTest::IsNumeric => v.is_number(),
                            TypeTest::IsBoolean => v.is_boolean(),
                            TypeTest::IsTimestamp => v.as_str().and_then(parse_timestamp).is_some(),
                            TypeTest::IsPresent => true,
                        }
                    }
                };
                got == *expected
            }
            Rule::Matches { variable, pattern } => match resolve(variable)? {
                Value::String(s) => string_matches(s, pattern),
                _ => false,
            },
            Rule::Compare {
                variable,
                kind,
                cmp,
                operand,
            } => {
                let left = resolve(variable)?;
                let right = match operand {
                    Operand::Value(v) => v,
                    Operand::Path(p) => resolve(p)?,
                };
                match compare(*kind, left, right) {
                    None => false,
                    Some(o) => match cmp {
                        Cmp::Equals => o == Ordering::Equal,
                        Cmp::LessThan => o == Ordering::Less,
                        Cmp::GreaterThan => o == Ordering::Greater,
                        Cmp::LessThanEquals => o != Ordering::Greater,
                        Cmp::GreaterThanEquals => o != Ordering::Less,
                    },
                }
            }
        })
    }
}

/// Orders two values of one kind; `None` when either is not of that kind.
fn compare(kind: Kind, a: &Value, b: &Value) -> Option<Ordering> {
    match kind {
        Kind::String => Some(a.as_str()?.cmp(b.as_str()?)),
        Kind::Boolean => Some(a.as_bool()?.cmp(&b.as_bool()?)),
        Kind::Numeric => {
            let (x, y) = (a.as_number()?, b.as_number()?);
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return Some(x.cmp(&y));
            }
            x.as_f64()?.partial_cmp(&y.as_f64()?)
        }
        Kind::Timestamp => {
            let x = parse_timestamp(a.as_str()?)?;
            let y = parse_timestamp(b.as_str()?)?;
            Some(x.cmp(&y))
        }
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` is a literal `*`
/// and `\\` a literal backslash.
pub(crate) fn string_matches(s: &str, pattern: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Star,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some(n) => toks.push(Tok::Char(n)),
                None => toks.push(Tok::Char('\\')),
            },
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Char(c)),
        }
    }
    let chars: Vec<char> = s.chars().collect();
    // Classic wildcard matching with backtracking to the last star.
    let (mut i, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < chars.len() {
        match toks.get(t) {
            Some(Tok::Char(c)) if *c == chars[i] => {
                i += 1;
                t += 1;
            }
            Some(Tok::Star) => {
                star = Some((t, i));
                t += 1;
            }
            _ => match star {
                Some((st, si)) => {
                    t = st + 1;
                    i = si + 1;
                    star = Some((st, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[t..].iter().all(|x| *x == Tok::Star)
}
