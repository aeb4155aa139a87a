//! Reading typed values out of raw Graph JSON, tolerantly: a value of an unexpected type is
//! treated as absent (and stays available verbatim in `unmapped`).

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::graph::record::{Record, raw_str};
use crate::graph::scan::{ItemVisit, Level, array_of_objects};
use crate::graph::split::{Property, pick_properties};

/// A nested object's properties; `None` for `null`, `{}` or anything that is not an object.
/// `raw` is a value inside a validated record.
pub fn object(raw: &str) -> Option<Record<'_>> {
    if !raw.starts_with('{') {
        return None;
    }
    Record::parse(raw)
        .ok()
        .filter(|record| record.fields().next().is_some())
}

/// The raw values of `keys` in the object `raw` (a value inside a validated record; a repeated
/// key's last), read in one pass without splitting the object: for the few properties of a small
/// nested object. `None` for `null`, `{}` or anything that is not an object.
pub fn pick<'a, const N: usize>(raw: &'a str, keys: [&str; N]) -> Option<[Option<&'a str>; N]> {
    let inside = raw.strip_prefix('{')?.strip_suffix('}')?;
    // `{}` (Graph's empty `geoCoordinates`, ...) is no object to read
    if inside.trim_ascii().is_empty() {
        return None;
    }
    match pick_properties(raw, keys) {
        Some(picked) => Some(picked),
        // keys with escapes: the object is split, which decodes them
        None => {
            let object = object(raw)?;
            Some(keys.map(|key| object.get(key)))
        }
    }
}

/// The raw values of `keys` in each item of the array `raw` that is an object with
/// properties (a repeated key's last), handed to `visit` item after item, in one pass over the
/// array: for reading a few properties of each of a list of small objects. Nothing for anything
/// else. `raw` is a value inside a validated record.
pub fn pick_each<'a, const N: usize>(
    raw: &'a str,
    keys: [&str; N],
    mut visit: impl FnMut([Option<&'a str>; N]),
) {
    let mut found = [None; N];
    let mut has_properties = false;
    // an item with a key that has escapes is split on its own, which decodes them
    let mut escapes = false;
    let _ = array_of_objects(raw, |item| match item {
        ItemVisit::Property(Level::Top, key, escaped, value) => {
            has_properties = true;
            escapes |= escaped;
            let name = raw.get(key).unwrap_or_default();
            if let Some(slot) = keys.iter().position(|wanted| *wanted == name) {
                found[slot] = raw.get(value);
            }
        }
        ItemVisit::Property(Level::Child, ..) | ItemVisit::Other => {}
        ItemVisit::ObjectEnd(range) => {
            let picked = std::mem::replace(&mut found, [None; N]);
            if escapes {
                if let Some(object) = raw.get(range).and_then(object) {
                    visit(keys.map(|key| object.get(key)));
                }
            } else if has_properties {
                visit(picked);
            }
            has_properties = false;
            escapes = false;
        }
    });
}

/// A Graph string that is present and not blank, to be written as it is: a string without
/// escapes (nearly all) as its raw JSON text, which needs no escapes either (the record was
/// validated: no quote, backslash or control character inside), so it is neither decoded nor
/// checked again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphText<'a> {
    /// The raw text, quotes included.
    Verbatim(&'a str),
    Decoded(String),
}

/// The string `raw` (a value's raw JSON text) for writing; `None` when absent, not a string,
/// or blank (as `non_empty`).
#[inline]
pub fn graph_text(raw: Option<&str>) -> Option<GraphText<'_>> {
    let raw = raw?;
    match string(raw)? {
        Cow::Borrowed(inner) => (!is_blank(inner)).then_some(GraphText::Verbatim(raw)),
        Cow::Owned(decoded) => (!is_blank(&decoded)).then_some(GraphText::Decoded(decoded)),
    }
}

/// A string that is present and not blank (Graph sends "" for unknown values).
pub fn non_empty(raw: Option<&str>) -> Option<Cow<'_, str>> {
    raw.and_then(string).filter(|value| !is_blank(value))
}

pub fn string(raw: &str) -> Option<Cow<'_, str>> {
    raw_str(raw)
}

pub fn integer(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().or_else(|| {
        raw.parse::<f64>()
            .ok()
            .filter(|value| value.fract() == 0.0)
            .map(|value| value as i64)
    })
}

pub fn number(raw: &str) -> Option<f64> {
    raw.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// A finite number Graph sent, as `ObjectWriter::float_text` writes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FloatText<'a> {
    /// The raw text, which is what writing its value would give (see `is_plain_decimal`).
    Verbatim(&'a str),
    Parsed(f64),
}

/// The number `raw` (JSON text) for writing: its own text when that is how `float` would write
/// it, which spares a parse and a format (coordinates come this way); `None` when it is not a
/// finite number.
pub fn float_text(raw: &str) -> Option<FloatText<'_>> {
    if is_plain_decimal(raw) {
        Some(FloatText::Verbatim(raw))
    } else {
        number(raw).map(FloatText::Parsed)
    }
}

/// Whether `raw` is a decimal that a shortest round-trip formatter (serde_json's `ryu`) writes
/// back unchanged: a whole part and a fraction without a trailing zero, no exponent, at most 15
/// significant digits (so no other decimal of as few digits reads as the same `f64`), and not
/// below 0.001 or above 10¹⁵ (where it would switch to an exponent).
fn is_plain_decimal(raw: &str) -> bool {
    let digits = raw.strip_prefix('-').unwrap_or(raw).as_bytes();
    let Some(dot) = digits.iter().position(|&byte| byte == b'.') else {
        return false;
    };
    let (whole, fraction) = (&digits[..dot], &digits[dot + 1..]);
    let all_digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    if !all_digits(whole)
        || !all_digits(fraction)
        || fraction.last() == Some(&b'0')
        || (whole.len() > 1 && whole[0] == b'0')
        || whole.len() > 15
    {
        return false;
    }
    let significant = if whole == b"0" {
        let zeros = fraction.iter().take_while(|&&byte| byte == b'0').count();
        if zeros > 2 {
            return false;
        }
        fraction.len() - zeros
    } else {
        whole.len() + fraction.len()
    };
    significant <= 15
}

pub fn boolean(raw: &str) -> Option<bool> {
    match raw {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Whether `value` is empty or only whitespace. A value that starts with a visible ASCII
/// character (nearly every one) is decided without trimming.
pub fn is_blank(value: &str) -> bool {
    match value.as_bytes().first() {
        None => true,
        Some(byte) if byte.is_ascii_graphic() => false,
        Some(_) => value.trim().is_empty(),
    }
}

/// Whether `text` starts with `prefix`, ignoring ASCII case.
pub fn starts_with_lowercase(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Shorthands on a record.
pub trait Fields<'a> {
    fn text(&self, key: &str) -> Option<Cow<'a, str>>;
    fn non_empty(&self, key: &str) -> Option<Cow<'a, str>>;
    fn integer(&self, key: &str) -> Option<i64>;
    fn number(&self, key: &str) -> Option<f64>;
    fn boolean(&self, key: &str) -> Option<bool>;
    fn object(&self, key: &str) -> Option<Record<'a>>;
    /// The raw values of `keys` in the object value of `key` (see `pick`).
    fn pick<const N: usize>(&self, key: &str, keys: [&str; N]) -> Option<[Option<&'a str>; N]>;
    /// The items of an array that are objects with properties, split in one pass (see
    /// `Record::objects_of_array`); empty for anything else.
    fn objects(&self, key: &str) -> Vec<Record<'a>>;
}

/// `pick` of the object `raw`, from its properties as a scan kept them when it did (`kept`).
pub(crate) fn pick_kept<'a, const N: usize>(
    raw: &'a str,
    kept: Option<&[Property<'a>]>,
    keys: [&str; N],
) -> Option<[Option<&'a str>; N]> {
    match kept {
        Some(properties) => Some(keys.map(|wanted| last_value(properties, wanted))),
        None => pick(raw, keys),
    }
}

/// The last value of `key` among `properties`.
fn last_value<'a>(properties: &[Property<'a>], key: &str) -> Option<&'a str> {
    properties
        .iter()
        .rev()
        .find(|(name, _)| name == key)
        .map(|(_, value)| *value)
}

impl<'a> Fields<'a> for Record<'a> {
    fn text(&self, key: &str) -> Option<Cow<'a, str>> {
        self.get(key).and_then(string)
    }

    /// A string that is present and not empty (Graph sends "" for unknown values).
    fn non_empty(&self, key: &str) -> Option<Cow<'a, str>> {
        self.text(key).filter(|value| !is_blank(value))
    }

    fn integer(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(integer)
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(number)
    }

    fn boolean(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(boolean)
    }

    /// Built from the properties the record's scan found, when it kept them: not read again.
    fn object(&self, key: &str) -> Option<Record<'a>> {
        match self.get_with_properties(key)? {
            (raw, Some(properties)) => Some(Record::from_properties(raw, properties)),
            (raw, None) => object(raw),
        }
    }

    /// Read from the properties the record's scan found, when it kept them.
    fn pick<const N: usize>(&self, key: &str, keys: [&str; N]) -> Option<[Option<&'a str>; N]> {
        let (raw, kept) = self.get_with_properties(key)?;
        pick_kept(raw, kept, keys)
    }

    fn objects(&self, key: &str) -> Vec<Record<'a>> {
        self.get(key)
            .map(Record::objects_of_array)
            .unwrap_or_default()
    }
}

/// A JSON-encoded string decoded into JSON (`"[\"x\"]"` → `["x"]`); other text stays a string.
pub fn decode_json_string(text: &str) -> Option<Box<RawValue>> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    if let Ok(value) = serde_json::from_str::<Box<RawValue>>(trimmed) {
        return Some(value);
    }
    serde_json::value::to_raw_value(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(raw: &str) -> String {
        serde_json::to_string(&raw.parse::<f64>().expect("a number")).expect("json")
    }

    /// A Graph string is written as `text` writes it decoded: as it came when it has no
    /// escapes, decoded and escaped again when it has; nothing when absent, blank or not a
    /// string.
    #[test]
    fn graph_strings_are_written_as_their_decoded_text_would_be() {
        use crate::schema::json::ObjectWriter;
        for raw in [
            r#""plain""#,
            r#""with \"quotes\" and \u00e9""#,
            r#""tab\t""#,
            r#""naïve ☃""#,
            r#""""#,
            r#""   ""#,
            r#""\u0020""#,
            "null",
            "12",
            "[]",
        ] {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            ObjectWriter::write(&mut fast, |object| {
                object.graph_text("k", graph_text(Some(raw)))
            });
            ObjectWriter::write(&mut slow, |object| {
                object.text("k", non_empty(Some(raw)).as_deref())
            });
            assert_eq!(
                String::from_utf8(fast).expect("utf-8"),
                String::from_utf8(slow).expect("utf-8"),
                "{raw}"
            );
        }
        assert_eq!(
            graph_text(Some(r#""plain""#)),
            Some(GraphText::Verbatim(r#""plain""#))
        );
        assert_eq!(
            graph_text(Some(r#""caf\u00e9""#)),
            Some(GraphText::Decoded("café".to_owned()))
        );
        assert_eq!(graph_text(None), None);
    }

    /// A number's own text is kept only where writing its value gives that text back: for
    /// coordinates as Graph sends them, near every limit, and for random decimals of every
    /// length.
    #[test]
    fn a_number_keeps_its_text_only_where_writing_its_value_gives_it_back() {
        for (raw, verbatim) in [
            ("47.6062", true),
            ("-122.3321", true),
            ("0.5", true),
            ("-0.5", true),
            ("0.001", true),
            ("0.0001", false),
            ("1.50", false),
            ("1.0", false),
            ("12", false),
            ("1e3", false),
            ("1.5E2", false),
            ("123456789012345.6", false),
            ("12345678901234.5", true),
            ("0.123456789012345", true),
            ("0.1234567890123456", false),
            ("-0.0", false),
        ] {
            let text = float_text(raw);
            assert_eq!(
                matches!(text, Some(FloatText::Verbatim(_))),
                verbatim,
                "{raw}"
            );
            assert!(text.is_some(), "{raw} is a number");
        }
        assert_eq!(float_text("\"1.5\""), None);
        assert_eq!(float_text("null"), None);

        let mut random = fastrand::Rng::with_seed(7);
        let digits = |count: usize, random: &mut fastrand::Rng| -> String {
            (0..count)
                .map(|_| char::from(b'0' + random.u8(0..10)))
                .collect()
        };
        let mut kept = 0;
        for _ in 0..100_000 {
            let whole = if random.bool() {
                "0".to_owned()
            } else {
                let first = char::from(b'1' + random.u8(0..9));
                let rest = random.usize(0..16);
                format!("{first}{}", digits(rest, &mut random))
            };
            let fraction_length = random.usize(1..18);
            let fraction = digits(fraction_length, &mut random);
            let sign = if random.bool() { "-" } else { "" };
            let raw = format!("{sign}{whole}.{fraction}");
            match float_text(&raw) {
                Some(FloatText::Verbatim(text)) => {
                    kept += 1;
                    assert_eq!(written(text), raw);
                }
                Some(FloatText::Parsed(value)) => assert_eq!(Some(value), number(&raw)),
                None => panic!("{raw} is a number"),
            }
        }
        assert!(kept > 25_000, "{kept} of 100,000 kept their text");
    }
}
