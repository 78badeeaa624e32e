"""What `chatbot models` asks the running server: which models it has in memory (`/api/ps`).

`list` and `rm` read the local store whether or not a server runs; this module adds what only a
server knows. A server that is not running is no error here: nothing is loaded then.
"""

from __future__ import annotations

from typing import Any

from chatbot_cli.cli.common import client_config, make_client

# `list` and `rm` must not hang on a server that does not answer: a short deadline, no retries.
PROBE_TIMEOUT = 3.0


class ServerState:
    """The server's `/api/ps` answer, or why there is none (`problem`; None: not running)."""

    def __init__(self, url: str, report: dict[str, Any] | None, problem: str | None) -> None:
        self.url = url
        self.report = report
        self.problem = problem

    @property
    def loaded(self) -> dict[str, dict[str, Any]]:
        rows = self.report.get("data", []) if self.report else []
        return {str(r.get("id")): r for r in rows if isinstance(r, dict)}


def probe() -> ServerState:
    from chatbot_cli.client import Client
    from chatbot_cli.errors import ChatbotError, NotFound, Unreachable

    fast = client_config()
    client = (
        Client(fast["url"], fast["api_key"] or None, timeout=PROBE_TIMEOUT, max_retries=0)
        if fast is not None
        else make_client()
    )
    try:
        return ServerState(client.url, client.running_models(), None)
    except (Unreachable, NotFound):
        # No server, or one too old to say: either way it cannot be using a model of ours.
        return ServerState(client.url, None, None)
    except ChatbotError as exc:
        return ServerState(client.url, None, exc.message)
