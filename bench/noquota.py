"""`python -m bench.noquota serve ...`: `chatbot serve` with issue 17's accounting and limit
checks taken out (no admission, no usage sink). Only figure 10 starts it, as the baseline that
the same code with them is compared against in the same run."""

from __future__ import annotations

from typing import Any

from chatbot_cli.server import quota, serving


class _NoSink:
    def start(self) -> _NoSink:
        return self

    def add(self, *_: Any) -> None:
        pass

    def close(self, timeout: float = 0.0) -> None:
        pass


async def _admit(_quota: Any, _request: Any, model: str, n: int) -> quota.Ticket:
    return quota.Ticket(None, "default", model, quota.NO_LIMITS, n)


def main() -> None:
    serving.admit_request = _admit  # type: ignore[assignment]
    quota.UsageSink = lambda _database: _NoSink()  # type: ignore[assignment,misc,return-value]
    from chatbot_cli.cli.entry import main as chatbot

    chatbot()


if __name__ == "__main__":
    main()
