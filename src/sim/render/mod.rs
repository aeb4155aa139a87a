//! Rendering of generated records as Graph's JSON, property by property as Microsoft documents them
//! (microsoftgraph/microsoft-graph-docs-contrib, resources `signin`, `directoryaudit`,
//! `provisioningobjectsummary`), null values included, with the quirks seen in real responses.

mod audit;
mod provisioning;
mod sign_in;

use serde::{Serialize, Serializer};

use super::generate::{Quirk, RecordMeta, TenantData};
use super::rng::SimRng;
use crate::stream::StreamKind;

/// The Graph API version a request used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    Beta,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }
}

/// Appends the JSON of one record to `out`.
pub fn render_record(
    out: &mut Vec<u8>,
    tenant: &TenantData,
    meta: &RecordMeta,
    version: ApiVersion,
) {
    let start = out.len();
    let result = match meta.stream {
        StreamKind::DirectoryAudits => audit::render(out, tenant, meta, version),
        StreamKind::Provisioning => provisioning::render(out, tenant, meta, version),
        _ => sign_in::render(out, tenant, meta, version),
    };
    if result.is_err() {
        // serialising into a Vec cannot fail; keep the page well-formed regardless
        out.truncate(start);
        out.extend_from_slice(b"{}");
        return;
    }
    if meta.quirk == Some(Quirk::RepeatedKey) {
        repeat_first_key(out, start, meta.stream);
    }
}

/// Inserts a repeated key at the front of the object, as Microsoft's own examples sometimes do:
/// the first occurrence holds a stale value, the later one the real value.
fn repeat_first_key(out: &mut Vec<u8>, start: usize, stream: StreamKind) {
    let duplicate: &[u8] = match stream {
        StreamKind::DirectoryAudits => b"\"result\":\"unknownFutureValue\",",
        StreamKind::Provisioning => b"\"durationInMilliseconds\":0,",
        _ => b"\"riskState\":\"unknownFutureValue\",",
    };
    if out.get(start) == Some(&b'{') {
        let tail = out.split_off(start + 1);
        out.extend_from_slice(duplicate);
        out.extend_from_slice(&tail);
    }
}

/// An object property that Graph sometimes sends as an object, sometimes as `null`, sometimes as `{}`.
pub(crate) enum Obj<T> {
    Present(T),
    Null,
    Empty,
}

impl<T: Serialize> Serialize for Obj<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Obj::Present(value) => value.serialize(serializer),
            Obj::Null => serializer.serialize_none(),
            Obj::Empty => {
                use serde::ser::SerializeMap;
                serializer.serialize_map(Some(0))?.end()
            }
        }
    }
}

impl<T> Obj<T> {
    /// Under the null-or-empty quirk an object becomes `null` or `{}`; otherwise it stays.
    pub(crate) fn quirky(value: T, quirk: Option<Quirk>, rng: &mut SimRng) -> Obj<T> {
        if quirk == Some(Quirk::NullOrEmptyObjects) {
            if rng.chance(0.5) {
                Obj::Null
            } else {
                Obj::Empty
            }
        } else {
            Obj::Present(value)
        }
    }
}

#[derive(Serialize)]
pub(crate) struct KeyValue<'a> {
    pub key: &'a str,
    pub value: String,
}

/// `2024-01-15T10:23:45.1230000Z`: Graph's seven fractional digits.
pub(crate) fn graph_time(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let fraction = millis.rem_euclid(1000);
    let whole = crate::clock::Timestamp::from_secs(seconds).to_rfc3339_seconds();
    format!("{}.{fraction:03}0000Z", whole.trim_end_matches('Z'))
}

/// `2024-01-15T10:23:45Z`.
pub(crate) fn graph_time_seconds(millis: i64) -> String {
    crate::clock::Timestamp::from_millis(millis).to_rfc3339_seconds()
}

/// An address in a range that belongs to the location, IPv6 for about a quarter of requests.
pub(crate) fn ip_address(rng: &mut SimRng, location_index: usize) -> String {
    if rng.chance(0.25) {
        format!(
            "2a02:{:x}:{:x}:{:x}::{:x}",
            0x1000 + location_index * 0x41,
            rng.below(0xffff),
            rng.below(0xffff),
            rng.below(0xfff) + 1
        )
    } else {
        format!(
            "{}.{}.{}.{}",
            20 + location_index * 7 % 180,
            rng.below(256),
            rng.below(256),
            rng.below(254) + 1
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::SimConfig;
    use crate::sim::generate::minute_records;

    fn records_of(stream: StreamKind, quirk_rate: f64) -> Vec<(RecordMeta, TenantData, SimConfig)> {
        let config = SimConfig {
            quirk_rate,
            rates: crate::sim::config::StreamRates::uniform(30.0),
            ..SimConfig::default()
        };
        let tenant = TenantData::generate(&config, 0);
        (29_000_000..29_000_010)
            .flat_map(|minute| minute_records(&config, &tenant, stream, minute))
            .map(|meta| (meta, tenant.clone(), config.clone()))
            .collect()
    }

    #[test]
    fn every_record_is_valid_json_with_its_id_and_time() {
        for stream in StreamKind::ALL {
            for version in [ApiVersion::V1, ApiVersion::Beta] {
                for (meta, tenant, _) in records_of(stream, 0.3) {
                    let mut out = Vec::new();
                    render_record(&mut out, &tenant, &meta, version);
                    let value: serde_json::Value =
                        serde_json::from_slice(&out).unwrap_or_else(|error| {
                            panic!("{stream} {error}: {}", String::from_utf8_lossy(&out))
                        });
                    assert_eq!(value["id"], serde_json::Value::String(meta.id.clone()));
                    let time_field = match stream {
                        StreamKind::DirectoryAudits | StreamKind::Provisioning => {
                            "activityDateTime"
                        }
                        _ => "createdDateTime",
                    };
                    let time = value[time_field].as_str().expect("time is a string");
                    let parsed = crate::clock::Timestamp::parse_rfc3339(time).expect("parses");
                    assert_eq!(parsed, meta.event, "{stream} {time}");
                }
            }
        }
    }

    #[test]
    fn beta_sign_ins_are_realistic_in_size_and_v1_lacks_beta_properties() {
        let records = records_of(StreamKind::SignInsInteractive, 0.0);
        let mut total_beta = 0;
        for (meta, tenant, _) in &records {
            let mut beta = Vec::new();
            render_record(&mut beta, tenant, meta, ApiVersion::Beta);
            total_beta += beta.len();
            let mut v1 = Vec::new();
            render_record(&mut v1, tenant, meta, ApiVersion::V1);
            let v1_value: serde_json::Value = serde_json::from_slice(&v1).expect("json");
            assert!(v1_value.get("signInEventTypes").is_none());
            assert!(v1_value.get("authenticationDetails").is_none());
            assert!(v1_value.get("userAgent").is_none());
            let beta_value: serde_json::Value = serde_json::from_slice(&beta).expect("json");
            assert_eq!(beta_value["signInEventTypes"][0], "interactiveUser");
        }
        let average = total_beta / records.len();
        assert!(
            (2500..=4500).contains(&average),
            "average beta sign-in is {average} bytes"
        );
    }

    #[test]
    fn repeated_key_quirk_repeats_a_key() {
        let config = SimConfig::default();
        let tenant = TenantData::generate(&config, 0);
        let mut meta = minute_records(&config, &tenant, StreamKind::DirectoryAudits, 29_000_000)
            .pop()
            .expect("a record");
        meta.quirk = Some(Quirk::RepeatedKey);
        let mut out = Vec::new();
        render_record(&mut out, &tenant, &meta, ApiVersion::Beta);
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.starts_with("{\"result\":\"unknownFutureValue\","));
        assert_eq!(text.matches("\"result\":").count(), 2);
    }

    #[test]
    fn graph_time_has_seven_fractional_digits() {
        assert_eq!(
            graph_time(1_700_000_000_123),
            "2023-11-14T22:13:20.1230000Z"
        );
        assert_eq!(
            graph_time_seconds(1_700_000_000_123),
            "2023-11-14T22:13:20Z"
        );
    }
}
