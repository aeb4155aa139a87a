#!/usr/bin/env python3
"""Writes helm/entrastream/values.schema.json: every chart value, closed objects everywhere, so a
misspelt key fails `helm install`. The `config` part mirrors config/full.yaml (a test keeps the two
in step); the binary validates values and ranges again at start-up."""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "helm/entrastream/values.schema.json"


def obj(properties, required=()):
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


STRING = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
DURATION = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?\s*(ms|s|m|h|d)$"}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
ANY_OBJECT = {"type": "object"}
SECRET = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {"env": STRING, "file": STRING},
}
STREAMS = [
    "directory_audits",
    "sign_ins_interactive",
    "sign_ins_non_interactive",
    "sign_ins_service_principal",
    "sign_ins_managed_identity",
    "provisioning",
]

TENANT = obj(
    {
        "id": STRING,
        "client_id": STRING,
        "client_secret": SECRET,
        "auth": {
            **obj(
                {
                    "client_secret": SECRET,
                    "certificate": {
                        **obj(
                            {
                                "file": STRING,
                                "pkcs12": STRING,
                                "password": SECRET,
                                "signature": {"enum": ["ps256", "rs256"]},
                            }
                        ),
                        # a PEM file, or a PKCS#12 file with its optional password
                        "oneOf": [
                            {"required": ["file"], "not": {"anyOf": [{"required": ["pkcs12"]}, {"required": ["password"]}]}},
                            {"required": ["pkcs12"], "not": {"required": ["file"]}},
                        ],
                    },
                    "workload_identity": obj({"token_file": STRING}),
                    "managed_identity": obj({"client_id": STRING, "endpoint": STRING}),
                }
            ),
            "minProperties": 1,
            "maxProperties": 1,
        },
        "cloud": {"enum": ["global", "us_gov", "us_gov_dod", "china"]},
        "endpoints": obj({"login": STRING, "graph": STRING}),
        "api_version": {"enum": ["beta", "v1.0"]},
        "streams": {"type": "array", "items": {"enum": STREAMS}, "uniqueItems": True},
    },
    required=["id", "client_id"],
)

CONFIG = obj(
    {
        "tenants": {"type": "array", "minItems": 1, "items": TENANT},
        "polling": obj(
            {
                "interval": DURATION,
                "settle_delay": DURATION,
                "initial_lookback": DURATION,
                "lateness": DURATION,
                "reconcile_every": DURATION,
                "overlap": DURATION,
                "max_window": DURATION,
                "page_size": {"type": "integer", "minimum": 1, "maximum": 1000},
                "max_window_pages": {"type": "integer", "minimum": 1, "maximum": 1000},
                "max_pages_in_memory": {"type": "integer", "minimum": 1, "maximum": 10000},
                "throttle": obj({"requests": INT, "per": DURATION}),
                "request_timeout": DURATION,
                "blocked_retry": DURATION,
                "max_retry_after": DURATION,
                "max_page_bytes": {"type": "integer", "minimum": 1048576, "maximum": 1073741824},
                "max_token_response_bytes": {"type": "integer", "minimum": 4096, "maximum": 16777216},
            }
        ),
        "schema": {"enum": ["ocsf", "ecs", "raw"]},
        "kafka": obj(
            {
                "bootstrap_servers": STRING,
                "topics": obj(
                    {
                        "sign_ins": STRING,
                        "directory_audits": STRING,
                        "provisioning": STRING,
                        "dead_letter": STRING,
                    }
                ),
                "delivery": {"enum": ["at_least_once", "exactly_once"]},
                "instance_id": STRING,
                "transaction_timeout": DURATION,
                "max_record_bytes": {"type": "integer", "minimum": 1024},
                "health_interval": DURATION,
                # text, or a secret read from the environment or a file
                "librdkafka": {
                    "type": "object",
                    "additionalProperties": {"anyOf": [STRING, INT, BOOL, SECRET]},
                },
            },
            required=["bootstrap_servers"],
        ),
        "checkpoint": obj(
            {
                "store": {"enum": ["file", "kafka"]},
                "path": STRING,
                "topic": STRING,
                "create_topic": BOOL,
                "verify_topic": BOOL,
                "topic_partitions": INT,
                "replication_factor": {"type": ["integer", "null"]},
                "max_record_bytes": INT,
                "load_timeout": DURATION,
                "takeover_wait": DURATION,
                "interval": DURATION,
            }
        ),
        "graph": obj({"app_budget": obj({"requests": INT, "per": DURATION})}),
        "log": obj({"format": {"enum": ["json", "pretty"]}, "level": STRING}),
        "tls": obj({"ca_file": STRING, "allow_insecure_http": BOOL}),
    },
    required=["tenants", "kafka"],
)

INTERVAL = {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"}

# where a Kafka secret comes from: a key of a Secret (the release's when name is empty), or a value
# written into the chart's Secret; the configuration names only the variable it is read from
KAFKA_SECRET = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "value": {"type": "string", "minLength": 1},
        "secretKeyRef": obj({"name": STRING, "key": {"type": "string", "minLength": 1}}, required=["key"]),
    },
}
KAFKA_SECRETS = {
    "type": "object",
    # a librdkafka property name; it also names the variable and the chart Secret's key
    "propertyNames": {"pattern": r"^[A-Za-z0-9._-]+$"},
    "additionalProperties": KAFKA_SECRET,
}

# Kubernetes objects: their top-level fields closed (as of Kubernetes 1.37), so that a misspelt
# key fails the install rather than being dropped by the API server
STRINGS = {"type": "array", "items": STRING}
SECCOMP_PROFILE = obj({"type": {"enum": ["RuntimeDefault", "Unconfined", "Localhost"]}, "localhostProfile": STRING})
APPARMOR_PROFILE = obj({"type": {"enum": ["RuntimeDefault", "Unconfined", "Localhost"]}, "localhostProfile": STRING})
SELINUX_OPTIONS = obj({"level": STRING, "role": STRING, "type": STRING, "user": STRING})
WINDOWS_OPTIONS = obj(
    {"gmsaCredentialSpec": STRING, "gmsaCredentialSpecName": STRING, "hostProcess": BOOL, "runAsUserName": STRING}
)
POD_SECURITY_CONTEXT = obj(
    {
        "appArmorProfile": APPARMOR_PROFILE,
        "fsGroup": INT,
        "fsGroupChangePolicy": {"enum": ["OnRootMismatch", "Always"]},
        "runAsGroup": INT,
        "runAsNonRoot": BOOL,
        "runAsUser": INT,
        "seLinuxChangePolicy": STRING,
        "seLinuxOptions": SELINUX_OPTIONS,
        "seccompProfile": SECCOMP_PROFILE,
        "supplementalGroups": {"type": "array", "items": INT},
        "supplementalGroupsPolicy": {"enum": ["Merge", "Strict"]},
        "sysctls": {"type": "array", "items": obj({"name": STRING, "value": STRING}, required=["name", "value"])},
        "windowsOptions": WINDOWS_OPTIONS,
    }
)
CONTAINER_SECURITY_CONTEXT = obj(
    {
        "allowPrivilegeEscalation": BOOL,
        "appArmorProfile": APPARMOR_PROFILE,
        "capabilities": obj({"add": STRINGS, "drop": STRINGS}),
        "privileged": BOOL,
        "procMount": {"enum": ["Default", "Unmasked"]},
        "readOnlyRootFilesystem": BOOL,
        "runAsGroup": INT,
        "runAsNonRoot": BOOL,
        "runAsUser": INT,
        "seLinuxOptions": SELINUX_OPTIONS,
        "seccompProfile": SECCOMP_PROFILE,
        "windowsOptions": WINDOWS_OPTIONS,
    }
)
NAMED_REFERENCE = obj({"name": STRING, "optional": BOOL}, required=["name"])
ENV_FROM = obj({"configMapRef": NAMED_REFERENCE, "secretRef": NAMED_REFERENCE, "prefix": STRING})
# a volume: its name and one source (secret, configMap, projected, csi, ...), left to Kubernetes
VOLUME = {"type": "object", "required": ["name"], "properties": {"name": STRING}}
VOLUME_MOUNT = obj(
    {
        "name": STRING,
        "mountPath": STRING,
        "readOnly": BOOL,
        "recursiveReadOnly": {"enum": ["Disabled", "IfPossible", "Enabled"]},
        "subPath": STRING,
        "subPathExpr": STRING,
        "mountPropagation": {"enum": ["None", "HostToContainer", "Bidirectional"]},
    },
    required=["name", "mountPath"],
)
TOPOLOGY_SPREAD_CONSTRAINT = obj(
    {
        "maxSkew": {"type": "integer", "minimum": 1},
        "topologyKey": STRING,
        "whenUnsatisfiable": {"enum": ["DoNotSchedule", "ScheduleAnyway"]},
        "labelSelector": ANY_OBJECT,
        "matchLabelKeys": STRINGS,
        "minDomains": {"type": "integer", "minimum": 1},
        "nodeAffinityPolicy": {"enum": ["Honor", "Ignore"]},
        "nodeTaintsPolicy": {"enum": ["Honor", "Ignore"]},
    },
    required=["maxSkew", "topologyKey", "whenUnsatisfiable"],
)

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "entrastream chart values",
    **obj(
        {
            "image": obj(
                {
                    "repository": STRING,
                    "tag": STRING,
                    "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                }
            ),
            "imagePullSecrets": {"type": "array", "items": ANY_OBJECT},
            "nameOverride": STRING,
            "fullnameOverride": STRING,
            "config": CONFIG,
            "existingConfigMap": STRING,
            "secrets": obj(
                {
                    "existingSecret": STRING,
                    "clientSecrets": STRING_MAP,
                    "kafka": KAFKA_SECRETS,
                }
            ),
            "serviceAccount": obj(
                {
                    "create": BOOL,
                    "name": STRING,
                    "annotations": STRING_MAP,
                    "automountToken": BOOL,
                }
            ),
            "workloadIdentity": obj({"enabled": BOOL, "clientId": STRING, "tenantId": STRING}),
            "persistence": obj(
                {
                    "size": STRING,
                    "storageClass": STRING,
                    "accessModes": {"type": "array", "items": STRING, "minItems": 1},
                }
            ),
            "extraEnv": {"type": "array", "items": ANY_OBJECT},
            "envFrom": {"type": "array", "items": ENV_FROM},
            "extraVolumes": {"type": "array", "items": VOLUME},
            "extraVolumeMounts": {"type": "array", "items": VOLUME_MOUNT},
            "workloadAnnotations": STRING_MAP,
            "podAnnotations": STRING_MAP,
            "podLabels": STRING_MAP,
            "resources": ANY_OBJECT,
            "nodeSelector": STRING_MAP,
            "tolerations": {"type": "array", "items": ANY_OBJECT},
            "affinity": ANY_OBJECT,
            "topologySpreadConstraints": {"type": "array", "items": TOPOLOGY_SPREAD_CONSTRAINT},
            "podSecurityContext": POD_SECURITY_CONTEXT,
            "containerSecurityContext": CONTAINER_SECURITY_CONTEXT,
            "priorityClassName": STRING,
            # the chart renders it as the config's shutdown.timeout (which it owns)
            "shutdownTimeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 600},
            # empty: shutdownTimeoutSeconds + 10
            "terminationGracePeriodSeconds": {"type": ["integer", "null"], "minimum": 2},
            "probes": obj(
                {
                    "liveness": obj({"periodSeconds": INT, "failureThreshold": INT}),
                    "readiness": obj({"periodSeconds": INT, "failureThreshold": INT}),
                }
            ),
            "service": obj(
                {"port": {"type": "integer", "minimum": 1, "maximum": 65535}, "annotations": STRING_MAP}
            ),
            "serviceMonitor": obj({"enabled": BOOL, "interval": INTERVAL, "labels": STRING_MAP}),
            "podMonitor": obj({"enabled": BOOL, "interval": INTERVAL, "labels": STRING_MAP}),
            "prometheusRule": obj({"enabled": BOOL, "labels": STRING_MAP}),
            "grafanaDashboard": obj(
                {"enabled": BOOL, "label": STRING, "labelValue": STRING, "folder": STRING}
            ),
            "podDisruptionBudget": obj(
                {"enabled": BOOL, "maxUnavailable": {"type": ["integer", "string"]}}
            ),
            "networkPolicy": obj(
                {
                    "enabled": BOOL,
                    "httpsCidrs": {"type": "array", "items": STRING},
                    "kafka": obj(
                        {
                            "peers": {"type": "array", "items": ANY_OBJECT, "minItems": 1},
                            "ports": {"type": "array", "items": INT, "minItems": 1},
                        }
                    ),
                    "metricsFrom": {"type": "array", "items": ANY_OBJECT},
                }
            ),
            "tests": obj({"enabled": BOOL}),
        }
    ),
}

if __name__ == "__main__":
    OUT.write_text(json.dumps(SCHEMA, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")
