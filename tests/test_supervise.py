"""scripts/supervise.py keeps the Celery worker running: a failed command is started again, a
clean exit or a SIGTERM ends the supervision (passed on to the command)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPERVISE = [sys.executable, str(ROOT / "scripts" / "supervise.py"), "--max-delay", "0.2", "--"]


def test_a_failing_command_is_started_again_until_it_succeeds(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    # Fails twice (exit code 3, then killed by SIGKILL), succeeds the third time.
    script = (
        "import os, pathlib, signal, sys\n"
        f"p = pathlib.Path({str(runs)!r})\n"
        "n = len(p.read_text()) if p.exists() else 0\n"
        "p.write_text('x' * (n + 1))\n"
        "if n == 0: sys.exit(3)\n"
        "if n == 1: os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [*SUPERVISE, sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert runs.read_text() == "xxx"
    lines = [line for line in done.stderr.splitlines() if "supervise:" in line]
    assert "exited with code 3" in lines[0] and "restart 1 in 0.2 s" in lines[0]
    assert "was killed by signal 9" in lines[1] and "restart 2 in 0.2 s" in lines[1]
    assert "exited with code 0" in lines[2] and "not restarting" in lines[2]
    assert len(lines) == 3


def test_sigterm_is_passed_on_and_ends_the_supervision(tmp_path: Path) -> None:
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    script = (
        "import pathlib, signal, sys, time\n"
        "def stop(signum, frame):\n"
        f"    pathlib.Path({str(stopped)!r}).write_text(str(signum))\n"
        "    sys.exit(5)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"pathlib.Path({str(ready)!r}).write_text('up')\n"
        "time.sleep(60)\n"
    )
    supervisor = subprocess.Popen(
        [*SUPERVISE, sys.executable, "-c", script], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert time.monotonic() < deadline, "the command did not start"
            time.sleep(0.05)
        supervisor.send_signal(signal.SIGTERM)
        code = supervisor.wait(timeout=20)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    assert stopped.read_text() == str(int(signal.SIGTERM))  # the command got the SIGTERM
    assert code == 5  # its own exit code, and no restart
    assert supervisor.stderr is not None
    assert "restart" not in supervisor.stderr.read()
