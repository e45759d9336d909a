"""Every file in drivers-config/ is a configuration linerate accepts.

`linerate-server -- --config FILE --check-config` loads and validates a file without
touching a device, so this runs for the NIC files too (which nothing here can start).
The addresses in the files must come from the RFC 2544 benchmarking range, and the
files must not name paths of the machine they were written on.
"""
import ipaddress
import pathlib
import re
import tempfile
import tomllib

import pytest

from conftest import SERVER, SOURCE_ROOT, run

CONFIG_DIR = SOURCE_ROOT / "drivers-config"
FILES = sorted(CONFIG_DIR.glob("*.toml"))
BENCHMARKING = ipaddress.ip_network("198.18.0.0/15")


@pytest.fixture(autouse=True)
def _need_root():
    """Checking a file needs no privilege: this overrides conftest's root check."""


def test_the_set_is_there():
    names = {f.name for f in FILES}
    for want in ("net_tap.toml", "net_pcap.toml", "net_memif_server.toml", "net_memif_client.toml",
                 "net_ring.toml", "af_packet.toml", "af_xdp.toml", "virtio_user.toml", "mlx5.toml", "ice.toml",
                 "i40e.toml", "ixgbe.toml"):
        assert want in names, f"drivers-config/{want} is missing"


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_check_config_accepts_it(path):
    r = run(str(SERVER), "--", "--config", str(path), "--check-config", check=False, cwd=SOURCE_ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == f"{path}: ok", r.stdout


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_addresses_are_in_the_benchmarking_range(path):
    cfg = tomllib.loads(path.read_text())
    for port in cfg["port"]:
        address = ipaddress.ip_interface(port["address"])
        assert address.network.subnet_of(BENCHMARKING), f"{path.name}: {address} is outside {BENCHMARKING}"
        if "gateway" in port:
            assert ipaddress.ip_address(port["gateway"]) in BENCHMARKING, f"{path.name}: gateway {port['gateway']}"
    # Commented examples count too: a user uncomments them.
    for m in re.finditer(r"\b(\d{1,3}(?:\.\d{1,3}){3})(?:/\d+)?\b", path.read_text()):
        addr = ipaddress.ip_address(m.group(1))
        assert addr in BENCHMARKING or addr.is_unspecified, f"{path.name}: {m.group(0)} is outside {BENCHMARKING}"


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_no_paths_of_the_machine_it_was_written_on(path):
    text = path.read_text()
    # The places a path of the author's machine would come from, asked of this machine
    # rather than written down: the checkout, the home directory, the temporary directory.
    for bad in {str(SOURCE_ROOT), str(pathlib.Path.home()), tempfile.gettempdir()}:
        assert bad + "/" not in text, f"{path.name} names {bad}"
