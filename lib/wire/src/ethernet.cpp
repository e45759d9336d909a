// Ethernet II header split and build.
#include <linerate/wire/ethernet.hpp>


#include <linerate/base/byteorder.hpp>

namespace linerate::wire {

parse_result<ethernet_view> parse_ethernet(std::span<const std::uint8_t> frame) noexcept {
    if (frame.size() < ethernet_header_len) return drop_reason::eth_truncated;
    const std::uint8_t *p = frame.data();
    return ethernet_view{
        .dst = load_mac(p),
        .src = load_mac(p + 6),
        .ethertype = load_be16(p + 12),
        .payload = frame.subspan(ethernet_header_len),
    };
}

std::size_t write_ethernet(std::span<std::uint8_t> out, mac_addr dst, mac_addr src, std::uint16_t ethertype) noexcept {
    if (out.size() < ethernet_header_len) return 0;
    std::uint8_t *p = out.data();
    store_mac(p, dst);
    store_mac(p + 6, src);
    store_be16(p + 12, ethertype);
    return ethernet_header_len;
}

parse_result<vlan_view> parse_vlan(std::span<const std::uint8_t> tagged_payload) noexcept {
    if (tagged_payload.size() < vlan_tag_len) return drop_reason::eth_truncated;
    const std::uint16_t tci = load_be16(tagged_payload.data());
    return vlan_view{
        .pcp = static_cast<std::uint8_t>(tci >> 13),
        .dei = (tci & 0x1000u) != 0,
        .vid = static_cast<std::uint16_t>(tci & 0x0fffu),
        .ethertype = load_be16(tagged_payload.data() + 2),
        .payload = tagged_payload.subspan(vlan_tag_len),
    };
}

} // namespace linerate::wire
