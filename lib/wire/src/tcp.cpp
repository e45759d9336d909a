// TCP header parse and build (RFC 9293 §3.1).
#include <linerate/wire/tcp.hpp>

#include <cstring>

#include <linerate/base/byteorder.hpp>
#include <linerate/wire/checksum.hpp>
#include <linerate/wire/ipv4.hpp>

namespace linerate::wire {

parse_result<tcp_view> parse_tcp(std::span<const std::uint8_t> segment, ipv4_addr src, ipv4_addr dst,
                                 checksum_mode mode) noexcept {
    if (segment.size() < tcp_min_header_len) return drop_reason::tcp_truncated;
    const std::uint8_t *p = segment.data();

    // RFC 9293 §3.1 "Data Offset": the number of 32-bit words in the header, so at least
    // the 5 of the fixed part, and the header cannot extend past the segment.
    const std::uint8_t data_offset = p[12] >> 4;
    const std::size_t header_len = std::size_t{data_offset} * 4;
    if (data_offset < 5 || header_len > segment.size()) return drop_reason::tcp_bad_data_offset;

    // RFC 9293 §3.1 MUST-3: "the receiver MUST check it". The pseudo header carries the
    // TCP length, which an IPv4 payload keeps below 2^16.
    if (mode == checksum_mode::verify) {
        if (segment.size() > 0xffff) return drop_reason::tcp_bad_checksum;
        const std::uint32_t pseudo =
            ipv4_pseudo_header_sum(src, dst, ip_proto_tcp, static_cast<std::uint16_t>(segment.size()));
        if (csum_fold(csum_partial(segment, pseudo)) != 0) return drop_reason::tcp_bad_checksum;
    }

    return tcp_view{
        .src_port = load_be16(p),
        .dst_port = load_be16(p + 2),
        .seq = seq32{load_be32(p + 4)},
        .ack = seq32{load_be32(p + 8)},
        .data_offset = data_offset,
        .reserved = static_cast<std::uint8_t>(p[12] & 0x0f),
        .flags = tcp_flags{p[13]},
        .window = load_be16(p + 14),
        .checksum = load_be16(p + 16),
        .urgent_pointer = load_be16(p + 18),
        .options = segment.subspan(tcp_min_header_len, header_len - tcp_min_header_len),
        .payload = segment.subspan(header_len),
    };
}

std::size_t write_tcp(std::span<std::uint8_t> out, const tcp_fields &f, std::span<const std::uint8_t> options_bytes,
                      std::span<const std::uint8_t> payload, ipv4_addr src, ipv4_addr dst) noexcept {
    // RFC 9293 §3.1: the header "is an integer multiple of 32 bits long", at most 15 words.
    if (options_bytes.size() % 4 != 0 || options_bytes.size() > tcp_max_options_len) return 0;
    const std::size_t header_len = tcp_min_header_len + options_bytes.size();
    const std::size_t total = header_len + payload.size();
    if (total > 0xffff - ipv4_min_header_len || out.size() < total) return 0;

    std::uint8_t *p = out.data();
    store_be16(p, f.src_port);
    store_be16(p + 2, f.dst_port);
    store_be32(p + 4, f.seq.raw());
    store_be32(p + 8, f.ack.raw());
    // RFC 9293 §3.1 "Reserved": zero in generated segments.
    p[12] = static_cast<std::uint8_t>((header_len / 4) << 4);
    p[13] = f.flags.bits;
    store_be16(p + 14, f.window);
    store_be16(p + 16, 0);
    store_be16(p + 18, f.urgent_pointer);
    // memmove, not memcpy: a caller may build in place over a buffer that already holds
    // the payload or the options at their final position.
    if (!options_bytes.empty()) std::memmove(p + tcp_min_header_len, options_bytes.data(), options_bytes.size());
    if (!payload.empty()) std::memmove(p + header_len, payload.data(), payload.size());

    // RFC 9293 §3.1 MUST-2: the sender MUST generate the checksum.
    const std::uint32_t pseudo = ipv4_pseudo_header_sum(src, dst, ip_proto_tcp, static_cast<std::uint16_t>(total));
    store_be16(p + 16, csum_fold(csum_partial(out.first(total), pseudo)));
    return total;
}

} // namespace linerate::wire
