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
use std::cell::RefCell;

use super::json::{ObjectWriter, needs_escaping, write_string};
use super::values::{self, Fields};
use super::{MapContext, MapError};
use crate::clock::Timestamp;
use crate::graph::record::{Record, key_hash, same_key};
use crate::graph::split::{find_structural, skip_string, skip_whitespace, split_array};
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
/// Graph's property names are a small fixed set: each thread remembers the names it wrote, so
/// that after the first records a key is a lookup and one copy.
#[cfg(test)]
fn write_snake_key(out: &mut Vec<u8>, name: &str) {
    with_snake_names(|names| names.write_key(out, name));
}

/// Runs `body` with the thread's remembered names, borrowed once for a whole value rather than
/// once per key; when they cannot be borrowed (the thread is ending), with a table that
/// remembers nothing.
fn with_snake_names<T>(mut body: impl FnMut(&mut SnakeNames) -> T) -> T {
    let remembered = SNAKE_NAMES.try_with(|names| {
        names
            .try_borrow_mut()
            .ok()
            .map(|mut names| body(&mut names))
    });
    match remembered {
        Ok(Some(result)) => result,
        _ => body(&mut SnakeNames::forgetful()),
    }
}

thread_local! {
    static SNAKE_NAMES: RefCell<SnakeNames> = RefCell::new(SnakeNames::default());
}

/// Slots of the table of remembered names, and how many it takes (at most half full, so that
/// an empty slot ends every search; names beyond are written without it).
const SNAKE_SLOTS: usize = 1024;
const SNAKE_KEPT: usize = SNAKE_SLOTS / 2;

/// A Graph name and its snake_case JSON string, quotes included.
type SnakeName = (Box<str>, Box<[u8]>);

/// Names and their snake_case JSON strings, by an open-addressing table.
#[derive(Default)]
struct SnakeNames {
    slots: Vec<Option<SnakeName>>,
    kept: usize,
}

impl SnakeNames {
    /// A table that remembers nothing (for a thread whose own cannot be borrowed).
    fn forgetful() -> SnakeNames {
        SnakeNames {
            slots: Vec::new(),
            kept: SNAKE_KEPT,
        }
    }

    /// Writes `name` in snake_case as a JSON string: its remembered form, or built.
    fn write_key(&mut self, out: &mut Vec<u8>, name: &str) {
        if !self.write(out, name) {
            write_snake_key_now(out, name);
        }
    }

    /// Writes the remembered form of `name`, remembering it first if there is room; false when
    /// the table is full and `name` is not in it.
    fn write(&mut self, out: &mut Vec<u8>, name: &str) -> bool {
        if self.slots.is_empty() {
            if self.kept >= SNAKE_KEPT {
                return false;
            }
            self.slots.resize_with(SNAKE_SLOTS, || None);
        }
        let mut slot = (key_hash(name.as_bytes()) >> 54) as usize;
        loop {
            match &self.slots[slot] {
                Some((known, snake)) if same_key(known, name) => {
                    out.extend_from_slice(snake);
                    return true;
                }
                Some(_) => slot = (slot + 1) % SNAKE_SLOTS,
                None if self.kept < SNAKE_KEPT => {
                    let mut snake = Vec::with_capacity(name.len() * 2 + 2);
                    write_snake_key_now(&mut snake, name);
                    out.extend_from_slice(&snake);
                    self.slots[slot] = Some((name.into(), snake.into_boxed_slice()));
                    self.kept += 1;
                    return true;
                }
                None => return false,
            }
        }
    }
}

/// `name` in snake_case as a JSON string, built byte by byte.
fn write_snake_key_now(out: &mut Vec<u8>, name: &str) {
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
fn write_snake_json(names: &mut SnakeNames, out: &mut Vec<u8>, raw: &str) {
    let nested = raw.starts_with('{')
        // an array without a `{` anywhere (strings, numbers) has no keys to rename
        || (raw.starts_with('[') && memchr::memchr(b'{', raw.as_bytes()).is_some());
    if !nested {
        out.extend_from_slice(raw.as_bytes());
        return;
    }
    if !copy_with_snake_keys(names, out, raw) {
        write_snake_json_split(names, out, raw);
    }
}

/// Open objects' keys the one-pass copy keeps (to notice a repeat), and containers it lets be
/// open at once; a value beyond either is split instead.
const COPY_KEYS: usize = 64;
const COPY_DEPTH: usize = 32;

/// Copies a raw object or array from a validated record with every object key in snake_case,
/// in one pass over its text: strings, numbers and structure are copied as they are, keys are
/// rewritten, no object is split. Returns false, with `out` as it was, when a key has escapes,
/// a key repeats within its object, or the value holds more open keys or depth than the
/// tables: the caller then splits it, which keeps a repeated key once, with its last value.
fn copy_with_snake_keys(names: &mut SnakeNames, out: &mut Vec<u8>, raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let rollback = out.len();
    // (start, end) of every key of the open objects, innermost last
    let mut keys = [(0u32, 0u32); COPY_KEYS];
    let mut key_count = 0usize;
    // where each open container's keys begin in `keys`
    let mut first_key = [0u8; COPY_DEPTH];
    let mut depth = 0usize;
    let mut copied = 0usize;
    let mut cursor = 0usize;
    let complete = loop {
        let Some(position) = find_structural(bytes, cursor) else {
            break true;
        };
        match bytes[position] {
            b'"' => {
                let Some((end, escaped)) = skip_string(bytes, position) else {
                    break false;
                };
                cursor = end;
                // in valid JSON a string followed by `:` is a key, and every key is
                if bytes.get(skip_whitespace(bytes, end)) != Some(&b':') {
                    continue;
                }
                let (start, stop) = (position + 1, end - 1);
                let Some(&open) = depth.checked_sub(1).and_then(|inner| first_key.get(inner))
                else {
                    break false;
                };
                let name = &bytes[start..stop];
                let repeated = keys[usize::from(open)..key_count]
                    .iter()
                    .any(|&(from, to)| &bytes[from as usize..to as usize] == name);
                if escaped || repeated || key_count == COPY_KEYS {
                    break false;
                }
                keys[key_count] = (start as u32, stop as u32);
                key_count += 1;
                out.extend_from_slice(&bytes[copied..position]);
                names.write_key(out, &raw[start..stop]);
                copied = end;
            }
            b'{' | b'[' => {
                if depth == COPY_DEPTH {
                    break false;
                }
                // key_count < COPY_KEYS = 64 fits a byte
                first_key[depth] = key_count as u8;
                depth += 1;
                cursor = position + 1;
            }
            _ => {
                // `}` or `]`: the container's keys are forgotten
                let Some(inner) = depth.checked_sub(1) else {
                    break false;
                };
                depth = inner;
                key_count = usize::from(first_key[inner]);
                cursor = position + 1;
            }
        }
    };
    if complete {
        out.extend_from_slice(&bytes[copied..]);
    } else {
        out.truncate(rollback);
    }
    complete
}

/// Copies a raw object or array by splitting every object in it: the way for values the
/// one-pass copy leaves (repeated or escaped keys).
fn write_snake_json_split(names: &mut SnakeNames, out: &mut Vec<u8>, raw: &str) {
    if raw.starts_with('{')
        && let Ok(object) = Record::parse(raw)
    {
        write_snake_object(names, out, object.distinct_fields());
        return;
    }
    if raw.starts_with('[')
        && let Some(items) = split_array(raw)
    {
        out.push(b'[');
        for (index, item) in items.into_iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_snake_json(names, out, item);
        }
        out.push(b']');
        return;
    }
    out.extend_from_slice(raw.as_bytes());
}

fn write_snake_object<'a>(
    names: &mut SnakeNames,
    out: &mut Vec<u8>,
    properties: impl Iterator<Item = (&'a str, &'a str)>,
) {
    out.push(b'{');
    for (index, (key, value)) in properties.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        names.write_key(out, key);
        out.push(b':');
        write_snake_json(names, out, value);
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
                with_snake_names(|names| write_snake_object(names, out, record.distinct_fields()))
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
                                coordinates.get("latitude").and_then(values::float_text),
                                coordinates.get("longitude").and_then(values::float_text),
                            )
                        {
                            geo.object("location", |point| {
                                point.float_text("lat", lat);
                                point.float_text("lon", lon);
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

/// The action half of `event.type`. With a `user` or `group` target it says what that user or
/// group underwent (ECS: `["user","creation"]` is a new account, adding a user to a group is
/// `["user","change"]`): creation and deletion only when the activity creates or deletes it
/// (Add user, Hard Delete group), a change otherwise, even when Graph's `operationType` is Add
/// or Delete for something of it (User registered security info adds an authentication method).
fn action_type(target_kind: Option<&str>, activity: &str, operation: Option<&str>) -> &'static str {
    let by_operation = match operation.map(str::to_ascii_lowercase).as_deref() {
        Some("add") | Some("create") => "creation",
        Some("delete") => "deletion",
        Some(_) => "change",
        None => "info",
    };
    let Some(kind @ ("user" | "group")) = target_kind else {
        return by_operation;
    };
    let activity = activity.to_ascii_lowercase();
    let lifecycle = activity
        .strip_prefix("hard ")
        .unwrap_or(&activity)
        .strip_suffix(kind)
        .is_some_and(|verb| matches!(verb, "add " | "delete "));
    match by_operation {
        "creation" | "deletion" if !lifecycle => "change",
        other => other,
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
    let targets: Vec<Record> = record.objects("targetResources").into_iter().collect();
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
                    .objects("modifiedProperties")
                    .into_iter()
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
            types.push(action_type(target_kind, &activity, operation.as_deref()));
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
    use serde_json::Value;

    /// A user or group is created or deleted only by its own lifecycle activities; what is added
    /// to or removed from one changes it (Elastic's conventions for `event.type`).
    #[test]
    fn creation_and_deletion_name_what_the_target_underwent() {
        for (kind, activity, operation, expected) in [
            (Some("user"), "Add user", Some("Add"), "creation"),
            (Some("user"), "Delete user", Some("Delete"), "deletion"),
            (Some("user"), "Hard Delete user", Some("Delete"), "deletion"),
            (
                Some("user"),
                "User registered security info",
                Some("Add"),
                "change",
            ),
            (
                Some("user"),
                "User deleted security info",
                Some("Delete"),
                "change",
            ),
            (
                Some("user"),
                "Add app role assignment to user",
                Some("Assign"),
                "change",
            ),
            (Some("user"), "Update user", Some("Update"), "change"),
            (Some("group"), "Add group", Some("Add"), "creation"),
            (
                Some("group"),
                "Hard Delete group",
                Some("Delete"),
                "deletion",
            ),
            (
                Some("group"),
                "Add member to group",
                Some("Assign"),
                "change",
            ),
            (Some("group"), "Add owner to group", Some("Add"), "change"),
            (
                Some("admin"),
                "Add role definition",
                Some("Add"),
                "creation",
            ),
            (None, "Add service principal", Some("Add"), "creation"),
            (Some("user"), "Something", None, "info"),
        ] {
            assert_eq!(
                action_type(kind, activity, operation),
                expected,
                "{kind:?} {activity}"
            );
        }
    }

    /// The value with every object key in snake_case, through a parsed tree: the reference.
    fn snake_tree(value: Value) -> Value {
        match value {
            Value::Object(object) => Value::Object(
                object
                    .into_iter()
                    .map(|(key, value)| (snake_case(&key).into_owned(), snake_tree(value)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(snake_tree).collect()),
            other => other,
        }
    }

    fn through_copy(raw: &str) -> (bool, Vec<u8>) {
        let mut out = b"prefix".to_vec();
        let copied = with_snake_names(|names| copy_with_snake_keys(names, &mut out, raw));
        (copied, out.split_off(6))
    }

    fn written(raw: &str) -> Value {
        let mut out = Vec::new();
        with_snake_names(|names| write_snake_json(names, &mut out, raw));
        serde_json::from_slice(&out).unwrap_or_else(|error| panic!("{error}: {raw}"))
    }

    /// Remembered names are written as they were the first time; a full table writes the
    /// names it does not hold without remembering them, and keeps answering for those it does.
    #[test]
    fn remembered_snake_names_are_written_as_built_and_the_table_stays_bounded() {
        let mut names = SnakeNames::default();
        let all: Vec<String> = (0..SNAKE_KEPT + 100)
            .map(|index| format!("propertyNumber{index}X"))
            .chain(["ÄnderungsZeit".to_owned(), "quote\"Inside".to_owned()])
            .collect();
        for round in 0..2 {
            for (index, name) in all.iter().enumerate() {
                let mut built = Vec::new();
                write_snake_key_now(&mut built, name);
                let mut remembered = Vec::new();
                let held = names.write(&mut remembered, name);
                assert_eq!(held, index < SNAKE_KEPT, "round {round}: {name}");
                if held {
                    assert_eq!(remembered, built, "{name}");
                } else {
                    assert!(remembered.is_empty(), "{name}");
                }
                let mut through_thread = Vec::new();
                write_snake_key(&mut through_thread, name);
                assert_eq!(through_thread, built, "{name}");
            }
        }
        assert_eq!(names.kept, SNAKE_KEPT);
        assert_eq!(
            names.slots.iter().filter(|slot| slot.is_some()).count(),
            SNAKE_KEPT
        );
    }

    /// The one-pass copy writes what splitting every object writes; what it leaves (repeated
    /// or escaped keys, too many open keys, too deep) it leaves untouched, and splitting takes it.
    #[test]
    fn the_one_pass_copy_renames_keys_as_the_tree_does_and_leaves_what_it_cannot() {
        let copied = [
            r#"{"deviceId":"x","isCompliant":true,"geoCoordinates":{"latitude":1.5,"longitude":-2}}"#,
            r#"[{"policyId":"a","enforcedGrantControls":["Mfa"]},{"policyId":"b","result":"notApplied"}]"#,
            r#"{ "outer" : { "innerKey" : [ 1 , { "deepKey" : "v:a\"l\\" } ] } , "b" : null }"#,
            r#"{"a":{"sameName":1},"b":{"sameName":2},"sameName":3}"#,
            r#"{"ÄnderungsZeit":"ü","key:With":"colon","quote\"Value":1}"#,
            r#"{"text":"has \"keyLike\": inside","n":-1.5e3,"t":true,"f":false,"z":null}"#,
            r#"{}"#,
            r#"[]"#,
            r#"[[[{"a":[]}]],{}]"#,
        ];
        for raw in copied {
            let (complete, out) = through_copy(raw);
            // a key with an escape is left to the split: it is decoded before renaming
            if raw.contains(r#"quote\"Value"#) {
                assert!(!complete && out.is_empty(), "{raw}");
            } else {
                assert!(complete, "{raw}");
                let copy: Value = serde_json::from_slice(&out).expect("valid JSON");
                let reference = snake_tree(serde_json::from_str(raw).expect("valid"));
                assert_eq!(copy, reference, "{raw}");
            }
            assert_eq!(
                written(raw),
                snake_tree(serde_json::from_str(raw).expect("valid"))
            );
        }

        let deep = format!(
            "{}1{}",
            "[".repeat(COPY_DEPTH + 1),
            "]".repeat(COPY_DEPTH + 1)
        );
        let deep_object = format!(
            "{}{{\"someKey\":1}}{}",
            "[".repeat(COPY_DEPTH),
            "]".repeat(COPY_DEPTH)
        );
        let many_keys = format!(
            "{{{}}}",
            (0..=COPY_KEYS)
                .map(|index| format!("\"keyNumber{index}\":{index}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let left = [
            // a repeated key, at the top and deep down: once, the last value
            r#"{"riskState":"x","riskState":"none"}"#.to_owned(),
            r#"[{"a":{"deepKey":1,"other":2,"deepKey":3}}]"#.to_owned(),
            r#"{"escaped\u0041Key":1}"#.to_owned(),
            deep_object,
            many_keys,
        ];
        for raw in &left {
            let (complete, out) = through_copy(raw);
            assert!(!complete && out.is_empty(), "{raw}");
            assert_eq!(
                written(raw),
                snake_tree(serde_json::from_str(raw).expect("valid")),
                "{raw}"
            );
        }
        // nothing to rename in an array of scalars, however deep: copied as it is
        let mut out = Vec::new();
        with_snake_names(|names| write_snake_json(names, &mut out, &deep));
        assert_eq!(out, deep.as_bytes());
    }

    /// Random nested values (camelCase keys, repeats, escapes, whitespace): written through the
    /// one-pass copy or the split, always what the tree says.
    #[test]
    fn random_nested_values_are_renamed_as_the_tree_does() {
        fn value(rng: &mut fastrand::Rng, depth: usize, out: &mut String) {
            let space = |rng: &mut fastrand::Rng, out: &mut String| {
                if rng.u8(..8) == 0 {
                    out.push_str([" ", "\n", "\t ", "\r\n  "][rng.usize(..4)]);
                }
            };
            let kind = if depth >= 5 { rng.u8(..4) } else { rng.u8(..7) };
            match kind {
                0 => out.push_str(["true", "false", "null", "-0.5e-3", "42"][rng.usize(..5)]),
                1..=3 => {
                    let text = [
                        "plain",
                        "with \\\"quotes\\\"",
                        "key\\\":",
                        "ünïcode",
                        "",
                        "a\\\\b",
                    ][rng.usize(..6)];
                    out.push('"');
                    out.push_str(text);
                    out.push('"');
                }
                4 => {
                    out.push('[');
                    for index in 0..rng.usize(..4) {
                        if index > 0 {
                            out.push(',');
                        }
                        space(rng, out);
                        value(rng, depth + 1, out);
                        space(rng, out);
                    }
                    out.push(']');
                }
                _ => {
                    out.push('{');
                    let names = [
                        "userId",
                        "riskLevel",
                        "a",
                        "geoCoordinates",
                        "ABCDef",
                        "x_y",
                        "escaped\\u0042",
                    ];
                    for index in 0..rng.usize(..5) {
                        if index > 0 {
                            out.push(',');
                        }
                        space(rng, out);
                        out.push('"');
                        out.push_str(names[rng.usize(..names.len())]);
                        out.push('"');
                        space(rng, out);
                        out.push(':');
                        space(rng, out);
                        value(rng, depth + 1, out);
                    }
                    out.push('}');
                }
            }
        }
        let mut rng = fastrand::Rng::with_seed(11);
        let (mut copies, mut splits) = (0, 0);
        for _ in 0..3000 {
            let mut raw = String::new();
            value(&mut rng, 0, &mut raw);
            let reference: Value = serde_json::from_str(&raw).expect("valid JSON");
            if !matches!(reference, Value::Object(_) | Value::Array(_)) {
                continue;
            }
            let (complete, _) = through_copy(&raw);
            if complete {
                copies += 1;
            } else {
                splits += 1;
            }
            assert_eq!(written(&raw), snake_tree(reference), "{raw}");
        }
        assert!(
            copies > 500 && splits > 200,
            "copies {copies}, splits {splits}"
        );
    }

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
