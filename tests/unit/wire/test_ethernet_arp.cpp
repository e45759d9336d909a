// Ethernet framing and ARP (RFC 826) against scapy-built frames.
#include <linerate/wire/arp.hpp>
#include <linerate/wire/ethernet.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

using namespace linerate;
using namespace linerate::wire;
using namespace linerate::wire::test;

TEST_CASE("Ethernet: a real frame splits into addresses, type and payload", "[wire][ethernet]") {
    const auto frame = bytes(test_vectors::tcp_syn);
    const auto eth = parse_ethernet(frame);
    REQUIRE(eth);
    CHECK(eth->dst == server_mac);
    CHECK(eth->src == client_mac);
    CHECK(eth->ethertype == ethertype_ipv4);
    CHECK(eth->payload.size() == frame.size() - 14);
    CHECK(eth->payload.data() == frame.data() + 14);

    const auto arp = parse_ethernet(bytes(test_vectors::arp_request));
    REQUIRE(arp);
    CHECK(arp->dst.is_broadcast());
    CHECK(arp->ethertype == ethertype_arp);
}

TEST_CASE("Ethernet: frames shorter than 14 bytes are truncated", "[wire][ethernet]") {
    const auto frame = bytes(test_vectors::arp_request);
    for (std::size_t n = 0; n < ethernet_header_len; ++n) {
        INFO(n);
        CHECK(parse_ethernet(cspan(frame).first(n)).error() == drop_reason::eth_truncated);
    }
    const auto bare = parse_ethernet(cspan(frame).first(14));
    REQUIRE(bare);
    CHECK(bare->payload.empty());
}

TEST_CASE("Ethernet: unknown EtherTypes are not a parse error", "[wire][ethernet]") {
    auto frame = bytes(test_vectors::tcp_syn);
    for (std::uint16_t type : {0x86dd, 0x88cc, 0x0000, 0xffff}) {
        store_be16(&frame[12], type);
        const auto eth = parse_ethernet(frame);
        REQUIRE(eth);
        CHECK(eth->ethertype == type);
    }
}

TEST_CASE("Ethernet: padding to 60 bytes stays in the payload for IPv4 to trim", "[wire][ethernet]") {
    const auto frame = bytes(test_vectors::eth_padded_ack);
    REQUIRE(frame.size() == ethernet_min_frame_len);
    const auto eth = parse_ethernet(frame);
    REQUIRE(eth);
    CHECK(eth->payload.size() == 46);
}

TEST_CASE("Ethernet: the builder writes the scapy header", "[wire][ethernet]") {
    const auto frame = bytes(test_vectors::tcp_syn);
    std::array<std::uint8_t, 14> out{};
    CHECK(write_ethernet(out, server_mac, client_mac, ethertype_ipv4) == 14);
    CHECK(std::equal(out.begin(), out.end(), frame.begin()));
    std::array<std::uint8_t, 13> small{};
    CHECK(write_ethernet(small, server_mac, client_mac, ethertype_ipv4) == 0);
    CHECK(small == std::array<std::uint8_t, 13>{});
}

TEST_CASE("Ethernet: an 802.1Q tag parses into PCP, DEI, VID and the inner type", "[wire][ethernet][vlan]") {
    const std::vector<std::uint8_t> tag{0xb0, 0x64, 0x08, 0x00, 0x45};
    const auto v = parse_vlan(tag);
    REQUIRE(v);
    CHECK(v->pcp == 5);
    CHECK(v->dei);
    CHECK(v->vid == 100);
    CHECK(v->ethertype == ethertype_ipv4);
    CHECK(v->payload.size() == 1);
    for (std::size_t n = 0; n < vlan_tag_len; ++n)
        CHECK(parse_vlan(cspan(tag).first(n)).error() == drop_reason::eth_truncated);
}

TEST_CASE("ARP: a real request parses", "[wire][arp]") {
    const auto frame = bytes(test_vectors::arp_request);
    const auto arp = parse_arp(l3(frame));
    REQUIRE(arp);
    CHECK(arp->op == arp_op::request);
    CHECK(arp->sha == client_mac);
    CHECK(arp->spa == client_ip);
    CHECK(arp->tha.is_zero());
    CHECK(arp->tpa == server_ip);
}

TEST_CASE("ARP: a real reply parses", "[wire][arp]") {
    const auto frame = bytes(test_vectors::arp_reply);
    const auto arp = parse_arp(l3(frame));
    REQUIRE(arp);
    CHECK(arp->op == arp_op::reply);
    CHECK(arp->sha == server_mac);
    CHECK(arp->spa == server_ip);
    CHECK(arp->tha == client_mac);
    CHECK(arp->tpa == client_ip);
}

TEST_CASE("ARP: Ethernet padding after the 28 bytes is ignored", "[wire][arp]") {
    auto frame = bytes(test_vectors::arp_request);
    frame.resize(ethernet_min_frame_len, 0x00);
    const auto arp = parse_arp(l3(frame));
    REQUIRE(arp);
    CHECK(arp->tpa == server_ip);
}

TEST_CASE("ARP: every prefix shorter than 28 bytes is truncated", "[wire][arp]") {
    const auto frame = bytes(test_vectors::arp_request);
    const auto packet = l3(frame);
    for (std::size_t n = 0; n < arp_len; ++n) {
        INFO(n);
        CHECK(parse_arp(packet.first(n)).error() == drop_reason::arp_truncated);
    }
}

TEST_CASE("RFC 826: hardware and protocol types other than Ethernet/IPv4 are unsupported", "[wire][arp]") {
    struct mutation {
        std::size_t at;
        std::uint8_t value;
    };
    for (const auto m : {mutation{1, 6},      // htype 6 (IEEE 802)
                         mutation{2, 0x86},   // ptype 0x86dd-ish
                         mutation{3, 0x06},   // ptype 0x0806
                         mutation{4, 8},      // hlen 8
                         mutation{5, 16}}) {  // plen 16 (IPv6)
        auto frame = bytes(test_vectors::arp_request);
        l3(frame)[m.at] = m.value;
        INFO("byte " << m.at);
        CHECK(parse_arp(l3(frame)).error() == drop_reason::arp_unsupported);
    }
}

TEST_CASE("RFC 826: opcodes other than request and reply are refused", "[wire][arp]") {
    for (std::uint16_t op : {0, 3, 4, 8, 9, 0x0100, 0xffff}) { // RARP (3, 4), InARP (8, 9)
        auto frame = bytes(test_vectors::arp_request);
        store_be16(l3(frame).data() + 6, op);
        INFO(op);
        CHECK(parse_arp(l3(frame)).error() == drop_reason::arp_bad_op);
    }
}

TEST_CASE("ARP: the builder writes the scapy packets and round-trips", "[wire][arp]") {
    std::array<std::uint8_t, 42> out{};
    REQUIRE(write_ethernet(out, mac_addr::broadcast(), client_mac, ethertype_arp) == 14);
    REQUIRE(write_arp(std::span(out).subspan(14), arp_op::request, client_mac, client_ip, mac_addr{}, server_ip) == 28);
    CHECK(out == test_vectors::arp_request);

    REQUIRE(write_ethernet(out, client_mac, server_mac, ethertype_arp) == 14);
    REQUIRE(write_arp(std::span(out).subspan(14), arp_op::reply, server_mac, server_ip, client_mac, client_ip) == 28);
    CHECK(out == test_vectors::arp_reply);

    const auto back = parse_arp(std::span<const std::uint8_t>(out).subspan(14));
    REQUIRE(back);
    CHECK(back->op == arp_op::reply);
    CHECK(back->spa == server_ip);

    std::array<std::uint8_t, 27> small{};
    CHECK(write_arp(small, arp_op::reply, server_mac, server_ip, client_mac, client_ip) == 0);
}
