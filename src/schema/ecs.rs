//! Elastic Common Schema (ECS 8.11): the field names Elastic's own `azure` integration uses
//! (`event.*`, `user.*`, `source.*` with geo, `user_agent.original`,
//! `azure.signinlogs.properties.*`, `azure.auditlogs.properties.*`), plus what that integration
//! lacks: `event.category`/`event.type` for IAM events, `user.target.*`, `group.*`,
//! `related.user`, `related.ip` — and without its quirks: the sign-in's state goes to
//! `source.geo.region_name` (not `country_name`), target resources stay an array (not a map keyed
//! "0", "1", …).
//!
//! Every Graph property is also kept under `azure.<log>.properties` with snake_case names (the
//! integration's convention, so its dashboards work), so nothing is lost.

use std::borrow::Cow;

use super::json::{ObjectWriter, needs_escaping, write_string};
use super::values::{self, Fields};
use super::{MapContext, MapError};
use crate::clock::Timestamp;
use crate::graph::record::Record;
use crate::graph::split::split_array;
use crate::stream::StreamKind;

pub const ECS_VERSION: &str = "8.11.0";

/// `camelCase` → `snake_case`, as the integration names properties (`riskLevelAggregated` →
/// `risk_level_aggregated`).
pub fn snake_case(name: &str) -> Cow<'_, str> {
    if !name.bytes().any(|byte| byte.is_ascii_uppercase()) {
        return Cow::Borrowed(name);
    }
    let mut snake = String::with_capacity(name.len() + 8);
    let mut previous_lower = false;
    for character in name.chars() {
        if character.is_ascii_uppercase() {
            if previous_lower {
                snake.push('_');
            }
            snake.push(character.to_ascii_lowercase());
            previous_lower = false;
        } else {
            snake.push(character);
            previous_lower = character.is_ascii_lowercase() || character.is_ascii_digit();
        }
    }
    Cow::Owned(snake)
}

/// Writes `name` in snake_case as a JSON string, straight into `out` (no string per key).
fn write_snake_key(out: &mut Vec<u8>, name: &str) {
    // a name is built in a stack buffer and copied once: at most 2 bytes out per byte in, plus
    // the quotes; longer names and names needing escapes take the general way
    const LONGEST: usize = 64;
    if name.len() > LONGEST || needs_escaping(name) {
        write_string(out, &snake_case(name));
        return;
    }
    let mut buffer = [0u8; 2 * LONGEST + 2];
    buffer[0] = b'"';
    let mut length = 1;
    // bytes, not chars: only ASCII letters change, and the bytes of a multi-byte character are
    // neither lower case nor digits, as the character is not
    let mut previous_lower = false;
    for byte in name.bytes() {
        if byte.is_ascii_uppercase() {
            if previous_lower {
                buffer[length] = b'_';
                length += 1;
            }
            buffer[length] = byte.to_ascii_lowercase();
            previous_lower = false;
        } else {
            buffer[length] = byte;
            previous_lower = byte.is_ascii_lowercase() || byte.is_ascii_digit();
        }
        length += 1;
    }
    buffer[length] = b'"';
    out.extend_from_slice(&buffer[..=length]);
}

/// Copies a raw JSON value with every object key in snake_case (repeated keys once, the last).
fn write_snake_json(out: &mut Vec<u8>, raw: &str) {
    if raw.starts_with('{')
        && let Ok(object) = Record::parse_validated(raw)
    {
        write_snake_object(out, object.distinct_fields());
        return;
    }
    // an array without a `{` anywhere (strings, numbers) has no keys to rename
    if raw.starts_with('[')
        && memchr::memchr(b'{', raw.as_bytes()).is_some()
        && let Some(items) = split_array(raw)
    {
        out.push(b'[');
        for (index, item) in items.into_iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_snake_json(out, item);
        }
        out.push(b']');
        return;
    }
    out.extend_from_slice(raw.as_bytes());
}

fn write_snake_object<'a>(out: &mut Vec<u8>, properties: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push(b'{');
    for (index, (key, value)) in properties.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_snake_key(out, key);
        out.push(b':');
        write_snake_json(out, value);
    }
    out.push(b'}');
}

fn write_timestamp(event: &mut ObjectWriter, record: &Record, time_field: &str) {
    if let Some(time) = record
        .text(time_field)
        .and_then(|text| Timestamp::parse_rfc3339(&text))
    {
        event.string("@timestamp", &time.to_rfc3339_millis());
    }
}

fn write_common(event: &mut ObjectWriter, context: &MapContext) {
    event.object("ecs", |ecs| ecs.string("version", ECS_VERSION));
    event.object("cloud", |cloud| {
        cloud.string("provider", "azure");
        cloud.object("account", |account| account.string("id", context.tenant_id));
    });
}

/// `related.user` and `related.ip`, each value once.
fn write_related(event: &mut ObjectWriter, users: &[Cow<str>], ips: &[Cow<str>]) {
    event.object("related", |related| {
        let mut seen: Vec<&str> = Vec::new();
        related.array("user", |array| {
            for user in users {
                if !user.is_empty() && !seen.contains(&user.as_ref()) {
                    seen.push(user);
                    array.string(user);
                }
            }
        });
        let mut seen_ips: Vec<&str> = Vec::new();
        related.array("ip", |array| {
            for ip in ips {
                if !ip.is_empty() && !seen_ips.contains(&ip.as_ref()) {
                    seen_ips.push(ip);
                    array.string(ip);
                }
            }
        });
    });
}

fn write_azure(
    event: &mut ObjectWriter,
    record: &Record,
    context: &MapContext,
    log: &str,
    category: &str,
) {
    event.object("azure", |azure| {
        azure.string("tenant_id", context.tenant_id);
        azure.text(
            "correlation_id",
            record.non_empty("correlationId").as_deref(),
        );
        azure.object(log, |log_object| {
            log_object.string("category", category);
            log_object.value_with("properties", |out| {
                write_snake_object(out, record.distinct_fields())
            });
        });
    });
}

pub fn map(record: &Record, context: &MapContext, out: &mut Vec<u8>) -> Result<(), MapError> {
    match context.stream {
        StreamKind::DirectoryAudits => map_audit(record, context, out),
        StreamKind::Provisioning => map_provisioning(record, context, out),
        _ => map_sign_in(record, context, out),
    }
}

fn sign_in_category(stream: StreamKind) -> &'static str {
    match stream {
        StreamKind::SignInsNonInteractive => "NonInteractiveUserSignInLogs",
        StreamKind::SignInsServicePrincipal => "ServicePrincipalSignInLogs",
        StreamKind::SignInsManagedIdentity => "ManagedIdentitySignInLogs",
        _ => "SignInLogs",
    }
}

fn map_sign_in(record: &Record, context: &MapContext, out: &mut Vec<u8>) -> Result<(), MapError> {
    let is_workload = matches!(
        context.stream,
        StreamKind::SignInsServicePrincipal | StreamKind::SignInsManagedIdentity
    );
    let user_name = if is_workload {
        record
            .non_empty("servicePrincipalName")
            .or_else(|| record.non_empty("appDisplayName"))
    } else {
        record.non_empty("userPrincipalName")
    };
    let user_id = if is_workload {
        record
            .non_empty("servicePrincipalId")
            .or_else(|| record.non_empty("appId"))
    } else {
        record.non_empty("userId")
    };
    if user_name.is_none() && user_id.is_none() {
        return Err(MapError::new(
            "the sign-in names no user or service principal (userId, userPrincipalName, servicePrincipalId)",
        ));
    }
    let status = record.object("status");
    let error_code = status
        .as_ref()
        .and_then(|status| status.integer("errorCode"));
    let ip = record.non_empty("ipAddress");
    ObjectWriter::write(out, |event| {
        write_timestamp(event, record, "createdDateTime");
        event.object("event", |ecs_event| {
            ecs_event.string("kind", "event");
            ecs_event.strings("category", ["authentication"]);
            ecs_event.strings("type", ["info"]);
            ecs_event.string("action", "Sign-in activity");
            ecs_event.string(
                "outcome",
                match error_code {
                    Some(0) => "success",
                    Some(_) => "failure",
                    None => "unknown",
                },
            );
            ecs_event.text("id", record.non_empty("id").as_deref());
            ecs_event.string("dataset", "azure.signinlogs");
            ecs_event.string("provider", "Microsoft Entra ID");
            ecs_event.string("created", &context.received_at.to_rfc3339_millis());
            if let Some(status) = &status
                && error_code.is_some_and(|code| code != 0)
            {
                ecs_event.text("reason", status.non_empty("failureReason").as_deref());
                if let Some(code) = error_code {
                    ecs_event.int_string("code", code);
                }
            }
        });
        let target = record
            .non_empty("resourceDisplayName")
            .or_else(|| record.non_empty("resourceId"));
        event.string_parts(
            "message",
            &[
                "sign-in by ",
                user_name
                    .as_deref()
                    .or(user_id.as_deref())
                    .unwrap_or("unknown"),
                " to ",
                target.as_deref().unwrap_or("an unknown resource"),
                ": ",
                match error_code {
                    Some(0) => "success",
                    Some(_) => "failure",
                    None => "unknown outcome",
                },
            ],
        );
        event.object("user", |user| {
            user.text("id", user_id.as_deref());
            user.text("name", user_name.as_deref());
            if !is_workload {
                user.text("full_name", record.non_empty("userDisplayName").as_deref());
                user.text(
                    "domain",
                    user_name
                        .as_deref()
                        .and_then(|name| name.rsplit_once('@'))
                        .map(|(_, domain)| domain),
                );
            }
        });
        if let Some(ip) = &ip {
            event.object("source", |source| {
                source.string("ip", ip);
                source.string("address", ip);
                if let Some(location) = record.object("location") {
                    source.object("geo", |geo| {
                        geo.text("city_name", location.non_empty("city").as_deref());
                        geo.text("region_name", location.non_empty("state").as_deref());
                        geo.text(
                            "country_iso_code",
                            location.non_empty("countryOrRegion").as_deref(),
                        );
                        if let Some(coordinates) = location.object("geoCoordinates")
                            && let (Some(lat), Some(lon)) = (
                                coordinates.number("latitude"),
                                coordinates.number("longitude"),
                            )
                        {
                            geo.object("location", |point| {
                                point.float("lat", lat);
                                point.float("lon", lon);
                            });
                        }
                    });
                }
                if let Some(number) = record
                    .integer("autonomousSystemNumber")
                    .filter(|number| *number > 0)
                {
                    source.object("as", |system| system.int("number", number));
                }
            });
        }
        event.object("user_agent", |agent| {
            agent.text("original", record.non_empty("userAgent").as_deref())
        });
        let related_users: Vec<Cow<str>> = [user_name.clone(), user_id.clone()]
            .into_iter()
            .flatten()
            .collect();
        let related_ips: Vec<Cow<str>> = ip.iter().cloned().collect();
        write_related(event, &related_users, &related_ips);
        write_common(event, context);
        write_azure(
            event,
            record,
            context,
            "signinlogs",
            sign_in_category(context.stream),
        );
    });
    Ok(())
}

/// `event.category`, and the target half of `event.type`, by audit category.
fn audit_category(category: &str) -> (&'static str, Option<&'static str>) {
    match category {
        "UserManagement" => ("iam", Some("user")),
        "GroupManagement" => ("iam", Some("group")),
        "RoleManagement" => ("iam", Some("admin")),
        "ApplicationManagement" => ("iam", None),
        _ => ("configuration", None),
    }
}

fn action_type(operation: Option<&str>) -> &'static str {
    match operation.map(str::to_ascii_lowercase).as_deref() {
        Some("add") | Some("create") => "creation",
        Some("delete") => "deletion",
        Some(_) => "change",
        None => "info",
    }
}

fn map_audit(record: &Record, context: &MapContext, out: &mut Vec<u8>) -> Result<(), MapError> {
    let activity = record
        .non_empty("activityDisplayName")
        .ok_or_else(|| MapError::new("the audit record has no activityDisplayName"))?;
    let category = record
        .non_empty("category")
        .unwrap_or(Cow::Borrowed("Other"));
    let initiated_by = record.object("initiatedBy");
    let actor = initiated_by
        .as_ref()
        .and_then(|initiator| initiator.object("user"));
    let app = initiated_by
        .as_ref()
        .and_then(|initiator| initiator.object("app"));
    let targets: Vec<Record> = record
        .items("targetResources")
        .into_iter()
        .filter_map(values::object)
        .collect();
    let target_user = targets.iter().find(|target| {
        target
            .text("type")
            .is_some_and(|kind| kind.eq_ignore_ascii_case("User"))
    });
    // the group acted on is listed after the member (which may itself be a group)
    let target_group = targets.iter().rev().find(|target| {
        target
            .text("type")
            .is_some_and(|kind| kind.eq_ignore_ascii_case("Group"))
    });
    let group_name = target_group
        .and_then(|group| group.non_empty("displayName"))
        .or_else(|| {
            targets.iter().find_map(|target| {
                target
                    .items("modifiedProperties")
                    .into_iter()
                    .filter_map(values::object)
                    .find(|property| {
                        property.text("displayName").as_deref() == Some("Group.DisplayName")
                    })
                    .and_then(|property| property.non_empty("newValue"))
                    .map(|value| Cow::Owned(value.trim_matches('"').to_owned()))
            })
        });
    let (event_category, target_kind) = audit_category(&category);
    let operation = record.non_empty("operationType");
    let actor_ip = actor.as_ref().and_then(|user| user.non_empty("ipAddress"));
    let result = record.non_empty("result");
    ObjectWriter::write(out, |event| {
        write_timestamp(event, record, "activityDateTime");
        event.object("event", |ecs_event| {
            ecs_event.string("kind", "event");
            ecs_event.strings("category", [event_category]);
            let mut types = Vec::new();
            types.extend(target_kind);
            types.push(action_type(operation.as_deref()));
            ecs_event.strings("type", types);
            ecs_event.string("action", &activity);
            ecs_event.string(
                "outcome",
                match result.as_deref() {
                    Some("success") => "success",
                    Some("failure") | Some("timeout") => "failure",
                    _ => "unknown",
                },
            );
            ecs_event.text("id", record.non_empty("id").as_deref());
            ecs_event.string("dataset", "azure.auditlogs");
            ecs_event.text("provider", record.non_empty("loggedByService").as_deref());
            ecs_event.string("created", &context.received_at.to_rfc3339_millis());
            ecs_event.text("reason", record.non_empty("resultReason").as_deref());
        });
        event.string("message", &activity);
        if let Some(actor) = &actor {
            event.object("user", |user| {
                user.text("id", actor.non_empty("id").as_deref());
                user.text("name", actor.non_empty("userPrincipalName").as_deref());
                user.text("full_name", actor.non_empty("displayName").as_deref());
                if let Some(target) = target_user {
                    user.object("target", |user_target| {
                        user_target.text("id", target.non_empty("id").as_deref());
                        user_target.text("name", target.non_empty("userPrincipalName").as_deref());
                        user_target.text("full_name", target.non_empty("displayName").as_deref());
                    });
                }
            });
        } else if let Some(target) = target_user {
            event.object("user", |user| {
                user.object("target", |user_target| {
                    user_target.text("id", target.non_empty("id").as_deref());
                    user_target.text("name", target.non_empty("userPrincipalName").as_deref());
                    user_target.text("full_name", target.non_empty("displayName").as_deref());
                });
            });
        }
        if target_group.is_some() || group_name.is_some() {
            event.object("group", |group| {
                group.text(
                    "id",
                    target_group
                        .and_then(|group| group.non_empty("id"))
                        .as_deref(),
                );
                group.text("name", group_name.as_deref());
            });
        }
        if let Some(app) = &app {
            event.object("service", |service| {
                service.text(
                    "id",
                    app.non_empty("appId")
                        .or_else(|| app.non_empty("servicePrincipalId"))
                        .as_deref(),
                );
                service.text("name", app.non_empty("displayName").as_deref());
            });
        }
        if let Some(ip) = &actor_ip {
            event.object("source", |source| {
                source.string("ip", ip);
                source.string("address", ip);
            });
        }
        event.object("user_agent", |agent| {
            agent.text("original", record.non_empty("userAgent").as_deref())
        });
        let mut related_users: Vec<Cow<str>> = Vec::new();
        if let Some(actor) = &actor {
            related_users.extend(actor.non_empty("userPrincipalName"));
            related_users.extend(actor.non_empty("id"));
        }
        if let Some(target) = target_user {
            related_users.extend(target.non_empty("userPrincipalName"));
            related_users.extend(target.non_empty("id"));
        }
        let related_ips: Vec<Cow<str>> = actor_ip.iter().cloned().collect();
        write_related(event, &related_users, &related_ips);
        write_common(event, context);
        write_azure(event, record, context, "auditlogs", "AuditLogs");
    });
    Ok(())
}

fn map_provisioning(
    record: &Record,
    context: &MapContext,
    out: &mut Vec<u8>,
) -> Result<(), MapError> {
    let target = record.object("targetIdentity");
    let source = record.object("sourceIdentity");
    let identity = target
        .as_ref()
        .filter(|identity| {
            identity.non_empty("id").is_some() || identity.non_empty("displayName").is_some()
        })
        .or(source.as_ref())
        .ok_or_else(|| {
            MapError::new("the provisioning record names neither a target nor a source identity")
        })?;
    let action = record.non_empty("provisioningAction").or_else(|| {
        record
            .non_empty("action")
            .map(|action| Cow::Owned(action.to_ascii_lowercase()))
    });
    let status = record
        .object("provisioningStatusInfo")
        .or_else(|| record.object("statusInfo"))
        .and_then(|info| info.non_empty("status").map(|status| status.into_owned()));
    let identity_type = identity.non_empty("identityType");
    let is_group = identity_type
        .as_deref()
        .is_some_and(|kind| kind.to_ascii_lowercase().contains("group"));
    ObjectWriter::write(out, |event| {
        write_timestamp(event, record, "activityDateTime");
        event.object("event", |ecs_event| {
            ecs_event.string("kind", "event");
            ecs_event.strings("category", ["iam"]);
            let action_kind = match action.as_deref() {
                Some("create") => "creation",
                Some("delete") | Some("stagedDelete") => "deletion",
                Some(_) => "change",
                None => "info",
            };
            ecs_event.strings(
                "type",
                [if is_group { "group" } else { "user" }, action_kind],
            );
            ecs_event.text("action", action.as_deref());
            ecs_event.string(
                "outcome",
                match status.as_deref() {
                    Some("success") => "success",
                    Some("failure") => "failure",
                    _ => "unknown",
                },
            );
            ecs_event.text("id", record.non_empty("id").as_deref());
            ecs_event.string("dataset", "azure.provisioning");
            ecs_event.string("provider", "Microsoft Entra provisioning service");
            ecs_event.string("created", &context.received_at.to_rfc3339_millis());
            ecs_event.opt_int(
                "duration",
                record
                    .integer("durationInMilliseconds")
                    .map(|milliseconds| milliseconds * 1_000_000),
            );
        });
        let name = identity.non_empty("displayName");
        event.string_parts(
            "message",
            &[
                "provisioning ",
                action.as_deref().unwrap_or("of"),
                " ",
                name.as_deref().unwrap_or("(unnamed)"),
                ": ",
                status.as_deref().unwrap_or("unknown status"),
            ],
        );
        if is_group {
            event.object("group", |group| {
                group.text("id", identity.non_empty("id").as_deref());
                group.text("name", name.as_deref());
            });
        } else {
            event.object("user", |user| {
                user.object("target", |user_target| {
                    user_target.text("id", identity.non_empty("id").as_deref());
                    user_target.text("full_name", name.as_deref());
                });
            });
        }
        let related_users: Vec<Cow<str>> = [identity.non_empty("id"), name.clone()]
            .into_iter()
            .flatten()
            .collect();
        write_related(event, &related_users, &[]);
        write_common(event, context);
        write_azure(event, record, context, "provisioning", "ProvisioningLogs");
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_names_become_snake_case() {
        assert_eq!(
            snake_case("riskLevelDuringSignIn"),
            "risk_level_during_sign_in"
        );
        assert_eq!(snake_case("riskEventTypes_v2"), "risk_event_types_v2");
        assert_eq!(snake_case("id"), "id");
        assert_eq!(snake_case("ipAddress"), "ip_address");
        assert_eq!(snake_case("@odata.type"), "@odata.type");
        // written straight into the output: the same names, escaped where needed
        for name in [
            "riskLevelDuringSignIn",
            "riskEventTypes_v2",
            "id",
            "ipAddress",
            "@odata.type",
            "ÄnderungsZeitPunkt",
            "quote\"Inside",
            "ABCDef",
            // the longest name built in the stack buffer, all capitals after lower case
            &"aB".repeat(32),
            &"aB".repeat(33),
            "",
        ] {
            let mut direct = Vec::new();
            write_snake_key(&mut direct, name);
            let mut through_string = Vec::new();
            write_string(&mut through_string, &snake_case(name));
            assert_eq!(
                String::from_utf8(direct).expect("utf-8"),
                String::from_utf8(through_string).expect("utf-8"),
                "{name}"
            );
        }
    }
}
