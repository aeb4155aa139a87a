"""The consumer recipes of docs/consumers.md, read as their readers would read them.

Each configuration block is named after its language (```json splunk-connector): JSON and YAML
are parsed, props.conf is read with configparser (Splunk's .conf files are INI), and every one
is checked against the topics of config/full.yaml and against events mapped by `entrastream
schema sample`. The Logstash block is not parsed (no parser for its language here): only its
braces and the names it uses are checked.
"""

import configparser
import json
import os
import pathlib
import re
import subprocess
from datetime import datetime, timezone

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("ENTRASTREAM_BIN", ROOT / "target" / "debug" / "entrastream"))
DOC = (ROOT / "docs" / "consumers.md").read_text()
BLOCKS = {name: text for _, name, text in re.findall(r"```(\w+) ([\w-]+)\n(.*?)```", DOC, re.DOTALL)}
TOPICS = yaml.safe_load((ROOT / "config" / "full.yaml").read_text())["kafka"]["topics"]
EVENT_TOPICS = [TOPICS["sign_ins"], TOPICS["directory_audits"], TOPICS["provisioning"]]
# the headers every event record carries (src/pipeline/window.rs)
HEADERS = {"schema", "schema_version", "tenant_id", "stream", "event_time", "connector_version"}
STREAM_OF_TOPIC = {
    TOPICS["sign_ins"]: "sign_ins_interactive",
    TOPICS["directory_audits"]: "directory_audits",
    TOPICS["provisioning"]: "provisioning",
}


def sample(schema, stream, records=200):
    assert BINARY.exists(), f"build the binary first ({BINARY} is missing)"
    result = subprocess.run(
        [str(BINARY), "schema", "sample", "--schema", schema, "--stream", stream, "--records", str(records)],
        capture_output=True, text=True, check=True,
    )
    return result.stdout.splitlines()


def millis(rfc3339):
    """Epoch milliseconds of a Graph time (up to seven fractional digits, or none)."""
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1000 + int(fraction[:3].ljust(3, "0"))


def test_every_recipe_is_there():
    assert set(BLOCKS) == {
        "splunk-connector", "splunk-props", "elastic-input", "elastic-pipeline", "logstash", "s3-sink",
    }


def test_the_ocsf_key_is_in_every_event():
    # the key is <tenant>:<id>; the recipes deduplicate on metadata.uid, which must equal it
    for stream in STREAM_OF_TOPIC.values():
        for line in sample("ocsf", stream):
            event = json.loads(line)
            metadata = event["metadata"]
            assert metadata["uid"] == f"{metadata['tenant_uid']}:{metadata['original_event_uid']}"


def test_splunk_connector_reads_every_event_topic_with_the_record_time():
    connector = json.loads(BLOCKS["splunk-connector"])
    config = connector["config"]
    assert config["connector.class"] == "com.splunk.kafka.connect.SplunkSinkConnector"
    topics = config["topics"].split(",")
    assert topics == EVENT_TOPICS
    sourcetypes = config["splunk.sourcetypes"].split(",")
    assert len(sourcetypes) == len(topics) == len(config["splunk.indexes"].split(","))
    assert all(sourcetype.startswith("ocsf:") for sourcetype in sourcetypes), "the OCSF-CIM add-on's prefix"
    # the /event endpoint, _time from the record timestamp (the event time)
    assert config["splunk.hec.raw"] == "false"
    assert config["splunk.hec.use.record.timestamp"] == "true"
    assert set(config["splunk.header.custom"].split(",")) <= HEADERS
    assert all(isinstance(value, str) for value in config.values()), "Kafka Connect takes strings"


def test_splunk_props_extract_each_events_own_time():
    props = configparser.ConfigParser(interpolation=None, strict=True)
    props.optionxform = str  # Splunk's keys are case-sensitive
    props.read_string(BLOCKS["splunk-props"])
    connector = json.loads(BLOCKS["splunk-connector"])["config"]
    ocsf_sourcetypes = connector["splunk.sourcetypes"].split(",")
    raw_sourcetypes = [sourcetype.replace("ocsf:microsoft:entra:", "microsoft:entra:graph:") for sourcetype in ocsf_sourcetypes]
    assert props.sections() == ocsf_sourcetypes + raw_sourcetypes
    for topic, ocsf_type, raw_type in zip(connector["topics"].split(","), ocsf_sourcetypes, raw_sourcetypes):
        stream = STREAM_OF_TOPIC[topic]
        for sourcetype, schema in [(ocsf_type, "ocsf"), (raw_type, "raw")]:
            stanza = props[sourcetype]
            assert stanza["KV_MODE"] == "json"
            prefix = re.compile(stanza["TIME_PREFIX"])
            lookahead = int(stanza["MAX_TIMESTAMP_LOOKAHEAD"])
            for line in sample(schema, stream, 100):
                event = json.loads(line)
                found = prefix.search(line)
                assert found, f"{sourcetype}: TIME_PREFIX finds nothing in {line[:200]}"
                text = line[found.end():found.end() + lookahead]
                if schema == "ocsf":
                    assert stanza["TIME_FORMAT"] == "%s%3N"
                    assert text == str(event["time"]), f"{sourcetype}: {text}"
                else:
                    # no TIME_FORMAT: Splunk recognises ISO 8601, with or without a fraction
                    assert "TIME_FORMAT" not in stanza
                    field = "createdDateTime" if stream.startswith("sign_ins") else "activityDateTime"
                    assert text.split('"')[0] == event["record"][field], f"{sourcetype}: {text}"
                    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z", event["record"][field])


def test_elastic_input_keys_documents_by_the_record_key():
    inputs = yaml.safe_load(BLOCKS["elastic-input"])
    assert len(inputs) == 1
    kafka = inputs[0]
    assert kafka["type"] == "kafka"
    assert kafka["topics"] == EVENT_TOPICS
    assert kafka["isolation_level"] == "read_committed"
    assert kafka["parsers"] == [{"ndjson": {"target": "", "overwrite_keys": True, "add_error_key": True}}]
    assert kafka["processors"] == [{"fingerprint": {"fields": ["kafka.key"], "target_field": "@metadata._id"}}]
    assert kafka["pipeline"] == "entrastream-ocsf"


def test_elastic_pipeline_takes_the_ocsf_time_exactly():
    pipeline = json.loads(BLOCKS["elastic-pipeline"])
    [processor] = pipeline["processors"]
    date = processor["date"]
    assert (date["field"], date["formats"], date["target_field"]) == ("time", ["UNIX_MS"], "@timestamp")
    for stream in STREAM_OF_TOPIC.values():
        for line in sample("ocsf", stream, 50):
            event = json.loads(line)
            # UNIX_MS of `time` is the event's own time, to the millisecond
            assert event["time"] == millis(event["metadata"]["original_time"])
    ecs = [json.loads(line) for line in sample("ecs", "sign_ins_interactive", 20)]
    assert all("@timestamp" in event for event in ecs), "ECS events carry their own @timestamp"


def test_logstash_block_names_what_the_others_do():
    # not parsed: no parser for Logstash's configuration language is at hand
    block = BLOCKS["logstash"]
    assert block.count("{") == block.count("}")
    assert block.count("[") == block.count("]")
    topics = re.search(r"topics => \[(.*?)\]", block).group(1)
    assert [topic.strip().strip('"') for topic in topics.split(",")] == EVENT_TOPICS
    for expected in [
        "codec => json",
        'decorate_events => "basic"',
        'isolation_level => "read_committed"',
        'date { match => ["time", "UNIX_MS"] }',
        'document_id => "%{[@metadata][kafka][key]}"',
    ]:
        assert expected in block, expected


def test_s3_sink_partitions_by_the_record_time():
    config = json.loads(BLOCKS["s3-sink"])["config"]
    assert config["connector.class"] == "io.confluent.connect.s3.S3SinkConnector"
    assert config["topics"].split(",") == EVENT_TOPICS
    assert config["partitioner.class"] == "io.confluent.connect.storage.partitioner.TimeBasedPartitioner"
    assert config["timestamp.extractor"] == "Record"
    assert config["partition.duration.ms"] == "3600000"
    assert "'hour'=HH" in config["path.format"]
    # JSON lines as the events are: no schema envelope
    assert config["value.converter.schemas.enable"] == "false"
    assert all(isinstance(value, str) for value in config.values()), "Kafka Connect takes strings"


@pytest.mark.parametrize("name", ["splunk-connector", "elastic-input", "logstash", "s3-sink"])
def test_no_recipe_holds_a_secret_inline(name):
    block = BLOCKS[name]
    assert "password" not in block.lower()
    if "splunk.hec.token" in block:
        assert json.loads(block)["config"]["splunk.hec.token"].startswith("${file:")
