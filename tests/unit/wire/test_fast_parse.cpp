// The one-pass recogniser (parse_fast) against the general parsers, which are the
// reference: a differential test over random and mutated frames, plus the shapes it must
// take. The rule under test (fast_parse.hpp): parse_fast only accepts, and whatever it
// accepts the general chain accepts with the same fields; whatever it leaves, the general
// chain decides and the engine counts. So no drop counter can depend on which path ran.
#include <linerate/wire/fast_parse.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <random>
#include <vector>

#include "support.hpp"

using namespace linerate;
using namespace linerate::wire;
using namespace linerate::wire::test;

namespace {

// What the engine's general path does with a frame, composed of the general parsers in
// the engine's order (responder: Ethernet, IPv4; runtime's TCP input: TCP, options).
// nullopt: dropped or not TCP; otherwise the fields the engine would hand to TCP.
std::optional<fast_tcp_frame> general_chain(std::span<const std::uint8_t> frame, checksum_mode ip_mode,
                                            checksum_mode tcp_mode) {
    const auto eth = parse_ethernet(frame);
    if (!eth || eth->ethertype != ethertype_ipv4) return std::nullopt;
    const auto ip = parse_ipv4(eth->payload, ip_mode);
    if (!ip || ip->protocol != ip_proto_tcp) return std::nullopt;
    const auto tv = parse_tcp(ip->payload, ip->src, ip->dst, tcp_mode);
    if (!tv) return std::nullopt;
    const auto opts = parse_tcp_options(tv->options);
    if (!opts) return std::nullopt;
    fast_tcp_frame g;
    g.eth_dst = eth->dst;
    g.src = ip->src;
    g.dst = ip->dst;
    g.src_port = tv->src_port;
    g.dst_port = tv->dst_port;
    g.seg.seq = tv->seq;
    g.seg.ack = tv->ack;
    g.seg.flags = tv->flags;
    g.seg.window = tv->window;
    g.l4_length = static_cast<std::uint16_t>(ip->payload.size());
    g.seg.options = *opts;
    g.seg.payload = tv->payload;
    return g;
}

bool same_options(const tcp_options &a, const tcp_options &b) {
    return a.mss == b.mss && a.window_scale == b.window_scale && a.sack_permitted == b.sack_permitted &&
           a.sack_count == b.sack_count && a.sack == b.sack && a.has_timestamp == b.has_timestamp &&
           a.ts_val == b.ts_val && a.ts_ecr == b.ts_ecr;
}

// Same fields, and the payload is the same bytes of the same frame (not a copy).
void require_same(const fast_tcp_frame &f, const fast_tcp_frame &g) {
    REQUIRE(f.eth_dst == g.eth_dst);
    REQUIRE(f.src == g.src);
    REQUIRE(f.dst == g.dst);
    REQUIRE(f.src_port == g.src_port);
    REQUIRE(f.dst_port == g.dst_port);
    REQUIRE(f.seg.seq == g.seg.seq);
    REQUIRE(f.seg.ack == g.seg.ack);
    REQUIRE(f.seg.flags == g.seg.flags);
    REQUIRE(f.seg.window == g.seg.window);
    REQUIRE(f.l4_length == g.l4_length);
    REQUIRE(same_options(f.seg.options, g.seg.options));
    REQUIRE(f.seg.payload.data() == g.seg.payload.data());
    REQUIRE(f.seg.payload.size() == g.seg.payload.size());
}

enum class layout { none, nop_nop_ts, linux_syn, linux_syn_no_ts, mss_only, ts_and_sack, count_ };

tcp_options options_for(layout l, std::mt19937_64 &rng) {
    tcp_options o;
    const auto u32 = [&] { return static_cast<std::uint32_t>(rng()); };
    switch (l) {
    case layout::none: break;
    case layout::nop_nop_ts: o.has_timestamp = true, o.ts_val = u32(), o.ts_ecr = u32(); break;
    case layout::linux_syn:
        o.mss = static_cast<std::uint16_t>(u32());
        o.sack_permitted = true;
        o.has_timestamp = true, o.ts_val = u32(), o.ts_ecr = u32();
        o.window_scale = static_cast<std::uint8_t>(u32() % 16);
        break;
    case layout::linux_syn_no_ts:
        o.mss = static_cast<std::uint16_t>(u32());
        o.sack_permitted = true;
        o.window_scale = static_cast<std::uint8_t>(u32() % 16);
        break;
    case layout::mss_only: o.mss = static_cast<std::uint16_t>(u32()); break;
    case layout::ts_and_sack: // not a pattern: read by the general option parser
        o.has_timestamp = true, o.ts_val = u32(), o.ts_ecr = u32();
        o.sack_count = static_cast<std::uint8_t>(1 + u32() % 3);
        for (std::size_t i = 0; i < o.sack_count; ++i) o.sack[i] = {seq32{u32()}, seq32{u32()}};
        break;
    case layout::count_: break;
    }
    return o;
}

// A valid frame of a common shape: Ethernet / IPv4 IHL 5 with DF / TCP with the layout's
// options (written as Linux writes them) and a random payload, padded to 60 bytes.
std::vector<std::uint8_t> valid_frame(layout l, std::mt19937_64 &rng) {
    std::uint8_t opt_bytes[tcp_max_options_len];
    const std::size_t opt_len = write_tcp_options(opt_bytes, options_for(l, rng));
    std::vector<std::uint8_t> payload(rng() % 3 == 0 ? 0 : rng() % 1461);
    for (auto &b : payload) b = static_cast<std::uint8_t>(rng());
    const std::size_t tcp_len = tcp_min_header_len + opt_len + payload.size();
    std::vector<std::uint8_t> f(std::max<std::size_t>(ethernet_min_frame_len, 34 + tcp_len));
    (void)write_ethernet(f, server_mac, client_mac, ethertype_ipv4);
    const ipv4_addr src{0xC612'0000u | static_cast<std::uint32_t>(rng() & 0x1ffff)};
    const ipv4_addr dst{0xC612'0000u | static_cast<std::uint32_t>(rng() & 0x1ffff)};
    (void)write_ipv4(std::span(f).subspan(14), ipv4_fields{.total_length = static_cast<std::uint16_t>(20 + tcp_len),
                                                           .id = static_cast<std::uint16_t>(rng()),
                                                           .protocol = ip_proto_tcp,
                                                           .src = src,
                                                           .dst = dst});
    const tcp_fields t{.src_port = static_cast<std::uint16_t>(rng()),
                       .dst_port = static_cast<std::uint16_t>(rng()),
                       .seq = seq32{static_cast<std::uint32_t>(rng())},
                       .ack = seq32{static_cast<std::uint32_t>(rng())},
                       .flags = tcp_flags{static_cast<std::uint8_t>(rng())},
                       .window = static_cast<std::uint16_t>(rng())};
    REQUIRE(write_tcp(std::span(f).subspan(34), t, std::span(opt_bytes, opt_len), payload, src, dst) == tcp_len);
    return f;
}

// Checksum repair after a mutation, where the header still says where things are.
void fix_ip(std::vector<std::uint8_t> &f) {
    if (f.size() < 34) return;
    const std::size_t hl = std::size_t{f[14] & 0x0fu} * 4;
    if (hl < 20 || 14 + hl > f.size()) return;
    fix_ipv4_checksum(std::span(f).subspan(14));
}
void fix_tcp(std::vector<std::uint8_t> &f) {
    if (f.size() < 34) return;
    const std::size_t hl = std::size_t{f[14] & 0x0fu} * 4;
    const std::size_t total = load_be16(&f[16]);
    if (hl < 20 || total < hl + 20 || 14 + total > f.size()) return;
    fix_tcp_checksum(std::span(f).subspan(14 + hl, total - hl), ipv4_addr{load_be32(&f[26])},
                     ipv4_addr{load_be32(&f[30])});
}

// One random mutation of the kinds that reach each check of both paths, then (usually)
// the checksums repaired so that the mutation, not the checksum, decides.
void mutate(std::vector<std::uint8_t> &f, std::mt19937_64 &rng) {
    const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    switch (pick(13)) {
    case 0: f[pick(std::min<std::size_t>(f.size(), 74))] ^= static_cast<std::uint8_t>(1u << pick(8)); break;
    case 1: f.resize(pick(f.size() + 1)); break;                                   // truncated
    case 2: store_be16(&f[20], static_cast<std::uint16_t>(rng() & 0x3fff)); break; // MF / offset
    case 3: {                                                                      // IHL > 5
        const std::size_t words = 1 + pick(3);
        f.insert(f.begin() + 34, words * 4, tcp_opt_nop);
        f[14] = static_cast<std::uint8_t>(0x40 | (5 + words));
        store_be16(&f[16], static_cast<std::uint16_t>(load_be16(&f[16]) + words * 4));
        break;
    }
    case 4: f.insert(f.begin() + 12, {0x81, 0x00, 0x00, 0x07}); break; // VLAN tag
    case 5: store_be16(&f[16], static_cast<std::uint16_t>(load_be16(&f[16]) + pick(9) - 4)); break;
    case 6: f[14] = static_cast<std::uint8_t>(rng()); break; // version / IHL
    case 7: {                                                // option bytes at random
        const std::size_t doff = f[46] >> 4;
        for (std::size_t i = 54; i < std::min(f.size(), 34 + doff * 4); ++i)
            if (rng() % 3 == 0) f[i] = static_cast<std::uint8_t>(rng() % 10);
        break;
    }
    case 8: f[46] = static_cast<std::uint8_t>((rng() % 16) << 4 | (f[46] & 0x0f)); break; // data offset
    case 9: {                                                                              // forbidden sources
        const std::uint8_t first[] = {0, 127, 224, 239, 255};
        f[26] = first[pick(5)];
        if (f[26] == 255) f[27] = f[28] = f[29] = 255;
        break;
    }
    case 10: f[23] = static_cast<std::uint8_t>(rng()); break; // protocol
    case 11: f.resize(f.size() + 1 + pick(8), 0xee); break;   // trailing padding
    case 12: store_be16(&f[12], static_cast<std::uint16_t>(rng())); break;
    }
    if (rng() % 8 != 0) fix_ip(f);
    if (rng() % 8 != 0) fix_tcp(f);
    if (rng() % 16 == 0 && f.size() > 50) f[34 + pick(f.size() - 34)] ^= 0x10; // a bad checksum
}

constexpr checksum_mode modes[] = {checksum_mode::verify, checksum_mode::skip};

} // namespace

TEST_CASE("parse_fast: takes every valid frame of the common shapes, as the general parsers read it",
          "[wire][fast_parse]") {
    std::mt19937_64 rng(2);
    for (int i = 0; i < 6000; ++i) {
        const auto l = static_cast<layout>(i % static_cast<int>(layout::count_));
        const auto f = valid_frame(l, rng);
        for (auto ip_mode : modes) {
            for (auto tcp_mode : modes) {
                fast_tcp_frame fast;
                INFO("frame " << i << " layout " << static_cast<int>(l));
                REQUIRE(parse_fast(f, ip_mode, tcp_mode, fast));
                // Only SACK blocks are beyond the patterns.
                CHECK(fast.options_fell_back == (l == layout::ts_and_sack));
                const auto g = general_chain(f, ip_mode, tcp_mode);
                REQUIRE(g);
                require_same(fast, *g);
            }
        }
    }
}

TEST_CASE("parse_fast: whatever it takes of random and mutated frames, the general parsers take alike",
          "[wire][fast_parse]") {
    std::mt19937_64 rng(0xfa57);
    int fast_taken = 0, general_taken = 0;
    for (int i = 0; i < 40000; ++i) {
        auto f = valid_frame(static_cast<layout>(rng() % static_cast<int>(layout::count_)), rng);
        const int mutations = static_cast<int>(rng() % 3);
        for (int m = 0; m < mutations && f.size() >= 60; ++m) mutate(f, rng);
        if (rng() % 50 == 0) // now and then noise alone, of a length around the shape's
            for (auto &b : f) b = static_cast<std::uint8_t>(rng());
        const auto ip_mode = modes[rng() % 2];
        const auto tcp_mode = modes[rng() % 2];
        fast_tcp_frame fast;
        const bool took = parse_fast(f, ip_mode, tcp_mode, fast);
        const auto g = general_chain(f, ip_mode, tcp_mode);
        INFO("frame " << i << " mutations " << mutations);
        if (took) {
            REQUIRE(g);
            require_same(fast, *g);
            ++fast_taken;
        }
        if (g) ++general_taken;
    }
    // The corpus reaches both sides: most mutations are refused, a good share survive.
    CHECK(fast_taken > 5000);
    CHECK(general_taken - fast_taken > 1000); // IHL > 5 and VLAN-free oddities the fast path leaves
    CHECK(40000 - general_taken > 5000);
}

TEST_CASE("parse_fast: leaves IHL > 5, fragments, VLAN tags and bad checksums to the general parsers",
          "[wire][fast_parse]") {
    std::mt19937_64 rng(7);
    const auto base = valid_frame(layout::nop_nop_ts, rng);
    fast_tcp_frame out;
    REQUIRE(parse_fast(base, checksum_mode::verify, checksum_mode::verify, out));

    auto ihl6 = base; // a valid datagram with one word of IP options: the general path takes it
    ihl6.insert(ihl6.begin() + 34, 4, tcp_opt_nop);
    ihl6[14] = 0x46;
    store_be16(&ihl6[16], static_cast<std::uint16_t>(load_be16(&ihl6[16]) + 4));
    fix_ip(ihl6);
    fix_tcp(ihl6);
    CHECK(general_chain(ihl6, checksum_mode::verify, checksum_mode::verify));
    CHECK_FALSE(parse_fast(ihl6, checksum_mode::verify, checksum_mode::verify, out));

    auto frag = base;
    store_be16(&frag[20], 0x2000); // MF
    fix_ip(frag);
    CHECK_FALSE(parse_fast(frag, checksum_mode::verify, checksum_mode::verify, out));

    auto vlan = base;
    vlan.insert(vlan.begin() + 12, {0x81, 0x00, 0x00, 0x07});
    CHECK_FALSE(parse_fast(vlan, checksum_mode::verify, checksum_mode::verify, out));

    auto bad_ip = base;
    bad_ip[24] ^= 0x01; // the IPv4 checksum field
    CHECK_FALSE(parse_fast(bad_ip, checksum_mode::verify, checksum_mode::verify, out));
    CHECK(parse_fast(bad_ip, checksum_mode::skip, checksum_mode::verify, out)); // the device checked it

    auto bad_tcp = base;
    bad_tcp.back() ^= 0x01;
    CHECK_FALSE(parse_fast(bad_tcp, checksum_mode::verify, checksum_mode::verify, out));
    CHECK(parse_fast(bad_tcp, checksum_mode::verify, checksum_mode::skip, out));
}
