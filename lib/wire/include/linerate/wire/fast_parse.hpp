// The one-pass receive recogniser: the common TCP frame in a few compares.
//
// Nearly every frame a TCP endpoint receives has one shape: Ethernet II without a VLAN
// tag, IPv4 with a 20-byte header and no fragmentation, TCP with no options, with
// NOP NOP timestamps, or with the options of a Linux SYN. parse_fast recognises exactly
// that shape and, in the same pass, verifies the IPv4 header checksum and the TCP
// checksum with 64-bit adds: the source and destination addresses are summed once, for
// the IPv4 header and the TCP pseudo header both.
//
// It only ever accepts. A frame it does not take (any other shape, and every frame with
// something wrong: a bad checksum, a bad length, a fragment, a forbidden source, a
// malformed option) is left to the general parsers (parse_ethernet, parse_ipv4,
// parse_tcp, parse_tcp_options), which stay the reference: they decide, and the caller
// counts the drop reason they give, so drop counters are the same whichever path saw the
// frame. For every frame it accepts, parse_fast gives what the general chain gives (a
// differential unit test holds it to that on random and mutated frames).
//
// Options: a layout matched by a pattern is read field by field; any other option list of
// an otherwise fast frame goes through parse_tcp_options (options_fell_back says so),
// and a list that parser refuses makes the whole frame "not fast".
//
// What is ours (the destination MAC and address) is the caller's policy, as with the
// general parsers: parse_fast reports them and judges neither.
#pragma once

#include <cstdint>
#include <span>

#include <linerate/base/addr.hpp>
#include <linerate/base/seq32.hpp>
#include <linerate/wire/result.hpp>
#include <linerate/wire/tcp.hpp>

namespace linerate::wire {

// Where the TCP header starts in a frame parse_fast accepts: Ethernet (14) + IPv4 (20).
inline constexpr std::size_t fast_l4_offset = 34;

struct fast_tcp_frame {
    mac_addr eth_dst{};
    ipv4_addr src{}; // host order, as every address in linerate
    ipv4_addr dst{};
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    std::uint16_t l4_length = 0; // the TCP segment's length: IPv4 total length - 20
    // True when the options matched no pattern and parse_tcp_options read them.
    bool options_fell_back = false;
    // What the TCP core reads, given to it as it lies here.
    tcp_segment seg{};
};

// Fills out and returns true when frame is Ethernet / IPv4 (IHL 5, not a fragment, a
// source that is not forbidden) / TCP, lengths consistent, checksums correct (each
// verified unless its mode is skip: the device did it) and options well formed. Returns
// false otherwise, with out unspecified: the caller then runs the general parsers.
[[nodiscard]] bool parse_fast(std::span<const std::uint8_t> frame, checksum_mode ip_mode, checksum_mode tcp_mode,
                              fast_tcp_frame &out) noexcept;

} // namespace linerate::wire
