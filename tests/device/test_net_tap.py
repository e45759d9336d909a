"""linerate-server on net_tap with the Linux kernel as its peer.

The server runs inside a namespace the test creates; DPDK's net_tap makes the tap
`lr0` there, the kernel side gets 198.18.0.1/24 and the stack is 198.18.0.2/24.
"""
import re

import pytest
import shutil
import tempfile
import pathlib

from conftest import SOURCE_ROOT, SERVER, run

NET_TAP = SOURCE_ROOT / "drivers-config" / "net_tap.toml"
STACK = "198.18.0.2"
KERNEL = "198.18.0.1/24"


def bring_up_kernel_side(ns):
    run("ip", "-n", ns, "addr", "add", KERNEL, "dev", "lr0")
    run("ip", "-n", ns, "link", "set", "lr0", "up")


def test_kernel_pings_the_stack_20_times(netns, server_in):
    srv = server_in(netns, NET_TAP)
    srv.wait_running()
    bring_up_kernel_side(netns)

    ping = run("ip", "netns", "exec", netns, "ping", "-c", "20", "-i", "0.05", "-W", "2", STACK, check=False,
               timeout=60)
    assert " 20 received" in ping.stdout, ping.stdout + ping.stderr

    # The kernel learned the stack's MAC through our ARP reply.
    neigh = run("ip", "-n", netns, "neigh", "show", STACK, "dev", "lr0").stdout
    assert f"lladdr {srv.mac()}" in neigh, neigh

    assert srv.stop() == 0, srv.stderr()
    c = srv.counters()
    assert c["IcmpInEchos"] == 20, c
    assert c["IcmpOutEchoReps"] == 20, c
    assert c["ArpOutReplies"] >= 1, c
    assert c["TxFrames"] == c["IcmpOutEchoReps"] + c["ArpOutReplies"] + c["ArpOutRequests"], c


def test_sigint_also_stops_with_status_0(netns, server_in):
    import signal
    srv = server_in(netns, NET_TAP)
    srv.wait_running()
    assert srv.stop(signal.SIGINT) == 0, srv.stderr()
    assert "IcmpInEchos" in srv.stdout()


def test_stops_by_itself_after_duration(netns, server_in):
    srv = server_in(netns, NET_TAP, duration=1)
    srv.wait_running()
    assert srv.proc.wait(timeout=30) == 0, srv.stderr()
    srv.close()
    assert "counters:" in srv.stdout()


def test_frames_the_stack_does_not_handle_are_counted_by_reason(netns, server_in):
    """Traffic other than ARP and echo is dropped and counted, never lost silently:
    UDP to the stack (unknown protocol) and ICMP timestamp requests (unsupported
    type) are sent with scapy from the kernel side."""
    srv = server_in(netns, NET_TAP)
    srv.wait_running()
    bring_up_kernel_side(netns)
    run("ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "2", STACK, check=False, timeout=30)
    script = (
        "from scapy.all import *\n"
        "conf.verb = 0\n"
        f"sendp([Ether(dst='{srv.mac()}')/IP(src='198.18.0.1', dst='{STACK}')/UDP(dport=9)/b'x'] * 3, iface='lr0')\n"
        f"sendp([Ether(dst='{srv.mac()}')/IP(src='198.18.0.1', dst='{STACK}')/ICMP(type=13)] * 2, iface='lr0')\n"
        f"sendp([Ether(dst='{srv.mac()}')/IP(src='198.18.0.1', dst='198.18.0.77')/ICMP()] * 4, iface='lr0')\n"
    )
    run("ip", "netns", "exec", netns, "/usr/bin/python3", "-c", script, timeout=60)
    # The frames above were sent before this echo request on the same link, and the
    # stack's loop takes a queue in order: once the reply is back, every one of them
    # has been counted. A few tries, in case the kernel itself loses the request.
    for _ in range(5):
        if run("ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "2", STACK, check=False,
               timeout=30).returncode == 0:
            break
    else:
        raise AssertionError("the stack answered no echo request after the frames")
    assert srv.stop() == 0, srv.stderr()
    c = srv.counters()
    assert c.get("ipv4_unknown_protocol") == 3, c
    assert c.get("icmp_unsupported_type") == 2, c
    assert c.get("ipv4_not_for_us") == 4, c
    assert c["IpInUnknownProtos"] == 3, c
    assert c["IpInAddrErrors"] == 4, c


def test_broken_config_names_file_and_line_and_touches_no_device(netns):
    text = NET_TAP.read_text().splitlines()
    line = next(i for i, l in enumerate(text, 1) if re.match(r"\s*mtu\s*=", l))
    text[line - 1] = "mtu = 99999"
    with tempfile.TemporaryDirectory() as d:
        bad = pathlib.Path(d) / "broken.toml"
        bad.write_text("\n".join(text) + "\n")
        r = run("ip", "netns", "exec", netns, str(SERVER), "--", "--config", str(bad), check=False, timeout=30)
    assert r.returncode != 0
    assert r.stderr.startswith(f"{bad}:{line}: "), r.stderr
    assert "mtu" in r.stderr
    # No device was touched: the tap was never created.
    links = run("ip", "-n", netns, "-o", "link").stdout
    assert "lr0" not in links, links


def test_help_documents_every_option():
    r = run(str(SERVER), "--help")
    assert r.returncode == 0
    for opt in ("--config", "--duration", "--log-level", "--check-config", "--all-counters", "--listen", "--mode",
                "--response-size", "--lcores", "--stats-interval", "--json", "EAL"):
        assert opt in r.stdout, r.stdout


def test_every_shipped_config_is_valid():
    for cfg in sorted((SOURCE_ROOT / "drivers-config").glob("*.toml")):
        r = run(str(SERVER), "--config", str(cfg), "--check-config", check=False)
        assert r.returncode == 0, f"{cfg}: {r.stdout}{r.stderr}"


def vlan_config(tmp_path, vid=100):
    config = tmp_path / "vlan.toml"
    config.write_text(NET_TAP.read_text().replace('address = "198.18.0.2/24"', f'address = "198.18.0.2/24"\nvlan = {vid}'))
    return config


def test_vlan_the_kernel_on_a_vlan_interface_pings_and_fetches_1000_pages(netns, server_in, tmp_path):
    # vlan = 100 on the port: the kernel talks to the stack through lr0.100, a VLAN
    # sub-interface of the tap, so every frame both ways carries an 802.1Q tag.
    srv = server_in(netns, vlan_config(tmp_path), extra=("--mode", "respond", "--response-size", "256"))
    srv.wait_running()
    run("ip", "-n", netns, "link", "set", "lr0", "up")
    made = run("ip", "-n", netns, "link", "add", "link", "lr0", "name", "lr0.100", "type", "vlan", "id", "100",
               check=False)
    if made.returncode != 0:
        pytest.skip("this kernel has no 802.1Q VLAN support (" + made.stderr.strip() + "); "
                    "test_vlan_tagged_frames_from_scapy covers the tags on the wire")
    run("ip", "-n", netns, "addr", "add", KERNEL, "dev", "lr0.100")
    run("ip", "-n", netns, "link", "set", "lr0.100", "up")
    ping = run("ip", "netns", "exec", netns, "ping", "-c", "5", "-i", "0.05", "-W", "2", STACK, check=False,
               timeout=60)
    assert " 5 received" in ping.stdout, ping.stdout + ping.stderr
    # 1,000 pages, each on a new connection (the server closes first), through one curl.
    curl = run("ip", "netns", "exec", netns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}\\n",
               f"http://{STACK}/[1-1000]", check=False, timeout=300)
    codes = curl.stdout.split()
    assert curl.returncode == 0 and codes.count("200") == 1000 and codes.count("256") == 1000, curl.stdout[-500:]
    assert srv.stop() == 0, srv.stderr()
    c = srv.counters()
    assert c["PassiveOpens"] == 1000 and c["IcmpInEchos"] == 5, c


def test_vlan_tagged_frames_from_scapy(netns, server_in, tmp_path):
    # The tags on the wire, checked by an implementation other than ours: scapy sends
    # 802.1Q frames on the tap's kernel side (a raw socket, no VLAN support needed in
    # the kernel) and reads what comes back. ARP, echo and a TCP handshake tagged 100
    # are answered tagged 100; an untagged echo and one tagged 200 are not answered,
    # and are counted.
    srv = server_in(netns, vlan_config(tmp_path), extra=("--mode", "respond"))
    srv.wait_running()
    run("ip", "-n", netns, "link", "set", "lr0", "up")
    script = f"""
import sys
from scapy.all import *
conf.verb = 0
K = '02:00:00:00:aa:01'
S = '{srv.mac()}'
def tagged(p, vid):
    return p is not None and Dot1Q in p and p[Dot1Q].vlan == vid
arp = srp1(Ether(src=K, dst='ff:ff:ff:ff:ff:ff')/Dot1Q(vlan=100)/ARP(op=1, hwsrc=K, psrc='198.18.0.1', pdst='{STACK}'),
           iface='lr0', timeout=3)
assert tagged(arp, 100) and arp[ARP].op == 2 and arp[ARP].hwsrc == S and arp[ARP].hwdst == K, repr(arp)
echo = srp1(Ether(src=K, dst=S)/Dot1Q(vlan=100)/IP(src='198.18.0.1', dst='{STACK}')/ICMP(id=7, seq=1)/b'vlan',
            iface='lr0', timeout=3)
assert tagged(echo, 100) and echo[ICMP].type == 0 and echo[ICMP].id == 7, repr(echo)
synack = srp1(Ether(src=K, dst=S)/Dot1Q(vlan=100)/IP(src='198.18.0.1', dst='{STACK}')/TCP(sport=40001, dport=80,
              flags='S', seq=1000, options=[('MSS', 1460)]), iface='lr0', timeout=3)
assert tagged(synack, 100) and synack[TCP].flags == 'SA' and synack[TCP].ack == 1001, repr(synack)
# The checksums are right with the tag in front (recomputed by scapy).
sent = synack[IP].chksum, synack[TCP].chksum
del synack[IP].chksum, synack[TCP].chksum
again = Ether(raw(synack))
assert (again[IP].chksum, again[TCP].chksum) == sent, (sent, again[IP].chksum, again[TCP].chksum)
sendp(Ether(src=K, dst=S)/Dot1Q(vlan=100)/IP(src='198.18.0.1', dst='{STACK}')/TCP(sport=40001, dport=80, flags='R',
      seq=1001), iface='lr0')
for p in (Ether(src=K, dst=S)/IP(src='198.18.0.1', dst='{STACK}')/ICMP(id=8),
          Ether(src=K, dst=S)/Dot1Q(vlan=200)/IP(src='198.18.0.1', dst='{STACK}')/ICMP(id=9)):
    assert srp1(p, iface='lr0', timeout=1) is None
print('ok')
"""
    r = run("ip", "netns", "exec", netns, "/usr/bin/python3", "-c", script, check=False, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
    assert srv.stop() == 0, srv.stderr()
    c = srv.counters()
    assert c["IcmpInEchos"] == 1 and c["ArpOutReplies"] == 1 and c["PassiveOpens"] == 0, c
    # The untagged echo and VLAN 200's (and whatever else the kernel sent untagged on
    # lr0: its IPv6 router solicitations) are not the port's.
    assert c.get("vlan_mismatch", 0) >= 2, c
