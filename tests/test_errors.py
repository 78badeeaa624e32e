from __future__ import annotations

import ast
import copy
import pickle
from pathlib import Path
from typing import Any

import pytest

from chatbot_cli import errors
from chatbot_cli.errors import (
    AuthenticationFailed,
    ChatbotError,
    ContextLengthExceeded,
    DatabaseUnavailable,
    ErrorFields,
    GraphQLBadInput,
    GraphQLError,
    GraphQLNotFound,
    InvalidRequest,
    ModelNotFound,
    ModelStopped,
    Overloaded,
    RequestRejected,
    RetryLater,
    error_envelope,
    from_envelope,
    from_graphql_errors,
    parse_envelope,
)


def test_envelope_shape() -> None:
    env = InvalidRequest("bad", param="messages").envelope()
    assert env == {
        "error": {
            "message": "bad",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "invalid_request",
        }
    }


def test_from_envelope_roundtrip() -> None:
    for exc in (
        AuthenticationFailed("k"),
        ModelNotFound("m"),
        ContextLengthExceeded("c"),
        Overloaded("o"),
        DatabaseUnavailable("d"),
        ModelStopped("s"),
    ):
        back = from_envelope(exc.status, exc.envelope())
        assert type(back) is type(exc)
        assert back.message == exc.message


def test_from_garbage_body() -> None:
    exc = from_envelope(418, "nope")
    assert isinstance(exc, InvalidRequest)
    assert "418" in exc.message


def every_error_class() -> list[type[ChatbotError]]:
    """The classes of the tree in errors.py (subclasses elsewhere are checked by their source,
    below: which of them are imported depends on what the session has imported)."""
    found: list[type[ChatbotError]] = []
    todo = [ChatbotError]
    while todo:
        cls = todo.pop()
        if cls.__module__ == errors.__name__:
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def example(cls: type[ChatbotError]) -> ChatbotError:
    if issubclass(cls, RequestRejected):
        return cls("rejected", status=422, param="p")
    if issubclass(cls, RetryLater):
        return cls("busy", retry_after=7)
    if issubclass(cls, GraphQLError):
        return cls("refused", code=cls.code, item=3)
    return cls("it failed", param="p")


def test_every_class_is_drawn_in_the_docstring() -> None:
    classes = every_error_class()
    assert len(classes) >= 18
    for cls in classes:
        assert f" {cls.__name__} " in (errors.__doc__ or ""), cls.__name__


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda c: c.__name__)
def test_errors_are_frozen_after_construction(cls: type[ChatbotError]) -> None:
    exc = example(cls)
    assert str(exc) == exc.message and exc.args == (exc.message,)
    # status/type/exit_code belong to the class (a relayed status only to RequestRejected).
    assert (exc.type, exc.exit_code) == (cls.type, cls.exit_code)
    assert exc.status == (422 if cls is RequestRejected else cls.status)
    assert 400 <= exc.status < 600 and exc.exit_code in (1, 2, 3, 4, 5, 6)
    for name in ("message", "status", "type", "code", "exit_code", "param", "retry_after", "item"):
        with pytest.raises(AttributeError, match="frozen"):
            setattr(exc, name, "changed")
        with pytest.raises(AttributeError, match="frozen"):
            delattr(exc, name)
    assert str(exc) == exc.message
    # Python's own bookkeeping still works on a frozen error.
    try:
        raise exc from ValueError("cause")
    except ChatbotError as caught:
        caught.add_note("a note")
        assert caught.__cause__ is not None and caught.__notes__ == ["a note"]
    for twin in (copy.copy(exc), pickle.loads(pickle.dumps(exc))):
        assert type(twin) is cls and str(twin) == twin.message == exc.message
        assert (twin.status, twin.code, twin.param) == (exc.status, exc.code, exc.param)
        with pytest.raises(AttributeError, match="frozen"):
            twin.message = "changed"


def test_a_relayed_code_is_taken_at_construction() -> None:
    exc = InvalidRequest("bad", code="invalid_value")
    assert exc.code == "invalid_value" and InvalidRequest.code == "invalid_request"
    assert InvalidRequest("bad").code == "invalid_request"
    with pytest.raises(ValueError, match="4xx"):
        RequestRejected("no", status=500)


def test_from_envelope_keeps_statuses_without_a_class() -> None:
    exc = from_envelope(422, error_envelope("bad temperature", "invalid_request_error", "t", "x"))
    assert type(exc) is RequestRejected and exc.status == 422
    assert (exc.message, exc.param, exc.code) == ("bad temperature", "t", "x")
    busy = from_envelope(503, error_envelope("busy", "server_error"), retry_after=4)
    assert type(busy) is Overloaded and busy.retry_after == 4
    db = DatabaseUnavailable("db down", retry_after=2)
    back = from_envelope(db.status, db.envelope(), retry_after=2)
    assert type(back) is DatabaseUnavailable and back.retry_after == 2
    assert type(from_envelope(500, {"error": {"message": "boom"}})) is ChatbotError


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (error_envelope("m", "t", "p", "c"), ErrorFields("m", "t", "c", "p")),
        ({"error": "model requires more memory"}, ErrorFields("model requires more memory")),
        ({"detail": "Not Found"}, ErrorFields("Not Found")),
        ({"error": {"message": "m", "code": 400}}, ErrorFields("m")),  # vLLM's numeric code
        ("not json", ErrorFields("")),
        (None, ErrorFields("")),
    ],
)
def test_parse_envelope_shapes(body: Any, fields: ErrorFields) -> None:
    assert parse_envelope(body) == fields


def test_graphql_errors() -> None:
    missing = from_graphql_errors(
        [{"message": "Todo 9 not found.", "extensions": {"code": "NOT_FOUND"}}], "x"
    )
    assert type(missing) is GraphQLNotFound and missing.exit_code == 5
    assert missing.code == "NOT_FOUND" and missing.message == "Todo 9 not found."
    other = from_graphql_errors([{"message": "Oops.", "extensions": {"code": "INTERNAL"}}], "x")
    assert type(other) is GraphQLError and other.exit_code == 1 and other.code == "INTERNAL"
    assert from_graphql_errors(["junk"], "HTTP 400").message == "HTTP 400"
    for code in ("BAD_USER_INPUT", "QUERY_TOO_LARGE"):
        refused = from_graphql_errors(
            [{"message": "Line 3 is bad.", "extensions": {"code": code, "item": 2}}], "x"
        )
        assert type(refused) is GraphQLBadInput and refused.exit_code == 2
        assert (refused.code, refused.item) == (code, 2)
    odd = from_graphql_errors([{"message": "m", "extensions": {"code": 7, "item": "2"}}], "x")
    assert type(odd) is GraphQLError and (odd.code, odd.item) == (None, None)


def _sets_attributes_after_super_init(init: ast.FunctionDef) -> list[int]:
    """Lines of `self.x = ...` that come after the `super().__init__(...)` call."""
    called = False
    late: list[int] = []
    for stmt in init.body:
        for node in ast.walk(stmt):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "__init__"
            ):
                called = True
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        if called and not isinstance(stmt, ast.Expr):
            for target in targets:
                if isinstance(target, ast.Attribute) and getattr(target.value, "id", "") == "self":
                    late.append(stmt.lineno)
    return late


def test_errors_outside_the_tree_set_their_attributes_before_they_freeze() -> None:
    """A ChatbotError subclass elsewhere (an import's refused line, ...) must set its own
    attributes before `super().__init__`, which freezes it; after, the constructor raises."""
    names = {cls.__name__ for cls in every_error_class()}
    package = Path(errors.__file__).parent
    late: list[str] = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(
                getattr(base, "id", getattr(base, "attr", "")) in names for base in node.bases
            ):
                continue
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    late += [f"{path.name}:{n}" for n in _sets_attributes_after_super_init(item)]
    assert not late, late
