"""schemathesis over every operation of the OpenAPI document: no 5xx, no response that breaks
the document (schema, status code, content type), for valid and for invalid input."""

import contextlib
import contextvars
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance,
          content_type_conformance]
# A few cases per operation and mode keep the whole walk to about a minute; a deeper walk by
# hand: QRP_FUZZ_EXAMPLES=100 pytest tests/hardening/test_schemathesis.py
EXAMPLES = int(os.environ.get("QRP_FUZZ_EXAMPLES") or 6)


@pytest.fixture
def caller(api):
    """A full-access token; the workspace has a code and a design for ids to find."""
    caller = api()
    caller.post("/api/v1/qr-codes", json={"type": "url", "kind": "dynamic",
                                          "destination": "https://example.com"})
    caller.post("/api/v1/qr-design-templates", json={"name": "d", "design": {}})
    return caller


def _walk(operation, mode, headers, cases: list, failures: list) -> None:
    """Send EXAMPLES generated cases to one operation; collect every failure."""

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        cases.append(case)
        response = None
        try:
            # each request in a context of its own, as in production (a fresh session)
            response = contextvars.Context().run(
                case.call, headers={**(case.headers or {}), **headers})
            case.validate_response(response, checks=CHECKS)
        except Exception as failure:  # every failure is collected, then reported
            status = response.status_code if response is not None else "raised"
            failures.append(f"{operation.label} [{mode}] -> {status}: {str(failure)[:400]}")

    # Unsatisfiable: nothing invalid can be said to an operation that takes no input.
    with contextlib.suppress(Unsatisfiable):
        run()


# Valid and invalid input are two tests, so the test workers share the walk.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
def test_no_operation_answers_5xx_or_breaks_the_document(app, caller, mode):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    headers = {"Authorization": f"Bearer {caller.token}"}
    cases, failures = [], []
    for operation in operations:
        _walk(operation, mode, headers, cases, failures)

    server_errors = [f for f in failures if "-> 5" in f or "-> raised" in f]
    print(f"schemathesis [{mode}]: {len(operations)} operations, {len(cases)} cases, "
          f"{len(server_errors)} 5xx, {len(failures) - len(server_errors)} other failures")
    assert len(operations) >= 40
    assert not failures, "\n".join(failures)
