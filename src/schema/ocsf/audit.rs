//! `directoryAudit` → the OCSF IAM class that fits its category and activity, so that Splunk's
//! OCSF-CIM add-on turns them into Account_Management events:
//! Account Change (3001) for user lifecycle, passwords and MFA factors; User Access Management
//! (3005) for role and app-role assignments; Group Management (3006) for groups and their members;
//! Entity Management (3004) for applications, devices, policies and role definitions; API Activity
//! (6003) for everything else, with the activity from `operationType`.

use std::borrow::Cow;

use super::{
    CATEGORY_APPLICATION, CATEGORY_IAM, ClassHeader, Coverage, category_name, write_cloud,
    write_metadata, write_severity, write_status, write_time, write_unmapped,
};
use crate::graph::record::Record;
use crate::schema::json::ObjectWriter;
use crate::schema::values::{Fields, decode_json_string};
use crate::schema::{MapContext, MapError};

const TIME_FIELD: &str = "activityDateTime";

pub(super) const COVERED: &[(&str, Coverage)] = &[
    ("activityDateTime", Coverage::Full),
    ("activityDisplayName", Coverage::Full),
    ("correlationId", Coverage::Full),
    ("id", Coverage::Full),
    ("loggedByService", Coverage::Full),
    ("result", Coverage::Full),
    ("resultReason", Coverage::Full),
    ("userAgent", Coverage::Full),
];

/// One entry of `targetResources`.
struct Target<'a> {
    id: Option<Cow<'a, str>>,
    display_name: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    user_principal_name: Option<Cow<'a, str>>,
    group_type: Option<Cow<'a, str>>,
    modified: Vec<Modified<'a>>,
}

struct Modified<'a> {
    name: Cow<'a, str>,
    old_value: Option<Cow<'a, str>>,
    new_value: Option<Cow<'a, str>>,
}

impl Target<'_> {
    fn is(&self, kind: &str) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|value| value.eq_ignore_ascii_case(kind))
    }

    fn modified_value(&self, name: &str) -> Option<String> {
        self.modified
            .iter()
            .find(|property| property.name == name)
            .and_then(|property| {
                property
                    .new_value
                    .as_deref()
                    .or(property.old_value.as_deref())
            })
            .map(|value| value.trim_matches('"').to_owned())
            .filter(|value| !value.is_empty())
    }

    fn label(&self) -> Option<&str> {
        self.user_principal_name
            .as_deref()
            .or(self.display_name.as_deref())
            .or(self.id.as_deref())
    }
}

fn targets<'a>(record: &Record<'a>) -> Vec<Target<'a>> {
    record
        .objects("targetResources")
        .into_iter()
        .map(|target| Target {
            id: target.non_empty("id"),
            display_name: target.non_empty("displayName"),
            kind: target.non_empty("type"),
            user_principal_name: target.non_empty("userPrincipalName"),
            group_type: target.non_empty("groupType"),
            modified: target
                .objects("modifiedProperties")
                .into_iter()
                .filter_map(|property| {
                    Some(Modified {
                        name: property.non_empty("displayName")?,
                        old_value: property.text("oldValue"),
                        new_value: property.text("newValue"),
                    })
                })
                .collect(),
        })
        .collect()
}

/// The class and activity of an audit event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    AccountChange(i64),
    UserAccess(i64),
    GroupManagement(i64),
    EntityManagement(i64),
    ApiActivity(i64),
}

fn operation_activity(operation: Option<&str>) -> i64 {
    match operation.map(str::to_ascii_lowercase).as_deref() {
        Some("add") | Some("create") => 1,
        Some("update") => 3,
        Some("delete") => 4,
        _ => 99,
    }
}

fn classify(category: &str, activity: &str, operation: Option<&str>, targets: &[Target]) -> Class {
    let name = activity.to_ascii_lowercase();
    let has = |text: &str| name.contains(text);
    let member_kind = targets.first();
    match category {
        "UserManagement" => {
            if name == "add user" {
                Class::AccountChange(1)
            } else if name.starts_with("delete user") || name.starts_with("hard delete user") {
                Class::AccountChange(6)
            } else if name == "enable account" {
                Class::AccountChange(2)
            } else if name == "disable account" {
                Class::AccountChange(5)
            } else if has("password") && (has("reset") || has("force change")) {
                Class::AccountChange(4)
            } else if has("password") && has("change") {
                Class::AccountChange(3)
            } else if (has("security info")
                || has("strong authentication")
                || has("fido2")
                || has("hello for business"))
                && (has("registered") || has("enable") || name.starts_with("add"))
            {
                Class::AccountChange(10)
            } else if has("security info")
                || has("strong authentication")
                || has("fido2")
                || has("hello for business")
            {
                Class::AccountChange(11)
            } else if has("app role assignment") {
                Class::UserAccess(if name.starts_with("remove") { 2 } else { 1 })
            } else {
                Class::AccountChange(99)
            }
        }
        "GroupManagement" => {
            let member_is_group = member_kind.is_some_and(|target| target.is("Group"));
            let member_is_user = member_kind.is_some_and(|target| target.is("User"));
            if name == "add group" {
                Class::GroupManagement(6)
            } else if name.starts_with("delete group") || name.starts_with("hard delete group") {
                Class::GroupManagement(5)
            } else if has("member to group") {
                Class::GroupManagement(if member_is_user {
                    3
                } else if member_is_group {
                    7
                } else {
                    99
                })
            } else if has("member from group") {
                Class::GroupManagement(if member_is_user {
                    4
                } else if member_is_group {
                    8
                } else {
                    99
                })
            } else if has("owner to group")
                || (has("app role assignment") && name.starts_with("add"))
            {
                Class::GroupManagement(1)
            } else if has("owner from group")
                || (has("app role assignment") && name.starts_with("remove"))
            {
                Class::GroupManagement(2)
            } else {
                Class::GroupManagement(99)
            }
        }
        "RoleManagement" => {
            let member_is_group = member_kind.is_some_and(|target| target.is("Group"));
            if has("role definition") {
                Class::EntityManagement(operation_activity(operation))
            } else if name.starts_with("add") && has("member to role") {
                if member_is_group {
                    Class::GroupManagement(1)
                } else {
                    Class::UserAccess(1)
                }
            } else if name.starts_with("remove") && has("member from role") {
                if member_is_group {
                    Class::GroupManagement(2)
                } else {
                    Class::UserAccess(2)
                }
            } else {
                Class::ApiActivity(operation_activity(operation))
            }
        }
        "ApplicationManagement" => {
            if has("app role assignment") || has("delegated permission grant") || has("consent") {
                let revoke = name.starts_with("remove")
                    || name.starts_with("revoke")
                    || name.starts_with("delete");
                Class::UserAccess(if revoke { 2 } else { 1 })
            } else if has("application") || has("service principal") {
                Class::EntityManagement(operation_activity(operation))
            } else {
                Class::ApiActivity(operation_activity(operation))
            }
        }
        "Device" => {
            if name.starts_with("register device") {
                Class::EntityManagement(6)
            } else if name.starts_with("unregister device") {
                Class::EntityManagement(7)
            } else {
                Class::EntityManagement(operation_activity(operation))
            }
        }
        "Policy" => Class::EntityManagement(operation_activity(operation)),
        _ => Class::ApiActivity(operation_activity(operation)),
    }
}

fn header(class: Class, activity_display_name: &str) -> ClassHeader<'_> {
    let (class_uid, class_name, activity_id, captions): (i64, &str, i64, &[(i64, &str)]) =
        match class {
            Class::AccountChange(id) => (
                3001,
                "Account Change",
                id,
                &[
                    (1, "Create"),
                    (2, "Enable"),
                    (3, "Password Change"),
                    (4, "Password Reset"),
                    (5, "Disable"),
                    (6, "Delete"),
                    (10, "MFA Factor Enable"),
                    (11, "MFA Factor Disable"),
                ],
            ),
            Class::UserAccess(id) => (
                3005,
                "User Access Management",
                id,
                &[(1, "Assign Privileges"), (2, "Revoke Privileges")],
            ),
            Class::GroupManagement(id) => (
                3006,
                "Group Management",
                id,
                &[
                    (1, "Assign Privileges"),
                    (2, "Revoke Privileges"),
                    (3, "Add User"),
                    (4, "Remove User"),
                    (5, "Delete"),
                    (6, "Create"),
                    (7, "Add Subgroup"),
                    (8, "Remove Subgroup"),
                ],
            ),
            Class::EntityManagement(id) => (
                3004,
                "Entity Management",
                id,
                &[
                    (1, "Create"),
                    (3, "Update"),
                    (4, "Delete"),
                    (6, "Enroll"),
                    (7, "Unenroll"),
                ],
            ),
            Class::ApiActivity(id) => (
                6003,
                "API Activity",
                id,
                &[(1, "Create"), (2, "Read"), (3, "Update"), (4, "Delete")],
            ),
        };
    let activity_name = captions
        .iter()
        .find(|(id, _)| *id == activity_id)
        .map_or(Cow::Borrowed(activity_display_name), |(_, caption)| {
            Cow::Borrowed(*caption)
        });
    let category_uid = if class_uid == 6003 {
        CATEGORY_APPLICATION
    } else {
        CATEGORY_IAM
    };
    ClassHeader {
        category_uid,
        category_name: category_name(category_uid),
        class_uid,
        class_name,
        activity_id,
        activity_name,
    }
}

fn write_target_user(event: &mut ObjectWriter, key: &str, target: &Target) {
    event.object(key, |user| {
        user.text("uid", target.id.as_deref());
        user.text(
            "name",
            target
                .user_principal_name
                .as_deref()
                .or(target.display_name.as_deref()),
        );
        user.text("display_name", target.display_name.as_deref());
        let (type_id, caption) = if target.is("User") {
            (1, "User")
        } else if target.is("ServicePrincipal") || target.is("Application") {
            (4, "Service")
        } else {
            (99, target.kind.as_deref().unwrap_or("Other"))
        };
        user.int("type_id", type_id);
        user.string("type", caption);
    });
}

pub fn map(record: &Record, context: &MapContext, out: &mut Vec<u8>) -> Result<(), MapError> {
    let activity = record
        .non_empty("activityDisplayName")
        .ok_or_else(|| MapError::new("the audit record has no activityDisplayName"))?;
    let category = record
        .non_empty("category")
        .unwrap_or(Cow::Borrowed("Other"));
    let operation = record.non_empty("operationType");
    let service = record.non_empty("loggedByService");
    let targets = targets(record);
    let initiated_by = record.object("initiatedBy");
    let initiating_user = initiated_by
        .as_ref()
        .and_then(|initiator| initiator.object("user"));
    let initiating_app = initiated_by
        .as_ref()
        .and_then(|initiator| initiator.object("app"));

    let user_target = targets
        .iter()
        .find(|target| target.is("User"))
        .or(targets.first());
    // the group acted on: the one named by the member's Group.ObjectID, else the last group target
    // (Graph lists the member first, then the group)
    let group_object_id = targets
        .iter()
        .find_map(|target| target.modified_value("Group.ObjectID"));
    let group_target = group_object_id
        .as_deref()
        .and_then(|id| {
            targets
                .iter()
                .find(|target| target.id.as_deref() == Some(id))
        })
        .or_else(|| targets.iter().rev().find(|target| target.is("Group")));
    let group_from_properties = targets.iter().find_map(|target| {
        let uid = target.modified_value("Group.ObjectID");
        let name = target.modified_value("Group.DisplayName");
        (uid.is_some() || name.is_some()).then_some((uid, name))
    });
    let entity_target = targets
        .first()
        .filter(|target| target.id.is_some() || target.display_name.is_some());
    let role_name = targets
        .iter()
        .find_map(|target| {
            target
                .modified_value("Role.DisplayName")
                .or_else(|| target.modified_value("AppRole.Value"))
        })
        .or_else(|| {
            targets
                .iter()
                .find(|target| target.is("Role"))
                .and_then(|target| target.display_name.as_deref().map(str::to_owned))
        });

    // a class whose required object is missing falls back to API Activity
    let mut class = classify(&category, &activity, operation.as_deref(), &targets);
    class = match class {
        Class::AccountChange(_) | Class::UserAccess(_) if user_target.is_none() => {
            Class::ApiActivity(operation_activity(operation.as_deref()))
        }
        Class::GroupManagement(_) if group_target.is_none() && group_from_properties.is_none() => {
            Class::ApiActivity(operation_activity(operation.as_deref()))
        }
        Class::EntityManagement(_) if entity_target.is_none() => {
            Class::ApiActivity(operation_activity(operation.as_deref()))
        }
        other => other,
    };
    let result = record.non_empty("result");
    let (status_id, original_status) = match result.as_deref() {
        Some("success") => (1, None),
        Some("failure") | Some("timeout") => (2, None),
        None => (0, None),
        Some(other) => (99, Some(other)),
    };
    let actor_label = initiating_user
        .as_ref()
        .and_then(|user| {
            user.non_empty("userPrincipalName")
                .or_else(|| user.non_empty("id"))
        })
        .or_else(|| {
            initiating_app
                .as_ref()
                .and_then(|app| app.non_empty("displayName"))
        })
        .unwrap_or(Cow::Borrowed("an unknown actor"));
    let target_label = targets
        .first()
        .and_then(Target::label)
        .unwrap_or("no target");

    ObjectWriter::write(out, |event| {
        header(class, &activity).write(event);
        write_time(event, record, TIME_FIELD);
        write_severity(event, 1, None);
        write_status(event, status_id, original_status);
        event.text("status_detail", record.non_empty("resultReason").as_deref());
        event.string_parts(
            "message",
            &[
                &activity,
                " by ",
                &actor_label,
                " on ",
                target_label,
                ": ",
                result.as_deref().unwrap_or("unknown result"),
            ],
        );

        event.object("actor", |actor| {
            if let Some(user) = &initiating_user {
                actor.object("user", |actor_user| {
                    actor_user.text("uid", user.non_empty("id").as_deref());
                    actor_user.text("name", user.non_empty("userPrincipalName").as_deref());
                    actor_user.text("display_name", user.non_empty("displayName").as_deref());
                    if let Some(home) = user.non_empty("homeTenantId") {
                        actor_user.object("account", |account| {
                            account.int("type_id", 6);
                            account.string("type", "Azure AD Account");
                            account.string("uid", &home);
                            account.text("name", user.non_empty("homeTenantName").as_deref());
                        });
                    }
                });
            }
            if let Some(app) = &initiating_app {
                actor.text(
                    "app_uid",
                    app.non_empty("appId")
                        .or_else(|| app.non_empty("servicePrincipalId"))
                        .as_deref(),
                );
                actor.text("app_name", app.non_empty("displayName").as_deref());
            }
            if actor.fields() == 0 {
                // neither a user nor an app: the service that logged the change acted
                actor.string(
                    "app_name",
                    service.as_deref().unwrap_or("Microsoft Entra ID"),
                );
            }
        });

        event.object("src_endpoint", |endpoint| {
            endpoint.text(
                "ip",
                initiating_user
                    .as_ref()
                    .and_then(|user| user.non_empty("ipAddress"))
                    .as_deref(),
            );
            if endpoint.fields() == 0 {
                endpoint.string(
                    "svc_name",
                    service.as_deref().unwrap_or("Microsoft Entra ID"),
                );
            }
        });

        let user_agent = record.non_empty("userAgent").or_else(|| {
            record
                .objects("additionalDetails")
                .into_iter()
                .find_map(|detail| {
                    (detail.text("key").as_deref() == Some("User-Agent"))
                        .then(|| detail.non_empty("value"))
                        .flatten()
                })
        });
        event.object("http_request", |request| {
            request.text("user_agent", user_agent.as_deref())
        });

        match class {
            Class::AccountChange(_) => {
                if let Some(target) = user_target {
                    write_target_user(event, "user", target);
                }
            }
            Class::UserAccess(_) => {
                if let Some(target) = user_target {
                    write_target_user(event, "user", target);
                }
                let privilege = role_name.clone().unwrap_or_else(|| activity.to_string());
                event.strings("privileges", [privilege.as_str()]);
                event.array("resources", |resources| {
                    for target in targets.iter().filter(|target| !target.is("User")) {
                        resources.object(|resource| {
                            resource.text("uid", target.id.as_deref());
                            resource.text("name", target.display_name.as_deref());
                            resource.text("type", target.kind.as_deref());
                        });
                    }
                });
            }
            Class::GroupManagement(activity_id) => {
                event.object("group", |group| match group_target {
                    Some(target) => {
                        group.text("uid", target.id.as_deref());
                        group.text(
                            "name",
                            target.display_name.as_deref().or(group_from_properties
                                .as_ref()
                                .and_then(|(_, name)| name.as_deref())),
                        );
                        group.text("type", target.group_type.as_deref());
                    }
                    None => {
                        if let Some((uid, name)) = &group_from_properties {
                            group.text("uid", uid.as_deref());
                            group.text("name", name.as_deref());
                        }
                    }
                });
                if let Some(member) = targets.iter().find(|target| target.is("User")) {
                    write_target_user(event, "user", member);
                }
                if matches!(activity_id, 7 | 8)
                    && let Some(subgroup) = targets.iter().find(|target| {
                        target.is("Group")
                            && target.id.is_some()
                            && target.id.as_deref()
                                != group_target.and_then(|group| group.id.as_deref())
                    })
                {
                    event.object("subgroup", |group| {
                        group.text("uid", subgroup.id.as_deref());
                        group.text("name", subgroup.display_name.as_deref());
                    });
                }
                if matches!(activity_id, 1 | 2) {
                    let privilege = if activity.to_ascii_lowercase().contains("owner") {
                        "Owner".to_owned()
                    } else {
                        role_name.clone().unwrap_or_else(|| activity.to_string())
                    };
                    event.strings("privileges", [privilege.as_str()]);
                }
            }
            Class::EntityManagement(_) => {
                if let Some(target) = entity_target {
                    event.object("entity", |entity| {
                        entity.text("uid", target.id.as_deref());
                        entity.text(
                            "name",
                            target
                                .display_name
                                .as_deref()
                                .or(target.user_principal_name.as_deref()),
                        );
                        let (type_id, caption) = match target.kind.as_deref().unwrap_or_default() {
                            kind if kind.eq_ignore_ascii_case("Device") => (1, "Device"),
                            kind if kind.eq_ignore_ascii_case("User") => (2, "User"),
                            kind if kind.eq_ignore_ascii_case("Group") => (3, "Group"),
                            kind if kind.eq_ignore_ascii_case("Policy") => (5, "Policy"),
                            "" => (0, "Unknown"),
                            other => (99, other),
                        };
                        entity.int("type_id", type_id);
                        entity.string("type", caption);
                        if !target.modified.is_empty() {
                            entity.object("data", |data| {
                                data.array("modified_properties", |list| {
                                    write_modified(list, target, false)
                                });
                            });
                        }
                    });
                }
            }
            Class::ApiActivity(_) => {
                event.object("api", |api| {
                    api.string("operation", &activity);
                    if let Some(service) = &service {
                        api.object("service", |api_service| api_service.string("name", service));
                    }
                });
                event.array("resources", |resources| {
                    for target in &targets {
                        resources.object(|resource| {
                            resource.text("uid", target.id.as_deref());
                            resource.text(
                                "name",
                                target
                                    .display_name
                                    .as_deref()
                                    .or(target.user_principal_name.as_deref()),
                            );
                            resource.text("type", target.kind.as_deref());
                        });
                    }
                });
            }
        }

        write_metadata(
            event,
            record,
            context,
            service.as_deref().unwrap_or("Audit logs"),
            TIME_FIELD,
            Some(&activity),
        );
        write_cloud(event, context);
        write_unmapped(event, record, COVERED, &[], |unmapped| {
            write_decoded(unmapped, &targets)
        });
    });
    Ok(())
}

/// The decoded modified properties of `target`; with the target's id and type when `name_target`.
fn write_modified(list: &mut crate::schema::json::ArrayWriter, target: &Target, name_target: bool) {
    for property in &target.modified {
        list.object(|entry| {
            if name_target {
                entry.text("target_uid", target.id.as_deref());
                entry.text("target_type", target.kind.as_deref());
            }
            entry.string("name", &property.name);
            if let Some(old) = property.old_value.as_deref().and_then(decode_json_string) {
                entry.raw("old_value", &old);
            }
            if let Some(new) = property.new_value.as_deref().and_then(decode_json_string) {
                entry.raw("new_value", &new);
            }
        });
    }
}

/// `modified_properties` decoded from the JSON strings Graph wraps them in, one list over all
/// targets, next to the verbatim `targetResources` in `unmapped`.
fn write_decoded(unmapped: &mut ObjectWriter, targets: &[Target]) {
    unmapped.array("modified_properties", |list| {
        for target in targets {
            write_modified(list, target, true);
        }
    });
}
