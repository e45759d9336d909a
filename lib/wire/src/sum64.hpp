// The one's complement sum with 64-bit adds, shared by csum_partial (checksum.cpp) and
// the one-pass receive recogniser (fast_parse.cpp), which must not pay a call for it.
//
// Why this is the Internet checksum (RFC 1071 §2):
//   (A) one's complement addition is associative and commutative, so the 16-bit words
//       can be added in any grouping: a 64-bit load is four words added at once, and
//       2^16 == 1 modulo 0xffff makes a 64-bit value congruent to the sum of its four
//       16-bit lanes;
//   (B) byte order independence: words loaded in the host's order sum to the byte-swap
//       of the big-endian sum, so the adds use native loads and one swap at the end
//       (only on a little-endian host) puts the result in host order;
//   (C) deferred carries: the carry out of each 64-bit add is added back at once (an
//       add-with-carry), since 2^64 == 1 modulo 0xffff as well.
// A value that is not zero never folds to zero (end-around carries never produce zero
// from a non-zero sum), so the fold's result agrees with the 16-bit reference loop on
// the one question that depends on more than the class modulo 0xffff: "is it -0 or +0".
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <linerate/base/byteorder.hpp>
#include <linerate/wire/checksum.hpp>

namespace linerate::wire::detail {

[[nodiscard]] inline std::uint64_t load_native64(const std::uint8_t *p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
[[nodiscard]] inline std::uint32_t load_native32(const std::uint8_t *p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// a + b with the carry added back in (RFC 1071 §2(C)); compilers emit add, adc $0.
[[nodiscard]] inline std::uint64_t add_end_around(std::uint64_t a, std::uint64_t b) noexcept {
    a += b;
    return a + (a < b ? 1u : 0u);
}

// `v`'s bytes as they sit at byte offset `at` of a native 64-bit word read from memory.
template <class T> [[nodiscard]] inline std::uint64_t place(T v, unsigned at) noexcept {
    if constexpr (std::endian::native == std::endian::little)
        return std::uint64_t{v} << (8 * at);
    else
        return std::uint64_t{v} << (8 * (8 - sizeof(T) - at));
}

// The native-order sum of n bytes at p added to acc. p may have any alignment; the
// pairing of bytes into words follows their position from p, so an odd n pads the last
// byte with a zero after it (RFC 1071 §4.1, the high half of a big-endian word).
[[nodiscard]] inline std::uint64_t sum64(const std::uint8_t *p, std::size_t n, std::uint64_t acc) noexcept {
    // Two chains, so that the adds of one do not wait for the other's carry.
    std::uint64_t b = 0;
    for (; n >= 32; n -= 32, p += 32) {
        acc = add_end_around(acc, load_native64(p));
        b = add_end_around(b, load_native64(p + 8));
        acc = add_end_around(acc, load_native64(p + 16));
        b = add_end_around(b, load_native64(p + 24));
    }
    acc = add_end_around(acc, b);
    for (; n >= 8; n -= 8, p += 8) acc = add_end_around(acc, load_native64(p));
    if (n != 0) {
        // The last 1-7 bytes in memory order, zero-padded: the same words as a padded
        // buffer would give, in either byte order.
        // Fixed-size loads instead of a memcpy of variable length (a call or a byte
        // loop): 4, 2 and 1 bytes, each placed where it sits in the padded word.
        std::uint64_t tail = 0;
        unsigned at = 0;
        if (n & 4) {
            std::uint32_t v;
            std::memcpy(&v, p, 4);
            tail = place(v, 0);
            at = 4;
        }
        if (n & 2) {
            std::uint16_t v;
            std::memcpy(&v, p + at, 2);
            tail |= place(v, at);
            at += 2;
        }
        if (n & 1) tail |= place(p[at], at);
        acc = add_end_around(acc, tail);
    }
    return acc;
}

// Folds a native-order 64-bit sum to 16 bits (end-around, so a non-zero sum stays
// non-zero), still in native order: csum_fold64 without its complement.
[[nodiscard]] inline std::uint16_t fold64(std::uint64_t acc) noexcept {
    return static_cast<std::uint16_t>(~csum_fold64(acc));
}

// A native-order 16-bit sum as the host-order value of the big-endian sum (RFC 1071 §2(B)).
[[nodiscard]] inline std::uint16_t native_to_host16(std::uint16_t s) noexcept {
    if constexpr (std::endian::native == std::endian::little) return bswap16(s); else return s;
}

} // namespace linerate::wire::detail
