"""Debian's chromium for Playwright: where it is, how to start it, how to install it.

Playwright's own browser download cannot be used on these machines; the OS package can.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the sandbox cannot start as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def install_chromium() -> str | None:
    """Make sure /usr/bin/chromium exists; return why it cannot, or None."""
    if CHROMIUM.exists():
        return None
    if not shutil.which("apt-get"):
        return f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium"
    if os.geteuid() != 0:
        return f"{CHROMIUM} is missing; install it as root: apt-get install -y chromium"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        # Stale package lists are the usual cause: refresh them once and try again.
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not CHROMIUM.exists():
        return f"apt-get install chromium failed: {done.stderr.strip()[-500:]}"
    return None
