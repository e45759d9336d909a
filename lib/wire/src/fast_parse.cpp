// The one-pass receive recogniser (see fast_parse.hpp for what it accepts and why it
// never drops). The checks are the general parsers' checks, reduced to the one shape:
// each names the rule of the general parser it stands for.
#include <linerate/wire/fast_parse.hpp>

#include <linerate/base/byteorder.hpp>
#include <linerate/wire/ethernet.hpp>
#include <linerate/wire/ipv4.hpp>

#include "sum64.hpp"

namespace linerate::wire {

namespace {

constexpr std::size_t eth_ipv4_len = ethernet_header_len + ipv4_min_header_len;
// Version 4, IHL 5: RFC 791 §3.1, a header without options.
constexpr std::uint8_t version_ihl_plain = 0x45;
// RFC 791 §3.1: MF and the fragment offset (DF is allowed, and what everyone sends).
constexpr std::uint16_t mf_and_offset = 0x3fff;

// The option layouts nearly every peer sends (Linux's tcp_options_write() and
// linerate's own write_tcp_options, which copies it), compared as whole 32-bit words.
// Every multi-byte value in them sits where the pattern puts it, so each is one load.
constexpr std::uint32_t nop_nop_ts = 0x0101'080au;     // NOP, NOP, TS kind 8 length 10
constexpr std::uint32_t sackok_ts = 0x0402'080au;      // SACK-permitted (4, 2), TS kind 8 length 10
constexpr std::uint32_t nop_nop_sackok = 0x0101'0402u; // NOP, NOP, SACK-permitted
constexpr std::uint32_t mss_kind_len = 0x0204u;         // MSS kind 2 length 4, the word's high half
constexpr std::uint32_t nop_ws_kind_len = 0x01'0303u;   // NOP, WS kind 3 length 3, the word's high 3 bytes

// Reads the option list o (n bytes) into opts if it is one of the layouts above;
// false for anything else, which the general option parser then reads.
bool match_options(const std::uint8_t *o, std::size_t n, tcp_options &opts) noexcept {
    switch (n) {
    case 0: return true;
    case 4: // MSS alone (SYN cookies, small stacks)
        if ((load_be32(o) >> 16) != mss_kind_len) return false;
        opts.mss = load_be16(o + 2);
        return true;
    case 12:
        if (load_be32(o) == nop_nop_ts) { // an established connection with timestamps
            opts.has_timestamp = true;
            opts.ts_val = load_be32(o + 4);
            opts.ts_ecr = load_be32(o + 8);
            return true;
        }
        // A Linux SYN without timestamps: MSS | NOP NOP SACK-perm | NOP WS.
        if ((load_be32(o) >> 16) != mss_kind_len || load_be32(o + 4) != nop_nop_sackok ||
            (load_be32(o + 8) >> 8) != nop_ws_kind_len)
            return false;
        opts.mss = load_be16(o + 2);
        opts.sack_permitted = true;
        opts.window_scale = o[11];
        return true;
    case 20: // the Linux SYN: MSS | SACK-perm TS | TSval | TSecr | NOP WS
        if ((load_be32(o) >> 16) != mss_kind_len || load_be32(o + 4) != sackok_ts ||
            (load_be32(o + 16) >> 8) != nop_ws_kind_len)
            return false;
        opts.mss = load_be16(o + 2);
        opts.sack_permitted = true;
        opts.has_timestamp = true;
        opts.ts_val = load_be32(o + 8);
        opts.ts_ecr = load_be32(o + 12);
        opts.window_scale = o[19];
        return true;
    default: return false;
    }
}

} // namespace

bool parse_fast(std::span<const std::uint8_t> frame, checksum_mode ip_mode, checksum_mode tcp_mode,
                fast_tcp_frame &out) noexcept {
    // Room for Ethernet, IPv4 and a TCP header without options.
    if (frame.size() < eth_ipv4_len + tcp_min_header_len) return false;
    const std::uint8_t *f = frame.data();
    // IPv4 straight after the Ethernet header: no VLAN tag (parse_vlan's job).
    if (load_be16(f + 12) != ethertype_ipv4) return false;

    const std::uint8_t *ip = f + ethernet_header_len;
    // parse_ipv4's version and IHL checks, for IHL 5 only (so its option walk is empty).
    if (ip[0] != version_ihl_plain) return false;
    // parse_ipv4: total length within the frame (the rest is RFC 894 padding); parse_tcp:
    // room for the 20-byte TCP header.
    const std::uint16_t total = load_be16(ip + 2);
    if (total < ipv4_min_header_len + tcp_min_header_len || total > frame.size() - ethernet_header_len) return false;
    // parse_ipv4: RFC 791 §3.2, no fragment (MF clear, offset zero).
    if ((load_be16(ip + 6) & mf_and_offset) != 0) return false;
    if (ip[9] != ip_proto_tcp) return false;
    const ipv4_addr src{load_be32(ip + 12)};
    // parse_ipv4: RFC 1122 §3.2.1.3, a forbidden source is dropped.
    if (ipv4_source_forbidden(src)) return false;

    // Source and destination once, in native order: the IPv4 header sum and the TCP
    // pseudo header (RFC 9293 §3.1) both add them.
    const std::uint64_t addresses = detail::load_native64(ip + 12);
    // RFC 1122 §3.2.1.2: the IPv4 header checksum, the 20 bytes summing to -0.
    if (ip_mode == checksum_mode::verify) {
        const std::uint64_t s = detail::add_end_around(
            detail::add_end_around(detail::load_native64(ip), detail::load_native32(ip + 8)), addresses);
        if (detail::fold64(s) != 0xffff) return false;
    }

    const std::uint8_t *t = ip + ipv4_min_header_len;
    const std::size_t tcp_len = total - ipv4_min_header_len;
    // parse_tcp: RFC 9293 §3.1 "Data Offset", at least 5 words and within the segment.
    const std::size_t header_len = (std::size_t{t[12]} >> 4) * 4;
    if (header_len < tcp_min_header_len || header_len > tcp_len) return false;
    // RFC 9293 §3.1 MUST-3: the checksum over pseudo header (addresses, zero, protocol,
    // TCP length: the four bytes 00 06 Lh Ll) and segment.
    if (tcp_mode == checksum_mode::verify) {
        const std::uint32_t proto_len = hton32((std::uint32_t{ip_proto_tcp} << 16) | static_cast<std::uint32_t>(tcp_len));
        const std::uint64_t s = detail::sum64(t, tcp_len, detail::add_end_around(addresses, proto_len));
        if (detail::fold64(s) != 0xffff) return false;
    }

    out.seg.options = tcp_options{};
    out.options_fell_back = false;
    const std::size_t options_len = header_len - tcp_min_header_len;
    if (!match_options(t + tcp_min_header_len, options_len, out.seg.options)) {
        const auto general = parse_tcp_options(std::span<const std::uint8_t>(t + tcp_min_header_len, options_len));
        if (!general) return false; // the general path counts tcp_bad_option
        out.seg.options = *general;
        out.options_fell_back = true;
    }

    out.eth_dst = load_mac(f);
    out.src = src;
    out.dst = ipv4_addr{load_be32(ip + 16)};
    out.src_port = load_be16(t);
    out.dst_port = load_be16(t + 2);
    out.seg.seq = seq32{load_be32(t + 4)};
    out.seg.ack = seq32{load_be32(t + 8)};
    out.seg.flags = tcp_flags{t[13]};
    out.seg.window = load_be16(t + 14);
    out.l4_length = static_cast<std::uint16_t>(tcp_len);
    out.seg.payload = std::span<const std::uint8_t>(t + header_len, tcp_len - header_len);
    return true;
}

} // namespace linerate::wire
