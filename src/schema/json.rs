//! A small JSON writer for mapped events: fields are written straight into the output buffer, empty
//! objects are rolled back, raw Graph values are copied verbatim. No tree is built.

use serde_json::value::RawValue;

use wide::u8x16;

use crate::schema::values::{FloatText, GraphText};
use crate::swar::{bytes_below, splat, word_at, zero_bytes};

/// Writes one JSON object's fields.
pub struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    fields: usize,
}

/// Writes one JSON array's items.
pub struct ArrayWriter<'a> {
    out: &'a mut Vec<u8>,
    items: usize,
}

/// Whether `value` needs escapes inside a JSON string: a `"`, a `\\` or a control character.
/// Sixteen bytes at a time, the last block overlapping the one before it; strings shorter than
/// sixteen bytes as two overlapping words, or byte by byte below eight. The strings written are
/// mostly ids and names of a few dozen bytes.
#[inline]
pub(crate) fn needs_escaping(value: &str) -> bool {
    let bytes = value.as_bytes();
    let length = bytes.len();
    if length >= 16 {
        let quotes = u8x16::splat(b'"');
        let backslashes = u8x16::splat(b'\\');
        let highest_control = u8x16::splat(0x1f);
        let flagged = |block: &[u8; 16]| {
            let block = u8x16::new(*block);
            (block.cmp_eq(quotes)
                | block.cmp_eq(backslashes)
                | block.max(highest_control).cmp_eq(highest_control))
            .move_mask()
                != 0
        };
        let (blocks, _) = bytes.as_chunks::<16>();
        let last = bytes[length - 16..].first_chunk::<16>();
        return blocks.iter().any(flagged) || last.is_some_and(flagged);
    }
    // only whether a byte is marked matters, so the marks above a true hit do no harm
    let flagged = |word: u64| {
        bytes_below(word, 0x20) | zero_bytes(word ^ splat(b'"')) | zero_bytes(word ^ splat(b'\\'))
    };
    if length >= 8 {
        return flagged(word_at(bytes, 0)) | flagged(word_at(bytes, length - 8)) != 0;
    }
    bytes
        .iter()
        .any(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
}

/// Writes `value` as a JSON string, escaped when it has to be.
pub fn write_string(out: &mut Vec<u8>, value: &str) {
    if needs_escaping(value) {
        // writing a &str into a Vec cannot fail
        let _ = serde_json::to_writer(&mut *out, value);
    } else {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

/// Writes the string made of `parts` one after the other, without building it first (unless it
/// needs escapes).
pub fn write_string_parts(out: &mut Vec<u8>, parts: &[&str]) {
    if parts.iter().any(|part| needs_escaping(part)) {
        write_string(out, &parts.concat());
    } else {
        out.push(b'"');
        for part in parts {
            out.extend_from_slice(part.as_bytes());
        }
        out.push(b'"');
    }
}

/// Writes an integer.
pub fn write_int(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

impl<'a> ObjectWriter<'a> {
    /// Writes a whole object into `out`.
    pub fn write(out: &'a mut Vec<u8>, body: impl FnOnce(&mut ObjectWriter)) {
        out.push(b'{');
        let mut writer = ObjectWriter { out, fields: 0 };
        body(&mut writer);
        writer.out.push(b'}');
    }

    pub fn fields(&self) -> usize {
        self.fields
    }

    /// A key chosen by a mapper: an identifier, written without an escape check.
    #[inline]
    fn key(&mut self, key: &str) {
        // one capacity check for the separator, the quotes and the colon
        self.out.reserve(key.len() + 4);
        if self.fields > 0 {
            self.out.push(b',');
        }
        self.fields += 1;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A key that came with the data (a Graph property name), escaped when it has to be.
    fn foreign_key(&mut self, key: &str) {
        if self.fields > 0 {
            self.out.push(b',');
        }
        self.fields += 1;
        write_string(self.out, key);
        self.out.push(b':');
    }

    /// Writes fields the body produces as JSON text: one or more `"key":value` pairs separated by
    /// commas, for the constant parts of an event, written at once instead of field by field.
    pub fn fields_with(&mut self, body: impl FnOnce(&mut Vec<u8>)) {
        if self.fields > 0 {
            self.out.push(b',');
        }
        self.fields += 1;
        body(self.out);
    }

    /// Writes fields that are ours and constant (`"type_id":1,"type":"User"`) as one piece of
    /// text: one copy instead of a key, a value and an escape check for each.
    pub fn constant(&mut self, fields: &'static str) {
        debug_assert!(
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&format!(
                "{{{fields}}}"
            ))
            .is_ok(),
            "not JSON fields: {fields}"
        );
        self.fields_with(|out| out.extend_from_slice(fields.as_bytes()));
    }

    pub fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        write_string(self.out, value);
    }

    /// Writes the string unless it is absent or empty (Graph sends "" for unknown values).
    pub fn text(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value.filter(|value| !value.is_empty()) {
            self.string(key, value);
        }
    }

    pub fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        write_int(self.out, value);
    }

    /// An integer as a JSON string (`"50126"`), for string-typed codes.
    pub fn int_string(&mut self, key: &str, value: i64) {
        self.key(key);
        self.out.push(b'"');
        write_int(self.out, value);
        self.out.push(b'"');
    }

    /// A string made of `parts` one after the other (a message, a compound id), written without
    /// building it first.
    pub fn string_parts(&mut self, key: &str, parts: &[&str]) {
        self.key(key);
        write_string_parts(self.out, parts);
    }

    pub fn opt_int(&mut self, key: &str, value: Option<i64>) {
        if let Some(value) = value {
            self.int(key, value);
        }
    }

    pub fn float(&mut self, key: &str, value: f64) {
        if value.is_finite() {
            self.key(key);
            let _ = serde_json::to_writer(&mut *self.out, &value);
        }
    }

    /// A Graph string (see `values::graph_text`), unless absent.
    #[inline]
    pub fn graph_text(&mut self, key: &str, value: Option<GraphText>) {
        match value {
            Some(GraphText::Verbatim(raw)) => self.raw_text(key, raw),
            Some(GraphText::Decoded(text)) => self.string(key, &text),
            None => {}
        }
    }

    /// A number Graph sent, as `float` writes its value (see `values::float_text`).
    pub fn float_text(&mut self, key: &str, value: FloatText) {
        match value {
            FloatText::Verbatim(text) => self.raw_text(key, text),
            FloatText::Parsed(value) => self.float(key, value),
        }
    }

    pub fn boolean(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    pub fn opt_boolean(&mut self, key: &str, value: Option<bool>) {
        if let Some(value) = value {
            self.boolean(key, value);
        }
    }

    /// Writes a value produced by `serde_json` (a decoded string, ...).
    pub fn raw(&mut self, key: &str, value: &RawValue) {
        self.raw_text(key, value.get());
    }

    /// Copies a Graph property, name and raw JSON value, as it came.
    pub fn raw_property(&mut self, name: &str, value: &str) {
        self.foreign_key(name);
        self.out.extend_from_slice(value.as_bytes());
    }

    /// Copies a Graph property as it was read (`Record::distinct_keyed`): a `verbatim` key came
    /// without escapes from the validated record and is written back as it is; another is
    /// escaped again.
    pub fn raw_keyed_property(&mut self, key: &str, verbatim: bool, value: &str) {
        if verbatim {
            self.raw_text(key, value);
        } else {
            self.raw_property(key, value);
        }
    }

    /// Copies JSON text that is already known to be valid (a record split from its page).
    pub fn raw_text(&mut self, key: &str, json: &str) {
        self.key(key);
        self.out.extend_from_slice(json.as_bytes());
    }

    /// Writes a value the body produces as JSON text (it must write exactly one valid value).
    pub fn value_with(&mut self, key: &str, body: impl FnOnce(&mut Vec<u8>)) {
        self.key(key);
        body(self.out);
    }

    /// Writes a nested object; nothing at all when the body wrote no field.
    pub fn object(&mut self, key: &str, body: impl FnOnce(&mut ObjectWriter)) {
        let rollback = self.out.len();
        self.key(key);
        self.out.push(b'{');
        let mut nested = ObjectWriter {
            out: self.out,
            fields: 0,
        };
        body(&mut nested);
        let written = nested.fields;
        if written == 0 {
            self.out.truncate(rollback);
            self.fields -= 1;
        } else {
            self.out.push(b'}');
        }
    }

    /// Writes an array; nothing at all when the body wrote no item.
    pub fn array(&mut self, key: &str, body: impl FnOnce(&mut ArrayWriter)) {
        let rollback = self.out.len();
        self.key(key);
        self.out.push(b'[');
        let mut nested = ArrayWriter {
            out: self.out,
            items: 0,
        };
        body(&mut nested);
        if nested.items == 0 {
            self.out.truncate(rollback);
            self.fields -= 1;
        } else {
            self.out.push(b']');
        }
    }

    pub fn strings<'s>(&mut self, key: &str, values: impl IntoIterator<Item = &'s str>) {
        self.array(key, |array| {
            for value in values {
                array.string(value);
            }
        });
    }
}

impl ArrayWriter<'_> {
    fn separator(&mut self) {
        if self.items > 0 {
            self.out.push(b',');
        }
        self.items += 1;
    }

    pub fn string(&mut self, value: &str) {
        self.separator();
        write_string(self.out, value);
    }

    /// Copies a raw JSON value (from a validated record).
    pub fn raw_text(&mut self, value: &str) {
        self.separator();
        self.out.extend_from_slice(value.as_bytes());
    }

    /// Writes an object item; nothing when the body wrote no field.
    pub fn object(&mut self, body: impl FnOnce(&mut ObjectWriter)) {
        let rollback = self.out.len();
        self.separator();
        self.out.push(b'{');
        let mut nested = ObjectWriter {
            out: self.out,
            fields: 0,
        };
        body(&mut nested);
        if nested.fields == 0 {
            self.out.truncate(rollback);
            self.items -= 1;
        } else {
            self.out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block and word checks agree with a byte-by-byte one for every byte value at every
    /// place of strings up to 40 bytes long.
    #[test]
    fn escaping_is_detected_at_every_place_for_every_byte() {
        let naive = |text: &str| {
            text.bytes()
                .any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\')
        };
        for length in 0..=40usize {
            for place in 0..length.max(1) {
                for byte in 0u8..0x80 {
                    let mut bytes = vec![b'x'; length];
                    if length > 0 {
                        bytes[place] = byte;
                    }
                    let text = String::from_utf8(bytes).expect("ascii");
                    assert_eq!(needs_escaping(&text), naive(&text), "{text:?}");
                }
            }
        }
        assert!(!needs_escaping("Zürich – 東京 ✓"));
        assert!(needs_escaping("Zürich\n"));
    }

    #[test]
    fn empty_objects_and_arrays_are_left_out() {
        let mut out = Vec::new();
        ObjectWriter::write(&mut out, |object| {
            object.string("a", "x\"y");
            object.object("empty", |_| {});
            object.object("nested", |nested| {
                nested.int("n", -5);
                nested.text("blank", Some(""));
                nested.boolean("b", true);
            });
            object.array("none", |_| {});
            object.strings("list", ["p", "q"]);
            object.float("nan", f64::NAN);
            object.float("f", 1.5);
            object.int("min", i64::MIN);
            object.int_string("code", 50126);
            object.string_parts("parts", &["a", ": ", "b"]);
            object.string_parts("escaped", &["say \"", "hi", "\"\n"]);
            object.string_parts("none", &[]);
        });
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            r#"{"a":"x\"y","nested":{"n":-5,"b":true},"list":["p","q"],"f":1.5,"min":-9223372036854775808,"code":"50126","parts":"a: b","escaped":"say \"hi\"\n","none":""}"#
        );
    }
}
