#!/usr/bin/python3
"""Writes the capture of the pcap golden test and the server's expected answer to it.

    sudo /usr/bin/python3 tests/data/golden/make_capture.py [--build BUILD_DIR] [--expected-only]

Beside this script it writes
  client.pcap    the client's segments, which tests/device/test_pcap_golden.py replays into
                 linerate-server through net_pcap;
  expected.pcap  what linerate-server wrote when it replayed client.pcap, for Wireshark
                 (with record times fixed, one millisecond apart: the run's are wall clock);
  expected.txt   the same rendered one segment a line, field by field, each line after a
                 label: this is what the test compares, with the same rendering code.

The scenario: a client at 198.18.3.1 (MAC 02:00:00:00:03:01, port 43210) fetches a page
from linerate-server at 198.18.3.2:80 (`--mode respond --response-size 64`, which answers
with an HTTP 200 and closes first), with a few segments a real network produces:
   1 syn               SYN with the options Linux sends (MSS, SACK-permitted, timestamps,
                       NOP, window scale 7)
   2 syn-retransmitted the same SYN again, one second later (new TSval, as Linux resends it)
   3 ack               the ACK completing the handshake
   4 request           an HTTP GET, as curl sends it
   5 out-of-window     32 bytes at RCV.NXT + 1000000, far beyond the 256 KiB window: RFC 9293
                       §3.10.7.4 says answer with an ACK and do not accept the data
   6 ack-response      the ACK of the server's response and of its FIN
   7 fin               the client's FIN, after the server's
   8 syn-port-81       a SYN to port 81, where nothing listens: RFC 9293 §3.10.7.1 says
                       answer <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
Every connection is closed cleanly, so the server resets nothing when it stops.

How it was made. Segments 3 to 7 acknowledge the server's ISN and its response, and
echo its TSval. They come from the server itself, run the way the test runs it (same
ISN key, frozen clock, same options): a first replay of segment 1 alone gives the SYN-ACK
(ISN and TSval); a second of segments 1 to 4 gives the response's length. Those runs
are prefixes of the full replay, which with a fixed key and a frozen clock is
deterministic. Client values (ISN, TSval, IP ID, ports, pcap times) are constants below,
so the same server gives a byte-identical client.pcap.

Note on the server's MAC: the brief for this test asked for 02:00:00:00:03:02, but
net_pcap in DPDK 22.11 cannot set a MAC (the port's `mac` key makes the server fail with
"Operation not supported"), so the client addresses net_pcap's own fixed address for
port 0, 02:70:63:61:70:00.

Regenerating, when linerate-server's behaviour changes on purpose (it needs root, as the
test does, and a build; BUILD_DIR defaults to $LINERATE_BUILD_ROOT, else build/):
  - the change leaves the server's ISN, TSval and response alone (a different window,
    option, ACK, counter...): `make_capture.py --expected-only` keeps client.pcap and
    rewrites expected.pcap and expected.txt;
  - otherwise (ISN, timestamps or the response change): `make_capture.py` rewrites all
    three, since the client's acknowledgments follow the server's numbers.
Then read `git diff tests/data/golden/expected.txt` before committing it: every line that
changed is a segment on the wire that changed. If the server now sends a different set
of segments, the labels below (ANSWERS) no longer fit: the script says so and labels
lines seg-NN until ANSWERS is updated.
"""
import argparse
import os
import pathlib
import struct
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
SOURCE_ROOT = HERE.parents[2]
sys.path.insert(0, str(SOURCE_ROOT / "tests" / "device"))

import test_pcap_golden as golden  # noqa: E402  (the renderer and the replay the test uses)

from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

CLIENT_MAC = "02:00:00:00:03:01"
SERVER_MAC = "02:70:63:61:70:00"  # net_pcap's address for port 0 (see above)
CLIENT_IP = "198.18.3.1"
SERVER_IP = "198.18.3.2"
CLIENT_PORT = 43210
CLIENT_PORT_81 = 43211
CLIENT_ISN = 1_000_000
CLIENT_ISN_81 = 2_000_000
TSVAL0 = 100_000             # the client's TSval at time 0 (Linux: milliseconds plus an offset)
T0 = 1_700_000_000           # pcap time of the first segment (net_pcap's RX ignores it)
LINUX_SYN_WINDOW = 64240     # 44 * 1460: what Linux offers in a SYN with MSS 1460
LINUX_WSCALE = 7
LINUX_WINDOW = 502           # 64256 >> 7: what Linux advertises once the handshake is done
REQUEST = b"GET / HTTP/1.1\r\nHost: 198.18.3.2\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
OUT_OF_WINDOW_OFFSET = 1_000_000  # beyond linerate's 256 KiB receive window
OUT_OF_WINDOW_DATA = b"outside the receive window.....\n"

# What the server is expected to send, in order: (label, TCP flags). Only names lines.
ANSWERS = [
    ("syn-ack", "SYN|ACK"),             # to 1
    ("syn-ack-again", "SYN|ACK"),       # to 2: the same SYN-ACK (as Linux's tcp_check_req)
    ("response-and-fin", "FIN|PSH|ACK"),  # to 4: HTTP 200 (116 bytes of header, 64 of body);
                                          # respond mode closes first, the FIN on the response
    ("ack-out-of-window", "ACK"),       # to 5: RFC 9293 §3.10.7.4 "first, check sequence number"
    ("ack-of-client-fin", "ACK"),       # to 7: FIN-WAIT-2 -> TIME-WAIT
    ("rst-ack-port-81", "RST|ACK"),     # to 8: RFC 9293 §3.10.7.1
]


def segment(i, ms, flags, seq, ack=0, sport=CLIENT_PORT, dport=80, window=LINUX_WINDOW, tsecr=0, options=None,
            payload=b""):
    """One client frame, `ms` milliseconds after T0, with a timestamp option."""
    if options is None:
        options = [("NOP", None), ("NOP", None), ("Timestamp", (TSVAL0 + ms, tsecr))]
    p = (Ether(src=CLIENT_MAC, dst=SERVER_MAC) /
         IP(src=CLIENT_IP, dst=SERVER_IP, id=0x1000 + i, flags="DF", ttl=64) /
         TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=window, options=options))
    if payload:
        p = p / payload
    p.time = T0 + ms / 1000
    return p


def linux_syn_options(ms):
    return [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (TSVAL0 + ms, 0)), ("NOP", None),
            ("WScale", LINUX_WSCALE)]


def client_segments(server_isn=0, server_tsval=0, response_len=0):
    """The scenario as [(name, frame)]; the server's numbers are needed from segment 3 on."""
    c, s = CLIENT_ISN + 1, server_isn + 1
    syn = dict(flags="S", seq=CLIENT_ISN, window=LINUX_SYN_WINDOW)
    fin_acked = s + response_len + 1
    after_request = c + len(REQUEST)
    return [
        ("syn", segment(1, 0, options=linux_syn_options(0), **syn)),
        ("syn-retransmitted", segment(2, 1000, options=linux_syn_options(1000), **syn)),
        ("ack", segment(3, 1001, "A", c, s, tsecr=server_tsval)),
        ("request", segment(4, 1002, "PA", c, s, tsecr=server_tsval, payload=REQUEST)),
        ("out-of-window", segment(5, 1003, "PA", after_request + OUT_OF_WINDOW_OFFSET, s, tsecr=server_tsval,
                                  payload=OUT_OF_WINDOW_DATA)),
        ("ack-response", segment(6, 1004, "A", after_request, fin_acked, tsecr=server_tsval)),
        ("fin", segment(7, 1005, "FA", after_request, fin_acked, tsecr=server_tsval)),
        ("syn-port-81", segment(8, 1010, options=linux_syn_options(1010), flags="S", seq=CLIENT_ISN_81,
                                sport=CLIENT_PORT_81, dport=81, window=LINUX_SYN_WINDOW)),
    ]


def run(server, frames, what):
    """Replays `frames`; returns the server's frames rendered as field dicts."""
    with tempfile.TemporaryDirectory(prefix="linerate-golden-") as d:
        pcap = pathlib.Path(d) / "probe.pcap"
        wrpcap(str(pcap), frames)
        r = golden.replay(d, client_pcap=pcap, server=server)
        if r.returncode != 0:
            sys.exit(f"{what}: linerate-server exited with {r.returncode}:\n{r.stderr}")
        return [golden._fields(line) for line in golden.render_pcap(r.out_pcap)]


def server_numbers(server):
    """The server's ISN and TSval (from its SYN-ACK) and its response's length."""
    first = client_segments()[0][1]
    out = run(server, [first], "probe 1 (SYN)")
    synack = next((f for f in out if f.get("tcp.flags") == "SYN|ACK"), None)
    if synack is None:
        sys.exit(f"probe 1: no SYN-ACK in the server's answer: {out}")
    isn = int(synack["tcp.seq"])
    tsval = int(next(o for o in synack["tcp.opts"].split(",") if o.startswith("TS:")).split(":")[1])
    out = run(server, [p for _, p in client_segments(isn, tsval)[:4]], "probe 2 (SYN, SYN, ACK, request)")
    data = [f for f in out if "RST" not in f["tcp.flags"]]
    response_len = sum(int(f["tcp.len"]) for f in data if int(f["tcp.seq"]) > isn)
    fins = [f for f in data if "FIN" in f["tcp.flags"]]
    if not fins or int(fins[0]["tcp.seq"]) + int(fins[0]["tcp.len"]) != isn + 1 + response_len:
        sys.exit(f"probe 2: the server did not close after its response: {out}")
    return isn, tsval, response_len


def labels_for(lines):
    flags = [golden._fields(line).get("tcp.flags") for line in lines]
    if flags == [f for _, f in ANSWERS]:
        return [label for label, _ in ANSWERS]
    print("make_capture.py: the server's segments no longer match ANSWERS; labelled seg-NN "
          f"(flags now: {flags}). Update ANSWERS and run again with --expected-only.", file=sys.stderr)
    return [f"seg-{i + 1:02d}" for i in range(len(lines))]


def write_pcap(path, frames):
    """A classic pcap (microseconds, Ethernet) of `frames`, one millisecond apart from T0."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", T0, i * 1000, len(frame), len(frame)) + frame)


def write_expected(server, names):
    with tempfile.TemporaryDirectory(prefix="linerate-golden-") as d:
        r = golden.replay(d, server=server)
        if r.returncode != 0:
            sys.exit(f"replay: linerate-server exited with {r.returncode}:\n{r.stderr}")
        frames = golden.read_pcap(r.out_pcap)
    # The records' times are the wall clock of the run: written again with fixed ones, so
    # that regenerating with an unchanged server leaves expected.pcap byte for byte alone.
    write_pcap(HERE / "expected.pcap", frames)
    lines = golden.render_pcap(HERE / "expected.pcap")
    client = golden.render_pcap(golden.CLIENT_PCAP)
    head = [
        "# What linerate-server writes when tests/data/golden/client.pcap is replayed into it through",
        "# net_pcap: one segment a line, a label then field=value in header order (tcp.data is a",
        "# digest of the payload). Written by make_capture.py, compared by",
        "# tests/device/test_pcap_golden.py; lines starting with # are not compared.",
        "# Server options: " + " ".join(golden.SERVER_ARGS),
        "#",
        "# The client's segments (client.pcap), for reference:",
    ]
    head += [f"#   {golden.labelled(n, c)}" for n, c in zip(names, client)]
    body = [golden.labelled(label, line) for label, line in zip(labels_for(lines), lines)]
    (HERE / "expected.txt").write_text("\n".join(head + ["#"] + body) + "\n")
    print("\n".join(body))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=pathlib.Path,
                    default=pathlib.Path(os.environ.get("LINERATE_BUILD_ROOT", SOURCE_ROOT / "build")),
                    help="the meson build directory holding apps/linerate-server (default: build/)")
    ap.add_argument("--expected-only", action="store_true",
                    help="keep client.pcap; rewrite only expected.pcap and expected.txt")
    args = ap.parse_args()
    server = args.build.resolve() / "apps" / "linerate-server" / "linerate-server"
    if not server.exists():
        sys.exit(f"{server}: not built")
    names = [n for n, _ in client_segments()]
    if not args.expected_only:
        isn, tsval, response_len = server_numbers(server)
        print(f"server ISN {isn}, TSval {tsval}, response {response_len} bytes")
        wrpcap(str(golden.CLIENT_PCAP), [p for _, p in client_segments(isn, tsval, response_len)])
    write_expected(server, names)


if __name__ == "__main__":
    main()
