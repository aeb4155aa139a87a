//! Graph pages and records, read without building a JSON tree.
//!
//! A page is validated and split in one pass (`graph::scan`): its records, and each record's
//! top-level properties as raw text slices (and the properties of its object values, which
//! mappers read without scanning them again). Values are parsed only when a mapper reads them.
//! Reading is tolerant: unknown properties are kept, `null` where an object was expected is
//! accepted, and a repeated key does not fail the record (the last one wins, as in JavaScript and
//! `serde_json::Value`).

use std::borrow::Cow;
use std::fmt;

use super::keys::{KeyTable, Keyed};
use super::scan::{
    ItemVisit, Level, NestedObject, PropertySpan, ScannedRecord, array_of_objects,
    object_properties_two_levels, scan_page,
};
use super::split::Property;
use crate::clock::Timestamp;
use crate::swar::word_at;

/// A page body and where its records and their properties lie in it.
pub struct PageBody {
    /// The body, checked to be UTF-8 once.
    text: String,
    records: Vec<ScannedRecord>,
    properties: Vec<PropertySpan>,
    objects: Vec<NestedObject>,
    children: Vec<PropertySpan>,
    next_link: Option<String>,
}

/// Why a page body cannot be used; the page is fetched again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedPage(pub String);

impl fmt::Display for MalformedPage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "malformed page: {}", self.0)
    }
}

impl PageBody {
    /// Validates a page and splits it into records and their properties; a truncated or
    /// malformed body is an error (retried).
    pub fn parse(bytes: bytes::Bytes) -> Result<PageBody, MalformedPage> {
        // a body received whole is not shared, so it becomes a String without a copy
        let text = String::from_utf8(Vec::from(bytes))
            .map_err(|error| MalformedPage(format!("not UTF-8: {}", error.utf8_error())))?;
        let scanned = scan_page(&text).map_err(|error| MalformedPage(error.to_string()))?;
        let next_link = match &scanned.next_link {
            None => None,
            Some(range) => {
                let raw = text.get(range.clone()).unwrap_or_default();
                Some(match raw_str(raw) {
                    Some(link) => link.into_owned(),
                    None => {
                        return Err(MalformedPage(
                            "`@odata.nextLink` has an escape that is not a character".to_owned(),
                        ));
                    }
                })
            }
        };
        Ok(PageBody {
            records: scanned.records,
            properties: scanned.properties,
            objects: scanned.objects,
            children: scanned.children,
            next_link,
            text,
        })
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn next_link(&self) -> Option<&str> {
        self.next_link.as_deref()
    }

    pub fn body_len(&self) -> usize {
        self.text.len()
    }

    fn text(&self) -> &str {
        &self.text
    }

    /// The raw JSON text of each record, in page order.
    pub fn record_texts(&self) -> impl Iterator<Item = &str> {
        let text = self.text();
        self.records
            .iter()
            .map(move |record| text.get(record.text.clone()).unwrap_or_default())
    }

    /// Each record's text and the record with its properties, in page order: the scan that
    /// validated the page found them, so nothing is read a second time.
    pub fn records(&self) -> impl Iterator<Item = (&str, Result<Record<'_>, RecordError>)> {
        let text = self.text();
        self.records.iter().map(move |record| {
            let record_text = text.get(record.text.clone()).unwrap_or_default();
            let parsed = match &record.properties {
                Some(range) => Record::from_spans(
                    text,
                    record_text,
                    self.properties.get(range.clone()).unwrap_or_default(),
                    self.objects.get(record.objects.clone()).unwrap_or_default(),
                    &self.children,
                ),
                None => Err(RecordError::NotAnObject(json_kind(record_text).to_owned())),
            };
            (record_text, parsed)
        })
    }
}

/// What a JSON value that is not an object is, for a dead letter's reason.
fn json_kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'n') => "it is null",
        Some(b'"') => "it is a string",
        Some(b'[') => "it is an array",
        Some(b't' | b'f') => "it is a boolean",
        _ => "it is a number",
    }
}

/// A record split into its top-level properties, values still raw JSON text.
pub struct Record<'a> {
    /// The record as received.
    pub text: &'a str,
    /// Each property's name (borrowed unless it had escapes) and raw value, in record order.
    fields: Vec<Property<'a>>,
    /// An open-addressing table (at most half full): slot → 1 + the position of a key's last
    /// occurrence, 0 for an empty slot; empty for small objects, which are searched directly.
    index: Vec<u16>,
    /// Each property name's `key_hash`, when the index was built (a key table's search uses
    /// them again: `graph::keys`).
    hashes: Vec<u64>,
    has_repeats: bool,
    /// The properties of the object values among `fields` (found by the scan that split the
    /// record), object after object, and which property each object is.
    nested: Vec<Property<'a>>,
    objects: Vec<NestedObject>,
}

/// A record's buffers, used again by the next record of the thread: the property list, the
/// index, and the properties of the object values with which of them each object is. Records are
/// split by the thousand per page, and allocating these for each one cost more than the split
/// itself.
struct Buffers<'a> {
    fields: Vec<Property<'a>>,
    index: Vec<u16>,
    hashes: Vec<u64>,
    nested: Vec<Property<'a>>,
    objects: Vec<NestedObject>,
}

/// Idle buffers, without a lifetime: emptied vectors change their element's lifetime in place.
type IdleBuffers = (
    Vec<Property<'static>>,
    (Vec<u16>, Vec<u64>),
    Vec<Property<'static>>,
    Vec<NestedObject>,
);

thread_local! {
    static IDLE: std::cell::RefCell<Vec<IdleBuffers>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// How many idle buffer pairs a thread keeps (records nest a few objects deep), and the largest
/// property list kept (a pathological record's buffer is let go).
const IDLE_KEPT: usize = 16;
const IDLE_CAPACITY: usize = 1024;

/// An empty vector of `From` as an empty vector of `To`: same layout, so the allocation is kept
/// (the standard library collects a mapped `IntoIter` in place); the closure never runs.
fn relabel<From, To>(mut vector: Vec<From>, convert: impl FnMut(From) -> To) -> Vec<To> {
    vector.clear();
    vector.into_iter().map(convert).collect()
}

fn idle_property((key, _): Property<'_>) -> Property<'static> {
    (Cow::Owned(key.into_owned()), "")
}

impl<'a> Buffers<'a> {
    fn take() -> Buffers<'a> {
        let idle = IDLE.try_with(|idle| idle.borrow_mut().pop()).ok().flatten();
        match idle {
            Some((fields, (index, hashes), nested, objects)) => Buffers {
                fields: relabel(fields, live_property),
                index,
                hashes,
                nested: relabel(nested, live_property),
                objects,
            },
            None => Buffers {
                fields: Vec::with_capacity(128),
                index: Vec::new(),
                hashes: Vec::new(),
                nested: Vec::with_capacity(32),
                objects: Vec::with_capacity(8),
            },
        }
    }

    /// Remembers the object value of the property about to be pushed: its properties are those of
    /// `nested` from `first_child` on, unless one of their keys could not be decoded.
    fn note_object(&mut self, first_child: usize, undecodable: bool) {
        if undecodable {
            self.nested.truncate(first_child);
            return;
        }
        if self.nested.len() == first_child {
            return;
        }
        match (
            u32::try_from(self.fields.len()),
            u32::try_from(first_child),
            u32::try_from(self.nested.len()),
        ) {
            (Ok(property), Ok(start), Ok(end)) => self.objects.push(NestedObject {
                property,
                children: start..end,
            }),
            // beyond what a record can hold: the object is split when it is read
            _ => self.nested.truncate(first_child),
        }
    }

    fn give_back(self) {
        give_back(self);
    }
}

/// A property a scan of `text` found (its level, its key's and its value's ranges), pushed
/// into `buffers`; `undecodable` keeps the first key that could not be decoded (the record
/// cannot be read). `first_child` is where the properties of the object value being scanned
/// start in `nested`; a key of theirs that cannot be decoded (`child_undecodable`) drops them
/// (the object is split again when it is read, as an object without them is).
#[inline(always)]
fn visit_property<'a>(
    text: &'a str,
    buffers: &mut Buffers<'a>,
    undecodable: &mut Option<RecordError>,
    (first_child, child_undecodable): (&mut usize, &mut bool),
    (level, key, key_escaped, value): (Level, std::ops::Range<usize>, bool, std::ops::Range<usize>),
) {
    let property = property(text, key, key_escaped, value);
    if level == Level::Child {
        match property {
            Ok(property) => buffers.nested.push(property),
            Err(_) => *child_undecodable = true,
        }
        return;
    }
    match property {
        Ok(property) => {
            buffers.note_object(*first_child, *child_undecodable);
            buffers.fields.push(property);
        }
        Err(error) => {
            undecodable.get_or_insert(error);
            buffers.nested.truncate(*first_child);
        }
    }
    *first_child = buffers.nested.len();
    *child_undecodable = false;
}

/// An object item of an array being split (`Record::objects_of_array`): the state
/// `visit_property` keeps.
struct Builder<'a> {
    text: &'a str,
    buffers: Buffers<'a>,
    undecodable: Option<RecordError>,
    first_child: usize,
    child_undecodable: bool,
}

impl<'a> Builder<'a> {
    fn new(text: &'a str) -> Builder<'a> {
        Builder {
            text,
            buffers: Buffers::take(),
            undecodable: None,
            first_child: 0,
            child_undecodable: false,
        }
    }

    /// A property the scan found, its key's and its value's ranges in `text`.
    fn visit(
        &mut self,
        level: Level,
        key: std::ops::Range<usize>,
        key_escaped: bool,
        value: std::ops::Range<usize>,
    ) {
        visit_property(
            self.text,
            &mut self.buffers,
            &mut self.undecodable,
            (&mut self.first_child, &mut self.child_undecodable),
            (level, key, key_escaped, value),
        );
    }

    /// The record whose text is `record_text`, once the scan is done.
    fn finish(self, record_text: &'a str) -> Result<Record<'a>, RecordError> {
        match self.undecodable {
            None => Ok(Record::from_fields(record_text, self.buffers)),
            Some(error) => {
                self.buffers.give_back();
                Err(error)
            }
        }
    }
}

fn live_property<'a>((key, _): Property<'static>) -> Property<'a> {
    (key, "")
}

fn give_back(buffers: Buffers<'_>) {
    let Buffers {
        fields,
        mut index,
        mut hashes,
        nested,
        mut objects,
    } = buffers;
    if fields.capacity() > IDLE_CAPACITY || nested.capacity() > IDLE_CAPACITY {
        return;
    }
    index.clear();
    hashes.clear();
    objects.clear();
    let fields = relabel(fields, idle_property);
    let nested = relabel(nested, idle_property);
    let _ = IDLE.try_with(|idle| {
        let mut idle = idle.borrow_mut();
        if idle.len() < IDLE_KEPT {
            idle.push((fields, (index, hashes), nested, objects));
        }
    });
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        give_back(Buffers {
            fields: std::mem::take(&mut self.fields),
            index: std::mem::take(&mut self.index),
            hashes: std::mem::take(&mut self.hashes),
            nested: std::mem::take(&mut self.nested),
            objects: std::mem::take(&mut self.objects),
        });
    }
}

/// Objects with more properties than this get a hash index (records); smaller ones (nested
/// objects) are searched directly, which is faster than building an index.
const INDEX_FROM: usize = 16;

/// The first slot of `key` in a table of `size` (a power of two) slots: the hash's high bits,
/// which are its best mixed.
fn slot_of(key: &str, size: usize) -> usize {
    let bits = size.trailing_zeros();
    if bits == 0 {
        0
    } else {
        (key_hash(key.as_bytes()) >> (64 - bits)) as usize
    }
}

/// A property name's hash: its length and its first and last eight bytes (where Graph's names
/// differ), mixed by one multiplication; the high bits are used. Cheaper than a general hash
/// over the whole name, and the index is looked up a few hundred times per record.
#[inline]
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    let length = key.len();
    let (head, tail) = if length >= 8 {
        (word_at(key, 0), word_at(key, length - 8))
    } else {
        let mut word = [0u8; 8];
        word[..length].copy_from_slice(key);
        (u64::from_le_bytes(word), 0)
    };
    (head ^ tail.rotate_left(29) ^ (length as u64).rotate_left(58))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Whether two property names are equal; names of 8 to 16 bytes (most of Graph's) are compared
/// as two words without a call to `memcmp`.
#[inline(always)]
pub(crate) fn same_key(name: &str, key: &str) -> bool {
    let (name, key) = (name.as_bytes(), key.as_bytes());
    let length = key.len();
    if name.len() != length {
        return false;
    }
    if (8..=16).contains(&length) {
        word_at(name, 0) == word_at(key, 0) && word_at(name, length - 8) == word_at(key, length - 8)
    } else {
        name == key
    }
}

/// Why a record cannot be read at all (it goes to the dead-letter topic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    NotAnObject(String),
    MissingId,
    MissingTime { field: &'static str },
    BadTime { field: &'static str, value: String },
}

impl fmt::Display for RecordError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::NotAnObject(detail) => {
                write!(formatter, "the record is not a JSON object: {detail}")
            }
            RecordError::MissingId => formatter.write_str("the record has no string `id`"),
            RecordError::MissingTime { field } => {
                write!(formatter, "the record has no string `{field}`")
            }
            RecordError::BadTime { field, value } => {
                write!(
                    formatter,
                    "`{field}` is not an RFC 3339 UTC time: {value:?}"
                )
            }
        }
    }
}

impl<'a> Record<'a> {
    /// Validates a record (or an object inside one) and splits it into its top-level properties.
    pub fn parse(text: &'a str) -> Result<Record<'a>, RecordError> {
        let mut buffers = Buffers::take();
        let mut undecodable = None;
        let mut first_child = 0;
        let mut child_undecodable = false;
        // inlined into the scan's two calls (one per level): a call per property cost 5 %
        let scanned = object_properties_two_levels(
            text,
            #[inline(always)]
            |level, key, key_escaped, value| {
                visit_property(
                    text,
                    &mut buffers,
                    &mut undecodable,
                    (&mut first_child, &mut child_undecodable),
                    (level, key, key_escaped, value),
                )
            },
        );
        let outcome = match (scanned, undecodable) {
            (Ok(true), None) => return Ok(Record::from_fields(text, buffers)),
            (Ok(true), Some(error)) => Err(error),
            (Ok(false), _) => Err(RecordError::NotAnObject(json_kind(text).to_owned())),
            (Err(error), _) => Err(RecordError::NotAnObject(error.to_string())),
        };
        buffers.give_back();
        outcome
    }

    /// The items of the array `text` (a value inside a validated record) that are objects with
    /// properties, each split as `parse` splits a record, in one pass over the array; items that
    /// are not objects, or whose keys cannot be decoded, are left out. Empty when `text` is not an
    /// array.
    pub fn objects_of_array(text: &'a str) -> Vec<Record<'a>> {
        let mut objects = Vec::new();
        let mut builder: Option<Builder<'a>> = None;
        let walked = array_of_objects(text, |visit| match visit {
            ItemVisit::Property(level, key, key_escaped, value) => builder
                .get_or_insert_with(|| Builder::new(text))
                .visit(level, key, key_escaped, value),
            // `{}` had no property, so no builder: left out
            ItemVisit::ObjectEnd(item) => {
                if let Some(object) = builder.take() {
                    let item = text.get(item).unwrap_or_default();
                    if let Ok(object) = object.finish(item) {
                        objects.push(object);
                    }
                }
            }
            ItemVisit::Other => {}
        });
        match walked {
            Ok(true) => objects,
            _ => Vec::new(),
        }
    }

    /// A record from the properties the page scan found in `page`: keys with escapes are
    /// decoded, nothing else is read.
    fn from_spans(
        page: &'a str,
        text: &'a str,
        spans: &[PropertySpan],
        objects: &[NestedObject],
        children: &[PropertySpan],
    ) -> Result<Record<'a>, RecordError> {
        let mut buffers = Buffers::take();
        if spans.iter().any(|span| span.key_escaped) {
            for span in spans {
                match property(page, span.key(), span.key_escaped, span.value()) {
                    Ok(property) => buffers.fields.push(property),
                    Err(error) => {
                        buffers.give_back();
                        return Err(error);
                    }
                }
            }
        } else {
            // Graph's names have no escapes: every key is borrowed, the list extended at once
            buffers
                .fields
                .extend(spans.iter().map(|span| borrowed_property(page, span)));
        }
        'objects: for object in objects {
            let first_child = buffers.nested.len();
            let range = object.children.start as usize..object.children.end as usize;
            for span in children.get(range).unwrap_or_default() {
                match property(page, span.key(), span.key_escaped, span.value()) {
                    Ok(property) => buffers.nested.push(property),
                    Err(_) => {
                        buffers.nested.truncate(first_child);
                        continue 'objects;
                    }
                }
            }
            buffers.objects.push(NestedObject {
                property: object.property,
                children: first_child as u32..buffers.nested.len() as u32,
            });
        }
        Ok(Record::from_fields(text, buffers))
    }

    fn from_fields(text: &'a str, buffers: Buffers<'a>) -> Record<'a> {
        let Buffers {
            mut fields,
            mut index,
            mut hashes,
            nested,
            mut objects,
        } = buffers;
        // a record of more than 32,767 properties is not a Graph record; keep what indexes
        fields.truncate(usize::from(i16::MAX as u16));
        objects.retain(|object| (object.property as usize) < fields.len());
        let has_repeats = if fields.len() > INDEX_FROM {
            index.resize((fields.len() * 2).next_power_of_two(), 0);
            let bits = index.len().trailing_zeros();
            let mut has_repeats = false;
            for (position, (key, _)) in fields.iter().enumerate() {
                let entry = position as u16 + 1;
                let hash = key_hash(key.as_bytes());
                hashes.push(hash);
                // the hash's high bits, which are its best mixed (as `slot_of`)
                let mut slot = (hash >> (64 - bits)) as usize;
                loop {
                    match index[slot] {
                        0 => {
                            index[slot] = entry;
                            break;
                        }
                        taken if same_key(&fields[usize::from(taken - 1)].0, key) => {
                            // a repeated key: the later occurrence wins
                            index[slot] = entry;
                            has_repeats = true;
                            break;
                        }
                        _ => slot = (slot + 1) & (index.len() - 1),
                    }
                }
            }
            has_repeats
        } else {
            fields.iter().enumerate().any(|(position, (key, _))| {
                fields[..position].iter().any(|(earlier, _)| earlier == key)
            })
        };
        Record {
            text,
            fields,
            index,
            hashes,
            has_repeats,
            nested,
            objects,
        }
    }

    /// Each property name's `key_hash`, in property order, when the record's index has them.
    #[inline]
    pub(crate) fn name_hashes(&self) -> Option<&[u64]> {
        (self.hashes.len() == self.fields.len()).then_some(self.hashes.as_slice())
    }

    /// The position of the last occurrence of `key`.
    fn position(&self, key: &str) -> Option<usize> {
        if self.index.is_empty() {
            return self
                .fields
                .iter()
                .rposition(|(name, _)| same_key(name, key));
        }
        // the table is at most half full, so an empty slot ends every search
        let mut slot = slot_of(key, self.index.len());
        loop {
            let position = usize::from(self.index[slot]).checked_sub(1)?;
            let name = &self.fields[position].0;
            if same_key(name, key) {
                return Some(position);
            }
            slot = (slot + 1) & (self.index.len() - 1);
        }
    }

    /// The raw value of a property; the last one when a key is repeated.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.position(key).map(|index| self.fields[index].1)
    }

    /// The raw value of a property (the last one when a key is repeated) and, when it is an
    /// object with properties, those properties as the scan that split the record found them
    /// (`None` when it is not, or when they were not kept: the value is then split to be read).
    pub fn get_with_properties(&self, key: &str) -> Option<(&'a str, Option<&[Property<'a>]>)> {
        let position = self.position(key)?;
        Some((self.fields[position].1, self.nested_at(position)))
    }

    /// The properties of the object value of the property at `position`, when the scan kept
    /// them (see `get_with_properties`).
    pub fn nested_at(&self, position: usize) -> Option<&[Property<'a>]> {
        let object = self
            .objects
            .iter()
            .find(|object| object.property as usize == position)?;
        self.nested
            .get(object.children.start as usize..object.children.end as usize)
    }

    /// The object `text` (a value inside a record) from its properties as a scan found them,
    /// without reading it again.
    pub fn from_properties(text: &'a str, properties: &[Property<'a>]) -> Record<'a> {
        let mut buffers = Buffers::take();
        buffers.fields.extend_from_slice(properties);
        Record::from_fields(text, buffers)
    }

    /// Every property in order, repeated keys included.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &'a str)> {
        self.fields
            .iter()
            .map(|(key, value)| (key.as_ref(), *value))
    }

    /// Every property's name in order, repeated keys included.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(key, _)| key.as_ref())
    }

    /// The raw value of the property at `position`.
    pub fn value_at(&self, position: usize) -> Option<&'a str> {
        self.fields.get(position).map(|(_, value)| *value)
    }

    /// Where each name of `table` is among the properties, found in one pass: for a mapper
    /// that reads many of them (see `graph::keys`).
    pub fn keyed<const N: usize>(&self, table: &KeyTable<N>) -> Keyed<'_, 'a, N> {
        Keyed::new(self, table)
    }

    /// The number of properties, repeated keys included.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The position of `key`'s last occurrence among `fields`, for marking properties.
    pub fn position_of(&self, key: &str) -> Option<usize> {
        self.position(key)
    }

    /// The text of the properties at `first..=last` as it stands in the record, separators
    /// included (`"a":1,"b":[2]`): the first one's key must be verbatim (borrowed from the text).
    /// `None` otherwise, or when the positions are out of range.
    pub fn properties_text(&self, first: usize, last: usize) -> Option<&'a str> {
        let (Cow::Borrowed(first_key), _) = self.fields.get(first)? else {
            return None;
        };
        let (_, last_value) = self.fields.get(last)?;
        // every key and value is a slice of the record's text (or of the page around it, at
        // the record's place): their addresses give their offsets
        let base = self.text.as_ptr() as usize;
        let start = (first_key.as_ptr() as usize)
            .checked_sub(base)?
            .checked_sub(1)?;
        let end = (last_value.as_ptr() as usize + last_value.len()).checked_sub(base)?;
        self.text.get(start..end)
    }

    /// Properties without repeats (the last occurrence of each key, in record order), with their
    /// positions. Without repeated keys (nearly always) every property is the last of its key.
    fn distinct(&self) -> impl Iterator<Item = (usize, &Property<'a>)> {
        let has_repeats = self.has_repeats;
        self.fields
            .iter()
            .enumerate()
            .filter(move |(position, (key, _))| {
                !has_repeats || self.position(key) == Some(*position)
            })
    }

    /// Like `distinct_fields`, with each property's position and whether its key is verbatim:
    /// a key borrowed from the validated JSON had no escapes, so it can be written back without
    /// a check.
    pub fn distinct_keyed(&self) -> impl Iterator<Item = (usize, &str, bool, &'a str)> {
        self.distinct().map(|(position, (key, value))| {
            (
                position,
                key.as_ref(),
                matches!(key, Cow::Borrowed(_)),
                *value,
            )
        })
    }

    /// Properties without repeats: the last occurrence of each key, in record order.
    pub fn distinct_fields(&self) -> impl Iterator<Item = (&str, &'a str)> {
        self.distinct()
            .map(|(_, (key, value))| (key.as_ref(), *value))
    }

    /// A string property; `None` when absent, null or not a string.
    pub fn str(&self, key: &str) -> Option<Cow<'a, str>> {
        self.get(key).and_then(raw_str)
    }

    /// The record's Graph id.
    pub fn id(&self) -> Result<Cow<'a, str>, RecordError> {
        self.str("id")
            .filter(|id| !id.is_empty())
            .ok_or(RecordError::MissingId)
    }

    /// The record's event time from `field`.
    pub fn time(&self, field: &'static str) -> Result<Timestamp, RecordError> {
        let text = self.str(field).ok_or(RecordError::MissingTime { field })?;
        Timestamp::parse_rfc3339(&text).ok_or_else(|| RecordError::BadTime {
            field,
            value: text.into_owned(),
        })
    }
}

/// The property of `base` a span without escapes in its key names.
#[inline(always)]
fn borrowed_property<'a>(base: &'a str, span: &PropertySpan) -> Property<'a> {
    (
        Cow::Borrowed(base.get(span.key()).unwrap_or_default()),
        base.get(span.value()).unwrap_or_default(),
    )
}

/// A property of `base` from its key's range between the quotes and its value's range; a key
/// with escapes is decoded (out of line, `decoded_property`: Graph's names have none).
#[inline(always)]
fn property<'a>(
    base: &'a str,
    key: std::ops::Range<usize>,
    key_escaped: bool,
    value: std::ops::Range<usize>,
) -> Result<Property<'a>, RecordError> {
    let key_text = base.get(key).unwrap_or_default();
    let value = base.get(value).unwrap_or_default();
    if key_escaped {
        return decoded_property(key_text, value);
    }
    Ok((Cow::Borrowed(key_text), value))
}

#[cold]
fn decoded_property<'a>(key_text: &str, value: &'a str) -> Result<Property<'a>, RecordError> {
    match decode_key(key_text) {
        Some(key) => Ok((Cow::Owned(key), value)),
        None => Err(RecordError::NotAnObject(format!(
            "the property name {key_text:?} has an escape that is not a character"
        ))),
    }
}

/// A property name's raw text (between its quotes, with escapes) decoded.
fn decode_key(raw: &str) -> Option<String> {
    serde_json::from_str::<String>(&format!("\"{raw}\"")).ok()
}

/// A JSON string value (raw text) without its quotes, unescaped only when it has escapes.
pub fn raw_str(text: &str) -> Option<Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    // no early exit, so that the check vectorises: most values are short ids and names
    let has_escapes = inner
        .bytes()
        .fold(false, |found, byte| found | (byte == b'\\'));
    if !has_escapes {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_split_into_records_and_records_into_properties() {
        let body = br#"{"@odata.context":"x","@odata.nextLink":"https://graph/next","value":[
            {"id":"a","createdDateTime":"2026-01-05T10:00:00.1234567Z","status":{"errorCode":0}},
            {"id":"b\u00e9","createdDateTime":"2026-01-05T10:00:01Z","riskState":"x","riskState":"none","new":{"deep":[1,2]}}
        ]}"#;
        let page = PageBody::parse(bytes::Bytes::from_static(body)).expect("parses");
        assert_eq!(page.len(), 2);
        assert_eq!(page.next_link(), Some("https://graph/next"));
        let texts: Vec<&str> = page.record_texts().collect();
        assert!(texts[0].starts_with("{\"id\":\"a\"") && texts[0].ends_with("}}"));
        let second = Record::parse(texts[1]).expect("record");
        assert_eq!(second.id().expect("id"), "bé");
        assert_eq!(
            second.str("riskState").as_deref(),
            Some("none"),
            "the last repeated key wins"
        );
        assert_eq!(second.fields().count(), 5);
        assert_eq!(second.distinct_fields().count(), 4);
        let distinct: Vec<(&str, &str)> = second.distinct_fields().collect();
        assert_eq!(
            distinct[2],
            ("riskState", "\"none\""),
            "the later value, at the later place"
        );
        assert!(second.get("absent").is_none());
        assert_eq!(second.get("id"), Some("\"b\\u00e9\""));
        assert_eq!(second.get("new"), Some(r#"{"deep":[1,2]}"#));
        let first = Record::parse(texts[0]).expect("record");
        assert_eq!(
            first.time("createdDateTime").expect("time"),
            Timestamp::parse_rfc3339("2026-01-05T10:00:00.123Z").expect("time")
        );
    }

    /// Records of more than INDEX_FROM properties are searched through the table: every key is
    /// found at its last occurrence, absent keys are not, repeats are noticed.
    #[test]
    fn large_records_are_indexed_with_the_last_repeat_winning() {
        for count in [INDEX_FROM + 1, 40, 200] {
            let mut text = String::from("{");
            for index in 0..count {
                text.push_str(&format!("\"key{index}\":{index},"));
            }
            text.push_str("\"key3\":\"again\"}");
            let record = Record::parse(&text).expect("record");
            assert_eq!(record.len(), count + 1);
            for index in 0..count {
                let expected = if index == 3 {
                    "\"again\"".to_owned()
                } else {
                    index.to_string()
                };
                assert_eq!(record.get(&format!("key{index}")), Some(expected.as_str()));
            }
            assert_eq!(record.get("key"), None);
            assert_eq!(record.get(&format!("key{count}")), None);
            assert_eq!(record.distinct_fields().count(), count);
            let without_repeat = text.replace(",\"key3\":\"again\"}", "}");
            let record = Record::parse(&without_repeat).expect("record");
            assert_eq!(record.distinct_fields().count(), count);
            assert!(!record.has_repeats);
        }
    }

    /// A record's buffers serve the next record of the thread: no allocation per record.
    /// Names of every length up to 24 that differ in a single byte, at every place, are told
    /// apart by the index and by the direct search of small objects.
    #[test]
    fn names_differing_in_one_byte_are_told_apart() {
        for length in 1..=24usize {
            for place in 0..length {
                let name: String = (0..length)
                    .map(|index| (b'a' + (index % 26) as u8) as char)
                    .collect();
                let mut other = name.clone().into_bytes();
                other[place] = b'Z';
                let other = String::from_utf8(other).expect("ascii");
                for padding in [0usize, 30] {
                    let mut text = format!(r#"{{"{name}":1,"{other}":2"#);
                    for index in 0..padding {
                        text.push_str(&format!(r#","p{index}":0"#));
                    }
                    text.push('}');
                    let record = Record::parse(&text).expect("record");
                    assert_eq!(record.get(&name), Some("1"), "{text}");
                    assert_eq!(record.get(&other), Some("2"), "{text}");
                    assert!(!record.has_repeats, "{text}");
                    assert_eq!(record.get(&format!("{name}x")), None);
                }
            }
        }
    }

    /// An array's object items, split in one pass: other items, `{}` and an item with a key
    /// that is no character are left out; repeats, escapes and object values read as in a record.
    #[test]
    fn the_objects_of_an_array_are_split_in_one_pass() {
        let text = r#"[{"a":1}, 2, {}, {"b\u0041":{"c":true,"d":[1]}}, {"bad\ud800x":1}, null,
            {"a":1,"a":2}, "s"]"#;
        let objects = Record::objects_of_array(text);
        let texts: Vec<&str> = objects.iter().map(|object| object.text).collect();
        assert_eq!(
            texts,
            [
                r#"{"a":1}"#,
                r#"{"b\u0041":{"c":true,"d":[1]}}"#,
                r#"{"a":1,"a":2}"#
            ]
        );
        assert_eq!(objects[0].get("a"), Some("1"));
        let (value, properties) = objects[1].get_with_properties("bA").expect("decoded key");
        assert_eq!(value, r#"{"c":true,"d":[1]}"#);
        let properties: Vec<(&str, &str)> = properties
            .expect("kept")
            .iter()
            .map(|(key, value)| (key.as_ref(), *value))
            .collect();
        assert_eq!(properties, [("c", "true"), ("d", "[1]")]);
        assert_eq!(objects[2].get("a"), Some("2"), "the last repeat wins");
        for not_an_array in [r#"{"a":1}"#, "null", "[]", "[1,2]", ""] {
            assert!(
                Record::objects_of_array(not_an_array).is_empty(),
                "{not_an_array}"
            );
        }
    }

    #[test]
    fn buffers_are_used_again_by_the_next_record() {
        let text: String = format!(
            "{{{}}}",
            (0..40)
                .map(|index| format!("\"key{index}\":{index}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let first = Record::parse(&text).expect("record");
        let (fields, index) = (
            first.fields.as_ptr() as usize,
            first.index.as_ptr() as usize,
        );
        drop(first);
        let other_text = text.replace("key", "name");
        let second = Record::parse(&other_text).expect("record");
        assert_eq!(second.fields.as_ptr() as usize, fields);
        assert_eq!(second.index.as_ptr() as usize, index);
        assert_eq!(second.get("name39"), Some("39"));
        assert_eq!(second.get("key39"), None);
        // a nested record while the outer one lives takes a second pair
        let nested = Record::parse(r#"{"a":1}"#).expect("record");
        assert_ne!(nested.fields.as_ptr() as usize, fields);
    }

    /// A page's records read alike whether their keys have escapes or not; a key whose escape
    /// is no character makes its record unreadable, not its page.
    #[test]
    fn escaped_keys_of_a_page_are_decoded_and_undecodable_ones_refuse_their_record() {
        let body = br#"{"value":[{"id":"a","user\u0049d":"u","o":{"k\u0065y":1}},{"id":"b","bad\ud800x":1},{"id":"c","userId":"v"}]}"#;
        let page = PageBody::parse(bytes::Bytes::from_static(body)).expect("page");
        let records: Vec<_> = page.records().map(|(_, record)| record).collect();
        let first = records[0].as_ref().expect("escaped keys decode");
        assert_eq!(first.get("userId"), Some("\"u\""));
        assert_eq!(
            first.nested_at(2).map(|object| object[0].0.as_ref()),
            Some("key")
        );
        assert!(matches!(records[1], Err(RecordError::NotAnObject(_))));
        let third = records[2].as_ref().expect("plain keys");
        assert_eq!(third.get("userId"), Some("\"v\""));
        assert_eq!(third.get("id"), Some("\"c\""));
    }

    #[test]
    fn broken_pages_and_records_are_reported() {
        assert!(PageBody::parse(bytes::Bytes::from_static(b"{\"value\":[{\"id\":")).is_err());
        assert_eq!(
            PageBody::parse(bytes::Bytes::from_static(b"{\"error\":{}}")).err(),
            Some(MalformedPage("the page has no `value` array".to_owned()))
        );
        let page = PageBody::parse(bytes::Bytes::from_static(
            b"{\"value\":[null,{\"id\":7},{\"id\":\"x\",\"createdDateTime\":\"soon\"}]}",
        ))
        .expect("a page of odd records is still a page");
        let texts: Vec<&str> = page.record_texts().collect();
        assert!(matches!(
            Record::parse(texts[0]),
            Err(RecordError::NotAnObject(_))
        ));
        assert_eq!(
            Record::parse(texts[1]).expect("object").id(),
            Err(RecordError::MissingId)
        );
        assert_eq!(
            Record::parse(texts[2])
                .expect("object")
                .time("createdDateTime"),
            Err(RecordError::BadTime {
                field: "createdDateTime",
                value: "soon".to_owned()
            })
        );
    }
}
