// Segments as the TCP core sees them: what arrived (already parsed and checksummed by
// wire) and what to send (the engine or the simulation turns it into a packet).
//
// The core never builds packets: an out_segment says which sequence numbers, flags,
// window and options to send, and how many payload bytes of the send stream starting
// at `seq` it carries; whoever owns the buffers copies or references them.
#pragma once

#include <linerate/base/addr.hpp>
#include <linerate/base/seq32.hpp>
#include <linerate/wire/tcp.hpp>

#include <cstdint>
#include <optional>
#include <span>

namespace linerate::tcp {

using wire::tcp_flags;
using wire::tcp_options;

// A connection's identity, from this endpoint's point of view.
struct four_tuple {
    ipv4_addr local_ip{};
    ipv4_addr remote_ip{};
    std::uint16_t local_port = 0;
    std::uint16_t remote_port = 0;

    friend constexpr bool operator==(const four_tuple &, const four_tuple &) noexcept = default;
    [[nodiscard]] constexpr four_tuple reversed() const noexcept {
        return four_tuple{remote_ip, local_ip, remote_port, local_port};
    }
};

using segment = wire::tcp_segment;

struct out_segment {
    seq32 seq{};
    seq32 ack{};
    tcp_flags flags{};
    std::uint16_t window = 0; // already scaled down for the wire
    tcp_options options{};
    std::uint32_t payload_len = 0; // bytes of the send stream starting at seq (after SYN)

    // RFC 9293 §3.4: the sequence space this segment occupies.
    [[nodiscard]] constexpr std::uint32_t len() const noexcept {
        return payload_len + (flags.has(tcp_flags::syn) ? 1u : 0u) + (flags.has(tcp_flags::fin) ? 1u : 0u);
    }
};

// RFC 7323 §5.2: timestamps compare in serial-number arithmetic, like sequence
// numbers: a is older than b.
[[nodiscard]] constexpr bool ts_before(std::uint32_t a, std::uint32_t b) noexcept {
    return static_cast<std::int32_t>(a - b) < 0;
}

// RFC 9293 §3.10.7.1 (and §3.5.2 case 1): the answer to a segment that belongs to no
// connection and no listener. "An incoming segment containing a RST is discarded. An
// incoming segment not containing a RST causes a RST to be sent in response":
//   ACK off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
//   ACK on:  <SEQ=SEG.ACK><CTL=RST>
[[nodiscard]] constexpr std::optional<out_segment> reset_for_unknown(const segment &seg) noexcept {
    if (seg.has(tcp_flags::rst)) return std::nullopt;
    out_segment r{};
    if (seg.has(tcp_flags::ack)) {
        r.seq = seg.ack;
        r.flags.set(tcp_flags::rst);
    } else {
        r.seq = seq32{0};
        r.ack = seg.seq + seg.len();
        r.flags.set(tcp_flags::rst | tcp_flags::ack);
    }
    return r;
}

} // namespace linerate::tcp
