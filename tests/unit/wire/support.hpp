// Helpers shared by the wire tests: frames as mutable vectors, the addresses used by the
// vectors, and checksum repair after a test has broken one field on purpose.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include <linerate/base/byteorder.hpp>
#include <linerate/wire/wire.hpp>

#include "vectors.hpp"

namespace linerate::wire::test {

inline constexpr ipv4_addr client_ip = ipv4_addr::from_octets(198, 18, 0, 1);
inline constexpr ipv4_addr server_ip = ipv4_addr::from_octets(198, 18, 0, 2);
inline constexpr mac_addr client_mac{{0x02, 0, 0, 0, 0, 0x01}};
inline constexpr mac_addr server_mac{{0x02, 0, 0, 0, 0, 0x02}};

template <std::size_t N>
std::vector<std::uint8_t> bytes(const std::array<std::uint8_t, N> &a) {
    return {a.begin(), a.end()};
}

inline std::span<const std::uint8_t> cspan(const std::vector<std::uint8_t> &v) { return {v.data(), v.size()}; }

// The IPv4 packet inside a whole frame from vectors.hpp (no VLAN tag in any of them).
inline std::span<std::uint8_t> l3(std::vector<std::uint8_t> &frame) {
    return std::span<std::uint8_t>(frame).subspan(ethernet_header_len);
}
inline std::span<const std::uint8_t> l3(const std::vector<std::uint8_t> &frame) {
    return cspan(frame).subspan(ethernet_header_len);
}

// Recomputes the header checksum of the IPv4 header at the start of packet.
inline void fix_ipv4_checksum(std::span<std::uint8_t> packet) {
    const std::size_t hl = std::size_t{packet[0] & 0x0fu} * 4;
    store_be16(packet.data() + 10, 0);
    store_be16(packet.data() + 10, inet_checksum(packet.first(hl)));
}

// Recomputes the TCP checksum of a segment (the IPv4 payload).
inline void fix_tcp_checksum(std::span<std::uint8_t> segment, ipv4_addr src, ipv4_addr dst) {
    store_be16(segment.data() + 16, 0);
    const auto pseudo = ipv4_pseudo_header_sum(src, dst, ip_proto_tcp, static_cast<std::uint16_t>(segment.size()));
    store_be16(segment.data() + 16, csum_fold(csum_partial(segment, pseudo)));
}

// The TCP segment of a frame from vectors.hpp, with its IPv4 header's addresses.
struct tcp_frame {
    std::vector<std::uint8_t> frame;
    ipv4_addr src, dst;
    std::span<std::uint8_t> segment() {
        auto ip = l3(frame);
        const std::size_t hl = std::size_t{ip[0] & 0x0fu} * 4;
        return ip.subspan(hl, load_be16(ip.data() + 2) - hl);
    }
};

template <std::size_t N>
tcp_frame tcp_of(const std::array<std::uint8_t, N> &a) {
    tcp_frame t{bytes(a), {}, {}};
    const auto ip = l3(t.frame);
    t.src = ipv4_addr{load_be32(ip.data() + 12)};
    t.dst = ipv4_addr{load_be32(ip.data() + 16)};
    return t;
}

} // namespace linerate::wire::test
