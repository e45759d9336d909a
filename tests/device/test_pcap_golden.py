"""The pcap golden test: a fixed capture of client segments is replayed into
linerate-server through net_pcap, and every segment the server writes is compared field
by field with the expected output kept beside the capture (tests/data/golden/).

What makes a replay reproducible: `--isn-key` fixes the RFC 6528 secret and
`--frozen-clock` stops the stack's clock at zero, so the ISN is SipHash(key, 4-tuple)
alone, TSval is derived from the ISN, no timer fires and the connection table's seed is
fixed. net_pcap reads the input file as fast as the loop polls and writes what the port
sends to a file that is complete once the port is closed (at exit). It touches no
network interface, so no namespace is needed; like every device test it runs as root.

The comparison is on text: each frame is rendered on one line as `field=value` tokens
(Ethernet, IPv4 and TCP headers, options in order, payload length and digest, whether
each checksum is valid), after a label taken from expected.txt. A mismatch is reported as
a unified diff of those lines followed by the fields that changed in each segment, e.g.

    fin-after-response: tcp.flags FIN|ACK -> FIN|PSH|ACK

The renderer is a small pcap and header parser written here rather than scapy's
dissectors, so the text depends on nothing but the bytes. make_capture.py (beside the
data) uses the same functions to write expected.txt; see its header for how the capture
was made and how to regenerate the expected output when behaviour changes on purpose.
"""
import dataclasses
import difflib
import hashlib
import pathlib
import re
import shutil
import struct
import subprocess
import tempfile

from conftest import SERVER

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "data" / "golden"
CLIENT_PCAP = GOLDEN / "client.pcap"
EXPECTED_TXT = GOLDEN / "expected.txt"

# The fixed RFC 6528 secret of the replay ("linerate golden!" in ASCII). It makes ISNs
# predictable, which is the point here and must never be done outside a test.
ISN_KEY = "6c696e657261746520676f6c64656e21"
SERVER_ADDRESS = "198.18.3.2/24"
DURATION_S = 2
SERVER_ARGS = ("--isn-key", ISN_KEY, "--frozen-clock", "--mode", "respond", "--response-size", "64",
               "--duration", str(DURATION_S), "--stats-interval", "0")

# The replay's configuration. No `mac`: DPDK 22.11's net_pcap cannot set one (the port
# start fails with "Operation not supported"), so the port keeps net_pcap's own fixed
# address, 02:70:63:61:70:00 ("\x02pcap" and the port id) for port 0. No gateway: the
# server would ARP for it at start; replies go to the frame's source MAC instead.
CONFIG = """\
# linerate-server replaying a capture through net_pcap (written by test_pcap_golden.py).
[eal]
args = ["--no-huge", "--no-shconf", "--no-pci", "-m", "256"]
lcores = [0]

[[port]]
name = "pcap0"
vdev = "net_pcap0,rx_pcap={rx},tx_pcap={tx}"
address = "{address}"
"""


# --- pcap files ------------------------------------------------------------------------------

def read_pcap(path):
    """The frames of a classic pcap file (either byte order, micro- or nanosecond), as
    bytes. Record timestamps are not returned: they are the wall clock of the run."""
    data = pathlib.Path(path).read_bytes()
    if len(data) < 24:
        raise ValueError(f"{path}: not a pcap file ({len(data)} bytes)")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap file (magic {magic.hex()})")
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, not Ethernet")
    frames, off = [], 24
    while off + 16 <= len(data):
        incl, orig = struct.unpack_from(endian + "II", data, off + 8)
        frame = data[off + 16:off + 16 + incl]
        if incl != orig or len(frame) != incl:
            raise ValueError(f"{path}: frame {len(frames) + 1} truncated ({incl} of {orig} bytes)")
        frames.append(frame)
        off += 16 + incl
    return frames


# --- rendering -------------------------------------------------------------------------------

def _mac(b):
    return ":".join(f"{x:02x}" for x in b)


def _ip(b):
    return ".".join(str(x) for x in b)


def _sum16(data, acc=0):
    if len(data) % 2:
        data += b"\0"
    for (w,) in struct.iter_unpack("!H", data):
        acc += w
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    return acc


def _checksum_ok(data, acc=0):
    """RFC 1071: the one's complement sum over data that includes its checksum is 0xffff."""
    return _sum16(data, acc) == 0xFFFF


TCP_FLAGS = ((0x02, "SYN"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"), (0x20, "URG"),
             (0x40, "ECE"), (0x80, "CWR"))


def _tcp_options(opts):
    """TCP options in order, as MSS:1460,SACK_PERM,TS:val:ecr,NOP,WS:7 (RFC 9293, 7323, 2018)."""
    out, i = [], 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            out.append("EOL")
            if any(opts[i + 1:]):
                out.append("junk:" + opts[i + 1:].hex())
            break
        if kind == 1:
            out.append("NOP")
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2 or i + opts[i + 1] > len(opts):
            out.append(f"BAD:{opts[i:].hex()}")
            break
        n = opts[i + 1]
        body = opts[i + 2:i + n]
        if kind == 2 and n == 4:
            out.append(f"MSS:{struct.unpack('!H', body)[0]}")
        elif kind == 3 and n == 3:
            out.append(f"WS:{body[0]}")
        elif kind == 4 and n == 2:
            out.append("SACK_PERM")
        elif kind == 5 and n >= 10 and (n - 2) % 8 == 0:
            blocks = [struct.unpack_from("!II", body, j) for j in range(0, n - 2, 8)]
            out.append("SACK:" + ":".join(f"{a}-{b}" for a, b in blocks))
        elif kind == 8 and n == 10:
            val, ecr = struct.unpack("!II", body)
            out.append(f"TS:{val}:{ecr}")
        else:
            out.append(f"OPT{kind}:{body.hex()}")
        i += n
    return ",".join(out) if out else "-"


def render_frame(frame):
    """One frame on one line of `field=value` tokens, fields in header order (tcp.doff in
    32-bit words as on the wire, lengths in bytes). Fields that are normally absent (IP
    options, fragments, TOS, URG pointer, reserved bits, trailing bytes) appear only when
    present, so anything unusual still shows in a diff."""
    if len(frame) < 14:
        return f"eth.short={frame.hex()}"
    t = [f"eth.src={_mac(frame[6:12])}", f"eth.dst={_mac(frame[0:6])}"]
    etype = struct.unpack_from("!H", frame, 12)[0]
    l3 = frame[14:]
    if etype == 0x0806 and len(l3) >= 28:
        op, sha, spa, tha, tpa = struct.unpack_from("!6xH6s4s6s4s", l3)
        return " ".join(t + ["eth.type=arp", f"arp.op={op}", f"arp.sha={_mac(sha)}", f"arp.spa={_ip(spa)}",
                             f"arp.tha={_mac(tha)}", f"arp.tpa={_ip(tpa)}"])
    if etype != 0x0800 or len(l3) < 20:
        return " ".join(t + [f"eth.type=0x{etype:04x}", f"eth.len={len(frame)}"])
    ihl = (l3[0] & 0x0F) * 4
    total, ident, frag = struct.unpack_from("!HHH", l3, 2)
    ttl, proto = l3[8], l3[9]
    t += [f"ip.src={_ip(l3[12:16])}", f"ip.dst={_ip(l3[16:20])}", f"ip.ttl={ttl}", f"ip.id={ident}",
          f"ip.df={(frag >> 14) & 1}", f"ip.len={total}",
          f"ip.cksum={'ok' if _checksum_ok(l3[:ihl]) else 'BAD'}"]
    if l3[0] >> 4 != 4 or ihl < 20:
        t.append(f"ip.vihl=0x{l3[0]:02x}")
    if ihl > 20:
        t.append(f"ip.opts={l3[20:ihl].hex()}")
    if l3[1]:
        t.append(f"ip.tos=0x{l3[1]:02x}")
    if frag & 0xBFFF:
        t.append(f"ip.frag=0x{frag & 0xBFFF:04x}")
    if total > len(l3) or total < ihl:
        return " ".join(t + [f"ip.truncated={len(l3)}"])
    if len(l3) > total:
        t.append(f"eth.trailer={len(l3) - total}")
    if proto != 6:
        return " ".join(t + [f"ip.proto={proto}"])
    seg = l3[ihl:total]
    if len(seg) < 20:
        return " ".join(t + [f"tcp.short={seg.hex()}"])
    sport, dport, seq, ack, off_flags, win, _, urg = struct.unpack_from("!HHIIHHHH", seg)
    doff = (off_flags >> 12) * 4
    flags = off_flags & 0xFF
    names = [n for bit, n in TCP_FLAGS if flags & bit]
    pseudo = _sum16(l3[12:20] + struct.pack("!HH", 6, len(seg)))
    t += [f"tcp.sport={sport}", f"tcp.dport={dport}", f"tcp.seq={seq}", f"tcp.ack={ack}",
          f"tcp.flags={'|'.join(names) or 'none'}", f"tcp.win={win}", f"tcp.doff={doff // 4}"]
    if off_flags & 0x0F00:
        t.append(f"tcp.reserved=0x{(off_flags >> 8) & 0x0F:x}")
    if urg:
        t.append(f"tcp.urp={urg}")
    if doff < 20 or doff > len(seg):
        return " ".join(t + ["tcp.doff.bad=1"])  # shorter than 20 bytes or longer than the segment
    payload = seg[doff:]
    t += [f"tcp.opts={_tcp_options(seg[20:doff])}", f"tcp.len={len(payload)}"]
    if payload:
        t.append(f"tcp.data=sha256:{hashlib.sha256(payload).hexdigest()[:12]}")
    t.append(f"tcp.cksum={'ok' if _checksum_ok(seg, pseudo) else 'BAD'}")
    return " ".join(t)


def render_pcap(path):
    return [render_frame(f) for f in read_pcap(path)]


# --- expected output and the diff ------------------------------------------------------------

LABEL_WIDTH = 22


def labelled(label, fields):
    return f"{label:<{LABEL_WIDTH}} {fields}"


def parse_expected(text):
    """expected.txt as [(label, fields)]; blank lines and lines starting with # are comments."""
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, _, fields = line.partition(" ")
        rows.append((label, fields.strip()))
    return rows


def _fields(line):
    return dict(tok.split("=", 1) if "=" in tok else (tok, "") for tok in line.split())


def _may_pair(a, b):
    """Whether an expected and an actual segment can be the same one, changed: the same
    ports and the same flags or the same sequence number."""
    return (a.get("tcp.sport"), a.get("tcp.dport")) == (b.get("tcp.sport"), b.get("tcp.dport")) and (
        a.get("tcp.flags") == b.get("tcp.flags") or a.get("tcp.seq") == b.get("tcp.seq"))


def _pair(exp, act):
    """An order-preserving pairing of two runs of differing lines (as field dicts) with the
    most pairs, then the most equal fields: [(i or None, j or None)] in order."""
    n, m = len(exp), len(act)
    best = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            options = [best[i + 1][j], best[i][j + 1]]
            if _may_pair(exp[i], act[j]):
                equal = sum(exp[i].get(k) == v for k, v in act[j].items())
                options.append((best[i + 1][j + 1][0] + 1, best[i + 1][j + 1][1] + equal))
            best[i][j] = max(options)
    out, i, j = [], 0, 0
    while i < n or j < m:
        if i < n and j < m and _may_pair(exp[i], act[j]) and best[i][j] == (
                best[i + 1][j + 1][0] + 1,
                best[i + 1][j + 1][1] + sum(exp[i].get(k) == v for k, v in act[j].items())):
            out.append((i, j))
            i, j = i + 1, j + 1
        elif i < n and (j == m or best[i][j] == best[i + 1][j]):
            out.append((i, None))
            i += 1
        else:
            out.append((None, j))
            j += 1
    return out


def compare(expected_rows, actual):
    """None when the actual lines equal the expected ones, else a readable report: a
    unified diff in which each actual line carries the label of the expected segment it
    stands for ("unexpected" when none), then, segment by segment, the fields that
    changed. Lines are aligned on their content, and changed ones paired by ports and
    flags or sequence number, so a missing or extra segment does not relabel the rest."""
    exp_lines = [f for _, f in expected_rows]
    if exp_lines == actual:
        return None
    labels = ["unexpected"] * len(actual)
    report = []
    sm = difflib.SequenceMatcher(None, exp_lines, actual, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                labels[j1 + k] = expected_rows[i1 + k][0]
            continue
        exp = [_fields(f) for f in exp_lines[i1:i2]]
        act = [_fields(f) for f in actual[j1:j2]]
        for i, j in _pair(exp, act):
            if i is None:
                report.append(f"  unexpected segment: {actual[j1 + j]}")
                continue
            label = expected_rows[i1 + i][0]
            if j is None:
                report.append(f"  {label}: missing (the server did not send it)")
                continue
            labels[j1 + j] = label
            a, b = exp[i], act[j]
            keys = list(a) + [k for k in b if k not in a]
            report.append(f"  {label}: " + "; ".join(
                f"{k} {a.get(k, '(absent)')} -> {b.get(k, '(absent)')}" for k in keys if a.get(k) != b.get(k)))
    diff = difflib.unified_diff([labelled(lb, f) for lb, f in expected_rows],
                                [labelled(lb, f) for lb, f in zip(labels, actual)],
                                fromfile="expected.txt", tofile="what the server wrote", lineterm="", n=1)
    return "\n".join(diff) + "\n\nchanged, segment by segment:\n" + "\n".join(report)


# --- running the replay ----------------------------------------------------------------------

@dataclasses.dataclass
class Replay:
    returncode: int
    stdout: str
    stderr: str
    out_pcap: pathlib.Path

    def counters(self):
        """The summary printed at exit ("counters:", "application:"), as {name: value}."""
        assert "counters:" in self.stdout, self.stdout + self.stderr
        return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\S+)\s+(\d+)$", self.stdout, re.M)}


def replay(workdir, client_pcap=CLIENT_PCAP, server=SERVER):
    """Runs linerate-server once on `client_pcap`, with everything in `workdir` (which must
    exist and whose path holds no comma or '=': it goes into the vdev argument)."""
    workdir = pathlib.Path(workdir)
    rx, tx, cfg = workdir / "IN.pcap", workdir / "OUT.pcap", workdir / "golden.toml"
    shutil.copyfile(client_pcap, rx)
    tx.unlink(missing_ok=True)
    cfg.write_text(CONFIG.format(rx=rx, tx=tx, address=SERVER_ADDRESS))
    # The server stops by itself after DURATION_S; the timeout only bounds a hang.
    r = subprocess.run([str(server), "--", "--config", str(cfg), *SERVER_ARGS], capture_output=True,
                       text=True, timeout=60 + DURATION_S, stdin=subprocess.DEVNULL, cwd=workdir)
    return Replay(r.returncode, r.stdout, r.stderr, tx)


# --- the tests -------------------------------------------------------------------------------

def _run_once():
    with tempfile.TemporaryDirectory(prefix="linerate-golden-") as d:
        r = replay(d)
        assert r.returncode == 0, f"linerate-server exited with {r.returncode}:\n{r.stderr}\n{r.stdout}"
        assert r.out_pcap.exists(), f"no output capture:\n{r.stderr}"
        return r, read_pcap(r.out_pcap)


def test_replay_of_client_capture_gives_the_expected_segments():
    r, frames = _run_once()
    actual = [render_frame(f) for f in frames]
    report = compare(parse_expected(EXPECTED_TXT.read_text()), actual)
    assert report is None, (
        "linerate-server's answer to tests/data/golden/client.pcap changed. If the change is meant, "
        "regenerate the expected output (see tests/data/golden/make_capture.py).\n" + report)

    c = r.counters()
    summary = r.stdout
    assert c["PassiveOpens"] == 1, summary        # one handshake completed, the retransmitted SYN opened nothing
    assert c["RetransSegs"] == 1, summary         # the SYN-ACK sent again for the retransmitted SYN
    assert c["tcp_out_of_window"] == 1, summary   # the out-of-window segment, answered with an ACK
    assert c["OutRsts"] == 1, summary             # the RST for port 81, and no reset at exit
    assert c["tcp_no_connection"] == 1, summary   # ...counted as a segment for no connection
    assert c["Requests"] == 1 and c["Responses"] == 1, summary
    assert c["ClosedNormal"] == 1, summary
    assert c["TW"] == 1, summary                  # the server closed first, so it holds TIME-WAIT
    assert c["CurrEstab"] == 0, summary
    assert c["InErrs"] == 0, summary
    # Six out: the response carries the FIN (RFC 9293 §3.10.4), so there is no FIN of its own.
    assert c["InSegs"] == 8 and c["OutSegs"] == 6, summary


def test_two_replays_write_identical_frames():
    # Only the frames are compared: a pcap record's timestamp is the wall clock of the run.
    _, first = _run_once()
    _, second = _run_once()
    if first != second:
        a = [render_frame(f) for f in first]
        b = [render_frame(f) for f in second]
        raise AssertionError("two replays of the same capture differ:\n" + "\n".join(
            difflib.unified_diff(a, b, "first run", "second run", lineterm="", n=1)) +
            ("" if a != b else "\n(the rendered lines agree: the difference is in bytes the rendering "
                               "does not show, such as a checksum's value)"))
    assert len(first) > 0
