//! Splitting a JSON object that is already known to be valid into its top-level properties, as
//! raw text slices, without validating it again.
//!
//! A Graph page is parsed (and so validated) once by `serde_json`; its records are then split
//! here. String contents, which are most of a record's bytes, are skipped with `memchr`; only
//! structure outside strings is looked at byte by byte. Anything unexpected makes the split give
//! up (`None`), and the caller falls back to the validating parser.

use std::borrow::Cow;

use memchr::memchr2;

/// One property: its name (unescaped) and its value's raw JSON text.
pub type Property<'a> = (Cow<'a, str>, &'a str);

fn skip_whitespace(bytes: &[u8], mut position: usize) -> usize {
    while let Some(byte) = bytes.get(position) {
        if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        position += 1;
    }
    position
}

/// The position after the closing quote of the string starting at `position` (a `"`), and
/// whether it contained escapes.
fn skip_string(bytes: &[u8], position: usize) -> Option<(usize, bool)> {
    let mut cursor = position + 1;
    let mut escaped = false;
    // most strings are short: look at their first bytes directly before calling memchr
    for _ in 0..24 {
        match bytes.get(cursor)? {
            b'"' => return Some((cursor + 1, escaped)),
            b'\\' => {
                escaped = true;
                cursor += 2;
            }
            _ => cursor += 1,
        }
    }
    loop {
        let offset = memchr2(b'"', b'\\', bytes.get(cursor..)?)?;
        cursor += offset;
        if bytes[cursor] == b'"' {
            return Some((cursor + 1, escaped));
        }
        // a backslash escapes the next byte (a `\uXXXX` escape's digits need no care)
        escaped = true;
        cursor += 2;
    }
}

/// The position after the value starting at `position`.
fn skip_value(bytes: &[u8], position: usize) -> Option<usize> {
    match bytes.get(position)? {
        b'"' => skip_string(bytes, position).map(|(end, _)| end),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut cursor = position;
            loop {
                match bytes.get(cursor)? {
                    b'"' => {
                        cursor = skip_string(bytes, cursor)?.0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(cursor + 1);
                        }
                    }
                    _ => {}
                }
                cursor += 1;
            }
        }
        _ => {
            // a number, true, false or null: up to the next delimiter
            let mut cursor = position;
            while let Some(byte) = bytes.get(cursor) {
                if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                cursor += 1;
            }
            (cursor > position).then_some(cursor)
        }
    }
}

/// The properties of the object `text`, or `None` when `text` is not an object of the expected
/// shape. `text` must be valid JSON; nothing is validated beyond the structure.
pub fn split_object(text: &str) -> Option<Vec<Property<'_>>> {
    let bytes = text.as_bytes();
    let mut position = skip_whitespace(bytes, 0);
    if bytes.get(position) != Some(&b'{') {
        return None;
    }
    let mut properties = Vec::with_capacity(64);
    position = skip_whitespace(bytes, position + 1);
    if bytes.get(position) == Some(&b'}') {
        return Some(properties);
    }
    loop {
        if bytes.get(position) != Some(&b'"') {
            return None;
        }
        let (key_end, escaped) = skip_string(bytes, position)?;
        let key = if escaped {
            Cow::Owned(serde_json::from_str::<String>(&text[position..key_end]).ok()?)
        } else {
            Cow::Borrowed(&text[position + 1..key_end - 1])
        };
        position = skip_whitespace(bytes, key_end);
        if bytes.get(position) != Some(&b':') {
            return None;
        }
        let value_start = skip_whitespace(bytes, position + 1);
        let value_end = skip_value(bytes, value_start)?;
        properties.push((key, &text[value_start..value_end]));
        position = skip_whitespace(bytes, value_end);
        match bytes.get(position)? {
            b',' => position = skip_whitespace(bytes, position + 1),
            b'}' => return Some(properties),
            _ => return None,
        }
    }
}

/// The items of the array `text` as raw texts, or `None` when it is not an array.
pub fn split_array(text: &str) -> Option<Vec<&str>> {
    let bytes = text.as_bytes();
    let mut position = skip_whitespace(bytes, 0);
    if bytes.get(position) != Some(&b'[') {
        return None;
    }
    let mut items = Vec::new();
    position = skip_whitespace(bytes, position + 1);
    if bytes.get(position) == Some(&b']') {
        return Some(items);
    }
    loop {
        let end = skip_value(bytes, position)?;
        items.push(&text[position..end]);
        position = skip_whitespace(bytes, end);
        match bytes.get(position)? {
            b',' => position = skip_whitespace(bytes, position + 1),
            b']' => return Some(items),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same split by the validating parser, for comparison.
    fn reference(text: &str) -> Vec<(String, String)> {
        let map: Vec<(String, Box<serde_json::value::RawValue>)> = serde_json::from_str::<
            serde_json::Map<String, serde_json::Value>,
        >(text)
        .map(|map| {
            map.into_iter()
                .map(|(key, value)| (key, serde_json::value::to_raw_value(&value).expect("raw")))
                .collect()
        })
        .unwrap_or_default();
        map.into_iter()
            .map(|(key, value)| (key, value.get().to_owned()))
            .collect()
    }

    #[test]
    fn splits_like_the_validating_parser() {
        let text = r#" { "id" : "a\"b" , "n":-1.5e3,"t":true,"nested":{"x":[1,{"y":"}]"}]},"list":["\\",""],
            "esc\u0061ped":null, "empty":{} } "#;
        let properties = split_object(text).expect("splits");
        let keys: Vec<&str> = properties.iter().map(|(key, _)| key.as_ref()).collect();
        assert_eq!(
            keys,
            vec!["id", "n", "t", "nested", "list", "escaped", "empty"]
        );
        let values: Vec<&str> = properties.iter().map(|(_, value)| *value).collect();
        assert_eq!(
            values,
            vec![
                r#""a\"b""#,
                "-1.5e3",
                "true",
                r#"{"x":[1,{"y":"}]"}]}"#,
                r#"["\\",""]"#,
                "null",
                "{}"
            ]
        );
        // the same values as serde_json sees them, once normalised (its map is sorted by key)
        let mut ours: Vec<(String, serde_json::Value)> = properties
            .iter()
            .map(|(key, value)| {
                (
                    key.to_string(),
                    serde_json::from_str(value).expect("valid value"),
                )
            })
            .collect();
        ours.sort_by(|left, right| left.0.cmp(&right.0));
        let theirs: Vec<(String, serde_json::Value)> = reference(text)
            .into_iter()
            .map(|(key, value)| (key, serde_json::from_str(&value).expect("valid")))
            .collect();
        assert_eq!(ours, theirs);
        assert_eq!(
            split_array(r#"[ 1 , "a,]" , {"b":[2]} ]"#),
            Some(vec!["1", r#""a,]""#, r#"{"b":[2]}"#])
        );
        assert_eq!(split_array("[]"), Some(vec![]));
        assert_eq!(split_object("{}"), Some(vec![]));
    }

    #[test]
    fn gives_up_on_what_is_not_an_object() {
        assert_eq!(split_object("null"), None);
        assert_eq!(split_object("[1]"), None);
        assert_eq!(split_object(r#"{"a" 1}"#), None);
        assert_eq!(split_object(r#"{"a":1"#), None);
        assert_eq!(split_array("{}"), None);
    }
}
