// Header templates for transmitted TCP segments: the Ethernet header and the IPv4
// fields that never change (version, DSCP, ID, DF, TTL, protocol) are built once per
// (port, next hop), when the next hop's MAC is known, and shared by every connection
// that goes through that hop. Each segment copies them and writes what is its own: the
// addresses and ports of its 4-tuple, the lengths, sequence and acknowledgment
// numbers, flags, window and options. A template per next hop rather than per
// connection costs a few stores per segment and saves its 64 bytes in every
// connection's state (a server holding ten million connections has a handful of next
// hops), and a MAC that changes is changed once for all of them.
//
// Checksums follow suit. The IPv4 header checksum starts from the template's sum of
// its constant words and adds the addresses and the total length (RFC 1071's sum is
// order-independent); the TCP checksum adds the pseudo header, the words that change
// and the payload's sum; a port with checksum offload gets the pseudo-header sum the
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
    std::array<std::uint8_t, eth_ipv4_tcp_len> bytes{}; // addresses, ports and the rest of TCP: per segment
    std::uint32_t ip_sum0 = 0;      // unfolded sum of the IPv4 header's constant words
    std::uint16_t port_index = 0;   // which of the engine's ports sends it
    bool ready = false;             // the next hop's MAC is known
};

[[nodiscard]] header_template make_template(mac_addr src_mac, mac_addr dst_mac, std::uint16_t port_index) noexcept;

enum class checksum_offload : std::uint8_t { none, ipv4, ipv4_tcp };

// Writes the headers of `s` on the 4-tuple `t` (local: this endpoint, the source of
// what we send) into out (at least eth_ipv4_tcp_len + 40 bytes), for a payload
// (payload_len bytes whose csum_partial is payload_sum) that has been, or will be,
// placed right after them. Returns the header length (54 plus the options).
std::size_t write_segment_headers(std::span<std::uint8_t> out, const header_template &tmpl, const tcp::four_tuple &t,
                                  const tcp::out_segment &s, std::uint32_t payload_sum,
                                  checksum_offload offload) noexcept;

} // namespace linerate::engine
