"""The Microsoft Graph Python SDK (msgraph-sdk, msgraph-beta-sdk) against `gatehouse serve`.

Usage: python graph_sdk.py BASE_URL TOKEN SIGN_IN_ID
Lists sign-ins (v1.0 and beta, with filters, following every @odata.nextLink), directory audits
and provisioning records, gets one sign-in by id and provokes an error; prints what the SDK
returned as JSON for the Rust test to compare with `gatehouse sql`.
"""

import asyncio
import json
import sys

from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph_core import APIVersion, GraphClientFactory


class StaticToken(AccessTokenProvider):
    """The same bearer token for every request to the allowed hosts."""

    def __init__(self, token, hosts):
        self._token = token
        self._validator = AllowedHostsValidator(hosts)

    async def get_authorization_token(self, uri, additional_authentication_context={}):
        return self._token if self._validator.is_url_host_valid(uri) else ""

    def get_allowed_hosts_validator(self):
        return self._validator


def client(base, token, beta):
    """A GraphServiceClient whose requests go to `base` + /v1.0 or /beta (no retries: the test
    sees the server's first answer)."""
    from urllib.parse import urlparse

    if beta:
        from msgraph_beta import GraphRequestAdapter, GraphServiceClient
        from msgraph_beta.graph_request_adapter import options
        version = APIVersion.beta
    else:
        from msgraph import GraphRequestAdapter, GraphServiceClient
        from msgraph.graph_request_adapter import options
        version = APIVersion.v1
    opts = dict(options)
    opts[RetryHandlerOption.get_key()] = RetryHandlerOption(should_retry=False)
    http = GraphClientFactory.create_with_default_middleware(api_version=version, options=opts)
    auth = BaseBearerTokenAuthenticationProvider(StaticToken(token, [urlparse(base).hostname]))
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = base.rstrip("/") + ("/beta" if beta else "/v1.0")
    return GraphServiceClient(request_adapter=adapter)


async def list_all(builder, **query):
    """Every record of a collection: the first page with the query options, then each
    @odata.nextLink as given. Returns (records, pages, @odata.count of the first page)."""
    qp_cls = getattr(type(builder), type(builder).__name__ + "GetQueryParameters")
    qp = qp_cls()
    for k, v in query.items():
        setattr(qp, k, v)
    page = await builder.get(request_configuration=RequestConfiguration(query_parameters=qp))
    if page is None:
        raise RuntimeError("no parseable body")
    items, pages, count = list(page.value or []), 1, page.odata_count
    while page.odata_next_link:
        page = await builder.with_url(page.odata_next_link).get()
        pages += 1
        items.extend(page.value or [])
    return items, pages, count


def iso(dt):
    return dt.isoformat() if dt else None


async def main(base, token, sign_in_id):
    v1, beta = client(base, token, False), client(base, token, True)
    out = {}

    failed, pages, count = await list_all(
        v1.audit_logs.sign_ins, filter="status/errorCode ne 0", top=100, count=True
    )
    out["v1_failed"] = {
        "ids": [s.id for s in failed],
        "pages": pages,
        "count": count,
        "codes": sorted({s.status.error_code for s in failed}),
        "times": [iso(s.created_date_time) for s in failed],
    }
    sp, pages, _ = await list_all(
        beta.audit_logs.sign_ins,
        filter="signInEventTypes/any(t: t eq 'servicePrincipal') and createdDateTime ge 2026-10-01T00:00:00Z",
        top=50,
        orderby=["createdDateTime asc"],
    )
    out["beta_service_principals"] = {
        "ids": [s.id for s in sp],
        "pages": pages,
        "types": sorted({t for s in sp for t in (s.sign_in_event_types or [])}),
        "times": [iso(s.created_date_time) for s in sp],
    }
    selected, _, _ = await list_all(
        beta.audit_logs.sign_ins, top=1000, select=["id", "createdDateTime", "userPrincipalName"]
    )
    out["beta_selected"] = {
        "n": len(selected),
        "with_status": sum(1 for s in selected if s.status is not None),
        "with_upn": sum(1 for s in selected if s.user_principal_name),
    }
    audits, pages, _ = await list_all(v1.audit_logs.directory_audits, top=5)
    out["audits"] = {"ids": [a.id for a in audits], "pages": pages,
                     "categories": sorted({a.category for a in audits})}
    prov, pages, _ = await list_all(beta.audit_logs.provisioning, top=5)
    out["provisioning"] = {"ids": [p.id for p in prov], "pages": pages}

    one = await v1.audit_logs.sign_ins.by_sign_in_id(sign_in_id).get()
    out["one"] = {"id": one.id, "created": iso(one.created_date_time),
                  "app": one.app_display_name, "error_code": one.status.error_code}

    from kiota_abstractions.api_error import APIError

    errors = {}
    for name, call in [
        ("bad_filter", lambda: list_all(v1.audit_logs.sign_ins, filter="status/errorCode eq")),
        ("unknown_id", lambda: v1.audit_logs.sign_ins.by_sign_in_id("no-such-id").get()),
    ]:
        try:
            await call()
            errors[name] = None
        except APIError as e:
            err = getattr(e, "error", None)
            errors[name] = {"status": e.response_status_code,
                            "code": err.code if err else None,
                            "message": err.message if err else str(e)}
    bad = client(base, "gh_not_a_token", False)
    try:
        await list_all(bad.audit_logs.sign_ins)
        errors["no_token"] = None
    except APIError as e:
        errors["no_token"] = {"status": e.response_status_code,
                              "code": e.error.code if getattr(e, "error", None) else None}
    out["errors"] = errors
    print(json.dumps(out))


asyncio.run(main(*sys.argv[1:4]))
