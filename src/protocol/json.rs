//! Inbound JSON, as strict as the spec allows: trailing commas tolerated, duplicates not.
//!
//! The spec's own examples end objects with `,` before `}`, so controllers written from it
//! may do the same. A linear pre-pass drops a comma that follows a value and precedes `}` or
//! `]` (outside strings); everything else goes to serde_json unchanged. A second pass,
//! through a serde visitor, refuses duplicate keys at any depth, which serde_json would
//! otherwise resolve silently in favour of the last one. serde_json's nesting limit (128)
//! bounds the recursion.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON (after trailing-comma tolerance); serde_json's description.
    Syntax(String),
    /// The same key twice in one object.
    DuplicateKey(String),
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Drops every comma that ends a list: preceded by a value, followed (after whitespace) by
/// `}` or `]`. Borrows when there is none. One pass plus look-ahead over whitespace only,
/// so each byte is visited at most twice.
pub(crate) fn strip_trailing_commas(input: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut escaped = false;
    // Last byte outside strings that was not whitespace (`"` for a string's end).
    let mut last: Option<u8> = None;
    for (i, &b) in input.iter().enumerate() {
        let mut keep = true;
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                last = Some(b'"');
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b',' {
            let after_value = !matches!(last, None | Some(b'{' | b'[' | b',' | b':'));
            let next = input
                .get(i + 1..)
                .and_then(|rest| rest.iter().find(|&&c| !is_ws(c)));
            if after_value && matches!(next, Some(b'}' | b']')) {
                keep = false;
            } else {
                last = Some(b',');
            }
        } else if !is_ws(b) {
            last = Some(b);
        }
        match (&mut out, keep) {
            (Some(buf), true) => buf.push(b),
            (None, false) => {
                let mut buf = Vec::with_capacity(input.len());
                buf.extend_from_slice(&input[..i]);
                out = Some(buf);
            }
            _ => {}
        }
    }
    out.map_or(Cow::Borrowed(input), Cow::Owned)
}

/// Parses one JSON value (trailing commas tolerated, duplicate keys refused).
pub(crate) fn parse(input: &[u8]) -> Result<Value, JsonError> {
    let cleaned = strip_trailing_commas(input);
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(&cleaned);
    let result = Strict {
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    result.map_err(|err| match duplicate.into_inner() {
        Some(key) => JsonError::DuplicateKey(key),
        None => JsonError::Syntax(err.to_string()),
    })
}

/// Builds a `serde_json::Value`, recording the first duplicate key it meets.
#[derive(Clone, Copy)]
struct Strict<'a> {
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON cannot spell NaN or infinity, so this never yields Null in practice.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let err = A::Error::custom(format_args!("duplicate key {key:?}"));
                *self.duplicate.borrow_mut() = Some(key);
                return Err(err);
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(s: &str) -> String {
        String::from_utf8(strip_trailing_commas(s.as_bytes()).into_owned()).expect("utf8")
    }

    #[test]
    fn trailing_commas_before_closers_are_dropped() {
        assert_eq!(strip(r#"{"a":1,}"#), r#"{"a":1}"#);
        assert_eq!(strip("[1,2,\n  ]"), "[1,2\n  ]");
        assert_eq!(strip(r#"{"a":{"b":"c",},}"#), r#"{"a":{"b":"c"}}"#);
        assert_eq!(
            strip(r#"{"a":[true,],"b":null,}"#),
            r#"{"a":[true],"b":null}"#
        );
    }

    #[test]
    fn commas_that_do_not_end_a_list_are_kept() {
        for s in [
            "{,}",
            "[,]",
            r#"{"a":,}"#,
            "[1,,]",
            "{\"a\":1,,}",
            ",",
            ",}",
            "[1,2]",
        ] {
            assert_eq!(strip(s), s);
        }
        // `[1,,]`: only the second comma is before `]`, and it follows a comma: kept, so
        // serde_json still rejects it.
        assert!(parse(b"[1,,]").is_err());
        assert!(parse(b"{,}").is_err());
    }

    #[test]
    fn commas_inside_strings_are_untouched() {
        let s = r#"{"a":",}","b":"x\",]","c":"\\",}"#;
        assert_eq!(strip(s), r#"{"a":",}","b":"x\",]","c":"\\"}"#);
        let v = parse(s.as_bytes()).expect("valid");
        assert_eq!(v["a"], ",}");
        assert_eq!(v["b"], "x\",]");
        assert_eq!(v["c"], "\\");
    }

    #[test]
    fn valid_json_is_borrowed_not_copied() {
        assert!(matches!(
            strip_trailing_commas(br#"{"a":[1,2]}"#),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(
            parse(br#"{"a":1,"a":2}"#),
            Err(JsonError::DuplicateKey("a".into()))
        );
        assert_eq!(
            parse(br#"{"p":[{"x":1,"x":1}]}"#),
            Err(JsonError::DuplicateKey("x".into()))
        );
        // Escapes are resolved before comparing.
        assert_eq!(
            parse(br#"{"a":1,"\u0061":2}"#),
            Err(JsonError::DuplicateKey("a".into()))
        );
    }

    #[test]
    fn garbage_and_trailing_data_are_syntax_errors() {
        for s in ["", "{", "{} {}", "{}x", "nul", "{'a':1}", "\u{feff}{}"] {
            assert!(
                matches!(parse(s.as_bytes()), Err(JsonError::Syntax(_))),
                "{s:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = "[".repeat(200_000);
        assert!(matches!(parse(deep.as_bytes()), Err(JsonError::Syntax(_))));
        let deep_obj = r#"{"a":"#.repeat(50_000);
        assert!(matches!(
            parse(deep_obj.as_bytes()),
            Err(JsonError::Syntax(_))
        ));
    }

    #[test]
    fn many_commas_and_spaces_stay_linear() {
        // A quadratic pass would take minutes on this input.
        let nasty = format!("[1{}]", ", ".repeat(1_000_000));
        let _ = strip_trailing_commas(nasty.as_bytes());
        let spaces = format!("[1,{}", " ".repeat(1_000_000));
        let _ = strip_trailing_commas(spaces.as_bytes());
    }
}
