//! Reading tshark's fields and sockscope's JSON values as the reference checker does.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use super::Val;

/// Rows of a tab-separated file with a header row, as column → value.
pub fn read_tsv(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.split('\n');
    let header: Vec<&str> = match lines.next() {
        Some(h) if !h.is_empty() => h.split('\t').collect(),
        _ => return Vec::new(),
    };
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut cells = l.split('\t');
            header
                .iter()
                .map(|h| ((*h).to_owned(), cells.next().unwrap_or("").to_owned()))
                .collect()
        })
        .collect()
}

pub fn to_int_str(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    s.parse::<i64>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f.trunc() as i64)
    })
}

pub fn to_int_json(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Null => None,
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.trunc() as i64)
        }),
        Value::String(s) => to_int_str(s),
        _ => None,
    }
}

/// A JSON value as the text the reference checker would see (`str(v)`).
pub fn json_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `secs.fraction` as nanoseconds; a fraction of more than 9 digits is a count of nanoseconds.
pub fn to_ts(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if secs.is_empty() || !all_digits(secs) || !all_digits(frac) {
        return None;
    }
    let secs: i128 = secs.parse().ok()?;
    let frac_ns: i128 = if frac.len() > 9 {
        frac.parse().ok()?
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    let v = secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)?;
    Some(if neg { -v } else { v })
}

pub fn to_addr(s: &str) -> Option<Val> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let host = s.split('%').next().unwrap_or(s);
    Some(match host.parse::<IpAddr>() {
        Ok(a) => Val::Addr(a),
        Err(_) => Val::Text(s.to_lowercase()),
    })
}
