// The responder: ARP (RFC 826), ICMP echo (RFC 792, RFC 1122 §3.2.2.6) and the sorting
// of everything else into counted drop reasons, driven with frames built in memory.
#include <linerate/engine/responder.hpp>
#include <linerate/wire/arp.hpp>
#include <linerate/wire/checksum.hpp>
#include <linerate/wire/ethernet.hpp>
#include <linerate/wire/fast_parse.hpp>
#include <linerate/wire/icmp.hpp>
#include <linerate/wire/ipv4.hpp>
#include <linerate/wire/tcp.hpp>

#include <catch2/catch.hpp>

#include <linerate/base/byteorder.hpp>

#include <vector>

using namespace linerate;
using namespace linerate::engine;

namespace {

const mac_addr our_mac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
const mac_addr peer_mac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
const ipv4_addr our_ip = ipv4_addr::from_octets(198, 18, 0, 2);
const ipv4_addr peer_ip = ipv4_addr::from_octets(198, 18, 0, 1);

struct fixture {
    arp_cache arp{16};
    counters c;
    responder r{interface_address{our_mac, ipv4_prefix{our_ip, 24}}, arp, c};

    verdict deliver(std::vector<std::uint8_t> &frame, bool ip_ok = false) {
        return r.on_frame(frame, ip_ok, tick{1000});
    }
};

std::vector<std::uint8_t> arp_frame(wire::arp_op op, mac_addr eth_dst, mac_addr sha, ipv4_addr spa, mac_addr tha,
                                    ipv4_addr tpa, std::size_t pad_to = 60) {
    std::vector<std::uint8_t> f(std::max<std::size_t>(pad_to, 42));
    wire::write_ethernet(f, eth_dst, sha, wire::ethertype_arp);
    wire::write_arp(std::span(f).subspan(14), op, sha, spa, tha, tpa);
    return f;
}

std::vector<std::uint8_t> ipv4_frame(std::uint8_t proto, std::span<const std::uint8_t> l4, ipv4_addr dst = our_ip,
                                     mac_addr eth_dst = our_mac, std::uint8_t ttl = 64, std::size_t pad_to = 0) {
    std::vector<std::uint8_t> f(14 + 20 + l4.size());
    wire::write_ethernet(f, eth_dst, peer_mac, wire::ethertype_ipv4);
    wire::ipv4_fields ip{};
    ip.total_length = static_cast<std::uint16_t>(20 + l4.size());
    ip.id = 0x1234;
    ip.ttl = ttl;
    ip.protocol = proto;
    ip.src = peer_ip;
    ip.dst = dst;
    wire::write_ipv4(std::span(f).subspan(14), ip);
    std::copy(l4.begin(), l4.end(), f.begin() + 34);
    if (f.size() < pad_to) f.resize(pad_to, 0);
    return f;
}

std::vector<std::uint8_t> echo(std::uint8_t type, std::uint16_t id, std::uint16_t seq, std::size_t data_len,
                               std::uint8_t code = 0) {
    std::vector<std::uint8_t> m(8 + data_len);
    m[0] = type;
    m[1] = code;
    store_be16(&m[4], id);
    store_be16(&m[6], seq);
    for (std::size_t i = 0; i < data_len; ++i) m[8 + i] = static_cast<std::uint8_t>(i * 7 + 1);
    store_be16(&m[2], wire::inet_checksum(m));
    return m;
}

} // namespace

TEST_CASE("RFC 826: a request for our address is answered in place", "[engine][arp]") {
    fixture fx;
    auto f = arp_frame(wire::arp_op::request, mac_addr::broadcast(), peer_mac, peer_ip, mac_addr{}, our_ip);
    const verdict v = fx.deliver(f);
    REQUIRE(v.what == verdict::kind::transmit);
    REQUIRE(v.length == 42);

    const auto eth = wire::parse_ethernet(std::span<const std::uint8_t>(f.data(), v.length));
    REQUIRE(eth);
    CHECK(eth->dst == peer_mac);
    CHECK(eth->src == our_mac);
    CHECK(eth->ethertype == wire::ethertype_arp);
    const auto arp = wire::parse_arp(eth->payload);
    REQUIRE(arp);
    CHECK(arp->op == wire::arp_op::reply);
    CHECK(arp->sha == our_mac);
    CHECK(arp->spa == our_ip);
    CHECK(arp->tha == peer_mac);
    CHECK(arp->tpa == peer_ip);
    CHECK(fx.c.arp_in_requests == 1);
    CHECK(fx.c.arp_out_replies == 1);
}

TEST_CASE("RFC 826: being the target, the sender is added to the cache", "[engine][arp]") {
    fixture fx;
    auto f = arp_frame(wire::arp_op::request, mac_addr::broadcast(), peer_mac, peer_ip, mac_addr{}, our_ip);
    fx.deliver(f);
    REQUIRE(fx.arp.lookup(peer_ip));
    CHECK(*fx.arp.lookup(peer_ip) == peer_mac);
}

TEST_CASE("RFC 826: a request for another address refreshes a known sender but adds no one", "[engine][arp]") {
    fixture fx;
    const ipv4_addr other = ipv4_addr::from_octets(198, 18, 0, 9);
    const ipv4_addr third = ipv4_addr::from_octets(198, 18, 0, 10);
    fx.arp.insert(peer_ip, mac_addr{{0x02, 0, 0, 0, 0, 0x77}}, tick{1});

    auto f = arp_frame(wire::arp_op::request, mac_addr::broadcast(), peer_mac, peer_ip, mac_addr{}, other);
    CHECK(fx.deliver(f).what == verdict::kind::drop);
    CHECK(*fx.arp.lookup(peer_ip) == peer_mac); // merged
    CHECK(fx.c.dropped[static_cast<std::size_t>(local_drop::arp_not_for_us)] == 1);

    const mac_addr third_mac{{0x02, 0, 0, 0, 0, 0x10}};
    auto g = arp_frame(wire::arp_op::request, mac_addr::broadcast(), third_mac, third, mac_addr{}, other);
    fx.deliver(g);
    CHECK_FALSE(fx.arp.lookup(third)); // not the target: not added
}

TEST_CASE("RFC 826: a reply to us is learned and consumed, not answered", "[engine][arp]") {
    fixture fx;
    auto f = arp_frame(wire::arp_op::reply, our_mac, peer_mac, peer_ip, our_mac, our_ip);
    CHECK(fx.deliver(f).what == verdict::kind::consumed);
    CHECK(fx.c.arp_in_replies == 1);
    CHECK(fx.c.arp_out_replies == 0);
    CHECK(fx.arp.lookup(peer_ip));
    CHECK(fx.c.total_dropped() == 0);
}

TEST_CASE("ARP: a multicast or zero sender MAC is never learned", "[engine][arp]") {
    fixture fx;
    auto f = arp_frame(wire::arp_op::request, mac_addr::broadcast(), mac_addr{{0x01, 0, 0x5e, 0, 0, 1}}, peer_ip,
                       mac_addr{}, our_ip);
    CHECK(fx.deliver(f).what == verdict::kind::drop);
    CHECK_FALSE(fx.arp.lookup(peer_ip));
    CHECK(fx.c.dropped[static_cast<std::size_t>(local_drop::arp_bad_sender)] == 1);
}

TEST_CASE("RFC 5227: a probe (sender 0.0.0.0) for our address is answered, not learned", "[engine][arp]") {
    fixture fx;
    auto f = arp_frame(wire::arp_op::request, mac_addr::broadcast(), peer_mac, ipv4_addr{0}, mac_addr{}, our_ip);
    CHECK(fx.deliver(f).what == verdict::kind::transmit);
    CHECK(fx.arp.size() == 0);
}

TEST_CASE("ARP: malformed and unsupported ARP is counted by reason", "[engine][arp]") {
    fixture fx;
    auto f = arp_frame(wire::arp_op::request, mac_addr::broadcast(), peer_mac, peer_ip, mac_addr{}, our_ip);
    f[14 + 1] = 6; // hardware type 6 (IEEE 802), not Ethernet
    CHECK(fx.deliver(f).what == verdict::kind::drop);
    CHECK(fx.c.malformed[static_cast<std::size_t>(wire::drop_reason::arp_unsupported)] == 1);

    auto g = arp_frame(wire::arp_op::request, mac_addr::broadcast(), peer_mac, peer_ip, mac_addr{}, our_ip);
    g.resize(14 + 20);
    CHECK(fx.deliver(g).what == verdict::kind::drop);
    CHECK(fx.c.malformed[static_cast<std::size_t>(wire::drop_reason::arp_truncated)] == 1);
}

TEST_CASE("RFC 1122 §3.2.2.6: an echo request is answered with its identifier, sequence and data",
          "[engine][icmp]") {
    fixture fx;
    const auto req = echo(wire::icmp_echo_request, 0x4242, 7, 56);
    auto f = ipv4_frame(wire::ip_proto_icmp, req, our_ip, our_mac, 17);
    const verdict v = fx.deliver(f);
    REQUIRE(v.what == verdict::kind::transmit);
    REQUIRE(v.length == 14 + 20 + 64);

    const std::span<const std::uint8_t> out(f.data(), v.length);
    const auto eth = wire::parse_ethernet(out);
    REQUIRE(eth);
    CHECK(eth->dst == peer_mac);
    CHECK(eth->src == our_mac);
    const auto ip = wire::parse_ipv4(eth->payload); // verifies the patched header checksum
    REQUIRE(ip);
    CHECK(ip->src == our_ip);
    CHECK(ip->dst == peer_ip);
    CHECK(ip->ttl == 64);
    const auto icmp = wire::parse_icmp(ip->payload); // verifies the patched ICMP checksum
    REQUIRE(icmp);
    CHECK(icmp->type == wire::icmp_echo_reply);
    CHECK(icmp->id == 0x4242);
    CHECK(icmp->sequence == 7);
    CHECK(std::equal(icmp->data.begin(), icmp->data.end(), req.begin() + 8));
    CHECK(fx.c.icmp_in_echos == 1);
    CHECK(fx.c.icmp_out_echo_reps == 1);
    CHECK(fx.c.ip_out_requests == 1);
}

TEST_CASE("ICMP: the reply drops the Ethernet padding of a short request", "[engine][icmp]") {
    fixture fx;
    const auto req = echo(wire::icmp_echo_request, 1, 1, 0);
    auto f = ipv4_frame(wire::ip_proto_icmp, req, our_ip, our_mac, 64, 60);
    REQUIRE(f.size() == 60);
    const verdict v = fx.deliver(f);
    REQUIRE(v.what == verdict::kind::transmit);
    CHECK(v.length == 14 + 20 + 8);
}

TEST_CASE("ICMP: odd-length echo data and every TTL keep both checksums right", "[engine][icmp]") {
    for (std::uint8_t ttl : {1, 63, 64, 65, 128, 255}) {
        for (std::size_t len : {0u, 1u, 3u, 57u, 1472u}) {
            fixture fx;
            const auto req = echo(wire::icmp_echo_request, static_cast<std::uint16_t>(ttl), 9, len);
            auto f = ipv4_frame(wire::ip_proto_icmp, req, our_ip, our_mac, ttl);
            const verdict v = fx.deliver(f);
            REQUIRE(v.what == verdict::kind::transmit);
            const auto ip = wire::parse_ipv4(std::span<const std::uint8_t>(f).subspan(14, v.length - 14u));
            INFO("ttl " << int(ttl) << " len " << len);
            REQUIRE(ip);
            CHECK(wire::parse_icmp(ip->payload));
        }
    }
}

TEST_CASE("ICMP: a bad ICMP checksum is counted as an ICMP error and not answered", "[engine][icmp]") {
    fixture fx;
    auto req = echo(wire::icmp_echo_request, 1, 1, 8);
    req[9] ^= 0x40;
    auto f = ipv4_frame(wire::ip_proto_icmp, req);
    CHECK(fx.deliver(f).what == verdict::kind::drop);
    CHECK(fx.c.icmp_in_errors == 1);
    CHECK(fx.c.malformed[static_cast<std::size_t>(wire::drop_reason::icmp_bad_checksum)] == 1);
    CHECK(fx.c.icmp_out_msgs == 0);
}

TEST_CASE("ICMP: types other than echo request are counted, not answered", "[engine][icmp]") {
    fixture fx;
    for (std::uint8_t type : {0, 3, 11, 13}) {
        const auto m = echo(type, 1, 1, 4);
        auto f = ipv4_frame(wire::ip_proto_icmp, m);
        CHECK(fx.deliver(f).what == verdict::kind::drop);
    }
    // An echo request with a non-zero code is not one we know how to answer either.
    const auto odd = echo(wire::icmp_echo_request, 1, 1, 4, 1);
    auto f = ipv4_frame(wire::ip_proto_icmp, odd);
    CHECK(fx.deliver(f).what == verdict::kind::drop);
    CHECK(fx.c.dropped[static_cast<std::size_t>(local_drop::icmp_unsupported_type)] == 5);
}

TEST_CASE("IPv4: a datagram for another address is an address error", "[engine][ipv4]") {
    fixture fx;
    const auto m = echo(wire::icmp_echo_request, 1, 1, 4);
    auto f = ipv4_frame(wire::ip_proto_icmp, m, ipv4_addr::from_octets(198, 18, 0, 77));
    CHECK(fx.deliver(f).what == verdict::kind::drop);
    CHECK(fx.c.ip_in_addr_errors == 1);
    CHECK(fx.c.dropped[static_cast<std::size_t>(local_drop::ipv4_not_for_us)] == 1);
}

TEST_CASE("IPv4: an unknown protocol is counted as IpInUnknownProtos", "[engine][ipv4]") {
    fixture fx;
    const std::uint8_t udp[8] = {0, 9, 0, 9, 0, 8, 0, 0};
    auto f = ipv4_frame(17, udp);
    CHECK(fx.deliver(f).what == verdict::kind::drop);
    CHECK(fx.c.ip_in_unknown_protos == 1);
    CHECK(fx.c.dropped[static_cast<std::size_t>(local_drop::ipv4_unknown_protocol)] == 1);
}

TEST_CASE("IPv4: TCP for us is handed on to TCP", "[engine][ipv4]") {
    fixture fx;
    std::uint8_t tcp[20] = {};
    auto f = ipv4_frame(wire::ip_proto_tcp, tcp);
    CHECK(fx.deliver(f).what == verdict::kind::deliver_tcp);
    CHECK(fx.c.ip_in_delivers == 1);
}

TEST_CASE("responder: a frame parse_fast took gets the verdict and counters on_frame gives it", "[engine][ipv4]") {
    // The engine asks on_fast_tcp instead of on_frame for what the fast recogniser took;
    // the station and address rules, the counters and the verdict must not differ.
    const std::uint8_t payload[5] = {1, 2, 3, 4, 5};
    const ipv4_addr other_ip = ipv4_addr::from_octets(198, 18, 0, 77);
    for (const auto &[dst_ip, dst_mac] : {std::pair{our_ip, our_mac}, std::pair{other_ip, our_mac},
                                          std::pair{our_ip, mac_addr{{0x02, 9, 9, 9, 9, 9}}},
                                          std::pair{our_ip, mac_addr::broadcast()}}) {
        std::uint8_t seg[25]; // a PSH ACK with 5 bytes, summed for this destination
        REQUIRE(wire::write_tcp(seg, wire::tcp_fields{.src_port = 40000, .dst_port = 80, .flags = wire::tcp_flags{0x18}},
                                {}, payload, peer_ip, dst_ip) == 25);
        auto f = ipv4_frame(wire::ip_proto_tcp, seg, dst_ip, dst_mac);
        wire::fast_tcp_frame fast;
        REQUIRE(wire::parse_fast(f, wire::checksum_mode::verify, wire::checksum_mode::verify, fast));
        fixture general, quick;
        INFO(dst_ip.value << " " << dst_mac.to_string());
        CHECK(general.deliver(f) == quick.r.on_fast_tcp(fast));
        CHECK(general.c.ip_in_receives == quick.c.ip_in_receives);
        CHECK(general.c.ip_in_delivers == quick.c.ip_in_delivers);
        CHECK(general.c.ip_in_addr_errors == quick.c.ip_in_addr_errors);
        CHECK(general.c.dropped == quick.c.dropped);
        CHECK(general.c.malformed == quick.c.malformed);
    }
}

TEST_CASE("IPv4: a bad header checksum is a header error unless the NIC vouched for it", "[engine][ipv4]") {
    const auto m = echo(wire::icmp_echo_request, 1, 1, 4);
    {
        fixture fx;
        auto f = ipv4_frame(wire::ip_proto_icmp, m);
        f[14 + 10] ^= 0x01;
        CHECK(fx.deliver(f).what == verdict::kind::drop);
        CHECK(fx.c.ip_in_hdr_errors == 1);
        CHECK(fx.c.malformed[static_cast<std::size_t>(wire::drop_reason::ipv4_bad_checksum)] == 1);
    }
    {
        // With RX checksum offload the NIC has already checked it; software does not.
        fixture fx;
        auto f = ipv4_frame(wire::ip_proto_icmp, m);
        f[14 + 10] ^= 0x01;
        CHECK(fx.deliver(f, true).what == verdict::kind::transmit);
    }
}

TEST_CASE("Ethernet: frames for other stations and other ethertypes are counted", "[engine][ethernet]") {
    fixture fx;
    const auto m = echo(wire::icmp_echo_request, 1, 1, 4);
    auto f = ipv4_frame(wire::ip_proto_icmp, m, our_ip, mac_addr{{0x02, 9, 9, 9, 9, 9}});
    CHECK(fx.deliver(f).what == verdict::kind::drop);
    CHECK(fx.c.dropped[static_cast<std::size_t>(local_drop::not_our_mac)] == 1);

    auto g = ipv4_frame(wire::ip_proto_icmp, m);
    g[12] = 0x86; // IPv6
    g[13] = 0xdd;
    CHECK(fx.deliver(g).what == verdict::kind::drop);
    CHECK(fx.c.malformed[static_cast<std::size_t>(wire::drop_reason::eth_unsupported_type)] == 1);

    std::vector<std::uint8_t> runt(13, 0xff);
    CHECK(fx.deliver(runt).what == verdict::kind::drop);
    CHECK(fx.c.malformed[static_cast<std::size_t>(wire::drop_reason::eth_truncated)] == 1);
    CHECK(fx.c.total_dropped() == 3);
}

TEST_CASE("responder: every truncation of a valid echo request is dropped and counted, never answered",
          "[engine][malformed]") {
    const auto m = echo(wire::icmp_echo_request, 1, 1, 32);
    const auto whole = ipv4_frame(wire::ip_proto_icmp, m);
    for (std::size_t len = 0; len < whole.size(); ++len) {
        fixture fx;
        std::vector<std::uint8_t> f(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(len));
        INFO("length " << len);
        CHECK(fx.deliver(f).what == verdict::kind::drop);
        CHECK(fx.c.total_dropped() == 1);
    }
}

TEST_CASE("responder: random and mutated frames never crash and each ends in exactly one counted outcome",
          "[engine][malformed]") {
    // Seeded, so a failure reproduces; INFO names the round.
    std::uint32_t state = 0x2545F491u;
    auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return state;
    };
    const auto req = echo(wire::icmp_echo_request, 1, 1, 40);
    const auto valid_icmp = ipv4_frame(wire::ip_proto_icmp, req);
    const auto valid_arp =
        arp_frame(wire::arp_op::request, mac_addr::broadcast(), peer_mac, peer_ip, mac_addr{}, our_ip);

    fixture fx;
    std::uint64_t transmitted = 0, consumed = 0, to_tcp = 0, dropped = 0;
    for (int round = 0; round < 20000; ++round) {
        std::vector<std::uint8_t> f;
        switch (round % 3) {
        case 0: // bytes at random, with a plausible ethertype half the time
            f.resize(next() % 128);
            for (auto &b : f) b = static_cast<std::uint8_t>(next());
            if (f.size() >= 14 && (next() & 1)) {
                wire::store_mac(f.data(), our_mac);
                f[12] = 0x08; // IPv4 (0x0800) or ARP (0x0806)
                f[13] = (next() & 1) ? 0x00 : 0x06;
            }
            break;
        default: // a valid frame with a few bytes flipped and maybe cut short
            f = (round % 3 == 1) ? valid_icmp : valid_arp;
            for (int k = 0, n = 1 + static_cast<int>(next() % 4); k < n; ++k)
                f[next() % f.size()] ^= static_cast<std::uint8_t>(1u << (next() % 8));
            if (next() % 4 == 0) f.resize(next() % f.size());
            break;
        }
        const std::size_t before = fx.c.total_dropped();
        INFO("round " << round);
        const verdict v = fx.deliver(f);
        switch (v.what) {
        case verdict::kind::transmit:
            REQUIRE(v.length <= f.size());
            ++transmitted;
            break;
        case verdict::kind::consumed: ++consumed; break;
        case verdict::kind::deliver_tcp: ++to_tcp; break;
        case verdict::kind::drop:
            REQUIRE(fx.c.total_dropped() == before + 1);
            ++dropped;
            break;
        }
        if (v.what != verdict::kind::drop) REQUIRE(fx.c.total_dropped() == before);
    }
    CHECK(transmitted + consumed + to_tcp + dropped == 20000);
    CHECK(transmitted > 0);
    CHECK(dropped > 0);
}
