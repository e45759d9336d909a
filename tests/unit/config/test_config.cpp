// Configuration loading: the shipped drivers-config files load with the values they
// document, and every kind of bad file is refused with its exact "file:line: message".
#include <linerate/config/config.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

using namespace linerate;
using namespace linerate::config;

namespace {

// A minimal valid file. Its lines:
//   1 [eal]   2 lcores   3 (blank)   4 [[port]]   5 name   6 vdev   7 address
// so whatever a test appends starts at line 8, inside [[port]].
const std::string minimal = "[eal]\n"
                            "lcores = [0]\n"
                            "\n"
                            "[[port]]\n"
                            "name = \"p0\"\n"
                            "vdev = \"net_tap0\"\n"
                            "address = \"198.18.0.2/24\"\n";

// The error text loading `text` as "t.toml" gives, or "no error".
std::string error_of(const std::string &text) {
    try {
        (void)load_string(text, "t.toml");
    } catch (const config::error &e) {
        return e.what();
    }
    return "no error";
}

std::string source_root() {
    const char *root = std::getenv("LINERATE_SOURCE_ROOT");
    return root != nullptr && *root != '\0' ? root : ".";
}

} // namespace

// --- valid files ----------------------------------------------------------------------

TEST_CASE("config: the shipped net_tap.toml loads with the values it documents", "[config][net_tap]") {
    const std::string path = source_root() + "/drivers-config/net_tap.toml";
    const app_config c = load_file(path);
    CHECK(c.source == path);
    CHECK(c.eal_args == std::vector<std::string>{"--no-huge", "--no-shconf", "--no-pci", "-m", "256"});
    CHECK(c.lcores == std::vector<unsigned>{0});
    CHECK(c.mempool.mbufs == 8191);
    CHECK(c.mempool.cache == 256);
    REQUIRE(c.ports.size() == 1);
    const port_config &p = c.ports[0];
    CHECK(p.name == "tap0");
    CHECK(p.vdev == "net_tap0,iface=lr0");
    CHECK(p.pci.empty());
    CHECK(p.rx_queues == 1);
    CHECK(p.tx_queues == 1);
    CHECK(p.rx_descriptors == 1024);
    CHECK(p.tx_descriptors == 1024);
    CHECK(p.mtu == 1500);
    CHECK(p.offloads == 0);
    CHECK(p.address.to_string() == "198.18.0.2/24");
    REQUIRE(p.gateway);
    CHECK(p.gateway->to_string() == "198.18.0.1");
    CHECK_FALSE(p.mac);
    CHECK(p.line > 0);
}

TEST_CASE("config: omitted keys take their documented defaults", "[config]") {
    const app_config c = load_string(minimal, "t.toml");
    CHECK(c.source == "t.toml");
    CHECK(c.eal_args.empty());
    CHECK(c.mempool.mbufs == 8191);
    CHECK(c.mempool.cache == 256);
    REQUIRE(c.ports.size() == 1);
    const port_config &p = c.ports[0];
    CHECK(p.rx_queues == 1);
    CHECK(p.tx_queues == 1);
    CHECK(p.rx_descriptors == 1024);
    CHECK(p.tx_descriptors == 1024);
    CHECK(p.mtu == 1500);
    CHECK(p.offloads == 0);
    CHECK_FALSE(p.gateway);
    CHECK_FALSE(p.mac);
    CHECK(p.line == 4);
}

TEST_CASE("config: every key of a full file is read", "[config]") {
    const app_config c = load_string(R"(
[eal]
args = ["--no-huge", "-m", "512"]
lcores = [2, 0, 5]

[mempool]
mbufs = 65535
cache = 512

[[port]]
name = "nic-0_a"
pci = "0000:3b:00.1"
rx_queues = 64
tx_queues = 3
rx_descriptors = 32768
tx_descriptors = 64
mtu = 9600
offloads = ["tso", "ipv4_cksum", "rss", "tcp_cksum"]
address = "10.1.2.3/31"
gateway = "10.1.2.2"
mac = "02:00:00:aa:bb:cc"

[[port]]
name = "tap"
vdev = "net_tap1,iface=lr1"
address = "198.19.0.1/32"
mtu = 68

[tcp]
)",
                                     "full.toml");
    CHECK(c.eal_args == std::vector<std::string>{"--no-huge", "-m", "512"});
    CHECK(c.lcores == std::vector<unsigned>{2, 0, 5});
    CHECK(c.mempool.mbufs == 65535);
    CHECK(c.mempool.cache == 512);
    REQUIRE(c.ports.size() == 2);
    const port_config &p = c.ports[0];
    CHECK(p.name == "nic-0_a");
    CHECK(p.pci == "0000:3b:00.1");
    CHECK(p.vdev.empty());
    CHECK(p.rx_queues == 64);
    CHECK(p.tx_queues == 3);
    CHECK(p.rx_descriptors == 32768);
    CHECK(p.tx_descriptors == 64);
    CHECK(p.mtu == 9600);
    CHECK(p.offloads == (bit(offload::ipv4_cksum) | bit(offload::tcp_cksum) | bit(offload::rss) | bit(offload::tso)));
    CHECK(p.has_offload(offload::tso));
    CHECK(p.address.to_string() == "10.1.2.3/31");
    CHECK(p.gateway == ipv4_addr::from_octets(10, 1, 2, 2));
    CHECK(p.mac == mac_addr::parse("02:00:00:aa:bb:cc"));
    CHECK(p.line == 10);
    CHECK(c.ports[1].name == "tap");
    CHECK(c.ports[1].mtu == 68);
    CHECK(c.ports[1].line == 23);
}

TEST_CASE("config: offload names print as they are written", "[config]") {
    CHECK(to_string(offload::ipv4_cksum) == "ipv4_cksum");
    CHECK(to_string(offload::tso) == "tso");
    CHECK(has(bit(offload::rss) | bit(offload::tso), offload::rss));
    CHECK_FALSE(has(bit(offload::rss), offload::tcp_cksum));
}

TEST_CASE("config: a /31 host may use either address, a /32 is a single host", "[config]") {
    CHECK(error_of(R"([eal]
lcores = [0]
[[port]]
name = "a"
vdev = "net_tap0"
address = "198.18.0.0/31"
gateway = "198.18.0.1"
)") == "no error");
    CHECK(error_of(R"([eal]
lcores = [0]
[[port]]
name = "a"
vdev = "net_tap0"
address = "198.18.0.255/32"
)") == "no error");
}

TEST_CASE("config: 32 ports are accepted", "[config]") {
    std::string text = "[eal]\nlcores = [0]\n";
    for (int i = 0; i < 32; ++i)
        text += "[[port]]\nname = \"p" + std::to_string(i) + "\"\nvdev = \"net_ring" + std::to_string(i) +
                "\"\naddress = \"198.18." + std::to_string(i) + ".2/24\"\n";
    CHECK(load_string(text, "t.toml").ports.size() == 32);
}

// --- the error object -----------------------------------------------------------------

TEST_CASE("config: an error carries file, line and message separately", "[config][error]") {
    try {
        (void)load_string(minimal + "mtu = 67\n", "dir/x.toml");
        FAIL("no error");
    } catch (const config::error &e) {
        CHECK(e.file() == "dir/x.toml");
        CHECK(e.line() == 8);
        CHECK(e.message() == "port.mtu: 67 is out of range [68, 9600]");
        CHECK(std::string(e.what()) == "dir/x.toml:8: port.mtu: 67 is out of range [68, 9600]");
    }
}

TEST_CASE("config: a missing file is an error without a line", "[config][error]") {
    try {
        (void)load_file("no/such/file.toml");
        FAIL("no error");
    } catch (const config::error &e) {
        CHECK(e.line() == 0);
        CHECK(std::string(e.what()) == "no/such/file.toml: cannot read: No such file or directory");
    }
}

TEST_CASE("config: a directory given as the file is an error without a line", "[config][error]") {
    try {
        (void)load_file(source_root());
        FAIL("no error");
    } catch (const config::error &e) {
        CHECK(e.line() == 0);
        CHECK(std::string(e.what()) == source_root() + ": cannot read: Is a directory");
    }
}

// --- syntax and structure -------------------------------------------------------------

TEST_CASE("config: a TOML syntax error names its line", "[config][error]") {
    CHECK(error_of("[eal]\nlcores = [0]\n\n[[port]]\nname = \n") ==
          "t.toml:5: Error while parsing key-value pair: expected value, saw '\\n'");
    CHECK(error_of(minimal + "name = \"again\"\n").rfind("t.toml:8: ", 0) == 0);
}

TEST_CASE("config: an unknown top-level key is refused with a suggestion", "[config][error]") {
    CHECK(error_of(minimal + "[tpc]\n") == "t.toml:8: unknown key 'tpc' at the top level (did you mean 'tcp'?)");
    CHECK(error_of("verbose = true\n" + minimal) ==
          "t.toml:1: unknown key 'verbose' at the top level (valid: eal, mempool, port, tcp)");
}

TEST_CASE("config: an unknown key in [eal] is refused with a suggestion", "[config][error]") {
    CHECK(error_of("[eal]\nlcores = [0]\nlcore = 1\n") ==
          "t.toml:3: unknown key 'lcore' in [eal] (did you mean 'lcores'?)");
    CHECK(error_of("[eal]\nlcores = [0]\n[eal.sub]\nx = 1\n") ==
          "t.toml:3: unknown key 'sub' in [eal] (valid: args, lcores)");
}

TEST_CASE("config: an unknown key in [mempool] is refused with a suggestion", "[config][error]") {
    CHECK(error_of(minimal + "[mempool]\nmbuf = 4095\n") ==
          "t.toml:9: unknown key 'mbuf' in [mempool] (did you mean 'mbufs'?)");
}

TEST_CASE("config: an unknown key in [[port]] is refused with a suggestion", "[config][error]") {
    CHECK(error_of(minimal + "rx_queue = 2\n") ==
          "t.toml:8: unknown key 'rx_queue' in [[port]] (did you mean 'rx_queues'?)");
    CHECK(error_of(minimal + "MTU = 1500\n") == "t.toml:8: unknown key 'MTU' in [[port]] (did you mean 'mtu'?)");
    CHECK(error_of(minimal + "speed = 10\n") ==
          "t.toml:8: unknown key 'speed' in [[port]] (valid: name, vdev, pci, rx_queues, tx_queues, "
          "rx_descriptors, tx_descriptors, mtu, vlan, offloads, address, gateway, mac)");
}

TEST_CASE("config: [tcp] keys load with their values", "[config][tcp]") {
    const app_config c = load_string(minimal + "[tcp]\n"
                                               "timestamps = false\n"
                                               "msl_ms = 500\n"
                                               "delayed_ack_ms = 0\n"
                                               "syn_backlog = 4096\n"
                                               "rto_min_ms = 50\n"
                                               "rto_max_ms = 60000\n"
                                               "keepalive = true\n"
                                               "syn_cookies = \"always\"\n",
                                     "t.toml");
    CHECK_FALSE(c.tcp.timestamps);
    CHECK(c.tcp.sack); // untouched keys keep their defaults
    CHECK(c.tcp.msl_ms == 500);
    CHECK(c.tcp.delayed_ack_ms == 0);
    CHECK(c.tcp.syn_backlog == 4096);
    CHECK(c.tcp.rto_min_ms == 50);
    CHECK(c.tcp.rto_max_ms == 60000);
    CHECK(c.tcp.keepalive);
    CHECK(c.tcp.syn_cookies == tcp_config::syn_cookies_mode::always);
    // RFC 4987 §3.6, as Linux's default: cookies while a SYN queue is full.
    CHECK(load_string(minimal, "t.toml").tcp.syn_cookies == tcp_config::syn_cookies_mode::automatic);
    CHECK(load_string(minimal + "[tcp]\nsyn_cookies = \"off\"\n", "t.toml").tcp.syn_cookies ==
          tcp_config::syn_cookies_mode::off);
}

TEST_CASE("config: [tcp] refuses unknown keys, wrong types and values out of range", "[config][tcp][error]") {
    CHECK(error_of(minimal + "[tcp]\ntimestamp = true\n") ==
          "t.toml:9: unknown key 'timestamp' in [tcp] (did you mean 'timestamps'?)");
    CHECK(error_of(minimal + "[tcp]\nmsl_m = 10\n") == "t.toml:9: unknown key 'msl_m' in [tcp] (did you mean 'msl_ms'?)");
    CHECK_THAT(error_of(minimal + "[tcp]\ntime_wait = 10\n"),
               Catch::StartsWith("t.toml:9: unknown key 'time_wait' in [tcp] (valid: window_scaling, sack, timestamps,"));
    CHECK(error_of(minimal + "[tcp]\nsack = 1\n") == "t.toml:9: tcp.sack: expected a boolean, got integer");
    CHECK(error_of(minimal + "[tcp]\nsyn_retries = true\n") ==
          "t.toml:9: tcp.syn_retries: expected an integer, got boolean");
    // RFC 9293 MUST-40: an ACK is never delayed more than 500 ms.
    CHECK(error_of(minimal + "[tcp]\ndelayed_ack_ms = 501\n") ==
          "t.toml:9: tcp.delayed_ack_ms: 501 is out of range [0, 500]");
    CHECK(error_of(minimal + "[tcp]\nsyn_retries = 0\n") == "t.toml:9: tcp.syn_retries: 0 is out of range [1, 255]");
    CHECK(error_of(minimal + "[tcp]\nrto_min_ms = 300\nrto_max_ms = 200\n") ==
          "t.toml:10: tcp.rto_max_ms: 200 is below tcp.rto_min_ms = 300");
    CHECK(error_of(minimal + "[tcp]\nsyn_cookies = \"sometimes\"\n") ==
          "t.toml:9: tcp.syn_cookies: 'sometimes' is not one of 'auto', 'always', 'off'");
    CHECK(error_of(minimal + "[tcp]\nsyn_cookies = true\n") == "t.toml:9: tcp.syn_cookies: expected a string, got boolean");
    CHECK(error_of(minimal + "[tcp]\n") == "no error");
}

TEST_CASE("config: the first error in the file is the one reported", "[config][error]") {
    // toml++ keeps keys sorted by name; the loader still walks them in file order.
    CHECK(error_of(minimal + "zzz = 1\nmtu = 1\n") == "t.toml:8: unknown key 'zzz' in [[port]] (valid: name, vdev, "
                                                      "pci, rx_queues, tx_queues, rx_descriptors, tx_descriptors, "
                                                      "mtu, vlan, offloads, address, gateway, mac)");
    CHECK(error_of(minimal + "mtu = 1\nzzz = 1\n") == "t.toml:8: port.mtu: 1 is out of range [68, 9600]");
}

TEST_CASE("config: port as a plain table instead of [[port]] is refused", "[config][error]") {
    CHECK(error_of("[eal]\nlcores = [0]\n[port]\nname = \"p0\"\n") ==
          "t.toml:3: port: expected an array of tables ([[port]]), got a table ([port])");
    CHECK(error_of("port = 3\n[eal]\nlcores = [0]\n") ==
          "t.toml:1: port: expected an array of tables ([[port]]), got integer");
    CHECK(error_of("port = [1]\n[eal]\nlcores = [0]\n") == "t.toml:1: port[0]: expected a table, got integer");
}

TEST_CASE("config: a top-level table given as a value is refused", "[config][error]") {
    CHECK(error_of("eal = 1\n") == "t.toml:1: eal: expected a table, got integer");
    CHECK(error_of("mempool = \"big\"\n" + minimal) == "t.toml:1: mempool: expected a table, got string");
    CHECK(error_of("tcp = []\n" + minimal) == "t.toml:1: tcp: expected a table, got array");
}

TEST_CASE("config: missing [eal], missing lcores and zero ports are refused", "[config][error]") {
    CHECK(error_of("[[port]]\nname = \"p0\"\nvdev = \"x\"\naddress = \"198.18.0.2/24\"\n") ==
          "t.toml:1: missing required table [eal] (it needs at least 'lcores')");
    CHECK(error_of("# comment\n\n[eal]\nargs = []\n") == "t.toml:3: missing required key 'lcores' in [eal]");
    CHECK(error_of("[eal]\nlcores = [0]\n") ==
          "t.toml:1: missing required table [[port]]: at least one port is required");
    CHECK(error_of("port = []\n[eal]\nlcores = [0]\n") == "t.toml:1: port: at least one [[port]] is required");
    CHECK(error_of("") == "t.toml:1: missing required table [eal] (it needs at least 'lcores')");
}

TEST_CASE("config: more than 32 ports are refused at the 33rd", "[config][error]") {
    std::string text = "[eal]\nlcores = [0]\n";
    for (int i = 0; i < 33; ++i)
        text += "[[port]]\nname = \"p" + std::to_string(i) + "\"\nvdev = \"net_ring" + std::to_string(i) +
                "\"\naddress = \"198.18." + std::to_string(i) + ".2/24\"\n";
    CHECK(error_of(text) == "t.toml:131: port: too many ports (at most 32, RTE_MAX_ETHPORTS)");
}

// --- [eal] ----------------------------------------------------------------------------

TEST_CASE("config: eal fields of the wrong type are refused", "[config][error]") {
    CHECK(error_of("[eal]\nlcores = \"0\"\n") == "t.toml:2: eal.lcores: expected an array of integers, got string");
    CHECK(error_of("[eal]\nlcores = [0,\n  1.5]\n") == "t.toml:3: eal.lcores[1]: expected an integer, got float");
    CHECK(error_of("[eal]\nargs = \"--no-huge\"\nlcores = [0]\n") ==
          "t.toml:2: eal.args: expected an array of strings, got string");
    CHECK(error_of("[eal]\nargs = [\"-m\", 256]\nlcores = [0]\n") ==
          "t.toml:2: eal.args[1]: expected a string, got integer");
}

TEST_CASE("config: lcores must be non-empty, unique and below 128", "[config][error]") {
    CHECK(error_of("[eal]\nlcores = []\n") == "t.toml:2: eal.lcores: must list at least one lcore");
    CHECK(error_of("[eal]\nlcores = [0, 1, 0]\n") == "t.toml:2: eal.lcores: lcore 0 is listed twice");
    CHECK(error_of("[eal]\nlcores = [127, 128]\n") == "t.toml:2: eal.lcores[1]: 128 is out of range [0, 127]");
    CHECK(error_of("[eal]\nlcores = [-1]\n") == "t.toml:2: eal.lcores[0]: -1 is out of range [0, 127]");
}

// --- [mempool] ------------------------------------------------------------------------

TEST_CASE("config: mempool mbufs out of range are refused", "[config][error]") {
    CHECK(error_of(minimal + "[mempool]\nmbufs = 1022\n") ==
          "t.toml:9: mempool.mbufs: 1022 is out of range [1023, 16777215]");
    CHECK(error_of(minimal + "[mempool]\nmbufs = 16777216\n") ==
          "t.toml:9: mempool.mbufs: 16777216 is out of range [1023, 16777215]");
    CHECK(error_of(minimal + "[mempool]\nmbufs = 8191.0\n") ==
          "t.toml:9: mempool.mbufs: expected an integer, got float");
}

TEST_CASE("config: a mempool cache above 512 is refused", "[config][error]") {
    CHECK(error_of(minimal + "[mempool]\ncache = 513\n") == "t.toml:9: mempool.cache: 513 is out of range [0, 512]");
    CHECK(error_of(minimal + "[mempool]\ncache = -1\n") == "t.toml:9: mempool.cache: -1 is out of range [0, 512]");
    // With mbufs >= 1023 and cache <= 512, DPDK's second rule (cache * 1.5 <= mbufs) always
    // holds; the loader checks it anyway in case either range changes.
    CHECK(error_of(minimal + "[mempool]\ncache = 512\nmbufs = 1023\n") == "no error");
    CHECK(error_of(minimal + "[mempool]\nmbufs = 1023\ncache = 0\n") == "no error");
}

// --- [[port]] -------------------------------------------------------------------------

TEST_CASE("config: port fields of the wrong type are refused", "[config][error]") {
    CHECK(error_of(minimal + "rx_queues = \"2\"\n") == "t.toml:8: port.rx_queues: expected an integer, got string");
    CHECK(error_of(minimal + "mtu = 1500.0\n") == "t.toml:8: port.mtu: expected an integer, got float");
    CHECK(error_of(minimal + "tx_descriptors = true\n") ==
          "t.toml:8: port.tx_descriptors: expected an integer, got boolean");
    CHECK(error_of(minimal + "offloads = \"rss\"\n") ==
          "t.toml:8: port.offloads: expected an array of strings, got string");
    CHECK(error_of(minimal + "offloads = [1]\n") == "t.toml:8: port.offloads[0]: expected a string, got integer");
    CHECK(error_of(minimal + "gateway = 1979-05-27\n") == "t.toml:8: port.gateway: expected a string, got date");
    CHECK(error_of(minimal + "mac = [2, 0]\n") == "t.toml:8: port.mac: expected a string, got array");
    CHECK(error_of("[eal]\nlcores = [0]\n[[port]]\nname = 7\n") ==
          "t.toml:4: port.name: expected a string, got integer");
    CHECK(error_of("[eal]\nlcores = [0]\n[[port]]\nname = \"a\"\nvdev = {x = 1}\n") ==
          "t.toml:5: port.vdev: expected a string, got table");
}

TEST_CASE("config: queue counts outside 1..64 are refused", "[config][error]") {
    CHECK(error_of(minimal + "rx_queues = 0\n") == "t.toml:8: port.rx_queues: 0 is out of range [1, 64]");
    CHECK(error_of(minimal + "tx_queues = 65\n") == "t.toml:8: port.tx_queues: 65 is out of range [1, 64]");
}

TEST_CASE("config: an integer too large for its field is refused, not truncated", "[config][error]") {
    CHECK(error_of(minimal + "rx_queues = 99999999999\n") ==
          "t.toml:8: port.rx_queues: 99999999999 is out of range [1, 64]");
    CHECK(error_of(minimal + "mtu = 67036\n") ==
          "t.toml:8: port.mtu: 67036 is out of range [68, 9600]"); // 1500 + 65536
    // Beyond 64 bits TOML itself refuses the number.
    CHECK(error_of(minimal + "mtu = 99999999999999999999\n").rfind("t.toml:8: ", 0) == 0);
}

TEST_CASE("config: descriptor counts must be a power of two in [64, 32768]", "[config][error]") {
    CHECK(error_of(minimal + "rx_descriptors = 1000\n") ==
          "t.toml:8: port.rx_descriptors: 1000 is not a power of two in [64, 32768]");
    CHECK(error_of(minimal + "tx_descriptors = 32\n") ==
          "t.toml:8: port.tx_descriptors: 32 is not a power of two in [64, 32768]");
    CHECK(error_of(minimal + "tx_descriptors = 65536\n") ==
          "t.toml:8: port.tx_descriptors: 65536 is not a power of two in [64, 32768]");
    CHECK(error_of(minimal + "rx_descriptors = 0\n") ==
          "t.toml:8: port.rx_descriptors: 0 is not a power of two in [64, 32768]");
}

TEST_CASE("config: an MTU outside 68..9600 is refused", "[config][error]") {
    CHECK(error_of(minimal + "mtu = 67\n") == "t.toml:8: port.mtu: 67 is out of range [68, 9600]");
    CHECK(error_of(minimal + "mtu = 9601\n") == "t.toml:8: port.mtu: 9601 is out of range [68, 9600]");
    CHECK(error_of(minimal + "mtu = 68\n") == "no error");
    CHECK(error_of(minimal + "mtu = 9600\n") == "no error");
}

TEST_CASE("config: port names must be valid and unique", "[config][error]") {
    CHECK(error_of("[eal]\nlcores = [0]\n[[port]]\nname = \"a b\"\n") ==
          "t.toml:4: port.name: 'a b' is not a valid name (1 to 32 of A-Z a-z 0-9 _ -)");
    CHECK(error_of("[eal]\nlcores = [0]\n[[port]]\nname = \"\"\n").rfind("t.toml:4: port.name: '' is not a valid", 0) ==
          0);
    CHECK(error_of("[eal]\nlcores = [0]\n[[port]]\nname = \"" + std::string(33, 'x') + "\"\n").rfind("t.toml:4: ", 0) ==
          0);
    CHECK(error_of(minimal + "\n[[port]]\nvdev = \"net_tap1\"\nname = \"p0\"\naddress = \"198.18.1.2/24\"\n") ==
          "t.toml:11: port.name: 'p0' is already the name of the port at line 5");
}

TEST_CASE("config: a port without name or address is refused at its header", "[config][error]") {
    CHECK(error_of("[eal]\nlcores = [0]\n[[port]]\nvdev = \"x\"\naddress = \"198.18.0.2/24\"\n") ==
          "t.toml:3: missing required key 'name' in [[port]]");
    CHECK(error_of("[eal]\nlcores = [0]\n[[port]]\nname = \"a\"\nvdev = \"x\"\n") ==
          "t.toml:3: missing required key 'address' in [[port]]");
}

TEST_CASE("config: a port needs exactly one of vdev and pci", "[config][error]") {
    CHECK(error_of(minimal + "pci = \"0000:3b:00.0\"\n") ==
          "t.toml:8: port 'p0': set either 'vdev' or 'pci', not both");
    CHECK(error_of("[eal]\nlcores = [0]\n\n[[port]]\nname = \"a\"\naddress = \"198.18.0.2/24\"\n") ==
          "t.toml:4: missing required key 'vdev' or 'pci' in [[port]] (port 'a' needs a device)");
}

TEST_CASE("config: a malformed PCI address or empty vdev is refused", "[config][error]") {
    const std::string head = "[eal]\nlcores = [0]\n[[port]]\nname = \"a\"\naddress = \"198.18.0.2/24\"\n";
    for (const char *bad : {"3b:00.0", "0000:3b:00", "0000:3b:20.0", "0000:3b:00.8", "000g:3b:00.0", "0000-3b-00.0",
                            " 0000:3b:00.0", "0000:3b:00.00"}) {
        INFO(bad);
        CHECK(error_of(head + "pci = \"" + bad + "\"\n") ==
              "t.toml:6: port.pci: '" + std::string(bad) +
                  "' is not a PCI address of the form DDDD:BB:DD.F (e.g. \"0000:3b:00.0\")");
    }
    CHECK(error_of(head + "pci = \"0000:FF:1f.7\"\n") == "no error");
    CHECK(error_of(head + "vdev = \"\"\n") ==
          "t.toml:6: port.vdev: '' is not a virtual device argument (e.g. \"net_tap0,iface=lr0\")");
}

TEST_CASE("config: an unknown or repeated offload is refused", "[config][error]") {
    CHECK(error_of(minimal + "offloads = [\"rss\", \"lro\"]\n") ==
          "t.toml:8: port.offloads: unknown offload 'lro'; valid: ipv4_cksum, tcp_cksum, rss, tso");
    CHECK(error_of(minimal + "offloads = [\"tcp_csum\"]\n") ==
          "t.toml:8: port.offloads: unknown offload 'tcp_csum' (did you mean 'tcp_cksum'?); valid: ipv4_cksum, "
          "tcp_cksum, rss, tso");
    CHECK(error_of(minimal + "offloads = [\n  \"rss\",\n  \"rss\",\n]\n") ==
          "t.toml:10: port.offloads: 'rss' is listed twice");
}

TEST_CASE("config: a malformed address or prefix is refused", "[config][error]") {
    const std::string head = "[eal]\nlcores = [0]\n[[port]]\nname = \"a\"\nvdev = \"x\"\n";
    for (const char *bad : {"198.18.0.2", "198.18.0.2/33", "198.18.0/24", "198.18.0.256/24", "lr0", "198.18.0.2/"}) {
        INFO(bad);
        CHECK(error_of(head + "address = \"" + bad + "\"\n") ==
              "t.toml:6: port.address: '" + std::string(bad) +
                  "' is not an IPv4 address with prefix length (e.g. \"198.18.0.2/24\")");
    }
    CHECK(error_of(head + "address = \"198.18.0.2/0\"\n") ==
          "t.toml:6: port.address: prefix length 0 would put every address on the link");
}

TEST_CASE("config: an address that no host may use is refused", "[config][error]") {
    const std::string head = "[eal]\nlcores = [0]\n[[port]]\nname = \"a\"\nvdev = \"x\"\n";
    CHECK(error_of(head + "address = \"198.18.0.0/24\"\n") ==
          "t.toml:6: port.address: 198.18.0.0 is the network address of 198.18.0.0/24, not a host address");
    CHECK(error_of(head + "address = \"198.18.0.255/24\"\n") ==
          "t.toml:6: port.address: 198.18.0.255 is the broadcast address of 198.18.0.0/24, not a host address");
    CHECK(error_of(head + "address = \"224.0.0.1/24\"\n") ==
          "t.toml:6: port.address: 224.0.0.1 is a multicast address (224.0.0.0/4), not a host address");
    CHECK(
        error_of(head + "address = \"0.0.0.0/8\"\n").rfind("t.toml:6: port.address: 0.0.0.0 is not a usable host", 0) ==
        0);
    CHECK(error_of(head + "address = \"127.0.0.1/8\"\n").rfind("t.toml:6: port.address: 127.0.0.1 is a loopback", 0) ==
          0);
    CHECK(error_of(head + "address = \"255.255.255.255/32\"\n")
              .rfind("t.toml:6: port.address: 255.255.255.255 is in the reserved", 0) == 0);
}

TEST_CASE("config: a gateway must be a host inside the prefix other than the address", "[config][error]") {
    CHECK(error_of(minimal + "gateway = \"198.18.1.1\"\n") ==
          "t.toml:8: port.gateway: 198.18.1.1 is outside 198.18.0.0/24, the prefix of port.address");
    CHECK(error_of(minimal + "gateway = \"198.18.0.2\"\n") ==
          "t.toml:8: port.gateway: 198.18.0.2 is the port's own address");
    CHECK(error_of(minimal + "gateway = \"198.18.0.255\"\n") ==
          "t.toml:8: port.gateway: 198.18.0.255 is the broadcast address of 198.18.0.0/24, not a host address");
    CHECK(error_of(minimal + "gateway = \"198.18.0\"\n") ==
          "t.toml:8: port.gateway: '198.18.0' is not an IPv4 address (e.g. \"198.18.0.1\")");
    // The gateway may come before the address in the file.
    CHECK(error_of("[eal]\nlcores = [0]\n[[port]]\ngateway = \"198.18.0.1\"\nname = \"a\"\nvdev = \"x\"\n"
                   "address = \"198.18.0.2/24\"\n") == "no error");
}

TEST_CASE("config: a zero, multicast, broadcast or malformed MAC is refused", "[config][error]") {
    CHECK(error_of(minimal + "mac = \"00:00:00:00:00:00\"\n") ==
          "t.toml:8: port.mac: 00:00:00:00:00:00 is the zero address, not a port address");
    CHECK(
        error_of(minimal + "mac = \"01:00:5e:00:00:01\"\n") ==
        "t.toml:8: port.mac: 01:00:5e:00:00:01 is a multicast address; a port needs a unicast one (first octet even)");
    CHECK(
        error_of(minimal + "mac = \"ff:ff:ff:ff:ff:ff\"\n") ==
        "t.toml:8: port.mac: ff:ff:ff:ff:ff:ff is a broadcast address; a port needs a unicast one (first octet even)");
    CHECK(error_of(minimal + "mac = \"02:00:00:00:00\"\n") ==
          "t.toml:8: port.mac: '02:00:00:00:00' is not a MAC address (e.g. \"02:00:00:00:00:01\")");
}

TEST_CASE("config: ports as inline tables are read like [[port]]", "[config]") {
    const app_config c = load_string("port = [\n  { name = \"a\", vdev = \"x\", address = \"198.18.0.2/24\" },\n]\n"
                                     "\n[eal]\nlcores = [0]\n",
                                     "t.toml");
    REQUIRE(c.ports.size() == 1);
    CHECK(c.ports[0].name == "a");
    CHECK(c.ports[0].line == 2);
}

TEST_CASE("config: a port's vlan is an IEEE 802.1Q VLAN ID, 1..4094, untagged when absent", "[config][port]") {
    CHECK(load_string(minimal, "t.toml").ports[0].vlan == 0);
    CHECK(load_string(minimal + "vlan = 100\n", "t.toml").ports[0].vlan == 100);
    CHECK(load_string(minimal + "vlan = 4094\n", "t.toml").ports[0].vlan == 4094);
    // VID 0 is a priority tag, 4095 reserved (802.1Q §9.6).
    CHECK(error_of(minimal + "vlan = 0\n") == "t.toml:8: port.vlan: 0 is out of range [1, 4094]");
    CHECK(error_of(minimal + "vlan = 4095\n") == "t.toml:8: port.vlan: 4095 is out of range [1, 4094]");
    CHECK(error_of(minimal + "vlan = \"100\"\n").rfind("t.toml:8: port.vlan:", 0) == 0);
}
