// Configuration: loading and validating drivers-config/*.toml.
//
// A configuration file describes what the EAL is given (extra arguments, lcores), the
// mbuf pool, the ports (which device, queues, descriptors, MTU, offloads, addresses) and,
// in later issues, TCP tunables. The program reads it once at start, before it touches a
// device: every check that can be made without DPDK is made here, so a bad file stops the
// program with one line that names the file, the line and what is wrong:
//
//     drivers-config/x.toml:14: port.rx_descriptors: 1000 is not a power of two in [64, 32768]
//
// Design choices a reader would otherwise have to reverse-engineer:
//   - The schema is closed: an unknown key is an error (with a did-you-mean suggestion),
//     never silently ignored, because a misspelt key that falls back to a default is the
//     hardest configuration bug to find.
//   - Integers are range-checked on TOML's 64-bit value before they are narrowed, so
//     `rx_queues = 99999999999` is refused, not truncated.
//   - Line numbers: a bad value is reported at the line of its key; a missing required key
//     at the line of the table header that lacks it; a missing required top-level table at
//     line 1. A file that cannot be read has no line: its error reads
//     "FILE: cannot read: REASON" and line() is 0.
//   - The first error found stops loading (tables are checked in source order, so it is
//     normally the first error in the file).
//
// Not on the fast path: exceptions and allocation are fine here. Depends on base and
// toml++ only (toml++ stays inside src/, this header does not include it).
#pragma once

#include <linerate/base/addr.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace linerate::config {

// Limits taken from Debian's DPDK build (rte_build_config.h) so that a value accepted here
// is accepted by the EAL and ethdev too.
inline constexpr unsigned max_lcores = 128;     // RTE_MAX_LCORE
inline constexpr std::size_t max_ports = 32;    // RTE_MAX_ETHPORTS
inline constexpr std::uint16_t max_queues = 64; // per direction, per port (our own limit)
inline constexpr std::uint16_t min_descriptors = 64;
inline constexpr std::uint16_t max_descriptors = 32768;
inline constexpr std::uint16_t min_mtu = 68;   // RFC 791: every host must accept 68 octets
inline constexpr std::uint16_t max_mtu = 9600; // the largest jumbo frame common NICs take
inline constexpr std::uint32_t min_mbufs = 1023;
inline constexpr std::uint32_t max_mbufs = 16777215;    // 2^24 - 1
inline constexpr std::uint32_t max_mempool_cache = 512; // RTE_MEMPOOL_CACHE_MAX_SIZE
inline constexpr std::size_t max_port_name = 32;

// Offloads a port may ask its device for. Values are bits so that a port's set is one
// integer; new offloads take the next bit and a name in offload_names.
enum class offload : std::uint32_t {
    ipv4_cksum = 1u << 0,
    tcp_cksum = 1u << 1,
    rss = 1u << 2,
    tso = 1u << 3,
};

struct offload_name {
    offload bit;
    std::string_view name; // as written in TOML
};
// Every known offload, in bit order.
inline constexpr std::array<offload_name, 4> offload_names{{
    {offload::ipv4_cksum, "ipv4_cksum"},
    {offload::tcp_cksum, "tcp_cksum"},
    {offload::rss, "rss"},
    {offload::tso, "tso"},
}};

[[nodiscard]] constexpr std::uint32_t bit(offload o) noexcept { return static_cast<std::uint32_t>(o); }
[[nodiscard]] constexpr bool has(std::uint32_t set, offload o) noexcept { return (set & bit(o)) != 0; }
// "ipv4_cksum", ...; "" for a value that is not exactly one known bit.
[[nodiscard]] constexpr std::string_view to_string(offload o) noexcept {
    for (const auto &n : offload_names)
        if (n.bit == o) return n.name;
    return {};
}

struct port_config {
    std::string name;                           // key 'name', required, unique, [A-Za-z0-9_-]{1,32}
    std::string vdev;                           // e.g. "net_tap0,iface=lr0"; exactly one of vdev / pci is set
    std::string pci;                            // e.g. "0000:3b:00.0" (domain:bus:device.function)
    std::uint16_t rx_queues = 1, tx_queues = 1; // 1..64
    std::uint16_t rx_descriptors = 1024, tx_descriptors = 1024; // power of two in [64, 32768]
    std::uint16_t mtu = 1500;                                   // 68..9600
    std::uint32_t offloads = 0;                                 // OR of offload bits
    ipv4_prefix address;                                        // required, "198.18.0.2/24"
    std::optional<ipv4_addr> gateway;                           // inside address' prefix, not the address itself
    std::optional<mac_addr> mac;                                // override of the device's address; unicast, non-zero
    std::uint16_t vlan = 0;                                     // IEEE 802.1Q VLAN ID 1..4094; 0: untagged
    std::uint32_t line = 0;                                     // line of its [[port]] header, for later error messages

    [[nodiscard]] bool has_offload(offload o) const noexcept { return has(offloads, o); }
};

struct mempool_config {
    // Number of mbufs. DPDK's mempool is most memory-efficient at 2^n - 1 (the ring under
    // it holds 2^n - 1 entries), so the default is 8191; any value in range is accepted.
    std::uint32_t mbufs = 8191; // 1023..16777215
    // Per-lcore cache. DPDK refuses a cache above 512 or above mbufs / 1.5.
    std::uint32_t cache = 256;
};

// TCP tunables. Empty for now: later issues fill it. The [tcp] table is accepted and
// checked (any key in it is an unknown key for now).
// [tcp]: the TCP core's tunables, in milliseconds where they are durations. The
// defaults equal tcp::settings' (a unit test holds the two together; config may not
// depend on the tcp layer, so the engine copies one into the other).
struct tcp_config {
    bool window_scaling = true;                   // RFC 7323 §2
    bool sack = true;                             // RFC 2018
    bool timestamps = true;                       // RFC 7323 §3, PAWS §5
    std::uint32_t receive_buffer = 256 * 1024;    // bytes, [1024, 1 GiB]
    std::uint32_t send_buffer = 256 * 1024;       // bytes, [1024, 1 GiB]
    std::uint32_t initial_window_segments = 10;   // RFC 6928, [1, 100]
    std::uint32_t max_ooo_segments = 8;           // [0, 16]
    std::uint32_t rto_initial_ms = 1000;          // RFC 6298 §2.1, [1, 65535]
    std::uint32_t rto_min_ms = 200;               // as Linux, [1, 65535]
    std::uint32_t rto_max_ms = 120'000;           // [rto_min_ms, 16777215]
    std::uint32_t syn_retries = 6;                // [1, 255]
    std::uint32_t synack_retries = 5;             // [1, 255]
    std::uint32_t data_retries = 15;              // [1, 255]
    std::uint32_t delayed_ack_ms = 40;            // MUST-40: [0, 500]
    std::uint32_t fin_wait_2_timeout_ms = 60'000; // [1, 86400000]
    std::uint32_t msl_ms = 30'000;                // TIME-WAIT is 2*MSL, [1, 3600000]
    bool keepalive = false;                       // MUST-24: off by default
    std::uint32_t keepalive_idle_ms = 7'200'000;  // MUST-25: two hours by default, [1, 86400000]
    std::uint32_t keepalive_interval_ms = 75'000; // [1, 86400000]
    std::uint32_t keepalive_probes = 9;           // [1, 255]
    std::uint32_t challenge_ack_limit = 1000;     // RFC 5961 §7, per second per lcore, [0, 1000000000]
    std::uint32_t invalid_ack_interval_ms = 500;  // per connection, Linux's tcp_invalid_ratelimit, [0, 60000]
    std::uint32_t syn_backlog = 1024;             // [1, 16777216]
    std::uint32_t accept_backlog = 1024;          // [1, 16777216]
    // RFC 4987 §3.6 SYN cookies: "auto" (while a listener's SYN queue is full, as
    // Linux's tcp_syncookies = 1), "always" (every SYN) or "off".
    enum class syn_cookies_mode : std::uint8_t { off, automatic, always };
    syn_cookies_mode syn_cookies = syn_cookies_mode::automatic;
    // Per-lcore limits: every pool is allocated at start from these, and nothing grows
    // afterwards (a SYN that finds the pool full is dropped and counted).
    std::uint32_t max_connections = 65'536;       // TCBs per lcore, [1, 2^30]
    std::uint32_t max_time_wait = 65'536;         // TIME-WAIT entries per lcore, [1, 2^30]
    std::uint32_t ooo_queues = 1'024;             // reassembly queues per lcore, [1, 2^24]
};

struct app_config {
    std::string source;                // the file name as given
    std::vector<std::string> eal_args; // [eal] args
    std::vector<unsigned> lcores;      // [eal] lcores: non-empty, unique, each < max_lcores
    mempool_config mempool;            // [mempool]
    std::vector<port_config> ports;    // [[port]]: 1..max_ports
    tcp_config tcp;                    // [tcp]
};

// A configuration error. what() is "FILE:LINE: message", or "FILE: message" when line() is
// 0 (a file that cannot be read).
class error : public std::runtime_error {
  public:
    error(std::string file, std::uint32_t line, std::string message);

    [[nodiscard]] const std::string &file() const noexcept { return file_; }
    [[nodiscard]] std::uint32_t line() const noexcept { return line_; }
    [[nodiscard]] const std::string &message() const noexcept { return message_; }

  private:
    std::string file_;
    std::uint32_t line_;
    std::string message_;
};

// Reads and validates the file at `path`; errors name the file as `path` was given.
// Throws config::error.
[[nodiscard]] app_config load_file(const std::string &path);

// The same checks on text already in memory; errors name the file `source_name`.
// Throws config::error.
[[nodiscard]] app_config load_string(std::string_view toml_text, const std::string &source_name);

} // namespace linerate::config
