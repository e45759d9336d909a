// TCP headers and options: RFC 9293 §3.1-3.2, window scale and timestamps (RFC 7323),
// selective acknowledgment (RFC 2018).
//
// parse_tcp checks the header's structure and checksum and stops there: the option list
// is handed over as bytes, and parse_tcp_options interprets it when the state machine
// wants it (always for a SYN, for timestamps and SACK on established connections). That
// keeps a pure ACK without options from paying for an option walk, and lets the engine
// decide per state what a malformed option list costs (RFC 9293 §3.1 MUST-7 suggests
// resetting the connection; a parse error here never decides that).
//
// Values are host order. Sequence and acknowledgment numbers are seq32 (wrap-safe).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include <linerate/base/addr.hpp>
#include <linerate/base/seq32.hpp>
#include <linerate/wire/result.hpp>

namespace linerate::wire {

struct tcp_flags {
    std::uint8_t bits = 0;

    static constexpr std::uint8_t fin = 0x01;
    static constexpr std::uint8_t syn = 0x02;
    static constexpr std::uint8_t rst = 0x04;
    static constexpr std::uint8_t psh = 0x08;
    static constexpr std::uint8_t ack = 0x10;
    static constexpr std::uint8_t urg = 0x20;
    static constexpr std::uint8_t ece = 0x40; // RFC 3168
    static constexpr std::uint8_t cwr = 0x80; // RFC 3168

    // True when every flag in f is set (has(syn | ack) is "SYN and ACK").
    [[nodiscard]] constexpr bool has(std::uint8_t f) const noexcept { return (bits & f) == f; }
    [[nodiscard]] constexpr bool has_any(std::uint8_t f) const noexcept { return (bits & f) != 0; }
    // True when the flags are exactly f: only(syn) is a bare SYN.
    [[nodiscard]] constexpr bool only(std::uint8_t f) const noexcept { return bits == f; }
    constexpr tcp_flags &set(std::uint8_t f) noexcept { bits = static_cast<std::uint8_t>(bits | f); return *this; }
    constexpr tcp_flags &clear(std::uint8_t f) noexcept { bits = static_cast<std::uint8_t>(bits & ~f); return *this; }

    friend constexpr bool operator==(tcp_flags, tcp_flags) noexcept = default;
};

inline constexpr std::size_t tcp_min_header_len = 20;
inline constexpr std::size_t tcp_max_header_len = 60;
inline constexpr std::size_t tcp_max_options_len = tcp_max_header_len - tcp_min_header_len;

struct tcp_view {
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    seq32 seq{};
    seq32 ack{};
    std::uint8_t data_offset = 0; // header length in 32-bit words
    // The 4 reserved bits, reported as received. RFC 9293 §3.1: zero when sent, ignored
    // when received; they are given to the caller for counting and tracing only.
    std::uint8_t reserved = 0;
    tcp_flags flags{};
    std::uint16_t window = 0; // unscaled, as on the wire
    std::uint16_t checksum = 0;
    std::uint16_t urgent_pointer = 0;
    std::span<const std::uint8_t> options{}; // data_offset*4 - 20 bytes, not yet interpreted
    std::span<const std::uint8_t> payload{};
};

// segment is the IPv4 payload (already trimmed to total_length); src and dst feed the
// pseudo header. Checks, in this order:
//   fewer than 20 bytes                          -> tcp_truncated
//   data offset < 5, or data offset*4 > segment  -> tcp_bad_data_offset (RFC 9293 §3.1 "Data Offset")
//   checksum over pseudo header + segment        -> tcp_bad_checksum (RFC 9293 §3.1 MUST-3)
[[nodiscard]] parse_result<tcp_view> parse_tcp(std::span<const std::uint8_t> segment, ipv4_addr src, ipv4_addr dst,
                                               checksum_mode mode = checksum_mode::verify) noexcept;

// Option kinds (IANA "TCP Option Kind Numbers").
inline constexpr std::uint8_t tcp_opt_eol = 0;
inline constexpr std::uint8_t tcp_opt_nop = 1;
inline constexpr std::uint8_t tcp_opt_mss = 2;
inline constexpr std::uint8_t tcp_opt_window_scale = 3;
inline constexpr std::uint8_t tcp_opt_sack_permitted = 4;
inline constexpr std::uint8_t tcp_opt_sack = 5;
inline constexpr std::uint8_t tcp_opt_timestamp = 8;

// RFC 7323 §2.3: the largest shift count that is used.
inline constexpr std::uint8_t tcp_max_window_scale = 14;

// RFC 7323 §2.3: "If a Window Scale option is received with a shift.cnt value larger than
// 14, the TCP SHOULD log the error but MUST use 14 instead of the specified value."
[[nodiscard]] constexpr std::uint8_t clamp_window_scale(std::uint8_t shift) noexcept {
    return shift > tcp_max_window_scale ? tcp_max_window_scale : shift;
}

struct tcp_sack_block {
    seq32 left{};
    seq32 right{};
    friend constexpr bool operator==(const tcp_sack_block &, const tcp_sack_block &) noexcept = default;
};

inline constexpr std::size_t tcp_max_sack_blocks = 4; // RFC 2018 §3: 4 blocks fill the 40 bytes

struct tcp_options {
    std::optional<std::uint16_t> mss{}; // kind 2, length 4
    // kind 3, length 3. Stored raw, as received; use effective_window_scale() (or
    // clamp_window_scale) for the shift to apply.
    std::optional<std::uint8_t> window_scale{};
    bool sack_permitted = false; // kind 4, length 2
    std::uint8_t sack_count = 0; // kind 5, length 2 + 8n, n in 1..4
    std::array<tcp_sack_block, tcp_max_sack_blocks> sack{};
    bool has_timestamp = false; // kind 8, length 10
    std::uint32_t ts_val = 0;
    std::uint32_t ts_ecr = 0;

    [[nodiscard]] constexpr std::optional<std::uint8_t> effective_window_scale() const noexcept {
        if (!window_scale) return std::nullopt;
        return clamp_window_scale(*window_scale);
    }
};

// Interprets an option list (tcp_view::options). RFC 9293 §3.1-3.2:
//   - options may start at any byte (MUST-64); EOL ends the list, NOP is skipped;
//   - a known kind with the wrong length                     -> tcp_bad_option;
//   - an unknown kind with a valid length is skipped (MUST-6);
//   - a length of 0 or 1, or one that runs past the list     -> tcp_bad_option (MUST-7);
//   - a kind byte with no room for its length byte           -> tcp_bad_option (MUST-68:
//     every option but EOL and NOP has a length);
//   - a repeated option: the last one wins, as in Linux.
// The bytes after EOL are not inspected (MUST-69 binds the sender).
[[nodiscard]] parse_result<tcp_options> parse_tcp_options(std::span<const std::uint8_t> options) noexcept;

// A received segment as the TCP core reads it (tcp::segment names this type): header
// fields, options, and the payload, which points into the frame. Defined here, below the
// core, so that the one-pass parser (fast_parse.hpp) fills it in place and the core
// reads it where it lies instead of from a copy.
struct tcp_segment {
    seq32 seq{};
    seq32 ack{};
    tcp_flags flags{};
    std::uint16_t window = 0; // as on the wire, not yet scaled
    tcp_options options{};
    std::span<const std::uint8_t> payload{};

    [[nodiscard]] constexpr bool has(std::uint8_t f) const noexcept { return flags.has(f); }
    // RFC 9293 §3.4: SEG.LEN counts the octets of data and the SYN and FIN controls.
    [[nodiscard]] constexpr std::uint32_t len() const noexcept {
        return static_cast<std::uint32_t>(payload.size()) + (flags.has(tcp_flags::syn) ? 1u : 0u) +
               (flags.has(tcp_flags::fin) ? 1u : 0u);
    }
};

// Bytes that write_tcp_options needs for o (a multiple of 4); more than 40 means o does
// not fit in a TCP header.
[[nodiscard]] std::size_t tcp_options_size(const tcp_options &o) noexcept;

// Emits the options that are set in the layout Linux uses (tcp_options_write()):
//   MSS | SACK-perm+TS, or NOP NOP TS, or NOP NOP SACK-perm | NOP WS | NOP NOP SACK blocks
// which aligns every 32-bit field and is always a multiple of 4. Returns the bytes
// written, or 0 if out is too small or the options need more than 40 bytes (say, a
// timestamp and four SACK blocks: the caller chooses which blocks to drop).
std::size_t write_tcp_options(std::span<std::uint8_t> out, const tcp_options &o) noexcept;

struct tcp_fields {
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    seq32 seq{};
    seq32 ack{};
    tcp_flags flags{};
    std::uint16_t window = 0;
    std::uint16_t urgent_pointer = 0;
};

// Writes header + options_bytes + payload with the checksum filled in (RFC 9293 §3.1
// MUST-2) and the reserved bits zero. Returns the segment length, or 0 if out is too
// small, options_bytes is not a multiple of 4 or longer than 40, or the segment would not
// fit an IPv4 datagram.
std::size_t write_tcp(std::span<std::uint8_t> out, const tcp_fields &f, std::span<const std::uint8_t> options_bytes,
                      std::span<const std::uint8_t> payload, ipv4_addr src, ipv4_addr dst) noexcept;

} // namespace linerate::wire
