"""mbuf exhaustion (issue 14): with every mbuf of the pool taken, the stack neither
crashes nor stalls, and counts what it drops; once the mbufs come back, ARP and ICMP
are answered again and TCP carries its full load, without a restart.

tests/device/mbuf_hog.cpp is an echo server on the public API over net_tap whose
control thread takes every free mbuf of the process's pools when told to, holds them,
and gives them back. The kernel in the namespace the test creates is its peer.
"""
import json
import pathlib
import re
import subprocess
import tempfile
import time

from conftest import BUILD_ROOT, SOURCE_ROOT, run

HOG = BUILD_ROOT / "tests" / "device" / "mbuf_hog"
ECHO_CLIENT = pathlib.Path(__file__).resolve().parent / "echo_client.py"
STACK = "198.18.0.2"
KERNEL_ADDR = "198.18.0.1"


def wait_file(path, timeout=20):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never came"
        time.sleep(0.05)
    return path.read_text().strip()


def ping(ns, count, wait_s=1):
    r = run("ip", "netns", "exec", ns, "ping", "-c", str(count), "-W", str(wait_s), "-i", "0.2", STACK, check=False,
            timeout=60)
    m = re.search(r"(\d+) received", r.stdout)
    return int(m.group(1)) if m else 0


def echo(ns, connections, size):
    r = run("ip", "netns", "exec", ns, "/usr/bin/python3", str(ECHO_CLIENT), STACK, "7", str(connections), str(size),
            "--timeout", "30", check=False, timeout=120)
    return json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}


def test_a_starved_pool_drops_and_counts_and_the_stack_recovers_when_mbufs_return(netns):
    with tempfile.TemporaryDirectory(prefix="linerate-hog-") as d:
        tmp = pathlib.Path(d)
        control = tmp / "control"
        control.mkdir()
        text = (SOURCE_ROOT / "drivers-config" / "net_tap.toml").read_text()
        text, n = re.subn(r"(?m)^lcores\s*=.*$", "lcores = [1]", text)
        assert n == 1
        # No per-lcore cache: every mbuf the lcore frees goes back to the pool, where the
        # hog can take it (a cache would keep a few hundred circulating out of its reach).
        text, n = re.subn(r"(?m)^cache\s*=.*$", "cache = 0", text)
        assert n == 1
        (tmp / "hog.toml").write_text(text)
        out = open(tmp / "out", "w")
        hog = subprocess.Popen(["ip", "netns", "exec", netns, str(HOG), "--file-prefix", f"{netns}-hog", "--",
                                str(tmp / "hog.toml"), "7", str(control)],
                               stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while "echoing on port" not in (tmp / "out").read_text():
                assert hog.poll() is None, (tmp / "out").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            run("ip", "-n", netns, "addr", "add", KERNEL_ADDR + "/24", "dev", "lr0")
            run("ip", "-n", netns, "link", "set", "lr0", "up")
            assert ping(netns, 3) > 0, "no echo reply before the pool was touched"
            assert echo(netns, 20, 4096).get("ok") == 20

            # Every mbuf taken: receiving needs one per frame, so nothing gets through.
            (control / "hold").touch()
            held = int(wait_file(control / "held"))
            assert held > 0
            # The kernel forgets the stack's MAC: only a fresh ARP exchange brings it back.
            run("ip", "-n", netns, "neigh", "flush", "dev", "lr0")
            assert ping(netns, 5) == 0, "answered with every mbuf held"
            starved = echo(netns, 5, 1024)
            assert starved.get("ok", 0) < 5
            assert hog.poll() is None, "the server died while starved:\n" + (tmp / "out").read_text()

            # The mbufs come back: ARP, ICMP and TCP work again in the same process.
            (control / "release").touch()
            wait_file(control / "released")
            deadline = time.monotonic() + 20
            while ping(netns, 1) == 0:
                assert time.monotonic() < deadline, "no echo reply after the mbufs came back"
            result = echo(netns, 200, 16384)
            assert result.get("ok") == 200, result
            (control / "stop").touch()
            assert hog.wait(timeout=60) == 0, (tmp / "out").read_text()
        finally:
            if hog.poll() is None:
                hog.kill()
                hog.wait()
            out.close()
        text = (control / "starved_counters").read_text()
        counters = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\S+) (\d+)$", text, re.M)}
        final = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\S+) (\d+)$", (tmp / "out").read_text(), re.M)}
        # What the starved device could not receive is counted: the device's own count
        # (no mbuf to receive into), or the stack's when a frame got in and its answer
        # found no mbuf.
        starved_drops = counters.get("PortRxNoMbuf", 0) + counters.get("PortRxMissed", 0) + \
            counters.get("tx_no_mbuf", 0) + counters.get("send_no_mbuf", 0)
        assert starved_drops > 0, text
        assert final.get("PassiveOpens", 0) >= 220, final
