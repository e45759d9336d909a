// The Internet checksum: full computation (RFC 1071) and incremental update (RFC 1624).
//
// Values are host-order numbers: the 16-bit quantity you would write with store_be16 into
// the checksum field, and what load_be16 reads back. Summing 16-bit big-endian words and
// keeping the result in host order is byte-order independent (RFC 1071 §2(B)), so nothing
// here depends on the host's endianness.
//
// The split into csum_partial / csum_fold lets a caller add pieces that are not adjacent
// in memory (pseudo header + TCP header + payload) and fold once. Only the last piece may
// have odd length: an odd piece is padded with a zero byte, which shifts the pairing of
// every byte after it.
//
// Incremental updates use RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), and not RFC 1141's
// HC' = HC + m + ~m', which can produce 0x0000 where a full recomputation gives 0xffff
// (RFC 1624 §3). Prebuilt header templates are patched this way on the fast path.
#pragma once

#include <cstdint>
#include <span>

#include <linerate/base/addr.hpp>

namespace linerate::wire {

// One's complement sum of the 16-bit big-endian words of data, added to sum. The result
// is an unfolded accumulator: congruent to the true sum modulo 0xffff, and zero only when
// sum and data are all zero, which is all that csum_fold and further partial sums need.
// (It is not the plain word sum: the data is added eight bytes at a time and folded to
// 16 bits before sum is added.) RFC 1071 §4.1: a trailing odd byte is the high half of a
// word whose low half is zero.
[[nodiscard]] std::uint32_t csum_partial(std::span<const std::uint8_t> data, std::uint32_t sum = 0) noexcept;

// Folds the carries back in (end-around carry, RFC 1071 §1) and complements: the value
// to store in a checksum field. A buffer that includes a correct checksum folds to 0.
[[nodiscard]] constexpr std::uint16_t csum_fold(std::uint32_t sum) noexcept {
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16); // the first fold can carry once more
    return static_cast<std::uint16_t>(~sum);
}

// The same for a sum kept in 64 bits, to which whole 32-bit fields were added: a
// 32-bit value is congruent to the sum of its two 16-bit halves modulo 0xffff (RFC
// 1071 §2(A)), so a header's sequence numbers, addresses and timestamps need one add
// each instead of two shifts, a mask and two adds. Folded with end-around adds, so a
// non-zero sum gives the same field as csum_fold of the halves' sum.
// Always inlined: GCC otherwise keeps it out of line in the receive path, a call per
// verified checksum for ten instructions.
[[nodiscard, gnu::always_inline]] constexpr inline std::uint16_t csum_fold64(std::uint64_t sum) noexcept {
    const auto hi32 = static_cast<std::uint32_t>(sum >> 32);
    std::uint32_t s = static_cast<std::uint32_t>(sum) + hi32;
    s += s < hi32 ? 1u : 0u;
    const auto hi16 = static_cast<std::uint16_t>(s >> 16);
    auto t = static_cast<std::uint16_t>(static_cast<std::uint16_t>(s) + hi16);
    t = static_cast<std::uint16_t>(t + (t < hi16 ? 1u : 0u));
    return static_cast<std::uint16_t>(~t);
}

[[nodiscard]] std::uint16_t inet_checksum(std::span<const std::uint8_t> data) noexcept;

// The sum of the IPv4 pseudo header that TCP (RFC 9293 §3.1) and UDP prefix to their
// checksum: source, destination, zero, protocol, upper-layer length.
[[nodiscard]] constexpr std::uint32_t ipv4_pseudo_header_sum(ipv4_addr src, ipv4_addr dst, std::uint8_t protocol,
                                                             std::uint16_t length) noexcept {
    return (src.value >> 16) + (src.value & 0xffffu) + (dst.value >> 16) + (dst.value & 0xffffu) + protocol +
           length;
}

// RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data changes
// from old_value to new_value. The word must sit at an even offset of the summed data.
[[nodiscard]] constexpr std::uint16_t csum_update16(std::uint16_t old_check, std::uint16_t old_value,
                                                    std::uint16_t new_value) noexcept {
    const std::uint32_t sum = std::uint32_t{static_cast<std::uint16_t>(~old_check)} +
                              std::uint32_t{static_cast<std::uint16_t>(~old_value)} + new_value;
    return csum_fold(sum);
}

// The same for an aligned 32-bit field (an address, a sequence number, a timestamp):
// both halves change at once.
[[nodiscard]] constexpr std::uint16_t csum_update32(std::uint16_t old_check, std::uint32_t old_value,
                                                    std::uint32_t new_value) noexcept {
    const std::uint32_t sum = std::uint32_t{static_cast<std::uint16_t>(~old_check)} +
                              std::uint32_t{static_cast<std::uint16_t>(~(old_value >> 16))} +
                              std::uint32_t{static_cast<std::uint16_t>(~old_value)} + (new_value >> 16) +
                              (new_value & 0xffffu);
    return csum_fold(sum);
}

} // namespace linerate::wire
