//! `directoryAudit` → the OCSF IAM class that fits its category and activity, so that Splunk's
//! OCSF-CIM add-on turns them into Account_Management events:
//! Account Change (3001) for user lifecycle, passwords and MFA factors; User Access Management
//! (3005) for role and app-role assignments; Group Management (3006) for groups and their members;
//! Entity Management (3004) for applications, devices, policies and role definitions; API Activity
//! (6003) for everything else, with the activity from `operationType`.

use std::borrow::Cow;

use super::audit_targets::{
    Part, Target, targets, write_decoded_modified, write_details_remainder,
    write_initiator_remainder, write_modified, write_targets_remainder,
};
use super::{
    CATEGORY_APPLICATION, CATEGORY_IAM, ClassHeader, Coverage, category_name, write_cloud,
    write_metadata, write_severity, write_status, write_time, write_unmapped,
};
use crate::graph::record::Record;
use crate::schema::json::ObjectWriter;
use crate::schema::values::Fields;
use crate::schema::{MapContext, MapError};

const TIME_FIELD: &str = "activityDateTime";

pub(super) const COVERED: &[(&str, Coverage)] = &[
    ("activityDateTime", Coverage::Full),
    ("activityDisplayName", Coverage::Full),
    ("additionalDetails", Coverage::Parts),
    ("correlationId", Coverage::Full),
    ("id", Coverage::Full),
    ("initiatedBy", Coverage::Parts),
    ("loggedByService", Coverage::Full),
    ("result", Coverage::Full),
    ("resultReason", Coverage::Full),
    ("targetResources", Coverage::Parts),
    ("userAgent", Coverage::Full),
];

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

/// The role a privilege names: a modified property's `Role.DisplayName` or `AppRole.Value`, else
/// the name of a Role target.
struct Role<'t, 'a> {
    from_properties: Option<String>,
    target: Option<&'t Target<'a>>,
}

impl Role<'_, '_> {
    /// The role's name, for `privileges`: a Role target's name has a home from then on.
    fn name(&self) -> Option<String> {
        self.from_properties.clone().or_else(|| {
            self.target
                .and_then(|target| target.take(Part::DisplayName))
                .map(str::to_owned)
        })
    }
}

fn write_target_user(event: &mut ObjectWriter, key: &str, target: &Target) {
    event.object(key, |user| {
        user.text("uid", target.take(Part::Id));
        user.text(
            "name",
            target
                .take(Part::UserPrincipalName)
                .or_else(|| target.take(Part::DisplayName)),
        );
        user.text("display_name", target.take(Part::DisplayName));
        // a service principal or an application is a Service: its Graph type stays in unmapped
        let (type_id, caption) = if target.is("User") {
            target.mark(Part::Kind);
            (1, "User")
        } else if target.is("ServicePrincipal") || target.is("Application") {
            (4, "Service")
        } else {
            (99, target.take(Part::Kind).unwrap_or("Other"))
        };
        user.int("type_id", type_id);
        user.string("type", caption);
    });
}

/// A target as an OCSF resource: its id, its name (`displayName`, else `userPrincipalName` when
/// `or_principal_name`) and its type.
fn write_resource(
    list: &mut crate::schema::json::ArrayWriter,
    target: &Target,
    or_principal_name: bool,
) {
    list.object(|resource| {
        resource.text("uid", target.take(Part::Id));
        let name = target.take(Part::DisplayName).or_else(|| {
            or_principal_name
                .then(|| target.take(Part::UserPrincipalName))
                .flatten()
        });
        resource.text("name", name);
        resource.text("type", target.take(Part::Kind));
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
    let role = Role {
        from_properties: targets.iter().find_map(|target| {
            target
                .modified_value("Role.DisplayName")
                .or_else(|| target.modified_value("AppRole.Value"))
        }),
        target: targets.iter().find(|target| target.is("Role")),
    };

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

        // the initiator's address; `loggedByService` is the service that logged the change, no
        // endpoint (it is `metadata.product.feature.name`)
        event.object("src_endpoint", |endpoint| {
            endpoint.text(
                "ip",
                initiating_user
                    .as_ref()
                    .and_then(|user| user.non_empty("ipAddress"))
                    .as_deref(),
            );
            if endpoint.fields() == 0 && matches!(class, Class::ApiActivity(_)) {
                // API Activity requires a source endpoint; Graph named no address
                endpoint.string("name", "Unknown");
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
                let privilege = role.name().unwrap_or_else(|| activity.to_string());
                event.strings("privileges", [privilege.as_str()]);
                event.array("resources", |resources| {
                    for target in targets.iter().filter(|target| !target.is("User")) {
                        write_resource(resources, target, false);
                    }
                });
            }
            Class::GroupManagement(activity_id) => {
                event.object("group", |group| match group_target {
                    Some(target) => {
                        if target.is("Group") {
                            target.mark(Part::Kind);
                        }
                        group.text("uid", target.take(Part::Id));
                        group.text(
                            "name",
                            target.take(Part::DisplayName).or_else(|| {
                                group_from_properties
                                    .as_ref()
                                    .and_then(|(_, name)| name.as_deref())
                            }),
                        );
                        group.text("type", target.take(Part::GroupType));
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
                    subgroup.mark(Part::Kind);
                    event.object("subgroup", |group| {
                        group.text("uid", subgroup.take(Part::Id));
                        group.text("name", subgroup.take(Part::DisplayName));
                    });
                }
                if matches!(activity_id, 1 | 2) {
                    let privilege = if activity.to_ascii_lowercase().contains("owner") {
                        "Owner".to_owned()
                    } else {
                        role.name().unwrap_or_else(|| activity.to_string())
                    };
                    event.strings("privileges", [privilege.as_str()]);
                }
            }
            Class::EntityManagement(_) => {
                if let Some(target) = entity_target {
                    event.object("entity", |entity| {
                        entity.text("uid", target.take(Part::Id));
                        entity.text(
                            "name",
                            target
                                .take(Part::DisplayName)
                                .or_else(|| target.take(Part::UserPrincipalName)),
                        );
                        let (type_id, caption) = match target.take(Part::Kind).unwrap_or_default() {
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
                            target.take_modified();
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
                        write_resource(resources, target, true);
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
            write_initiator_remainder(unmapped, record);
            write_targets_remainder(unmapped, record, &targets);
            write_details_remainder(unmapped, record, user_agent.as_deref());
            write_decoded_modified(unmapped, &targets);
        });
    });
    Ok(())
}
