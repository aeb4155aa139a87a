//! `directoryAudit` records across the main categories and activities of the Entra audit
//! activity reference (MicrosoftDocs/entra-docs `reference-audit-activities.md`).

use serde::Serialize;

use super::{ApiVersion, KeyValue, Obj, graph_time, ip_address};
use crate::sim::generate::{Quirk, RecordMeta, TenantData};
use crate::sim::pools;
use crate::sim::rng::SimRng;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DirectoryAudit<'a> {
    id: &'a str,
    category: &'a str,
    correlation_id: String,
    result: &'a str,
    result_reason: String,
    activity_display_name: &'a str,
    activity_date_time: String,
    logged_by_service: &'a str,
    operation_type: &'a str,
    initiated_by: InitiatedBy<'a>,
    target_resources: Vec<TargetResource<'a>>,
    additional_details: Vec<KeyValue<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    activity_source: Option<&'a str>,
}

#[derive(Serialize)]
struct InitiatedBy<'a> {
    user: Obj<UserIdentity<'a>>,
    app: Obj<AppIdentity<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    id: &'a str,
    display_name: Option<&'a str>,
    user_principal_name: &'a str,
    ip_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    home_tenant_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    home_tenant_name: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppIdentity<'a> {
    app_id: Option<&'a str>,
    display_name: &'a str,
    service_principal_id: Option<&'a str>,
    service_principal_name: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetResource<'a> {
    id: String,
    display_name: Option<String>,
    #[serde(rename = "type")]
    resource_type: &'a str,
    user_principal_name: Option<String>,
    group_type: Option<&'a str>,
    modified_properties: Vec<ModifiedProperty>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModifiedProperty {
    display_name: &'static str,
    old_value: Option<String>,
    new_value: Option<String>,
}

/// What an activity changes, which decides its target resources.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    User,
    UserUpdate,
    GroupMember,
    Group,
    GroupOwner,
    RoleMember,
    ServicePrincipalRole,
    Application,
    ServicePrincipal,
    Device,
    Policy,
    Domain,
}

struct Activity {
    category: &'static str,
    name: &'static str,
    operation: &'static str,
    service: &'static str,
    target: Target,
}

const fn activity(
    category: &'static str,
    name: &'static str,
    operation: &'static str,
    service: &'static str,
    target: Target,
) -> Activity {
    Activity {
        category,
        name,
        operation,
        service,
        target,
    }
}

const CORE: &str = "Core Directory";

static ACTIVITIES: &[(Activity, u32)] = &[
    (
        activity("UserManagement", "Add user", "Add", CORE, Target::User),
        8,
    ),
    (
        activity(
            "UserManagement",
            "Update user",
            "Update",
            CORE,
            Target::UserUpdate,
        ),
        30,
    ),
    (
        activity(
            "UserManagement",
            "Delete user",
            "Delete",
            CORE,
            Target::User,
        ),
        3,
    ),
    (
        activity(
            "UserManagement",
            "Hard Delete user",
            "Delete",
            CORE,
            Target::User,
        ),
        1,
    ),
    (
        activity(
            "UserManagement",
            "Restore user",
            "Update",
            CORE,
            Target::User,
        ),
        1,
    ),
    (
        activity(
            "UserManagement",
            "Disable account",
            "Update",
            CORE,
            Target::UserUpdate,
        ),
        2,
    ),
    (
        activity(
            "UserManagement",
            "Enable account",
            "Update",
            CORE,
            Target::UserUpdate,
        ),
        1,
    ),
    (
        activity(
            "UserManagement",
            "Change user password",
            "Update",
            CORE,
            Target::User,
        ),
        4,
    ),
    (
        activity(
            "UserManagement",
            "Reset user password",
            "Update",
            CORE,
            Target::User,
        ),
        4,
    ),
    (
        activity(
            "UserManagement",
            "Reset password (self-service)",
            "Update",
            "Self-service Password Management",
            Target::User,
        ),
        3,
    ),
    (
        activity(
            "UserManagement",
            "Set force change user password",
            "Update",
            CORE,
            Target::User,
        ),
        1,
    ),
    (
        activity(
            "UserManagement",
            "Change user license",
            "Update",
            CORE,
            Target::UserUpdate,
        ),
        4,
    ),
    (
        activity(
            "UserManagement",
            "Update StsRefreshTokenValidFrom Timestamp",
            "Update",
            CORE,
            Target::UserUpdate,
        ),
        6,
    ),
    (
        activity(
            "UserManagement",
            "User registered security info",
            "Add",
            "Authentication Methods",
            Target::User,
        ),
        3,
    ),
    (
        activity(
            "UserManagement",
            "User deleted security info",
            "Delete",
            "Authentication Methods",
            Target::User,
        ),
        1,
    ),
    (
        activity(
            "UserManagement",
            "Disable Strong Authentication",
            "Update",
            CORE,
            Target::UserUpdate,
        ),
        1,
    ),
    (
        activity(
            "GroupManagement",
            "Add member to group",
            "Assign",
            CORE,
            Target::GroupMember,
        ),
        15,
    ),
    (
        activity(
            "GroupManagement",
            "Remove member from group",
            "Unassign",
            CORE,
            Target::GroupMember,
        ),
        8,
    ),
    (
        activity("GroupManagement", "Add group", "Add", CORE, Target::Group),
        2,
    ),
    (
        activity(
            "GroupManagement",
            "Delete group",
            "Delete",
            CORE,
            Target::Group,
        ),
        1,
    ),
    (
        activity(
            "GroupManagement",
            "Update group",
            "Update",
            CORE,
            Target::Group,
        ),
        3,
    ),
    (
        activity(
            "GroupManagement",
            "Add owner to group",
            "Assign",
            CORE,
            Target::GroupOwner,
        ),
        2,
    ),
    (
        activity(
            "GroupManagement",
            "Remove owner from group",
            "Unassign",
            CORE,
            Target::GroupOwner,
        ),
        1,
    ),
    (
        activity(
            "RoleManagement",
            "Add member to role",
            "Assign",
            CORE,
            Target::RoleMember,
        ),
        3,
    ),
    (
        activity(
            "RoleManagement",
            "Remove member from role",
            "Unassign",
            CORE,
            Target::RoleMember,
        ),
        2,
    ),
    (
        activity(
            "RoleManagement",
            "Add eligible member to role in PIM completed (permanent)",
            "Assign",
            "PIM",
            Target::RoleMember,
        ),
        1,
    ),
    (
        activity(
            "RoleManagement",
            "Add member to role completed (PIM activation)",
            "Assign",
            "PIM",
            Target::RoleMember,
        ),
        2,
    ),
    (
        activity(
            "ApplicationManagement",
            "Add app role assignment to service principal",
            "Assign",
            CORE,
            Target::ServicePrincipalRole,
        ),
        2,
    ),
    (
        activity(
            "ApplicationManagement",
            "Remove app role assignment from service principal",
            "Unassign",
            CORE,
            Target::ServicePrincipalRole,
        ),
        1,
    ),
    (
        activity(
            "ApplicationManagement",
            "Consent to application",
            "Assign",
            CORE,
            Target::ServicePrincipalRole,
        ),
        2,
    ),
    (
        activity(
            "ApplicationManagement",
            "Add delegated permission grant",
            "Assign",
            CORE,
            Target::ServicePrincipalRole,
        ),
        1,
    ),
    (
        activity(
            "ApplicationManagement",
            "Add application",
            "Add",
            CORE,
            Target::Application,
        ),
        1,
    ),
    (
        activity(
            "ApplicationManagement",
            "Update application",
            "Update",
            CORE,
            Target::Application,
        ),
        3,
    ),
    (
        activity(
            "ApplicationManagement",
            "Update application \u{2013} Certificates and secrets management ",
            "Update",
            CORE,
            Target::Application,
        ),
        2,
    ),
    (
        activity(
            "ApplicationManagement",
            "Add service principal",
            "Add",
            CORE,
            Target::ServicePrincipal,
        ),
        1,
    ),
    (
        activity(
            "ApplicationManagement",
            "Add service principal credentials",
            "Update",
            CORE,
            Target::ServicePrincipal,
        ),
        1,
    ),
    (
        activity(
            "ApplicationManagement",
            "Delete application",
            "Delete",
            CORE,
            Target::Application,
        ),
        1,
    ),
    (
        activity(
            "Device",
            "Register device",
            "Add",
            "Device Registration Service",
            Target::Device,
        ),
        3,
    ),
    (
        activity("Device", "Add device", "Add", CORE, Target::Device),
        2,
    ),
    (
        activity("Device", "Update device", "Update", CORE, Target::Device),
        4,
    ),
    (
        activity("Device", "Delete device", "Delete", CORE, Target::Device),
        1,
    ),
    (
        activity(
            "Policy",
            "Add conditional access policy",
            "Add",
            "Conditional Access",
            Target::Policy,
        ),
        1,
    ),
    (
        activity(
            "Policy",
            "Update conditional access policy",
            "Update",
            "Conditional Access",
            Target::Policy,
        ),
        2,
    ),
    (
        activity(
            "Policy",
            "Delete conditional access policy",
            "Delete",
            "Conditional Access",
            Target::Policy,
        ),
        1,
    ),
    (
        activity(
            "Policy",
            "Add named location",
            "Add",
            "Conditional Access",
            Target::Policy,
        ),
        1,
    ),
    (
        activity(
            "DirectoryManagement",
            "Set Company Information",
            "Update",
            CORE,
            Target::Domain,
        ),
        1,
    ),
    (
        activity(
            "DirectoryManagement",
            "Verify domain",
            "Update",
            CORE,
            Target::Domain,
        ),
        1,
    ),
];

pub(super) fn render(
    out: &mut Vec<u8>,
    tenant: &TenantData,
    meta: &RecordMeta,
    version: ApiVersion,
) -> serde_json::Result<()> {
    let mut rng = SimRng::new(&[meta.seed, 12]);
    let quirk = meta.quirk;
    let activity = rng.weighted(ACTIVITIES);
    let actor = rng.pick(&tenant.users);
    let target_user = rng.pick(&tenant.users);
    let (group_id, group_name) = rng.pick(&tenant.groups);
    let (role_id, role_name) = *rng.pick(pools::ADMIN_ROLES);
    let workload = rng.pick(&tenant.workloads);
    let location_index = actor.home_location;

    let initiator_is_app = activity.service == "PIM"
        || activity.target == Target::Device && rng.chance(0.5)
        || rng.chance(0.15);
    let nobody = rng.chance(0.01);
    let user_identity = UserIdentity {
        id: &actor.id,
        // Graph leaves the initiator's display name empty more often than not
        display_name: rng.chance(0.4).then_some(actor.display_name.as_str()),
        user_principal_name: &actor.user_principal_name,
        ip_address: if rng.chance(0.3) {
            String::new()
        } else {
            ip_address(&mut rng, location_index)
        },
        user_type: None,
        home_tenant_id: (version == ApiVersion::Beta).then_some(tenant.tenant_id.as_str()),
        home_tenant_name: (version == ApiVersion::Beta).then_some(tenant.display_name.as_str()),
    };
    let (app_id, app_name) = *rng.pick(pools::AUDIT_ACTOR_APPS);
    let app_identity = AppIdentity {
        app_id: Some(app_id),
        display_name: app_name,
        service_principal_id: Some(&workload.service_principal_id),
        service_principal_name: None,
    };
    let initiated_by = if nobody {
        InitiatedBy {
            user: Obj::Null,
            app: Obj::Null,
        }
    } else if initiator_is_app {
        InitiatedBy {
            user: if quirk == Some(Quirk::NullOrEmptyObjects) {
                Obj::Empty
            } else {
                Obj::Null
            },
            app: Obj::Present(app_identity),
        }
    } else {
        InitiatedBy {
            user: Obj::Present(user_identity),
            app: if quirk == Some(Quirk::NullOrEmptyObjects) {
                Obj::Empty
            } else {
                Obj::Null
            },
        }
    };

    let user_target = |modified_properties: Vec<ModifiedProperty>| TargetResource {
        id: target_user.id.clone(),
        display_name: None,
        resource_type: "User",
        user_principal_name: Some(target_user.user_principal_name.clone()),
        group_type: None,
        modified_properties,
    };
    let quoted = |text: &str| format!("\"{}\"", text.replace('"', "\\\""));
    let target_resources = match activity.target {
        Target::User => vec![user_target(Vec::new())],
        Target::UserUpdate => {
            let (property, old, new) = *rng.pick(&[
                ("AccountEnabled", "[true]", "[false]"),
                ("DisplayName", "[\"Alex Wilber\"]", "[\"Alex W. Wilber\"]"),
                ("Department", "[\"Sales\"]", "[\"Marketing\"]"),
                (
                    "StsRefreshTokensValidFrom",
                    "[\"2024-01-01T00:00:00Z\"]",
                    "[\"2024-05-01T10:00:00Z\"]",
                ),
                (
                    "AssignedLicense",
                    "[]",
                    "[\"[SKUName=ENTERPRISEPACK, AccountId=...]\"]",
                ),
            ]);
            vec![user_target(vec![
                ModifiedProperty {
                    display_name: property,
                    old_value: Some(old.to_owned()),
                    new_value: Some(new.to_owned()),
                },
                ModifiedProperty {
                    display_name: "Included Updated Properties",
                    old_value: None,
                    new_value: Some(quoted(property)),
                },
            ])]
        }
        Target::GroupMember if rng.chance(0.08) => {
            // a group added to (or removed from) a group
            let (member_id, member_name) = rng.pick(&tenant.groups);
            vec![
                TargetResource {
                    id: member_id.clone(),
                    display_name: Some(member_name.clone()),
                    resource_type: "Group",
                    user_principal_name: None,
                    group_type: Some("azureAD"),
                    modified_properties: vec![
                        ModifiedProperty {
                            display_name: "Group.ObjectID",
                            old_value: None,
                            new_value: Some(quoted(group_id)),
                        },
                        ModifiedProperty {
                            display_name: "Group.DisplayName",
                            old_value: None,
                            new_value: Some(quoted(group_name)),
                        },
                    ],
                },
                TargetResource {
                    id: group_id.clone(),
                    display_name: None,
                    resource_type: "Group",
                    user_principal_name: None,
                    group_type: Some("unifiedGroups"),
                    modified_properties: Vec::new(),
                },
            ]
        }
        Target::GroupMember => vec![
            user_target(vec![
                ModifiedProperty {
                    display_name: "Group.ObjectID",
                    old_value: None,
                    new_value: Some(quoted(group_id)),
                },
                ModifiedProperty {
                    display_name: "Group.DisplayName",
                    old_value: None,
                    new_value: Some(quoted(group_name)),
                },
            ]),
            TargetResource {
                id: group_id.clone(),
                display_name: None,
                resource_type: "Group",
                user_principal_name: None,
                group_type: Some("unifiedGroups"),
                modified_properties: Vec::new(),
            },
        ],
        Target::Group | Target::GroupOwner => {
            let mut targets = vec![TargetResource {
                id: group_id.clone(),
                display_name: Some(group_name.clone()),
                resource_type: "Group",
                user_principal_name: None,
                group_type: Some(*rng.pick(&["unifiedGroups", "azureAD", "distributionGroup"])),
                modified_properties: vec![ModifiedProperty {
                    display_name: "DisplayName",
                    old_value: Some("[]".to_owned()),
                    new_value: Some(format!("[{}]", quoted(group_name))),
                }],
            }];
            if activity.target == Target::GroupOwner {
                targets.insert(0, user_target(Vec::new()));
            }
            targets
        }
        Target::RoleMember => vec![
            user_target(vec![
                ModifiedProperty {
                    display_name: "Role.ObjectID",
                    old_value: None,
                    new_value: Some(quoted(role_id)),
                },
                ModifiedProperty {
                    display_name: "Role.DisplayName",
                    old_value: None,
                    new_value: Some(quoted(role_name)),
                },
                ModifiedProperty {
                    display_name: "Role.TemplateId",
                    old_value: None,
                    new_value: Some(quoted(role_id)),
                },
            ]),
            TargetResource {
                id: role_id.to_owned(),
                display_name: Some(role_name.to_owned()),
                resource_type: "Role",
                user_principal_name: None,
                group_type: None,
                modified_properties: Vec::new(),
            },
        ],
        Target::ServicePrincipalRole => vec![TargetResource {
            id: workload.service_principal_id.clone(),
            display_name: Some("Microsoft Graph".to_owned()),
            resource_type: "ServicePrincipal",
            user_principal_name: None,
            group_type: None,
            modified_properties: vec![
                ModifiedProperty {
                    display_name: "AppRole.Id",
                    old_value: None,
                    new_value: Some(quoted("b0afded3-3588-46d8-8b3d-9842eff778da")),
                },
                ModifiedProperty {
                    display_name: "AppRole.Value",
                    old_value: None,
                    new_value: Some(quoted("AuditLog.Read.All")),
                },
                ModifiedProperty {
                    display_name: "ServicePrincipal.DisplayName",
                    old_value: None,
                    new_value: Some(quoted(&workload.name)),
                },
                ModifiedProperty {
                    display_name: "ServicePrincipal.AppId",
                    old_value: None,
                    new_value: Some(quoted(&workload.app_id)),
                },
            ],
        }],
        Target::Application | Target::ServicePrincipal => vec![TargetResource {
            id: if activity.target == Target::Application {
                workload.app_id.clone()
            } else {
                workload.service_principal_id.clone()
            },
            display_name: Some(workload.name.clone()),
            resource_type: if activity.target == Target::Application {
                "Application"
            } else {
                "ServicePrincipal"
            },
            user_principal_name: None,
            group_type: None,
            modified_properties: vec![ModifiedProperty {
                display_name: "KeyDescription",
                old_value: Some("[]".to_owned()),
                new_value: Some(format!(
                    "[\"[KeyIdentifier={},KeyType=Password,KeyUsage=Verify,DisplayName=ci]\"]",
                    workload.credential_key_id
                )),
            }],
        }],
        Target::Device => vec![TargetResource {
            id: rng.guid(),
            display_name: Some(format!("LAPTOP-{:06X}", rng.below(0xff_ffff))),
            resource_type: "Device",
            user_principal_name: None,
            group_type: None,
            modified_properties: vec![ModifiedProperty {
                display_name: "DeviceOSType",
                old_value: Some("[]".to_owned()),
                new_value: Some("[\"Windows\"]".to_owned()),
            }],
        }],
        Target::Policy => {
            let (policy_name, _) = *rng.pick(pools::CONDITIONAL_ACCESS_POLICIES);
            vec![TargetResource {
                id: rng.guid(),
                display_name: Some(policy_name.to_owned()),
                resource_type: "Policy",
                user_principal_name: None,
                group_type: None,
                modified_properties: vec![ModifiedProperty {
                    display_name: "ConditionalAccessPolicy",
                    old_value: Some("{\"state\":\"enabledForReportingButNotEnforced\"}".to_owned()),
                    new_value: Some("{\"state\":\"enabled\"}".to_owned()),
                }],
            }]
        }
        Target::Domain => vec![TargetResource {
            id: tenant.tenant_id.clone(),
            display_name: Some(tenant.domain.clone()),
            resource_type: "Directory",
            user_principal_name: None,
            group_type: None,
            modified_properties: Vec::new(),
        }],
    };

    let (result, result_reason) = *rng.weighted(&[
        (("success", ""), 95),
        (
            (
                "failure",
                "Microsoft.Online.Workflows.ObjectAlreadyExistsException",
            ),
            2,
        ),
        (
            (
                "failure",
                "User's password does not meet complexity requirements",
            ),
            2,
        ),
        (("timeout", "Request timed out"), 1),
    ]);
    let result = if quirk == Some(Quirk::UnknownEnumValues) {
        "partialSuccess"
    } else {
        result
    };
    let category = if quirk == Some(Quirk::UnknownEnumValues) && rng.chance(0.5) {
        "AgentIdentityManagement"
    } else {
        activity.category
    };
    let result_reason = if quirk == Some(Quirk::NonAsciiText) {
        format!("{result_reason} — Ünïcødé «détail» 詳細")
    } else {
        result_reason.to_owned()
    };
    let user_agent = *rng.pick(pools::USER_AGENTS);
    let mut additional_details = vec![KeyValue {
        key: "User-Agent",
        value: user_agent.to_owned(),
    }];
    if matches!(activity.target, Target::User | Target::UserUpdate) {
        additional_details.push(KeyValue {
            key: "UserType",
            value: if target_user.guest_home_tenant.is_some() {
                "Guest"
            } else {
                "Member"
            }
            .to_owned(),
        });
    }
    if activity.service == "PIM" {
        additional_details.push(KeyValue {
            key: "Justification",
            value: "Incident response".to_owned(),
        });
    }
    let audit = DirectoryAudit {
        id: &meta.id,
        category,
        correlation_id: rng.guid(),
        result,
        result_reason,
        activity_display_name: activity.name,
        activity_date_time: graph_time(meta.event.as_millis()),
        logged_by_service: activity.service,
        operation_type: activity.operation,
        initiated_by,
        target_resources,
        additional_details,
        user_agent: (version == ApiVersion::Beta).then_some(user_agent),
        activity_source: (quirk == Some(Quirk::UnknownProperties)).then_some("agentPlatform"),
    };
    serde_json::to_writer(out, &audit)
}
