#!/usr/bin/python3
"""Writes the seed corpora of the libFuzzer targets (tests/fuzz) into this folder.

    /usr/bin/python3 tests/data/fuzz/make_seeds.py

One folder per target, each file one input; the output is committed (the fuzz tests copy
it into a scratch corpus and never write here). Run it again after changing what it
draws from, or the input layout of a target (described at the top of each target).

- fuzz_rx: every frame of the golden captures (tests/data/golden/*.pcap) and every
  vector of the wire unit tests (tests/unit/wire/vectors.hpp), whole (RAW, addressed to
  a connection) and, for TCP, as a segment at the sequence numbers the receiver expects
  (FRAME, numbers relative); a segment of each kind aimed at each connection the target
  sets up, in both directions; and a few sequences of time, link and application steps.
- fuzz_config: the shipped drivers-config/*.toml and snippets of the config unit tests.
- fuzz_http: responses with Content-Length, chunked, 204, 304, HTTP/1.0 until close, a
  raw (non-HTTP) one, each whole and cut in pieces.
"""
import pathlib
import re
import shutil
import struct

from scapy.all import IP, TCP, rdpcap  # noqa: F401 (scapy's layers decode the captures)

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]

# --- fuzz_rx: the layout read by tests/fuzz/fuzz_rx.cpp ----------------------------------

# The 4-tuples the target sets up, in its order (the target byte's low 7 bits), and two
# more for a fresh 4-tuple to B:80 and to C:80.
TUPLES = ["established", "fin-wait-1", "fin-wait-2", "closing", "last-ack", "time-wait-a", "time-wait-b",
          "cookie", "out-of-order", "syn-sent", "syn-received", "cookie-ack-pending", "fresh-b", "fresh-c"]
TOWARDS_A = 0x80
# Mode bits: keep the TCP checksum, relative SEQ, relative ACK, the sender's view,
# relative timestamps, pad (FRAME) or keep the IPv4 checksum (RAW), keep addresses (RAW),
# checksums verified by the device.
REL = 0x02 | 0x04 | 0x10
PEER = 0x08
PAD = 0x20


def op_frame(target, mode, l4, lookahead=False):
    return bytes([0 | (0x08 if lookahead else 0), target, mode]) + struct.pack("<H", len(l4)) + l4


def op_raw(target, mode, frame):
    return bytes([1, target, mode]) + struct.pack("<H", len(frame)) + frame


def op_time(k):
    return bytes([2, k])


def op_link(k):
    return bytes([3, k])


def op_app(target, action, arg):
    return bytes([4, target, action, arg])


def relative(l4):
    """A TCP segment with its numbers and timestamps zeroed: with REL they become what
    the receiver expects."""
    b = bytearray(l4)
    b[4:12] = bytes(8)
    hl = min((b[12] >> 4) * 4, len(b))
    i = 20
    while i < hl:
        kind = b[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= hl or b[i + 1] < 2:
            break
        if kind == 8 and b[i + 1] == 10 and i + 10 <= hl:
            b[i + 2:i + 10] = bytes(8)
        i += b[i + 1]
    return bytes(b)


def tcp_of(frame):
    """The TCP segment of an Ethernet/IPv4/TCP frame, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack(">H", frame[16:18])[0]
    return frame[14 + ihl:14 + total]


def segment(flags, window=502, options=b"", payload=b""):
    """A TCP header (ports and numbers filled in by the target) with options and data."""
    options += bytes(-len(options) % 4)
    off = (20 + len(options)) // 4
    return struct.pack(">HHIIBBHHH", 0, 0, 0, 0, off << 4, flags, window, 0, 0) + options + payload


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
NOP_NOP_TS = b"\x01\x01\x08\x0a" + bytes(8)
SYN_OPTIONS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + bytes(8) + b"\x01\x03\x03\x07"


def rx_seeds():
    seeds = {}
    frames = []
    for pcap in sorted((ROOT / "tests" / "data" / "golden").glob("*.pcap")):
        for i, p in enumerate(rdpcap(str(pcap))):
            frames.append((f"{pcap.stem}-{i:02d}", bytes(p)))
    vectors = (ROOT / "tests" / "unit" / "wire" / "vectors.hpp").read_text()
    for name, body in re.findall(r"std::array<std::uint8_t, \d+> (\w+)\{\{(.*?)\}\};", vectors, re.S):
        frames.append((f"vector-{name}", bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", body))))

    for n, (name, frame) in enumerate(frames):
        target = n % len(TUPLES)
        seeds[f"raw-{name}"] = bytes([0]) + op_raw(target, 0, frame)
        l4 = tcp_of(frame)
        if l4 is not None and len(l4) >= 20:
            seeds[f"frame-{name}"] = bytes([0]) + op_frame(target, REL, relative(l4))
            seeds[f"frame-{name}-to-a"] = bytes([0]) + op_frame(target | TOWARDS_A, REL | PEER, relative(l4))

    kinds = {
        "ack": segment(ACK, options=NOP_NOP_TS),
        "data": segment(PSH | ACK, options=NOP_NOP_TS, payload=b"GET / HTTP/1.1\r\n\r\n"),
        "fin": segment(FIN | ACK, options=NOP_NOP_TS),
        "rst": segment(RST | ACK),
        "syn": segment(SYN, window=64240, options=SYN_OPTIONS),
        "synack": segment(SYN | ACK, window=65160, options=SYN_OPTIONS),
        "sack": segment(ACK, options=b"\x01\x01\x05\x0a" + struct.pack(">II", 100, 200)),
    }
    for t, state in enumerate(TUPLES):
        for kind, l4 in kinds.items():
            seeds[f"state-{state}-{kind}"] = bytes([0]) + op_frame(t, REL | PAD, l4)
            seeds[f"state-{state}-{kind}-to-a"] = bytes([0]) + op_frame(t | TOWARDS_A, REL | PEER | PAD, l4,
                                                                           lookahead=True)

    # Sequences: what the setup left in flight delivered, timers, the applications.
    seeds["seq-retransmit"] = bytes([0]) + op_time(8) + op_link(15) + op_link(15) + op_time(12) + op_link(15)
    seeds["seq-keepalive"] = bytes([0x40]) + op_time(11) + op_link(15) + op_time(11) + op_link(0x1F) + op_time(12)
    seeds["seq-echo"] = (bytes([0]) + op_app(0, 0, 40) + op_link(15) + op_link(15) + op_time(4) + op_link(15))
    seeds["seq-connect-cookie"] = (bytes([0]) + op_app(0, 4, 1) + op_link(0) + op_link(0) + op_link(0) +
                                   op_app(14, 0, 3) + op_link(15) + op_link(15))
    seeds["seq-close-all"] = bytes([0]) + b"".join(op_app(t, 2, 0) + op_link(15) for t in range(12)) + op_time(13)
    seeds["seq-abort-all"] = bytes([0]) + b"".join(op_app(t | TOWARDS_A, 3, 0) for t in range(12)) + op_link(15)
    seeds["seq-small-buffers"] = (bytes([0x20]) + op_app(0, 6, 4) + op_app(0, 7, 0) + op_link(15) + op_time(5) +
                                  op_app(0, 6, 255) + op_link(15) + op_link(15))
    seeds["seq-reorder"] = (bytes([0x10]) + op_app(0, 0, 200) + op_link(0x21) + op_link(0x41) + op_link(15) +
                            op_time(4) + op_link(15))
    for v in (0x01, 0x02, 0x04, 0x08, 0x80, 0xFF):
        seeds[f"settings-{v:02x}"] = bytes([v]) + op_frame(0, REL, kinds["data"]) + op_link(15) + op_time(6)
    return seeds


# --- fuzz_config -------------------------------------------------------------------------

MINIMAL = '[eal]\nlcores = [0]\n\n[[port]]\nname = "p0"\nvdev = "net_tap0"\naddress = "198.18.0.2/24"\n'


def config_seeds():
    seeds = {f"drivers-{p.stem}.toml": p.read_bytes() for p in sorted((ROOT / "drivers-config").glob("*.toml"))}
    snippets = {
        "minimal": MINIMAL,
        "full": ('[eal]\nargs = ["--no-huge", "-m", "512"]\nlcores = [2, 0, 5]\n\n[mempool]\nmbufs = 65535\n'
                 'cache = 512\n\n[[port]]\nname = "nic-0_a"\npci = "0000:3b:00.1"\nrx_queues = 64\ntx_queues = 3\n'
                 'rx_descriptors = 32768\ntx_descriptors = 64\nmtu = 9600\n'
                 'offloads = ["tso", "ipv4_cksum", "rss", "tcp_cksum"]\naddress = "10.1.2.3/31"\n'
                 'gateway = "10.1.2.2"\nmac = "02:00:00:aa:bb:cc"\n\n[[port]]\nname = "tap"\n'
                 'vdev = "net_tap1,iface=lr1"\naddress = "198.19.0.1/32"\nmtu = 68\n\n[tcp]\n'),
        "tcp": (MINIMAL + '[tcp]\ntimestamps = false\nmsl_ms = 500\ndelayed_ack_ms = 0\nsyn_backlog = 4096\n'
                'rto_min_ms = 50\nrto_max_ms = 60000\nkeepalive = true\nsyn_cookies = "always"\n'),
        "tcp-bad-rto": MINIMAL + "[tcp]\nrto_min_ms = 300\nrto_max_ms = 200\n",
        "tcp-unknown": MINIMAL + "[tcp]\nmsl_m = 10\n",
        "mempool-cache": MINIMAL + "[mempool]\ncache = 512\nmbufs = 1023\n",
        "duplicate-name": MINIMAL + '\n[[port]]\nvdev = "net_tap1"\nname = "p0"\naddress = "198.18.1.2/24"\n',
        "offloads-twice": MINIMAL + 'offloads = [\n  "rss",\n  "rss",\n]\n',
        "gateway": MINIMAL + 'gateway = "198.18.0.1"\nmac = "02:00:00:00:00:09"\n',
        "huge-integer": MINIMAL + "mtu = 99999999999999999999\n",
        "date": MINIMAL + "gateway = 1979-05-27\n",
        "port-table": '[eal]\nlcores = [0]\n[port]\nname = "p0"\n',
    }
    for name, text in snippets.items():
        seeds[f"snippet-{name}.toml"] = text.encode()
    return seeds


# --- fuzz_http: [u16 raw_size][u8 n][n piece sizes][bytes] ------------------------------

def http_seeds():
    responses = {
        "200-length": b"HTTP/1.1 200 OK\r\nServer: linerate\r\nContent-Length: 5\r\n\r\nhello",
        "200-twice": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length:0\r\n\r\n",
        "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "204": b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n",
        "304": b"HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\n\r\n",
        "http10-close": b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until the server closes",
        "404": b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!",
    }
    seeds = {}
    for name, body in responses.items():
        seeds[f"{name}-whole"] = struct.pack("<HB", 0, 0) + body
        seeds[f"{name}-pieces"] = struct.pack("<HB", 0, 3) + bytes([1, 7, 16]) + body
    seeds["raw-64"] = struct.pack("<HB", 64, 2) + bytes([10, 54]) + bytes(range(64)) + b"next"
    return seeds


def write(target, seeds):
    out = HERE / target
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for name, data in sorted(seeds.items()):
        (out / name).write_bytes(data)
    print(f"{target}: {len(seeds)} seeds")


def main():
    write("fuzz_rx", rx_seeds())
    write("fuzz_config", config_seeds())
    write("fuzz_http", http_seeds())


if __name__ == "__main__":
    main()
