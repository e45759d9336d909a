// ARP packet parse and build, RFC 826 "Packet format", Ethernet and IPv4 only.
#include <linerate/wire/arp.hpp>


#include <linerate/base/byteorder.hpp>
#include <linerate/wire/ethernet.hpp>

namespace linerate::wire {

parse_result<arp_view> parse_arp(std::span<const std::uint8_t> payload) noexcept {
    if (payload.size() < arp_len) return drop_reason::arp_truncated;
    const std::uint8_t *p = payload.data();
    // RFC 826: ar$hrd, ar$pro, ar$hln, ar$pln. Only the Ethernet/IPv4 pairing has the
    // 28-byte layout read below.
    if (load_be16(p) != arp_htype_ethernet || load_be16(p + 2) != ethertype_ipv4 || p[4] != 6 || p[5] != 4)
        return drop_reason::arp_unsupported;
    const std::uint16_t op = load_be16(p + 6);
    if (op != static_cast<std::uint16_t>(arp_op::request) && op != static_cast<std::uint16_t>(arp_op::reply))
        return drop_reason::arp_bad_op;
    return arp_view{
        .op = static_cast<arp_op>(op),
        .sha = load_mac(p + 8),
        .spa = ipv4_addr{load_be32(p + 14)},
        .tha = load_mac(p + 18),
        .tpa = ipv4_addr{load_be32(p + 24)},
    };
}

std::size_t write_arp(std::span<std::uint8_t> out, arp_op op, mac_addr sha, ipv4_addr spa, mac_addr tha,
                      ipv4_addr tpa) noexcept {
    if (out.size() < arp_len) return 0;
    std::uint8_t *p = out.data();
    store_be16(p, arp_htype_ethernet);
    store_be16(p + 2, ethertype_ipv4);
    p[4] = 6;
    p[5] = 4;
    store_be16(p + 6, static_cast<std::uint16_t>(op));
    store_mac(p + 8, sha);
    store_be32(p + 14, spa.value);
    store_mac(p + 18, tha);
    store_be32(p + 24, tpa.value);
    return arp_len;
}

} // namespace linerate::wire
