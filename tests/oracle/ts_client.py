"""Talks to ts_oracle.mjs (the official TypeScript SDKs) over JSON lines."""

from __future__ import annotations

import json
import pathlib
import select
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
TIMEOUT_SECONDS = 60


class TsOracle:
    def __init__(self) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close(), lives with the process)
        self.proc = subprocess.Popen(
            ["node", str(HERE / "ts_oracle.mjs")],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.next_id = 0

    def call(self, op: str, **args):
        self.next_id += 1
        self.proc.stdin.write(json.dumps({"id": self.next_id, "op": op, **args}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT_SECONDS)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.stderr.seek(0)
            raise RuntimeError(
                f"ts oracle gave no answer to {op} within {TIMEOUT_SECONDS} s "
                f"(exit code {self.proc.poll()}): {self.stderr.read()[-2000:]}"
            )
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"ts oracle {op}: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
