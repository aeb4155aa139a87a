//! OCSF 1.8.0 events: sign-ins as Authentication (3002), directory audits in the IAM class that
//! fits their category and activity (3001, 3004, 3005, 3006; API Activity 6003 otherwise),
//! provisioning as Entity Management (3004).
//!
//! Every Graph property without an OCSF home is kept under `unmapped`, verbatim; enum values
//! outside OCSF's sets become Other (99) with the original string in the caption field.

mod audit;
mod audit_targets;
mod provisioning;
mod sign_in;

use std::borrow::Cow;

use super::MapContext;
use super::json::{ObjectWriter, write_int, write_string, write_string_parts};
use super::values::{self, Fields};
use crate::graph::keys::Keyed;
use crate::graph::record::Record;
use crate::graph::split::{Property, walk_properties};
use crate::stream::StreamKind;

pub use audit::map as map_directory_audit;
pub use provisioning::map as map_provisioning;
pub use sign_in::map as map_sign_in;

/// The OCSF version, as a literal for `concat!`.
macro_rules! ocsf_version {
    () => {
        "1.8.0"
    };
}

pub const OCSF_VERSION: &str = ocsf_version!();
pub const CATEGORY_IAM: i64 = 3;
pub const CATEGORY_APPLICATION: i64 = 6;

/// How much of a top-level Graph property an OCSF attribute took.
#[derive(Clone, Copy, Debug)]
pub enum Coverage {
    /// All of it.
    Full,
    /// These sub-properties of an object; the rest goes to `unmapped`.
    Except(&'static [&'static str]),
    /// Parts of it, which the mapper itself knows: it writes what found no home (in `extra`).
    Parts,
}

/// The class fields every event starts with.
pub struct ClassHeader<'a> {
    pub category_uid: i64,
    pub category_name: &'static str,
    pub class_uid: i64,
    pub class_name: &'static str,
    pub activity_id: i64,
    pub activity_name: Cow<'a, str>,
}

impl ClassHeader<'_> {
    pub fn write(&self, event: &mut ObjectWriter) {
        // the keys, the names and the captions are ours; only an activity name may come from Graph
        event.fields_with(|out| {
            out.extend_from_slice(b"\"category_uid\":");
            write_int(out, self.category_uid);
            out.extend_from_slice(b",\"category_name\":");
            write_string(out, self.category_name);
            out.extend_from_slice(b",\"class_uid\":");
            write_int(out, self.class_uid);
            out.extend_from_slice(b",\"class_name\":");
            write_string(out, self.class_name);
            out.extend_from_slice(b",\"activity_id\":");
            write_int(out, self.activity_id);
            out.extend_from_slice(b",\"activity_name\":");
            write_string(out, &self.activity_name);
            out.extend_from_slice(b",\"type_uid\":");
            write_int(out, self.class_uid * 100 + self.activity_id);
            out.extend_from_slice(b",\"type_name\":");
            write_string_parts(out, &[self.class_name, ": ", &self.activity_name]);
        });
    }
}

pub fn category_name(category_uid: i64) -> &'static str {
    if category_uid == CATEGORY_APPLICATION {
        "Application Activity"
    } else {
        "Identity & Access Management"
    }
}

/// `status_id`, `status`: 1 Success, 2 Failure, 0 Unknown, 99 Other with the original text.
pub fn write_status(event: &mut ObjectWriter, status_id: i64, original: Option<&str>) {
    match status_id {
        1 => event.constant(r#""status_id":1,"status":"Success""#),
        2 => event.constant(r#""status_id":2,"status":"Failure""#),
        0 => event.constant(r#""status_id":0,"status":"Unknown""#),
        _ => {
            event.int("status_id", status_id);
            event.string("status", original.unwrap_or("Other"));
        }
    }
}

/// `severity_id` and `severity`.
pub fn write_severity(event: &mut ObjectWriter, severity_id: i64, original: Option<&str>) {
    match severity_id {
        0 => event.constant(r#""severity_id":0,"severity":"Unknown""#),
        1 => event.constant(r#""severity_id":1,"severity":"Informational""#),
        2 => event.constant(r#""severity_id":2,"severity":"Low""#),
        3 => event.constant(r#""severity_id":3,"severity":"Medium""#),
        4 => event.constant(r#""severity_id":4,"severity":"High""#),
        5 => event.constant(r#""severity_id":5,"severity":"Critical""#),
        6 => event.constant(r#""severity_id":6,"severity":"Fatal""#),
        _ => {
            event.int("severity_id", severity_id);
            event.string("severity", original.unwrap_or("Other"));
        }
    }
}

/// The event time, in epoch milliseconds.
pub fn write_time(event: &mut ObjectWriter, record: &Record, time_field: &str) {
    write_time_of(event, record.text(time_field).as_deref());
}

/// `time` from the record's event time as Graph wrote it.
pub fn write_time_of(event: &mut ObjectWriter, text: Option<&str>) {
    if let Some(time) = text.and_then(crate::clock::Timestamp::parse_rfc3339) {
        event.int("time", time.as_millis());
    }
}

/// `metadata`: the product, versions, Graph's ids and the tenant.
pub fn write_metadata(
    event: &mut ObjectWriter,
    record: &Record,
    context: &MapContext,
    feature_name: &str,
    time_field: &str,
    event_code: Option<&str>,
) {
    let ids = RecordIds {
        id: record.text("id"),
        correlation_id: record.text("correlationId"),
        time: record.text(time_field),
    };
    write_metadata_of(event, &ids, context, feature_name, event_code, false);
}

/// The Graph values `metadata` carries: the record's id, its correlation id and its event time
/// as Graph wrote it.
pub struct RecordIds<'a> {
    pub id: Option<Cow<'a, str>>,
    pub correlation_id: Option<Cow<'a, str>>,
    pub time: Option<Cow<'a, str>>,
}

/// `metadata` from values the mapper has read already; `with_device`: the event has a `device`,
/// which the host profile declares (without the profile OCSF allows no `device`, and with it
/// none is promised where Graph named no device).
pub fn write_metadata_of(
    event: &mut ObjectWriter,
    ids: &RecordIds,
    context: &MapContext,
    feature_name: &str,
    event_code: Option<&str>,
    with_device: bool,
) {
    let resource = crate::graph::endpoint::resource(context.stream);
    event.object("metadata", |metadata| {
        let profiles: &[u8] = if with_device {
            b",\"profiles\":[\"cloud\",\"host\"],\"log_name\":"
        } else {
            b",\"profiles\":[\"cloud\"],\"log_name\":"
        };
        // every part is ours: written at once
        metadata.fields_with(|out| {
            out.extend_from_slice(concat!(
                "\"version\":\"",
                ocsf_version!(),
                "\",\"product\":{\"name\":\"Microsoft Entra ID\",\"vendor_name\":\"Microsoft\",\"feature\":{\"name\":"
            ).as_bytes());
            write_string(out, feature_name);
            out.extend_from_slice(b"}}");
            out.extend_from_slice(profiles);
            write_string(out, resource);
            out.extend_from_slice(b",\"log_provider\":\"Microsoft Graph\",\"log_version\":");
            write_string(out, context.api_version.as_str());
        });
        if let Some(id) = ids.id.as_deref() {
            metadata.string_parts("uid", &[context.tenant_id, ":", id]);
            metadata.string("original_event_uid", id);
        }
        metadata.text("correlation_uid", ids.correlation_id.as_deref());
        metadata.text("event_code", event_code);
        metadata.text("original_time", ids.time.as_deref());
        metadata.int("processed_time", context.received_at.as_millis());
        metadata.string("tenant_uid", context.tenant_id);
    });
}

/// `cloud`: Azure, and the tenant as the account.
pub fn write_cloud(event: &mut ObjectWriter, context: &MapContext) {
    event.fields_with(|out| {
        out.extend_from_slice(b"\"cloud\":{\"provider\":\"Azure\",\"account\":{\"uid\":");
        write_string(out, context.tenant_id);
        out.extend_from_slice(b",\"type_id\":6,\"type\":\"Azure AD Account\"}}");
    });
}

/// `unmapped`: every property of `record` that `covered` does not account for, verbatim; the
/// properties in `not_written` were meant to be covered but found no home in this record.
/// `extra` adds derived entries (decoded values) after them.
pub fn write_unmapped(
    event: &mut ObjectWriter,
    record: &Record,
    covered: &[(&str, Coverage)],
    not_written: &[&str],
    extra: impl FnOnce(&mut ObjectWriter),
) {
    // which property each entry of `covered` is: found through the record's index, instead of
    // comparing every property's name with every covered name
    let position_of = |_, name: &str| record.position_of(name);
    write_unmapped_with(event, record, covered, not_written, position_of, extra);
}

/// `write_unmapped` for a mapper that found its properties through a key table whose first
/// names are `covered`'s, in order (`key_names`): where each covered property is, is known.
pub fn write_unmapped_keyed<const N: usize>(
    event: &mut ObjectWriter,
    keyed: &Keyed<'_, '_, N>,
    covered: &[(&str, Coverage)],
    not_written: &[&str],
    extra: impl FnOnce(&mut ObjectWriter),
) {
    let position_of = |index, _: &str| keyed.position(index);
    write_unmapped_with(
        event,
        keyed.record(),
        covered,
        not_written,
        position_of,
        extra,
    );
}

/// The names of a mapper's key table: those of `covered` in order, then `extra` (what it reads
/// besides). Fails to compile when `N` is not their number.
pub const fn key_names<const N: usize>(
    covered: &[(&'static str, Coverage)],
    extra: &[&'static str],
) -> [&'static str; N] {
    assert!(N == covered.len() + extra.len(), "N names");
    let mut names = [""; N];
    let mut index = 0;
    while index < covered.len() {
        names[index] = covered[index].0;
        index += 1;
    }
    while index < N {
        names[index] = extra[index - covered.len()];
        index += 1;
    }
    names
}

fn write_unmapped_with(
    event: &mut ObjectWriter,
    record: &Record,
    covered: &[(&str, Coverage)],
    not_written: &[&str],
    position_of: impl Fn(usize, &str) -> Option<usize>,
    extra: impl FnOnce(&mut ObjectWriter),
) {
    // a record's marks fit on the stack (Graph records have about a hundred properties)
    let mut on_stack = [0u8; 256];
    let mut on_heap = Vec::new();
    let marks: &mut [u8] = if record.len() <= on_stack.len() {
        &mut on_stack[..record.len()]
    } else {
        on_heap.resize(record.len(), 0);
        &mut on_heap
    };
    for (index, (name, _)) in covered.iter().enumerate().take(usize::from(u8::MAX)) {
        if !not_written.contains(name)
            && let Some(position) = position_of(index, name)
        {
            marks[position] = index as u8 + 1;
        }
    }
    event.object("unmapped", |unmapped| {
        // properties without a home that stand next to each other in the record are copied as
        // one piece of its text: most of `unmapped` in a few copies
        let mut run: Option<(usize, usize)> = None;
        for (position, key, verbatim, value) in record.distinct_keyed() {
            if marks[position] == 0 && verbatim {
                run = match run {
                    Some((first, last)) if last + 1 == position => Some((first, position)),
                    finished => {
                        copy_properties(unmapped, record, finished);
                        Some((position, position))
                    }
                };
                continue;
            }
            copy_properties(unmapped, record, run.take());
            match marks[position] {
                0 => unmapped.raw_keyed_property(key, verbatim, value),
                mark => {
                    if let (name, Coverage::Except(taken)) = covered[usize::from(mark - 1)] {
                        match record.nested_at(position) {
                            Some(properties) => {
                                write_properties_remainder(unmapped, name, properties, taken)
                            }
                            None => write_remainder(unmapped, name, value, taken),
                        }
                    }
                }
            }
        }
        copy_properties(unmapped, record, run);
        extra(unmapped);
    });
}

/// Copies the properties at `first..=last` of `run` from the record's text.
fn copy_properties(unmapped: &mut ObjectWriter, record: &Record, run: Option<(usize, usize)>) {
    let Some((first, last)) = run else {
        return;
    };
    match record.properties_text(first, last) {
        Some(text) => unmapped.fields_with(|out| out.extend_from_slice(text.as_bytes())),
        None => {
            for (position, key, verbatim, value) in record.distinct_keyed() {
                if (first..=last).contains(&position) {
                    unmapped.raw_keyed_property(key, verbatim, value);
                }
            }
        }
    }
}

/// The properties of an object (as the record's scan found them) not in `taken`, the last of a
/// repeated key.
fn write_properties_remainder(
    unmapped: &mut ObjectWriter,
    key: &str,
    properties: &[Property],
    taken: &[&str],
) {
    unmapped.object(key, |remainder| {
        for (position, (name, sub_value)) in properties.iter().enumerate() {
            let is_last = !properties[position + 1..]
                .iter()
                .any(|(later, _)| later == name);
            if is_last && *sub_value != "null" && !taken.contains(&name.as_ref()) {
                remainder.raw_keyed_property(name, matches!(name, Cow::Borrowed(_)), sub_value);
            }
        }
    });
}

/// The sub-properties of an object not in `taken`; the whole value when it is not an object.
fn write_remainder(unmapped: &mut ObjectWriter, key: &str, value: &str, taken: &[&str]) {
    if value == "null" {
        return;
    }
    if !value.starts_with('{') {
        unmapped.raw_property(key, value);
        return;
    }
    // a small object is walked once, its properties kept on the stack; with a repeated or an
    // escaped key, or more properties than that, it is split (the last repeat wins, keys decoded)
    let mut kept = [("", ""); 16];
    let mut count = 0;
    let mut simple = true;
    let walked = walk_properties(value, |name, escaped, sub_value| {
        if escaped || count == kept.len() || kept[..count].iter().any(|(seen, _)| *seen == name) {
            simple = false;
        } else {
            kept[count] = (name, sub_value);
            count += 1;
        }
    });
    if walked.is_some() && simple {
        unmapped.object(key, |remainder| {
            for (name, sub_value) in &kept[..count] {
                if !taken.contains(name) && *sub_value != "null" {
                    remainder.raw_text(name, sub_value);
                }
            }
        });
        return;
    }
    if let Some(nested) = values::object(value) {
        unmapped.object(key, |remainder| {
            for (_, name, verbatim, sub_value) in nested.distinct_keyed() {
                if !taken.contains(&name) && sub_value != "null" {
                    remainder.raw_keyed_property(name, verbatim, sub_value);
                }
            }
        });
    }
}

/// The name of a sign-in stream's event type, for `metadata.product.feature.name`.
pub fn sign_in_feature(stream: StreamKind) -> &'static str {
    match stream {
        StreamKind::SignInsNonInteractive => "Sign-in logs (nonInteractiveUser)",
        StreamKind::SignInsServicePrincipal => "Sign-in logs (servicePrincipal)",
        StreamKind::SignInsManagedIdentity => "Sign-in logs (managedIdentity)",
        _ => "Sign-in logs (interactiveUser)",
    }
}

/// The part of a user principal name after `@`.
pub fn domain_of(user_principal_name: &str) -> Option<&str> {
    user_principal_name
        .rsplit_once('@')
        .map(|(_, domain)| domain)
        .filter(|domain| !domain.is_empty())
}

#[cfg(test)]
mod tests {
    use super::{Coverage, audit, provisioning, sign_in};
    use crate::clock::Timestamp;
    use crate::config::ApiVersion;
    use crate::graph::record::Record;
    use crate::schema::MapContext;
    use crate::sim::config::{SimConfig, StreamRates};
    use crate::sim::generate::{TenantData, minute_records};
    use crate::sim::render::{self, render_record};
    use crate::stream::StreamKind;

    /// The header is written as one piece: an activity name from Graph is escaped, in
    /// `activity_name` and in `type_name`.
    #[test]
    fn the_class_header_escapes_an_activity_name_from_graph() {
        let mut out = Vec::new();
        crate::schema::json::ObjectWriter::write(&mut out, |event| {
            event.int("before", 1);
            super::ClassHeader {
                category_uid: super::CATEGORY_APPLICATION,
                category_name: "Application Activity",
                class_uid: 6003,
                class_name: "API Activity",
                activity_id: 99,
                activity_name: std::borrow::Cow::Borrowed("Update \"policy\"\n"),
            }
            .write(event);
        });
        let written: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(
            written,
            serde_json::json!({
                "before": 1, "category_uid": 6, "category_name": "Application Activity",
                "class_uid": 6003, "class_name": "API Activity", "activity_id": 99,
                "activity_name": "Update \"policy\"\n", "type_uid": 600399,
                "type_name": "API Activity: Update \"policy\"\n"
            })
        );
    }

    /// A property an OCSF attribute took fully is not repeated in `unmapped`, and of a partly
    /// taken object only the rest is; every other property is there verbatim.
    #[test]
    fn unmapped_holds_exactly_what_found_no_home() {
        let config = SimConfig {
            rates: StreamRates::uniform(30.0),
            quirk_rate: 0.2,
            ..SimConfig::default()
        };
        let tenant = TenantData::generate(&config, 0);
        for (stream, covered) in [
            (StreamKind::SignInsInteractive, sign_in::COVERED),
            (StreamKind::SignInsManagedIdentity, sign_in::COVERED),
            (StreamKind::DirectoryAudits, audit::COVERED),
            (StreamKind::Provisioning, provisioning::COVERED),
        ] {
            for meta in (29_000_000..29_000_005)
                .flat_map(|minute| minute_records(&config, &tenant, stream, minute))
            {
                let mut text = Vec::new();
                render_record(&mut text, &tenant, &meta, render::ApiVersion::Beta);
                let text = String::from_utf8(text).expect("utf-8");
                let record = Record::parse(&text).expect("record");
                let context = MapContext {
                    tenant_id: "t",
                    stream,
                    api_version: ApiVersion::Beta,
                    received_at: Timestamp::from_secs(1),
                };
                let mut out = Vec::new();
                crate::schema::map_record(
                    crate::config::SchemaKind::Ocsf,
                    &record,
                    &context,
                    &mut out,
                )
                .expect("maps");
                let event: serde_json::Value = serde_json::from_slice(&out).expect("json");
                let unmapped = event["unmapped"].as_object().cloned().unwrap_or_default();
                let source: serde_json::Value = serde_json::from_str(&text).expect("json");
                for (key, value) in source.as_object().expect("object") {
                    // a property that found no home in this record stays whole, verbatim
                    let kept_whole = unmapped.get(key) == Some(value);
                    match covered.iter().find(|(name, _)| name == key) {
                        _ if kept_whole => {}
                        Some((_, Coverage::Full)) => {
                            assert!(!unmapped.contains_key(key), "{stream}: {key} repeated")
                        }
                        Some((_, Coverage::Except(taken))) => {
                            if let Some(rest) = unmapped.get(key).and_then(|rest| rest.as_object())
                            {
                                for sub_key in rest.keys() {
                                    assert!(
                                        !taken.contains(&sub_key.as_str()),
                                        "{stream}: {key}.{sub_key} repeated"
                                    );
                                }
                            }
                        }
                        None if key == "modified_properties" => {}
                        // what is left of them is checked leaf by leaf (tests/mapping.rs)
                        Some((_, Coverage::Parts)) => {
                            assert_ne!(unmapped.get(key), Some(value), "{stream}: {key} repeated")
                        }
                        None => assert_eq!(
                            unmapped.get(key),
                            Some(value),
                            "{stream}: {key} kept verbatim"
                        ),
                    }
                }
            }
        }
    }
}
