// Header templates for transmitted TCP segments (the dperf way): the Ethernet, IPv4 and
// TCP headers of a connection are built once, when its next hop is known, and each
// segment copies them and patches in what changes (lengths, sequence and
// acknowledgment numbers, flags, window, options).
//
// Checksums follow suit. The IPv4 header checksum of the template is computed once with
// a total length of zero and patched per packet (RFC 1624). The TCP checksum starts from
// the template's partial sum (addresses, protocol, ports) and adds only the words that
// change and the payload; a port with checksum offload gets the pseudo-header sum the
// device expects instead (the value DPDK's rte_ipv4_phdr_cksum computes) and fills in
// the rest itself.
//
// Plain bytes, no DPDK type: the unit tests check every byte against the wire parsers.
#pragma once

#include <linerate/base/addr.hpp>
#include <linerate/tcp/segment.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace linerate::engine {

inline constexpr std::size_t eth_ipv4_tcp_len = 14 + 20 + 20;

struct header_template {
    std::array<std::uint8_t, eth_ipv4_tcp_len> bytes{};
    std::uint32_t tcp_sum = 0;      // partial: pseudo-header addresses and protocol, and the ports
    std::uint16_t ip_check0 = 0;    // the IPv4 header checksum for a total length of zero
    std::uint16_t port_index = 0;   // which of the engine's ports sends it
    bool ready = false;
};

// local: this endpoint's side of `t` (source of what we send).
[[nodiscard]] header_template make_template(mac_addr src_mac, mac_addr dst_mac, const tcp::four_tuple &t,
                                            std::uint16_t port_index) noexcept;

enum class checksum_offload : std::uint8_t { none, ipv4, ipv4_tcp };

// Writes the headers of `s` into out (at least eth_ipv4_tcp_len + 40 bytes) after the
// payload (payload_len bytes whose csum_partial is payload_sum) has been, or will be,
// placed right after them. Returns the header length (54 plus the options).
std::size_t write_segment_headers(std::span<std::uint8_t> out, const header_template &tmpl,
                                  const tcp::out_segment &s, std::uint32_t payload_sum,
                                  checksum_offload offload) noexcept;

} // namespace linerate::engine
