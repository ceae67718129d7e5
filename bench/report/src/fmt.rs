//! Number and text formatting shared by the CSV, Markdown and SVG writers.

/// Full precision for CSV: integral values without a fraction (`1500`), others as Rust's
/// shortest round-trip form (`1550.3`).
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Short form for tables: integers as they are, else about four significant digits.
pub fn short(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if x.fract() == 0.0 || a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// A ratio with two decimals, e.g. `1.07`.
pub fn ratio(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "–".into()
    }
}

/// Compact tick label: `0`, `0.5`, `250`, `1k`, `2.5k`, `1M`, `4G`.
pub fn tick(x: f64) -> String {
    let a = x.abs();
    let (v, suffix) = if a >= 1e9 {
        (x / 1e9, "G")
    } else if a >= 1e6 {
        (x / 1e6, "M")
    } else if a >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    let s = if s == "-0" { "0" } else { s };
    format!("{s}{suffix}")
}

/// Tick label for powers of two (log2 axes): plain below 16384, then `16Ki`, `32Ki`, ...
/// `1Mi`, `1Gi`; values that are not whole multiples fall back to [`tick`].
pub fn tick_pow2(x: f64) -> String {
    if x < 16384.0 && x.fract() == 0.0 {
        return num(x);
    }
    for (scale, suffix) in [(1u64 << 30, "Gi"), (1 << 20, "Mi"), (1 << 10, "Ki")] {
        let s = scale as f64;
        if x >= s && (x / s).fract() == 0.0 {
            return format!("{}{suffix}", x / s);
        }
    }
    if x < 1024.0 { num(x) } else { tick(x) }
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR/LF or edge spaces.
pub fn csv_field(s: &str) -> String {
    let needs = s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ');
    if needs {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Text for a Markdown table cell: `|` escaped, line breaks flattened, empty shown as `–`.
pub fn md_cell(s: &str) -> String {
    if s.is_empty() {
        return "–".into();
    }
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// XML text/attribute escaping.
pub fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// A unit for axis labels: `faults_per_s` → `faults/s`.
pub fn unit_label(unit: &str) -> String {
    match unit.strip_suffix("_per_s") {
        Some(what) => format!("{what}/s"),
        None => unit.to_string(),
    }
}

/// Whether a unit is a rate (higher is better): it ends in `_per_s` or `/s`.
pub fn is_rate(unit: &str) -> bool {
    unit.ends_with("_per_s") || unit.ends_with("/s")
}

/// The median of a list (mean of the two middle values for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(1500.0), "1500");
        assert_eq!(num(1550.3), "1550.3");
        assert_eq!(num(-2.0), "-2");
        assert_eq!(short(1500.0), "1500");
        assert_eq!(short(1550.3), "1550");
        assert_eq!(short(12.34), "12.3");
        assert_eq!(short(1.234), "1.23");
        assert_eq!(short(0.1234), "0.123");
        assert_eq!(ratio(1.0666), "1.07");
    }

    #[test]
    fn ticks() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(250.0), "250");
        assert_eq!(tick(1000.0), "1k");
        assert_eq!(tick(2500.0), "2.5k");
        assert_eq!(tick(1048576.0), "1.049M");
        assert_eq!(tick(4e9), "4G");
        assert_eq!(tick_pow2(512.0), "512");
        assert_eq!(tick_pow2(4096.0), "4096");
        assert_eq!(tick_pow2(16384.0), "16Ki");
        assert_eq!(tick_pow2(1048576.0), "1Mi");
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" pad"), "\" pad\"");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn text() {
        assert_eq!(md_cell("a|b"), "a\\|b");
        assert_eq!(md_cell(""), "–");
        assert_eq!(xml("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(unit_label("faults_per_s"), "faults/s");
        assert!(is_rate("faults_per_s"));
        assert!(!is_rate("cycles"));
    }
}
