// ARP for IPv4 over Ethernet (RFC 826), and nothing else.
//
// The parser refuses every other hardware or protocol type and address length rather
// than carrying their generality around: linerate answers for IPv4 addresses on
// Ethernet ports only. What to do with a valid packet (answer a request for one of our
// addresses, learn the sender, RFC 826 "Packet Reception") is the engine's job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <linerate/base/addr.hpp>
#include <linerate/wire/result.hpp>

namespace linerate::wire {

enum class arp_op : std::uint16_t { request = 1, reply = 2 };

inline constexpr std::size_t arp_len = 28;
inline constexpr std::uint16_t arp_htype_ethernet = 1;

struct arp_view {
    arp_op op = arp_op::request;
    mac_addr sha{}; // sender hardware address
    ipv4_addr spa{}; // sender protocol address
    mac_addr tha{}; // target hardware address
    ipv4_addr tpa{}; // target protocol address
};

// payload is the Ethernet payload; bytes after the 28 of the packet (Ethernet padding to
// 60 bytes) are ignored.
[[nodiscard]] parse_result<arp_view> parse_arp(std::span<const std::uint8_t> payload) noexcept;

// Writes the 28-byte packet; returns 28, or 0 if out is too small. Padding to the
// Ethernet minimum is left to whoever owns the frame.
std::size_t write_arp(std::span<std::uint8_t> out, arp_op op, mac_addr sha, ipv4_addr spa, mac_addr tha,
                      ipv4_addr tpa) noexcept;

} // namespace linerate::wire
