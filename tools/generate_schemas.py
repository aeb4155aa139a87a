#!/usr/bin/env python3
"""Writes schemas/*.json: the JSON Schemas (2020-12) of entrastream's output, one per shape.

They describe exactly what the mappers emit (stricter than OCSF's own class schemas: unknown
attributes are refused, except under `unmapped`, which holds Graph properties verbatim).
`tests/python/test_output_schemas.py` checks that the files are what this script writes and that
thousands of mapped records validate against them and against the official OCSF 1.8.0 schema.

    python3 tools/generate_schemas.py          # rewrite schemas/
"""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def obj(properties, required=(), any_of=None, title=None):
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = sorted(required)
    if any_of:
        schema["anyOf"] = [{"required": [name]} for name in any_of]
    if title:
        schema["title"] = title
    return schema


STRING = {"type": "string"}
NONEMPTY = {"type": "string", "minLength": 1}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
ANY_OBJECT = {"type": "object"}


def enum(*values):
    return {"type": "integer", "enum": list(values)}


def strings():
    return {"type": "array", "items": STRING, "minItems": 1}


# ---------------------------------------------------------------- OCSF objects
ACCOUNT = obj({"uid": NONEMPTY, "name": NONEMPTY, "type_id": enum(6), "type": {"const": "Azure AD Account"}})
USER = obj(
    {
        "uid": NONEMPTY,
        "name": NONEMPTY,
        "display_name": NONEMPTY,
        "domain": NONEMPTY,
        "type_id": enum(0, 1, 2, 3, 4, 99),
        "type": NONEMPTY,
        "risk_level_id": enum(0, 1, 2, 3, 4, 99),
        "risk_level": NONEMPTY,
        "account": ACCOUNT,
    },
    any_of=["account", "name", "uid"],
)
METADATA = obj(
    {
        "version": {"const": "1.8.0"},
        "product": obj(
            {
                "name": {"const": "Microsoft Entra ID"},
                "vendor_name": {"const": "Microsoft"},
                "feature": obj({"name": NONEMPTY}, required=["name"]),
            },
            required=["name", "vendor_name"],
        ),
        "profiles": {"type": "array", "items": {"enum": ["cloud", "host"]}},
        "log_name": {"enum": ["signIns", "directoryAudits", "provisioning"]},
        "log_provider": {"const": "Microsoft Graph"},
        "log_version": {"enum": ["beta", "v1.0"]},
        "uid": NONEMPTY,
        "original_event_uid": NONEMPTY,
        "correlation_uid": NONEMPTY,
        "event_code": NONEMPTY,
        "original_time": NONEMPTY,
        "processed_time": INTEGER,
        "tenant_uid": NONEMPTY,
    },
    required=["version", "product", "uid", "original_event_uid", "tenant_uid", "log_name"],
)
CLOUD = obj(
    {
        "provider": {"const": "Azure"},
        "account": obj({"uid": NONEMPTY, "type_id": enum(6), "type": {"const": "Azure AD Account"}}, required=["uid"]),
    },
    required=["provider", "account"],
)
LOCATION = obj(
    {"city": NONEMPTY, "region": NONEMPTY, "country": NONEMPTY, "lat": NUMBER, "long": NUMBER},
    any_of=["city", "country", "region"],
)
# the initiator's address; "Unknown" by name where API Activity needs an endpoint Graph did not name
SRC_ENDPOINT = obj(
    {
        "ip": NONEMPTY,
        "name": {"const": "Unknown"},
        "location": LOCATION,
        "autonomous_system": obj({"number": INTEGER}, required=["number"]),
    },
    any_of=["ip", "name"],
)
ACTOR = obj(
    {"user": USER, "app_uid": NONEMPTY, "app_name": NONEMPTY},
    any_of=["user", "app_name", "app_uid"],
)
HTTP_REQUEST = obj({"user_agent": NONEMPTY, "uid": NONEMPTY})
SERVICE = obj({"uid": NONEMPTY, "name": NONEMPTY}, any_of=["name", "uid"])
DEVICE = obj(
    {
        "uid": NONEMPTY,
        "name": NONEMPTY,
        "type_id": enum(0),
        "type": {"const": "Unknown"},
        "is_compliant": BOOLEAN,
        "is_managed": BOOLEAN,
        "os": obj({"name": NONEMPTY, "type_id": enum(99, 100, 200, 201, 300, 301, 302)}, required=["name", "type_id"]),
    },
    required=["type_id"],
    any_of=["uid", "name"],
)
AUTH_FACTOR = obj(
    {"factor_type_id": enum(1, 3, 4, 5, 7, 8, 10, 11, 99), "factor_type": NONEMPTY, "provider": NONEMPTY},
    required=["factor_type_id", "factor_type"],
)
SESSION = obj({"uid": NONEMPTY, "issuer": NONEMPTY})
GROUP = obj({"uid": NONEMPTY, "name": NONEMPTY, "type": NONEMPTY}, any_of=["name", "uid"])
RESOURCE = obj({"uid": NONEMPTY, "name": NONEMPTY, "type": NONEMPTY}, any_of=["name", "uid"])
ENTITY = obj(
    {
        "uid": NONEMPTY,
        "name": NONEMPTY,
        "type_id": enum(0, 1, 2, 3, 5, 99),
        "type": NONEMPTY,
        "data": ANY_OBJECT,
    },
    any_of=["name", "uid"],
)
API = obj(
    {"operation": NONEMPTY, "service": obj({"name": NONEMPTY}, required=["name"])},
    required=["operation"],
)


def ocsf_class(class_uid, name, category_uid, activities, properties, required):
    common = {
        "category_uid": {"const": category_uid},
        "category_name": NONEMPTY,
        "class_uid": {"const": class_uid},
        "class_name": {"const": name},
        "activity_id": enum(*activities),
        "activity_name": NONEMPTY,
        "type_uid": enum(*[class_uid * 100 + activity for activity in activities]),
        "type_name": NONEMPTY,
        "time": INTEGER,
        "severity_id": enum(0, 1, 2, 3, 4, 5, 6, 99),
        "severity": NONEMPTY,
        "status_id": enum(0, 1, 2, 99),
        "status": NONEMPTY,
        "status_code": NONEMPTY,
        "status_detail": NONEMPTY,
        "message": NONEMPTY,
        "duration": INTEGER,
        "metadata": METADATA,
        "cloud": CLOUD,
        "actor": ACTOR,
        "src_endpoint": SRC_ENDPOINT,
        "http_request": HTTP_REQUEST,
        "unmapped": ANY_OBJECT,
    }
    common.update(properties)
    schema = {
        "$schema": DRAFT,
        "$id": f"https://entrastream.dev/schemas/ocsf-{class_uid}.json",
        "title": f"entrastream OCSF 1.8.0 {name} ({class_uid})",
    }
    schema.update(
        obj(
            common,
            required=[
                "category_uid", "class_uid", "activity_id", "type_uid", "time", "severity_id",
                "status_id", "metadata", "cloud", "message",
            ] + list(required),
        )
    )
    return schema


OCSF = {
    "ocsf-3002-authentication.json": ocsf_class(
        3002, "Authentication", 3, [1],
        {
            "user": USER,
            "service": SERVICE,
            "device": DEVICE,
            "auth_protocol_id": enum(0, 5, 6, 99),
            "auth_protocol": NONEMPTY,
            "is_mfa": BOOLEAN,
            "auth_factors": {"type": "array", "items": AUTH_FACTOR, "minItems": 1},
            "logon_type_id": enum(2, 99),
            "logon_type": NONEMPTY,
            "is_remote": {"const": True},
            "session": SESSION,
        },
        ["user", "service", "logon_type_id", "is_remote"],
    ),
    "ocsf-3001-account_change.json": ocsf_class(
        3001, "Account Change", 3, [1, 2, 3, 4, 5, 6, 10, 11, 99], {"user": USER}, ["user", "actor"],
    ),
    "ocsf-3004-entity_management.json": ocsf_class(
        3004, "Entity Management", 3, [0, 1, 3, 4, 6, 7, 9, 99], {"entity": ENTITY}, ["entity", "actor"],
    ),
    "ocsf-3005-user_access.json": ocsf_class(
        3005, "User Access Management", 3, [1, 2],
        {"user": USER, "privileges": strings(), "resources": {"type": "array", "items": RESOURCE, "minItems": 1}},
        ["user", "privileges", "actor"],
    ),
    "ocsf-3006-group_management.json": ocsf_class(
        3006, "Group Management", 3, [1, 2, 3, 4, 5, 6, 7, 8, 99],
        {"group": GROUP, "user": USER, "subgroup": GROUP, "privileges": strings()},
        ["group", "actor"],
    ),
    "ocsf-6003-api_activity.json": ocsf_class(
        6003, "API Activity", 6, [1, 2, 3, 4, 99],
        {"api": API, "resources": {"type": "array", "items": RESOURCE, "minItems": 1}},
        ["api", "actor", "src_endpoint"],
    ),
}

# ---------------------------------------------------------------- ECS
ECS_USER_FIELDS = {"id": NONEMPTY, "name": NONEMPTY, "full_name": NONEMPTY, "domain": NONEMPTY}
ECS = {
    "$schema": DRAFT,
    "$id": "https://entrastream.dev/schemas/ecs.json",
    "title": "entrastream ECS 8.11 document (sign-ins, directory audits, provisioning)",
}
ECS.update(
    obj(
        {
            "@timestamp": {"type": "string", "format": "date-time"},
            "ecs": obj({"version": {"const": "8.11.0"}}, required=["version"]),
            "event": obj(
                {
                    "kind": {"const": "event"},
                    "category": {"type": "array", "items": {"enum": ["authentication", "iam", "configuration"]}, "minItems": 1},
                    "type": {
                        "type": "array",
                        "items": {"enum": ["info", "start", "user", "group", "admin", "creation", "deletion", "change"]},
                        "minItems": 1,
                    },
                    "action": NONEMPTY,
                    "outcome": {"enum": ["success", "failure", "unknown"]},
                    "id": NONEMPTY,
                    "dataset": {"enum": ["azure.signinlogs", "azure.auditlogs", "azure.provisioning"]},
                    "provider": NONEMPTY,
                    "created": {"type": "string", "format": "date-time"},
                    "reason": NONEMPTY,
                    "code": NONEMPTY,
                    "duration": INTEGER,
                },
                required=["kind", "category", "type", "outcome", "id", "dataset"],
            ),
            "message": NONEMPTY,
            "user": obj(dict(ECS_USER_FIELDS, target=obj(ECS_USER_FIELDS))),
            "group": obj({"id": NONEMPTY, "name": NONEMPTY}),
            "service": obj({"id": NONEMPTY, "name": NONEMPTY}),
            "source": obj(
                {
                    "ip": NONEMPTY,
                    "address": NONEMPTY,
                    "geo": obj(
                        {
                            "city_name": NONEMPTY,
                            "region_name": NONEMPTY,
                            "country_iso_code": NONEMPTY,
                            "location": obj({"lat": NUMBER, "lon": NUMBER}, required=["lat", "lon"]),
                        }
                    ),
                    "as": obj({"number": INTEGER}, required=["number"]),
                },
                required=["ip"],
            ),
            "user_agent": obj({"original": NONEMPTY}),
            "related": obj({"user": strings(), "ip": strings()}),
            "cloud": obj(
                {"provider": {"const": "azure"}, "account": obj({"id": NONEMPTY}, required=["id"])},
                required=["provider"],
            ),
            "azure": obj(
                {
                    "tenant_id": NONEMPTY,
                    "correlation_id": NONEMPTY,
                    **{
                        log: obj({"category": NONEMPTY, "properties": ANY_OBJECT}, required=["category", "properties"])
                        for log in ["signinlogs", "auditlogs", "provisioning"]
                    },
                },
                required=["tenant_id"],
            ),
        },
        required=["@timestamp", "ecs", "event", "message", "cloud", "azure"],
    )
)

RAW = {
    "$schema": DRAFT,
    "$id": "https://entrastream.dev/schemas/raw.json",
    "title": "entrastream raw envelope: the Graph record as received",
}
RAW.update(
    obj(
        {
            "tenant_id": NONEMPTY,
            "stream": {
                "enum": [
                    "directory_audits", "sign_ins_interactive", "sign_ins_non_interactive",
                    "sign_ins_service_principal", "sign_ins_managed_identity", "provisioning",
                ]
            },
            "received_at": {"type": "string", "format": "date-time"},
            "connector_version": NONEMPTY,
            "api_version": {"enum": ["beta", "v1.0"]},
            "record": {"type": "object", "required": ["id"]},
        },
        required=["tenant_id", "stream", "received_at", "connector_version", "api_version", "record"],
    )
)


def documents():
    documents = dict(OCSF)
    documents["ecs.json"] = ECS
    documents["raw.json"] = RAW
    return {name: json.dumps(schema, indent=2, sort_keys=True) + "\n" for name, schema in documents.items()}


if __name__ == "__main__":
    for name, text in documents().items():
        (ROOT / "schemas" / name).write_text(text)
        print(f"wrote schemas/{name}")
