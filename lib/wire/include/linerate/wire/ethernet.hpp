// Ethernet II framing (IEEE 802.3 with an EtherType, RFC 894 for IPv4 over Ethernet).
//
// parse_ethernet only splits the header off; it does not judge the EtherType. Which types
// are served (IPv4, ARP) and whether a VLAN tag is allowed is the engine's policy, and it
// counts the rest as drop_reason::eth_unsupported_type. The frame check sequence is
// never seen here: NICs strip it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include <linerate/base/addr.hpp>
#include <linerate/wire/result.hpp>

namespace linerate::wire {

inline constexpr std::uint16_t ethertype_ipv4 = 0x0800;
inline constexpr std::uint16_t ethertype_arp = 0x0806;
inline constexpr std::uint16_t ethertype_vlan = 0x8100; // IEEE 802.1Q
inline constexpr std::size_t ethernet_header_len = 14;
inline constexpr std::size_t vlan_tag_len = 4;
// A frame shorter than this (without FCS) is padded by the sender; the IPv4 total length,
// not the frame length, says where the datagram ends (RFC 894).
inline constexpr std::size_t ethernet_min_frame_len = 60;

struct ethernet_view {
    mac_addr dst{};
    mac_addr src{};
    std::uint16_t ethertype = 0;
    std::span<const std::uint8_t> payload{}; // everything after the 14-byte header, padding included
};

// Only truncation is an error.
[[nodiscard]] parse_result<ethernet_view> parse_ethernet(std::span<const std::uint8_t> frame) noexcept;

// Writes the 14-byte header; returns 14, or 0 if out is too small.
// A MAC address at any alignment in a packet (arp.cpp and the engine read them too).
[[nodiscard]] inline mac_addr load_mac(const std::uint8_t *p) noexcept {
    mac_addr m;
    std::memcpy(m.bytes.data(), p, m.bytes.size());
    return m;
}
inline void store_mac(std::uint8_t *p, const mac_addr &m) noexcept { std::memcpy(p, m.bytes.data(), m.bytes.size()); }

std::size_t write_ethernet(std::span<std::uint8_t> out, mac_addr dst, mac_addr src, std::uint16_t ethertype) noexcept;

// An IEEE 802.1Q tag, for an engine that accepts tagged frames: the payload of an
// ethernet_view whose ethertype is ethertype_vlan.
struct vlan_view {
    std::uint8_t pcp = 0;    // priority code point
    bool dei = false;        // drop eligible
    std::uint16_t vid = 0;   // VLAN identifier, 12 bits
    std::uint16_t ethertype = 0; // the encapsulated type
    std::span<const std::uint8_t> payload{};
};
// eth_truncated when fewer than 4 bytes.
[[nodiscard]] parse_result<vlan_view> parse_vlan(std::span<const std::uint8_t> tagged_payload) noexcept;

} // namespace linerate::wire
