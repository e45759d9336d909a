// ICMP message view and the in-place echo reply (RFC 792, RFC 1122 §3.2.2.6).
#include <linerate/wire/icmp.hpp>

#include <linerate/base/byteorder.hpp>
#include <linerate/wire/checksum.hpp>

namespace linerate::wire {

parse_result<icmp_view> parse_icmp(std::span<const std::uint8_t> message, checksum_mode mode) noexcept {
    if (message.size() < icmp_header_len) return drop_reason::icmp_truncated;
    // RFC 792: "The checksum is the 16-bit ones's complement of the one's complement sum
    // of the ICMP message starting with the ICMP Type."
    if (mode == checksum_mode::verify && inet_checksum(message) != 0) return drop_reason::icmp_bad_checksum;
    const std::uint8_t *p = message.data();
    return icmp_view{
        .type = p[0],
        .code = p[1],
        .checksum = load_be16(p + 2),
        .id = load_be16(p + 4),
        .sequence = load_be16(p + 6),
        .data = message.subspan(icmp_header_len),
    };
}

void icmp_echo_to_reply(std::span<std::uint8_t> message) noexcept {
    if (message.size() < icmp_header_len || message[0] != icmp_echo_request) return;
    std::uint8_t *p = message.data();
    // Type and code form the first 16-bit word of the summed message; only the type
    // changes, so one RFC 1624 update of that word replaces a pass over the data.
    const std::uint16_t old_word = load_be16(p);
    p[0] = icmp_echo_reply;
    const std::uint16_t new_word = load_be16(p);
    store_be16(p + 2, csum_update16(load_be16(p + 2), old_word, new_word));
}

} // namespace linerate::wire
