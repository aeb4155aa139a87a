"""Mapped events against the official OCSF 1.8.0 schema and against the project's own schemas/.

Thousands of simulated records of every stream (beta and v1.0, with quirks) are mapped by
`entrastream schema sample`; each OCSF event is validated against the class JSON Schema generated
from the compiled OCSF 1.8.0 schema shipped in the `ocsf-json-schema` package (with the profiles
the event declares), and every event against `schemas/`. Nothing may be invalid.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("ENTRASTREAM_BIN", ROOT / "target" / "debug" / "entrastream"))
STREAMS = [
    "sign_ins_interactive", "sign_ins_non_interactive", "sign_ins_service_principal",
    "sign_ins_managed_identity", "directory_audits", "provisioning",
]
OURS = {path.name: json.loads(path.read_text()) for path in (ROOT / "schemas").glob("*.json")}
BY_CLASS = {int(name.split("-")[1]): name for name in OURS if name.startswith("ocsf-")}


def sample(schema, stream, records, api_version="beta", seed=1, quirk_rate=0.05):
    assert BINARY.exists(), f"build the binary first ({BINARY} is missing)"
    result = subprocess.run(
        [str(BINARY), "schema", "sample", "--schema", schema, "--stream", stream, "--records", str(records),
         "--seed", str(seed), "--quirk-rate", str(quirk_rate), "--api-version", api_version],
        capture_output=True, text=True, check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_schemas_are_what_the_generator_writes():
    sys.path.insert(0, str(ROOT / "tools"))
    import generate_schemas

    for name, text in generate_schemas.documents().items():
        assert (ROOT / "schemas" / name).read_text() == text, f"schemas/{name} is stale: run tools/generate_schemas.py"
    assert set(OURS) == set(generate_schemas.documents())


def test_ocsf_events_validate_against_the_official_schema_and_ours():
    official = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.8.0"))
    official_validators = {}
    our_validators = {name: Draft202012Validator(schema) for name, schema in OURS.items()}
    counts = {}
    for stream in STREAMS:
        versions = ["beta", "v1.0"] if stream in ("sign_ins_interactive", "directory_audits", "provisioning") else ["beta"]
        for api_version in versions:
            for event in sample("ocsf", stream, 1500 if api_version == "beta" else 300, api_version):
                class_uid = event["class_uid"]
                profiles = tuple(event["metadata"]["profiles"])
                key = (class_uid, profiles)
                if key not in official_validators:
                    class_name = official.lookup_class_name_from_uid(class_uid)
                    official_validators[key] = Draft202012Validator(official.get_class_schema(class_name, list(profiles)))
                errors = [error.message for error in official_validators[key].iter_errors(event)]
                assert not errors, f"{stream} {event['metadata']['original_event_uid']} against OCSF 1.8.0: {errors}"
                errors = [error.message for error in our_validators[BY_CLASS[class_uid]].iter_errors(event)]
                assert not errors, f"{stream} against schemas/{BY_CLASS[class_uid]}: {errors}"
                counts[class_uid] = counts.get(class_uid, 0) + 1
    assert set(counts) == {3001, 3002, 3004, 3005, 3006, 6003}, counts
    assert sum(counts.values()) == 9_900, counts


@pytest.mark.parametrize("schema", ["ecs", "raw"])
def test_ecs_and_raw_documents_validate_against_schemas(schema):
    validator = Draft202012Validator(OURS[f"{schema}.json"], format_checker=FormatChecker())
    total = 0
    for stream in STREAMS:
        for event in sample(schema, stream, 500):
            errors = [error.message for error in validator.iter_errors(event)]
            assert not errors, f"{stream}: {errors}"
            total += 1
    assert total == 3000


def test_schema_export_prints_the_schemas():
    for schema, expected in [("ocsf", 6), ("ecs", 1), ("raw", 1)]:
        result = subprocess.run([str(BINARY), "schema", "export", "--schema", schema], capture_output=True, text=True, check=True)
        documents = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(documents) == expected
        assert all(document["$schema"] == "https://json-schema.org/draft/2020-12/schema" for document in documents)
