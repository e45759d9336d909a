"""The kernel-facing virtual-device files, run for real with the Linux kernel as the peer:
drivers-config/af_packet.toml and af_xdp.toml on a veth pair, virtio_user.toml on the tap
that vhost-net serves.

Each test makes its own network namespace and its own interfaces in it, derives its
configuration from the committed file (only the interface name and the addresses are
replaced, and each replacement must match exactly once, so a file whose layout changes
fails here instead of being tested by accident), runs linerate-server in respond mode,
and has curl fetch pages from it, each on a new connection. What a test cannot run on
this machine it skips, saying why.
"""
import gzip
import os
import re
import socket
import tempfile
import pathlib
import time

import pytest

from conftest import SOURCE_ROOT, run

CONFIG_DIR = SOURCE_ROOT / "drivers-config"
PAGES = 200
BODY = 1000
IFACE = "lrt0"   # linerate's end (the veth end DPDK opens, or the tap vhost-net serves)
PEER = "lrt1"    # the kernel's end of the veth


def derive_config(committed, tmp, address, gateway):
    """The committed file with its interface renamed to IFACE and its addresses replaced."""
    text = committed.read_text()
    text, n = re.subn(r'(?m)^(vdev = "[^"]*\biface=)[^,"]+', r"\g<1>" + IFACE, text)
    assert n == 1, f"{committed.name}: no single vdev line with iface="
    text, n = re.subn(r'(?m)^address = "[^"]*"$', f'address = "{address}"', text)
    assert n == 1, f"{committed.name}: no single address line"
    text, n = re.subn(r'(?m)^gateway = "[^"]*"$', f'gateway = "{gateway}"', text)
    assert n == 1, f"{committed.name}: no single gateway line"
    path = tmp / committed.name
    path.write_text(text)
    return path


def make_veth(ns, kernel_address, checksum_offload=False):
    """IFACE <-> PEER inside ns; the kernel is PEER, IFACE is left without an address."""
    run("ip", "-n", ns, "link", "add", IFACE, "type", "veth", "peer", "name", PEER)
    if not checksum_offload:
        # What the files tell the peer to do: send complete checksums (see af_packet.toml).
        run("ip", "netns", "exec", ns, "ethtool", "-K", PEER, "tx", "off")
    # Keep the kernel quiet on linerate's end (no IPv6 router solicitations to count).
    run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{IFACE}.disable_ipv6=1", check=False)
    run("ip", "-n", ns, "addr", "add", kernel_address, "dev", PEER)
    run("ip", "-n", ns, "link", "set", IFACE, "up")
    run("ip", "-n", ns, "link", "set", PEER, "up")


def fetch_pages(ns, tmp, stack_ip, count=PAGES, max_time=5, timeout=60):
    """curl fetches `count` pages, each on a new connection (the server closes); returns
    how many came back whole."""
    # The first SYN would otherwise wait for the kernel's ARP resolution.
    run("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", stack_ip, check=False)
    urls = tmp / "urls"
    urls.write_text("".join(f'url = "http://{stack_ip}/{i}"\noutput = "/dev/null"\n' for i in range(count)))
    r = run("ip", "netns", "exec", ns, "curl", "-sS", "--max-time", str(max_time), "-w",
            "%{http_code} %{size_download}\\n", "-K", str(urls), check=False, timeout=timeout)
    return sum(1 for line in r.stdout.splitlines() if line == f"200 {BODY}"), r


def start_server(server_in, ns, cfg):
    srv = server_in(ns, cfg, extra=("--mode", "respond", "--response-size", str(BODY), "--stats-interval", "0"),
                    duration=60)
    srv.wait_running(timeout=20)
    return srv


def check_served(srv, count=PAGES):
    assert srv.stop() == 0, srv.stderr()
    c = srv.counters()
    assert c["PassiveOpens"] == count, c
    assert c["Responses"] == count, c
    assert c["InCsumErrors"] == 0, c
    assert c["InErrs"] == 0, c
    assert c["OutRsts"] == 0, c
    return c


def af_xdp_missing():
    """Why AF_XDP cannot run here, or None."""
    try:
        socket.socket(44, socket.SOCK_RAW, 0).close()  # AF_XDP
    except OSError as e:
        return f"the kernel has no AF_XDP sockets ({e.strerror}): it needs CONFIG_XDP_SOCKETS=y"
    return None


def vhost_net_missing():
    """Why virtio-user's vhost-kernel backend cannot run here, or None."""
    if os.path.exists("/dev/vhost-net"):
        return None
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            config = f.read()
    except OSError:
        config = ""
    if "# CONFIG_VHOST_NET is not set" in config:
        return ("no /dev/vhost-net: this kernel is built without CONFIG_VHOST_NET (/proc/config.gz), so "
                "virtio-user has no vhost-kernel backend to talk to")
    return "no /dev/vhost-net: load the vhost_net module (modprobe vhost_net)"


def test_af_packet_kernel_fetches_pages(netns, server_in):
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        cfg = derive_config(CONFIG_DIR / "af_packet.toml", tmp, "198.18.33.2/24", "198.18.33.1")
        make_veth(netns, "198.18.33.1/24")
        srv = start_server(server_in, netns, cfg)
        got, r = fetch_pages(netns, tmp, "198.18.33.2")
        assert got == PAGES, r.stdout[-2000:] + r.stderr[-2000:] + srv.stderr()
    check_served(srv)


def test_af_packet_without_tx_off_the_kernels_partial_checksums_are_dropped(netns, server_in):
    """Why af_packet.toml (and af_xdp.toml) tell the peer `ethtool -K PEER tx off`: a veth
    lets the kernel leave its TCP checksums unfinished, and linerate drops them."""
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        cfg = derive_config(CONFIG_DIR / "af_packet.toml", tmp, "198.18.33.2/24", "198.18.33.1")
        make_veth(netns, "198.18.33.1/24", checksum_offload=True)
        srv = start_server(server_in, netns, cfg)
        got, _ = fetch_pages(netns, tmp, "198.18.33.2", count=1, max_time=2, timeout=20)
        assert got == 0
    assert srv.stop() == 0, srv.stderr()
    c = srv.counters()
    assert c["PassiveOpens"] == 0, c
    assert c["InCsumErrors"] > 0, c


def test_af_xdp_kernel_fetches_pages(netns, server_in):
    if why := af_xdp_missing():
        pytest.skip(why)
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        cfg = derive_config(CONFIG_DIR / "af_xdp.toml", tmp, "198.18.34.2/24", "198.18.34.1")
        make_veth(netns, "198.18.34.1/24")
        srv = start_server(server_in, netns, cfg)
        # The file says a veth runs the program in driver mode ("xdp", not "xdpgeneric").
        link = run("ip", "-n", netns, "link", "show", IFACE).stdout
        assert "prog/xdp" in link, link
        assert re.search(r"\sxdp\s", link), "not attached in driver mode:\n" + link
        got, r = fetch_pages(netns, tmp, "198.18.34.2")
        assert got == PAGES, r.stdout[-2000:] + r.stderr[-2000:] + srv.stderr()
    check_served(srv)


def test_virtio_user_kernel_fetches_pages(netns, server_in):
    if why := vhost_net_missing():
        pytest.skip(why)
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        cfg = derive_config(CONFIG_DIR / "virtio_user.toml", tmp, "198.18.35.2/24", "198.18.35.1")
        srv = start_server(server_in, netns, cfg)
        # vhost-net's tap exists once the port has started; it carries the port's own MAC
        # until the kernel side takes one of its own, as the file says to do.
        deadline = time.monotonic() + 10
        while run("ip", "-n", netns, "link", "show", IFACE, check=False).returncode != 0:
            assert time.monotonic() < deadline, "no tap " + IFACE + ":\n" + srv.stderr()
            time.sleep(0.1)
        run("ip", "-n", netns, "link", "set", IFACE, "address", "02:00:00:00:35:01")
        run("ip", "-n", netns, "addr", "add", "198.18.35.1/24", "dev", IFACE)
        run("ip", "-n", netns, "link", "set", IFACE, "up")
        got, r = fetch_pages(netns, tmp, "198.18.35.2")
        assert got == PAGES, r.stdout[-2000:] + r.stderr[-2000:] + srv.stderr()
    check_served(srv)
