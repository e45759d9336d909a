// The Toeplitz hash in software, on DPDK's rte_thash (header-inline, needs no EAL);
// see rss.hpp for the steering design.
#include <linerate/device/rss.hpp>

#include <rte_thash.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace linerate::device {

std::vector<std::uint8_t> make_symmetric_rss_key(std::size_t bytes) {
    std::vector<std::uint8_t> key(bytes);
    for (std::size_t i = 0; i < bytes; ++i) key[i] = symmetric_rss_key[i % 2];
    return key;
}

toeplitz::toeplitz(std::span<const std::uint8_t> key) {
    if (key.size() < min_rss_key_size)
        throw std::invalid_argument(
            fmt::format("RSS key of {} bytes: the Toeplitz hash of an IPv4/TCP tuple needs at least {}", key.size(),
                        min_rss_key_size));
    // The key is a byte string; rte_convert_rss_key reads it as big-endian words,
    // so copy it into aligned words first (a span of bytes carries no alignment).
    std::array<std::uint32_t, 10> wire{};
    std::memcpy(wire.data(), key.data(), std::min(key.size(), sizeof wire));
    rte_convert_rss_key(wire.data(), key_.data(), static_cast<int>(sizeof wire));
}

std::uint32_t toeplitz::ipv4_tcp(ipv4_addr src, ipv4_addr dst, std::uint16_t sport,
                                 std::uint16_t dport) const noexcept {
    // The input as it appears in the packet, in CPU-order words: source address,
    // destination address, then the source port in the high half of the third word
    // and the destination port in the low half (rte_ipv4_tuple's layout, built with
    // shifts so that it holds on either byte order).
    std::uint32_t tuple[RTE_THASH_V4_L4_LEN] = {src.value, dst.value, (std::uint32_t{sport} << 16) | dport};
    return rte_softrss_be(tuple, RTE_THASH_V4_L4_LEN, reinterpret_cast<const std::uint8_t *>(key_.data()));
}

std::uint32_t toeplitz::ipv4(ipv4_addr src, ipv4_addr dst) const noexcept {
    std::uint32_t tuple[RTE_THASH_V4_L3_LEN] = {src.value, dst.value};
    return rte_softrss_be(tuple, RTE_THASH_V4_L3_LEN, reinterpret_cast<const std::uint8_t *>(key_.data()));
}

} // namespace linerate::device
