// Header templates: every segment written from a template parses back, with correct
// checksums, to exactly the fields the TCP core asked for.
#include <linerate/base/byteorder.hpp>
#include <linerate/engine/tx_template.hpp>
#include <linerate/wire/checksum.hpp>
#include <linerate/wire/ethernet.hpp>
#include <linerate/wire/ipv4.hpp>
#include <linerate/wire/tcp.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <vector>

using namespace linerate;
using namespace linerate::engine;

namespace {

const mac_addr ours{{0x02, 0, 0, 0, 0, 0x02}};
const mac_addr theirs{{0x02, 0, 0, 0, 0, 0x01}};
constexpr tcp::four_tuple tuple{ipv4_addr{0xC6120002}, ipv4_addr{0xC6120001}, 80, 40000};

std::vector<std::uint8_t> build(const tcp::out_segment &s, std::span<const std::uint8_t> payload, checksum_offload o,
                                std::size_t *header_len = nullptr) {
    const header_template t = make_template(ours, theirs, 0);
    std::vector<std::uint8_t> frame(eth_ipv4_tcp_len + 40 + payload.size());
    const std::size_t h = write_segment_headers(frame, t, tuple, s, wire::csum_partial(payload), o);
    // Not memcpy: an empty payload's data() may be null, which memcpy must never get.
    std::copy(payload.begin(), payload.end(), frame.begin() + static_cast<std::ptrdiff_t>(h));
    frame.resize(h + payload.size());
    if (header_len) *header_len = h;
    return frame;
}

// Builds s and checks that its options are the `opt_len` bytes the general writer
// (wire::write_tcp_options) gives and that the frame parses back with both checksums
// valid and the payload whole; returns the options as parsed back.
wire::tcp_options written_as_general(const tcp::out_segment &s, std::span<const std::uint8_t> payload,
                                     std::size_t opt_len) {
    std::size_t h = 0;
    const auto frame = build(s, payload, checksum_offload::none, &h);
    REQUIRE(h == eth_ipv4_tcp_len + opt_len);
    std::array<std::uint8_t, 40> general{};
    REQUIRE(wire::write_tcp_options(general, s.options) == opt_len);
    CHECK(std::equal(general.begin(), general.begin() + static_cast<std::ptrdiff_t>(opt_len),
                     frame.begin() + static_cast<std::ptrdiff_t>(eth_ipv4_tcp_len)));
    const auto ip = wire::parse_ipv4(std::span(frame).subspan(14), wire::checksum_mode::verify);
    REQUIRE(ip);
    const auto tcp = wire::parse_tcp(ip->payload, ip->src, ip->dst, wire::checksum_mode::verify);
    REQUIRE(tcp);
    CHECK(tcp->payload.size() == payload.size());
    const auto opts = wire::parse_tcp_options(tcp->options);
    REQUIRE(opts);
    return *opts;
}

} // namespace

TEST_CASE("tx template: a SYN-ACK with options parses back with valid checksums (RFC 9293 §3.1 MUST-2)",
          "[engine][tx]") {
    tcp::out_segment s{};
    s.seq = seq32{0x12345678};
    s.ack = seq32{0x9abcdef0};
    s.flags.set(wire::tcp_flags::syn | wire::tcp_flags::ack);
    s.window = 65535;
    s.options.mss = 1460;
    s.options.window_scale = 7;
    s.options.sack_permitted = true;
    s.options.has_timestamp = true;
    s.options.ts_val = 100;
    s.options.ts_ecr = 200;
    const auto frame = build(s, {}, checksum_offload::none);

    const auto eth = wire::parse_ethernet(frame);
    REQUIRE(eth);
    CHECK(eth->dst == theirs);
    CHECK(eth->src == ours);
    const auto ip = wire::parse_ipv4(std::span(frame).subspan(14), wire::checksum_mode::verify);
    REQUIRE(ip);
    CHECK(ip->src == tuple.local_ip);
    CHECK(ip->dst == tuple.remote_ip);
    CHECK(ip->ttl == 64);
    CHECK(ip->total_length == frame.size() - 14);
    const auto tcp = wire::parse_tcp(ip->payload, ip->src, ip->dst, wire::checksum_mode::verify);
    REQUIRE(tcp);
    CHECK(tcp->src_port == 80);
    CHECK(tcp->dst_port == 40000);
    CHECK(tcp->seq == s.seq);
    CHECK(tcp->ack == s.ack);
    CHECK(tcp->flags == s.flags);
    CHECK(tcp->window == 65535);
    CHECK(tcp->reserved == 0);
    const auto opts = wire::parse_tcp_options(tcp->options);
    REQUIRE(opts);
    CHECK(opts->mss == 1460);
    CHECK(opts->window_scale == 7);
    CHECK(opts->sack_permitted);
    REQUIRE(opts->has_timestamp);
    CHECK(opts->ts_val == 100);
    CHECK(opts->ts_ecr == 200);
}

TEST_CASE("tx template: data segments of every length and odd payloads checksum correctly", "[engine][tx]") {
    std::vector<std::uint8_t> payload(1460);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7 + 3);
    for (std::size_t len : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{511},
                            std::size_t{1459}, std::size_t{1460}}) {
        for (std::uint32_t seq : {0u, 0xffffffffu, 0x8000'0000u, 0x0001'0001u}) {
            tcp::out_segment s{};
            s.seq = seq32{seq};
            s.ack = seq32{~seq};
            s.flags.set(wire::tcp_flags::ack | wire::tcp_flags::psh);
            s.window = 0xffff;
            s.payload_len = static_cast<std::uint32_t>(len);
            const auto frame = build(s, std::span(payload).first(len), checksum_offload::none);
            const auto ip = wire::parse_ipv4(std::span(frame).subspan(14), wire::checksum_mode::verify);
            REQUIRE(ip);
            const auto tcp = wire::parse_tcp(ip->payload, ip->src, ip->dst, wire::checksum_mode::verify);
            REQUIRE(tcp);
            CHECK(tcp->payload.size() == len);
            CHECK(std::equal(tcp->payload.begin(), tcp->payload.end(), payload.begin()));
        }
    }
}

TEST_CASE("tx template: timestamps alone (NOP, NOP, TS; RFC 7323 appendix A) are written as the general writer "
          "writes them and checksum correctly",
          "[engine][tx]") {
    const std::array<std::uint8_t, 3> payload{0xff, 0xfe, 0x01};
    for (std::uint32_t ts : {0u, 1u, 0xffffffffu, 0xfffe0001u, 0x0001ffffu, 0x8000'0000u}) {
        for (std::size_t len : {std::size_t{0}, std::size_t{3}}) {
            tcp::out_segment s{};
            s.seq = seq32{ts};
            s.ack = seq32{~ts};
            s.flags.set(wire::tcp_flags::ack | wire::tcp_flags::fin);
            s.window = static_cast<std::uint16_t>(ts);
            s.payload_len = static_cast<std::uint32_t>(len);
            s.options.has_timestamp = true;
            s.options.ts_val = ts;
            s.options.ts_ecr = ~ts ^ 0x1234u;
            const auto opts = written_as_general(s, std::span(payload).first(len), 12);
            CHECK(opts.ts_val == s.options.ts_val);
            CHECK(opts.ts_ecr == s.options.ts_ecr);
        }
    }
}

TEST_CASE("tx template: a SYN's full offer (MSS; SACK-permitted, TS; NOP, WS) is written as the general writer "
          "writes it and checksums correctly",
          "[engine][tx]") {
    for (std::uint32_t ts : {0u, 0xffffffffu, 0x8000'0001u}) {
        for (std::uint8_t ws : {std::uint8_t{0}, std::uint8_t{7}, std::uint8_t{14}}) {
            tcp::out_segment s{};
            s.seq = seq32{ts};
            s.ack = seq32{ts ^ 0x5a5a5a5au};
            s.flags.set(wire::tcp_flags::syn | wire::tcp_flags::ack);
            s.window = 0xfaf0;
            s.options.mss = static_cast<std::uint16_t>(1460 + ws);
            s.options.sack_permitted = true;
            s.options.window_scale = ws;
            s.options.has_timestamp = true;
            s.options.ts_val = ts;
            s.options.ts_ecr = ~ts;
            const auto opts = written_as_general(s, {}, 20);
            CHECK(opts.mss == s.options.mss);
            CHECK(opts.window_scale == ws);
            CHECK(opts.sack_permitted);
            CHECK(opts.ts_val == ts);
            CHECK(opts.ts_ecr == ~ts);
        }
    }
}

TEST_CASE("tx template: with offload the TCP checksum field holds the folded pseudo-header sum", "[engine][tx]") {
    tcp::out_segment s{};
    s.seq = seq32{1};
    s.flags.set(wire::tcp_flags::ack);
    s.payload_len = 100;
    std::vector<std::uint8_t> payload(100, 0xab);
    std::size_t h = 0;
    auto frame = build(s, payload, checksum_offload::ipv4_tcp, &h);
    const std::uint16_t tcp_len = static_cast<std::uint16_t>(frame.size() - 34);
    std::uint32_t ph = wire::ipv4_pseudo_header_sum(tuple.local_ip, tuple.remote_ip, 6, tcp_len);
    ph = (ph & 0xffff) + (ph >> 16);
    CHECK(load_be16(frame.data() + 24) == 0); // the IPv4 checksum is the device's
    CHECK(load_be16(frame.data() + 50) == static_cast<std::uint16_t>(ph));
    // What a device does: sum the segment over that seed, complement, store. It must
    // then verify.
    store_be16(frame.data() + 50, 0);
    const std::uint32_t dev = wire::csum_partial(std::span(frame).subspan(34), ph);
    store_be16(frame.data() + 50, wire::csum_fold(dev));
    store_be16(frame.data() + 24, wire::inet_checksum(std::span(frame).subspan(14, 20)));
    const auto ip = wire::parse_ipv4(std::span(frame).subspan(14), wire::checksum_mode::verify);
    REQUIRE(ip);
    CHECK(wire::parse_tcp(ip->payload, ip->src, ip->dst, wire::checksum_mode::verify));
    CHECK(h == 54);
}

TEST_CASE("tx template: one next hop's template serves every connection through it, each with its own 4-tuple "
          "and valid checksums (RFC 9293 §3.1 MUST-2)",
          "[engine][tx]") {
    const header_template shared = make_template(ours, theirs, 3);
    CHECK(shared.port_index == 3);
    const std::array<tcp::four_tuple, 3> tuples{{
        {ipv4_addr{0xC6120002}, ipv4_addr{0xC6120001}, 80, 40000},
        {ipv4_addr{0xC6120002}, ipv4_addr{0xC612FFFE}, 80, 65535},
        {ipv4_addr{0xC6120A0B}, ipv4_addr{0xC6130001}, 1, 1},
    }};
    const std::vector<std::uint8_t> payload{1, 2, 3};
    for (const auto &tu : tuples) {
        for (const auto o : {checksum_offload::none, checksum_offload::ipv4}) {
            tcp::out_segment s{};
            s.seq = seq32{tu.remote_port * 7u};
            s.ack = seq32{tu.local_port * 13u};
            s.flags.set(wire::tcp_flags::ack | wire::tcp_flags::psh);
            s.window = 1000;
            s.payload_len = 3;
            std::vector<std::uint8_t> frame(eth_ipv4_tcp_len + 40 + payload.size());
            const std::size_t h = write_segment_headers(frame, shared, tu, s, wire::csum_partial(payload), o);
            std::copy(payload.begin(), payload.end(), frame.begin() + static_cast<std::ptrdiff_t>(h));
            frame.resize(h + payload.size());
            const auto ip = wire::parse_ipv4(std::span(frame).subspan(14),
                                             o == checksum_offload::none ? wire::checksum_mode::verify
                                                                         : wire::checksum_mode::skip);
            REQUIRE(ip);
            CHECK(ip->src == tu.local_ip);
            CHECK(ip->dst == tu.remote_ip);
            const auto tcp = wire::parse_tcp(ip->payload, ip->src, ip->dst, wire::checksum_mode::verify);
            REQUIRE(tcp);
            CHECK(tcp->src_port == tu.local_port);
            CHECK(tcp->dst_port == tu.remote_port);
            CHECK(tcp->seq == s.seq);
        }
    }
}
