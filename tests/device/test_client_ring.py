"""linerate talking to itself in one process: drivers-config/net_ring.toml is a net_ring
loopback (every frame sent comes back on the same port), and linerate-client --serve
runs the server's respond mode on the same stack. Client and server connections of the
same flow live in one shard, each under its own 4-tuple, and frames to one of the
stack's own addresses go to its own MAC without ARP.

No interface and no namespace are involved: the ring is memory inside the process.
"""
import json
import pathlib
import subprocess
import tempfile

from conftest import BUILD_ROOT, SOURCE_ROOT

CLIENT = BUILD_ROOT / "apps" / "linerate-client" / "linerate-client"


def test_loopback_client_and_server_in_one_process():
    with tempfile.TemporaryDirectory(prefix="linerate-ring-") as d:
        summary = pathlib.Path(d) / "client.json"
        p = subprocess.run(
            [str(CLIENT), "--", "--config", str(SOURCE_ROOT / "drivers-config" / "net_ring.toml"), "--serve", "80",
             "--target", "198.18.2.2:80", "--source-ips", "198.18.2.10-198.18.2.250", "--rate", "0",
             "--concurrency", "64", "--connections", "20000", "--json", str(summary)],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stdout + p.stderr
        c = json.loads(summary.read_text())
    # A count, not a duration: a slower machine takes longer for the same work.
    assert c["failed"] == 0 and c["completed"] == c["opened"] == 20000, c["errors"]
    t = c["totals"]
    # Both ends were this process: every active open was a passive open too, and the
    # server (respond mode) closed first, so every connection left one TIME-WAIT.
    assert t["PassiveOpens"] == t["ActiveOpens"] == c["opened"]
    assert t["TW"] == c["opened"]
    assert t["ArpOutRequests"] == 0  # its own MAC, without asking
    assert t["RetransSegs"] == 0 and t["OutRsts"] == 0
    # Every device call that moved frames is counted once: at least one frame each, at
    # most a burst's worth (32) on receive.
    assert 0 < t["RxBursts"] <= t["RxFrames"] <= 32 * t["RxBursts"]
    assert 0 < t["TxBursts"] <= t["TxFrames"]
    # A reply goes out in the mbuf of the segment it answers: of a connection's six
    # segments (1-byte request and response), only the SYN needs a new one.
    assert t["TxReusedMbufs"] >= 4 * c["opened"]
    assert t["TxReusedMbufs"] <= t["TxFrames"]
