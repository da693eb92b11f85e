//! A minimal reader for the flat JSON objects sockscope writes itself (event lines, the run and
//! capture lines of a sidecar): string, integer, boolean and null values, no nesting.
//!
//! Writing uses [`crate::render::jsonl::string`]; this is its inverse for the same subset.

use std::fmt;

/// A value of a flat object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
}

/// Why a line is not a flat JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub at: usize,
    pub what: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at character {}", self.what, self.at)
    }
}

/// A parsed object: keys in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object(pub Vec<(String, Value)>);

impl Object {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }
}

struct Reader<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    len: usize,
}

impl Reader<'_> {
    fn at(&mut self) -> usize {
        self.chars.peek().map_or(self.len, |&(i, _)| i)
    }

    fn err<T>(&mut self, what: &'static str) -> Result<T, JsonError> {
        Err(JsonError {
            at: self.at(),
            what,
        })
    }

    fn skip_ws(&mut self) {
        while self
            .chars
            .next_if(|&(_, c)| c.is_ascii_whitespace())
            .is_some()
        {}
    }

    fn expect(&mut self, want: char, what: &'static str) -> Result<(), JsonError> {
        self.skip_ws();
        match self.chars.next() {
            Some((_, c)) if c == want => Ok(()),
            _ => self.err(what),
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.expect('"', "expected a string")?;
        let mut s = String::new();
        loop {
            let Some((_, c)) = self.chars.next() else {
                return self.err("unterminated string");
            };
            match c {
                '"' => return Ok(s),
                '\\' => {
                    let Some((_, e)) = self.chars.next() else {
                        return self.err("unterminated escape");
                    };
                    match e {
                        '"' => s.push('"'),
                        '\\' => s.push('\\'),
                        '/' => s.push('/'),
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        't' => s.push('\t'),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        'u' => {
                            let mut code = 0u32;
                            for _ in 0..4 {
                                let Some(d) = self.chars.next().and_then(|(_, c)| c.to_digit(16))
                                else {
                                    return self.err("bad \\u escape");
                                };
                                code = code * 16 + d;
                            }
                            match char::from_u32(code) {
                                Some(c) => s.push(c),
                                None => return self.err("\\u escape is not a character"),
                            }
                        }
                        _ => return self.err("unknown escape"),
                    }
                }
                c => s.push(c),
            }
        }
    }

    fn value(&mut self) -> Result<Value, JsonError> {
        self.skip_ws();
        match self.chars.peek().map(|&(_, c)| c) {
            Some('"') => self.string().map(Value::Str),
            Some('-' | '0'..='9') => {
                let mut digits = String::new();
                while let Some((_, c)) =
                    self.chars.next_if(|&(_, c)| c == '-' || c.is_ascii_digit())
                {
                    digits.push(c);
                }
                match digits.parse() {
                    Ok(n) => Ok(Value::Int(n)),
                    Err(_) => self.err("bad integer"),
                }
            }
            Some(_) => {
                let mut word = String::new();
                while let Some((_, c)) = self.chars.next_if(|&(_, c)| c.is_ascii_alphabetic()) {
                    word.push(c);
                }
                match word.as_str() {
                    "null" => Ok(Value::Null),
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    _ => self.err("expected a string, integer, true, false or null"),
                }
            }
            None => self.err("expected a value"),
        }
    }
}

/// Parses one flat JSON object.
pub fn parse(line: &str) -> Result<Object, JsonError> {
    let mut r = Reader {
        chars: line.char_indices().peekable(),
        len: line.len(),
    };
    r.expect('{', "expected '{'")?;
    let mut obj = Object::default();
    r.skip_ws();
    if r.chars.next_if(|&(_, c)| c == '}').is_none() {
        loop {
            r.skip_ws();
            let key = r.string()?;
            r.expect(':', "expected ':'")?;
            let value = r.value()?;
            obj.0.push((key, value));
            r.skip_ws();
            match r.chars.next() {
                Some((_, ',')) => continue,
                Some((_, '}')) => break,
                _ => return r.err("expected ',' or '}'"),
            }
        }
    }
    r.skip_ws();
    if r.chars.next().is_some() {
        return r.err("text after the object");
    }
    Ok(obj)
}

/// Appends `"key":` (with a leading comma unless it is the first key).
pub fn key(out: &mut String, k: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push('"');
    out.push_str(k);
    out.push_str("\":");
}

/// Appends `"key":"value"` with JSON escapes.
pub fn str_field(out: &mut String, k: &str, v: &str) {
    key(out, k);
    crate::render::jsonl::string(out, v);
}

/// Appends `"key":n`.
pub fn int_field(out: &mut String, k: &str, v: i64) {
    key(out, k);
    out.push_str(itoa::Buffer::new().format(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_we_write() {
        let mut s = String::from("{");
        str_field(&mut s, "a", "x\"y\\z\n\u{1}é");
        int_field(&mut s, "n", -42);
        s.push_str(",\"t\":true,\"f\":false,\"z\":null}");
        let o = parse(&s).unwrap();
        assert_eq!(o.str("a"), Some("x\"y\\z\n\u{1}é"));
        assert_eq!(o.int("n"), Some(-42));
        assert_eq!(o.bool("t"), Some(true));
        assert_eq!(o.bool("f"), Some(false));
        assert_eq!(o.get("z"), Some(&Value::Null));
        assert_eq!(o.get("missing"), None);
    }

    #[test]
    fn rejects_broken_lines() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":\"x}",
            "{\"a\":nope}",
            "{} x",
            "{\"a\":[1]}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(parse("{ }").unwrap(), Object::default());
    }
}
