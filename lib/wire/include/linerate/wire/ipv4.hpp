// IPv4 headers (RFC 791) as a host that is not a router receives and sends them
// (RFC 1122 §3.2.1).
//
// parse_ipv4 validates everything the layers above rely on and nothing they decide: the
// header's structure, its checksum, its option list's shape, and the source address.
// It refuses fragments: linerate does not reassemble (a TCP endpoint that advertises an
// MSS fitting the path rarely sees any, and reassembly buffers on the fast path would be
// an allocation and a denial-of-service surface). Options are checked for shape only and
// otherwise left to the layers above through ipv4_view::options: RFC 1122 §3.2.1.8, the
// IP and transport layer "MUST each interpret those IP options that they understand and
// silently ignore the others"; linerate understands none.
//
// Whether the destination is ours is the engine's question, not the parser's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <linerate/base/addr.hpp>
#include <linerate/wire/result.hpp>

namespace linerate::wire {

inline constexpr std::uint8_t ip_proto_icmp = 1;
inline constexpr std::uint8_t ip_proto_tcp = 6;
inline constexpr std::size_t ipv4_min_header_len = 20;
inline constexpr std::size_t ipv4_max_header_len = 60;

struct ipv4_view {
    std::uint8_t ihl = 0; // header length in 32-bit words
    std::uint8_t tos = 0; // DSCP and ECN (RFC 2474, RFC 3168)
    std::uint16_t total_length = 0;
    std::uint16_t id = 0;
    bool dont_fragment = false;
    bool more_fragments = false;
    std::uint16_t fragment_offset = 0; // in 8-byte units
    std::uint8_t ttl = 0;
    std::uint8_t protocol = 0;
    std::uint16_t checksum = 0;
    ipv4_addr src{};
    ipv4_addr dst{};
    std::span<const std::uint8_t> header{};  // ihl*4 bytes
    std::span<const std::uint8_t> options{}; // ihl*4 - 20 bytes
    std::span<const std::uint8_t> payload{}; // total_length - ihl*4 bytes: Ethernet padding trimmed off
};

// Checks, in this order (the first failure is the reason):
//   fewer than 20 bytes                      -> ipv4_truncated
//   version != 4                             -> ipv4_bad_version
//   ihl < 5, or ihl*4 > bytes available      -> ipv4_bad_ihl
//   total_length < ihl*4 or > available      -> ipv4_bad_total_length
//   header checksum (mode verify)            -> ipv4_bad_checksum
//   option list malformed                    -> ipv4_bad_option
//   MF set or fragment offset != 0           -> ipv4_fragment
//   source multicast, 255.255.255.255, 0/8 or 127/8 -> ipv4_bad_source
[[nodiscard]] parse_result<ipv4_view> parse_ipv4(std::span<const std::uint8_t> packet,
                                                 checksum_mode mode = checksum_mode::verify) noexcept;

// RFC 791 §3.1 option list shape: EOL ends the list, NOP is one byte, every other option
// is type, length (>= 2, counting type and length) and data, within the header.
[[nodiscard]] bool ipv4_options_well_formed(std::span<const std::uint8_t> options) noexcept;

// RFC 1122 §3.2.1.3: "A host MUST silently discard an incoming datagram containing an IP
// source address that is invalid by the rules of this section." The rules caught here are
// the ones that need no knowledge of our interfaces; a directed broadcast
// ({<Network-number>, -1}) needs the engine's prefixes and is checked there. Linux drops
// the same set as martian sources.
[[nodiscard]] constexpr bool ipv4_source_forbidden(ipv4_addr a) noexcept {
    const std::uint32_t v = a.value;
    return (v >> 28) == 0xe       // multicast (class D): a group is never a sender
           || v == 0xffffffffu    // (c) limited broadcast
           || (v >> 24) == 0      // (a)/(b) "this network": a source only while a host boots
           || (v >> 24) == 127;   // (g) loopback: never seen outside a host
}

struct ipv4_fields {
    std::uint8_t tos = 0;
    std::uint16_t total_length = 0; // header (20) + payload
    std::uint16_t id = 0;
    // Set by default: linerate sizes segments to the path (MSS) and never fragments.
    bool dont_fragment = true;
    std::uint8_t ttl = 64; // RFC 1700 default, the value Linux uses
    std::uint8_t protocol = 0;
    ipv4_addr src{};
    ipv4_addr dst{};
};

// Writes a 20-byte header without options, checksum filled in; returns 20, or 0 if out is
// too small. The payload is the caller's: total_length must already count it.
std::size_t write_ipv4(std::span<std::uint8_t> out, const ipv4_fields &f) noexcept;

} // namespace linerate::wire
