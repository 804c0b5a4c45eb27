"""Keep a long-running command running: start it again when it fails.

    python scripts/supervise.py [--max-delay 30] -- celery -A itb worker --loglevel=INFO

The Celery worker runs under it everywhere (Procfile, Procfile.dev, docker-compose.yml): a
worker that dies (the Redis transport can raise an unrecoverable error when the broker goes
away with a task unacknowledged; out of memory; a bug) is back within seconds, and the alert
outbox then delivers what it had in hand (alerts.outbox: lease and re-enqueue). An alert is
delayed, never dropped.

- The command is started again when it exits with a non-zero code or is killed by a signal,
  after 1 s, doubling up to ``--max-delay`` while it keeps failing within a minute of starting.
  A command that exits with code 0 (asked to shut down) is not started again.
- SIGTERM and SIGHUP are passed to the command and end the supervision once it exits (a warm
  shutdown for the worker). SIGINT (Ctrl-C in a terminal, which the command receives as well)
  ends the supervision without being passed on twice.
- Every restart is logged on standard error: ``supervise: ... exited with code 1 ...``.

Standard library only: it must start even when the application cannot.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from types import FrameType

HEALTHY_AFTER_SECONDS = 60.0


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    print(f"[{stamp} UTC] supervise: {message}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(self, command: list[str], *, max_delay: float) -> None:
        self.command = command
        self.max_delay = max_delay
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.restarts = 0
        # The command as the log names it: its first words, on one line.
        self.name = " ".join(" ".join(command[:4]).split())[:80]

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        child = self.child
        if signum != signal.SIGINT and child is not None and child.poll() is None:
            child.send_signal(signum)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, self.on_signal)
        delay = first_delay = min(1.0, self.max_delay)
        while True:
            started = time.monotonic()
            self.child = subprocess.Popen(self.command)  # noqa: S603 - the command we were given
            code = self.child.wait()
            ran = time.monotonic() - started
            if self.stopping:
                return code
            if code == 0:
                log(f"{self.name} exited with code 0 after {ran:.0f} s; not restarting")
                return 0
            if ran >= HEALTHY_AFTER_SECONDS:
                delay = first_delay
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            self.restarts += 1
            log(f"{self.name} {how} after {ran:.0f} s; restart {self.restarts} in {delay:g} s")
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:
                if self.stopping:
                    return code
                time.sleep(0.1)
            delay = min(delay * 2, self.max_delay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--max-delay", type=float, default=30.0, help="longest wait between restarts (seconds)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    return Supervisor(command, max_delay=args.max_delay).run()


if __name__ == "__main__":
    sys.exit(main())
