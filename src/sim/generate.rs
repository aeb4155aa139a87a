//! Deterministic generation of tenants and of record metadata, minute by minute.
//!
//! Nothing is stored: the records of (tenant, stream, minute) are a pure function of the seed, so
//! a tenant can be served for ever in bounded memory and the ground truth is always at hand.

use std::time::Duration;

use super::config::{Latency, SimConfig, StreamRates, TenantSpec};
use super::pools;
use super::rng::{SimRng, guid_for, hash_path};
use crate::clock::Timestamp;
use crate::stream::StreamKind;

pub const MINUTE_MILLIS: i64 = 60_000;

/// Domain separators of the derivation paths.
const PATH_TENANT: u64 = 1;
const PATH_CLIENT: u64 = 2;
const PATH_SECRET: u64 = 3;
const PATH_USER: u64 = 4;
const PATH_RECORDS: u64 = 5;
const PATH_WORKLOAD: u64 = 6;
const PATH_GROUP: u64 = 7;

/// A simulated tenant with its application registration and directory.
#[derive(Clone, Debug)]
pub struct TenantData {
    pub index: usize,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub domain: String,
    pub display_name: String,
    pub users: Vec<SimUser>,
    pub workloads: Vec<SimWorkload>,
    pub groups: Vec<(String, String)>,
    pub spec: TenantSpec,
    pub rates: StreamRates,
    pub retention: Duration,
}

#[derive(Clone, Debug)]
pub struct SimUser {
    pub id: String,
    pub display_name: String,
    pub user_principal_name: String,
    pub guest_home_tenant: Option<String>,
    pub home_location: usize,
    pub platform: usize,
}

/// A service principal or managed identity of the tenant.
#[derive(Clone, Debug)]
pub struct SimWorkload {
    pub app_id: String,
    pub service_principal_id: String,
    pub name: String,
    pub credential_key_id: String,
    pub thumbprint: String,
    pub resource_id: String,
}

impl TenantData {
    pub fn generate(config: &SimConfig, index: usize) -> TenantData {
        let seed = config.seed;
        let spec = config.tenant_spec(index);
        let index_u64 = index as u64;
        let tenant_id = spec
            .tenant_id
            .clone()
            .unwrap_or_else(|| guid_for(&[seed, PATH_TENANT, index_u64]));
        let client_id = spec
            .client_id
            .clone()
            .unwrap_or_else(|| guid_for(&[seed, PATH_CLIENT, index_u64]));
        let client_secret = spec
            .client_secret
            .clone()
            .unwrap_or_else(|| client_secret_for(seed, index_u64));
        let base_name = pools::TENANT_NAMES[index % pools::TENANT_NAMES.len()];
        let round = index / pools::TENANT_NAMES.len();
        let short_name = if round == 0 {
            base_name.to_owned()
        } else {
            format!("{base_name}{round}")
        };
        let domain = format!("{short_name}.onmicrosoft.com");
        let display_name = {
            let mut characters = short_name.chars();
            match characters.next() {
                Some(first) => format!("{}{} Ltd", first.to_uppercase(), characters.as_str()),
                None => short_name.clone(),
            }
        };
        let users = (0..config.users_per_tenant.max(1))
            .map(|user_index| generate_user(seed, index_u64, user_index as u64, &domain))
            .collect();
        let workloads = (0..pools::WORKLOAD_NAMES.len())
            .map(|workload_index| generate_workload(seed, index_u64, workload_index))
            .collect();
        let groups = pools::GROUP_NAMES
            .iter()
            .enumerate()
            .map(|(group_index, name)| {
                (
                    guid_for(&[seed, PATH_GROUP, index_u64, group_index as u64]),
                    (*name).to_owned(),
                )
            })
            .collect();
        let rates = spec.rates.clone().unwrap_or_else(|| config.rates.clone());
        let retention = spec.retention.unwrap_or(config.retention);
        TenantData {
            index,
            tenant_id,
            client_id,
            client_secret,
            domain,
            display_name,
            users,
            workloads,
            groups,
            spec,
            rates,
            retention,
        }
    }
}

/// A secret in the shape Entra issues (40 characters with a `~` at position 4).
fn client_secret_for(seed: u64, index: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    let mut rng = SimRng::new(&[seed, PATH_SECRET, index]);
    let mut secret: String = (0..40).map(|_| char::from(*rng.pick(ALPHABET))).collect();
    secret.replace_range(3..4, "~");
    secret
}

fn generate_user(seed: u64, tenant_index: u64, user_index: u64, domain: &str) -> SimUser {
    let mut rng = SimRng::new(&[seed, PATH_USER, tenant_index, user_index]);
    let id = rng.guid();
    let is_guest = rng.chance(0.08);
    let has_non_ascii_name = rng.chance(0.05);
    let first = *rng.pick(pools::FIRST_NAMES);
    let last = *rng.pick(pools::LAST_NAMES);
    let display_name = if has_non_ascii_name {
        (*rng.pick(pools::NON_ASCII_NAMES)).to_owned()
    } else {
        format!("{first} {last}")
    };
    let local_part = format!(
        "{}.{}{}",
        first.to_lowercase(),
        last.to_lowercase(),
        user_index
    );
    let (user_principal_name, guest_home_tenant) = if is_guest {
        let partner = *rng.pick(pools::TENANT_NAMES);
        (
            format!("{local_part}_{partner}.com#EXT#@{domain}"),
            Some(rng.guid()),
        )
    } else {
        (format!("{local_part}@{domain}"), None)
    };
    SimUser {
        id,
        display_name,
        user_principal_name,
        guest_home_tenant,
        home_location: rng.index(pools::LOCATIONS.len()),
        platform: rng.index(pools::DEVICE_PLATFORMS.len()),
    }
}

fn generate_workload(seed: u64, tenant_index: u64, workload_index: usize) -> SimWorkload {
    let mut rng = SimRng::new(&[seed, PATH_WORKLOAD, tenant_index, workload_index as u64]);
    let name = pools::WORKLOAD_NAMES[workload_index].to_owned();
    let region = *rng.pick(pools::AZURE_REGIONS);
    let subscription = rng.guid();
    let thumbprint: String = (0..20).map(|_| format!("{:02X}", rng.below(256))).collect();
    SimWorkload {
        app_id: rng.guid(),
        service_principal_id: rng.guid(),
        credential_key_id: rng.guid(),
        thumbprint,
        resource_id: format!(
            "/subscriptions/{subscription}/resourceGroups/rg-{region}/providers/Microsoft.Compute/virtualMachines/{name}"
        ),
        name,
    }
}

/// A quirk of a record, as seen in the wild: the mapper must take every one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quirk {
    /// Objects that are sometimes `null`, sometimes `{}`.
    NullOrEmptyObjects,
    /// Enum-like strings outside their documented sets.
    UnknownEnumValues,
    /// Properties Graph added after this simulator was written.
    UnknownProperties,
    /// Non-ASCII text in names and reasons.
    NonAsciiText,
    /// A sign-in evaluated against 150+ Conditional Access policies.
    ManyPolicies,
    /// A key repeated inside one object.
    RepeatedKey,
}

const QUIRKS: [Quirk; 6] = [
    Quirk::NullOrEmptyObjects,
    Quirk::UnknownEnumValues,
    Quirk::UnknownProperties,
    Quirk::NonAsciiText,
    Quirk::ManyPolicies,
    Quirk::RepeatedKey,
];

/// What identifies a record and decides when Graph shows it; the full JSON is rendered from it.
#[derive(Clone, Debug)]
pub struct RecordMeta {
    pub stream: StreamKind,
    pub minute: i64,
    pub event: Timestamp,
    pub visible: Timestamp,
    /// Tie-breaker in serving order, random.
    pub order_key: u64,
    pub id: String,
    /// Seed of the record's content.
    pub seed: u64,
    pub quirk: Option<Quirk>,
}

/// Generates the records of one tenant, stream and minute (minute = Unix minutes).
pub fn minute_records(
    config: &SimConfig,
    tenant: &TenantData,
    stream: StreamKind,
    minute: i64,
) -> Vec<RecordMeta> {
    let minute_start = minute * MINUTE_MILLIS;
    if let Some(end) = config.data_end
        && minute_start >= end.as_millis()
    {
        return Vec::new();
    }
    let stream_index = StreamKind::ALL
        .iter()
        .position(|kind| *kind == stream)
        .unwrap_or(0) as u64;
    let path = [
        config.seed,
        PATH_RECORDS,
        tenant.index as u64,
        stream_index,
        minute as u64,
    ];
    let mut count_rng = SimRng::new(&path);
    let count = count_rng.poisson(tenant.rates.get(stream));
    let latency = config.latency.get(stream);
    let mut records = Vec::with_capacity(count as usize);
    for record_index in 0..count {
        let record_seed = hash_path(&[path[0], path[1], path[2], path[3], path[4], record_index]);
        let mut rng = SimRng::new(&[record_seed]);
        let mut offset_millis = rng.below(MINUTE_MILLIS as u64) as i64;
        if stream == StreamKind::Provisioning {
            // provisioning events carry whole seconds
            offset_millis -= offset_millis % 1000;
        }
        let event = Timestamp::from_millis(minute_start + offset_millis);
        if config.data_end.is_some_and(|end| event >= end) {
            continue;
        }
        let visible = event.saturating_add(draw_latency(&mut rng, latency));
        let order_key = rng.next_u64();
        let id = record_id(stream, &mut rng);
        let quirk = if rng.chance(config.quirk_rate) {
            Some(*rng.pick(&QUIRKS))
        } else {
            None
        };
        records.push(RecordMeta {
            stream,
            minute,
            event,
            visible,
            order_key,
            id,
            seed: record_seed,
            quirk,
        });
    }
    records
}

fn draw_latency(rng: &mut SimRng, latency: Latency) -> Duration {
    let median = latency.median.as_secs_f64();
    if median <= 0.0 {
        return Duration::ZERO;
    }
    let p99 = latency.p99.as_secs_f64().max(median);
    // log-normal: ln(latency) ~ N(ln(median), sigma), with the 99th percentile at z = 2.326
    let sigma = (p99 / median).ln() / 2.326;
    let seconds = (median.ln() + sigma * rng.normal()).exp();
    Duration::from_secs_f64(seconds.min(latency.max.as_secs_f64()).max(0.0))
}

fn record_id(stream: StreamKind, rng: &mut SimRng) -> String {
    match stream {
        StreamKind::DirectoryAudits => {
            const PREFIXES: &[(&str, u32)] = &[
                ("Directory", 80),
                ("IPCGraph", 6),
                ("SSGM", 6),
                ("B2C", 2),
                ("Sync", 6),
            ];
            let prefix = *rng.weighted(PREFIXES);
            let guid = rng.guid();
            let suffix: String = (0..5)
                .map(|_| char::from(b'A' + rng.below(26) as u8))
                .collect();
            format!("{prefix}_{guid}_{suffix}_{}", rng.below(1_000_000_000))
        }
        _ => rng.guid(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_a_pure_function_of_the_seed() {
        let config = SimConfig::default();
        let tenant = TenantData::generate(&config, 0);
        let first = minute_records(&config, &tenant, StreamKind::SignInsInteractive, 29_000_000);
        let again = minute_records(&config, &tenant, StreamKind::SignInsInteractive, 29_000_000);
        let ids: Vec<&str> = first.iter().map(|record| record.id.as_str()).collect();
        let ids_again: Vec<&str> = again.iter().map(|record| record.id.as_str()).collect();
        assert_eq!(ids, ids_again);
        assert!(!ids.is_empty());
        let other_seed = SimConfig {
            seed: 7,
            ..SimConfig::default()
        };
        let other_tenant = TenantData::generate(&other_seed, 0);
        assert_ne!(other_tenant.tenant_id, tenant.tenant_id);
        let other = minute_records(
            &other_seed,
            &other_tenant,
            StreamKind::SignInsInteractive,
            29_000_000,
        );
        assert_ne!(
            other.first().map(|record| &record.id),
            first.first().map(|record| &record.id)
        );
    }

    #[test]
    fn event_times_fall_in_their_minute_and_latency_respects_its_bounds() {
        let config = SimConfig::default();
        let tenant = TenantData::generate(&config, 1);
        let latency = config.latency.get(StreamKind::SignInsNonInteractive);
        let mut latencies = Vec::new();
        for minute in 29_000_000..29_000_030 {
            for record in
                minute_records(&config, &tenant, StreamKind::SignInsNonInteractive, minute)
            {
                assert_eq!(record.event.as_millis().div_euclid(MINUTE_MILLIS), minute);
                let delay = record.visible.duration_since(record.event);
                assert!(delay <= latency.max);
                latencies.push(delay);
            }
        }
        latencies.sort();
        let median = latencies[latencies.len() / 2];
        // 12 minutes configured; a few thousand draws land close to it
        assert!(
            median > Duration::from_secs(9 * 60) && median < Duration::from_secs(15 * 60),
            "{median:?}"
        );
    }

    #[test]
    fn secrets_look_like_entra_secrets() {
        let tenant = TenantData::generate(&SimConfig::default(), 3);
        assert_eq!(tenant.client_secret.len(), 40);
        assert_eq!(&tenant.client_secret[3..4], "~");
        assert_eq!(tenant.domain, "adatum.onmicrosoft.com");
    }
}
