//! `provisioningObjectSummary` → OCSF Entity Management (3004).
//!
//! A provisioning event says that a job created, updated, disabled or deleted an identity
//! (a user, a group, a worker record) in a target system. Entity Management fits every identity
//! type and every action, with the identity as `entity`; Account Change (3001) would fit user
//! accounts only, and API Activity (6003) would lose the action's meaning.

use std::borrow::Cow;

use super::{
    CATEGORY_IAM, ClassHeader, Coverage, write_cloud, write_metadata, write_severity, write_status,
    write_time, write_unmapped,
};
use crate::graph::record::Record;
use crate::schema::json::ObjectWriter;
use crate::schema::values::{Fields, decode_json_string};
use crate::schema::{MapContext, MapError};

const TIME_FIELD: &str = "activityDateTime";

pub(super) const COVERED: &[(&str, Coverage)] = &[
    ("activityDateTime", Coverage::Full),
    ("changeId", Coverage::Full),
    ("durationInMilliseconds", Coverage::Full),
    ("id", Coverage::Full),
    ("provisioningAction", Coverage::Full),
    ("servicePrincipal", Coverage::Full),
    (
        "targetIdentity",
        Coverage::Except(&["id", "displayName", "identityType"]),
    ),
];

pub fn map(record: &Record, context: &MapContext, out: &mut Vec<u8>) -> Result<(), MapError> {
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
    let identity_is_target = target.as_ref().is_some_and(|target| {
        target.non_empty("id").is_some() || target.non_empty("displayName").is_some()
    });
    let action = record.non_empty("provisioningAction").or_else(|| {
        record
            .non_empty("action")
            .map(|action| Cow::Owned(action.to_ascii_lowercase()))
    });
    let (activity_id, activity_name) = match action.as_deref() {
        Some("create") => (1, Cow::Borrowed("Create")),
        Some("update") => (3, Cow::Borrowed("Update")),
        Some("delete") | Some("stagedDelete") => (4, Cow::Borrowed("Delete")),
        Some("disable") => (9, Cow::Borrowed("Disable")),
        Some(other) => (99, Cow::Borrowed(other)),
        None => (0, Cow::Borrowed("Unknown")),
    };
    let status_info = record
        .object("provisioningStatusInfo")
        .or_else(|| record.object("statusInfo"));
    let status = status_info
        .as_ref()
        .and_then(|info| info.non_empty("status"));
    let error = status_info
        .as_ref()
        .and_then(|info| info.object("errorInformation"));
    let (status_id, original_status, severity_id) = match status.as_deref() {
        Some("success") => (1, None, 1),
        Some("failure") => (2, None, 2),
        Some(other) => (99, Some(other), if other == "warning" { 2 } else { 1 }),
        None => (0, None, 1),
    };
    let job = record.object("servicePrincipal");
    let source_system = record
        .object("sourceSystem")
        .and_then(|system| system.non_empty("displayName"));
    let target_system = record
        .object("targetSystem")
        .and_then(|system| system.non_empty("displayName"));
    let identity_name = identity.non_empty("displayName");
    let identity_type = identity.non_empty("identityType");

    ObjectWriter::write(out, |event| {
        ClassHeader {
            category_uid: CATEGORY_IAM,
            category_name: "Identity & Access Management",
            class_uid: 3004,
            class_name: "Entity Management",
            activity_id,
            activity_name,
        }
        .write(event);
        write_time(event, record, TIME_FIELD);
        write_severity(event, severity_id, None);
        write_status(event, status_id, original_status);
        if let Some(error) = &error {
            event.text("status_code", error.non_empty("errorCode").as_deref());
            event.text("status_detail", error.non_empty("reason").as_deref());
        }
        event.opt_int("duration", record.integer("durationInMilliseconds"));
        event.string_parts(
            "message",
            &[
                "provisioning ",
                action.as_deref().unwrap_or("of"),
                " ",
                identity_type.as_deref().unwrap_or("identity"),
                " ",
                identity_name.as_deref().unwrap_or("(unnamed)"),
                " from ",
                source_system.as_deref().unwrap_or("an unknown source"),
                " to ",
                target_system.as_deref().unwrap_or("an unknown target"),
                ": ",
                status.as_deref().unwrap_or("unknown status"),
            ],
        );
        event.object("entity", |entity| {
            entity.text("uid", identity.non_empty("id").as_deref());
            entity.text("name", identity_name.as_deref());
            let lower = identity_type
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let (type_id, caption) = if lower.contains("group") {
                (3, "Group")
            } else if lower.contains("user") || lower == "worker" {
                (2, "User")
            } else if lower.is_empty() {
                (0, "Unknown")
            } else {
                (99, identity_type.as_deref().unwrap_or("Other"))
            };
            entity.int("type_id", type_id);
            entity.string("type", caption);
            entity.object("data", |data| {
                data.string(
                    "role",
                    if identity_is_target {
                        "target"
                    } else {
                        "source"
                    },
                );
                data.text("source_system", source_system.as_deref());
                data.text("target_system", target_system.as_deref());
                data.array("modified_properties", |list| {
                    for property in record.objects("modifiedProperties").into_iter() {
                        list.object(|entry| {
                            entry.text("name", property.non_empty("displayName").as_deref());
                            if let Some(old) = property
                                .text("oldValue")
                                .as_deref()
                                .and_then(decode_json_string)
                            {
                                entry.raw("old_value", &old);
                            }
                            if let Some(new) = property
                                .text("newValue")
                                .as_deref()
                                .and_then(decode_json_string)
                            {
                                entry.raw("new_value", &new);
                            }
                        });
                    }
                });
            });
        });
        event.object("actor", |actor| {
            if let Some(job) = &job {
                actor.text("app_uid", job.non_empty("id").as_deref());
                actor.text("app_name", job.non_empty("displayName").as_deref());
            }
            if actor.fields() == 0 {
                actor.string("app_name", "Microsoft Entra provisioning service");
            }
        });
        write_metadata(
            event,
            record,
            context,
            "Provisioning logs",
            TIME_FIELD,
            action.as_deref(),
        );
        write_cloud(event, context);
        let not_written: &[&str] = if identity_is_target {
            &[]
        } else {
            &["targetIdentity"]
        };
        write_unmapped(event, record, COVERED, not_written, |_| {});
    });
    Ok(())
}
