// Byte order and unaligned access for wire formats.
//
// Packet fields are read and written through memcpy into a local, never through a
// cast pointer: headers in an mbuf are not guaranteed aligned (a VLAN tag, IP options
// or a TCP option can shift everything), and memcpy of a constant size compiles to a
// single load or store on x86 and ARM.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace linerate {

static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big,
              "mixed-endian hosts are not supported");

[[nodiscard]] constexpr std::uint16_t bswap16(std::uint16_t v) noexcept {
    return static_cast<std::uint16_t>((v >> 8) | (v << 8));
}
[[nodiscard]] constexpr std::uint32_t bswap32(std::uint32_t v) noexcept { return __builtin_bswap32(v); }

// Host <-> network (big-endian) conversions.
[[nodiscard]] constexpr std::uint16_t hton16(std::uint16_t v) noexcept {
    if constexpr (std::endian::native == std::endian::big) return v; else return bswap16(v);
}
[[nodiscard]] constexpr std::uint32_t hton32(std::uint32_t v) noexcept {
    if constexpr (std::endian::native == std::endian::big) return v; else return bswap32(v);
}
[[nodiscard]] constexpr std::uint16_t ntoh16(std::uint16_t v) noexcept { return hton16(v); }
[[nodiscard]] constexpr std::uint32_t ntoh32(std::uint32_t v) noexcept { return hton32(v); }

// Big-endian loads and stores at any alignment.
[[nodiscard]] inline std::uint16_t load_be16(const std::uint8_t *p) noexcept {
    std::uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return ntoh16(v);
}
[[nodiscard]] inline std::uint32_t load_be32(const std::uint8_t *p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return ntoh32(v);
}
inline void store_be16(std::uint8_t *p, std::uint16_t v) noexcept {
    v = hton16(v);
    std::memcpy(p, &v, sizeof v);
}
inline void store_be32(std::uint8_t *p, std::uint32_t v) noexcept {
    v = hton32(v);
    std::memcpy(p, &v, sizeof v);
}

} // namespace linerate
