// IPv4 header validation and build (RFC 791 §3.1, RFC 1122 §3.2.1).
#include <linerate/wire/ipv4.hpp>

#include <linerate/base/byteorder.hpp>
#include <linerate/wire/checksum.hpp>

namespace linerate::wire {

namespace {
constexpr std::uint8_t ipopt_eol = 0; // RFC 791 §3.1 "End of Option List"
constexpr std::uint8_t ipopt_nop = 1; // RFC 791 §3.1 "No Operation"
constexpr std::uint16_t flag_df = 0x4000;
constexpr std::uint16_t flag_mf = 0x2000;
constexpr std::uint16_t frag_offset_mask = 0x1fff;
} // namespace

bool ipv4_options_well_formed(std::span<const std::uint8_t> options) noexcept {
    std::size_t i = 0;
    while (i < options.size()) {
        const std::uint8_t type = options[i];
        // RFC 791 §3.1: EOL "is used at the end of all options"; what follows is padding.
        if (type == ipopt_eol) return true;
        if (type == ipopt_nop) {
            ++i;
            continue;
        }
        // RFC 791 §3.1 case (2): type, length, data; "the option-length octet counts the
        // option-type octet and the option-length octet as well as the option-data octets".
        if (options.size() - i < 2) return false;
        const std::uint8_t len = options[i + 1];
        if (len < 2 || len > options.size() - i) return false;
        i += len;
    }
    return true;
}

parse_result<ipv4_view> parse_ipv4(std::span<const std::uint8_t> packet, checksum_mode mode) noexcept {
    if (packet.size() < ipv4_min_header_len) return drop_reason::ipv4_truncated;
    const std::uint8_t *p = packet.data();

    // RFC 1122 §3.2.1.1: "A datagram whose version number is not 4 MUST be silently discarded."
    if ((p[0] >> 4) != 4) return drop_reason::ipv4_bad_version;

    // RFC 791 §3.1: IHL counts 32-bit words, "the minimum value for a correct header is 5".
    const std::uint8_t ihl = p[0] & 0x0f;
    const std::size_t header_len = std::size_t{ihl} * 4;
    if (ihl < 5 || header_len > packet.size()) return drop_reason::ipv4_bad_ihl;

    // The total length bounds the datagram; anything after it is link-layer padding
    // (RFC 894: Ethernet frames are padded to 60 bytes), anything missing is truncation.
    const std::uint16_t total_length = load_be16(p + 2);
    if (total_length < header_len || total_length > packet.size()) return drop_reason::ipv4_bad_total_length;

    const auto header = packet.first(header_len);
    // RFC 1122 §3.2.1.2: "A host MUST verify the IP header checksum on every received
    // datagram and silently discard every datagram that has a bad checksum."
    if (mode == checksum_mode::verify && inet_checksum(header) != 0) return drop_reason::ipv4_bad_checksum;

    const auto options = header.subspan(ipv4_min_header_len);
    if (!ipv4_options_well_formed(options)) return drop_reason::ipv4_bad_option;

    // RFC 791 §3.2 "Fragmentation and Reassembly": a fragment has MF set or a non-zero
    // offset. We do not reassemble (see ipv4.hpp), so every fragment is dropped, the
    // first one included, rather than handing TCP a partial segment.
    const std::uint16_t frag = load_be16(p + 6);
    if ((frag & flag_mf) != 0 || (frag & frag_offset_mask) != 0) return drop_reason::ipv4_fragment;

    const ipv4_addr src{load_be32(p + 12)};
    if (ipv4_source_forbidden(src)) return drop_reason::ipv4_bad_source;

    return ipv4_view{
        .ihl = ihl,
        .tos = p[1],
        .total_length = total_length,
        .id = load_be16(p + 4),
        .dont_fragment = (frag & flag_df) != 0,
        .more_fragments = false,
        .fragment_offset = 0,
        .ttl = p[8],
        .protocol = p[9],
        .checksum = load_be16(p + 10),
        .src = src,
        .dst = ipv4_addr{load_be32(p + 16)},
        .header = header,
        .options = options,
        .payload = packet.subspan(header_len, total_length - header_len),
    };
}

std::size_t write_ipv4(std::span<std::uint8_t> out, const ipv4_fields &f) noexcept {
    if (out.size() < ipv4_min_header_len) return 0;
    std::uint8_t *p = out.data();
    p[0] = 0x45; // version 4, IHL 5: linerate sends no options
    p[1] = f.tos;
    store_be16(p + 2, f.total_length);
    store_be16(p + 4, f.id);
    store_be16(p + 6, f.dont_fragment ? flag_df : 0);
    p[8] = f.ttl;
    p[9] = f.protocol;
    store_be16(p + 10, 0); // RFC 791 §3.1: the checksum field is zero while summing
    store_be32(p + 12, f.src.value);
    store_be32(p + 16, f.dst.value);
    store_be16(p + 10, inet_checksum(out.first(ipv4_min_header_len)));
    return ipv4_min_header_len;
}

} // namespace linerate::wire
