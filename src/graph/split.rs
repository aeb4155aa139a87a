//! Reading values inside a record: the items of an array and a few properties of a small object,
//! without a property list (through the validating scan, `graph::scan`, which costs less than the
//! skipping this module did before it), and the skipping helpers the ECS key rewriter walks a
//! value's text with (a value of a record the page scan validated). Anything unexpected makes a
//! function give up (`None`), and the caller falls back to splitting the object.

use std::borrow::Cow;

use memchr::memchr2;

use super::scan::{array_items, object_properties};

use crate::swar::{splat, zero_bytes};

/// One property: its name (unescaped) and its value's raw JSON text.
pub type Property<'a> = (Cow<'a, str>, &'a str);

pub(crate) fn skip_whitespace(bytes: &[u8], mut position: usize) -> usize {
    while let Some(byte) = bytes.get(position) {
        if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        position += 1;
    }
    position
}

const QUOTES: u64 = splat(b'"');
const BACKSLASHES: u64 = splat(b'\\');

/// The position of the first `"` or `\` at or after `cursor`. Eight bytes at a time (SWAR):
/// strings are most of a record's bytes, and most of them are too short for `memchr` to pay off.
#[inline(always)]
fn find_quote_or_backslash(bytes: &[u8], mut cursor: usize) -> Option<usize> {
    // the word is loaded from the slice the loop's `get` bounded (`swar::word_at` would check
    // the bounds a second time, 10 % more instructions for the whole split)
    while let Some(chunk) = bytes.get(cursor..cursor + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let found = zero_bytes(word ^ QUOTES) | zero_bytes(word ^ BACKSLASHES);
        if found != 0 {
            return Some(cursor + (found.trailing_zeros() / 8) as usize);
        }
        cursor += 8;
    }
    let tail = bytes.get(cursor..)?;
    memchr2(b'"', b'\\', tail).map(|offset| cursor + offset)
}

/// The position of the first `"`, `{`, `}`, `[` or `]` at or after `cursor`, eight bytes at a
/// time. Setting bit 5 turns `[` into `{` and `]` into `}` (and nothing else into either).
#[inline(always)]
pub(crate) fn find_structural(bytes: &[u8], mut cursor: usize) -> Option<usize> {
    const OPENS: u64 = splat(b'{');
    const CLOSES: u64 = splat(b'}');
    const BIT_5: u64 = splat(0x20);
    while let Some(chunk) = bytes.get(cursor..cursor + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let folded = word | BIT_5;
        let found =
            zero_bytes(word ^ QUOTES) | zero_bytes(folded ^ OPENS) | zero_bytes(folded ^ CLOSES);
        if found != 0 {
            return Some(cursor + (found.trailing_zeros() / 8) as usize);
        }
        cursor += 8;
    }
    bytes
        .get(cursor..)?
        .iter()
        .position(|byte| matches!(byte, b'"' | b'{' | b'}' | b'[' | b']'))
        .map(|offset| cursor + offset)
}

/// The position after the closing quote of the string starting at `position` (a `"`), and
/// whether it contained escapes.
pub(crate) fn skip_string(bytes: &[u8], position: usize) -> Option<(usize, bool)> {
    let mut cursor = position + 1;
    let mut escaped = false;
    loop {
        cursor = find_quote_or_backslash(bytes, cursor)?;
        if bytes[cursor] == b'"' {
            return Some((cursor + 1, escaped));
        }
        // a backslash escapes the next byte (a `\uXXXX` escape's digits need no care)
        escaped = true;
        cursor += 2;
    }
}

/// The raw values of `keys` in the object `text` (a repeated key's last), in one pass and
/// without a property list: for reading two or three properties of many small objects. `None`
/// when `text` is not an object of the expected shape or a key has escapes (the caller then
/// splits it). `text` must be valid JSON.
pub fn pick_properties<'a, const N: usize>(
    text: &'a str,
    keys: [&str; N],
) -> Option<[Option<&'a str>; N]> {
    let mut found = [None; N];
    let mut escapes = false;
    walk_properties(text, |key, escaped, value| {
        escapes |= escaped;
        if let Some(slot) = keys.iter().position(|wanted| *wanted == key) {
            found[slot] = Some(value);
        }
    })?;
    (!escapes).then_some(found)
}

/// Calls `visit` with each top-level property of the object `text`: the key's raw text between
/// its quotes, whether it has escapes, and the value's raw text. `None` when `text` is not an
/// object (or not valid JSON: the scan validates as it goes, which costs less than skipping).
#[inline]
pub fn walk_properties<'a>(
    text: &'a str,
    mut visit: impl FnMut(&'a str, bool, &'a str),
) -> Option<()> {
    let is_object = object_properties(text, |key, escaped, value| {
        visit(
            text.get(key).unwrap_or_default(),
            escaped,
            text.get(value).unwrap_or_default(),
        )
    })
    .ok()?;
    is_object.then_some(())
}

/// The items of the array `text` as raw texts, or `None` when it is not an array.
pub fn split_array(text: &str) -> Option<Vec<&str>> {
    let mut items = Vec::new();
    let is_array = array_items(text, |item| items.push(text.get(item).unwrap_or_default())).ok()?;
    is_array.then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every top-level property, as the walk finds them (escaped keys decoded).
    fn split_object(text: &str) -> Option<Vec<Property<'_>>> {
        let mut properties = Vec::new();
        walk_properties(text, |key, escaped, value| {
            let key = if escaped {
                Cow::Owned(serde_json::from_str::<String>(&format!("\"{key}\"")).expect("key"))
            } else {
                Cow::Borrowed(key)
            };
            properties.push((key, value));
        })?;
        Some(properties)
    }

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

    /// Strings of every length around the 8-byte steps, with an escape at every place (and a
    /// non-ASCII character), split as serde_json splits them.
    #[test]
    fn strings_of_every_length_and_escape_position_split_exactly() {
        for length in 0..40 {
            for escape_at in 0..=length {
                let mut content: String = (0..length)
                    .map(|index| if index % 11 == 10 { 'é' } else { 'a' })
                    .collect();
                if escape_at < length {
                    let at = content
                        .char_indices()
                        .nth(escape_at)
                        .map(|(at, _)| at)
                        .unwrap_or(0);
                    content.insert_str(at, ["\\\"", "\\\\", "\\u0022"][escape_at % 3]);
                }
                let text = format!(
                    r#"{{"k{length}":"{content}","deep":["{content}",{{"x":"{content}"}}],"z":1}}"#
                );
                let ours: Vec<(String, String)> = split_object(&text)
                    .unwrap_or_else(|| panic!("splits: {text}"))
                    .into_iter()
                    .map(|(key, value)| (key.into_owned(), value.to_owned()))
                    .collect();
                let parsed = |pairs: Vec<(String, String)>| {
                    let mut parsed: Vec<(String, serde_json::Value)> = pairs
                        .into_iter()
                        .map(|(key, value)| (key, serde_json::from_str(&value).expect("valid")))
                        .collect();
                    parsed.sort_by(|left, right| left.0.cmp(&right.0));
                    parsed
                };
                assert_eq!(parsed(ours.clone()), parsed(reference(&text)), "{text}");
                assert_eq!(ours[0].1, format!("\"{content}\""));
            }
        }
    }

    /// Picking properties finds what the split finds, a repeated key's last value included,
    /// and leaves objects with escaped keys to the split.
    #[test]
    fn picked_properties_are_the_split_ones() {
        let keys = [
            "authenticationMethod",
            "authenticationMethodDetail",
            "absent",
        ];
        for text in [
            r#"{"authenticationStepDateTime":"2026-01-05T10:00:00Z","authenticationMethod":"Password","authenticationMethodDetail":"Password Hash Sync","succeeded":true}"#,
            r#"{ "authenticationMethod" : "Text message" , "nested" : {"authenticationMethod":"inner"}, "authenticationMethod" : "Mobile app notification" }"#,
            r#"{"authenticationMethodDetail":null,"list":["authenticationMethod",1]}"#,
            r#"{}"#,
            r#" {"authenticationMethod":"Ä \"quoted\""} "#,
        ] {
            let picked = pick_properties(text, keys).expect("an object without escaped keys");
            let record = crate::graph::record::Record::parse(text).expect("object");
            for (key, value) in keys.iter().zip(picked) {
                assert_eq!(value, record.get(key), "{key} in {text}");
            }
        }
        assert_eq!(
            pick_properties(r#"{"authentication\u004dethod":"x"}"#, keys),
            None
        );
        assert_eq!(pick_properties(r#"["authenticationMethod"]"#, keys), None);
        assert_eq!(pick_properties(r#""text""#, keys), None);
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
