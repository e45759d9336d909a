// TCP header views and builders (RFC 9293 §3.1) against scapy segments.
#include <linerate/wire/tcp.hpp>

#include <catch2/catch.hpp>

#include <string_view>

#include "support.hpp"

using namespace linerate;
using namespace linerate::wire;
using namespace linerate::wire::test;

TEST_CASE("TCP: a real Linux-like SYN parses field by field", "[wire][tcp]") {
    auto t = tcp_of(test_vectors::tcp_syn);
    const auto seg = parse_tcp(t.segment(), t.src, t.dst);
    REQUIRE(seg);
    CHECK(seg->src_port == 40000);
    CHECK(seg->dst_port == 80);
    CHECK(seg->seq == seq32{0x11223344});
    CHECK(seg->ack == seq32{0});
    CHECK(seg->data_offset == 10);
    CHECK(seg->reserved == 0);
    CHECK(seg->flags.only(tcp_flags::syn));
    CHECK(seg->window == 64240);
    CHECK(seg->checksum == 0xafb7);
    CHECK(seg->urgent_pointer == 0);
    CHECK(seg->options.size() == 20);
    CHECK(seg->options.data() == t.segment().data() + 20);
    CHECK(seg->payload.empty());
}

TEST_CASE("TCP: a real SYN-ACK parses", "[wire][tcp]") {
    auto t = tcp_of(test_vectors::tcp_syn_ack);
    const auto seg = parse_tcp(t.segment(), t.src, t.dst);
    REQUIRE(seg);
    CHECK(seg->src_port == 80);
    CHECK(seg->dst_port == 40000);
    CHECK(seg->seq == seq32{0xaabbccdd});
    CHECK(seg->ack == seq32{0x11223345});
    CHECK(seg->flags.only(tcp_flags::syn | tcp_flags::ack));
    CHECK(seg->window == 65160);
    CHECK(seg->options.size() == 20);
}

TEST_CASE("TCP: a data segment with an odd payload length parses and verifies", "[wire][tcp]") {
    auto t = tcp_of(test_vectors::tcp_data_odd);
    const auto seg = parse_tcp(t.segment(), t.src, t.dst);
    REQUIRE(seg);
    CHECK(seg->flags.only(tcp_flags::psh | tcp_flags::ack));
    CHECK(seg->data_offset == 8);
    CHECK(seg->options.size() == 12);
    REQUIRE(seg->payload.size() == 13);
    CHECK(std::string_view(reinterpret_cast<const char *>(seg->payload.data()), seg->payload.size()) ==
          "Hello, world!");
}

TEST_CASE("TCP: a real FIN/ACK parses", "[wire][tcp]") {
    auto t = tcp_of(test_vectors::tcp_fin_ack);
    const auto seg = parse_tcp(t.segment(), t.src, t.dst);
    REQUIRE(seg);
    CHECK(seg->flags.only(tcp_flags::fin | tcp_flags::ack));
    CHECK(seg->flags.has(tcp_flags::fin));
    CHECK_FALSE(seg->flags.has(tcp_flags::fin | tcp_flags::syn));
    CHECK(seg->flags.has_any(tcp_flags::fin | tcp_flags::syn));
    CHECK(seg->seq == seq32{0x11223352});
    CHECK(seg->window == 502);
    CHECK(seg->options.empty());
    CHECK(seg->payload.empty());
}

TEST_CASE("TCP: a segment in a padded 60-byte frame verifies once IPv4 trimmed it", "[wire][tcp][ipv4]") {
    const auto frame = bytes(test_vectors::eth_padded_ack);
    const auto eth = parse_ethernet(frame);
    REQUIRE(eth);
    const auto ip = parse_ipv4(eth->payload);
    REQUIRE(ip);
    const auto seg = parse_tcp(ip->payload, ip->src, ip->dst);
    REQUIRE(seg);
    CHECK(seg->flags.only(tcp_flags::ack));
    CHECK(seg->payload.empty());
    // Fed the untrimmed bytes, the padding would count as data and break the checksum.
    CHECK(parse_tcp(eth->payload.subspan(20), ip->src, ip->dst).error() == drop_reason::tcp_bad_checksum);
}

TEST_CASE("TCP: every prefix of a real SYN is refused with the right reason", "[wire][tcp]") {
    auto t = tcp_of(test_vectors::tcp_syn);
    const auto seg = t.segment();
    for (std::size_t n = 0; n < seg.size(); ++n) {
        INFO(n);
        const auto expected = n < 20   ? drop_reason::tcp_truncated
                              : n < 40 ? drop_reason::tcp_bad_data_offset // doff 10 needs 40 bytes
                                       : drop_reason::tcp_bad_checksum;
        CHECK(parse_tcp(seg.first(n), t.src, t.dst).error() == expected);
    }
    CHECK(parse_tcp(seg, t.src, t.dst).ok());
}

TEST_CASE("TCP: every prefix of a data segment is refused with the right reason", "[wire][tcp]") {
    auto t = tcp_of(test_vectors::tcp_data_odd);
    const auto seg = t.segment();
    for (std::size_t n = 0; n < seg.size(); ++n) {
        INFO(n);
        const auto expected = n < 20   ? drop_reason::tcp_truncated
                              : n < 32 ? drop_reason::tcp_bad_data_offset
                                       : drop_reason::tcp_bad_checksum;
        CHECK(parse_tcp(seg.first(n), t.src, t.dst).error() == expected);
        // Without checksum verification a cut payload is just a shorter payload.
        if (n >= 32) CHECK(parse_tcp(seg.first(n), t.src, t.dst, checksum_mode::skip)->payload.size() == n - 32);
    }
}

TEST_CASE("RFC 9293 §3.1: a data offset below 5 words is refused", "[wire][tcp]") {
    for (std::uint8_t doff = 0; doff < 5; ++doff) {
        auto t = tcp_of(test_vectors::tcp_fin_ack);
        auto seg = t.segment();
        seg[12] = static_cast<std::uint8_t>(doff << 4);
        fix_tcp_checksum(seg, t.src, t.dst);
        INFO(int{doff});
        CHECK(parse_tcp(seg, t.src, t.dst).error() == drop_reason::tcp_bad_data_offset);
        CHECK(parse_tcp(seg, t.src, t.dst, checksum_mode::skip).error() == drop_reason::tcp_bad_data_offset);
    }
}

TEST_CASE("RFC 9293 §3.1: a data offset beyond the segment is refused", "[wire][tcp]") {
    for (std::uint8_t doff = 6; doff <= 15; ++doff) {
        auto t = tcp_of(test_vectors::tcp_fin_ack); // 20 bytes: any options would run past it
        auto seg = t.segment();
        seg[12] = static_cast<std::uint8_t>(doff << 4);
        fix_tcp_checksum(seg, t.src, t.dst);
        INFO(int{doff});
        CHECK(parse_tcp(seg, t.src, t.dst).error() == drop_reason::tcp_bad_data_offset);
    }
    // In the 45-byte data segment, doff 11 (44 bytes) still fits and eats the payload.
    auto t = tcp_of(test_vectors::tcp_data_odd);
    auto seg = t.segment();
    seg[12] = 0xb0;
    fix_tcp_checksum(seg, t.src, t.dst);
    const auto r = parse_tcp(seg, t.src, t.dst);
    REQUIRE(r);
    CHECK(r->options.size() == 24);
    CHECK(r->payload.size() == 1);
    seg[12] = 0xc0; // 48 bytes > 45
    fix_tcp_checksum(seg, t.src, t.dst);
    CHECK(parse_tcp(seg, t.src, t.dst).error() == drop_reason::tcp_bad_data_offset);
}

TEST_CASE("RFC 9293 §3.1 MUST-3: a bad checksum is refused unless offload checked it", "[wire][tcp][checksum]") {
    auto t = tcp_of(test_vectors::tcp_data_odd);
    for (std::size_t at : {0u, 4u, 13u, 16u, 19u, 25u, 32u, 44u}) { // header, options, odd last payload byte
        auto copy = t;
        copy.segment()[at] ^= 0x80;
        INFO(at);
        CHECK(parse_tcp(copy.segment(), copy.src, copy.dst).error() == drop_reason::tcp_bad_checksum);
        CHECK(parse_tcp(copy.segment(), copy.src, copy.dst, checksum_mode::skip).ok());
    }
}

TEST_CASE("RFC 9293 §3.1: the pseudo header protects against misrouted segments", "[wire][tcp][checksum]") {
    auto t = tcp_of(test_vectors::tcp_syn);
    CHECK(parse_tcp(t.segment(), t.src, t.dst).ok());
    CHECK(parse_tcp(t.segment(), t.src, ipv4_addr::from_octets(198, 18, 0, 3)).error() ==
          drop_reason::tcp_bad_checksum);
    CHECK(parse_tcp(t.segment(), ipv4_addr::from_octets(198, 18, 1, 1), t.dst).error() ==
          drop_reason::tcp_bad_checksum);
}

TEST_CASE("RFC 9293 §3.1: reserved bits are reported and do not disturb the flags", "[wire][tcp]") {
    for (std::uint8_t rsv = 0; rsv < 16; ++rsv) {
        auto t = tcp_of(test_vectors::tcp_syn_ack);
        auto seg = t.segment();
        seg[12] = static_cast<std::uint8_t>(0xa0 | rsv);
        fix_tcp_checksum(seg, t.src, t.dst);
        const auto r = parse_tcp(seg, t.src, t.dst);
        REQUIRE(r);
        CHECK(r->reserved == rsv);
        CHECK(r->data_offset == 10);
        CHECK(r->flags.only(tcp_flags::syn | tcp_flags::ack));
    }
}

TEST_CASE("TCP: all eight flags parse, alone and in every combination", "[wire][tcp]") {
    const std::uint8_t named[] = {tcp_flags::fin, tcp_flags::syn, tcp_flags::rst, tcp_flags::psh,
                                  tcp_flags::ack, tcp_flags::urg, tcp_flags::ece, tcp_flags::cwr};
    for (unsigned bits = 0; bits < 256; ++bits) {
        std::array<std::uint8_t, 20> out{};
        const tcp_fields f{.src_port = 1, .dst_port = 2, .seq = seq32{3}, .ack = seq32{4},
                           .flags = tcp_flags{static_cast<std::uint8_t>(bits)}, .window = 5};
        REQUIRE(write_tcp(out, f, {}, {}, client_ip, server_ip) == 20);
        const auto r = parse_tcp(out, client_ip, server_ip);
        REQUIRE(r);
        CHECK(r->flags.bits == bits);
        for (const auto flag : named) CHECK(r->flags.has(flag) == ((bits & flag) != 0));
    }
    // Each named flag sits at its RFC 9293 §3.1 bit position (CWR is the high bit).
    CHECK((tcp_flags::cwr | tcp_flags::ece | tcp_flags::urg | tcp_flags::ack | tcp_flags::psh | tcp_flags::rst |
           tcp_flags::syn | tcp_flags::fin) == 0xff);
    tcp_flags f;
    f.set(tcp_flags::syn).set(tcp_flags::ack).clear(tcp_flags::syn);
    CHECK(f == tcp_flags{tcp_flags::ack});
}

namespace {
// A whole frame built by the wire builders, to compare with scapy.
std::vector<std::uint8_t> build_frame(mac_addr dst_mac, mac_addr src_mac, ipv4_fields ip, const tcp_fields &tcp,
                                      const tcp_options *opts, std::string_view payload) {
    std::array<std::uint8_t, 40> opt_bytes{};
    const std::size_t opt_len = opts ? write_tcp_options(opt_bytes, *opts) : 0;
    const std::size_t seg_len = 20 + opt_len + payload.size();
    std::vector<std::uint8_t> frame(14 + 20 + seg_len);
    ip.total_length = static_cast<std::uint16_t>(20 + seg_len);
    REQUIRE(write_ethernet(frame, dst_mac, src_mac, ethertype_ipv4) == 14);
    REQUIRE(write_ipv4(std::span(frame).subspan(14), ip) == 20);
    const auto pl = std::span(reinterpret_cast<const std::uint8_t *>(payload.data()), payload.size());
    REQUIRE(write_tcp(std::span(frame).subspan(34), tcp, std::span(opt_bytes).first(opt_len), pl, ip.src, ip.dst) ==
            seg_len);
    return frame;
}
} // namespace

TEST_CASE("TCP: the builders reproduce scapy's SYN and SYN-ACK byte for byte", "[wire][tcp]") {
    const tcp_options syn_opts{.mss = 1460, .window_scale = 7, .sack_permitted = true, .has_timestamp = true,
                               .ts_val = 12345};
    const auto syn = build_frame(server_mac, client_mac, {.protocol = ip_proto_tcp, .src = client_ip, .dst = server_ip},
                                 {.src_port = 40000, .dst_port = 80, .seq = seq32{0x11223344},
                                  .flags = tcp_flags{tcp_flags::syn}, .window = 64240},
                                 &syn_opts, "");
    CHECK(syn == bytes(test_vectors::tcp_syn));

    const tcp_options synack_opts{.mss = 1460, .window_scale = 9, .sack_permitted = true, .has_timestamp = true,
                                  .ts_val = 777, .ts_ecr = 12345};
    const auto synack = build_frame(client_mac, server_mac,
                                    {.protocol = ip_proto_tcp, .src = server_ip, .dst = client_ip},
                                    {.src_port = 80, .dst_port = 40000, .seq = seq32{0xaabbccdd},
                                     .ack = seq32{0x11223345}, .flags = tcp_flags{tcp_flags::syn | tcp_flags::ack},
                                     .window = 65160},
                                    &synack_opts, "");
    CHECK(synack == bytes(test_vectors::tcp_syn_ack));
}

TEST_CASE("TCP: the builders reproduce scapy's data segment and FIN/ACK", "[wire][tcp]") {
    const tcp_options ts{.has_timestamp = true, .ts_val = 12346, .ts_ecr = 777};
    const auto data = build_frame(server_mac, client_mac,
                                  {.id = 0x0102, .protocol = ip_proto_tcp, .src = client_ip, .dst = server_ip},
                                  {.src_port = 40000, .dst_port = 80, .seq = seq32{0x11223345},
                                   .ack = seq32{0xaabbccde}, .flags = tcp_flags{tcp_flags::psh | tcp_flags::ack},
                                   .window = 502},
                                  &ts, "Hello, world!");
    CHECK(data == bytes(test_vectors::tcp_data_odd));

    const auto fin = build_frame(server_mac, client_mac,
                                 {.id = 0x0103, .protocol = ip_proto_tcp, .src = client_ip, .dst = server_ip},
                                 {.src_port = 40000, .dst_port = 80, .seq = seq32{0x11223352},
                                  .ack = seq32{0xaabbccde}, .flags = tcp_flags{tcp_flags::fin | tcp_flags::ack},
                                  .window = 502},
                                 nullptr, "");
    CHECK(fin == bytes(test_vectors::tcp_fin_ack));

    const auto ack = build_frame(server_mac, client_mac, {.protocol = ip_proto_tcp, .src = client_ip, .dst = server_ip},
                                 {.src_port = 40000, .dst_port = 80, .seq = seq32{0x11223345},
                                  .ack = seq32{0xaabbccde}, .flags = tcp_flags{tcp_flags::ack}, .window = 502},
                                 nullptr, "");
    const auto padded = bytes(test_vectors::eth_padded_ack);
    CHECK(ack == std::vector<std::uint8_t>(padded.begin(), padded.begin() + 54));
}

TEST_CASE("TCP: built segments parse back to the same fields", "[wire][tcp]") {
    const std::array<std::uint8_t, 8> opts{1, 1, 1, 0x1e, 0x04, 0xaa, 0xbb, 0}; // unknown kind 30, EOL
    std::vector<std::uint8_t> payload(1001);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
    std::vector<std::uint8_t> out(2000, 0xcc);
    const tcp_fields f{.src_port = 65535, .dst_port = 1, .seq = seq32{0xffffffff}, .ack = seq32{0x80000000},
                       .flags = tcp_flags{tcp_flags::urg | tcp_flags::ack | tcp_flags::psh}, .window = 0xffff,
                       .urgent_pointer = 0x1234};
    const auto n = write_tcp(out, f, opts, payload, server_ip, client_ip);
    REQUIRE(n == 20 + 8 + 1001);
    const auto r = parse_tcp(std::span(out).first(n), server_ip, client_ip);
    REQUIRE(r);
    CHECK(r->src_port == 65535);
    CHECK(r->dst_port == 1);
    CHECK(r->seq == seq32{0xffffffff});
    CHECK(r->ack == seq32{0x80000000});
    CHECK(r->data_offset == 7);
    CHECK(r->reserved == 0);
    CHECK(r->flags == f.flags);
    CHECK(r->window == 0xffff);
    CHECK(r->urgent_pointer == 0x1234);
    CHECK(std::equal(r->options.begin(), r->options.end(), opts.begin(), opts.end()));
    CHECK(std::equal(r->payload.begin(), r->payload.end(), payload.begin(), payload.end()));
    CHECK(out[n] == 0xcc); // nothing written past the segment
}

TEST_CASE("TCP: the builder refuses bad option sizes and short buffers", "[wire][tcp]") {
    std::vector<std::uint8_t> out(100);
    const tcp_fields f{.src_port = 1, .dst_port = 2};
    const std::vector<std::uint8_t> three(3, 1), forty(40, 1), forty_four(44, 1), payload(10, 0);
    CHECK(write_tcp(out, f, three, {}, client_ip, server_ip) == 0);
    CHECK(write_tcp(out, f, forty_four, {}, client_ip, server_ip) == 0);
    CHECK(write_tcp(out, f, forty, {}, client_ip, server_ip) == 60);
    CHECK(write_tcp(std::span(out).first(29), f, {}, payload, client_ip, server_ip) == 0);
    CHECK(write_tcp(std::span(out).first(30), f, {}, payload, client_ip, server_ip) == 30);
    CHECK(write_tcp(std::span(out).first(19), f, {}, {}, client_ip, server_ip) == 0);
    // A segment that could not fit an IPv4 datagram.
    std::vector<std::uint8_t> huge_out(70000), huge_payload(65516);
    CHECK(write_tcp(huge_out, f, {}, huge_payload, client_ip, server_ip) == 0);
    CHECK(write_tcp(huge_out, f, {}, std::span(huge_payload).first(65495), client_ip, server_ip) == 65515);
}
