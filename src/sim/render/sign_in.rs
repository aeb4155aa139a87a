//! `signIn` records of the four kinds, as v1.0 (interactive only, fewer properties) or beta.

use serde::Serialize;

use super::{ApiVersion, KeyValue, Obj, graph_time, ip_address};
use crate::sim::generate::{Quirk, RecordMeta, TenantData};
use crate::sim::pools;
use crate::sim::rng::SimRng;
use crate::stream::StreamKind;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignIn<'a> {
    id: &'a str,
    created_date_time: String,
    user_display_name: Option<&'a str>,
    user_principal_name: Option<&'a str>,
    user_id: &'a str,
    app_id: &'a str,
    app_display_name: &'a str,
    ip_address: String,
    client_app_used: &'a str,
    correlation_id: String,
    conditional_access_status: &'a str,
    is_interactive: bool,
    risk_detail: &'a str,
    risk_level_aggregated: &'a str,
    risk_level_during_sign_in: &'a str,
    risk_state: &'a str,
    risk_event_types: Vec<&'a str>,
    #[serde(rename = "riskEventTypes_v2")]
    risk_event_types_v2: Vec<&'a str>,
    resource_display_name: &'a str,
    resource_id: &'a str,
    status: Status<'a>,
    device_detail: Obj<DeviceDetail<'a>>,
    location: Obj<Location<'a>>,
    applied_conditional_access_policies: Vec<AppliedPolicy<'a>>,
    #[serde(flatten)]
    beta: Option<BetaSignIn<'a>>,
    #[serde(flatten)]
    future: Option<FutureProperties>,
}

/// Properties only the beta endpoint returns.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BetaSignIn<'a> {
    sign_in_event_types: Vec<&'a str>,
    authentication_details: Vec<AuthenticationDetail<'a>>,
    authentication_requirement: &'a str,
    authentication_protocol: &'a str,
    authentication_methods_used: Vec<&'a str>,
    authentication_processing_details: Vec<KeyValue<'a>>,
    authentication_requirement_policies: Vec<RequirementPolicy<'a>>,
    authentication_context_class_references: Vec<KeyValue<'a>>,
    user_agent: &'a str,
    user_type: &'a str,
    service_principal_id: &'a str,
    service_principal_name: Option<&'a str>,
    service_principal_credential_key_id: &'a str,
    service_principal_credential_thumbprint: &'a str,
    federated_credential_id: &'a str,
    managed_service_identity: Obj<ManagedServiceIdentity<'a>>,
    client_credential_type: &'a str,
    token_issuer_type: &'a str,
    token_issuer_name: &'a str,
    incoming_token_type: &'a str,
    cross_tenant_access_type: &'a str,
    home_tenant_id: &'a str,
    home_tenant_name: &'a str,
    resource_tenant_id: &'a str,
    resource_service_principal_id: String,
    autonomous_system_number: u32,
    ip_address_from_resource_provider: Option<&'a str>,
    is_tenant_restricted: bool,
    is_through_global_secure_access: bool,
    flagged_for_review: bool,
    network_location_details: Vec<NetworkLocationDetail<'a>>,
    session_lifetime_policies: Vec<SessionLifetimePolicy<'a>>,
    mfa_detail: Obj<MfaDetail<'a>>,
    session_id: String,
    original_request_id: String,
    unique_token_identifier: String,
    sign_in_identifier: &'a str,
    sign_in_identifier_type: Option<&'a str>,
    original_transfer_method: &'a str,
    app_token_protection_status: &'a str,
    sign_in_token_protection_status: &'a str,
    processing_time_in_milliseconds: u64,
    applied_event_listeners: Vec<()>,
    private_link_details: Obj<()>,
    conditional_access_audiences: Vec<ConditionalAccessAudience<'a>>,
}

/// Properties Graph added after these records were designed; consumers must pass them through.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FutureProperties {
    agent: FutureAgent,
    sign_in_risk_signals: Vec<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FutureAgent {
    agent_type: &'static str,
    parent_app_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    error_code: i64,
    failure_reason: &'a str,
    additional_details: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceDetail<'a> {
    device_id: String,
    display_name: String,
    operating_system: &'a str,
    browser: &'a str,
    is_compliant: bool,
    is_managed: bool,
    trust_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    city: Option<&'a str>,
    state: Option<&'a str>,
    country_or_region: Option<&'a str>,
    geo_coordinates: Obj<GeoCoordinates>,
}

#[derive(Serialize)]
struct GeoCoordinates {
    altitude: Option<f64>,
    latitude: f64,
    longitude: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppliedPolicy<'a> {
    id: String,
    display_name: String,
    enforced_grant_controls: &'a [&'a str],
    enforced_session_controls: &'a [&'a str],
    result: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conditions_satisfied: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conditions_not_satisfied: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthenticationDetail<'a> {
    authentication_method: &'a str,
    authentication_method_detail: &'a str,
    authentication_step_date_time: String,
    authentication_step_requirement: &'a str,
    authentication_step_result_detail: &'a str,
    succeeded: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequirementPolicy<'a> {
    requirement_provider: &'a str,
    detail: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManagedServiceIdentity<'a> {
    msi_type: &'a str,
    associated_resource_id: &'a str,
    federated_token_id: Option<&'a str>,
    federated_token_issuer: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NetworkLocationDetail<'a> {
    network_type: &'a str,
    network_names: Vec<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionLifetimePolicy<'a> {
    expiration_requirement: &'a str,
    detail: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MfaDetail<'a> {
    auth_method: Option<&'a str>,
    auth_detail: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConditionalAccessAudience<'a> {
    application_id: &'a str,
    audience_reasons: &'a str,
}

const NO_CONTROLS: &[&str] = &[];

enum Subject<'a> {
    User(&'a crate::sim::generate::SimUser),
    Workload(&'a crate::sim::generate::SimWorkload),
}

pub(super) fn render(
    out: &mut Vec<u8>,
    tenant: &TenantData,
    meta: &RecordMeta,
    version: ApiVersion,
) -> serde_json::Result<()> {
    let mut rng = SimRng::new(&[meta.seed, 11]);
    let quirk = meta.quirk;
    let is_user_sign_in = matches!(
        meta.stream,
        StreamKind::SignInsInteractive | StreamKind::SignInsNonInteractive
    );
    let subject = if is_user_sign_in {
        Subject::User(rng.pick(&tenant.users))
    } else {
        Subject::Workload(rng.pick(&tenant.workloads))
    };
    let (client_app_id, client_app_name) = match subject {
        Subject::User(_) => *rng.pick(pools::CLIENT_APPS),
        Subject::Workload(workload) => (workload.app_id.as_str(), workload.name.as_str()),
    };
    let (resource_id, resource_name) = *rng.pick(pools::RESOURCES);
    let statuses = if is_user_sign_in {
        pools::SIGN_IN_STATUSES
    } else {
        pools::SERVICE_PRINCIPAL_STATUSES
    };
    let (error_code, failure_reason, additional_details) = *rng.weighted(statuses);
    let failure_reason = if error_code == 0 {
        "Other."
    } else {
        failure_reason
    };
    let additional_details = Some(additional_details).filter(|details| !details.is_empty());

    let location_index = match subject {
        Subject::User(user) if rng.chance(0.85) => user.home_location,
        _ => rng.index(pools::LOCATIONS.len()),
    };
    let (city, state, country, latitude, longitude, asn) = pools::LOCATIONS[location_index];
    let is_managed_identity = meta.stream == StreamKind::SignInsManagedIdentity;
    let ip_address = if is_managed_identity && rng.chance(0.6) {
        String::new()
    } else {
        ip_address(&mut rng, location_index)
    };
    let geo_coordinates = if rng.chance(0.05) || quirk == Some(Quirk::NullOrEmptyObjects) {
        Obj::Empty
    } else {
        Obj::Present(GeoCoordinates {
            altitude: None,
            latitude,
            longitude,
        })
    };
    let location = Location {
        city: Some(city),
        state: Some(state),
        country_or_region: Some(country),
        geo_coordinates,
    };

    let platform_index = match subject {
        Subject::User(user) => user.platform,
        Subject::Workload(_) => rng.index(pools::DEVICE_PLATFORMS.len()),
    };
    let (operating_system, browser) = pools::DEVICE_PLATFORMS[platform_index];
    let device_is_registered = is_user_sign_in && rng.chance(0.55);
    let device_detail = DeviceDetail {
        device_id: if device_is_registered {
            rng.guid()
        } else {
            String::new()
        },
        display_name: if device_is_registered {
            format!("DESKTOP-{:06X}", rng.below(0xff_ffff))
        } else {
            String::new()
        },
        operating_system: if is_user_sign_in {
            operating_system
        } else {
            ""
        },
        browser: if is_user_sign_in { browser } else { "" },
        is_compliant: device_is_registered && rng.chance(0.8),
        is_managed: device_is_registered && rng.chance(0.85),
        trust_type: if device_is_registered {
            rng.pick::<&str>(&[
                "Azure AD joined",
                "Hybrid Azure AD joined",
                "Azure AD registered",
            ])
        } else {
            ""
        },
    };

    let mut risk_level = *rng.weighted(pools::RISK_LEVELS);
    let risk_aggregated = if risk_level == "hidden" {
        "hidden"
    } else {
        *rng.weighted(pools::RISK_LEVELS)
    };
    if !is_user_sign_in {
        risk_level = "none";
    }
    let (risk_state, risk_detail, risk_events) = match risk_level {
        "low" | "medium" | "high" => (
            *rng.pick(&["atRisk", "remediated", "dismissed", "confirmedCompromised"]),
            *rng.pick(&[
                "none",
                "userPerformedSecuredPasswordChange",
                "adminDismissedAllRiskForUser",
            ]),
            vec![*rng.pick(pools::RISK_EVENT_TYPES)],
        ),
        "hidden" => ("none", "hidden", Vec::new()),
        _ => ("none", "none", Vec::new()),
    };

    let policies_count = if quirk == Some(Quirk::ManyPolicies) {
        150 + rng.index(30)
    } else {
        *rng.weighted(&[(0usize, 45), (1, 30), (2, 15), (3, 7), (4, 3)])
    };
    let applied_conditional_access_policies: Vec<AppliedPolicy> = (0..policies_count)
        .map(|policy_index| {
            let (name, controls) = pools::CONDITIONAL_ACCESS_POLICIES
                [policy_index % pools::CONDITIONAL_ACCESS_POLICIES.len()];
            let result = *rng.weighted(pools::CA_RESULTS);
            AppliedPolicy {
                id: crate::sim::rng::guid_for(&[tenant.index as u64, 77, policy_index as u64]),
                display_name: if policy_index < pools::CONDITIONAL_ACCESS_POLICIES.len() {
                    name.to_owned()
                } else {
                    format!("{name} ({policy_index})")
                },
                enforced_grant_controls: if result == "notApplied" || result == "notEnabled" {
                    NO_CONTROLS
                } else {
                    controls
                },
                enforced_session_controls: NO_CONTROLS,
                result,
                conditions_satisfied: (version == ApiVersion::Beta && result != "notEnabled")
                    .then_some("application,users"),
                conditions_not_satisfied: None,
            }
        })
        .collect();
    let conditional_access_status = if quirk == Some(Quirk::UnknownEnumValues) {
        "unknownFutureValue"
    } else if applied_conditional_access_policies
        .iter()
        .any(|policy| policy.result == "failure")
    {
        "failure"
    } else if applied_conditional_access_policies
        .iter()
        .any(|policy| policy.result == "success")
    {
        "success"
    } else {
        "notApplied"
    };

    let (user_display_name, user_principal_name, user_id) = match subject {
        Subject::User(user) => (
            Some(user.display_name.as_str()),
            Some(user.user_principal_name.as_str()),
            user.id.as_str(),
        ),
        Subject::Workload(workload) => (Some(workload.name.as_str()), None, ""),
    };
    let client_app_used = match meta.stream {
        StreamKind::SignInsInteractive => *rng.weighted(pools::CLIENT_APPS_USED),
        StreamKind::SignInsNonInteractive => "Mobile Apps and Desktop clients",
        _ => "",
    };
    let is_interactive = meta.stream == StreamKind::SignInsInteractive;
    let created = graph_time(meta.event.as_millis());

    let beta = (version == ApiVersion::Beta).then(|| {
        beta_properties(
            &mut rng,
            tenant,
            meta,
            &subject,
            error_code,
            asn,
            &created,
            resource_id,
        )
    });
    let future = (quirk == Some(Quirk::UnknownProperties)).then_some(FutureProperties {
        agent: FutureAgent {
            agent_type: "notAgentic",
            parent_app_id: None,
        },
        sign_in_risk_signals: vec![3, 1],
    });
    let mut risk_level_aggregated = risk_aggregated;
    if quirk == Some(Quirk::UnknownEnumValues) {
        risk_level_aggregated = "veryHigh";
    }
    let non_ascii_reason;
    let failure_reason = if quirk == Some(Quirk::NonAsciiText) && error_code != 0 {
        non_ascii_reason = format!("{failure_reason} «Zugriff verweigert» – حاول مرة أخرى");
        non_ascii_reason.as_str()
    } else {
        failure_reason
    };

    let sign_in = SignIn {
        id: &meta.id,
        created_date_time: created.clone(),
        user_display_name: if quirk == Some(Quirk::NonAsciiText) {
            Some(*rng.pick(pools::NON_ASCII_NAMES))
        } else {
            user_display_name
        },
        user_principal_name,
        user_id,
        app_id: client_app_id,
        app_display_name: client_app_name,
        ip_address,
        client_app_used,
        correlation_id: rng.guid(),
        conditional_access_status,
        is_interactive,
        risk_detail,
        risk_level_aggregated,
        risk_level_during_sign_in: risk_level,
        risk_state,
        risk_event_types: risk_events.clone(),
        risk_event_types_v2: risk_events,
        resource_display_name: resource_name,
        resource_id,
        status: Status {
            error_code,
            failure_reason,
            additional_details,
        },
        device_detail: Obj::quirky(device_detail, quirk, &mut rng),
        location: if is_managed_identity && rng.chance(0.5) {
            Obj::Present(Location {
                city: None,
                state: None,
                country_or_region: None,
                geo_coordinates: Obj::Empty,
            })
        } else {
            Obj::Present(location)
        },
        applied_conditional_access_policies,
        beta,
        future,
    };
    serde_json::to_writer(out, &sign_in)
}

#[allow(clippy::too_many_arguments)]
fn beta_properties<'a>(
    rng: &mut SimRng,
    tenant: &'a TenantData,
    meta: &RecordMeta,
    subject: &Subject<'a>,
    error_code: i64,
    asn: u32,
    created: &str,
    resource_id: &'a str,
) -> BetaSignIn<'a> {
    let event_type = match meta.stream {
        StreamKind::SignInsInteractive => "interactiveUser",
        StreamKind::SignInsNonInteractive => "nonInteractiveUser",
        StreamKind::SignInsServicePrincipal => "servicePrincipal",
        _ => "managedIdentity",
    };
    let quirk = meta.quirk;
    let multi_factor = matches!(subject, Subject::User(_)) && rng.chance(0.3);
    let mut authentication_details = Vec::new();
    let mut methods_used = Vec::new();
    if let Subject::User(_) = subject {
        if meta.stream == StreamKind::SignInsNonInteractive && rng.chance(0.7) {
            authentication_details.push(AuthenticationDetail {
                authentication_method: "Previously satisfied",
                authentication_method_detail: "",
                authentication_step_date_time: created.to_owned(),
                authentication_step_requirement: "Primary authentication",
                authentication_step_result_detail: "First factor requirement satisfied by claim in the token",
                succeeded: true,
            });
        } else {
            let password_ok = error_code != 50126;
            authentication_details.push(AuthenticationDetail {
                authentication_method: "Password",
                authentication_method_detail: "Password in the cloud",
                authentication_step_date_time: created.to_owned(),
                authentication_step_requirement: "Primary authentication",
                authentication_step_result_detail: if password_ok {
                    "Correct password"
                } else {
                    "Invalid username or password or Invalid on-premise username or password."
                },
                succeeded: password_ok,
            });
            methods_used.push("Password");
            if multi_factor && password_ok {
                let (method, detail) = *rng.pick(pools::MFA_METHODS);
                let mfa_ok = error_code != 500121;
                authentication_details.push(AuthenticationDetail {
                    authentication_method: method,
                    authentication_method_detail: detail,
                    authentication_step_date_time: created.to_owned(),
                    authentication_step_requirement: "Multifactor authentication",
                    authentication_step_result_detail: if mfa_ok {
                        "MFA successfully completed"
                    } else {
                        "MFA denied; user declined the authentication"
                    },
                    succeeded: mfa_ok,
                });
                methods_used.push(method);
            }
        }
    }
    let authentication_protocol = if quirk == Some(Quirk::UnknownEnumValues) {
        "primaryRefreshTokenExchange"
    } else {
        match subject {
            Subject::User(_) => *rng.weighted(&[
                ("none", 50),
                ("oAuth2", 20),
                ("ropc", 3),
                ("saml20", 8),
                ("wsFederation", 4),
                ("deviceCode", 2),
                ("authenticationTransfer", 1),
                ("nativeAuth", 1),
            ]),
            Subject::Workload(_) => "none",
        }
    };
    let (service_principal_id, service_principal_name, key_id, thumbprint, credential_type, msi) =
        match subject {
            Subject::Workload(workload) => {
                let credential_type = match meta.stream {
                    StreamKind::SignInsManagedIdentity => "managedIdentity",
                    _ => *rng.pick(&["clientSecret", "certificate", "federatedIdentityCredential"]),
                };
                let msi = if meta.stream == StreamKind::SignInsManagedIdentity {
                    Obj::Present(ManagedServiceIdentity {
                        msi_type: if rng.chance(0.6) {
                            "systemAssigned"
                        } else {
                            "userAssigned"
                        },
                        associated_resource_id: &workload.resource_id,
                        federated_token_id: None,
                        federated_token_issuer: None,
                    })
                } else {
                    Obj::Present(ManagedServiceIdentity {
                        msi_type: "none",
                        associated_resource_id: "",
                        federated_token_id: None,
                        federated_token_issuer: None,
                    })
                };
                (
                    workload.service_principal_id.as_str(),
                    Some(workload.name.as_str()),
                    workload.credential_key_id.as_str(),
                    if credential_type == "certificate" {
                        workload.thumbprint.as_str()
                    } else {
                        ""
                    },
                    credential_type,
                    msi,
                )
            }
            Subject::User(_) => (
                "",
                None,
                "",
                "",
                "none",
                Obj::Present(ManagedServiceIdentity {
                    msi_type: "none",
                    associated_resource_id: "",
                    federated_token_id: None,
                    federated_token_issuer: None,
                }),
            ),
        };
    let (user_type, home_tenant_id, cross_tenant) = match subject {
        Subject::User(user) => match &user.guest_home_tenant {
            Some(home) => ("guest", home.as_str(), "b2bCollaboration"),
            None => ("member", tenant.tenant_id.as_str(), "none"),
        },
        Subject::Workload(_) => ("member", tenant.tenant_id.as_str(), "none"),
    };
    let sign_in_identifier = match subject {
        Subject::User(user) => user.user_principal_name.as_str(),
        Subject::Workload(workload) => workload.app_id.as_str(),
    };
    let user_agent = match subject {
        Subject::User(_) => *rng.pick(pools::USER_AGENTS),
        Subject::Workload(_) => "",
    };
    let processing_details = vec![
        KeyValue {
            key: "Legacy TLS (TLS 1.0, 1.1, 3DES)",
            value: "False".to_owned(),
        },
        KeyValue {
            key: "Is CAE Token",
            value: if rng.chance(0.3) { "True" } else { "False" }.to_owned(),
        },
    ];
    let requirement_policies = if multi_factor {
        vec![RequirementPolicy {
            requirement_provider: "multiConditionalAccess",
            detail: "Conditional Access",
        }]
    } else {
        Vec::new()
    };
    let named_location = rng.chance(0.2);
    let federated = matches!(subject, Subject::User(_)) && rng.chance(0.05);
    BetaSignIn {
        sign_in_event_types: vec![event_type],
        authentication_details,
        authentication_requirement: if multi_factor {
            "multiFactorAuthentication"
        } else {
            "singleFactorAuthentication"
        },
        authentication_protocol,
        authentication_methods_used: methods_used,
        authentication_processing_details: processing_details,
        authentication_requirement_policies: requirement_policies,
        authentication_context_class_references: Vec::new(),
        user_agent,
        user_type,
        service_principal_id,
        service_principal_name,
        service_principal_credential_key_id: key_id,
        service_principal_credential_thumbprint: thumbprint,
        federated_credential_id: "",
        managed_service_identity: msi,
        client_credential_type: credential_type,
        token_issuer_type: if federated {
            "ADFederationServices"
        } else {
            "AzureAD"
        },
        token_issuer_name: if federated { "sts.corp.example" } else { "" },
        incoming_token_type: match meta.stream {
            StreamKind::SignInsNonInteractive => {
                rng.pick::<&str>(&["primaryRefreshToken", "refreshToken", "none"])
            }
            _ => "none",
        },
        cross_tenant_access_type: cross_tenant,
        home_tenant_id,
        home_tenant_name: if user_type == "guest" {
            ""
        } else {
            tenant.display_name.as_str()
        },
        resource_tenant_id: &tenant.tenant_id,
        resource_service_principal_id: crate::sim::rng::guid_for(&[
            tenant.index as u64,
            91,
            resource_id.len() as u64,
        ]),
        autonomous_system_number: asn,
        ip_address_from_resource_provider: None,
        is_tenant_restricted: false,
        is_through_global_secure_access: false,
        flagged_for_review: false,
        network_location_details: if named_location {
            vec![NetworkLocationDetail {
                network_type: "namedNetwork",
                network_names: vec!["Corporate HQ"],
            }]
        } else {
            Vec::new()
        },
        session_lifetime_policies: Vec::new(),
        mfa_detail: if multi_factor {
            Obj::Present(MfaDetail {
                auth_method: Some("PhoneAppNotification"),
                auth_detail: None,
            })
        } else {
            Obj::Present(MfaDetail {
                auth_method: None,
                auth_detail: None,
            })
        },
        session_id: rng.guid(),
        original_request_id: rng.guid(),
        unique_token_identifier: {
            let high = rng.next_u64();
            format!("{high:016x}{:06x}", rng.below(0xff_ffff))
        },
        sign_in_identifier,
        sign_in_identifier_type: None,
        original_transfer_method: "none",
        app_token_protection_status: "none",
        sign_in_token_protection_status: "none",
        processing_time_in_milliseconds: 40 + rng.below(400),
        applied_event_listeners: Vec::new(),
        private_link_details: Obj::Empty,
        conditional_access_audiences: vec![ConditionalAccessAudience {
            application_id: resource_id,
            audience_reasons: "none",
        }],
    }
}
