"""The OpenAPI contract: it names exactly the routes the app serves, and the app keeps it under fuzzing.

Schemathesis generates requests from openapi.json (valid ones, and invalid ones in negative mode)
and sends them to the real WSGI app on a real SQLite file with a valid key. Every response must be
no 5xx, have a documented status, and match the documented body and headers.
"""

import json
import re
import zlib

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance, negative_data_rejection)

import affilut
from conftest import bearer

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


def served_operations():
    """(path in OpenAPI form, method) of every route the Bottle app serves under /api/v1."""
    return {(re.sub(r"<(\w+)>", r"{\1}", route.rule), route.method) for route in affilut.app.routes
            if route.rule.startswith("/api/v1/")}


def documented_operations(doc):
    return {(path, method.upper()) for path, item in doc["paths"].items() for method in item
            if method.upper() in METHODS}


def test_openapi_is_served_without_a_key_and_names_every_route(app):
    res = app.get("/api/v1/openapi.json", status=200)
    assert res.content_type == "application/json"
    doc = res.json
    assert doc["openapi"].startswith("3.1")
    assert served_operations() == documented_operations(doc)
    assert len(served_operations()) == 14


def test_openapi_is_a_valid_openapi_31_document():
    # The OpenAPI 3.1 meta-schema ships inside the pinned schemathesis.
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
    with open(affilut.OPENAPI_PATH, encoding="utf-8") as f:
        doc = json.load(f)
    errors = [error.message for error in OPENAPI_31_VALIDATOR.iter_errors(doc)]
    assert errors == []


def test_every_authenticated_operation_documents_the_shared_errors():
    with open(affilut.OPENAPI_PATH, encoding="utf-8") as f:
        doc = json.load(f)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or operation.get("security") == []:
                continue
            statuses = set(operation["responses"])
            assert {"401", "429", "500", "503"} <= statuses, (method, path)
            if method in ("post", "patch"):
                assert {"400", "413"} <= statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)


# -- Fuzzing with schemathesis ------------------------------------------------------------------------


@pytest.fixture
def fuzz_state(db_path, db, account, monkeypatch):
    """A key, an affiliate and a conversion of one account, and limits that fuzzing never reaches."""
    monkeypatch.setitem(affilut.app.config, "affilut.rate_limiter",
                        affilut.RateLimiter({"read": 1_000_000, "write": 1_000_000}))
    key = affilut.create_api_key(db, account["id"], "fuzz")[1]
    affiliate = affilut.create_affiliate(db, account["id"], "Fuzz Target", "fuzz@example.com")
    conversion = affilut.record_manual_conversion(db, account, affiliate["id"], 4900, "inv_fuzz")
    return {"key": key, "affiliate_id": affiliate["id"], "conversion_id": conversion["id"]}


# Loaded at import from the app itself (the document needs no database). schemathesis.pytest.from_fixture
# would be lazier, but its node renaming breaks on pytest 9.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", affilut.app)
schema.config.generation.update(modes=["positive", "negative"], max_examples=100, deterministic=True,
                                allow_extra_parameters=False)  # unknown query parameters are ignored, by design


def aim_at_real_objects(case, state):
    """Half of the generated well-formed ids become the real affiliate and conversion, so handlers get past
    the 404. Ids that are malformed on purpose (negative mode) are left alone, and which half is decided by
    the generated value itself, so Hypothesis can still shrink a failure.
    """
    def real(generated, name):
        well_formed = isinstance(generated, str) and re.fullmatch(r"[a-z]{3}_[0-9a-z]{26}", generated)
        return state[name] if well_formed and zlib.crc32(generated.encode()) % 2 == 0 else generated
    for name in ("affiliate_id", "conversion_id"):
        for part in (case.path_parameters, case.query, case.body):
            if isinstance(part, dict) and name in part:
                part[name] = real(part[name], name)


@schema.parametrize()
@hypothesis.settings(deadline=None, suppress_health_check=list(hypothesis.HealthCheck), database=None)
def test_api_keeps_its_contract_under_fuzzing(case, fuzz_state):
    aim_at_real_objects(case, fuzz_state)
    case.call_and_validate(headers=bearer(fuzz_state["key"]),
                           checks=[not_a_server_error, status_code_conformance, response_schema_conformance,
                                   content_type_conformance, response_headers_conformance, negative_data_rejection])
