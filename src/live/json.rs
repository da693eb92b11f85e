//! The flat JSON objects sockscope writes itself (event lines, the run and capture lines of a
//! sidecar): small writers into a reused `String`, and a reader built on serde_json.

/// A parsed object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object(pub serde_json::Map<String, serde_json::Value>);

impl Object {
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.get(key)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key)?.as_i64()
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key)?.as_bool()
    }
}

/// Parses one JSON object (serde_json does the reading).
pub fn parse(line: &str) -> Result<Object, serde_json::Error> {
    serde_json::from_str(line).map(Object)
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
        assert_eq!(o.get("z"), Some(&serde_json::Value::Null));
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
            "[1]",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(parse("{ }").unwrap(), Object::default());
    }
}
