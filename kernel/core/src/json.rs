//! One-line JSON records for the serial port.
//!
//! A [`Record`] writes one JSON object field by field to any [`core::fmt::Write`], without
//! allocating:
//!
//! ```
//! # use kernel_core::json::Record;
//! let mut line = String::new();
//! Record::begin(&mut line, "cpu").u64("id", 1).hex("window", 0xffff_ff80_0100_0000).finish()?;
//! assert_eq!(line, r#"{"type":"cpu","id":1,"window":"0xffffff8001000000"}"#);
//! # Ok::<(), core::fmt::Error>(())
//! ```
//!
//! The first write error is kept, later fields are skipped, and [`Record::finish`] returns it.
//! The caller writes the line end.

use core::fmt::{self, Write};

/// A JSON object being written; started by [`Record::begin`], closed by [`Record::finish`].
#[must_use = "a record is incomplete until `finish` writes its closing brace"]
pub struct Record<'w, W: Write + ?Sized> {
    out: &'w mut W,
    status: fmt::Result,
}

impl<'w, W: Write + ?Sized> Record<'w, W> {
    /// Starts an object with its `"type"` field: `{"type":"<kind>"`.
    pub fn begin(out: &'w mut W, kind: &str) -> Self {
        let status = out
            .write_str("{\"type\":")
            .and_then(|()| write_string(out, kind));
        Record { out, status }
    }

    /// Writes `,"key":` and then the value through `value`, unless an earlier write failed.
    fn field(&mut self, key: &str, value: impl FnOnce(&mut W) -> fmt::Result) -> &mut Self {
        if self.status.is_ok() {
            let out = &mut *self.out;
            self.status = out
                .write_char(',')
                .and_then(|()| write_string(out, key))
                .and_then(|()| out.write_char(':'))
                .and_then(|()| value(out));
        }
        self
    }

    /// A string field, escaped.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.field(key, |out| write_string(out, value))
    }

    /// An unsigned integer field.
    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.field(key, |out| write!(out, "{value}"))
    }

    /// A signed integer field.
    pub fn i64(&mut self, key: &str, value: i64) -> &mut Self {
        self.field(key, |out| write!(out, "{value}"))
    }

    /// A boolean field.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.field(key, |out| {
            out.write_str(if value { "true" } else { "false" })
        })
    }

    /// A floating-point field in plain decimal notation with the shortest digits that read
    /// back as the same `f64` (never an exponent); `null` for infinities and NaN, which JSON
    /// cannot represent.
    pub fn f64(&mut self, key: &str, value: f64) -> &mut Self {
        self.field(key, |out| {
            if value.is_finite() {
                write!(out, "{value}")
            } else {
                out.write_str("null")
            }
        })
    }

    /// An address or bit pattern as a string of lowercase hexadecimal: `"0xffff800000000000"`.
    pub fn hex(&mut self, key: &str, value: u64) -> &mut Self {
        self.field(key, |out| write!(out, "\"{value:#x}\""))
    }

    /// A field whose value is already JSON (an object, an array, ...), written verbatim; a
    /// `Display` type can produce a large value (a histogram) without a buffer.
    pub fn raw(&mut self, key: &str, json: impl fmt::Display) -> &mut Self {
        self.field(key, |out| write!(out, "{json}"))
    }

    /// Writes the closing brace and returns the first error of the whole record.
    pub fn finish(&mut self) -> fmt::Result {
        if self.status.is_ok() {
            self.status = self.out.write_char('}');
        }
        self.status
    }
}

/// Writes `text` as a JSON string, quotes included: `"` and `\` are escaped, `\n`, `\r` and `\t`
/// get their short escapes and every other control character (below U+0020) is `\u00XX`.
pub fn write_string<W: Write + ?Sized>(out: &mut W, text: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut plain_from = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so `i` and `i + 1` are character boundaries.
        out.write_str(&text[plain_from..i])?;
        if escape.is_empty() {
            write!(out, "\\u{byte:04x}")?;
        } else {
            out.write_str(escape)?;
        }
        plain_from = i + 1;
    }
    out.write_str(&text[plain_from..])?;
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(build: impl FnOnce(&mut Record<'_, String>) -> fmt::Result) -> String {
        let mut line = String::new();
        build(&mut Record::begin(&mut line, "t")).unwrap();
        line
    }

    #[test]
    fn empty_record() {
        assert_eq!(record(|r| r.finish()), r#"{"type":"t"}"#);
    }

    #[test]
    fn every_value_kind() {
        let line = record(|r| {
            r.str("s", "x")
                .u64("u", u64::MAX)
                .i64("i", i64::MIN)
                .bool("yes", true)
                .bool("no", false)
                .f64("f", 2.5)
                .hex("h", 0xffff_8000_0000_0000)
                .raw("params", r#"{"cpus":4}"#)
                .finish()
        });
        assert_eq!(
            line,
            concat!(
                r#"{"type":"t","s":"x","u":18446744073709551615,"i":-9223372036854775808,"#,
                r#""yes":true,"no":false,"f":2.5,"h":"0xffff800000000000","params":{"cpus":4}}"#
            )
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            record(|r| r
                .str("k\"ey", "a\"b\\c\nd\re\tf\u{1}g\u{1f}h\u{7f}é€")
                .finish()),
            "{\"type\":\"t\",\"k\\\"ey\":\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh\u{7f}é€\"}"
        );
        let mut out = String::new();
        write_string(&mut out, "\0").unwrap();
        assert_eq!(out, r#""\u0000""#);
        let mut out = String::new();
        Record::begin(&mut out, "a\nb").finish().unwrap();
        assert_eq!(out, r#"{"type":"a\nb"}"#);
    }

    #[test]
    fn floats_are_plain_decimal_and_round_trip() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (1e-7, "0.0000001"),
            (123456789.125, "123456789.125"),
            (1e21, "1000000000000000000000"),
        ];
        for &(value, expected) in cases {
            assert_eq!(
                record(|r| r.f64("f", value).finish()),
                format!(r#"{{"type":"t","f":{expected}}}"#)
            );
        }
        let third = 1.0 / 3.0;
        let line = record(|r| r.f64("f", third).finish());
        let digits = line
            .trim_start_matches(r#"{"type":"t","f":"#)
            .trim_end_matches('}');
        assert_eq!(digits.parse::<f64>().unwrap(), third);
    }

    #[test]
    fn non_finite_floats_are_null() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                record(|r| r.f64("f", value).finish()),
                r#"{"type":"t","f":null}"#
            );
        }
    }

    #[test]
    fn raw_accepts_display_values() {
        let line = record(|r| r.raw("hist", format_args!("[[{},{}]]", 64, 3)).finish());
        assert_eq!(line, r#"{"type":"t","hist":[[64,3]]}"#);
    }

    #[test]
    fn fields_can_be_added_step_by_step() {
        let mut line = String::new();
        let mut record = Record::begin(&mut line, "end");
        for (key, value) in [("a", 1), ("b", 2)] {
            record.u64(key, value);
        }
        record.str("status", "pass").finish().unwrap();
        assert_eq!(line, r#"{"type":"end","a":1,"b":2,"status":"pass"}"#);
    }

    /// A writer that fails once it has accepted `capacity` bytes.
    struct Limited {
        written: String,
        capacity: usize,
    }

    impl Write for Limited {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            if self.written.len() + s.len() > self.capacity {
                return Err(fmt::Error);
            }
            self.written.push_str(s);
            Ok(())
        }
    }

    #[test]
    fn first_error_propagates_and_stops_writing() {
        let complete = r#"{"type":"context","cpus":4,"cmdline":"exit=qemu"}"#;
        for capacity in 0..=complete.len() {
            let mut out = Limited {
                written: String::new(),
                capacity,
            };
            let result = Record::begin(&mut out, "context")
                .u64("cpus", 4)
                .str("cmdline", "exit=qemu")
                .finish();
            if capacity == complete.len() {
                assert_eq!(result, Ok(()));
                assert_eq!(out.written, complete);
            } else {
                assert_eq!(result, Err(fmt::Error), "capacity {capacity}");
                assert!(complete.starts_with(&out.written));
            }
        }
    }
}
