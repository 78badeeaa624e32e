from __future__ import annotations

import pytest

from chatbot_cli.client import _needs_tls


def test_tls_context_only_when_it_can_be_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert _needs_tls("https://chat.example") is True
    assert _needs_tls("http://127.0.0.1:8000") is False
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.example:3128")
    assert _needs_tls("http://127.0.0.1:8000") is True


def test_httpx_cli_skip_leaves_httpx_working() -> None:
    import subprocess
    import sys

    code = (
        "from chatbot_cli._fastimport import skip_httpx_cli; skip_httpx_cli();"
        "import sys, httpx; assert 'rich' not in sys.modules and 'click' not in sys.modules;"
        "assert httpx.Client().timeout is not None; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
