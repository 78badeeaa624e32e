"""Session fixtures for the Prisma tests: one npm install (cached across runs, nodeenv.py) and one
generated client per database kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.prisma.nodeenv import NodePackages, install, require_node, write_engine_stub


@pytest.fixture(scope="session")
def node_packages(tmp_path_factory: pytest.TempPathFactory) -> NodePackages:
    node = require_node()
    stub = write_engine_stub(tmp_path_factory.mktemp("prisma-engine") / "schema-engine")
    return NodePackages(node, install(node), stub)


@pytest.fixture(scope="session")
def prisma_projects(
    node_packages: NodePackages, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Generated lazily per kind: a run of only the SQLite tests generates one client."""
    return _Projects(node_packages, tmp_path_factory)


class _Projects(dict[str, Path]):
    def __init__(self, packages: NodePackages, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.packages = packages
        self.factory = factory

    def __missing__(self, provider: str) -> Path:
        project = self.packages.project(self.factory.mktemp(f"prisma-{provider}"), provider)
        self[provider] = project
        return project
