"""tests/watchdog.py ends a run that a thread wedged in native code holds, with the stacks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What an xllamacpp server dropped at the wrong moment did: a thread waits forever in C while
# holding the GIL, so neither pytest-timeout's signal handler nor its timer thread can run.
WEDGED = textwrap.dedent(
    """
    import ctypes, threading, time
    import pytest

    def wedge():
        mutex = ctypes.create_string_buffer(64)  # zeroed: an unlocked default pthread mutex
        ctypes.CDLL(None).pthread_mutex_lock(mutex)
        locker = ctypes.PyDLL(None).pthread_mutex_lock  # a PyDLL call keeps the GIL
        threading.Thread(target=locker, args=(mutex,), daemon=True).start()
        time.sleep(60)

    @pytest.fixture
    def wedged_teardown():
        yield
        wedge()

    @pytest.mark.timeout(2)
    def test_wedged():
        wedge()

    @pytest.mark.timeout(2)
    def test_failed_then_wedged(wedged_teardown):
        assert False
    """
)


@pytest.mark.parametrize(
    ("test", "frame"),
    [("test_wedged", "in test_wedged"), ("test_failed_then_wedged", "in wedged_teardown")],
)
def test_a_wedged_test_ends_the_run_with_every_stack(tmp_path: Path, test: str, frame: str) -> None:
    (tmp_path / "test_wedged.py").write_text(WEDGED)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.watchdog"]
        + [f"{tmp_path / 'test_wedged.py'}::{test}"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # 1.5 times the test's own limit, not the sleep's end: the process was cut short.
    assert time.monotonic() - started < 50
    assert "Timeout (0:00:03)!" in proc.stderr
    assert frame in proc.stderr
    assert "passed" not in proc.stdout and "failed" not in proc.stdout  # the run ended there
