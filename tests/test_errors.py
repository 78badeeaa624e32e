from __future__ import annotations

from chatbot_cli.errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    from_envelope,
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
    ):
        back = from_envelope(exc.status, exc.envelope())
        assert type(back) is type(exc)
        assert back.message == exc.message


def test_from_garbage_body() -> None:
    exc = from_envelope(418, "nope")
    assert isinstance(exc, InvalidRequest)
    assert "418" in exc.message
