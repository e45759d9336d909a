// ICMP (RFC 792) views and the in-place echo reply (RFC 1122 §3.2.2.6).
#include <linerate/wire/icmp.hpp>
#include <linerate/wire/ipv4.hpp>

#include <catch2/catch.hpp>

#include <random>

#include "support.hpp"

using namespace linerate;
using namespace linerate::wire;
using namespace linerate::wire::test;

namespace {
std::span<std::uint8_t> icmp_of(std::vector<std::uint8_t> &frame) { return l3(frame).subspan(20); }
} // namespace

TEST_CASE("ICMP: a real echo request with 56 bytes of data parses", "[wire][icmp]") {
    auto frame = bytes(test_vectors::icmp_echo_request);
    const auto ip = parse_ipv4(l3(frame));
    REQUIRE(ip);
    const auto icmp = parse_icmp(ip->payload);
    REQUIRE(icmp);
    CHECK(icmp->type == icmp_echo_request);
    CHECK(icmp->code == 0);
    CHECK(icmp->checksum == 0x2cf6);
    CHECK(icmp->id == 0x1234);
    CHECK(icmp->sequence == 1);
    REQUIRE(icmp->data.size() == 56);
    CHECK(icmp->data.front() == 0x10);
    CHECK(icmp->data.back() == 0x47);
}

TEST_CASE("ICMP: a real echo reply parses", "[wire][icmp]") {
    auto frame = bytes(test_vectors::icmp_echo_reply);
    const auto icmp = parse_icmp(icmp_of(frame));
    REQUIRE(icmp);
    CHECK(icmp->type == icmp_echo_reply);
    CHECK(icmp->id == 0x1234);
}

TEST_CASE("ICMP: messages shorter than 8 bytes are truncated", "[wire][icmp]") {
    auto frame = bytes(test_vectors::icmp_echo_request);
    const auto msg = icmp_of(frame);
    for (std::size_t n = 0; n < icmp_header_len; ++n) {
        INFO(n);
        CHECK(parse_icmp(msg.first(n)).error() == drop_reason::icmp_truncated);
        CHECK(parse_icmp(msg.first(n), checksum_mode::skip).error() == drop_reason::icmp_truncated);
    }
    // A prefix of 8 or more bytes is a shorter message whose checksum no longer matches.
    for (std::size_t n = icmp_header_len; n < msg.size(); ++n) {
        INFO(n);
        CHECK(parse_icmp(msg.first(n)).error() == drop_reason::icmp_bad_checksum);
    }
}

TEST_CASE("RFC 792: the checksum covers the whole message, data included", "[wire][icmp][checksum]") {
    for (std::size_t at : {0u, 2u, 5u, 8u, 40u, 63u}) {
        auto frame = bytes(test_vectors::icmp_echo_request);
        icmp_of(frame)[at] ^= 0x20;
        INFO(at);
        CHECK(parse_icmp(icmp_of(frame)).error() == drop_reason::icmp_bad_checksum);
        CHECK(parse_icmp(icmp_of(frame), checksum_mode::skip).ok());
    }
}

TEST_CASE("RFC 1122 §3.2.2.6: the echo reply is the scapy reply, data untouched", "[wire][icmp]") {
    auto frame = bytes(test_vectors::icmp_echo_request);
    const auto reply = bytes(test_vectors::icmp_echo_reply);
    const auto data_before = std::vector<std::uint8_t>(icmp_of(frame).begin() + 8, icmp_of(frame).end());
    icmp_echo_to_reply(icmp_of(frame));
    CHECK(std::equal(icmp_of(frame).begin(), icmp_of(frame).end(), l3(reply).begin() + 20));
    CHECK(std::equal(data_before.begin(), data_before.end(), icmp_of(frame).begin() + 8));
    const auto icmp = parse_icmp(icmp_of(frame));
    REQUIRE(icmp);
    CHECK(icmp->type == icmp_echo_reply);
    CHECK(icmp->checksum == 0x34f6);
}

TEST_CASE("RFC 1624: the incremental echo reply checksum matches a full recomputation", "[wire][icmp][incremental]") {
    std::mt19937 rng(792);
    for (int round = 0; round < 2000; ++round) {
        std::vector<std::uint8_t> msg(8 + rng() % 200);
        for (auto &b : msg) b = static_cast<std::uint8_t>(rng());
        msg[0] = icmp_echo_request;
        msg[1] = 0;
        store_be16(&msg[2], 0);
        store_be16(&msg[2], inet_checksum(msg));
        REQUIRE(parse_icmp(msg).ok());
        icmp_echo_to_reply(msg);
        const auto reply = parse_icmp(msg);
        REQUIRE(reply);
        std::vector<std::uint8_t> fresh = msg;
        store_be16(&fresh[2], 0);
        INFO("round " << round);
        CHECK(reply->checksum == inet_checksum(fresh));
    }
}

TEST_CASE("ICMP: echo_to_reply leaves anything but an echo request alone", "[wire][icmp]") {
    auto frame = bytes(test_vectors::icmp_echo_reply);
    const auto before = frame;
    icmp_echo_to_reply(icmp_of(frame));
    CHECK(frame == before);
    auto request = bytes(test_vectors::icmp_echo_request);
    const auto before_short = request;
    icmp_echo_to_reply(icmp_of(request).first(7));
    CHECK(request == before_short);
}
