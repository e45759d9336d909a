// Header templates and per-segment patching; see tx_template.hpp.
#include <linerate/engine/tx_template.hpp>

#include <linerate/base/byteorder.hpp>
#include <linerate/wire/checksum.hpp>
#include <linerate/wire/ethernet.hpp>
#include <linerate/wire/ipv4.hpp>
#include <linerate/wire/tcp.hpp>

#include <cstring>

namespace linerate::engine {
namespace {

constexpr std::size_t l3 = 14;
constexpr std::size_t l4 = 34;
constexpr std::uint8_t default_ttl = 64; // RFC 1700's recommended default, as Linux

} // namespace

header_template make_template(mac_addr src_mac, mac_addr dst_mac, const tcp::four_tuple &t,
                              std::uint16_t port_index) noexcept {
    header_template h{};
    auto *b = h.bytes.data();
    wire::store_mac(b, dst_mac);
    wire::store_mac(b + 6, src_mac);
    store_be16(b + 12, wire::ethertype_ipv4);
    b[l3 + 0] = 0x45; // version 4, 5 words
    b[l3 + 1] = 0;    // DSCP/ECN
    store_be16(b + l3 + 2, 0);      // total length: per packet
    store_be16(b + l3 + 4, 0);      // RFC 6864 §4.1: an atomic datagram (DF, never fragmented) may carry ID 0
    store_be16(b + l3 + 6, 0x4000); // DF: TCP segments fit the path MTU by construction (MSS)
    b[l3 + 8] = default_ttl;
    b[l3 + 9] = wire::ip_proto_tcp;
    store_be32(b + l3 + 12, t.local_ip.value);
    store_be32(b + l3 + 16, t.remote_ip.value);
    h.ip_check0 = wire::inet_checksum(std::span<const std::uint8_t>(b + l3, 20));
    store_be16(b + l3 + 10, 0);
    store_be16(b + l4 + 0, t.local_port);
    store_be16(b + l4 + 2, t.remote_port);
    h.tcp_sum = wire::ipv4_pseudo_header_sum(t.local_ip, t.remote_ip, wire::ip_proto_tcp, 0) + t.local_port +
                t.remote_port;
    h.port_index = port_index;
    h.ready = true;
    return h;
}

std::size_t write_segment_headers(std::span<std::uint8_t> out, const header_template &tmpl,
                                  const tcp::out_segment &s, std::uint32_t payload_sum,
                                  checksum_offload offload) noexcept {
    auto *b = out.data();
    std::memcpy(b, tmpl.bytes.data(), eth_ipv4_tcp_len);
    const std::size_t opt_len = wire::write_tcp_options(out.subspan(eth_ipv4_tcp_len, 40), s.options);
    const auto tcp_len = static_cast<std::uint16_t>(20 + opt_len + s.payload_len);
    const auto total = static_cast<std::uint16_t>(20 + tcp_len);

    store_be16(b + l3 + 2, total);
    // RFC 1624: only the total length differs from the template's checksummed header.
    store_be16(b + l3 + 10, offload == checksum_offload::none ? wire::csum_update16(tmpl.ip_check0, 0, total) : 0);

    const std::uint32_t seq = s.seq.raw();
    const std::uint32_t ack = s.ack.raw();
    const auto off_flags = static_cast<std::uint16_t>(((20 + opt_len) / 4) << 12 | s.flags.bits);
    store_be32(b + l4 + 4, seq);
    store_be32(b + l4 + 8, ack);
    store_be16(b + l4 + 12, off_flags);
    store_be16(b + l4 + 14, s.window);
    store_be16(b + l4 + 18, 0); // urgent pointer: never sent

    if (offload == checksum_offload::ipv4_tcp) {
        // The device sums the segment and adds it to this seed: the pseudo header with
        // the length, folded but not complemented (what rte_ipv4_phdr_cksum returns).
        std::uint32_t ph = wire::ipv4_pseudo_header_sum(ipv4_addr{load_be32(b + l3 + 12)},
                                                        ipv4_addr{load_be32(b + l3 + 16)}, wire::ip_proto_tcp, tcp_len);
        ph = (ph & 0xffffu) + (ph >> 16);
        ph = (ph & 0xffffu) + (ph >> 16);
        store_be16(b + l4 + 16, static_cast<std::uint16_t>(ph));
    } else {
        std::uint32_t sum = tmpl.tcp_sum + tcp_len + (seq >> 16) + (seq & 0xffffu) + (ack >> 16) + (ack & 0xffffu) +
                            off_flags + s.window;
        sum = wire::csum_partial(std::span<const std::uint8_t>(b + eth_ipv4_tcp_len, opt_len), sum);
        // Folding before adding keeps the accumulator far from overflow for any payload.
        sum = (sum & 0xffffu) + (sum >> 16) + (payload_sum & 0xffffu) + (payload_sum >> 16);
        store_be16(b + l4 + 16, wire::csum_fold(sum));
    }
    return eth_ipv4_tcp_len + opt_len;
}

} // namespace linerate::engine
