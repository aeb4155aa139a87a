//! One validating pass over a Graph page: it checks the whole text against the JSON grammar
//! (RFC 8259) and, on the way, finds each record of `value`, each record's top-level properties
//! and the properties of those whose values are objects (`status`, `deviceDetail`, ...: the
//! mappers read them, and scanning them again cost a sign-in ~5,500 instructions), as byte
//! ranges. No value is decoded and no tree is built.
//!
//! Before, `serde_json` validated the page (about a third of the pipeline's JSON work) and a second,
//! non-validating scan split every record into its properties; this pass does both jobs for less
//! than either cost alone. String contents, most of a record's bytes, are scanned sixteen bytes at a
//! time (`wide`: SSE2 on x86-64, NEON on ARM, portable code elsewhere, no `unsafe` here).
//!
//! What it accepts is what `serde_json` accepts for these pages: UTF-8 (checked once for the whole
//! body by the caller), no control characters in strings, only JSON's escapes (a `\u` escape's
//! four hex digits are checked, its code point is not, as `serde_json` does when it skips a
//! value), numbers by the grammar, any depth of nesting (past 127 levels without recursion),
//! nothing after the top-level value.

use std::fmt;
use std::ops::Range;

use serde::de::IgnoredAny;
use wide::u8x16;

use crate::swar::{bytes_below, splat, word_at, zero_bytes};

/// How deep the scan recurses into arrays and objects (as deep as `serde_json` parses into a
/// `Value`); deeper containers are validated without recursion (`deep_value_end`). No Graph
/// record comes near this.
const MAX_DEPTH: usize = 127;

/// Why a text is not valid JSON, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub reason: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for SyntaxError {}

type Scan<T> = Result<T, SyntaxError>;

fn fail<T>(offset: usize, reason: &'static str) -> Scan<T> {
    Err(SyntaxError { offset, reason })
}

/// A top-level property of an object: its key's text between the quotes and its value's raw
/// text, as byte ranges of the scanned text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PropertySpan {
    pub key_start: u32,
    pub key_end: u32,
    pub value_start: u32,
    pub value_end: u32,
    /// Whether the key has escapes (it must be decoded to be compared).
    pub key_escaped: bool,
}

impl PropertySpan {
    /// The span of a property found in a text below 4 GiB (so that every offset fits).
    pub fn new(key: Range<usize>, key_escaped: bool, value: Range<usize>) -> PropertySpan {
        PropertySpan {
            key_start: key.start as u32,
            key_end: key.end as u32,
            value_start: value.start as u32,
            value_end: value.end as u32,
            key_escaped,
        }
    }

    pub fn key(&self) -> Range<usize> {
        self.key_start as usize..self.key_end as usize
    }

    pub fn value(&self) -> Range<usize> {
        self.value_start as usize..self.value_end as usize
    }
}

/// One item of a page's `value` array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedRecord {
    /// The item's raw text.
    pub text: Range<usize>,
    /// Its properties in `ScannedPage::properties`; `None` when the item is not an object.
    pub properties: Option<Range<usize>>,
    /// Its properties whose values are objects with properties, in `ScannedPage::objects`.
    pub objects: Range<usize>,
}

/// A property whose value is an object (not `{}`): where its own properties are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NestedObject {
    /// The property's place among the properties of its record.
    pub property: u32,
    /// The object's properties: in `ScannedPage::children` for a page, in the record's own list
    /// of nested properties once a `Record` is built.
    pub children: Range<u32>,
}

/// A page as the scan found it.
#[derive(Clone, Debug, Default)]
pub struct ScannedPage {
    pub records: Vec<ScannedRecord>,
    /// Every record's top-level properties, record after record.
    pub properties: Vec<PropertySpan>,
    /// The records' properties whose values are objects (`status`, `deviceDetail`, ...), and
    /// those objects' properties, found by the same pass: the mapping reads them without
    /// scanning them again.
    pub objects: Vec<NestedObject>,
    pub children: Vec<PropertySpan>,
    /// The raw text (a JSON string) of `@odata.nextLink`, when it is a string.
    pub next_link: Option<Range<usize>>,
}

/// What makes a page unusable: invalid JSON, or valid JSON that is not a Graph page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageShapeError {
    Syntax(SyntaxError),
    NotAnObject,
    NoValue,
    ValueNotAnArray,
    RepeatedValue,
    NextLinkNotAString,
    TooLarge,
}

impl fmt::Display for PageShapeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageShapeError::Syntax(error) => write!(formatter, "{error}"),
            PageShapeError::NotAnObject => formatter.write_str("the page is not a JSON object"),
            PageShapeError::NoValue => formatter.write_str("the page has no `value` array"),
            PageShapeError::ValueNotAnArray => formatter.write_str("`value` is not an array"),
            PageShapeError::RepeatedValue => {
                formatter.write_str("the page has more than one `value`")
            }
            PageShapeError::NextLinkNotAString => {
                formatter.write_str("`@odata.nextLink` is not a string")
            }
            PageShapeError::TooLarge => formatter.write_str("the page is larger than 4 GiB"),
        }
    }
}

impl From<SyntaxError> for PageShapeError {
    fn from(error: SyntaxError) -> Self {
        PageShapeError::Syntax(error)
    }
}

/// Scans a whole page: `{"value": [records...], "@odata.nextLink": "...", ...}`.
pub fn scan_page(text: &str) -> Result<ScannedPage, PageShapeError> {
    let bytes = text.as_bytes();
    if u32::try_from(bytes.len()).is_err() {
        return Err(PageShapeError::TooLarge);
    }
    // about one property per 45 bytes of a Graph page: reserved once instead of grown by doubling
    let mut page = ScannedPage {
        properties: Vec::with_capacity(bytes.len() / 40),
        children: Vec::with_capacity(bytes.len() / 120),
        ..ScannedPage::default()
    };
    let start = skip_whitespace(bytes, 0);
    if bytes.get(start) != Some(&b'{') {
        // a syntax error says more than "not an object" when the text is not JSON at all
        value_end(bytes, start, 0)?;
        return Err(PageShapeError::NotAnObject);
    }
    let mut seen_value = false;
    let mut shape_error = None;
    let end = object(bytes, start, 1, |key, escaped, value| {
        let name = &bytes[key.clone()];
        if escaped || (name != b"value" && name != b"@odata.nextLink") {
            return value_end(bytes, value, 1);
        }
        let first = bytes.get(value).copied();
        if name == b"@odata.nextLink" {
            let end = value_end(bytes, value, 1)?;
            match first {
                Some(b'"') => page.next_link = Some(value..end),
                Some(b'n') => page.next_link = None,
                _ => shape_error = Some(PageShapeError::NextLinkNotAString),
            }
            return Ok(end);
        }
        if seen_value {
            shape_error = Some(PageShapeError::RepeatedValue);
        }
        seen_value = true;
        match first {
            Some(b'[') => records(bytes, value, &mut page),
            Some(b'n') => {
                seen_value = false;
                value_end(bytes, value, 1)
            }
            _ => {
                shape_error = Some(PageShapeError::ValueNotAnArray);
                value_end(bytes, value, 1)
            }
        }
    })?;
    let trailing = skip_whitespace(bytes, end);
    if trailing != bytes.len() {
        return Err(SyntaxError {
            offset: trailing,
            reason: "trailing characters",
        }
        .into());
    }
    if let Some(error) = shape_error {
        return Err(error);
    }
    if !seen_value {
        return Err(PageShapeError::NoValue);
    }
    Ok(page)
}

/// The records of the `value` array starting at `position`, with their properties.
fn records(bytes: &[u8], position: usize, page: &mut ScannedPage) -> Scan<usize> {
    array(bytes, position, 2, |item| {
        let first_object = page.objects.len();
        if bytes.get(item) != Some(&b'{') {
            let end = value_end(bytes, item, 2)?;
            page.records.push(ScannedRecord {
                text: item..end,
                properties: None,
                objects: first_object..first_object,
            });
            return Ok(end);
        }
        let first = page.properties.len();
        let mut first_child = page.children.len();
        let end = object_two_levels(bytes, item, 3, &mut |level, key, key_escaped, value| {
            // the page is below 4 GiB (checked at the start)
            let span = PropertySpan::new(key, key_escaped, value);
            match level {
                Level::Child => page.children.push(span),
                Level::Top => {
                    if page.children.len() > first_child {
                        page.objects.push(NestedObject {
                            property: (page.properties.len() - first) as u32,
                            children: first_child as u32..page.children.len() as u32,
                        });
                        first_child = page.children.len();
                    }
                    page.properties.push(span);
                }
            }
        })?;
        page.records.push(ScannedRecord {
            text: item..end,
            properties: Some(first..page.properties.len()),
            objects: first_object..page.objects.len(),
        });
        Ok(end)
    })
}

/// Which level of an object a property handed to a visitor is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A property of the object scanned.
    Top,
    /// A property of the object value of the next `Top` property (handed over before it).
    Child,
}

/// The object starting at `position` (a `{`), each property handed to `visit` at `Level::Top`
/// once its value is scanned; when that value is an object, its own properties are handed over
/// first, at `Level::Child`. Ranges: the key's between its quotes, the value's.
#[inline(always)]
fn object_two_levels(
    bytes: &[u8],
    position: usize,
    depth: usize,
    visit: &mut impl FnMut(Level, Range<usize>, bool, Range<usize>),
) -> Scan<usize> {
    object(bytes, position, depth, |key, key_escaped, value| {
        let end = if bytes.get(value) == Some(&b'{') {
            object(
                bytes,
                value,
                depth + 1,
                |child_key, child_escaped, child_value| {
                    let child_end = next_value_end(bytes, child_value, depth + 1)?;
                    visit(
                        Level::Child,
                        child_key,
                        child_escaped,
                        child_value..child_end,
                    );
                    Ok(child_end)
                },
            )?
        } else {
            next_value_end(bytes, value, depth)?
        };
        visit(Level::Top, key, key_escaped, value..end);
        Ok(end)
    })
}

/// `object_properties`, with the properties of object values too (`object_two_levels`).
/// Inlined into its caller with the visitor: left out of line (as the compiler chose for
/// `Record::parse` in some builds), the visitor's calls cost a sign-in's split 2,700
/// instructions of its 25,400.
#[inline(always)]
pub fn object_properties_two_levels(
    text: &str,
    mut visit: impl FnMut(Level, Range<usize>, bool, Range<usize>),
) -> Scan<bool> {
    whole_value(text, b'{', |bytes, start| {
        object_two_levels(bytes, start, 1, &mut visit)
    })
}

/// Validates `text` as one JSON value (whitespace around it allowed) and, when it is an object,
/// hands each top-level property to `visit` (the key's range between its quotes, whether it has
/// escapes, the value's range) and returns true; false for any other valid value.
pub fn object_properties(
    text: &str,
    mut visit: impl FnMut(Range<usize>, bool, Range<usize>),
) -> Scan<bool> {
    whole_value(text, b'{', |bytes, start| {
        object(bytes, start, 1, |key, key_escaped, value| {
            let end = next_value_end(bytes, value, 1)?;
            visit(key, key_escaped, value..end);
            Ok(end)
        })
    })
}

/// What `array_of_objects` hands its visitor, item after item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemVisit {
    /// A property of the object item being scanned, as `object_properties_two_levels` hands it.
    Property(Level, Range<usize>, bool, Range<usize>),
    /// The end of an object item (after its properties): its range.
    ObjectEnd(Range<usize>),
    /// An item that is not an object.
    Other,
}

/// Validates `text` as one JSON value and, when it is an array, hands `visit` the properties of
/// each item that is an object (two levels), and returns true; false for any other valid value.
pub fn array_of_objects(text: &str, mut visit: impl FnMut(ItemVisit)) -> Scan<bool> {
    whole_value(text, b'[', |bytes, start| {
        array(bytes, start, 1, |item| {
            if bytes.get(item) != Some(&b'{') {
                visit(ItemVisit::Other);
                return value_end(bytes, item, 1);
            }
            let end = object_two_levels(bytes, item, 2, &mut |level, key, key_escaped, value| {
                visit(ItemVisit::Property(level, key, key_escaped, value))
            })?;
            visit(ItemVisit::ObjectEnd(item..end));
            Ok(end)
        })
    })
}

/// Validates `text` as one JSON value and, when it is an array, hands each item's range to
/// `visit` and returns true; false for any other valid value.
pub fn array_items(text: &str, mut visit: impl FnMut(Range<usize>)) -> Scan<bool> {
    whole_value(text, b'[', |bytes, start| {
        array(bytes, start, 1, |item| {
            let end = next_value_end(bytes, item, 1)?;
            visit(item..end);
            Ok(end)
        })
    })
}

/// Validates `text` as one JSON value, whitespace around it allowed; when it opens with `open`,
/// `container` scans it (from that byte, returning where it ends). Whether it did.
#[inline(always)]
fn whole_value(
    text: &str,
    open: u8,
    container: impl FnOnce(&[u8], usize) -> Scan<usize>,
) -> Scan<bool> {
    let bytes = text.as_bytes();
    let start = skip_whitespace(bytes, 0);
    let is_container = bytes.get(start) == Some(&open);
    let end = if is_container {
        container(bytes, start)?
    } else {
        value_end(bytes, start, 0)?
    };
    let trailing = skip_whitespace(bytes, end);
    if trailing != bytes.len() {
        return fail(trailing, "trailing characters");
    }
    Ok(is_container)
}

/// Whether `text` is one valid JSON value.
pub fn is_valid(text: &str) -> bool {
    let bytes = text.as_bytes();
    let start = skip_whitespace(bytes, 0);
    value_end(bytes, start, 0).is_ok_and(|end| skip_whitespace(bytes, end) == bytes.len())
}

/// The position of the first byte at or after `position` that is not whitespace. Graph sends
/// pages without any, so the first byte nearly always decides.
#[inline(always)]
fn skip_whitespace(bytes: &[u8], position: usize) -> usize {
    match bytes.get(position) {
        Some(&byte) if byte > b' ' => position,
        _ => skip_whitespace_slow(bytes, position),
    }
}

fn skip_whitespace_slow(bytes: &[u8], mut position: usize) -> usize {
    while let Some(byte) = bytes.get(position) {
        if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        position += 1;
    }
    position
}

/// `value_end`, with strings (most values) scanned here, without a call.
#[inline(always)]
fn next_value_end(bytes: &[u8], position: usize, depth: usize) -> Scan<usize> {
    if bytes.get(position) == Some(&b'"') {
        string_end(bytes, position).map(|(end, _)| end)
    } else {
        value_end(bytes, position, depth)
    }
}

/// The position after the value starting at `position` (not whitespace), validated.
fn value_end(bytes: &[u8], position: usize, depth: usize) -> Scan<usize> {
    match bytes.get(position) {
        Some(b'"') => string_end(bytes, position).map(|(end, _)| end),
        Some(b'{' | b'[') if depth >= MAX_DEPTH => deep_value_end(bytes, position),
        Some(b'{') => object(bytes, position, depth + 1, |_, _, value| {
            next_value_end(bytes, value, depth + 1)
        }),
        Some(b'[') => array(bytes, position, depth + 1, |item| {
            next_value_end(bytes, item, depth + 1)
        }),
        Some(b't') => literal(bytes, position, b"true"),
        Some(b'f') => literal(bytes, position, b"false"),
        Some(b'n') => literal(bytes, position, b"null"),
        Some(b'-' | b'0'..=b'9') => number_end(bytes, position),
        None => fail(position, "EOF while parsing a value"),
        Some(_) => fail(position, "expected a value"),
    }
}

/// The position after a container nested deeper than the scan recurses, validated by
/// `serde_json`, which skips values without recursing. Graph never nests this deep, but a record
/// that does is read like the others, not refused with its whole page.
#[cold]
fn deep_value_end(bytes: &[u8], position: usize) -> Scan<usize> {
    let rest = bytes.get(position..).unwrap_or_default();
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => Ok(position + values.byte_offset()),
        Some(Err(error)) if error.is_eof() => fail(bytes.len(), "EOF while parsing a value"),
        Some(Err(_)) => fail(
            position,
            "invalid JSON in a value nested deeper than 127 levels",
        ),
        None => fail(position, "EOF while parsing a value"),
    }
}

/// The object starting at `position` (a `{`), its properties handed to `property`: the key's
/// range between its quotes, whether it has escapes, and where the value starts (not
/// whitespace). `property` validates the value and returns where it ends.
#[inline(always)]
fn object(
    bytes: &[u8],
    position: usize,
    depth: usize,
    mut property: impl FnMut(Range<usize>, bool, usize) -> Scan<usize>,
) -> Scan<usize> {
    if depth > MAX_DEPTH {
        return fail(position, "recursion limit exceeded");
    }
    let mut cursor = skip_whitespace(bytes, position + 1);
    if bytes.get(cursor) == Some(&b'}') {
        return Ok(cursor + 1);
    }
    loop {
        if bytes.get(cursor) != Some(&b'"') {
            return fail(cursor, "expected a property name");
        }
        let (key_end, escaped) = string_end(bytes, cursor)?;
        let colon = skip_whitespace(bytes, key_end);
        if bytes.get(colon) != Some(&b':') {
            return fail(colon, "expected ':'");
        }
        let value = skip_whitespace(bytes, colon + 1);
        let value_end = property(cursor + 1..key_end - 1, escaped, value)?;
        cursor = skip_whitespace(bytes, value_end);
        match bytes.get(cursor) {
            Some(b',') => cursor = skip_whitespace(bytes, cursor + 1),
            Some(b'}') => return Ok(cursor + 1),
            None => return fail(cursor, "EOF while parsing an object"),
            Some(_) => return fail(cursor, "expected ',' or '}'"),
        }
    }
}

/// The array starting at `position` (a `[`), each item's start (not whitespace) handed to
/// `item`, which validates it and returns where it ends.
#[inline(always)]
fn array(
    bytes: &[u8],
    position: usize,
    depth: usize,
    mut item: impl FnMut(usize) -> Scan<usize>,
) -> Scan<usize> {
    if depth > MAX_DEPTH {
        return fail(position, "recursion limit exceeded");
    }
    let mut cursor = skip_whitespace(bytes, position + 1);
    if bytes.get(cursor) == Some(&b']') {
        return Ok(cursor + 1);
    }
    loop {
        let item_end = item(cursor)?;
        cursor = skip_whitespace(bytes, item_end);
        match bytes.get(cursor) {
            Some(b',') => cursor = skip_whitespace(bytes, cursor + 1),
            Some(b']') => return Ok(cursor + 1),
            None => return fail(cursor, "EOF while parsing a list"),
            Some(_) => return fail(cursor, "expected ',' or ']'"),
        }
    }
}

fn literal(bytes: &[u8], position: usize, word: &'static [u8]) -> Scan<usize> {
    if bytes.get(position..position + word.len()) == Some(word) {
        Ok(position + word.len())
    } else {
        fail(position, "expected a value")
    }
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
fn number_end(bytes: &[u8], position: usize) -> Scan<usize> {
    let digits = |mut cursor: usize| {
        while matches!(bytes.get(cursor), Some(b'0'..=b'9')) {
            cursor += 1;
        }
        cursor
    };
    let mut cursor = position;
    if bytes.get(cursor) == Some(&b'-') {
        cursor += 1;
    }
    cursor = match bytes.get(cursor) {
        Some(b'0') => cursor + 1,
        Some(b'1'..=b'9') => digits(cursor + 1),
        _ => return fail(cursor, "invalid number"),
    };
    if bytes.get(cursor) == Some(&b'.') {
        if !matches!(bytes.get(cursor + 1), Some(b'0'..=b'9')) {
            return fail(cursor + 1, "invalid number");
        }
        cursor = digits(cursor + 1);
    }
    if matches!(bytes.get(cursor), Some(b'e' | b'E')) {
        cursor += 1;
        if matches!(bytes.get(cursor), Some(b'+' | b'-')) {
            cursor += 1;
        }
        if !matches!(bytes.get(cursor), Some(b'0'..=b'9')) {
            return fail(cursor, "invalid number");
        }
        cursor = digits(cursor);
    }
    Ok(cursor)
}

/// The position of the first `"`, `\` or control character at or after `cursor`.
#[inline(always)]
fn find_string_special(bytes: &[u8], mut cursor: usize) -> Option<usize> {
    // sixteen bytes at a time: most strings end within the first block or two
    let quotes = u8x16::splat(b'"');
    let backslashes = u8x16::splat(b'\\');
    let highest_control = u8x16::splat(0x1f);
    while let Some(chunk) = bytes.get(cursor..).and_then(<[u8]>::first_chunk::<16>) {
        let block = u8x16::new(*chunk);
        // a byte is a control character when max(byte, 0x1f) is 0x1f
        let special = block.cmp_eq(quotes)
            | block.cmp_eq(backslashes)
            | block.max(highest_control).cmp_eq(highest_control);
        let mask = special.move_mask();
        if mask != 0 {
            return Some(cursor + mask.trailing_zeros() as usize);
        }
        cursor += 16;
    }
    // the last few bytes of the text: eight, then one at a time
    if cursor + 8 <= bytes.len() {
        let word = word_at(bytes, cursor);
        let special = zero_bytes(word ^ splat(b'"'))
            | zero_bytes(word ^ splat(b'\\'))
            | bytes_below(word, 0x20);
        if special != 0 {
            return Some(cursor + (special.trailing_zeros() / 8) as usize);
        }
        cursor += 8;
    }
    bytes
        .get(cursor..)?
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
        .map(|offset| cursor + offset)
}

/// The position after the string starting at `position` (a `"`), and whether it has escapes.
#[inline(always)]
fn string_end(bytes: &[u8], position: usize) -> Scan<(usize, bool)> {
    let mut cursor = position + 1;
    let mut escaped = false;
    loop {
        let Some(special) = find_string_special(bytes, cursor) else {
            return fail(bytes.len(), "EOF while parsing a string");
        };
        match bytes[special] {
            b'"' => return Ok((special + 1, escaped)),
            b'\\' => {
                escaped = true;
                cursor = escape_end(bytes, special)?;
            }
            _ => return fail(special, "control character in a string"),
        }
    }
}

/// The position after the escape starting at `position` (a `\`).
#[cold]
fn escape_end(bytes: &[u8], position: usize) -> Scan<usize> {
    match bytes.get(position + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(position + 2),
        Some(b'u') => match bytes.get(position + 2..position + 6) {
            Some(digits) if digits.iter().all(u8::is_ascii_hexdigit) => Ok(position + 6),
            Some(_) => fail(position, "invalid escape"),
            None => fail(bytes.len(), "EOF while parsing a string"),
        },
        Some(_) => fail(position, "invalid escape"),
        None => fail(bytes.len(), "EOF while parsing a string"),
    }
}

#[cfg(test)]
mod tests;
