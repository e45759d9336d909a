"""Fixtures for device tests: network namespaces made and removed by the test, and
linerate-server started inside them.

Every test talks only to addresses in 198.18.0.0/15 (RFC 2544's benchmarking range)
inside a namespace it created; the namespace is deleted even when the test fails, and
every process started is bounded in time (the server gets --duration as a backstop).
"""
import contextlib
import glob
import itertools
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

SOURCE_ROOT = pathlib.Path(os.environ.get("LINERATE_SOURCE_ROOT", pathlib.Path(__file__).resolve().parents[2]))
BUILD_ROOT = pathlib.Path(os.environ.get("LINERATE_BUILD_ROOT", SOURCE_ROOT / "build"))
SERVER = BUILD_ROOT / "apps" / "linerate-server" / "linerate-server"

_ns_counter = itertools.count()


def run(*cmd, check=True, timeout=30, **kw):
    return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True, text=True, **kw)


@pytest.fixture(autouse=True)
def _need_root():
    if os.geteuid() != 0:
        pytest.fail("device tests need root (network namespaces, /dev/net/tun)")


@pytest.fixture
def netns():
    """A fresh network namespace, deleted afterwards whatever happened."""
    name = f"lrtest-{os.getpid()}-{next(_ns_counter)}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        # Anything still running inside would keep the tap alive; kill it first.
        pids = run("ip", "netns", "pids", name, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        run("ip", "netns", "del", name, check=False)
        # DPDK's runtime directories of instances given a --file-prefix named after the
        # namespace (telemetry and memif need them): nothing is left behind.
        for d in glob.glob(f"/var/run/dpdk/{name}*"):
            shutil.rmtree(d, ignore_errors=True)


class Server:
    """linerate-server running inside a namespace, with its output in files."""

    def __init__(self, ns, config, extra=(), duration=60, eal=()):
        self.dir = tempfile.TemporaryDirectory(prefix="linerate-test-")
        self.out_path = pathlib.Path(self.dir.name) / "stdout"
        self.err_path = pathlib.Path(self.dir.name) / "stderr"
        self._out = open(self.out_path, "w")
        self._err = open(self.err_path, "w")
        # `ip netns exec` execs the program, so the PID we hold is the server's own.
        cmd = ["ip", "netns", "exec", ns, str(SERVER), *eal, "--", "--config", str(config),
               "--duration", str(duration), *extra]
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
                                     cwd=SOURCE_ROOT)

    def stdout(self):
        return self.out_path.read_text()

    def stderr(self):
        return self.err_path.read_text()

    def wait_running(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "running;" in self.stderr():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.stderr()}")
            time.sleep(0.1)
        raise AssertionError(f"server not running after {timeout} s:\n{self.stderr()}")

    def mac(self):
        m = re.search(r"mac ([0-9a-f:]{17})", self.stderr())
        assert m, self.stderr()
        return m.group(1)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        self._err.close()

    def counters(self):
        """The counters printed at exit, as {name: value}."""
        text = self.stdout()
        assert "counters:" in text, text
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\S+)\s+(\d+)$", text, re.M)}


@pytest.fixture
def server_in():
    started = []

    def start(ns, config, **kw):
        s = Server(ns, config, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()
        s.dir.cleanup()
