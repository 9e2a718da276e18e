//! Intrinsic functions (`States.Format(...)` etc.): a parser for the argument
//! grammar and an evaluator. Unknown functions, wrong argument counts and
//! wrong literal argument types are refused when the definition is loaded.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Number, Value};

use crate::error::StateError;
use crate::path::Path;

/// The intrinsic functions this runner implements.
pub const SUPPORTED: &[&str] = &[
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.JsonMerge",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
];

/// A piece of a string literal: text, or an unescaped `{}` placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    Placeholder,
}

/// An argument of an intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// A single-quoted string literal (kept in pieces so `States.Format` knows
    /// escaped braces from placeholders).
    Str(Vec<Piece>),
    /// A number, boolean or null literal.
    Literal(Value),
    /// A path into the input or the Context object.
    Path(Path),
    /// A nested call.
    Call(Call),
}

/// A parsed intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    name: String,
    args: Vec<Arg>,
}

fn pieces_text(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.as_str(),
            Piece::Placeholder => "{}",
        })
        .collect()
}

impl Arg {
    fn literal_value(&self) -> Option<Value> {
        match self {
            Arg::Str(p) => Some(Value::String(pieces_text(p))),
            Arg::Literal(v) => Some(v.clone()),
            _ => None,
        }
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!(
            "intrinsic function \"{}\": {what} at character {}",
            self.text,
            self.pos + 1
        )
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn call(&mut self, depth: usize) -> Result<Call, String> {
        if depth > 10 {
            return Err(self.err("more than 10 nested intrinsic functions"));
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if !SUPPORTED.contains(&name.as_str()) {
            return Err(format!("unsupported intrinsic function \"{name}\""));
        }
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(self.err("expected \"(\""));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg(depth)?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected \",\" or \")\"")),
                }
            }
        }
        let call = Call { name, args };
        call.check()?;
        Ok(call)
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => {
                let start = self.pos;
                let mut bracket = 0usize;
                let mut quote: Option<char> = None;
                while let Some(c) = self.peek() {
                    if let Some(q) = quote {
                        if c == '\\' {
                            self.pos += 1;
                        } else if c == q {
                            quote = None;
                        }
                    } else {
                        match c {
                            '[' => bracket += 1,
                            ']' => bracket = bracket.saturating_sub(1),
                            '\'' | '"' if bracket > 0 => quote = Some(c),
                            ',' | ')' if bracket == 0 => break,
                            c if c.is_whitespace() && bracket == 0 => break,
                            _ => {}
                        }
                    }
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos.min(self.chars.len())]
                    .iter()
                    .collect();
                Path::parse(&text).map(Arg::Path)
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                let n: Number = serde_json::from_str(&text)
                    .map_err(|_| self.err(&format!("\"{text}\" is not a number")))?;
                Ok(Arg::Literal(Value::Number(n)))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "true" => Ok(Arg::Literal(Value::Bool(true))),
                    "false" => Ok(Arg::Literal(Value::Bool(false))),
                    "null" => Ok(Arg::Literal(Value::Null)),
                    _ => {
                        self.pos = start;
                        self.call(depth + 1).map(Arg::Call)
                    }
                }
            }
            _ => Err(self.err("expected an argument")),
        }
    }

    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1;
        let mut pieces = Vec::new();
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string literal")),
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    match self.chars.get(self.pos + 1) {
                        Some(c @ ('\'' | '{' | '}' | '\\')) => text.push(*c),
                        _ => {
                            return Err(self.err(
                                "unsupported escape in string literal (only \\' \\{ \\} \\\\)",
                            ));
                        }
                    }
                    self.pos += 2;
                }
                Some('{') => {
                    if self.chars.get(self.pos + 1) == Some(&'}') {
                        if !text.is_empty() {
                            pieces.push(Piece::Text(std::mem::take(&mut text)));
                        }
                        pieces.push(Piece::Placeholder);
                        self.pos += 2;
                    } else {
                        return Err(self.err("unescaped \"{\" in string literal"));
                    }
                }
                Some('}') => return Err(self.err("unescaped \"}\" in string literal")),
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Arg::Str(pieces))
    }
}

impl Call {
    /// Parses an intrinsic function call such as `States.Format('{}', $.a)`.
    pub(crate) fn parse(text: &str) -> Result<Call, String> {
        let mut p = Parser {
            chars: text.chars().collect(),
            pos: 0,
            text,
        };
        p.skip_ws();
        let call = p.call(1)?;
        p.skip_ws();
        if p.pos != p.chars.len() {
            return Err(p.err("unexpected text after the call"));
        }
        Ok(call)
    }

    /// Load-time checks: argument count and the types of literal arguments.
    fn check(&self) -> Result<(), String> {
        let n = self.args.len();
        let (min, max): (usize, usize) = match self.name.as_str() {
            "States.Format" => (1, usize::MAX),
            "States.Array" => (0, usize::MAX),
            "States.UUID" => (0, 0),
            "States.StringToJson"
            | "States.JsonToString"
            | "States.ArrayLength"
            | "States.ArrayUnique"
            | "States.Base64Encode"
            | "States.Base64Decode" => (1, 1),
            "States.JsonMerge" | "States.ArrayRange" => (3, 3),
            _ => (2, 2),
        };
        if n < min || n > max {
            return Err(format!(
                "intrinsic function \"{}\" takes {} argument(s), {n} given",
                self.name,
                if min == max {
                    min.to_string()
                } else {
                    format!("at least {min}")
                }
            ));
        }
        let lit = |i: usize| self.args.get(i).and_then(Arg::literal_value);
        match self.name.as_str() {
            "States.Format" => {
                match self.args.first() {
                    Some(Arg::Str(pieces)) => {
                        let holes = pieces.iter().filter(|p| **p == Piece::Placeholder).count();
                        if holes != n - 1 {
                            return Err(format!(
                                "intrinsic function \"States.Format\": the template has {holes} placeholder(s) but {} argument(s) follow it",
                                n - 1
                            ));
                        }
                    }
                    Some(Arg::Literal(_)) => {
                        return Err("intrinsic function \"States.Format\": the first argument must be a string".into());
                    }
                    _ => {}
                }
            }
            "States.JsonMerge" => match lit(2) {
                Some(Value::Bool(false)) | None => {}
                Some(Value::Bool(true)) => {
                    return Err("intrinsic function \"States.JsonMerge\": deep merging (true) is not supported, only false".into());
                }
                Some(_) => return Err(
                    "intrinsic function \"States.JsonMerge\": the third argument must be a boolean"
                        .into(),
                ),
            },
            "States.Hash" => match lit(1) {
                None => {}
                Some(Value::String(a)) if a == "SHA-256" => {}
                Some(other) => {
                    return Err(format!(
                        "intrinsic function \"States.Hash\": algorithm {other} is not supported by this runner (only \"SHA-256\")"
                    ));
                }
            },
            _ => {}
        }
        Ok(())
    }

    /// Evaluates the call against the effective input and the Context object.
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<Value, StateError> {
        let fail = |msg: String| {
            StateError::runtime(format!(
                "the function \"{}\" had the following error: {msg}",
                self.name
            ))
        };
        let mut values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(match arg {
                Arg::Str(p) => Value::String(pieces_text(p)),
                Arg::Literal(v) => v.clone(),
                Arg::Path(p) => p.select(input, context).cloned().ok_or_else(|| {
                    StateError::runtime(format!(
                        "the path \"{p}\" given to the function \"{}\" could not be found in the input",
                        self.name
                    ))
                })?,
                Arg::Call(c) => c.eval(input, context)?,
            });
        }
        let string = |i: usize| -> Result<&str, StateError> {
            values[i]
                .as_str()
                .ok_or_else(|| fail(format!("argument {} must be a string", i + 1)))
        };
        let array = |i: usize| -> Result<&Vec<Value>, StateError> {
            values[i]
                .as_array()
                .ok_or_else(|| fail(format!("argument {} must be an array", i + 1)))
        };
        let integer = |i: usize| -> Result<i64, StateError> {
            integer_of(&values[i])
                .ok_or_else(|| fail(format!("argument {} must be an integer", i + 1)))
        };
        Ok(match self.name.as_str() {
            "States.Format" => {
                let pieces = match &self.args[0] {
                    Arg::Str(p) => p.clone(),
                    _ => template_pieces(string(0)?).map_err(fail)?,
                };
                let mut out = String::new();
                let mut next = 1;
                for piece in &pieces {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Placeholder => {
                            let Some(v) = values.get(next) else {
                                return Err(fail("more placeholders than arguments".into()));
                            };
                            next += 1;
                            match v {
                                Value::String(s) => out.push_str(s),
                                other => out.push_str(&other.to_string()),
                            }
                        }
                    }
                }
                if next != values.len() {
                    return Err(fail("more arguments than placeholders".into()));
                }
                Value::String(out)
            }
            "States.StringToJson" => {
                serde_json::from_str(string(0)?).map_err(|e| fail(format!("invalid json: {e}")))?
            }
            "States.JsonToString" => Value::String(values[0].to_string()),
            "States.JsonMerge" => {
                let (Value::Object(a), Value::Object(b)) = (&values[0], &values[1]) else {
                    return Err(fail("the first two arguments must be objects".into()));
                };
                match values[2] {
                    Value::Bool(false) => {}
                    Value::Bool(true) => {
                        return Err(fail("deep merging is not supported, only false".into()));
                    }
                    _ => return Err(fail("the third argument must be a boolean".into())),
                }
                let mut merged = a.clone();
                for (k, v) in b {
                    merged.insert(k.clone(), v.clone());
                }
                Value::Object(merged)
            }
            "States.Array" => Value::Array(values),
            "States.ArrayPartition" => {
                let size = integer(1)?;
                if size <= 0 {
                    return Err(fail("the chunk size must be a positive integer".into()));
                }
                let size =
                    usize::try_from(size).map_err(|_| fail("chunk size too large".into()))?;
                Value::Array(
                    array(0)?
                        .chunks(size)
                        .map(|c| Value::Array(c.to_vec()))
                        .collect(),
                )
            }
            "States.ArrayContains" => Value::Bool(array(0)?.contains(&values[1])),
            "States.ArrayRange" => {
                let (start, end, step) = (integer(0)?, integer(1)?, integer(2)?);
                if step == 0 {
                    return Err(fail("the step must not be 0".into()));
                }
                let mut out = Vec::new();
                let mut x = start;
                while (step > 0 && x <= end) || (step < 0 && x >= end) {
                    out.push(Value::from(x));
                    if out.len() > 1000 {
                        return Err(fail("the range has more than 1000 items".into()));
                    }
                    x += step;
                }
                Value::Array(out)
            }
            "States.ArrayGetItem" => {
                let arr = array(0)?;
                let idx = integer(1)?;
                usize::try_from(idx)
                    .ok()
                    .and_then(|i| arr.get(i))
                    .cloned()
                    .ok_or_else(|| {
                        fail(format!(
                            "index {idx} is out of bounds (length {})",
                            arr.len()
                        ))
                    })?
            }
            "States.ArrayLength" => Value::from(array(0)?.len()),
            "States.ArrayUnique" => {
                let mut out: Vec<Value> = Vec::new();
                for v in array(0)? {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                Value::Array(out)
            }
            "States.Base64Encode" => Value::String(base64_encode(string(0)?.as_bytes())),
            "States.Base64Decode" => {
                let bytes =
                    base64_decode(string(0)?).ok_or_else(|| fail("invalid base64".into()))?;
                Value::String(
                    String::from_utf8(bytes)
                        .map_err(|_| fail("decoded data is not utf-8".into()))?,
                )
            }
            "States.Hash" => {
                let data = string(0)?;
                let algorithm = string(1)?;
                if algorithm != "SHA-256" {
                    return Err(fail(format!(
                        "algorithm \"{algorithm}\" is not supported by this runner (only SHA-256)"
                    )));
                }
                Value::String(sha256_hex(data.as_bytes()))
            }
            "States.MathAdd" => {
                let (a, b) = (integer(0)?, integer(1)?);
                let sum = a + b;
                if !(i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&sum)
                    || !(i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&a)
                    || !(i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&b)
                {
                    return Err(fail(
                        "values must be between -2147483648 and 2147483647".into(),
                    ));
                }
                Value::from(sum)
            }
            "States.StringSplit" => {
                let s = string(0)?;
                let delims: Vec<char> = string(1)?.chars().collect();
                Value::Array(
                    s.split(|c| delims.contains(&c))
                        .filter(|p| !p.is_empty())
                        .map(|p| Value::String(p.to_owned()))
                        .collect(),
                )
            }
            "States.UUID" => Value::String(uuid_v4()),
            other => return Err(fail(format!("unsupported intrinsic function \"{other}\""))),
        })
    }
}

fn integer_of(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// Splits a template string that came from a path (not a literal) into pieces.
fn template_pieces(s: &str) -> Result<Vec<Piece>, String> {
    let mut p = Parser {
        chars: format!("'{s}'").chars().collect(),
        pos: 0,
        text: s,
    };
    match p.string()? {
        Arg::Str(pieces) => Ok(pieces),
        _ => Err("invalid template".into()),
    }
}

// ---- small self-contained helpers (no extra dependencies) ----

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 random bits from std's per-process random hash keys, a counter and the clock.
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

/// A version 4 (random) UUID, lower-case hyphenated.
pub(crate) fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&random_u64().to_be_bytes());
    b[8..].copy_from_slice(&random_u64().to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = B64.iter().position(|b| *b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// SHA-256 (FIPS 180-4), lower-case hex.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}
