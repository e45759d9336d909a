"""linerate-server speaking TCP to the Linux kernel over net_tap.

Each test runs the server in a namespace it creates, with the stack at 198.18.0.2 and
the kernel at 198.18.0.1 on lr0, captures the run with tcpdump in the namespace and
checks the capture with tshark. The single-queue tap is run with one worker and with
two, so the software dispatch between lcores carries real traffic.
"""
import json
import pathlib
import re
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import SOURCE_ROOT, run

NET_TAP = SOURCE_ROOT / "drivers-config" / "net_tap.toml"
ECHO_CLIENT = pathlib.Path(__file__).resolve().parent / "echo_client.py"
STACK = "198.18.0.2"
KERNEL_ADDR = "198.18.0.1"
MSL_MS = 500  # TIME-WAIT lasts one second in these tests


def make_config(tmp: pathlib.Path, offloads=(), msl_ms=MSL_MS, tcp_extra=""):
    """net_tap.toml with room for 200 connections' send buffers and a short MSL."""
    text = NET_TAP.read_text()
    text = re.sub(r"(?m)^mbufs = \d+", "mbufs = 32767", text)
    text = re.sub(r"(?m)^offloads = \[\]", "offloads = [" + ", ".join(f'"{o}"' for o in offloads) + "]", text)
    text = text.replace("\n[tcp]\n", f"\n[tcp]\nmsl_ms = {msl_ms}\n{tcp_extra}", 1)
    path = tmp / "net_tap_test.toml"
    path.write_text(text)
    return path


def kernel_side_up(ns):
    run("ip", "-n", ns, "addr", "add", KERNEL_ADDR + "/24", "dev", "lr0")
    run("ip", "-n", ns, "link", "set", "lr0", "up")
    # The first SYN would otherwise wait for the kernel's ARP resolution.
    run("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", STACK, check=False)


class Capture:
    """tcpdump on lr0 inside the namespace, for the length of a test."""

    def __init__(self, ns, path):
        self.path = path
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", "lr0", "-s", "256", "--immediate-mode", "-U", "-w",
                                      str(path), "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # tcpdump says "listening on lr0" once it captures; wait for it (bounded).
        deadline = time.monotonic() + 20
        line = b""
        while time.monotonic() < deadline and b"listening on" not in line:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise AssertionError("tcpdump exited")

    def stop(self):
        # tcpdump -U writes each packet as it takes it; SIGINT loses what the kernel
        # still holds for it. The exchange is over when stop() is called, so wait until
        # the file has stopped growing (bounded), then stop it.
        deadline = time.monotonic() + 10
        last, quiet = -1, 0
        while time.monotonic() < deadline and quiet < 3:
            size = self.path.stat().st_size if self.path.exists() else 0
            quiet = quiet + 1 if size == last else 0
            last = size
            time.sleep(0.1)
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()



def tshark(path, *args):
    r = run("tshark", "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
            *args, timeout=120)
    return r.stdout


def check_capture(path, expect_data=True, closer=None):
    """No bad checksums on what the stack sent, nothing malformed, and every session
    complete: SYN, SYN-ACK, ACK, data, FIN (tcp.completeness 31) and no reset."""
    bad = tshark(path, "-Y", f"ip.src == {STACK} && (tcp.checksum.status == 0 || ip.checksum.status == 0)")
    assert bad.strip() == "", "bad checksums:\n" + bad[:2000]
    malformed = tshark(path, "-Y", "_ws.malformed || _ws.expert.severity >= error && !tcp.analysis")
    assert malformed.strip() == "", "malformed:\n" + malformed[:2000]
    rows = tshark(path, "-2", "-T", "fields", "-e", "tcp.stream", "-e", "tcp.completeness")
    completeness = {}
    for line in rows.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[1]:
            completeness[int(parts[0])] = int(parts[1])
    assert completeness, "no TCP session captured"
    want = 31 if expect_data else 23
    incomplete = {s: c for s, c in completeness.items() if c != want}
    assert not incomplete, f"sessions not complete (want {want}): {dict(list(incomplete.items())[:10])}"
    if closer:
        # Who closed first is told by the stack's FIN: it acknowledges the kernel's FIN
        # when the kernel closed first, and does not when the stack closed on its own
        # (the kernel may still send its FIN before ours arrives: then both are in
        # flight at once, a simultaneous close, which is still the stack closing first).
        fins = tshark(path, "-T", "fields", "-e", "tcp.stream", "-e", "ip.src", "-e", "tcp.seq", "-e", "tcp.ack",
                      "-Y", "tcp.flags.fin == 1")
        first = {}
        for line in fins.splitlines():
            stream, src, seq, ack = line.split("\t")
            first.setdefault((int(stream), src), (int(seq), int(ack)))
        wrong = []
        for (stream, src), (seq, ack) in first.items():
            if src != STACK:
                continue
            kernel_fin = first.get((stream, KERNEL_ADDR))
            acks_kernel_fin = kernel_fin is not None and ack == kernel_fin[0] + 1
            if acks_kernel_fin != (closer == "kernel"):
                wrong.append(stream)
        if wrong:
            dump = tshark(path, "-Y", f"tcp.stream == {wrong[0]}")
            raise AssertionError(f"{len(wrong)} sessions not closed first by the {closer}, e.g.:\n{dump}")
    return len(completeness)


def telemetry(prefix, command):
    r = run("dpdk-telemetry.py", "-f", prefix, input=command + "\n", timeout=20)
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and command in line:
            return json.loads(line)[command]
    raise AssertionError(f"no answer to {command}: {r.stdout} {r.stderr}")


def start(server_in, ns, cfg, workers, mode, extra=()):
    prefix = f"{ns}-lr"
    lcores = "0" if workers == 1 else "0,1"
    srv = server_in(ns, cfg, eal=("--file-prefix", prefix),
                    extra=("--lcores", lcores, "--mode", mode, "--stats-interval", "0", *extra), duration=120)
    srv.wait_running()
    kernel_side_up(ns)
    return srv, prefix


def per_lcore(srv):
    return [{k: int(v) for k, v in re.findall(r"(\w+) (\d+)", line)}
            for line in srv.stdout().splitlines() if line.strip().startswith("worker ")]


@pytest.mark.parametrize("workers", [1, 2])
def test_kernel_fetches_1000_pages_each_on_a_new_connection(netns, server_in, workers, record_property):
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        srv, prefix = start(server_in, netns, make_config(tmp), workers, "respond", ("--response-size", "1000"))
        cap = Capture(netns, tmp / "respond.pcap")
        # One curl, 1000 URLs: the response says `Connection: close`, so each is a new
        # connection (and curl's own start-up is paid once, not 1000 times).
        urls = tmp / "urls"
        urls.write_text("".join(f'url = "http://{STACK}/{i}"\noutput = "/dev/null"\n' for i in range(1000)))
        t0 = time.monotonic()
        r = run("ip", "netns", "exec", netns, "curl", "-sS", "--max-time", "5", "-w", "%{http_code} %{size_download}\\n",
                "-K", str(urls), check=False, timeout=240)
        elapsed = time.monotonic() - t0
        codes = r.stdout.split("\n")
        assert sum(1 for c in codes if c == "200 1000") == 1000, r.stdout[-2000:] + r.stderr[-2000:]
        cps = 1000 / elapsed
        record_property("connections_per_second", round(cps))
        print(f"\n{workers} worker(s): 1000 connections in {elapsed:.2f} s, {cps:.0f} per second")

        # The stack closed first, so it held TIME-WAIT (the TW counter below counts
        # every entry made; how many are still alive when telemetry answers depends on
        # the machine's speed, so the gauge is checked in the test after this one, with
        # a long MSL), and nothing is established.
        states = telemetry(prefix, "/linerate/tcp/states")
        assert states["ESTABLISHED"] == 0, states
        # The entries go after 2*MSL (one second here), give or take the wheel's
        # granularity: wait for the gauge to fall to zero, bounded.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and telemetry(prefix, "/linerate/tcp/states")["TIME_WAIT"] > 0:
            time.sleep(0.25)
        assert telemetry(prefix, "/linerate/tcp/states")["TIME_WAIT"] == 0
        lcores = telemetry(prefix, "/linerate/lcores")
        cap.stop()
        assert srv.stop() == 0, srv.stderr()
        assert check_capture(tmp / "respond.pcap", closer="stack") == 1000

    c = srv.counters()
    assert c["PassiveOpens"] == 1000, c
    assert c["Responses"] == 1000, c
    assert c["ClosedNormal"] == 1000, c
    assert c["TW"] == 1000, c
    assert c["CurrEstab"] == 0, c
    assert c["OutRsts"] == 0, c
    assert c["InErrs"] == 0, c
    if workers == 2:
        owners = per_lcore(srv)
        assert len(owners) == 2 and all(w["PassiveOpens"] > 0 for w in owners), owners
        assert all(w["PassiveOpens"] > 0 for w in lcores.values()), lcores
        assert c["DispatchedIn"] > 0, c


@pytest.mark.parametrize("workers", [1, 2])
def test_200_concurrent_connections_echo_64_kib_each(netns, server_in, workers):
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        srv, prefix = start(server_in, netns, make_config(tmp), workers, "echo")
        cap = Capture(netns, tmp / "echo.pcap")
        r = run("ip", "netns", "exec", netns, "/usr/bin/python3", str(ECHO_CLIENT), STACK, "80", "200", "65536",
                "--timeout", "60", check=False, timeout=120)
        result = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
        assert result.get("ok") == 200, r.stdout + r.stderr
        # The kernel closed first: the stack went through CLOSE-WAIT and LAST-ACK and
        # keeps no TIME-WAIT. The client's last ACKs may still be on their way: wait
        # for the stack to hold nothing (bounded), then look.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(telemetry(prefix, "/linerate/tcp/states").values()) > 0:
            time.sleep(0.1)
        states = telemetry(prefix, "/linerate/tcp/states")
        assert states["ESTABLISHED"] == 0 and states["CLOSE_WAIT"] == 0 and states["LAST_ACK"] == 0, states
        assert states["TIME_WAIT"] == 0, states
        cap.stop()
        assert srv.stop() == 0, srv.stderr()
        sessions = check_capture(tmp / "echo.pcap", closer="kernel")
        assert sessions == 200
    c = srv.counters()
    assert c["PassiveOpens"] == 200, c
    assert c["BytesIn"] == 200 * 65536 and c["BytesOut"] == 200 * 65536, c
    assert c["ClosedNormal"] == 200, c
    assert c["EchoShortSends"] == 0, c
    if workers == 2:
        owners = per_lcore(srv)
        assert all(w["PassiveOpens"] > 0 for w in owners), owners


def test_rfc4987_syn_cookies_always_serve_the_kernel_with_its_options_restored(netns, server_in):
    """Every SYN answered with a cookie and nothing kept: the kernel's handshake ACKs
    make the connections, with the window scale, SACK and timestamps its SYNs offered."""
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        cfg = make_config(tmp, tcp_extra='syn_cookies = "always"\n')
        srv, prefix = start(server_in, netns, cfg, 1, "echo")
        cap = Capture(netns, tmp / "cookies.pcap")
        # Echoing 64 KiB each way needs the scaled windows the cookie brought back.
        r = run("ip", "netns", "exec", netns, "/usr/bin/python3", str(ECHO_CLIENT), STACK, "80", "50", "65536",
                "--timeout", "60", check=False, timeout=120)
        result = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
        assert result.get("ok") == 50, r.stdout + r.stderr
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(telemetry(prefix, "/linerate/tcp/states").values()) > 0:
            time.sleep(0.1)
        cap.stop()
        assert srv.stop() == 0, srv.stderr()
        assert check_capture(tmp / "cookies.pcap", closer="kernel") == 50
        # Each SYN-ACK offered what the kernel's SYN did (Linux offers all three).
        syn_acks = tshark(tmp / "cookies.pcap", "-T", "fields", "-e", "tcp.options.wscale.shift",
                          "-e", "tcp.options.sack_perm", "-e", "tcp.options.timestamp.tsval",
                          "-Y", f"ip.src == {STACK} && tcp.flags.syn == 1 && tcp.flags.ack == 1").split("\n")
        syn_acks = [row.split("\t") for row in syn_acks if row.strip()]
        assert len(syn_acks) >= 50 and all(all(field for field in row) for row in syn_acks), syn_acks[:5]
    c = srv.counters()
    assert c["SyncookiesRecv"] == 50 and c["PassiveOpens"] == 50, c
    assert c["SyncookiesSent"] >= 50 and c["SyncookiesFailed"] == 0, c
    assert c["BytesIn"] == 50 * 65536 and c["BytesOut"] == 50 * 65536, c
    assert c["OutRsts"] == 0, c


def test_stack_closing_first_leaves_time_wait_on_the_stack(netns, server_in):
    """respond mode closes first; the capture shows every FIN first from the stack."""
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        # TIME-WAIT of 60 s: every entry is certainly alive when telemetry is asked.
        srv, prefix = start(server_in, netns, make_config(tmp, msl_ms=30_000), 1, "respond",
                            ("--response-size", "5000"))
        cap = Capture(netns, tmp / "close.pcap")
        urls = tmp / "urls"
        urls.write_text("".join(f'url = "http://{STACK}/{i}"\noutput = "/dev/null"\n' for i in range(50)))
        r = run("ip", "netns", "exec", netns, "curl", "-sS", "--max-time", "5", "-w", "%{http_code}\\n", "-K",
                str(urls), check=False, timeout=120)
        assert r.stdout.split().count("200") == 50, r.stdout + r.stderr
        assert telemetry(prefix, "/linerate/tcp/states")["TIME_WAIT"] == 50
        cap.stop()
        assert srv.stop() == 0, srv.stderr()
        assert check_capture(tmp / "close.pcap", closer="stack") == 50


@pytest.mark.parametrize("offloads", [(), ("ipv4_cksum", "tcp_cksum")], ids=["software", "offload"])
def test_checksums_are_right_with_and_without_offload(netns, server_in, offloads):
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        srv, _ = start(server_in, netns, make_config(tmp, offloads), 1, "respond", ("--response-size", "3001"))
        want = "ipv4+tcp" if offloads else "software"
        assert f"tx checksum {want}" in srv.stderr(), srv.stderr()
        cap = Capture(netns, tmp / "cksum.pcap")
        urls = tmp / "urls"
        urls.write_text("".join(f'url = "http://{STACK}/{i}"\noutput = "/dev/null"\n' for i in range(50)))
        r = run("ip", "netns", "exec", netns, "curl", "-sS", "--max-time", "5", "-w", "%{http_code}\\n", "-K",
                str(urls), check=False, timeout=120)
        assert r.stdout.split().count("200") == 50, r.stdout + r.stderr
        cap.stop()
        assert srv.stop() == 0, srv.stderr()
        check_capture(tmp / "cksum.pcap")
    c = srv.counters()
    assert c["InCsumErrors"] == 0 and c["InErrs"] == 0, c


def test_a_closed_port_is_refused_with_rst(netns, server_in):
    """RFC 9293 §3.10.7.1: a SYN to a port with no listener gets <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>."""
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        summary = tmp / "summary.json"
        srv, _ = start(server_in, netns, make_config(tmp), 1, "respond", ("--json", str(summary)))
        probe = ("import socket\n"
                 "try:\n"
                 f"    socket.create_connection(('{STACK}', 81), timeout=3)\n"
                 "    print('connected')\n"
                 "except ConnectionRefusedError:\n"
                 "    print('refused')\n")
        r = run("ip", "netns", "exec", netns, "/usr/bin/python3", "-c", probe, check=False)
        assert r.stdout.strip() == "refused", r.stdout + r.stderr
        assert srv.stop() == 0, srv.stderr()
        totals = json.loads(summary.read_text())["totals"]
    c = srv.counters()
    assert c["OutRsts"] == 1, c
    assert c["tcp_no_connection"] == 1, c
    assert c["PassiveOpens"] == 0, c
    assert totals["OutRsts"] == 1 and totals["tcp_no_connection"] == 1, totals
    # The gateway was asked for at start, before any SYN (the kernel side is not up yet
    # then, so the answer that counts is the kernel's own request, which we learned).
    assert c["ArpOutRequests"] >= 1 and c["ArpCacheUpdates"] >= 1, c
