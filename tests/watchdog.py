"""A last-resort watchdog: a test still running well past its pytest-timeout limit has all its
threads' stacks dumped and ends the whole run.

pytest-timeout cannot stop a process whose GIL is held by a thread wedged in native code (its
signal method's handler and its thread method's timer both need the GIL), and such a run hangs
until the CI job is killed, with nothing in the log. faulthandler's watchdog is a C thread that
needs no GIL: when a test's setup, call or teardown runs 1.5 times the test's timeout, it
writes every thread's stack, the test's frame among them, to the terminal and exits with
status 1.

Off when the test has no timeout, or when faulthandler_timeout is set (pytest then arms the
same single watchdog itself).
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Generator

import pytest

FACTOR = 1.5
_FD = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    # The terminal's stderr, kept before output capture redirects fd 2 during tests.
    config.stash[_FD] = os.dup(2)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _FD in config.stash:
        os.close(config.stash[_FD])
        del config.stash[_FD]


def item_timeout(item: pytest.Item) -> float:
    """The limit pytest-timeout applies to this test: its marker, else --timeout, else the ini."""
    marker = item.get_closest_marker("timeout")
    if marker is not None:
        value = marker.args[0] if marker.args else marker.kwargs.get("timeout")
    else:
        value = item.config.getoption("timeout", None)
        if value is None:
            value = item.config.getini("timeout")
    return float(value or 0)


def _guarded(item: pytest.Item) -> Generator[None, object, object]:
    timeout = item_timeout(item)
    if timeout <= 0 or float(item.config.getini("faulthandler_timeout") or 0) > 0:
        return (yield)
    faulthandler.dump_traceback_later(timeout * FACTOR, exit=True, file=item.config.stash[_FD])
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


# Armed per phase: pytest's faulthandler plugin cancels the watchdog whenever a phase fails
# (pytest_exception_interact), and a failed test's teardown must stay guarded too.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _guarded(item))
