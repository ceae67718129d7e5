//! The kernel's serial output: human log lines and JSON records (one object per line, with a
//! `"type"` field; log lines never start with `{`).

use serde_json::{Map, Value};

pub type Record = Map<String, Value>;

#[derive(Debug, PartialEq)]
pub enum Line {
    Log,
    Record(Record),
    /// Starts with `{` but is not a valid record; the reason.
    Malformed(String),
}

/// Classifies one serial line (trailing `\r`/`\n` already stripped or not).
pub fn parse_line(line: &str) -> Line {
    let t = line.trim();
    if !t.starts_with('{') {
        return Line::Log;
    }
    match serde_json::from_str::<Value>(t) {
        Ok(Value::Object(m)) => match m.get("type") {
            Some(Value::String(_)) => Line::Record(m),
            _ => Line::Malformed("record has no string \"type\" field".into()),
        },
        Ok(_) => Line::Malformed("not a JSON object".into()),
        Err(e) => Line::Malformed(format!("invalid JSON: {e}")),
    }
}

pub fn record_type(r: &Record) -> &str {
    r.get("type").and_then(Value::as_str).unwrap_or("")
}

pub fn str_field<'a>(r: &'a Record, key: &str) -> Option<&'a str> {
    r.get(key).and_then(Value::as_str)
}

/// In the deterministic (icount) mode the guest TSC counts instructions: a record with
/// `"unit":"cycles"` is relabelled `"instructions"`, and its `_ns` figures (derived from a TSC
/// frequency that means nothing there) are dropped. Returns whether the record changed.
pub fn relabel_icount(r: &mut Record) -> bool {
    if r.get("unit").and_then(Value::as_str) != Some("cycles") {
        return false;
    }
    r.insert("unit".into(), Value::String("instructions".into()));
    r.retain(|k, _| !k.ends_with("_ns"));
    true
}

/// The `status` of the last `end` record, if any.
pub fn end_status(records: &[Record]) -> Option<&str> {
    records
        .iter()
        .rev()
        .find(|r| record_type(r) == "end")
        .map(|r| str_field(r, "status").unwrap_or("(missing status)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> Record {
        match parse_line(s) {
            Line::Record(r) => r,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn classify_lines() {
        assert_eq!(parse_line("kernel: booting"), Line::Log);
        assert_eq!(parse_line(""), Line::Log);
        assert_eq!(parse_line("  x {\"type\":\"end\"}"), Line::Log);
        let r = rec("{\"type\":\"test\",\"name\":\"higher_half\",\"status\":\"pass\"}\r");
        assert_eq!(record_type(&r), "test");
        assert_eq!(str_field(&r, "name"), Some("higher_half"));
        assert!(matches!(parse_line("{\"type\":1}"), Line::Malformed(_)));
        assert!(matches!(parse_line("{\"name\":\"x\"}"), Line::Malformed(_)));
        assert!(matches!(
            parse_line("{\"type\":\"end\""),
            Line::Malformed(_)
        ));
    }

    #[test]
    fn reserialise_keeps_field_order() {
        let s = r#"{"type":"context","git_rev":"abc","tsc_hz":2000000000,"cmdline":""}"#;
        assert_eq!(serde_json::to_string(&rec(s)).unwrap(), s);
    }

    #[test]
    fn icount_relabelling() {
        let mut r = rec(
            r#"{"type":"result","bench":"b","unit":"cycles","n":3,"min":1,"p50_ns":0.5,"p50":2,"max_ns":9,"hist":[[0,3]]}"#,
        );
        assert!(relabel_icount(&mut r));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"type":"result","bench":"b","unit":"instructions","n":3,"min":1,"p50":2,"hist":[[0,3]]}"#
        );
        let mut other = rec(r#"{"type":"result","unit":"faults_per_s","mean_ns":1}"#);
        assert!(!relabel_icount(&mut other));
        assert!(other.contains_key("mean_ns"));
        let mut ctx = rec(r#"{"type":"context","tsc_hz":1000000000}"#);
        assert!(!relabel_icount(&mut ctx));
    }

    #[test]
    fn end_record() {
        let rs = vec![rec(r#"{"type":"test","status":"fail"}"#)];
        assert_eq!(end_status(&rs), None);
        let rs = vec![rec(r#"{"type":"end","status":"pass"}"#)];
        assert_eq!(end_status(&rs), Some("pass"));
        let rs = vec![rec(r#"{"type":"end"}"#)];
        assert_eq!(end_status(&rs), Some("(missing status)"));
    }
}
