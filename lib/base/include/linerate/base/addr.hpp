// Link and network addresses: Ethernet MAC and IPv4, with text forms.
//
// They live in base rather than wire because the configuration layer parses them too
// and must not depend on wire. Values are kept in host order (ipv4_addr) or as bytes
// (mac_addr); wire converts at the packet boundary.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace linerate {

struct mac_addr {
    std::array<std::uint8_t, 6> bytes{};

    // Not the defaulted operator: GCC turns that into a call to memcmp, paid on every
    // received frame (the destination check), where a 4-byte and a 2-byte compare do.
    friend constexpr bool operator==(const mac_addr &a, const mac_addr &b) noexcept {
        if (std::is_constant_evaluated()) return a.bytes == b.bytes;
        std::uint32_t a4, b4;
        std::uint16_t a2, b2;
        std::memcpy(&a4, a.bytes.data(), 4);
        std::memcpy(&b4, b.bytes.data(), 4);
        std::memcpy(&a2, a.bytes.data() + 4, 2);
        std::memcpy(&b2, b.bytes.data() + 4, 2);
        return ((a4 ^ b4) | static_cast<std::uint32_t>(a2 ^ b2)) == 0;
    }

    [[nodiscard]] static constexpr mac_addr broadcast() noexcept {
        return mac_addr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    }
    [[nodiscard]] constexpr bool is_broadcast() const noexcept { return *this == broadcast(); }
    // IEEE 802: the I/G bit, the least significant bit of the first octet.
    [[nodiscard]] constexpr bool is_multicast() const noexcept { return (bytes[0] & 0x01) != 0; }
    [[nodiscard]] constexpr bool is_zero() const noexcept { return *this == mac_addr{}; }

    // "aa:bb:cc:dd:ee:ff" (also accepts '-' as separator); nullopt if malformed.
    [[nodiscard]] static std::optional<mac_addr> parse(std::string_view text) noexcept;
    [[nodiscard]] std::string to_string() const;
};

struct ipv4_addr {
    std::uint32_t value = 0; // host order

    friend constexpr auto operator<=>(const ipv4_addr &, const ipv4_addr &) noexcept = default;

    [[nodiscard]] static constexpr ipv4_addr from_octets(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                                         std::uint8_t d) noexcept {
        return ipv4_addr{(std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d};
    }
    // Dotted quad, exactly four decimal octets without leading '+' or excess digits.
    [[nodiscard]] static std::optional<ipv4_addr> parse(std::string_view text) noexcept;
    [[nodiscard]] std::string to_string() const;
};

// An address with its prefix length, as in "198.18.0.2/24".
struct ipv4_prefix {
    ipv4_addr addr;
    std::uint8_t length = 32;

    [[nodiscard]] constexpr std::uint32_t mask() const noexcept {
        return length == 0 ? 0u : ~std::uint32_t{0} << (32 - length);
    }
    [[nodiscard]] constexpr bool contains(ipv4_addr a) const noexcept {
        return (a.value & mask()) == (addr.value & mask());
    }
    [[nodiscard]] static std::optional<ipv4_prefix> parse(std::string_view text) noexcept;
    [[nodiscard]] std::string to_string() const;
};

} // namespace linerate
