// libFuzzer target: the TOML configuration loader (lib/config), on text as a user could
// write it.
//
// A bad file is an answer, not a finding: config::error is caught. Anything else is a
// finding: a crash, a sanitizer report, another exception (it would escape to the
// program's top level, where only config::error is expected), or a result that breaks
// what config.hpp promises:
//   - an error names the file as given and a line of the text (line 0 is only for a file
//     that cannot be read, which text in memory never is);
//   - a loaded configuration has every value in the range its field documents, since
//     the engine and the EAL take them as they are.
#include <linerate/config/config.hpp>

#include "fuzz_input.hpp"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

using namespace linerate::config;

namespace {

constexpr const char *source_name = "fuzz.toml";

bool power_of_two_in(std::uint32_t v, std::uint32_t lo, std::uint32_t hi) {
    return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

bool in(std::uint32_t v, std::uint32_t lo, std::uint32_t hi) { return v >= lo && v <= hi; }

void check_port(const port_config &p) {
    LINERATE_FUZZ_CHECK(!p.name.empty() && p.name.size() <= max_port_name &&
                            std::all_of(p.name.begin(), p.name.end(),
                                        [](char c) {
                                            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                                   (c >= '0' && c <= '9') || c == '_' || c == '-';
                                        }),
                        "a port's name is 1 to 32 of A-Z a-z 0-9 _ -");
    LINERATE_FUZZ_CHECK(p.vdev.empty() != p.pci.empty(), "a port has exactly one of vdev and pci");
    LINERATE_FUZZ_CHECK(in(p.rx_queues, 1, max_queues) && in(p.tx_queues, 1, max_queues),
                        "a port's queues are 1..64 each way");
    LINERATE_FUZZ_CHECK(power_of_two_in(p.rx_descriptors, min_descriptors, max_descriptors) &&
                            power_of_two_in(p.tx_descriptors, min_descriptors, max_descriptors),
                        "a port's descriptors are a power of two in [64, 32768]");
    LINERATE_FUZZ_CHECK(in(p.mtu, min_mtu, max_mtu), "a port's MTU is in [68, 9600]");
    std::uint32_t known = 0;
    for (const auto &o : offload_names) known |= bit(o.bit);
    LINERATE_FUZZ_CHECK((p.offloads & ~known) == 0, "a port asks only for known offloads");
    LINERATE_FUZZ_CHECK(p.address.length >= 1 && p.address.length <= 32, "a port's prefix length is 1..32");
    if (p.gateway)
        LINERATE_FUZZ_CHECK(*p.gateway != p.address.addr && p.address.contains(*p.gateway),
                            "a port's gateway is inside its prefix and not its own address");
    if (p.mac) LINERATE_FUZZ_CHECK(!p.mac->is_zero() && !p.mac->is_multicast(), "a port's MAC is unicast and not zero");
    LINERATE_FUZZ_CHECK(p.vlan <= 4094, "a port's VLAN ID is 0 (none) or 1..4094");
}

void check_tcp(const tcp_config &t) {
    LINERATE_FUZZ_CHECK(in(t.receive_buffer, 1024, 1u << 30) && in(t.send_buffer, 1024, 1u << 30),
                        "tcp buffers are in [1024, 1 GiB]");
    LINERATE_FUZZ_CHECK(in(t.initial_window_segments, 1, 100) && t.max_ooo_segments <= 16,
                        "tcp initial window and reassembly bound are in range");
    LINERATE_FUZZ_CHECK(in(t.rto_initial_ms, 1, 65535) && in(t.rto_min_ms, 1, 65535) &&
                            in(t.rto_max_ms, t.rto_min_ms, 16'777'215),
                        "tcp RTO bounds are in range and rto_max_ms >= rto_min_ms");
    LINERATE_FUZZ_CHECK(in(t.syn_retries, 1, 255) && in(t.synack_retries, 1, 255) && in(t.data_retries, 1, 255) &&
                            in(t.keepalive_probes, 1, 255),
                        "tcp retry counts fit a byte");
    LINERATE_FUZZ_CHECK(t.delayed_ack_ms <= 500, "RFC 9293 §3.8.6.3 MUST-40: the delayed ACK is at most 500 ms");
    LINERATE_FUZZ_CHECK(t.invalid_ack_interval_ms <= 60'000, "tcp invalid_ack_interval_ms is at most a minute");
    LINERATE_FUZZ_CHECK(in(t.fin_wait_2_timeout_ms, 1, 86'400'000) && in(t.msl_ms, 1, 3'600'000) &&
                            in(t.keepalive_idle_ms, 1, 86'400'000) && in(t.keepalive_interval_ms, 1, 86'400'000),
                        "tcp timers fit the TCB's 32-bit deadlines");
    LINERATE_FUZZ_CHECK(in(t.syn_backlog, 1, 16'777'216) && in(t.accept_backlog, 1, 16'777'216) &&
                            in(t.max_connections, 1, 1u << 30) && in(t.max_time_wait, 1, 1u << 30) &&
                            in(t.ooo_queues, 1, 1u << 24),
                        "tcp backlogs and per-lcore limits are in range");
}

void check(const app_config &c) {
    LINERATE_FUZZ_CHECK(c.source == source_name, "a configuration names its source as given");
    LINERATE_FUZZ_CHECK(!c.lcores.empty(), "eal.lcores lists at least one lcore");
    const std::set<unsigned> unique(c.lcores.begin(), c.lcores.end());
    LINERATE_FUZZ_CHECK(unique.size() == c.lcores.size() && *unique.rbegin() < max_lcores,
                        "eal.lcores are unique and below RTE_MAX_LCORE");
    LINERATE_FUZZ_CHECK(in(c.mempool.mbufs, min_mbufs, max_mbufs) && c.mempool.cache <= max_mempool_cache &&
                            c.mempool.cache + c.mempool.cache / 2 <= c.mempool.mbufs,
                        "the mempool is one DPDK accepts");
    LINERATE_FUZZ_CHECK(!c.ports.empty() && c.ports.size() <= max_ports, "there are 1..32 ports");
    std::set<std::string> names;
    for (const auto &p : c.ports) {
        check_port(p);
        LINERATE_FUZZ_CHECK(names.insert(p.name).second, "port names are unique");
    }
    check_tcp(c.tcp);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    try {
        check(load_string(text, source_name));
    } catch (const error &e) {
        const auto lines = static_cast<std::uint32_t>(std::count(text.begin(), text.end(), '\n')) + 1;
        LINERATE_FUZZ_CHECK(e.file() == source_name, "an error names the file as given");
        LINERATE_FUZZ_CHECK(e.line() >= 1 && e.line() <= lines, "an error in text names one of its lines");
        const std::string prefix = std::string(source_name) + ":" + std::to_string(e.line()) + ": ";
        LINERATE_FUZZ_CHECK(std::string_view(e.what()).starts_with(prefix) && !e.message().empty(),
                            "an error reads FILE:LINE: message");
    }
    return 0;
}
