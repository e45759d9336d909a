// The EAL command line built from the configuration and the command line. Pure
// logic: nothing here starts EAL or touches a device.
#include <linerate/device/device.hpp>

#include <catch2/catch.hpp>

using namespace linerate;

namespace {

config::app_config two_ports() {
    config::app_config cfg;
    cfg.eal_args = {"--no-huge", "--no-pci"};
    cfg.lcores = {0, 1};
    config::port_config tap;
    tap.name = "tap";
    tap.vdev = "net_tap0,iface=lr0";
    config::port_config nic;
    nic.name = "nic";
    nic.pci = "0000:3b:00.0";
    cfg.ports = {tap, nic};
    return cfg;
}

} // namespace

TEST_CASE("EAL arguments: the file's come first, the command line's last", "[device][eal]") {
    const std::vector<std::string> cli = {"--log-level", "lib.eal:debug", "-l", "1"};
    const auto args = device::eal_arguments(two_ports(), "linerate-server", cli);
    const std::vector<std::string> want = {
        "linerate-server", "--no-huge", "--no-pci", "-l", "0,1", "--vdev=net_tap0,iface=lr0", "--allow=0000:3b:00.0",
        "--log-level", "lib.eal:debug", "-l", "1"};
    CHECK(args == want);
}

TEST_CASE("EAL arguments: a vdev port is found under its driver instance name", "[device][eal]") {
    CHECK(device::vdev_port_name("net_tap0,iface=lr0") == "net_tap0");
    CHECK(device::vdev_port_name("net_memif") == "net_memif");
    CHECK(device::vdev_port_name("net_pcap1,rx_pcap=a.pcap,tx_pcap=b.pcap") == "net_pcap1");
}
