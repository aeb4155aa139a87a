use serde::de::IgnoredAny;

use super::*;

/// What serde_json says of `text`: the reference the scanner must agree with.
fn serde_accepts(text: &str) -> bool {
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

#[test]
fn accepts_and_refuses_what_serde_json_does() {
    let valid = [
        "{}",
        "[]",
        " \t\r\n{ \"a\" : [ 1 , -0 , 0.5 , -1.25e+10 , 2E-3 , 1e5 ] , \"b\" : { } } \n",
        r#"{"s":"\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00 \ud800"}"#,
        r#"{"k":true,"l":false,"m":null,"n":[[],[{}]]}"#,
        "\"just a string\"",
        "12",
        "null",
        r#"{"é ✓ 東京":"Zürich – ✓"}"#,
        r#"{"a":{"a":{"a":{"a":[1,2,{"b":"c"}]}}},"a":2}"#,
    ];
    for text in valid {
        assert!(serde_accepts(text), "serde_json accepts {text}");
        assert!(is_valid(text), "accepted: {text}");
    }
    let invalid = [
        "",
        " ",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,\"a\":1}",
        "{\"a\" 1}",
        "{a:1}",
        "{'a':1}",
        "[1,]",
        "[1 2]",
        "[01]",
        "[1.]",
        "[.5]",
        "[1e]",
        "[1e+]",
        "[-]",
        "[+1]",
        "[0x10]",
        "[NaN]",
        "[tru]",
        "[nul]",
        "[True]",
        "\"unterminated",
        "\"bad escape \\x\"",
        "\"short \\u12\"",
        "\"not hex \\u12g4\"",
        "\"tab\tinside\"",
        "\"newline\ninside\"",
        "{}}",
        "{} {}",
        "[1]]",
        "{\"a\":1}x",
    ];
    for text in invalid {
        assert!(!serde_accepts(text), "serde_json refuses {text:?}");
        assert!(!is_valid(text), "refused: {text:?}");
    }
}

/// Nesting of any depth is read, as serde_json reads it when it skips a value: past the depth
/// the scan recurses to, without recursion. Broken deep texts are refused.
#[test]
fn nesting_of_any_depth_is_read_as_serde_json_skips_it() {
    for depth in [1, 126, 127, 128, 129, 500, 20_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let unbalanced = format!("{}{}", "[".repeat(depth), "]".repeat(depth - 1));
        let broken_inside = format!("{}tru{}", "[".repeat(depth), "]".repeat(depth));
        for text in [arrays, objects, unbalanced, broken_inside] {
            assert_eq!(is_valid(&text), serde_accepts(&text), "depth {depth}");
        }
    }
    // a record nested 300 deep is still a record of its page
    let deep = format!(
        "{{\"id\":\"deep\",\"x\":{}\"end\"{}}}",
        "[".repeat(300),
        "]".repeat(300)
    );
    let text = page_text(&[&deep, r#"{"id":"next"}"#], None);
    let page = scan_page(&text).expect("a page");
    assert_eq!(page.records.len(), 2);
    assert_eq!(&text[page.records[0].text.clone()], deep);
    let range = page.records[0].properties.clone().expect("an object");
    assert_eq!(
        scanned_properties(&text, &page.properties[range]),
        serde_properties(&deep)
    );
}

/// A small deterministic generator of JSON texts and their broken variants.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn string(&mut self, out: &mut String) {
        const PIECES: &[&str] = &[
            "a",
            "id",
            "userPrincipalName",
            " ",
            "é",
            "東京",
            "\\\"",
            "\\\\",
            "\\n",
            "\\u00e9",
            "\\/",
            "0123456789abcdef",
            "{",
            "]",
            ":",
            ",",
        ];
        out.push('"');
        for _ in 0..self.below(6) {
            out.push_str(PIECES[self.below(PIECES.len())]);
        }
        out.push('"');
    }

    fn value(&mut self, out: &mut String, depth: usize) {
        let space = |generator: &mut Generator, out: &mut String| {
            if generator.below(8) == 0 {
                out.push_str([" ", "\n", "\t", "\r\n  "][generator.below(4)]);
            }
        };
        let choice = if depth > 4 {
            self.below(5)
        } else {
            self.below(7)
        };
        match choice {
            0 => self.string(out),
            1 => out.push_str(
                ["0", "-1", "42", "3.25", "-0.5e-3", "1E+9", "123456789012"][self.below(7)],
            ),
            2 => out.push_str(["true", "false"][self.below(2)]),
            3 => out.push_str("null"),
            4 => self.string(out),
            5 => {
                out.push('[');
                for index in 0..self.below(4) {
                    if index > 0 {
                        out.push(',');
                    }
                    space(self, out);
                    self.value(out, depth + 1);
                    space(self, out);
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                for index in 0..self.below(5) {
                    if index > 0 {
                        out.push(',');
                    }
                    space(self, out);
                    self.string(out);
                    space(self, out);
                    out.push(':');
                    space(self, out);
                    self.value(out, depth + 1);
                }
                out.push('}');
            }
        }
    }

    /// `text` with one byte inserted, removed or replaced by a JSON-significant one.
    fn break_text(&mut self, text: &str) -> String {
        const BYTES: &[u8] = b"{}[]\",:\\ 0-.eE+tfnu\n\x01\x1f";
        let mut bytes = text.as_bytes().to_vec();
        let place = self.below(bytes.len() + 1);
        match self.below(3) {
            0 => bytes.insert(place, BYTES[self.below(BYTES.len())]),
            1 if place < bytes.len() => {
                bytes.remove(place);
            }
            _ if place < bytes.len() => bytes[place] = BYTES[self.below(BYTES.len())],
            _ => bytes.push(b'}'),
        }
        // keep it a &str: a byte change may cut a character in two
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Generated JSON and one-byte breakages of it: the scanner says "valid" exactly when
/// serde_json does.
#[test]
fn agrees_with_serde_json_on_generated_and_broken_texts() {
    let mut generator = Generator(0x5eed);
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..20_000 {
        let mut text = String::new();
        generator.value(&mut text, 0);
        assert!(serde_accepts(&text), "the generator writes JSON: {text}");
        assert!(is_valid(&text), "{text}");
        for _ in 0..4 {
            let broken = generator.break_text(&text);
            let expected = serde_accepts(&broken);
            assert_eq!(is_valid(&broken), expected, "{broken:?}");
            if expected {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
    }
    assert!(
        valid > 5_000 && invalid > 30_000,
        "{valid} valid, {invalid} invalid"
    );
}

/// Strings of every length around the 16- and 8-byte steps, with a special byte at every place.
#[test]
fn strings_are_scanned_exactly_at_every_length_and_place() {
    for length in 0..48 {
        for place in 0..=length {
            for special in ["\\\"", "\\u0041", "\"", "\u{1}", "é"] {
                let mut content: String = "a".repeat(length);
                if place < length {
                    content.insert_str(place, special);
                }
                let text = format!("[\"{content}\"]");
                assert_eq!(is_valid(&text), serde_accepts(&text), "{text:?}");
                // the same string last in the text, where fewer than 16 bytes follow it
                let last = format!("\"{content}\"");
                assert_eq!(is_valid(&last), serde_accepts(&last), "{last:?}");
            }
        }
    }
}

fn page_text(records: &[&str], next_link: Option<&str>) -> String {
    let mut text = String::from("{\"@odata.context\":\"https://graph/$metadata\",\"value\":[");
    text.push_str(&records.join(","));
    text.push(']');
    if let Some(link) = next_link {
        text.push_str(",\"@odata.nextLink\":");
        text.push_str(link);
    }
    text.push('}');
    text
}

/// Each record's properties as serde_json sees them: decoded keys and raw values.
fn serde_properties(record: &str) -> Vec<(String, String)> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<(String, String)>;
        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut properties = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let value: &serde_json::value::RawValue = map.next_value()?;
                properties.push((key, value.get().to_owned()));
            }
            Ok(properties)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(record);
    serde::Deserializer::deserialize_map(&mut deserializer, Visitor).expect("an object")
}

fn scanned_properties(text: &str, spans: &[PropertySpan]) -> Vec<(String, String)> {
    spans
        .iter()
        .map(|span| {
            let key = &text[span.key()];
            let key = if span.key_escaped {
                serde_json::from_str::<String>(&format!("\"{key}\"")).expect("a key")
            } else {
                key.to_owned()
            };
            (key, text[span.value()].to_owned())
        })
        .collect()
}

/// The properties of each object value (not `{}`) among a record's properties, as serde_json
/// sees them, with the place of the property among its record's.
fn serde_nested(record: &str) -> Vec<(usize, Vec<(String, String)>)> {
    serde_properties(record)
        .iter()
        .enumerate()
        .filter(|(_, (_, value))| value.starts_with('{'))
        .map(|(position, (_, value))| (position, serde_properties(value)))
        .filter(|(_, properties)| !properties.is_empty())
        .collect()
}

fn scanned_nested(
    text: &str,
    objects: &[NestedObject],
    children: &[PropertySpan],
) -> Vec<(usize, Vec<(String, String)>)> {
    objects
        .iter()
        .map(|object| {
            let range = object.children.start as usize..object.children.end as usize;
            (
                object.property as usize,
                scanned_properties(text, &children[range]),
            )
        })
        .collect()
}

#[test]
fn a_page_gives_its_records_their_properties_and_its_next_link() {
    let records = [
        r#"{"id":"a","createdDateTime":"2026-01-05T10:00:00Z","status":{"errorCode":0},"list":[1,{"x":"}"}]}"#,
        r#" { "id" : "b\u00e9" , "riskState" : "x" , "riskState" : "none", "esc\u0061ped":null, "n":-1.5e3 } "#,
        "null",
        "{}",
        r#""a string""#,
    ];
    let text = page_text(
        &records,
        Some(r#""https:\/\/graph\/next?$skiptoken=a\u0026b""#),
    );
    let page = scan_page(&text).expect("a page");
    assert_eq!(page.records.len(), 5);
    for (record, expected) in page.records.iter().zip(records) {
        assert_eq!(&text[record.text.clone()], expected.trim());
        match &record.properties {
            Some(range) => assert_eq!(
                scanned_properties(&text, &page.properties[range.clone()]),
                serde_properties(expected)
            ),
            None => assert!(!expected.trim().starts_with('{'), "{expected}"),
        }
    }
    assert_eq!(
        page.records[1].properties.as_ref().map(|range| range.len()),
        Some(5),
        "a repeated key is kept twice; the record decides which wins"
    );
    let link = page.next_link.clone().expect("a next link");
    assert_eq!(
        serde_json::from_str::<String>(&text[link]).expect("a string"),
        "https://graph/next?$skiptoken=a&b"
    );
    let last_page = scan_page(&page_text(&records[..1], None)).expect("a page");
    assert_eq!(last_page.next_link, None);
    let null_link = scan_page(&page_text(&records[..1], Some("null"))).expect("a page");
    assert_eq!(null_link.next_link, None);
    let empty = scan_page(&page_text(&[], None)).expect("an empty page");
    assert!(empty.records.is_empty());
}

#[test]
fn generated_records_split_as_serde_json_splits_them() {
    let mut generator = Generator(77);
    let mut nested_objects = 0;
    for _ in 0..2_000 {
        let mut records = Vec::new();
        for _ in 0..generator.below(5) {
            let mut record = String::from("{");
            for index in 0..generator.below(8) {
                if index > 0 {
                    record.push(',');
                }
                generator.string(&mut record);
                record.push(':');
                generator.value(&mut record, 1);
            }
            record.push('}');
            records.push(record);
        }
        let borrowed: Vec<&str> = records.iter().map(String::as_str).collect();
        let text = page_text(&borrowed, None);
        let page = scan_page(&text).expect("a page");
        assert_eq!(page.records.len(), records.len());
        nested_objects += page.objects.len();
        for (record, expected) in page.records.iter().zip(&records) {
            let range = record.properties.clone().expect("an object");
            assert_eq!(
                scanned_properties(&text, &page.properties[range]),
                serde_properties(expected),
                "{expected}"
            );
            assert_eq!(
                scanned_nested(&text, &page.objects[record.objects.clone()], &page.children),
                serde_nested(expected),
                "{expected}"
            );
        }
        for expected in &records {
            let mut spans = Vec::new();
            let visited = object_properties(expected, |key, key_escaped, value| {
                spans.push(PropertySpan::new(key, key_escaped, value))
            });
            assert_eq!(visited, Ok(true));
            assert_eq!(
                scanned_properties(expected, &spans),
                serde_properties(expected)
            );
            // two levels: the same properties, and those of the object values handed over
            // before their property
            let (mut top, mut objects, mut children) = (Vec::new(), Vec::new(), Vec::new());
            let visited =
                object_properties_two_levels(expected, |level, key, key_escaped, value| {
                    let span = PropertySpan::new(key, key_escaped, value);
                    match level {
                        Level::Child => children.push(span),
                        Level::Top => {
                            let first = objects
                                .last()
                                .map_or(0, |object: &NestedObject| object.children.end);
                            if children.len() as u32 > first {
                                objects.push(NestedObject {
                                    property: top.len() as u32,
                                    children: first..children.len() as u32,
                                });
                            }
                            top.push(span);
                        }
                    }
                });
            assert_eq!(visited, Ok(true));
            assert_eq!(
                scanned_properties(expected, &top),
                serde_properties(expected)
            );
            assert_eq!(
                scanned_nested(expected, &objects, &children),
                serde_nested(expected),
                "{expected}"
            );
        }
    }
    assert!(
        nested_objects > 500,
        "{nested_objects} object values: too few to test"
    );
}

/// A body cut anywhere (a connection dropped mid-page) is never taken for a shorter page.
#[test]
fn a_page_cut_at_any_byte_is_refused() {
    let records = [
        r#"{"id":"a","n":12345,"ok":true,"deep":{"list":["x\"y",null,-0.5]}}"#,
        r#"{"id":"b","s":"東京"}"#,
    ];
    let text = page_text(&records, Some("\"https://graph/next\""));
    assert!(scan_page(&text).is_ok());
    for cut in 0..text.len() {
        if let Some(prefix) = text.get(..cut) {
            assert!(scan_page(prefix).is_err(), "cut at {cut}: {prefix}");
        }
    }
}

#[test]
fn pages_of_the_wrong_shape_are_named() {
    let shape = |text: &str| scan_page(text).err().map(|error| error.to_string());
    assert_eq!(
        shape(r#"{"error":{"code":"x"}}"#).as_deref(),
        Some("the page has no `value` array")
    );
    assert_eq!(
        shape(r#"{"value":null}"#).as_deref(),
        Some("the page has no `value` array")
    );
    assert_eq!(
        shape(r#"{"value":{"id":"a"}}"#).as_deref(),
        Some("`value` is not an array")
    );
    assert_eq!(
        shape(r#"{"value":[],"value":[]}"#).as_deref(),
        Some("the page has more than one `value`")
    );
    assert_eq!(
        shape(r#"{"value":[],"@odata.nextLink":7}"#).as_deref(),
        Some("`@odata.nextLink` is not a string")
    );
    assert_eq!(
        shape("[]").as_deref(),
        Some("the page is not a JSON object")
    );
    assert_eq!(
        shape(r#"{"value":[{"id":"a"}"#).as_deref(),
        Some("EOF while parsing a list at byte 20")
    );
    assert_eq!(
        shape(r#"{"value":[{"id":"a\u12"}]}"#).as_deref(),
        Some("invalid escape at byte 18")
    );
    assert_eq!(
        shape("{\"value\":[]} trailing").as_deref(),
        Some("trailing characters at byte 13")
    );
}
