"""The virtual-device files that have no kernel peer work as committed: net_pcap.toml
replays a capture, the two memif files link up with each other, net_ring.toml starts.

These are smoke tests of the files themselves (devargs the driver accepts, EAL arguments
the driver can live with, what the comments promise about MACs and sockets); replays, the
memif pair and the ring loopback under load are tested elsewhere (test_pcap_golden.py,
test_client_memif.py, test_client_ring.py). memif needs DPDK's shared configuration, so
each instance gets a --file-prefix of its own on the command line (overriding the
file's) and its runtime directory is removed afterwards; the pair runs inside a
namespace of its own, which also scopes the abstract socket the two ends meet on.
"""
import json
import pathlib
import shutil
import subprocess
import tempfile
import tomllib

from conftest import SERVER, SOURCE_ROOT, run

CONFIG_DIR = SOURCE_ROOT / "drivers-config"
ISN_KEY = "000102030405060708090a0b0c0d0e0f"
PCAP_MAC = "02:70:63:61:70:00"  # net_pcap's own, as net_pcap.toml says
PEER_MAC = "02:00:00:00:06:01"


def port_of(committed):
    return tomllib.loads(committed.read_text())["port"][0]


def replay(workdir, config):
    r = subprocess.run([str(SERVER), "--", "--config", str(config), "--duration", "1", "--stats-interval", "0",
                        "--isn-key", ISN_KEY, "--frozen-clock"],
                       cwd=workdir, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    from scapy.all import rdpcap
    return rdpcap(str(workdir / "out.pcap"))


def test_net_pcap_replays_from_the_working_directory_reproducibly():
    from scapy.all import ARP, IP, TCP, Ether, wrpcap

    config = CONFIG_DIR / "net_pcap.toml"
    port = port_of(config)
    stack_ip = port["address"].split("/")[0]
    peer_ip = port["gateway"]
    with tempfile.TemporaryDirectory() as d:
        work = pathlib.Path(d)
        # What the file tells capture writers: the peer's ARP request first, then frames
        # to net_pcap's fixed MAC.
        wrpcap(str(work / "in.pcap"), [
            Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=PEER_MAC, psrc=peer_ip, pdst=stack_ip),
            Ether(src=PEER_MAC, dst=PCAP_MAC) / IP(src=peer_ip, dst=stack_ip) /
            TCP(sport=40000, dport=80, flags="S", seq=1000),
        ])
        out = replay(work, config)
        again = replay(work, config)

    # Frame for frame (the capture's timestamps differ, not what was sent).
    assert [bytes(p) for p in out] == [bytes(p) for p in again], "the same in.pcap gave different frames"
    replies = [p for p in out if ARP in p and p[ARP].op == 2]
    assert replies and replies[0][ARP].hwsrc == PCAP_MAC and replies[0][ARP].psrc == stack_ip, out.summary()
    synacks = [p for p in out if TCP in p and p[TCP].flags == "SA"]
    assert synacks, out.summary()
    s = synacks[0]
    assert (s[Ether].src, s[Ether].dst) == (PCAP_MAC, PEER_MAC)
    assert (s[IP].src, s[IP].dst, s[TCP].sport, s[TCP].dport, s[TCP].ack) == (stack_ip, peer_ip, 80, 40000, 1001)


def link_status(prefix):
    r = run("dpdk-telemetry.py", "-f", prefix, input="/ethdev/link_status,0\n", timeout=20)
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and "/ethdev/link_status" in line:
            return json.loads(line)["/ethdev/link_status"]["status"]
    raise AssertionError(f"no answer from {prefix}: {r.stdout} {r.stderr}")


def test_net_memif_server_and_client_files_link_up(netns, server_in):
    prefixes = [f"{netns}-memif-server", f"{netns}-memif-client"]
    try:
        # The server first: the client's port connects when it starts (the files say so).
        server = server_in(netns, CONFIG_DIR / "net_memif_server.toml", eal=("--file-prefix", prefixes[0]),
                           extra=("--stats-interval", "0"), duration=30)
        server.wait_running(timeout=20)
        # linerate-server on the client-role file: the port starts only once connected.
        client = server_in(netns, CONFIG_DIR / "net_memif_client.toml", eal=("--file-prefix", prefixes[1]),
                           extra=("--stats-interval", "0"), duration=30)
        client.wait_running(timeout=20)
        assert "mac 02:00:00:00:01:02" in server.stderr(), server.stderr()
        assert "mac 02:00:00:00:01:01" in client.stderr(), client.stderr()
        # The command line's --file-prefix replaced the file's.
        for p in prefixes:
            assert pathlib.Path("/var/run/dpdk", p).is_dir(), p
        assert link_status(prefixes[0]) == "UP"
        assert link_status(prefixes[1]) == "UP"
        # Both ends meet on the abstract socket the files describe.
        sockets = run("ip", "netns", "exec", netns, "ss", "-xl").stdout
        assert "@/run/memif.sock" in sockets, sockets
        assert client.stop() == 0, client.stderr()
        assert server.stop() == 0, server.stderr()
    finally:
        for p in prefixes:
            shutil.rmtree(pathlib.Path("/var/run/dpdk", p), ignore_errors=True)


def test_net_ring_starts_as_a_loopback_with_the_mac_it_documents():
    r = subprocess.run([str(SERVER), "--", "--config", str(CONFIG_DIR / "net_ring.toml"), "--duration", "1",
                        "--stats-interval", "0"], cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "running;" in r.stderr, r.stderr
    # net_ring.toml: "it reports 00:00:00:00:00:00" and cannot set another.
    assert "mac 00:00:00:00:00:00" in r.stderr, r.stderr
