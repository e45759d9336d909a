// RFC 1071 Internet checksum over a byte span.
//
// The loop sums 16-bit big-endian words into a 64-bit accumulator, which cannot overflow
// for any buffer that fits in memory, and folds the high half back in at the end. A plain
// word loop is what the compiler vectorises best; the deferred carries are RFC 1071
// §2(C) "deferred carries".
#include <linerate/wire/checksum.hpp>

#include <linerate/base/byteorder.hpp>

namespace linerate::wire {

std::uint32_t csum_partial(std::span<const std::uint8_t> data, std::uint32_t sum) noexcept {
    std::uint64_t acc = sum;
    const std::uint8_t *p = data.data();
    std::size_t n = data.size();
    for (; n >= 2; n -= 2, p += 2) acc += load_be16(p);
    // RFC 1071 §4.1: "Add left-over byte, if any", as the high half of a word.
    if (n != 0) acc += std::uint64_t{*p} << 8;
    // Fold to 32 bits; 2^32 == 1 modulo 0xffff, so this keeps the value's class.
    while (acc >> 32) acc = (acc & 0xffffffffu) + (acc >> 32);
    return static_cast<std::uint32_t>(acc);
}

std::uint16_t inet_checksum(std::span<const std::uint8_t> data) noexcept { return csum_fold(csum_partial(data)); }

} // namespace linerate::wire
