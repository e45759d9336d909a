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

header_template make_template(mac_addr src_mac, mac_addr dst_mac, std::uint16_t port_index) noexcept {
    header_template h{};
    auto *b = h.bytes.data();
    wire::store_mac(b, dst_mac);
    wire::store_mac(b + 6, src_mac);
    store_be16(b + 12, wire::ethertype_ipv4);
    b[l3 + 0] = 0x45; // version 4, 5 words
    b[l3 + 1] = 0;    // DSCP/ECN
    store_be16(b + l3 + 4, 0);      // RFC 6864 §4.1: an atomic datagram (DF, never fragmented) may carry ID 0
    store_be16(b + l3 + 6, 0x4000); // DF: TCP segments fit the path MTU by construction (MSS)
    b[l3 + 8] = default_ttl;
    b[l3 + 9] = wire::ip_proto_tcp;
    // Total length, checksum and addresses are zero here: the sum covers the rest.
    h.ip_sum0 = wire::csum_partial(std::span<const std::uint8_t>(b + l3, 20));
    h.port_index = port_index;
    h.ready = true;
    return h;
}

std::size_t write_segment_headers(std::span<std::uint8_t> out, const header_template &tmpl, const tcp::four_tuple &t,
                                  const tcp::out_segment &s, std::uint32_t payload_sum,
                                  checksum_offload offload) noexcept {
    auto *b = out.data();
    std::memcpy(b, tmpl.bytes.data(), eth_ipv4_tcp_len);
    // Every segment after the handshake of a connection with timestamps carries NOP,
    // NOP, TS and nothing else (RFC 7323 appendix A's layout, Linux's too): written with
    // three stores and summed with a few adds. Anything else takes the general writer
    // and the general sum, which give the same bytes.
    const wire::tcp_options &o = s.options;
    std::size_t opt_len;
    // Sums are kept in 64 bits with 32-bit fields added whole (wire::csum_fold64).
    std::uint64_t opt_sum = 0;
    if (o.has_timestamp && !o.mss && !o.window_scale && !o.sack_permitted && o.sack_count == 0) {
        static constexpr std::uint32_t nop_nop_ts = 0x0101'080a; // NOP, NOP, kind 8, length 10
        store_be32(b + eth_ipv4_tcp_len, nop_nop_ts);
        store_be32(b + eth_ipv4_tcp_len + 4, o.ts_val);
        store_be32(b + eth_ipv4_tcp_len + 8, o.ts_ecr);
        opt_len = 12;
        opt_sum = std::uint64_t{nop_nop_ts} + o.ts_val + o.ts_ecr;
    } else if (o.mss && o.sack_permitted && o.has_timestamp && o.window_scale && o.sack_count == 0) {
        // A SYN or SYN-ACK offering everything (Linux's layout too): MSS; SACK-permitted,
        // TS; NOP, window scale. Once per connection each way, as stores and adds.
        static constexpr std::uint32_t sackok_ts = 0x0402'080a; // kind 4 length 2, kind 8 length 10
        std::uint8_t *p = b + eth_ipv4_tcp_len;
        const std::uint32_t mss_word = 0x0204'0000u | *o.mss; // kind 2, length 4, MSS
        const std::uint32_t ws_word = 0x0103'0300u | *o.window_scale; // NOP, kind 3, length 3, shift
        store_be32(p, mss_word);
        store_be32(p + 4, sackok_ts);
        store_be32(p + 8, o.ts_val);
        store_be32(p + 12, o.ts_ecr);
        store_be32(p + 16, ws_word);
        opt_len = 20;
        opt_sum = std::uint64_t{mss_word} + sackok_ts + o.ts_val + o.ts_ecr + ws_word;
    } else {
        opt_len = wire::write_tcp_options(out.subspan(eth_ipv4_tcp_len, 40), o);
        if (offload != checksum_offload::ipv4_tcp)
            opt_sum = wire::csum_partial(std::span<const std::uint8_t>(b + eth_ipv4_tcp_len, opt_len));
    }
    const auto tcp_len = static_cast<std::uint16_t>(20 + opt_len + s.payload_len);
    const auto total = static_cast<std::uint16_t>(20 + tcp_len);
    const std::uint32_t src = t.local_ip.value, dst = t.remote_ip.value;
    const std::uint64_t addr_sum = std::uint64_t{src} + dst;

    store_be16(b + l3 + 2, total);
    store_be32(b + l3 + 12, src);
    store_be32(b + l3 + 16, dst);
    store_be16(b + l3 + 10, offload == checksum_offload::none ? wire::csum_fold64(tmpl.ip_sum0 + addr_sum + total) : 0);
    store_be16(b + l4 + 0, t.local_port);
    store_be16(b + l4 + 2, t.remote_port);

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
        store_be16(b + l4 + 16, static_cast<std::uint16_t>(~wire::csum_fold64(addr_sum + wire::ip_proto_tcp + tcp_len)));
    } else {
        // No term comes near 2^64: a few 32-bit values and a 32-bit payload sum.
        const std::uint64_t sum = addr_sum + wire::ip_proto_tcp + t.local_port + t.remote_port + tcp_len + seq + ack +
                                  off_flags + s.window + opt_sum + payload_sum;
        store_be16(b + l4 + 16, wire::csum_fold64(sum));
    }
    return eth_ipv4_tcp_len + opt_len;
}

} // namespace linerate::engine
