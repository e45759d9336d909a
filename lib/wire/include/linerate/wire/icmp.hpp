// ICMP messages (RFC 792), to the extent a TCP endpoint needs them: answering echo
// requests (RFC 1122 §3.2.2.6 "Every host MUST implement an ICMP Echo server"), and a
// view generic enough to count and classify everything else.
//
// The echo reply is made in place from the request: swap the addresses in the IP header
// (the engine's job), turn type 8 into 0 and patch the checksum incrementally, leaving the
// data untouched. Nothing is copied and the checksum is not recomputed over the data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <linerate/wire/result.hpp>

namespace linerate::wire {

inline constexpr std::uint8_t icmp_echo_reply = 0;
inline constexpr std::uint8_t icmp_dest_unreachable = 3;
inline constexpr std::uint8_t icmp_echo_request = 8;
inline constexpr std::uint8_t icmp_time_exceeded = 11;
inline constexpr std::size_t icmp_header_len = 8;

struct icmp_view {
    std::uint8_t type = 0;
    std::uint8_t code = 0;
    std::uint16_t checksum = 0;
    // Bytes 4..7. Identifier and sequence number for echo (RFC 792 "Echo or Echo Reply
    // Message"); for other types these are the raw "rest of header" halves.
    std::uint16_t id = 0;
    std::uint16_t sequence = 0;
    std::span<const std::uint8_t> data{}; // after the 8-byte header
};

// message is the IPv4 payload. Fewer than 8 bytes -> icmp_truncated; the checksum covers
// the whole message (RFC 792) -> icmp_bad_checksum.
[[nodiscard]] parse_result<icmp_view> parse_icmp(std::span<const std::uint8_t> message,
                                                 checksum_mode mode = checksum_mode::verify) noexcept;

// In place: type 8 -> 0, the checksum patched incrementally (RFC 1624), identifier,
// sequence number and data untouched (RFC 1122 §3.2.2.6: the data MUST be returned).
// Does nothing unless message holds at least an 8-byte header of type 8, so a caller
// cannot turn some other message into a reply by mistake.
void icmp_echo_to_reply(std::span<std::uint8_t> message) noexcept;

} // namespace linerate::wire
