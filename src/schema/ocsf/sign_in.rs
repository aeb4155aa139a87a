//! `signIn` → OCSF Authentication (3002), activity Logon: a failed sign-in is a Logon with
//! `status_id` Failure (never a Logoff), the protocol comes from `authenticationProtocol` (never a
//! hard-coded Kerberos), the state goes to `region` (never to the country).

use super::{
    Coverage, RecordIds, domain_of, key_names, sign_in_feature, write_cloud, write_metadata_of,
    write_severity, write_status, write_time_of, write_unmapped_keyed,
};
use crate::graph::keys::{KeyTable, Keyed};
use crate::graph::record::Record;
use crate::schema::json::ObjectWriter;
use crate::schema::values;
use crate::schema::{MapContext, MapError};
use crate::stream::StreamKind;

/// Graph properties with an OCSF home (or, for objects, the parts that have one).
pub(super) const COVERED: &[(&str, Coverage)] = &[
    ("appDisplayName", Coverage::Full),
    ("appId", Coverage::Full),
    ("authenticationProtocol", Coverage::Full),
    ("authenticationRequirement", Coverage::Full),
    ("autonomousSystemNumber", Coverage::Full),
    ("correlationId", Coverage::Full),
    ("createdDateTime", Coverage::Full),
    (
        "deviceDetail",
        Coverage::Except(&[
            "deviceId",
            "displayName",
            "operatingSystem",
            "isCompliant",
            "isManaged",
        ]),
    ),
    ("homeTenantId", Coverage::Full),
    ("homeTenantName", Coverage::Full),
    ("id", Coverage::Full),
    ("ipAddress", Coverage::Full),
    ("isInteractive", Coverage::Full),
    (
        "location",
        Coverage::Except(&["city", "state", "countryOrRegion", "geoCoordinates"]),
    ),
    ("originalRequestId", Coverage::Full),
    ("resourceDisplayName", Coverage::Full),
    ("resourceId", Coverage::Full),
    ("riskLevelAggregated", Coverage::Full),
    ("servicePrincipalId", Coverage::Full),
    ("servicePrincipalName", Coverage::Full),
    ("sessionId", Coverage::Full),
    ("signInEventTypes", Coverage::Full),
    ("status", Coverage::Full),
    ("tokenIssuerName", Coverage::Full),
    ("userAgent", Coverage::Full),
    ("userDisplayName", Coverage::Full),
    ("userId", Coverage::Full),
    ("userPrincipalName", Coverage::Full),
    ("userType", Coverage::Full),
];

/// The class header, the same for every sign-in: what `ClassHeader` writes for Authentication:
/// Logon (a test holds the two equal).
const HEADER: &str = concat!(
    r#""category_uid":3,"category_name":"Identity & Access Management","#,
    r#""class_uid":3002,"class_name":"Authentication","activity_id":1,"#,
    r#""activity_name":"Logon","type_uid":300201,"type_name":"Authentication: Logon""#
);

/// What the mapping reads besides `COVERED`.
const ALSO_READ: [&str; 2] = ["riskLevelDuringSignIn", "authenticationDetails"];
const KEY_COUNT: usize = COVERED.len() + ALSO_READ.len();
/// Every property the mapping reads, found in one pass over the record.
const KEYS: KeyTable<KEY_COUNT> = KeyTable::new(key_names(COVERED, &ALSO_READ));

/// The index of a property name in `KEYS`, found at compile time (an unknown name does not
/// compile).
macro_rules! key {
    ($name:literal) => {
        const { KEYS.index($name) }
    };
}

pub fn map(record: &Record, context: &MapContext, out: &mut Vec<u8>) -> Result<(), MapError> {
    let record = record.keyed(&KEYS);
    let is_workload = matches!(
        context.stream,
        StreamKind::SignInsServicePrincipal | StreamKind::SignInsManagedIdentity
    );
    let user_id = record.non_empty(key!("userId"));
    let user_principal_name = record.non_empty(key!("userPrincipalName"));
    let service_principal_id = record.non_empty(key!("servicePrincipalId"));
    let service_principal_name = record.non_empty(key!("servicePrincipalName"));
    let has_user = if is_workload {
        service_principal_id.is_some()
            || service_principal_name.is_some()
            || record.non_empty(key!("appId")).is_some()
    } else {
        user_id.is_some() || user_principal_name.is_some()
    };
    if !has_user {
        return Err(MapError::new(
            "the sign-in names no user or service principal (userId, userPrincipalName, servicePrincipalId)",
        ));
    }

    // small nested objects: the few properties read, from what the record's scan found
    let status = record.pick(
        key!("status"),
        ["errorCode", "failureReason", "additionalDetails"],
    );
    let location = record.pick(
        key!("location"),
        ["city", "state", "countryOrRegion", "geoCoordinates"],
    );
    let device = record.pick(
        key!("deviceDetail"),
        [
            "deviceId",
            "displayName",
            "operatingSystem",
            "isCompliant",
            "isManaged",
        ],
    );
    let error_code = status
        .and_then(|[code, _, _]| code)
        .and_then(values::integer);
    let (status_id, outcome_word) = match error_code {
        Some(0) => (1, "succeeded"),
        Some(_) => (2, "failed"),
        None => (0, "ended"),
    };
    let aggregated_risk = record.non_empty(key!("riskLevelAggregated"));
    let sign_in_risk = record.non_empty(key!("riskLevelDuringSignIn"));
    let (severity_id, severity_caption) =
        severity(aggregated_risk.as_deref(), sign_in_risk.as_deref());
    // the user's risk is the aggregated level; the sign-in's own stands in only when Graph sent none
    let user_risk = aggregated_risk.as_deref().or(sign_in_risk.as_deref());

    ObjectWriter::write(out, |event| {
        event.constant(HEADER);
        let time = record.text(key!("createdDateTime"));
        write_time_of(event, time.as_deref());
        write_severity(event, severity_id, severity_caption);
        write_status(event, status_id, None);
        if let Some(code) = error_code {
            event.int_string("status_code", code);
        }
        if let Some([_, reason, details]) = status {
            let reason = values::non_empty(reason)
                .filter(|reason| error_code != Some(0) || reason != "Other.");
            let details = values::non_empty(details);
            match (reason, details) {
                (Some(reason), Some(details)) => {
                    event.string_parts("status_detail", &[&reason, " (", &details, ")"])
                }
                (Some(only), None) | (None, Some(only)) => event.string("status_detail", &only),
                (None, None) => {}
            }
        }

        let who = if is_workload {
            service_principal_name
                .clone()
                .or_else(|| record.non_empty(key!("appDisplayName")))
                .or_else(|| service_principal_id.clone())
        } else {
            user_principal_name.clone().or_else(|| user_id.clone())
        };
        let target = record
            .non_empty(key!("resourceDisplayName"))
            .or_else(|| record.non_empty(key!("resourceId")));
        event.string_parts(
            "message",
            &[
                "sign-in by ",
                who.as_deref().unwrap_or("unknown"),
                " to ",
                target.as_deref().unwrap_or("an unknown resource"),
                " ",
                outcome_word,
            ],
        );

        event.object("user", |user| {
            if is_workload {
                user.text(
                    "uid",
                    service_principal_id
                        .as_deref()
                        .or(record.non_empty(key!("appId")).as_deref()),
                );
                user.text(
                    "name",
                    service_principal_name
                        .as_deref()
                        .or(record.non_empty(key!("appDisplayName")).as_deref()),
                );
                user.constant(if context.stream == StreamKind::SignInsManagedIdentity {
                    r#""type_id":4,"type":"Managed Identity""#
                } else {
                    r#""type_id":4,"type":"Service Principal""#
                });
            } else {
                user.text("uid", user_id.as_deref());
                user.text("name", user_principal_name.as_deref());
                user.graph_text("display_name", record.graph_text(key!("userDisplayName")));
                user.text("domain", user_principal_name.as_deref().and_then(domain_of));
                match record.non_empty(key!("userType")).as_deref() {
                    Some("guest") => user.constant(r#""type_id":99,"type":"Guest""#),
                    Some("member") | None => user.constant(r#""type_id":1,"type":"User""#),
                    Some(other) => {
                        user.int("type_id", 99);
                        user.string("type", other);
                    }
                }
                match user_risk.map(RiskLevel::of) {
                    // a level hidden from this caller is no level: nothing to say
                    None | Some(RiskLevel::Hidden) => {}
                    Some(RiskLevel::None) => {
                        user.constant(r#""risk_level_id":0,"risk_level":"Info""#)
                    }
                    Some(RiskLevel::Low) => {
                        user.constant(r#""risk_level_id":1,"risk_level":"Low""#)
                    }
                    Some(RiskLevel::Medium) => {
                        user.constant(r#""risk_level_id":2,"risk_level":"Medium""#)
                    }
                    Some(RiskLevel::High) => {
                        user.constant(r#""risk_level_id":3,"risk_level":"High""#)
                    }
                    Some(RiskLevel::Other(original)) => {
                        user.int("risk_level_id", 99);
                        user.string("risk_level", original);
                    }
                }
            }
            let home_tenant = record.graph_text(key!("homeTenantId"));
            let home_tenant_name = record.graph_text(key!("homeTenantName"));
            if home_tenant.is_some() || home_tenant_name.is_some() {
                user.object("account", |account| {
                    account.constant(r#""type_id":6,"type":"Azure AD Account""#);
                    account.graph_text("uid", home_tenant);
                    account.graph_text("name", home_tenant_name);
                });
            }
        });

        event.object("actor", |actor| {
            actor.graph_text("app_uid", record.graph_text(key!("appId")));
            actor.graph_text("app_name", record.graph_text(key!("appDisplayName")));
        });

        event.object("service", |service| {
            service.graph_text("uid", record.graph_text(key!("resourceId")));
            service.graph_text("name", record.graph_text(key!("resourceDisplayName")));
            if service.fields() == 0 {
                // OCSF requires a service or a destination; Graph did not say which resource
                service.string("name", "Unknown");
            }
        });

        let mut uncovered: Vec<&str> = Vec::new();
        if aggregated_risk.as_deref() == Some("hidden") {
            // written nowhere (a hidden level is no level), so kept as Graph sent it
            uncovered.push("riskLevelAggregated");
        }
        if !write_src_endpoint(event, &record, location) {
            uncovered.extend(["location", "autonomousSystemNumber"]);
        }
        let device_written = write_device(event, device);
        if !device_written {
            uncovered.push("deviceDetail");
        }

        event.object("http_request", |request| {
            request.graph_text("user_agent", record.graph_text(key!("userAgent")));
            request.graph_text("uid", record.graph_text(key!("originalRequestId")));
        });

        if let Some(protocol) = record.non_empty(key!("authenticationProtocol")) {
            let (protocol_id, caption) = match protocol.as_ref() {
                "none" => (0, "Unknown"),
                "oAuth2" | "ropc" | "deviceCode" => (6, "OAUTH 2.0"),
                "saml20" => (5, "SAML"),
                "wsFederation" => (99, "WS-Federation"),
                other => (99, other),
            };
            event.int("auth_protocol_id", protocol_id);
            event.string("auth_protocol", caption);
        }
        match record
            .non_empty(key!("authenticationRequirement"))
            .as_deref()
        {
            Some("multiFactorAuthentication") => event.boolean("is_mfa", true),
            Some("singleFactorAuthentication") => event.boolean("is_mfa", false),
            _ => {}
        }
        write_auth_factors(event, record.get(key!("authenticationDetails")));

        event.constant(match context.stream {
            StreamKind::SignInsInteractive => {
                r#""logon_type_id":2,"logon_type":"Interactive","is_remote":true"#
            }
            StreamKind::SignInsNonInteractive => {
                r#""logon_type_id":99,"logon_type":"Non-interactive","is_remote":true"#
            }
            StreamKind::SignInsServicePrincipal => {
                r#""logon_type_id":99,"logon_type":"Service principal","is_remote":true"#
            }
            _ => r#""logon_type_id":99,"logon_type":"Managed identity","is_remote":true"#,
        });

        event.object("session", |session| {
            session.graph_text("uid", record.graph_text(key!("sessionId")));
            session.graph_text("issuer", record.graph_text(key!("tokenIssuerName")));
        });

        let ids = RecordIds {
            id: record.text(key!("id")),
            correlation_id: record.text(key!("correlationId")),
            time,
        };
        write_metadata_of(
            event,
            &ids,
            context,
            sign_in_feature(context.stream),
            Some("Sign-in activity"),
            device_written,
        );
        write_cloud(event, context);
        write_unmapped_keyed(event, &record, COVERED, &uncovered, |_| {});
    });
    Ok(())
}

/// A Graph `riskLevel` value (`riskLevelAggregated`, `riskLevelDuringSignIn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RiskLevel<'a> {
    None,
    /// The caller may not see it (no Entra ID P2, or the user or sign-in not covered).
    Hidden,
    Low,
    Medium,
    High,
    /// Outside Graph's documented set (`unknownFutureValue`, a value added later).
    Other(&'a str),
}

impl<'a> RiskLevel<'a> {
    fn of(value: &'a str) -> RiskLevel<'a> {
        match value {
            "none" => RiskLevel::None,
            "hidden" => RiskLevel::Hidden,
            "low" => RiskLevel::Low,
            "medium" => RiskLevel::Medium,
            "high" => RiskLevel::High,
            other => RiskLevel::Other(other),
        }
    }

    /// The OCSF `severity_id` of a known level: none and hidden are Informational.
    fn severity_id(self) -> Option<i64> {
        match self {
            RiskLevel::None | RiskLevel::Hidden => Some(1),
            RiskLevel::Low => Some(2),
            RiskLevel::Medium => Some(3),
            RiskLevel::High => Some(4),
            RiskLevel::Other(_) => None,
        }
    }
}

/// `severity_id` and, for Other (99), the original value: the higher of the aggregated risk and
/// the sign-in's own risk (a sign-in risky by itself is not Informational because the aggregate
/// says none). A value outside Graph's set is Other unless the other level is above Informational.
fn severity<'a>(
    aggregated: Option<&'a str>,
    during_sign_in: Option<&'a str>,
) -> (i64, Option<&'a str>) {
    let levels = [aggregated, during_sign_in].map(|level| level.map(RiskLevel::of));
    let highest_known = levels
        .iter()
        .flatten()
        .filter_map(|level| level.severity_id())
        .max();
    let unknown = levels.iter().flatten().find_map(|level| match level {
        RiskLevel::Other(original) => Some(*original),
        _ => None,
    });
    match (highest_known, unknown) {
        (Some(severity_id), _) if severity_id > 1 => (severity_id, None),
        (_, Some(original)) => (99, Some(original)),
        (known, None) => (known.unwrap_or(1), None),
    }
}

/// Writes `src_endpoint`; returns whether the location and AS number found a home there.
fn write_src_endpoint(
    event: &mut ObjectWriter,
    record: &Keyed<'_, '_, KEY_COUNT>,
    location: Option<[Option<&str>; 4]>,
) -> bool {
    let Some(ip) = record.graph_text(key!("ipAddress")) else {
        // without an address there is no endpoint; location and AS number stay in unmapped
        return false;
    };
    let mut location_written = location.is_none();
    event.object("src_endpoint", |endpoint| {
        endpoint.graph_text("ip", Some(ip));
        if let Some([city, state, country, coordinates]) = location {
            endpoint.object("location", |geo| {
                geo.graph_text("city", values::graph_text(city));
                geo.graph_text("region", values::graph_text(state));
                geo.graph_text("country", values::graph_text(country));
                if geo.fields() == 0 {
                    // OCSF needs one of city, country, region for a location
                    return;
                }
                location_written = true;
                if let Some([Some(latitude), Some(longitude)]) =
                    coordinates.and_then(|raw| values::pick(raw, ["latitude", "longitude"]))
                    && let (Some(latitude), Some(longitude)) =
                        (values::float_text(latitude), values::float_text(longitude))
                {
                    geo.float_text("lat", latitude);
                    geo.float_text("long", longitude);
                }
            });
        }
        if let Some(number) = record
            .integer(key!("autonomousSystemNumber"))
            .filter(|number| *number > 0)
        {
            endpoint.object("autonomous_system", |system| system.int("number", number));
        }
    });
    location_written
}

/// Writes `device` from `deviceDetail`; returns whether it found a home there.
fn write_device(event: &mut ObjectWriter, device: Option<[Option<&str>; 5]>) -> bool {
    let Some([device_id, device_name, system, is_compliant, is_managed]) = device else {
        return false;
    };
    let device_id = values::non_empty(device_id);
    let device_name = values::non_empty(device_name);
    if device_id.is_none() && device_name.is_none() {
        // OCSF needs an identifier for a device; deviceDetail stays whole in unmapped
        return false;
    }
    event.object("device", |ocsf_device| {
        ocsf_device.text("uid", device_id.as_deref());
        ocsf_device.text("name", device_name.as_deref());
        ocsf_device.constant(r#""type_id":0,"type":"Unknown""#);
        ocsf_device.opt_boolean("is_compliant", is_compliant.and_then(values::boolean));
        ocsf_device.opt_boolean("is_managed", is_managed.and_then(values::boolean));
        if let Some(system) = values::non_empty(system) {
            ocsf_device.object("os", |os| {
                os.string("name", &system);
                os.int("type_id", os_type_id(&system));
            });
        }
    });
    true
}

/// `device.os.type_id` from the operating system's name.
fn os_type_id(system: &str) -> i64 {
    use crate::schema::values::starts_with_lowercase as starts;
    if starts(system, "windows") {
        100
    } else if starts(system, "android") {
        201
    } else if starts(system, "ipados") {
        302
    } else if starts(system, "ios") {
        301
    } else if starts(system, "macos") || starts(system, "mac os") {
        300
    } else if starts(system, "linux") {
        200
    } else {
        99
    }
}

/// The OCSF factor type of an `authenticationMethod`; `None` for "Previously satisfied" (no
/// factor was presented). Graph's own names are matched exactly first; other spellings by the
/// words they contain, and anything else is Other with the method's name.
fn auth_factor(method: &str) -> Option<(i64, &str)> {
    match method {
        "Previously satisfied" => None,
        "Password" => Some((11, "Password")),
        "Text message" => Some((1, "SMS")),
        "Mobile app notification" => Some((5, "Push Notification")),
        "OATH verification code" => Some((7, "OTP")),
        "FIDO2 security key" => Some((10, "WebAuthn")),
        "Windows Hello for Business" => Some((4, "Biometric")),
        "Email" => Some((8, "Email")),
        _ => auth_factor_by_words(method),
    }
}

/// The words that name each factor type, tried in this order: the first match wins.
const FACTOR_WORDS: &[(&[&str], i64, &str)] = &[
    (&["password"], 11, "Password"),
    (&["text message", "sms"], 1, "SMS"),
    (&["phone call", "voice"], 3, "Phone Call"),
    (&["notification", "push"], 5, "Push Notification"),
    (&["verification code", "oath", "otp"], 7, "OTP"),
    (&["fido2", "passkey", "security key"], 10, "WebAuthn"),
    (&["windows hello", "biometric"], 4, "Biometric"),
    (&["email"], 8, "Email"),
];

fn auth_factor_by_words(method: &str) -> Option<(i64, &str)> {
    let lower = method.to_ascii_lowercase();
    if lower == "previously satisfied" {
        return None;
    }
    let by_words = FACTOR_WORDS
        .iter()
        .find(|(words, _, _)| words.iter().any(|word| lower.contains(word)))
        .map(|(_, type_id, caption)| (*type_id, *caption));
    Some(by_words.unwrap_or((99, method)))
}

/// `auth_factors` from the beta `authenticationDetails` steps; "Previously satisfied" is skipped.
fn write_auth_factors(event: &mut ObjectWriter, steps: Option<&str>) {
    let Some(steps) = steps else {
        return;
    };
    // each factor once: the known types by a bit of their id, other methods by name
    let mut seen_types = 0u128;
    let mut seen_others: Vec<String> = Vec::new();
    event.array("auth_factors", |factors| {
        // two properties of each step, read in one pass over the list
        values::pick_each(
            steps,
            ["authenticationMethod", "authenticationMethodDetail"],
            |[method, provider]| {
                let Some(method) = method
                    .and_then(values::string)
                    .filter(|method| !values::is_blank(method))
                else {
                    return;
                };
                let Some((factor_type_id, caption)) = auth_factor(&method) else {
                    return;
                };
                if factor_type_id == 99 {
                    if seen_others.iter().any(|other| other == caption) {
                        return;
                    }
                    seen_others.push(caption.to_owned());
                } else {
                    let bit = 1u128 << (factor_type_id & 127);
                    if seen_types & bit != 0 {
                        return;
                    }
                    seen_types |= bit;
                }
                let provider = provider.and_then(values::string);
                factors.object(|factor| {
                    factor.int("factor_type_id", factor_type_id);
                    factor.string("factor_type", caption);
                    factor.text(
                        "provider",
                        provider
                            .as_deref()
                            .filter(|provider| !values::is_blank(provider)),
                    );
                });
            },
        );
    });
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{HEADER, auth_factor, auth_factor_by_words, severity, write_auth_factors};
    use crate::graph::record::Record;
    use crate::schema::json::ObjectWriter;
    use crate::schema::ocsf::{CATEGORY_IAM, ClassHeader};

    #[test]
    fn the_constant_header_is_the_class_header_of_a_logon() {
        let mut out = Vec::new();
        ObjectWriter::write(&mut out, |event| {
            ClassHeader {
                category_uid: CATEGORY_IAM,
                category_name: "Identity & Access Management",
                class_uid: 3002,
                class_name: "Authentication",
                activity_id: 1,
                activity_name: Cow::Borrowed("Logon"),
            }
            .write(event)
        });
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            format!("{{{HEADER}}}")
        );
    }

    /// Each factor once (known types by type, other methods by name), steps with escaped keys
    /// read like the others, "Previously satisfied" and steps without a method skipped.
    #[test]
    fn auth_factors_are_listed_once_each_whatever_the_steps_look_like() {
        let text = r#"{"authenticationDetails":[
            {"authenticationMethod":"Password","authenticationMethodDetail":"Password Hash Sync"},
            {"authentication\u004dethod":"Text message","authenticationMethodDetail":" "},
            {"authenticationMethod":"Previously satisfied"},
            {"authenticationMethod":"Password"},
            {"authenticationMethod":"Carrier pigeon","authenticationMethodDetail":"coo"},
            {"authenticationMethod":"Carrier pigeon"},
            {"authenticationMethod":"Smoke signal"},
            {"authenticationMethodDetail":"no method"},
            {},
            "not an object",
            {"authenticationMethod":"SMS code","authenticationMethod":"Email"}
        ]}"#;
        let record = Record::parse(text).expect("record");
        let mut out = Vec::new();
        ObjectWriter::write(&mut out, |event| {
            write_auth_factors(event, record.get("authenticationDetails"))
        });
        let written: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(
            written,
            serde_json::json!({"auth_factors": [
                {"factor_type_id": 11, "factor_type": "Password", "provider": "Password Hash Sync"},
                {"factor_type_id": 1, "factor_type": "SMS"},
                {"factor_type_id": 99, "factor_type": "Carrier pigeon", "provider": "coo"},
                {"factor_type_id": 99, "factor_type": "Smoke signal"},
                {"factor_type_id": 8, "factor_type": "Email"},
            ]})
        );
    }

    /// Severity is the higher of the two risk levels; a value Graph does not document is Other
    /// (99) with its text, unless the other level is above Informational.
    #[test]
    fn severity_is_the_higher_of_the_aggregated_and_the_sign_in_risk() {
        let cases = [
            ((None, None), (1, None)),
            ((Some("none"), Some("none")), (1, None)),
            ((Some("hidden"), Some("hidden")), (1, None)),
            ((Some("none"), Some("high")), (4, None)),
            ((Some("hidden"), Some("medium")), (3, None)),
            ((Some("low"), Some("medium")), (3, None)),
            ((Some("high"), Some("low")), (4, None)),
            ((Some("medium"), None), (3, None)),
            ((None, Some("low")), (2, None)),
            ((Some("veryHigh"), Some("hidden")), (99, Some("veryHigh"))),
            (
                (Some("none"), Some("unknownFutureValue")),
                (99, Some("unknownFutureValue")),
            ),
            ((Some("unknownFutureValue"), Some("high")), (4, None)),
        ];
        for ((aggregated, during), expected) in cases {
            assert_eq!(
                severity(aggregated, during),
                expected,
                "{aggregated:?} {during:?}"
            );
        }
    }

    /// The exact names are a shortcut: each maps as its words would.
    #[test]
    fn graph_method_names_map_as_their_words_do() {
        for method in [
            "Previously satisfied",
            "Password",
            "Text message",
            "Mobile app notification",
            "OATH verification code",
            "FIDO2 security key",
            "Windows Hello for Business",
            "Email",
        ] {
            assert_eq!(
                auth_factor(method),
                auth_factor_by_words(method),
                "{method}"
            );
        }
        assert_eq!(
            auth_factor("Phone call approval (Authentication phone)"),
            Some((3, "Phone Call"))
        );
        assert_eq!(auth_factor("Email OTP"), Some((7, "OTP")));
        assert_eq!(auth_factor("Carrier pigeon"), Some((99, "Carrier pigeon")));
    }
}
