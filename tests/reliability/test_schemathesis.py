"""Property-based API fuzzing with schemathesis against a real `chatbot serve`: every /v1
operation from the app's own /openapi.json, and the GraphQL schema by introspection. With a valid
key: no 5xx, and every response matches what the schema documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.graphql.loaders import get_introspection_query
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.live import LiveServer

pytestmark = pytest.mark.e2e

# Bounded generation: the tiny model is fast, but a fuzzed max_tokens could still fill the context.
MAX_TOKENS = 16
GRAPHQL_CLIENT_CODES = {
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_PARSE_FAILED",
    "QUERY_TOO_LARGE",
}
FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def _documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI document and the GraphQL introspection result, built in-process at collection
    time (schemathesis' fixture-based lazy loader breaks on pytest 9); the test below checks that
    the live server serves exactly these."""
    from chatbot_cli.config import Settings
    from chatbot_cli.graphql.schema import create_schema
    from chatbot_cli.server.app import create_app

    app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    introspection = create_schema().introspect()
    return app.openapi(), dict(introspection)


OPENAPI_DOC, GRAPHQL_DOC = _documents()
openapi = schemathesis.openapi.from_dict(OPENAPI_DOC).include(path_regex=r"^/v1/")
graphql = schemathesis.graphql.from_dict(GRAPHQL_DOC)


def test_live_server_serves_the_fuzzed_schemas(server: LiveServer) -> None:
    assert httpx.get(server.url + "/openapi.json").json() == OPENAPI_DOC
    live = httpx.post(
        server.url + "/graphql",
        json={"query": get_introspection_query()},
        headers=server.headers,
    ).json()
    assert live["data"] == GRAPHQL_DOC


def _bound(case: Any) -> None:
    body = case.body
    # Only valid values are touched, so a negative case stays negative; a null or 0 max_tokens
    # runs to the small context window of `server`.
    if isinstance(body, dict):
        body.setdefault("max_tokens", MAX_TOKENS)
        for field in ("max_tokens", "max_completion_tokens"):
            value = body.get(field)
            integral = type(value) is int or (type(value) is float and value.is_integer())
            if integral and value > MAX_TOKENS:
                body[field] = MAX_TOKENS
        # The generator rounds the int64 bounds of `seed` through floats, so near them it labels
        # valid seeds invalid and the reverse; move such seeds clearly to the side it meant.
        seed = body.get("seed")
        if type(seed) is int and abs(seed) > 2**62:
            negative = case.meta is not None and case.meta.generation.mode == "negative"
            body["seed"] = 2**64 if negative else 2**62


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        home=tmp_path_factory.mktemp("fuzz"), model=tiny_model, extra_args=["--n-ctx", "256"]
    ).start()
    yield live
    live.kill()


def _cross_field_refusal(body: Any) -> bool:
    """A schema-valid body that breaks a rule JSON Schema cannot state (a tool_choice naming a
    tool that is not given, a tool message answering no call, content null outside an assistant
    message with tool_calls, a tool's parameters that are no JSON Schema, a json_schema format
    without its schema): a documented 400."""
    from pydantic import ValidationError

    from chatbot_cli.errors import InvalidRequest
    from chatbot_cli.server.protocol import ChatCompletionRequest
    from chatbot_cli.server.tool_checks import check_request

    if not isinstance(body, dict):
        return False
    try:
        check_request(ChatCompletionRequest.model_validate(body))
    except ValidationError as exc:
        cross = ("messages", "response_format")
        return all(e["type"] == "invalid_value" and e["loc"][0] in cross for e in exc.errors())
    except InvalidRequest:
        return True
    return False


@openapi.parametrize()
@FUZZ
def test_v1_operations(case: Any, server: LiveServer) -> None:
    _bound(case)
    positive = case.meta is None or case.meta.generation.mode != "negative"
    response = case.call(base_url=server.url, headers=server.headers, timeout=30)
    excluded = []
    # The fuzzing server's context is deliberately small; tools' descriptions can overflow it.
    too_long = response.status_code == 400 and "context_length" in response.text
    if positive and (too_long or _cross_field_refusal(case.body)):
        assert response.status_code == 400 and response.json()["error"]["param"], response.text
        excluded = [positive_data_acceptance]
    case.validate_response(response, excluded_checks=excluded)


@graphql.parametrize()
@FUZZ
def test_graphql_operations(case: Any, server: LiveServer) -> None:
    # Resolver errors such as NOT_FOUND or BAD_USER_INPUT ("title must not be empty") are the
    # documented answers to well-typed but impossible requests, not server errors: those two
    # stock checks are replaced by ours. Invalid queries must still be rejected.
    response = case.call(base_url=server.url + "/graphql", headers=server.headers, timeout=30)
    case.validate_response(response, excluded_checks=[not_a_server_error, positive_data_acceptance])
    assert response.status_code < 500, response.text
    errors = response.json().get("errors") or []
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        assert code in GRAPHQL_CLIENT_CODES, error
        assert "Cannot return null for non-nullable field" not in error["message"], error
