"""The API against its own ``openapi.json``, with schemathesis: requests generated from the spec
(valid and invalid ones) never get a 5xx, and every answer has a status code and a body that
the spec documents for that operation.

The store holds one object of each kind, so reads and writes by id hit real rows too.
(Schemathesis' own pytest plugin does not run under this pytest; the operations are walked
here with its strategies and checks, which is the same test.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.conftest import ApiClient
from tracker.models import Campaign, Role

EXAMPLES_PER_OPERATION = 12
# What the spec promises: no 5xx, documented status codes, bodies and content types, invalid
# requests refused. (Not "every schema-valid request accepted": the services check more than a
# JSON schema can say, e.g. that an allowed IP is one, and answer 422 naming the field.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.response_schema_conformance,
    checks.content_type_conformance,
    checks.negative_data_rejection,
]


@pytest.fixture
def api_schema(app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def operations(schema: Any) -> list[Any]:
    found = []
    for result in schema.get_all_operations():
        found.append(result.ok())
    return found


def test_every_operation_answers_as_its_spec_says(
    api_schema: Any,
    api: Callable[..., ApiClient],
    make_campaign: Callable[..., Campaign],
) -> None:
    make_campaign()  # a source, an offer and a campaign, each with id 1
    headers = {"Authorization": f"Bearer {api(Role.ADMIN).token}"}
    failures: dict[str, str] = {}
    checked = 0
    for operation in operations(api_schema):

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same requests on every run: a CI failure can be repeated
            database=None,
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            call()
        except Exception as exc:  # every operation is tried; all failures are shown at once
            failures[operation.label] = str(exc)[:2000]
        checked += 1
    assert checked >= 40
    assert not failures, "\n\n".join(f"{label}:\n{why}" for label, why in failures.items())
