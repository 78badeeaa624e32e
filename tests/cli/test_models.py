"""`chatbot models list`: read from disk with the current settings, no engine, no server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from chatbot_cli.cli import models

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """`list` and `rm` ask the configured server what it has loaded: point them at a port
    where nothing listens, whatever else runs on this machine."""
    from tests.live import free_port

    monkeypatch.setenv("CHATBOT_URL", f"http://127.0.0.1:{free_port()}")


def invoke(*args: str) -> tuple[int, str, str]:
    # A minimal root around the sub-app, as cli/app.py mounts it.
    root = typer.Typer()
    root.add_typer(models.app, name="models")

    @root.callback()
    def _root() -> None:
        pass

    result = runner.invoke(root, ["models", *args])
    return result.exit_code, result.stdout, result.stderr


def weights(path: Path) -> int:
    """The gguf package's own count of a file's weights (its reader parses the whole file)."""
    import gguf

    return sum(int(t.n_elements) for t in gguf.GGUFReader(path).tensors)


def test_list_json_describes_the_configured_model(tiny_model: Path) -> None:
    code, out, _ = invoke("list", "--json", "--model", str(tiny_model))
    assert code == 0
    assert json.loads(out) == [
        {
            "id": "tiny",
            "path": str(tiny_model.resolve()),
            "size_bytes": tiny_model.stat().st_size,
            "quantisation": None,
            "parameters": weights(tiny_model),
            # The model's own (its GGUF's llama.context_length), not what a slot gets here.
            "context_length": 2048,
            "served_context_length": 1024,  # what a conversation gets at the default n_ctx
            "tools": False,  # its chat template does not read `tools`
            "engine": "llamacpp",
            "loaded": None,  # no server runs
        }
    ]


def test_list_reads_the_model_from_the_environment(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_MODEL", str(tiny_model))
    monkeypatch.setenv("CHATBOT_PARALLEL", "8")  # a slot gets less: the column does not change
    code, out, _ = invoke("list")
    assert code == 0
    assert weights(tiny_model) == 130_368
    row = ["tiny", "519.2 KB", "-", "130.4K", "2048", "no", "-", str(tiny_model.resolve()) + "\n"]
    assert out.split("\t") == row


def test_list_imports_no_engine_server_or_database(tiny_model: Path) -> None:
    script = (
        "import sys, typer\n"
        "from typer.testing import CliRunner\n"
        "from chatbot_cli.cli import models\n"
        "root = typer.Typer()\n"
        "root.add_typer(models.app, name='models')\n"
        "root.callback()(lambda: None)\n"
        f"result = CliRunner().invoke(root, ['models', 'list', '--model', {str(tiny_model)!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = ('xllamacpp', 'fastapi', 'sqlalchemy', 'chatbot_cli.engine.llamacpp',"
        " 'huggingface_hub')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=root
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_engine_none_lists_nothing() -> None:
    code, out, _ = invoke("list", "--engine", "none")
    assert code == 0 and "todos only" in out
    code, out, _ = invoke("list", "--engine", "none", "--json")
    assert code == 0 and json.loads(out) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/nonexistent/x.gguf"], "Model file not found: /nonexistent/x.gguf"),
        (["--engine", "bogus"], "Invalid setting 'engine'"),
        (["--engine", "openai"], "upstream server"),
    ],
)
def test_errors_are_one_line_and_non_zero(args: list[str], message: str) -> None:
    code, out, err = invoke("list", *args)
    assert code == 2
    assert out == ""
    assert err.startswith("Error: ") and message in err and err.count("\n") == 1


def test_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a model")
    code, _, err = invoke("list", "--model", str(bogus))
    assert code == 2 and "is not a GGUF model file" in err
