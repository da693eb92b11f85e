//! The JSON Lines schema, read from the tables of `docs/jsonl.md`, and the check of records
//! and streams against it: each record has exactly its kind's keys, in the documented order,
//! and each value one of the documented types.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// One documented key: its name and the JSON types its value may have.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub types: Vec<String>,
}

/// Every record kind of `docs/jsonl.md` with its keys in order.
#[derive(Debug, Clone)]
pub struct Schema {
    pub kinds: BTreeMap<String, Vec<Key>>,
}

const TYPES: [&str; 5] = ["number", "string", "boolean", "array", "null"];

/// Reads `docs/jsonl.md`: under each `### `kind`` heading, the rows
/// `| `key` | type or type | meaning |` of its table.
pub fn load() -> Schema {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/jsonl.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    parse(&text)
}

/// Parses the schema out of the text of `docs/jsonl.md` (panics on a malformed table row, so
/// that the document stays machine-readable).
pub fn parse(text: &str) -> Schema {
    let mut kinds: BTreeMap<String, Vec<Key>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            let kind = h.trim().trim_matches('`').to_owned();
            assert!(
                !kinds.contains_key(&kind),
                "docs/jsonl.md: kind {kind} twice"
            );
            kinds.insert(kind.clone(), Vec::new());
            current = Some(kind);
            continue;
        }
        if line.starts_with("## ") || line.starts_with("# ") {
            current = None;
            continue;
        }
        let Some(kind) = &current else { continue };
        if !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        assert_eq!(
            cells.len(),
            3,
            "docs/jsonl.md, kind {kind}: a row of key, type, meaning (no | inside): {line}"
        );
        let name = cells[0].trim().trim_matches('`').to_owned();
        let types: Vec<String> = cells[1]
            .split(" or ")
            .map(|t| t.trim().to_owned())
            .collect();
        for t in &types {
            assert!(
                TYPES.contains(&t.as_str()),
                "docs/jsonl.md, {kind}.{name}: unknown type {t:?}"
            );
        }
        let keys = kinds.get_mut(kind).expect("the current kind");
        assert!(
            keys.iter().all(|k| k.name != name),
            "docs/jsonl.md: {kind}.{name} twice"
        );
        keys.push(Key { name, types });
    }
    Schema { kinds }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Schema {
    /// Checks one line: a JSON object whose `kind` is documented, with exactly that kind's
    /// keys in the documented order and values of the documented types. Ok(its kind).
    pub fn check_record(&self, line: &str) -> Result<String, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
        let Value::Object(o) = &v else {
            return Err("not an object".into());
        };
        let kind = o
            .get("kind")
            .and_then(Value::as_str)
            .ok_or("no string kind")?;
        let keys = self
            .kinds
            .get(kind)
            .ok_or_else(|| format!("kind {kind:?} is not documented"))?;
        for k in keys {
            let Some(val) = o.get(&k.name) else {
                return Err(format!("{kind}: key {} missing", k.name));
            };
            let t = type_of(val);
            if !k.types.iter().any(|d| d == t) {
                return Err(format!(
                    "{kind}.{}: a {t}, documented as {}",
                    k.name,
                    k.types.join(" or ")
                ));
            }
            if let Value::Array(items) = val {
                if !items.iter().all(Value::is_string) {
                    return Err(format!("{kind}.{}: an array of non-strings", k.name));
                }
            }
        }
        for name in o.keys() {
            if !keys.iter().any(|k| &k.name == name) {
                return Err(format!("{kind}: key {name} is not documented"));
            }
        }
        // The order: each key after the one before it. Inside a JSON string every quote is
        // escaped, so `"key":` is found only where the key is.
        let mut at = 0;
        for k in keys {
            let pat = format!("\"{}\":", k.name);
            match line[at..].find(&pat) {
                Some(i) => at += i + pat.len(),
                None => return Err(format!("{kind}: key {} out of order", k.name)),
            }
        }
        Ok(kind.to_owned())
    }

    /// Checks a whole stream: a `meta` record from `source` first, then records that each
    /// pass [`Schema::check_record`]. Ok(how many records of each kind).
    pub fn check_stream(
        &self,
        text: &str,
        source: &str,
    ) -> Result<BTreeMap<String, usize>, String> {
        let mut counts = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let kind = self
                .check_record(line)
                .map_err(|e| format!("line {}: {e}: {line}", i + 1))?;
            if i == 0 {
                let v: Value = serde_json::from_str(line).expect("checked");
                if kind != "meta" || v["source"] != source {
                    return Err(format!("line 1 is not the meta record of {source}: {line}"));
                }
            } else if kind == "meta" {
                return Err(format!("line {}: a second meta record", i + 1));
            }
            *counts.entry(kind).or_insert(0) += 1;
        }
        if counts.is_empty() {
            return Err("an empty stream (no meta record)".into());
        }
        Ok(counts)
    }
}
