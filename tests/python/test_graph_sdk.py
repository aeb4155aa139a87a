"""Microsoft's own client libraries against `entrastream simulate`.

MSAL obtains a token with a client secret (authority discovery through the simulator's
OpenID configuration), and the Microsoft Graph SDKs (msgraph-beta-sdk and msgraph-sdk, on
Kiota) page through sign-ins and directory audits via @odata.nextLink and parse every record into
their typed models. If the simulator's endpoints, status codes, paging or record shapes drifted
from Graph's, these libraries would fail.
"""

import asyncio
import datetime
import json
import os
import pathlib
import subprocess
import time

import httpx
import msal
import pytest
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
from kiota_abstractions.authentication.base_bearer_token_authentication_provider import (
    BaseBearerTokenAuthenticationProvider,
)
from msgraph_core import APIVersion, GraphClientFactory, PageIterator

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("ENTRASTREAM_BIN", ROOT / "target" / "debug" / "entrastream"))
SCOPE = "https://graph.microsoft.com/.default"


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    assert BINARY.exists(), f"build the binary first ({BINARY} is missing)"
    work = tmp_path_factory.mktemp("sim")
    credentials_file = work / "credentials.json"
    ca_file = work / "ca.pem"
    process = subprocess.Popen(
        [
            str(BINARY), "simulate", "--listen", "127.0.0.1:0", "--tls",
            "--config", str(ROOT / "tests" / "python" / "sim.yaml"),
            "--ca-out", str(ca_file), "--credentials-out", str(credentials_file),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 30
    while not (credentials_file.exists() and ca_file.exists()):
        assert process.poll() is None, f"the simulator exited: {process.stdout.read()}"
        assert time.monotonic() < deadline, "the simulator did not start within 30 s"
        time.sleep(0.05)
    time.sleep(0.1)
    credentials = json.loads(credentials_file.read_text())
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca_file)
    os.environ["SSL_CERT_FILE"] = str(ca_file)
    yield {"credentials": credentials, "ca": str(ca_file)}
    process.terminate()
    process.wait(timeout=10)


def msal_app(simulator, tenant):
    base = simulator["credentials"]["base_url"]
    return msal.ConfidentialClientApplication(
        tenant["client_id"],
        authority=f"{base}/{tenant['tenant_id']}",
        client_credential=tenant["client_secret"],
        validate_authority=False,
        instance_discovery=False,
    )


class MsalTokens(AccessTokenProvider):
    def __init__(self, app):
        self.app = app

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        result = self.app.acquire_token_for_client(scopes=[SCOPE])
        assert "access_token" in result, result
        return result["access_token"]

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator(["localhost"])


def graph_client(simulator, tenant, beta):
    if beta:
        from msgraph_beta import GraphRequestAdapter, GraphServiceClient
    else:
        from msgraph import GraphRequestAdapter, GraphServiceClient
    base = simulator["credentials"]["base_url"]
    version = "beta" if beta else "v1.0"
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(base_url=f"{base}/{version}", verify=simulator["ca"], timeout=30),
        api_version=APIVersion.beta if beta else APIVersion.v1,
    )
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(MsalTokens(msal_app(simulator, tenant))), client=http)
    adapter.base_url = f"{base}/{version}"
    return GraphServiceClient(request_adapter=adapter), adapter


def time_filter(field, hours):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    start = now - datetime.timedelta(hours=hours)
    return f"{field} ge {start.strftime('%Y-%m-%dT%H:%M:%SZ')} and {field} le {now.strftime('%Y-%m-%dT%H:%M:%SZ')}"


async def collect(first_page, adapter):
    records = []
    # PageIterator takes the collection response's own type to parse the following pages
    iterator = PageIterator(first_page, adapter)

    def keep(record):
        records.append(record)
        return True

    await iterator.iterate(keep)
    return records


def raw_ids(simulator, token, url):
    ids = []
    with httpx.Client(verify=simulator["ca"], timeout=30) as client:
        while url:
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            page = response.json()
            ids.extend(record["id"] for record in page["value"])
            url = page.get("@odata.nextLink")
    return ids


def test_msal_obtains_a_token_and_reports_a_wrong_secret(simulator):
    tenant = simulator["credentials"]["tenants"][0]
    result = msal_app(simulator, tenant).acquire_token_for_client(scopes=[SCOPE])
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] > 3000
    wrong = dict(tenant, client_secret="not-the-secret")
    refused = msal_app(simulator, wrong).acquire_token_for_client(scopes=[SCOPE])
    assert refused["error"] == "invalid_client"
    assert 7000215 in refused["error_codes"]
    assert refused["error_description"].startswith("AADSTS7000215: ")


def test_beta_sdk_pages_sign_ins_and_parses_typed_models(simulator):
    from msgraph_beta.generated.audit_logs.sign_ins.sign_ins_request_builder import SignInsRequestBuilder
    from msgraph_beta.generated.models.sign_in import SignIn

    tenant = simulator["credentials"]["tenants"][0]
    client, adapter = graph_client(simulator, tenant, beta=True)
    query = SignInsRequestBuilder.SignInsRequestBuilderGetQueryParameters(
        filter=time_filter("createdDateTime", 1) + " and signInEventTypes/any(t: t eq 'nonInteractiveUser')",
        top=100,
    )
    config = SignInsRequestBuilder.SignInsRequestBuilderGetRequestConfiguration(query_parameters=query)

    async def run():
        first = await client.audit_logs.sign_ins.get(request_configuration=config)
        assert first.odata_next_link, "several pages"
        return await collect(first, adapter)

    records = asyncio.run(run())
    assert len(records) > 450
    assert all(isinstance(record, SignIn) for record in records)
    assert len({record.id for record in records}) == len(records)
    times = [record.created_date_time for record in records]
    assert all(isinstance(moment, datetime.datetime) for moment in times)
    assert times == sorted(times, reverse=True), "newest first"
    assert {str(types[0]) for types in (record.sign_in_event_types for record in records)} == {"nonInteractiveUser"}
    assert all(isinstance(record.status.error_code, int) for record in records if record.status)
    assert any(record.authentication_details for record in records)
    token = msal_app(simulator, tenant).acquire_token_for_client(scopes=[SCOPE])["access_token"]
    base = simulator["credentials"]["base_url"]
    url = httpx.URL(f"{base}/beta/auditLogs/signIns", params={"$filter": query.filter, "$top": "100"})
    assert sorted(raw_ids(simulator, token, str(url))) == sorted(record.id for record in records)


def test_beta_sdk_reads_directory_audits_with_their_targets(simulator):
    from msgraph_beta.generated.audit_logs.directory_audits.directory_audits_request_builder import (
        DirectoryAuditsRequestBuilder,
    )
    from msgraph_beta.generated.models.directory_audit import DirectoryAudit

    tenant = simulator["credentials"]["tenants"][1]
    client, adapter = graph_client(simulator, tenant, beta=True)
    query = DirectoryAuditsRequestBuilder.DirectoryAuditsRequestBuilderGetQueryParameters(
        filter=time_filter("activityDateTime", 1), top=100,
    )
    config = DirectoryAuditsRequestBuilder.DirectoryAuditsRequestBuilderGetRequestConfiguration(query_parameters=query)

    async def run():
        first = await client.audit_logs.directory_audits.get(request_configuration=config)
        return await collect(first, adapter)

    records = asyncio.run(run())
    assert len(records) > 350
    assert all(isinstance(record, DirectoryAudit) for record in records)
    assert all(record.activity_display_name and record.category for record in records)
    assert any(record.target_resources and record.target_resources[0].modified_properties for record in records)
    assert any(record.initiated_by and record.initiated_by.app for record in records)
    assert any(record.initiated_by and record.initiated_by.user for record in records)


def test_v1_sdk_reads_interactive_sign_ins(simulator):
    from msgraph.generated.audit_logs.sign_ins.sign_ins_request_builder import SignInsRequestBuilder
    from msgraph.generated.models.sign_in import SignIn

    tenant = simulator["credentials"]["tenants"][0]
    client, adapter = graph_client(simulator, tenant, beta=False)
    query = SignInsRequestBuilder.SignInsRequestBuilderGetQueryParameters(filter=time_filter("createdDateTime", 0.5), top=100)
    config = SignInsRequestBuilder.SignInsRequestBuilderGetRequestConfiguration(query_parameters=query)

    async def run():
        first = await client.audit_logs.sign_ins.get(request_configuration=config)
        return await collect(first, adapter)

    records = asyncio.run(run())
    assert len(records) > 250
    assert all(isinstance(record, SignIn) and record.is_interactive for record in records)
    assert all(record.location is None or record.location.country_or_region for record in records if record.location and record.location.city)


def test_graph_refusals_surface_as_sdk_errors(simulator):
    from kiota_abstractions.api_error import APIError
    from msgraph_beta.generated.audit_logs.directory_audits.directory_audits_request_builder import (
        DirectoryAuditsRequestBuilder,
    )

    tenant = simulator["credentials"]["tenants"][0]
    client, _ = graph_client(simulator, tenant, beta=True)
    query = DirectoryAuditsRequestBuilder.DirectoryAuditsRequestBuilderGetQueryParameters(
        filter=time_filter("createdDateTime", 1),
    )
    config = DirectoryAuditsRequestBuilder.DirectoryAuditsRequestBuilderGetRequestConfiguration(query_parameters=query)
    with pytest.raises(APIError) as refused:
        asyncio.run(client.audit_logs.directory_audits.get(request_configuration=config))
    assert refused.value.response_status_code == 400
    assert "Invalid filter clause" in str(refused.value.message or refused.value)
