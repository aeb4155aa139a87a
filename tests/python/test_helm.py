"""The Helm chart, checked offline with Helm's own Go SDK (helm-python-sdk): lint, render with the
default values and every value set of helm/entrastream/ci/, validate every manifest against the
Kubernetes schemas of the oldest and newest supported versions, have the binary validate the
configuration each render produces, and hold every pod to the restricted Pod Security Standard;
secrets (client and Kafka) appear in the Secret and in no other manifest, the configuration naming
only where each comes from.
"""

import json
import os
import pathlib
import re
import subprocess

import helm_python
import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "entrastream"
BINARY = pathlib.Path(os.environ.get("ENTRASTREAM_BIN", ROOT / "target" / "debug" / "entrastream"))
# the chart's kubeVersion is >=1.27; the newest schemas kubernetes-validate ships
KUBERNETES_VERSIONS = ["1.27.0", "1.37.0"]
VALUE_SETS = {"default": None} | {
    path.name.removesuffix("-values.yaml"): path for path in sorted((CHART / "ci").glob("*-values.yaml"))
}
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


@pytest.fixture(scope="module")
def chart():
    with helm_python.Chart.load(CHART) as loaded:
        yield loaded


def values_of(name):
    path = VALUE_SETS[name]
    return {} if path is None else yaml.safe_load(path.read_text())


def render(chart, values, name="siem"):
    rendered = chart.render(values, name=name, namespace="security", is_install=True)
    manifests = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                manifests.append(document)
    return manifests


def by_kind(manifests, kind):
    return [manifest for manifest in manifests if manifest["kind"] == kind]


def pod_specs(manifests):
    specs = []
    for manifest in manifests:
        if manifest["kind"] in ("Deployment", "StatefulSet"):
            specs.append((manifest["metadata"]["name"], manifest["spec"]["template"]["spec"]))
        elif manifest["kind"] == "Pod":
            specs.append((manifest["metadata"]["name"], manifest["spec"]))
    return specs


def validate_for_every_version(manifests):
    for version in KUBERNETES_VERSIONS:
        for manifest in manifests:
            if manifest["kind"] not in OPERATOR_KINDS:
                kubernetes_validate.validate(manifest, version, strict=True)


def workload(manifests):
    workloads = by_kind(manifests, "Deployment") + by_kind(manifests, "StatefulSet")
    assert len(workloads) == 1
    return workloads[0]


def containers_by_pod(manifests):
    """The workload's container and the helm test pod's, each with its pod spec."""
    pods = [workload(manifests)["spec"]["template"]["spec"], by_kind(manifests, "Pod")[0]["spec"]]
    return [(pod, pod["containers"][0]) for pod in pods]


def kafka_variables(manifests):
    """The environment a rendered configuration's {env:} references need, with stand-in values."""
    container = workload(manifests)["spec"]["template"]["spec"]["containers"][0]
    return {entry["name"]: "stand-in" for entry in container.get("env", []) if entry["name"].startswith("ENTRASTREAM_KAFKA_")}


def rendered_config(manifests):
    config_maps = [m for m in by_kind(manifests, "ConfigMap") if "entrastream.yaml" in m.get("data", {})]
    assert len(config_maps) == 1
    return config_maps[0]["data"]["entrastream.yaml"]


def test_there_are_eight_value_sets_besides_the_defaults():
    assert set(VALUE_SETS) == {
        "default", "minimal", "workload-identity", "existing-secret", "file-store", "monitoring", "exactly-once",
        "sasl-ssl", "pod-overrides",
    }


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_is_clean(name):
    for version in KUBERNETES_VERSIONS:
        report = helm_python.lint(CHART, values_of(name), strict=True, kube_version=f"v{version}")
        assert report["errors"] == []
        problems = [message for message in report["messages"] if message["severity"] >= 2]
        assert problems == [], problems


@pytest.mark.parametrize("name", VALUE_SETS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(chart, name, version):
    manifests = render(chart, values_of(name))
    assert manifests
    for manifest in manifests:
        if manifest["kind"] in OPERATOR_KINDS:
            # custom resources: not in the Kubernetes schemas; their shape is checked below
            assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        kubernetes_validate.validate(manifest, version, strict=True)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_binary_accepts_every_rendered_configuration(chart, name, tmp_path):
    manifests = render(chart, values_of(name))
    config = tmp_path / "entrastream.yaml"
    config.write_text(rendered_config(manifests))
    # the rendered files and secrets exist only in the pod: every other check runs
    result = subprocess.run(
        [BINARY, "run", "--config", config, "--validate-only", "--skip-secrets"],
        capture_output=True, text=True, env=os.environ | kafka_variables(manifests),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_pod_meets_the_restricted_profile(chart, name):
    specs = pod_specs(render(chart, values_of(name)))
    assert len(specs) == 2  # the workload and the helm test pod
    for pod, spec in specs:
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, pod
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, pod
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), pod
        assert all("hostPath" not in volume for volume in spec.get("volumes", [])), pod
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, pod
            assert context["readOnlyRootFilesystem"] is True, pod
            assert context["runAsNonRoot"] is True, pod
            assert context["capabilities"] == {"drop": ["ALL"]}, pod
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, pod
            assert not context.get("privileged"), pod
            assert container["resources"]["limits"]["memory"], pod


def test_the_schema_rejects_misspelt_keys(chart):
    for values, key in [
        ({"serviceMonitor": {"enabeld": True}}, "enabeld"),
        ({"config": {"polling": {"intervall": "30s"}}}, "intervall"),
        ({"config": {"kafka": {"bootstrap_servers": "k:9092", "delivery": "exactly-once"}}}, "delivery"),
        ({"replicas": 2}, "replicas"),
    ]:
        with pytest.raises(helm_python.HelmValuesError, match=key):
            chart.validate_schema(chart.merge_values(values))
        with pytest.raises(helm_python.HelmError):
            render(chart, values)


def test_the_schema_takes_a_pem_or_a_pkcs12_certificate_but_not_both(chart):
    def values(certificate):
        tenant = {"id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-0000000000c1", "auth": {"certificate": certificate}}
        return chart.merge_values({"config": {"tenants": [tenant]}})

    chart.validate_schema(values({"file": "/etc/entrastream/secrets/reader.pem"}))
    chart.validate_schema(values({"pkcs12": "/etc/entrastream/secrets/reader.pfx"}))
    chart.validate_schema(
        values({"pkcs12": "/etc/entrastream/secrets/reader.pfx", "password": {"env": "PFX_PASSWORD"}})
    )
    for refused in [
        {"file": "a.pem", "pkcs12": "b.pfx"},
        {"file": "a.pem", "password": {"env": "PFX_PASSWORD"}},
        {"signature": "ps256"},
        {"pkcs12": "b.pfx", "password": "inline"},
    ]:
        with pytest.raises(helm_python.HelmValuesError):
            chart.validate_schema(values(refused))


def test_the_schema_knows_every_configuration_key_and_no_other():
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["config"]
    documented = yaml.safe_load((ROOT / "config" / "full.yaml").read_text())

    def keys(node, prefix=""):
        found = set()
        for key, value in node.items():
            path = f"{prefix}{key}"
            found.add(path)
            if isinstance(value, dict) and key not in ("librdkafka",):
                found |= keys(value, path + ".")
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        found |= keys(item, path + "[].")
        return found

    def schema_keys(node, prefix=""):
        found = set()
        for key, value in node.get("properties", {}).items():
            path = f"{prefix}{key}"
            found.add(path)
            if key in ("librdkafka", "client_secret", "password"):
                continue
            if key == "auth":
                found |= schema_keys(value, path + ".")
                continue
            if value.get("type") == "object":
                found |= schema_keys(value, path + ".")
            if value.get("type") == "array" and isinstance(value.get("items"), dict):
                found |= schema_keys(value["items"], path + "[].")
        return found

    # the chart owns metrics.listen (its service port) and shutdown.timeout (shutdownTimeoutSeconds)
    documented_keys = {key for key in keys(documented) if not key.startswith(("metrics", "shutdown"))}
    documented_keys = {
        key for key in documented_keys
        if not key.startswith(
            (
                "tenants[].client_secret.",
                "tenants[].auth.client_secret.",
                "tenants[].auth.certificate.password.",
            )
        )
    }
    assert schema_keys(schema) == documented_keys


def test_the_chart_readme_documents_every_value():
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def leaves(node, prefix=""):
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and key not in (
                "config", "resources", "clientSecrets", "podSecurityContext", "containerSecurityContext",
            ):
                yield from leaves(value, path + ".")
            else:
                yield path

    documented = set(re.findall(r"^\| `([^`]+)` \|", readme, re.M))
    assert documented == set(leaves(values))


def test_the_default_install_runs_a_deployment_with_the_kafka_store(chart):
    manifests = render(chart, {})
    assert len(by_kind(manifests, "Deployment")) == 1
    assert by_kind(manifests, "StatefulSet") == []
    config = yaml.safe_load(rendered_config(manifests))
    assert config["checkpoint"] == {"store": "kafka"}
    assert config["metrics"] == {"listen": "0.0.0.0:9464"}
    deployment = by_kind(manifests, "Deployment")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["run", "--config", "/etc/entrastream/config/entrastream.yaml"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert deployment["spec"]["replicas"] == 1
    assert [m["kind"] for m in manifests if m["kind"] in OPERATOR_KINDS] == []
    dashboards = [m for m in by_kind(manifests, "ConfigMap") if m["metadata"]["name"].endswith("-dashboard")]
    assert dashboards[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboards[0]["data"]["entrastream.json"])["title"] == "Entra ID ingest health"
    assert len(by_kind(manifests, "PodDisruptionBudget")) == 1
    assert by_kind(manifests, "NetworkPolicy") == []


def test_the_grace_period_follows_the_shutdown_timeout(chart):
    def stop_settings(values):
        manifests = render(chart, values)
        pod = by_kind(manifests, "Deployment")[0]["spec"]["template"]["spec"]
        return yaml.safe_load(rendered_config(manifests))["shutdown"], pod["terminationGracePeriodSeconds"]

    assert stop_settings({}) == ({"timeout": "20s"}, 30)
    assert stop_settings({"shutdownTimeoutSeconds": 45}) == ({"timeout": "45s"}, 55)
    assert stop_settings({"terminationGracePeriodSeconds": 25}) == ({"timeout": "20s"}, 25)
    with pytest.raises(helm_python.HelmError, match="must be above shutdownTimeoutSeconds"):
        render(chart, {"terminationGracePeriodSeconds": 20})
    with pytest.raises(helm_python.HelmError, match="shutdown"):
        render(chart, {"config": {"shutdown": {"timeout": "5s"}}})


def test_a_configuration_change_rolls_the_pod(chart):
    def checksum(values):
        deployment = by_kind(render(chart, values), "Deployment")[0]
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"config": {"polling": {"interval": "1m"}}})


def test_the_file_store_runs_a_statefulset_with_a_volume(chart):
    manifests = render(chart, values_of("file-store"))
    assert by_kind(manifests, "Deployment") == []
    statefulset = by_kind(manifests, "StatefulSet")[0]
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert claim["spec"]["storageClassName"] == "managed-csi"
    mounts = statefulset["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "state", "mountPath": "/var/lib/entrastream"} in mounts
    config = yaml.safe_load(rendered_config(manifests))
    assert config["checkpoint"] == {"store": "file", "path": "/var/lib/entrastream"}


def test_workload_identity_annotates_the_service_account_and_labels_the_pod(chart):
    manifests = render(chart, values_of("workload-identity"))
    account = by_kind(manifests, "ServiceAccount")[0]
    assert account["metadata"]["name"] == "entrastream-reader"
    assert account["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": "11111111-2222-3333-4444-555555555555",
        "azure.workload.identity/tenant-id": "99999999-8888-7777-6666-555555555555",
    }
    pod = by_kind(manifests, "Deployment")[0]["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == "entrastream-reader"
    # the webhook projects the federated token through the ServiceAccount token mount
    assert pod["spec"]["automountServiceAccountToken"] is True
    config = yaml.safe_load(rendered_config(manifests))
    assert config["tenants"][0]["auth"] == {"workload_identity": {}}
    assert "client_secret" not in config["tenants"][0]
    with pytest.raises(helm_python.HelmError, match="workloadIdentity.clientId is required"):
        render(chart, {"workloadIdentity": {"enabled": True}})


def test_an_existing_secret_is_mounted_and_no_secret_is_rendered(chart):
    manifests = render(chart, values_of("existing-secret"))
    assert by_kind(manifests, "Secret") == []
    spec = by_kind(manifests, "Deployment")[0]["spec"]["template"]["spec"]
    assert {"name": "secrets", "secret": {"secretName": "entra-client-secrets"}} in spec["volumes"]
    inline = render(chart, values_of("minimal"))
    assert by_kind(inline, "Secret")[0]["stringData"] == {"contoso": "not-a-real-secret"}
    # Kafka's password is read from the mounted Secret too: the ConfigMap names only its file
    config = yaml.safe_load(rendered_config(manifests))
    assert config["kafka"]["librdkafka"]["sasl.password"] == {"file": "/etc/entrastream/secrets/kafka-password"}


def test_a_kafka_password_written_inline_is_refused_by_the_chart_and_by_the_binary(chart, tmp_path):
    values = values_of("existing-secret")
    values["config"]["kafka"]["librdkafka"]["sasl.password"] = "hunter2"
    with pytest.raises(helm_python.HelmError) as refused:
        render(chart, values)
    assert (
        "config.kafka.librdkafka.sasl.password is a secret written inline, which would sit in the ConfigMap: "
        "remove it there and set secrets.kafka.sasl.password: {secretKeyRef: {name: <Secret>, key: <key>}}"
    ) in str(refused.value)
    assert "hunter2" not in str(refused.value)
    for property in ["ssl.key.password", "sasl.oauthbearer.client.secret", "ssl.key.pem", "SSL.Keystore.Password"]:
        values = values_of("minimal")
        values["config"]["kafka"]["librdkafka"] = {property: "hunter2"}
        with pytest.raises(helm_python.HelmError, match=f"config.kafka.librdkafka.{re.escape(property)} is a secret"):
            render(chart, values)

    # a configuration written by other means (existingConfigMap): the binary refuses it too
    config = yaml.safe_load(rendered_config(render(chart, values_of("existing-secret"))))
    config["kafka"]["librdkafka"]["sasl.password"] = "hunter2"
    config_file = tmp_path / "entrastream.yaml"
    config_file.write_text(yaml.safe_dump(config))
    completed = subprocess.run(
        [str(BINARY), "run", "--config", str(config_file), "--validate-only"], capture_output=True, text=True
    )
    assert completed.returncode != 0
    assert (
        "kafka.librdkafka.sasl.password: a secret written inline; write {env: VARIABLE} or {file: PATH} so "
        "that it stays out of the configuration file (and of a ConfigMap)"
    ) in completed.stderr
    assert "hunter2" not in completed.stderr + completed.stdout


KAFKA_PASSWORD = "kafka-scram-password-5f1c9e"
CLIENT_SECRET = "entra-client-secret-0b7d42"


@pytest.mark.parametrize("store", ["kafka", "file"])
def test_kafka_and_client_secrets_appear_in_no_manifest_but_the_secret(chart, store, tmp_path):
    values = values_of("minimal") | {"secrets": {
        "clientSecrets": {"contoso": CLIENT_SECRET},
        "kafka": {"sasl.password": {"value": KAFKA_PASSWORD}},
    }}
    values["config"]["checkpoint"] = {"store": store}
    values["config"]["kafka"]["librdkafka"] = {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "entrastream",
    }
    rendered = chart.render(values, name="siem", namespace="security", is_install=True)
    holders = set()
    for template, text in rendered.items():
        for document in yaml.safe_load_all(text) if not template.endswith("NOTES.txt") else [text]:
            written = document if isinstance(document, str) else yaml.safe_dump(document)
            if KAFKA_PASSWORD in written or CLIENT_SECRET in written:
                holders.add((template, document["kind"], document["metadata"]["name"]))
    assert holders == {("entrastream/templates/secret.yaml", "Secret", "siem-entrastream-secrets")}

    manifests = render(chart, values)
    validate_for_every_version(manifests)
    assert by_kind(manifests, "Secret")[0]["stringData"] == {
        "contoso": CLIENT_SECRET, "kafka.sasl.password": KAFKA_PASSWORD,
    }
    config = yaml.safe_load(rendered_config(manifests))
    assert config["kafka"]["librdkafka"] == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "entrastream",
        "sasl.password": {"env": "ENTRASTREAM_KAFKA_SASL_PASSWORD"},
    }
    for _, container in containers_by_pod(manifests):
        assert container["env"] == [{
            "name": "ENTRASTREAM_KAFKA_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "siem-entrastream-secrets", "key": "kafka.sasl.password"}},
        }]
    # the binary takes the configuration with the variable set as the pod sets it
    config_file = tmp_path / "entrastream.yaml"
    config_file.write_text(rendered_config(manifests))
    completed = subprocess.run(
        # the client secret's file exists only in the pod
        [str(BINARY), "run", "--config", str(config_file), "--validate-only", "--skip-secrets"],
        capture_output=True, text=True, env=os.environ | {"ENTRASTREAM_KAFKA_SASL_PASSWORD": KAFKA_PASSWORD},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert KAFKA_PASSWORD not in completed.stdout + completed.stderr


def test_a_kafka_secret_rotation_rolls_the_pod_only_when_helm_holds_it(chart):
    def annotations(values):
        return workload(render(chart, values))["spec"]["template"]["metadata"]["annotations"]

    def with_password(password):
        return {"secrets": {"kafka": {"sasl.password": {"value": password}}}}

    assert annotations(with_password("one"))["checksum/secrets"] == annotations(with_password("one"))["checksum/secrets"]
    assert annotations(with_password("one"))["checksum/secrets"] != annotations(with_password("two"))["checksum/secrets"]
    # a Secret the chart does not render: Helm's lookup reads nothing offline, so no checksum covers it
    # (README: Rotation); workloadAnnotations carries a reloader's annotation instead
    for name in ["existing-secret", "sasl-ssl"]:
        pod_annotations = annotations(values_of(name))
        assert "checksum/secrets" not in pod_annotations
        assert "checksum/referenced" not in pod_annotations
    assert workload(render(chart, values_of("sasl-ssl")))["metadata"]["annotations"] == {
        "secret.reloader.stakater.com/reload": "entra-client-secrets,entrastream-kafka-user,siem-cluster-ca-cert",
    }
    assert annotations(values_of("pod-overrides"))["entrastream/secrets-version"] == "1"


def test_the_referenced_checksum_would_read_every_object_the_pod_refers_to_and_the_chart_does_not_render(tmp_path):
    # lookup answers only against a cluster; what it would be asked for is shown by a copy of the
    # chart with one more template that prints the list
    import shutil

    probe_chart = tmp_path / "entrastream"
    shutil.copytree(CHART, probe_chart)
    (probe_chart / "templates" / "probe.yaml").write_text(
        'probe: {{ include "entrastream.referencedObjects" . }}\n'
    )

    def referenced(values):
        with helm_python.Chart.load(probe_chart) as probe:
            rendered = probe.render(values, name="siem", namespace="security", is_install=True)
        return yaml.safe_load(rendered["entrastream/templates/probe.yaml"])["probe"]

    # the chart's own Secret and ConfigMap are covered by checksum/secrets and checksum/config
    assert referenced({}) == {"secrets": [], "configMaps": []}
    assert referenced(values_of("sasl-ssl")) == {
        "secrets": ["entra-client-secrets", "entrastream-kafka-user", "siem-cluster-ca-cert"], "configMaps": [],
    }
    assert referenced(values_of("pod-overrides")) == {
        "secrets": ["entrastream-env", "entrastream-kafka-tls"], "configMaps": [],
    }
    assert referenced({
        "existingConfigMap": "entrastream-config",
        "envFrom": [{"configMapRef": {"name": "proxy-settings"}}],
        "extraEnv": [
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "siem-entrastream-secrets", "key": "a"}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "tuning", "key": "b"}}},
            {"name": "C", "value": "plain"},
        ],
        "extraVolumes": [{"name": "bundle", "projected": {"sources": [
            {"secret": {"name": "client-cert"}}, {"configMap": {"name": "corporate-ca"}},
        ]}}],
    }) == {"secrets": ["client-cert"], "configMaps": ["entrastream-config", "proxy-settings", "tuning", "corporate-ca"]}


def test_kafka_secret_mistakes_are_refused_with_their_fix(chart):
    refused_at_render = [
        (
            values_of("existing-secret") | {"secrets": {
                "existingSecret": "entra-client-secrets", "kafka": {"ssl.key.password": {"value": "x"}},
            }},
            "secrets.kafka.ssl.key.password.value: with secrets.existingSecret the chart renders no Secret to hold it; "
            "put it into entra-client-secrets and write secrets.kafka.ssl.key.password: {secretKeyRef: {key: <its key>}}",
        ),
        (
            {"config": {"kafka": {"bootstrap_servers": "k:9092", "librdkafka": {"sasl.password": {"env": "P"}}}},
             "secrets": {"kafka": {"sasl.password": {"secretKeyRef": {"key": "p"}}}}},
            "kafka.librdkafka.sasl.password is set twice, in config.kafka.librdkafka and in secrets.kafka: "
            "keep only secrets.kafka.sasl.password",
        ),
        (
            {"secrets": {"clientSecrets": {"kafka.sasl.password": "a"}, "kafka": {"sasl.password": {"value": "b"}}}},
            "secrets.clientSecrets.kafka.sasl.password: the chart's Secret keeps secrets.kafka.sasl.password.value "
            "under that key; rename the client secret",
        ),
    ]
    for values, message in refused_at_render:
        with pytest.raises(helm_python.HelmError) as refused:
            render(chart, values)
        assert message in str(refused.value)
    for source in [
        {"value": "a", "secretKeyRef": {"key": "b"}},
        {"secretKeyRef": {"name": "kafka-user"}},
        {"secretKeyRef": {"name": "kafka-user", "key": "password", "optional": True}},
        {"value": ""},
        "inline",
    ]:
        with pytest.raises(helm_python.HelmValuesError):
            chart.validate_schema(chart.merge_values({"secrets": {"kafka": {"sasl.password": source}}}))
    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema(chart.merge_values({"secrets": {"kafka": {"sasl password": {"value": "a"}}}}))


def test_a_secret_key_ref_without_a_name_reads_the_release_secret(chart):
    values = values_of("existing-secret")
    del values["config"]["kafka"]["librdkafka"]["sasl.password"]
    values["secrets"]["kafka"] = {"sasl.password": {"secretKeyRef": {"key": "kafka-password"}}}
    manifests = render(chart, values)
    for _, container in containers_by_pod(manifests):
        assert container["env"] == [{
            "name": "ENTRASTREAM_KAFKA_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "entra-client-secrets", "key": "kafka-password"}},
        }]
    config = yaml.safe_load(rendered_config(manifests))
    assert config["kafka"]["librdkafka"]["sasl.password"] == {"env": "ENTRASTREAM_KAFKA_SASL_PASSWORD"}


@pytest.mark.parametrize("store", ["kafka", "file"])
def test_a_kafka_ca_from_a_secret_is_mounted_where_the_configuration_reads_it(chart, store, tmp_path):
    values = values_of("sasl-ssl")
    values["config"]["checkpoint"] = {"store": store}
    manifests = render(chart, values)
    validate_for_every_version(manifests)
    assert workload(manifests)["kind"] == {"kafka": "Deployment", "file": "StatefulSet"}[store]
    config = yaml.safe_load(rendered_config(manifests))
    librdkafka = config["kafka"]["librdkafka"]
    assert librdkafka == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "entrastream",
        "sasl.password": {"env": "ENTRASTREAM_KAFKA_SASL_PASSWORD"},
        "ssl.ca.location": "/etc/entrastream/kafka-ca/ca.crt",
    }
    for pod, container in containers_by_pod(manifests):
        # the file librdkafka opens is an item of the CA Secret's volume, mounted read-only
        mount = next(mount for mount in container["volumeMounts"] if mount["name"] == "kafka-ca")
        assert mount == {"name": "kafka-ca", "mountPath": "/etc/entrastream/kafka-ca", "readOnly": True}
        volume = next(volume for volume in pod["volumes"] if volume["name"] == "kafka-ca")
        assert volume["secret"]["secretName"] == "siem-cluster-ca-cert"
        item_paths = [f"{mount['mountPath']}/{item['path']}" for item in volume["secret"]["items"]]
        assert librdkafka["ssl.ca.location"] in item_paths
        assert container["env"] == [{
            "name": "ENTRASTREAM_KAFKA_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "entrastream-kafka-user", "key": "password"}},
        }]
        # the chart's own mounts stay
        assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/etc/entrastream/config", "/etc/entrastream/secrets"}
    config_file = tmp_path / "entrastream.yaml"
    config_file.write_text(rendered_config(manifests))
    completed = subprocess.run(
        # the client secret's file exists only in the pod
        [str(BINARY), "run", "--config", str(config_file), "--validate-only", "--skip-secrets"],
        capture_output=True, text=True, env=os.environ | kafka_variables(manifests),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_readme_worked_example_is_what_the_chart_renders(chart):
    readme = (CHART / "README.md").read_text()
    example = readme[readme.index("## Worked example"):readme.index("## Tests")]
    values, config, pod = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", example, re.S)]
    assert values == values_of("sasl-ssl")
    manifests = render(chart, values)
    rendered_kafka = yaml.safe_load(rendered_config(manifests))["kafka"]
    assert config["kafka"] == {key: rendered_kafka[key] for key in ("bootstrap_servers", "librdkafka")}
    for _, container in containers_by_pod(manifests):
        assert container["env"] == pod["env"]
        assert container["volumeMounts"][-len(pod["volumeMounts"]):] == pod["volumeMounts"]


def test_env_from_and_extra_env_reach_both_pods(chart):
    manifests = render(chart, values_of("pod-overrides"))
    assert workload(manifests)["kind"] == "StatefulSet"
    for _, container in containers_by_pod(manifests):
        assert container["envFrom"] == [{"secretRef": {"name": "entrastream-env"}}]
        assert [entry["name"] for entry in container["env"]] == [
            "ENTRASTREAM_KAFKA_SSL_KEY_PASSWORD", "HTTPS_PROXY", "NO_PROXY",
        ]
        assert {"name": "kafka-tls", "mountPath": "/etc/entrastream/kafka-tls", "readOnly": True} in container["volumeMounts"]
    assert "envFrom" not in containers_by_pod(render(chart, {}))[0][1]


@pytest.mark.parametrize("name", ["default", "file-store"])
def test_security_contexts_merge_over_the_restricted_defaults(chart, name):
    restricted_pod = {
        "runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    restricted_container = {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
    }
    for pod, container in containers_by_pod(render(chart, values_of(name))):
        assert pod["securityContext"] == restricted_pod
        assert container["securityContext"] == restricted_container

    # OpenShift's restricted-v2 assigns the uid and groups: null removes a default, a key replaces one
    values = values_of(name) | {
        "podSecurityContext": {"runAsUser": None, "runAsGroup": None, "fsGroup": None, "supplementalGroups": [1000]},
        "containerSecurityContext": {"runAsUser": 1000680000, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
    }
    manifests = render(chart, values)
    validate_for_every_version(manifests)
    for pod, container in containers_by_pod(manifests):
        assert pod["securityContext"] == {
            "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}, "supplementalGroups": [1000],
        }
        assert container["securityContext"] == restricted_container | {
            "runAsUser": 1000680000, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        }
    for misspelt, key in [
        ({"podSecurityContext": {"runAsUsr": 1}}, "runAsUsr"),
        ({"containerSecurityContext": {"readOnlyRootFileSystem": True}}, "readOnlyRootFileSystem"),
        ({"containerSecurityContext": {"capabilities": {"drops": ["ALL"]}}}, "drops"),
    ]:
        with pytest.raises(helm_python.HelmValuesError, match=key):
            chart.validate_schema(chart.merge_values(misspelt))


def test_topology_spread_constraints_select_the_release_pods_unless_told_otherwise(chart):
    zone = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
    own = {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": {"team": "soc"}}}
    for store in ["kafka", "file"]:
        manifests = render(chart, {"topologySpreadConstraints": [zone, own], "config": {"checkpoint": {"store": store}}})
        validate_for_every_version(manifests)
        spec = workload(manifests)["spec"]["template"]["spec"]
        assert spec["topologySpreadConstraints"] == [
            zone | {"labelSelector": {"matchLabels": {
                "app.kubernetes.io/name": "entrastream", "app.kubernetes.io/instance": "siem",
            }}},
            own,
        ]
    assert "topologySpreadConstraints" not in workload(render(chart, {}))["spec"]["template"]["spec"]
    for refused in [{"maxSkew": 1, "topologyKey": "zone"}, zone | {"whenUnsatisfiable": "Schedule"}]:
        with pytest.raises(helm_python.HelmValuesError):
            chart.validate_schema(chart.merge_values({"topologySpreadConstraints": [refused]}))


def test_the_new_pod_values_refuse_misspelt_keys(chart):
    for values, key in [
        ({"extraVolumeMounts": [{"name": "ca", "mountpath": "/ca"}]}, "mountpath"),
        ({"envFrom": [{"secretRefs": {"name": "x"}}]}, "secretRefs"),
        ({"extraVolumes": [{"secret": {"secretName": "x"}}]}, "name"),
        ({"workloadAnnotations": {"a": 1}}, "workloadAnnotations"),
        ({"existingConfigMap": True}, "existingConfigMap"),
    ]:
        with pytest.raises(helm_python.HelmValuesError, match=key):
            chart.validate_schema(chart.merge_values(values))


@pytest.mark.parametrize("store", ["kafka", "file"])
def test_an_existing_config_map_replaces_the_charts_own(chart, store):
    values = {
        "existingConfigMap": "entrastream-config",
        "config": {"checkpoint": {"store": store}},
        "secrets": {"kafka": {"sasl.password": {"secretKeyRef": {"name": "kafka-user", "key": "password"}}}},
    }
    report = helm_python.lint(CHART, values, strict=True, kube_version="v1.37.0")
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == []
    rendered = chart.render(values, name="siem", namespace="security", is_install=True)
    manifests = render(chart, values)
    validate_for_every_version(manifests)
    assert [m["metadata"]["name"] for m in by_kind(manifests, "ConfigMap")] == ["siem-entrastream-dashboard"]
    assert workload(manifests)["kind"] == {"kafka": "Deployment", "file": "StatefulSet"}[store]
    for pod, container in containers_by_pod(manifests):
        assert {"name": "config", "configMap": {"name": "entrastream-config"}} in pod["volumes"]
        # the variable its configuration names for kafka.librdkafka.sasl.password
        assert container["env"][0]["name"] == "ENTRASTREAM_KAFKA_SASL_PASSWORD"
    annotations = workload(manifests)["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/config" not in annotations and "checksum/referenced" not in annotations
    notes = rendered["entrastream/templates/NOTES.txt"]
    assert "with the configuration of ConfigMap entrastream-config" in notes
    assert "kafka:9092" not in notes


def test_monitoring_renders_the_operator_resources_from_the_shipped_files(chart):
    manifests = render(chart, values_of("monitoring"))
    monitor = by_kind(manifests, "ServiceMonitor")[0]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert by_kind(manifests, "PodMonitor")[0]["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    rule = by_kind(manifests, "PrometheusRule")[0]
    shipped = yaml.safe_load((CHART / "alerts" / "entrastream.rules.yaml").read_text())
    assert rule["spec"] == shipped
    dashboard = [m for m in by_kind(manifests, "ConfigMap") if m["metadata"]["name"].endswith("-dashboard")][0]
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Security"}
    policy = by_kind(manifests, "NetworkPolicy")[0]["spec"]
    assert policy["ingress"] == [{
        "ports": [{"port": "metrics", "protocol": "TCP"}],
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
    }]
    egress_ports = [sorted(port["port"] for port in rule["ports"]) for rule in policy["egress"]]
    assert egress_ports == [[53, 53], [443], [9092, 9093]]


def test_exactly_once_renders_its_delivery_and_store(chart):
    config = yaml.safe_load(rendered_config(render(chart, values_of("exactly-once"))))
    assert config["kafka"]["delivery"] == "exactly_once"
    assert config["kafka"]["instance_id"] == "entrastream-prod"
    assert config["checkpoint"]["store"] == "kafka"


def test_the_helm_test_pod_runs_entrastream_check_with_the_release_identity(chart):
    pods = by_kind(render(chart, {}), "Pod")
    assert len(pods) == 1
    assert pods[0]["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pods[0]["spec"]["containers"][0]["args"] == [
        "check", "--config", "/etc/entrastream/config/entrastream.yaml",
    ]
    mounts = {mount["mountPath"] for mount in pods[0]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts == {"/etc/entrastream/config", "/etc/entrastream/secrets"}
    federated = by_kind(render(chart, values_of("workload-identity")), "Pod")[0]
    assert federated["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert federated["spec"]["serviceAccountName"] == "entrastream-reader"


def test_the_values_schema_is_what_its_generator_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_values_schema", ROOT / "tools" / "generate_values_schema.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    committed = json.loads((CHART / "values.schema.json").read_text())
    assert committed == generator.SCHEMA, "run tools/generate_values_schema.py"
