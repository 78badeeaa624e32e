"""The Node side of the Prisma tests: the pinned packages (node/package.json and its lock file)
installed once into a cache outside the repository, and Prisma Clients generated from
prisma/schema.prisma.

The cache is keyed by the lock file, the package.json and the Node version (better-sqlite3 is a
native module built for one Node ABI), so changing a pin or Node installs afresh; a fresh machine
installs by itself. Nothing is fetched but the packages, from the registry npm is configured with:
better-sqlite3 is compiled against the headers of the installed Node (no prebuilt download), and
the Prisma CLI's native schema engine is replaced by a stub (generation does not use it; see
prisma/README.md for what does).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "prisma" / "schema.prisma"
PACKAGE_DIR = Path(__file__).with_name("node")
PINNED = ("package.json", "package-lock.json")

# The SQLite copy of the schema, exactly as prisma/README.md tells SQLite users to make it:
# SQLite has no native types and no names for primary and foreign keys.
SQLITE_SED = (
    r"""sed -E -e 's/provider = "postgresql"/provider = "sqlite"/' """
    r"""-e 's/ @db\.[A-Za-z]+(\([0-9, ]*\))?//g' """
    r"""-e 's/@id\(map: "[^"]*"\)/@id/' """
    r"""-e 's/(@@id\(\[[^]]*\]), map: "[^"]*"\)/\1)/' """
    r"""-e 's/(@relation\([^)]*), map: "[^"]*"/\1/'"""
)

PRISMA_CONFIG = """\
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  datasource: { url: process.env.DATABASE_URL ?? "" },
});
"""

# Generation never calls the schema engine; anything that does (migrate, db push) must fail.
ENGINE_STUB = "#!/bin/sh\necho 'no schema engine here: migrations belong to Alembic' >&2\nexit 1\n"


def write_engine_stub(path: Path) -> Path:
    path.write_text(ENGINE_STUB)
    path.chmod(0o755)
    return path


def require_node() -> str:
    """The `node` executable; skipped without it, and a failure under CI=true."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node and npm:
        return node
    reason = "node and npm are needed for the Prisma tests (Debian: nodejs, npm)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: these tests must run)")
    pytest.skip(reason)


def _node_version(node: str) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout


def cache_root() -> Path:
    configured = os.environ.get("CHATBOT_TEST_NODE_CACHE")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("chatbot-tests")) / "node"


def _key(node: str) -> str:
    digest = hashlib.sha256(_node_version(node).encode())
    for name in PINNED:
        digest.update((PACKAGE_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def _headers_dir(node: str) -> str:
    """The prefix holding include/node/node.h, so node-gyp builds without downloading headers."""
    prefix = Path(node).resolve().parent.parent
    if not (prefix / "include" / "node" / "node.h").is_file():
        pytest.fail(
            f"Node headers not found under {prefix / 'include' / 'node'} "
            "(Debian: libnode-dev); better-sqlite3 must be compiled against them"
        )
    return str(prefix)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> None:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )


def install(node: str) -> Path:
    """The installed package folder for the current pins, installing it first if needed."""
    root = cache_root()
    target = root / _key(node)
    with _locked(root / f"{target.name}.lock"):
        if (target / ".complete").is_file():
            return target
        work = root / f"{target.name}.partial"
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        work.mkdir(parents=True)
        for name in PINNED:
            shutil.copy2(PACKAGE_DIR / name, work / name)
        env = {
            **os.environ,
            "npm_config_nodedir": _headers_dir(node),
            "npm_config_build_from_source": "true",
            "npm_config_audit": "false",
            "npm_config_fund": "false",
            "npm_config_update_notifier": "false",
        }
        # Install scripts stay off (Prisma's engines postinstall would download binaries); only
        # better-sqlite3's native build runs, explicitly.
        _run(["npm", "ci", "--ignore-scripts"], work, env, timeout=1500)
        _run(["npm", "rebuild", "better-sqlite3"], work, env, timeout=1500)
        if not (work / "node_modules/better-sqlite3/build/Release/better_sqlite3.node").is_file():
            pytest.fail("better-sqlite3's native module was not built")
        (work / ".complete").write_text(_node_version(node))
        work.rename(target)
        return target


@dataclass(frozen=True)
class NodePackages:
    node: str
    root: Path
    engine_stub: Path

    @property
    def env(self) -> dict[str, str]:
        """Environment for the Prisma CLI and programs: no network calls of its own."""
        return {
            **os.environ,
            "PRISMA_SCHEMA_ENGINE_BINARY": str(self.engine_stub),
            "PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING": "1",
            "CHECKPOINT_DISABLE": "1",
            "PRISMA_HIDE_UPDATE_MESSAGE": "1",
            "NO_COLOR": "1",
        }

    def run(
        self, script: str, *args: str, cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`node <script> args...` with the cached packages; fails the test on a non-zero exit."""
        result = subprocess.run(
            [self.node, script, *args],
            cwd=cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{script} {args}: {result.stdout}\n{result.stderr}"
        return result

    def dmmf(self, schema: Path) -> dict[str, object]:
        """The schema's DMMF as Prisma's own parser (prisma-schema-wasm) produces it."""
        out = self.run(str(PACKAGE_DIR / "dmmf.mjs"), str(schema), cwd=self.root)
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def project(self, where: Path, provider: str) -> Path:
        """A TypeScript project at `where` with a client generated from prisma/schema.prisma
        (its SQLite copy when provider is "sqlite") and the interop program."""
        (where / "prisma").mkdir(parents=True)
        (where / "package.json").write_text('{"private": true, "type": "module"}\n')
        (where / "node_modules").symlink_to(self.root / "node_modules")
        (where / "prisma.config.ts").write_text(PRISMA_CONFIG)
        schema = where / "prisma" / "schema.prisma"
        if provider == "sqlite":
            with SCHEMA.open() as src, schema.open("w") as dst:
                subprocess.run(["sh", "-c", SQLITE_SED], stdin=src, stdout=dst, check=True)
        else:
            shutil.copy2(SCHEMA, schema)
        shutil.copy2(PACKAGE_DIR / "todos.mts", where / "todos.mts")
        self.run(str(self.root / "node_modules/prisma/build/index.js"), "generate", cwd=where)
        return where

    def tsx(self, project: Path, *args: str, env: dict[str, str]) -> object:
        """Run the project's todos.mts and return the JSON it prints."""
        tsx = str(self.root / "node_modules/tsx/dist/cli.mjs")
        out = self.run(tsx, "todos.mts", *args, cwd=project, env=env)
        return json.loads(out.stdout)
