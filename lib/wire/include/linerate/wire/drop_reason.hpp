// Why a received frame was dropped before it reached the TCP state machine.
//
// Every parser in wire answers either with a view or with one of these reasons. The
// engine counts drops per reason per core (no logging on the per-packet path), and
// to_string() gives the counter its name, so the reasons are stable identifiers:
// append new ones before count_, never renumber.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace linerate::wire {

enum class drop_reason : std::uint8_t {
    none = 0,
    eth_truncated,
    eth_unsupported_type, // unknown ethertype (IPv6, LLDP, ...): decided by the engine, not by parse_ethernet
    arp_truncated,
    arp_unsupported, // htype != 1, ptype != 0x0800, hlen != 6 or plen != 4 (we speak IPv4 over Ethernet only)
    arp_bad_op,
    ipv4_truncated,
    ipv4_bad_version,
    ipv4_bad_ihl,
    ipv4_bad_total_length,
    ipv4_bad_checksum,
    ipv4_fragment, // we do not reassemble
    ipv4_bad_option,
    ipv4_bad_source, // RFC 1122 §3.2.1.3: multicast, limited broadcast, "this network" or loopback
    icmp_truncated,
    icmp_bad_checksum,
    tcp_truncated,
    tcp_bad_data_offset,
    tcp_bad_checksum,
    tcp_bad_option,
    count_ // keep last
};

inline constexpr std::size_t drop_reason_count = static_cast<std::size_t>(drop_reason::count_);

// The enumerator's own name ("ipv4_bad_checksum"), usable as a counter name; "unknown"
// for a value outside the enumeration.
[[nodiscard]] std::string_view to_string(drop_reason r) noexcept;

} // namespace linerate::wire
