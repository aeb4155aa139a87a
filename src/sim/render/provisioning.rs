//! `provisioningObjectSummary` records: one object moved by a provisioning job from a source
//! system to a target system, with the steps it went through.

use serde::Serialize;

use super::{ApiVersion, KeyValue, Obj, graph_time_seconds};
use crate::sim::generate::{Quirk, RecordMeta, TenantData};
use crate::sim::pools;
use crate::sim::rng::SimRng;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Provisioning<'a> {
    id: &'a str,
    activity_date_time: String,
    tenant_id: &'a str,
    job_id: String,
    cycle_id: String,
    change_id: String,
    provisioning_action: &'a str,
    duration_in_milliseconds: u64,
    service_principal: ServicePrincipalRef<'a>,
    source_system: SystemRef<'a>,
    target_system: SystemRef<'a>,
    source_identity: Identity<'a>,
    target_identity: Identity<'a>,
    initiated_by: Initiator<'a>,
    provisioning_status_info: Obj<StatusInfo<'a>>,
    provisioning_steps: Vec<Step<'a>>,
    modified_properties: Vec<ModifiedProperty<'a>>,
    #[serde(flatten)]
    beta: Option<BetaProvisioning<'a>>,
}

/// The beta endpoint still carries the older names next to the current ones.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BetaProvisioning<'a> {
    action: &'a str,
    status_info: Obj<StatusInfo<'a>>,
    provisioning_operation: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServicePrincipalRef<'a> {
    id: &'a str,
    display_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SystemRef<'a> {
    id: String,
    display_name: &'a str,
    details: Vec<KeyValue<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Identity<'a> {
    id: String,
    display_name: &'a str,
    identity_type: &'a str,
    details: Vec<KeyValue<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Initiator<'a> {
    id: &'a str,
    display_name: &'a str,
    initiator_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusInfo<'a> {
    #[serde(rename = "@odata.type")]
    odata_type: &'a str,
    status: &'a str,
    error_information: Option<ErrorInformation<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorInformation<'a> {
    error_code: &'a str,
    reason: &'a str,
    additional_details: &'a str,
    error_category: &'a str,
    recommended_action: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Step<'a> {
    name: &'a str,
    provisioning_step_type: &'a str,
    status: &'a str,
    description: String,
    details: Vec<KeyValue<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModifiedProperty<'a> {
    display_name: &'a str,
    old_value: Option<&'a str>,
    new_value: Option<String>,
}

pub(super) fn render(
    out: &mut Vec<u8>,
    tenant: &TenantData,
    meta: &RecordMeta,
    version: ApiVersion,
) -> serde_json::Result<()> {
    let mut rng = SimRng::new(&[meta.seed, 13]);
    let quirk = meta.quirk;
    let (job_app, source_name) = *rng.pick(pools::PROVISIONING_APPS);
    let (target_name, is_inbound) = if source_name == "Azure Active Directory" {
        (job_app, false)
    } else {
        ("Azure Active Directory", true)
    };
    let user = rng.pick(&tenant.users);
    let workload = rng.pick(&tenant.workloads);
    let action = *rng.weighted(&[
        ("update", 60),
        ("create", 15),
        ("other", 12),
        ("disable", 6),
        ("delete", 4),
        ("stagedDelete", 3),
    ]);
    let status = *rng.weighted(&[
        ("success", 82),
        ("skipped", 10),
        ("failure", 6),
        ("warning", 2),
    ]);
    let status = if quirk == Some(Quirk::UnknownEnumValues) {
        "unknownFutureValue"
    } else {
        status
    };
    let error_information = (status == "failure").then_some(ErrorInformation {
        error_code: "AzureActiveDirectoryDuplicateUserPrincipalName",
        reason: "Failed to create User because the user principal name is already in use.",
        additional_details: "A user with the same userPrincipalName exists in the target directory.",
        error_category: "NonServiceFailure",
        recommended_action: Some("Resolve the conflict in the target system and restart the job."),
    });
    let job_id = format!(
        "{}.{}",
        job_app
            .split_whitespace()
            .next()
            .unwrap_or("App")
            .to_lowercase(),
        rng.guid().replace('-', "")
    );
    let source_id = rng.guid();
    let display_name = if quirk == Some(Quirk::NonAsciiText) {
        *rng.pick(pools::NON_ASCII_NAMES)
    } else {
        user.display_name.as_str()
    };
    let step = |name: &'static str,
                step_type: &'static str,
                step_status: &'static str,
                description: String| Step {
        name,
        provisioning_step_type: step_type,
        status: step_status,
        description,
        details: Vec::new(),
    };
    let mut steps = vec![
        step(
            "EntryImport",
            "import",
            "success",
            format!("Retrieved {display_name} from {source_name}"),
        ),
        step(
            "EntrySynchronizationScoping",
            "scoping",
            if status == "skipped" {
                "skipped"
            } else {
                "success"
            },
            format!("Determine if {display_name} is in scope."),
        ),
        step(
            "EntryImportByMatch",
            "matching",
            "success",
            format!("Retrieved {display_name} from {target_name}"),
        ),
    ];
    if status != "skipped" {
        steps.push(step(
            "EntryExportUpdate",
            "export",
            if status == "failure" {
                "failure"
            } else {
                "success"
            },
            format!("{action} {display_name} in {target_name}"),
        ));
    }
    let status_info = StatusInfo {
        odata_type: "#microsoft.graph.provisioningStatusInfo",
        status,
        error_information,
    };
    let beta = (version == ApiVersion::Beta).then_some(BetaProvisioning {
        action: match action {
            "create" => "Create",
            "update" => "Update",
            "delete" | "stagedDelete" => "Delete",
            "disable" => "Disable",
            _ => "Other",
        },
        status_info: Obj::Present(StatusInfo {
            odata_type: "#microsoft.graph.statusBase",
            status,
            error_information: None,
        }),
        provisioning_operation: action,
    });
    let record = Provisioning {
        id: &meta.id,
        activity_date_time: graph_time_seconds(meta.event.as_millis()),
        tenant_id: &tenant.tenant_id,
        job_id,
        cycle_id: rng.guid(),
        change_id: rng.guid(),
        provisioning_action: action,
        duration_in_milliseconds: 100 + rng.below(5000),
        service_principal: ServicePrincipalRef {
            id: &workload.service_principal_id,
            display_name: job_app,
        },
        source_system: SystemRef {
            id: rng.guid(),
            display_name: source_name,
            details: Vec::new(),
        },
        target_system: SystemRef {
            id: rng.guid(),
            display_name: target_name,
            details: vec![KeyValue {
                key: "ApplicationId",
                value: workload.app_id.clone(),
            }],
        },
        source_identity: Identity {
            id: source_id,
            display_name,
            identity_type: if is_inbound { "Worker" } else { "User" },
            details: Vec::new(),
        },
        target_identity: Identity {
            id: if action == "create" {
                String::new()
            } else {
                user.id.clone()
            },
            display_name,
            identity_type: if is_inbound {
                "User"
            } else {
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            },
            details: vec![KeyValue {
                key: "UserPrincipalName",
                value: user.user_principal_name.clone(),
            }],
        },
        initiated_by: Initiator {
            id: "",
            display_name: "Azure AD Provisioning Service",
            initiator_type: "system",
        },
        provisioning_status_info: Obj::quirky(status_info, quirk, &mut rng),
        provisioning_steps: steps,
        modified_properties: vec![
            ModifiedProperty {
                display_name: "accountEnabled",
                old_value: None,
                new_value: Some((action != "disable").to_string()),
            },
            ModifiedProperty {
                display_name: "displayName",
                old_value: None,
                new_value: Some(display_name.to_owned()),
            },
        ],
        beta,
    };
    serde_json::to_writer(out, &record)
}
