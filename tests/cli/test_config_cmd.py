from __future__ import annotations

import json
import os
import stat

from typer.testing import CliRunner

from chatbot_cli.cli.app import app
from chatbot_cli.config import config_path, read_config_file

runner = CliRunner()


def test_path_honours_env() -> None:
    result = runner.invoke(app, ["config", "path"])
    assert result.exit_code == 0
    assert result.stdout.strip() == str(config_path())


def test_set_then_show_redacts_secret() -> None:
    result = runner.invoke(app, ["config", "set", "api_key", "sk-very-secret"])
    assert result.exit_code == 0, result.stderr
    assert "sk-very-secret" not in result.stdout
    assert stat.S_IMODE(os.stat(config_path()).st_mode) == 0o600
    result = runner.invoke(app, ["config", "set", "port", "8123"])
    assert read_config_file()["port"] == 8123
    shown = runner.invoke(app, ["config", "show", "--json"])
    data = json.loads(shown.stdout)
    assert data["api_key"] == "********" and data["port"] == 8123
    assert "sk-very-secret" not in shown.stdout


def test_set_rejects_unknown_and_invalid() -> None:
    bad = runner.invoke(app, ["config", "set", "nope", "1"])
    assert bad.exit_code == 2
    assert "Unknown setting 'nope'" in bad.stderr and bad.stdout == ""
    bad = runner.invoke(app, ["config", "set", "port", "notaport"])
    assert bad.exit_code == 2 and "Invalid value for 'port'" in bad.stderr
    assert not config_path().exists()  # nothing half-written


def test_unset() -> None:
    runner.invoke(app, ["config", "set", "url", "http://h:1"])
    assert runner.invoke(app, ["config", "unset", "url"]).exit_code == 0
    assert "url" not in read_config_file()
    assert runner.invoke(app, ["config", "unset", "url"]).exit_code == 1


def test_global_url_flag_wins(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CHATBOT_URL", "http://env:1")
    result = runner.invoke(app, ["--url", "http://flag:2", "config", "show", "--json"])
    assert json.loads(result.stdout)["url"] == "http://flag:2"


BROKEN = "port = 8123\nthis is = not toml [\n"


def test_a_broken_file_is_one_line_naming_it_and_never_overwritten() -> None:
    config_path().write_text(BROKEN)
    where = f"{config_path()}:2:6: invalid TOML"
    for args in (["config", "show"], ["config", "set", "port", "9"], ["config", "unset", "port"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(f"Error: {where}") and result.stderr.count("\n") == 1
        assert "remove the file" in result.stderr
    assert config_path().read_text() == BROKEN  # set/unset did not replace what they could not read
    result = runner.invoke(app, ["config", "path"])
    assert result.exit_code == 0 and result.stdout.strip() == str(config_path())
