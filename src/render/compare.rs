//! The views of `sockscope compare`: a table of the metrics of A and B with their difference
//! (the cells that differ highlighted, on a terminal), and one JSON Lines record per metric.

use comfy_table::presets::{ASCII_FULL_CONDENSED, UTF8_FULL_CONDENSED};
use comfy_table::{Attribute, Cell, CellAlignment, Color, Table};

use crate::compare::{rows, Metrics, Row, Unit};

/// What the text table shows.
pub struct View<'a> {
    /// The files, as given.
    pub names: [&'a str; 2],
    pub metrics: [&'a Metrics; 2],
    /// `--stream N,M` (N of A, M of B), or None for all TCP.
    pub stream: Option<[u64; 2]>,
    /// Bold and colour the cells that differ.
    pub color: bool,
    /// Columns to fit the table into (its cells wrap); None: its natural width.
    pub width: Option<usize>,
    /// ASCII frames (with `--ladder --ascii`).
    pub ascii: bool,
}

/// A value as the table shows it: counts whole, milliseconds to the microsecond, a mean to a
/// tenth; `-` when unknown.
fn value(unit: Unit, x: Option<f64>) -> String {
    match x {
        None => "-".into(),
        Some(x) if unit == Unit::Ms => format!("{x:.3} ms"),
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
    }
}

/// `+3 (×4.00)`, `-200.000 ms (×0.50)`, `=` when equal, `-` when either is unknown.
fn difference(r: &Row) -> String {
    let Some(d) = r.diff() else {
        return "-".into();
    };
    if !r.differs() {
        return "=".into();
    }
    let sign = if d > 0.0 { "+" } else { "" };
    let mut s = format!("{sign}{}", value(r.unit, Some(d)));
    if let Some(q) = r.ratio() {
        s.push_str(&format!(" (×{q:.2})"));
    }
    s
}

/// Appends the two files' lines and the table.
pub fn text(out: &mut String, v: &View<'_>) {
    let mut lines = Vec::new();
    for (letter, (name, m)) in ["A", "B"].iter().zip(v.names.iter().zip(v.metrics)) {
        let s = if m.tcp_streams == 1 { "" } else { "s" };
        lines.push(format!(
            "{letter}  {name}  ({} frames, {} TCP conversation{s})",
            m.frames, m.tcp_streams
        ));
    }
    lines.push(match v.stream {
        Some([a, b]) if a == b => format!("TCP stream {a} of each file (tshark's tcp.stream)"),
        Some([a, b]) => format!("TCP stream {a} of A, TCP stream {b} of B (tshark's tcp.stream)"),
        None => "all TCP segments of each file".into(),
    });
    for l in lines {
        // Wrapped under the file name when wider than --width.
        let fitted = match v.width {
            Some(w) if crate::render::width(&l) > w => crate::render::fit::hanging("", &l, 3, w),
            _ => vec![l],
        };
        for f in fitted {
            out.push_str(&f);
            out.push('\n');
        }
    }
    table(out, v.metrics, v.color, v.width, v.ascii);
}

/// Appends the table of the metrics of A and B: each metric, A, B and B − A (with B ÷ A), the
/// cells that differ bold when `color`; laid out for `width` columns when one is given; in
/// plain ASCII when `ascii` (`+`, `-`, `|` frames, `x` for ×).
pub fn table(
    out: &mut String,
    metrics: [&Metrics; 2],
    color: bool,
    width: Option<usize>,
    ascii: bool,
) {
    let mut t = Table::new();
    t.load_style(if ascii {
        ASCII_FULL_CONDENSED
    } else {
        UTF8_FULL_CONDENSED
    });
    let plain = |s: String| {
        if ascii {
            s.replace('−', "-").replace('×', "x")
        } else {
            s
        }
    };
    if color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    crate::render::fit::table(&mut t, width);
    t.set_header(vec!["metric", "A", "B", &plain("B − A".into())]);
    for r in rows(metrics[0], metrics[1], false) {
        let mut b = Cell::new(value(r.unit, r.b));
        let mut d = Cell::new(plain(difference(&r)));
        if color && r.differs() {
            b = b.add_attribute(Attribute::Bold);
            d = d.add_attribute(Attribute::Bold).fg(Color::Yellow);
        }
        t.add_row(vec![
            Cell::new(&r.label),
            Cell::new(value(r.unit, r.a)),
            b,
            d,
        ]);
    }
    for col in 1..4 {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    out.push_str(&t.to_string());
    out.push('\n');
}

/// A number for JSON: whole numbers without a fraction, others to 6 decimals.
fn number(out: &mut String, x: Option<f64>) {
    match x {
        Some(x) if x.is_finite() => {
            let r = (x * 1e6).round() / 1e6;
            out.push_str(&format!("{r}"));
        }
        _ => out.push_str("null"),
    }
}

/// Appends one `compare` record (`docs/jsonl.md`); `streams`: the TCP streams of A and B
/// compared (None: all TCP of each file).
pub fn jsonl(out: &mut String, r: &Row, streams: Option<[u64; 2]>) {
    use crate::render::jsonl::string;
    out.push_str("{\"kind\":\"compare\",\"metric\":");
    string(out, &r.key);
    out.push_str(",\"label\":");
    string(out, &r.label);
    out.push_str(",\"unit\":");
    string(out, r.unit.key());
    out.push_str(",\"a\":");
    number(out, r.a);
    out.push_str(",\"b\":");
    number(out, r.b);
    out.push_str(",\"diff\":");
    number(out, r.diff());
    out.push_str(",\"ratio\":");
    number(out, r.ratio());
    out.push_str(",\"differs\":");
    out.push_str(if r.differs() { "true" } else { "false" });
    for (key, s) in [(",\"a_stream\":", 0), (",\"b_stream\":", 1)] {
        out.push_str(key);
        number(out, streams.map(|st| st[s] as f64));
    }
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(a: Option<f64>, b: Option<f64>, unit: Unit) -> Row {
        Row {
            key: "k".into(),
            label: "k".into(),
            unit,
            a,
            b,
        }
    }

    #[test]
    fn differences_read_as_sign_value_and_ratio() {
        assert_eq!(
            difference(&row(Some(4.0), Some(1.0), Unit::Count)),
            "-3 (×0.25)"
        );
        assert_eq!(difference(&row(Some(0.0), Some(2.0), Unit::Count)), "+2");
        assert_eq!(difference(&row(Some(2.0), Some(2.0), Unit::Count)), "=");
        assert_eq!(difference(&row(None, Some(2.0), Unit::Bytes)), "-");
        assert_eq!(
            difference(&row(Some(400.0), Some(200.5), Unit::Ms)),
            "-199.500 ms (×0.50)"
        );
    }

    #[test]
    fn a_record_has_its_keys_and_null_for_what_is_unknown() {
        let mut s = String::new();
        jsonl(&mut s, &row(None, Some(2.5), Unit::Bytes), None);
        assert_eq!(
            s,
            "{\"kind\":\"compare\",\"metric\":\"k\",\"label\":\"k\",\"unit\":\"bytes\",\"a\":null,\"b\":2.5,\"diff\":null,\"ratio\":null,\"differs\":true,\"a_stream\":null,\"b_stream\":null}\n"
        );
        let mut s = String::new();
        jsonl(
            &mut s,
            &row(Some(1.0), Some(1.0), Unit::Count),
            Some([0, 3]),
        );
        assert!(
            s.ends_with(",\"differs\":false,\"a_stream\":0,\"b_stream\":3}\n"),
            "{s}"
        );
    }

    #[test]
    fn colour_marks_only_the_cells_that_differ() {
        let a = Metrics {
            data: 2,
            ..Metrics::default()
        };
        let v = View {
            names: ["a", "b"],
            metrics: [&a, &a],
            stream: None,
            color: true,
            width: None,
            ascii: false,
        };
        let mut s = String::new();
        text(&mut s, &v);
        assert!(!s.contains('\x1b'), "{s}");
        let b = Metrics {
            data: 3,
            ..Metrics::default()
        };
        let v = View {
            metrics: [&a, &b],
            ..v
        };
        let mut s = String::new();
        text(&mut s, &v);
        assert!(s.contains("\x1b[1m"), "{s}");
        let plain = View { color: false, ..v };
        let mut p = String::new();
        text(&mut p, &plain);
        assert!(!p.contains('\x1b'));
        assert!(p.contains("+1 (×1.50)"), "{p}");
    }
}
