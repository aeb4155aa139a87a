"""The Helm chart, checked offline with Helm's own Go SDK (helm-python-sdk): lint, render with the
default values and every value set of helm/entrastream/ci/, validate every manifest against the
Kubernetes schemas of the oldest and newest supported versions, have the binary validate the
configuration each render produces, and hold every pod to the restricted Pod Security Standard.
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


def rendered_config(manifests):
    config_maps = [m for m in by_kind(manifests, "ConfigMap") if "entrastream.yaml" in m.get("data", {})]
    assert len(config_maps) == 1
    return config_maps[0]["data"]["entrastream.yaml"]


def test_there_are_six_value_sets_besides_the_defaults():
    assert set(VALUE_SETS) == {
        "default", "minimal", "workload-identity", "existing-secret", "file-store", "monitoring", "exactly-once",
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
    config = tmp_path / "entrastream.yaml"
    config.write_text(rendered_config(render(chart, values_of(name))))
    # the rendered files and secrets exist only in the pod: every other check runs
    result = subprocess.run(
        [BINARY, "run", "--config", config, "--validate-only", "--skip-secrets"], capture_output=True, text=True
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
            if isinstance(value, dict) and value and key not in ("config", "resources", "clientSecrets"):
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


def test_a_kafka_password_written_inline_is_refused_by_the_binary(chart, tmp_path):
    values = values_of("existing-secret")
    values["config"]["kafka"]["librdkafka"]["sasl.password"] = "hunter2"
    config_file = tmp_path / "entrastream.yaml"
    config_file.write_text(rendered_config(render(chart, values)))
    completed = subprocess.run(
        [str(BINARY), "run", "--config", str(config_file), "--validate-only"], capture_output=True, text=True
    )
    assert completed.returncode != 0
    assert (
        "kafka.librdkafka.sasl.password: a secret written inline; write {env: VARIABLE} or {file: PATH} so "
        "that it stays out of the configuration file (and of a ConfigMap)"
    ) in completed.stderr
    assert "hunter2" not in completed.stderr + completed.stdout


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
