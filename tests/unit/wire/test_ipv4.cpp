// IPv4 header validation (RFC 791, RFC 1122 §3.2.1) and building, against scapy packets.
#include <linerate/wire/ipv4.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

using namespace linerate;
using namespace linerate::wire;
using namespace linerate::wire::test;

TEST_CASE("IPv4: a real ICMP echo request parses field by field", "[wire][ipv4]") {
    const auto frame = bytes(test_vectors::icmp_echo_request);
    const auto ip = parse_ipv4(l3(frame));
    REQUIRE(ip);
    CHECK(ip->ihl == 5);
    CHECK(ip->tos == 0);
    CHECK(ip->total_length == 84);
    CHECK(ip->id == 0x1c46);
    CHECK(ip->dont_fragment);
    CHECK_FALSE(ip->more_fragments);
    CHECK(ip->fragment_offset == 0);
    CHECK(ip->ttl == 64);
    CHECK(ip->protocol == ip_proto_icmp);
    CHECK(ip->checksum == 0x923b);
    CHECK(ip->src == client_ip);
    CHECK(ip->dst == server_ip);
    CHECK(ip->header.size() == 20);
    CHECK(ip->header.data() == l3(frame).data());
    CHECK(ip->options.empty());
    CHECK(ip->payload.size() == 64);
    CHECK(ip->payload.data() == l3(frame).data() + 20);
}

TEST_CASE("IPv4: Ethernet padding is trimmed off the payload (RFC 894)", "[wire][ipv4]") {
    const auto frame = bytes(test_vectors::eth_padded_ack);
    const auto ip = parse_ipv4(l3(frame));
    REQUIRE(ip);
    CHECK(l3(frame).size() == 46);
    CHECK(ip->total_length == 40);
    CHECK(ip->payload.size() == 20);
}

TEST_CASE("IPv4: a header with options exposes them and the payload after them", "[wire][ipv4]") {
    const auto frame = bytes(test_vectors::ipv4_with_options);
    const auto ip = parse_ipv4(l3(frame));
    REQUIRE(ip);
    CHECK(ip->ihl == 7);
    CHECK(ip->header.size() == 28);
    REQUIRE(ip->options.size() == 8);
    CHECK(ip->options[0] == 0x94); // Router Alert (RFC 2113)
    CHECK(ip->payload.size() == 12);
    CHECK(ip->payload[0] == 8); // the ICMP echo request
    CHECK(ip->ttl == 1);
    CHECK_FALSE(ip->dont_fragment);
}

TEST_CASE("IPv4: every prefix of a real packet is refused with the right reason", "[wire][ipv4]") {
    const auto frame = bytes(test_vectors::icmp_echo_request);
    const auto packet = l3(frame);
    for (std::size_t n = 0; n < packet.size(); ++n) {
        INFO(n);
        const auto r = parse_ipv4(packet.first(n));
        CHECK(r.error() == (n < 20 ? drop_reason::ipv4_truncated : drop_reason::ipv4_bad_total_length));
    }
    CHECK(parse_ipv4(packet).ok());
}

TEST_CASE("IPv4: prefixes that cut the options are a bad IHL", "[wire][ipv4]") {
    const auto frame = bytes(test_vectors::ipv4_with_options);
    const auto packet = l3(frame);
    for (std::size_t n = 20; n < 28; ++n) {
        INFO(n);
        CHECK(parse_ipv4(packet.first(n)).error() == drop_reason::ipv4_bad_ihl);
    }
    for (std::size_t n = 28; n < packet.size(); ++n)
        CHECK(parse_ipv4(packet.first(n)).error() == drop_reason::ipv4_bad_total_length);
}

TEST_CASE("RFC 1122 §3.2.1.1: a version other than 4 is discarded", "[wire][ipv4]") {
    for (std::uint8_t v : {0, 1, 5, 6, 15}) {
        auto frame = bytes(test_vectors::icmp_echo_request);
        auto ip = l3(frame);
        ip[0] = static_cast<std::uint8_t>((v << 4) | 5);
        fix_ipv4_checksum(ip);
        INFO(int{v});
        CHECK(parse_ipv4(ip).error() == drop_reason::ipv4_bad_version);
    }
}

TEST_CASE("RFC 791 §3.1: IHL below 5 or beyond the packet is refused", "[wire][ipv4]") {
    for (std::uint8_t ihl = 0; ihl < 5; ++ihl) {
        auto frame = bytes(test_vectors::icmp_echo_request);
        l3(frame)[0] = static_cast<std::uint8_t>(0x40 | ihl);
        INFO(int{ihl});
        CHECK(parse_ipv4(l3(frame)).error() == drop_reason::ipv4_bad_ihl);
    }
    // IHL 15 asks for 60 bytes; a 40-byte packet does not have them.
    auto frame = bytes(test_vectors::tcp_fin_ack);
    l3(frame)[0] = 0x4f;
    CHECK(parse_ipv4(l3(frame)).error() == drop_reason::ipv4_bad_ihl);
}

TEST_CASE("IPv4: total length below the header or beyond the frame is refused", "[wire][ipv4]") {
    for (std::uint16_t len : {0, 1, 19}) {
        auto frame = bytes(test_vectors::icmp_echo_request);
        store_be16(l3(frame).data() + 2, len);
        fix_ipv4_checksum(l3(frame));
        INFO(len);
        CHECK(parse_ipv4(l3(frame)).error() == drop_reason::ipv4_bad_total_length);
    }
    {
        auto frame = bytes(test_vectors::ipv4_with_options);
        store_be16(l3(frame).data() + 2, 27); // below ihl*4 = 28
        fix_ipv4_checksum(l3(frame));
        CHECK(parse_ipv4(l3(frame)).error() == drop_reason::ipv4_bad_total_length);
    }
    for (std::uint16_t len : {85, 1500, 0xffff}) {
        auto frame = bytes(test_vectors::icmp_echo_request);
        store_be16(l3(frame).data() + 2, len);
        fix_ipv4_checksum(l3(frame));
        INFO(len);
        CHECK(parse_ipv4(l3(frame)).error() == drop_reason::ipv4_bad_total_length);
    }
    // Exactly the header is fine: an empty payload.
    auto frame = bytes(test_vectors::icmp_echo_request);
    store_be16(l3(frame).data() + 2, 20);
    fix_ipv4_checksum(l3(frame));
    const auto ip = parse_ipv4(l3(frame));
    REQUIRE(ip);
    CHECK(ip->payload.empty());
}

TEST_CASE("RFC 1122 §3.2.1.2: a bad header checksum is discarded unless offload checked it",
          "[wire][ipv4][checksum]") {
    for (std::size_t at : {0u, 1u, 8u, 10u, 11u, 15u, 19u}) {
        auto frame = bytes(test_vectors::icmp_echo_request);
        auto ip = l3(frame);
        ip[at] ^= (at == 0) ? 0x00 : 0x01;
        if (at == 0) ip[1] ^= 0x04; // keep version and IHL valid, break the sum
        INFO(at);
        CHECK(parse_ipv4(ip).error() == drop_reason::ipv4_bad_checksum);
        CHECK(parse_ipv4(ip, checksum_mode::skip).ok());
    }
    // The checksum covers the options too.
    auto frame = bytes(test_vectors::ipv4_with_options);
    l3(frame)[22] ^= 0x01;
    CHECK(parse_ipv4(l3(frame)).error() == drop_reason::ipv4_bad_checksum);
}

TEST_CASE("IPv4: fragments are refused, we do not reassemble (RFC 791 §3.2)", "[wire][ipv4]") {
    struct frag {
        std::uint16_t word;
        bool refused;
    };
    for (const auto f : {frag{0x2000, true},    // first fragment: MF, offset 0
                         frag{0x2001, true},    // middle fragment
                         frag{0x00b9, true},    // last fragment: offset 185 (1480 bytes)
                         frag{0x1fff, true},    // largest offset
                         frag{0x4000, false},   // DF alone is not a fragment
                         frag{0x0000, false}}) {
        auto frame = bytes(test_vectors::icmp_echo_request);
        store_be16(l3(frame).data() + 6, f.word);
        fix_ipv4_checksum(l3(frame));
        INFO(f.word);
        const auto r = parse_ipv4(l3(frame));
        if (f.refused)
            CHECK(r.error() == drop_reason::ipv4_fragment);
        else
            CHECK(r.ok());
    }
    // The evil bit (RFC 3514) is neither a fragment nor an error.
    auto frame = bytes(test_vectors::icmp_echo_request);
    store_be16(l3(frame).data() + 6, 0xc000);
    fix_ipv4_checksum(l3(frame));
    CHECK(parse_ipv4(l3(frame)).ok());
}

namespace {
// The options packet with its 8 option bytes replaced.
std::vector<std::uint8_t> with_ip_options(std::array<std::uint8_t, 8> opts) {
    auto frame = bytes(test_vectors::ipv4_with_options);
    std::copy(opts.begin(), opts.end(), l3(frame).begin() + 20);
    fix_ipv4_checksum(l3(frame));
    return frame;
}
} // namespace

TEST_CASE("RFC 791 §3.1: malformed option lists are refused", "[wire][ipv4]") {
    const std::array<std::array<std::uint8_t, 8>, 6> bad{{
        {0x94, 0x00, 0, 0, 1, 1, 1, 0},  // length 0
        {0x94, 0x01, 0, 0, 1, 1, 1, 0},  // length 1: shorter than type + length
        {0x94, 0x09, 0, 0, 0, 0, 0, 0},  // runs past the header
        {0x01, 0x01, 0x01, 0x44, 0x0c, 0x05, 0, 0}, // timestamp option, length 12 in 5 bytes left
        {0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x07}, // a type with no room for its length
        {0x83, 0x07, 0, 0, 0, 0, 0, 0x94}, // 7-byte LSRR then Router Alert with no length
    }};
    for (std::size_t i = 0; i < bad.size(); ++i) {
        INFO("case " << i);
        const auto frame = with_ip_options(bad[i]);
        CHECK(parse_ipv4(l3(frame)).error() == drop_reason::ipv4_bad_option);
    }
}

TEST_CASE("RFC 791 §3.1: well-formed option lists are accepted and not interpreted", "[wire][ipv4]") {
    const std::array<std::array<std::uint8_t, 8>, 5> good{{
        {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // EOL: the rest is padding, unread
        {0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01}, // NOPs only
        {0x07, 0x07, 0x04, 0xc6, 0x12, 0x00, 0x09, 0x00}, // Record Route, one slot
        {0x88, 0x04, 0x12, 0x34, 0x99, 0x04, 0x00, 0x00}, // stream id; an unknown type 0x99
        {0x01, 0x94, 0x04, 0x00, 0x00, 0x01, 0x02, 0x02}, // unaligned; a 2-byte option at the end
    }};
    for (std::size_t i = 0; i < good.size(); ++i) {
        INFO("case " << i);
        const auto frame = with_ip_options(good[i]);
        const auto ip = parse_ipv4(l3(frame));
        REQUIRE(ip);
        CHECK(ip->options.size() == 8);
    }
    CHECK(ipv4_options_well_formed({}));
}

TEST_CASE("RFC 1122 §3.2.1.3: multicast, broadcast, this-network and loopback sources are refused",
          "[wire][ipv4]") {
    for (const auto src : {ipv4_addr::from_octets(224, 0, 0, 1), ipv4_addr::from_octets(239, 255, 255, 250),
                           ipv4_addr::from_octets(255, 255, 255, 255), ipv4_addr::from_octets(0, 0, 0, 0),
                           ipv4_addr::from_octets(0, 1, 2, 3), ipv4_addr::from_octets(127, 0, 0, 1)}) {
        auto frame = bytes(test_vectors::icmp_echo_request);
        store_be32(l3(frame).data() + 12, src.value);
        fix_ipv4_checksum(l3(frame));
        INFO(src.to_string());
        CHECK(parse_ipv4(l3(frame)).error() == drop_reason::ipv4_bad_source);
    }
    for (const auto src : {ipv4_addr::from_octets(10, 0, 0, 1), ipv4_addr::from_octets(223, 255, 255, 255),
                           ipv4_addr::from_octets(240, 0, 0, 1), ipv4_addr::from_octets(198, 19, 255, 255)}) {
        auto frame = bytes(test_vectors::icmp_echo_request);
        store_be32(l3(frame).data() + 12, src.value);
        fix_ipv4_checksum(l3(frame));
        INFO(src.to_string());
        CHECK(parse_ipv4(l3(frame)).ok());
    }
    // A broadcast or multicast destination is the engine's decision, not a parse error.
    auto frame = bytes(test_vectors::icmp_echo_request);
    store_be32(l3(frame).data() + 16, 0xffffffffu);
    fix_ipv4_checksum(l3(frame));
    CHECK(parse_ipv4(l3(frame)).ok());
}

TEST_CASE("IPv4: checks run in the documented order", "[wire][ipv4]") {
    // A fragment with a bad checksum from a multicast source: the checksum is reported.
    auto frame = bytes(test_vectors::icmp_echo_request);
    auto ip = l3(frame);
    store_be16(ip.data() + 6, 0x2000);
    store_be32(ip.data() + 12, 0xe0000001u);
    CHECK(parse_ipv4(ip).error() == drop_reason::ipv4_bad_checksum);
    // ... without checksum verification, the fragment.
    CHECK(parse_ipv4(ip, checksum_mode::skip).error() == drop_reason::ipv4_fragment);
    // Version before IHL before length.
    ip[0] = 0x61;
    CHECK(parse_ipv4(ip).error() == drop_reason::ipv4_bad_version);
    ip[0] = 0x41;
    CHECK(parse_ipv4(ip).error() == drop_reason::ipv4_bad_ihl);
}

TEST_CASE("IPv4: the builder writes scapy's headers byte for byte", "[wire][ipv4]") {
    {
        const auto frame = bytes(test_vectors::tcp_syn);
        std::array<std::uint8_t, 20> out{};
        REQUIRE(write_ipv4(out, ipv4_fields{.total_length = 60, .protocol = ip_proto_tcp, .src = client_ip,
                                            .dst = server_ip}) == 20);
        CHECK(std::equal(out.begin(), out.end(), l3(frame).begin()));
    }
    {
        const auto frame = bytes(test_vectors::icmp_echo_request);
        std::array<std::uint8_t, 20> out{};
        REQUIRE(write_ipv4(out, ipv4_fields{.total_length = 84, .id = 0x1c46, .protocol = ip_proto_icmp,
                                            .src = client_ip, .dst = server_ip}) == 20);
        CHECK(std::equal(out.begin(), out.end(), l3(frame).begin()));
    }
}

TEST_CASE("IPv4: built headers parse back to the same fields", "[wire][ipv4]") {
    std::vector<std::uint8_t> packet(100, 0xee);
    const ipv4_fields f{.tos = 0x02, .total_length = 100, .id = 0xbeef, .dont_fragment = false, .ttl = 7,
                        .protocol = ip_proto_tcp, .src = server_ip, .dst = client_ip};
    REQUIRE(write_ipv4(packet, f) == 20);
    const auto ip = parse_ipv4(packet);
    REQUIRE(ip);
    CHECK(ip->tos == 0x02);
    CHECK(ip->total_length == 100);
    CHECK(ip->id == 0xbeef);
    CHECK_FALSE(ip->dont_fragment);
    CHECK(ip->ttl == 7);
    CHECK(ip->protocol == ip_proto_tcp);
    CHECK(ip->src == server_ip);
    CHECK(ip->dst == client_ip);
    CHECK(ip->payload.size() == 80);
    CHECK(ip->payload[0] == 0xee);

    std::array<std::uint8_t, 19> small{};
    CHECK(write_ipv4(small, f) == 0);
}
