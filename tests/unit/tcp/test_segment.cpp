// Segment lengths and the reply to segments for no connection (RFC 9293 §3.10.7.1).
#include <linerate/tcp/segment.hpp>

#include <catch2/catch.hpp>

#include <array>

using namespace linerate;
using namespace linerate::tcp;

TEST_CASE("RFC 9293 §3.4: SEG.LEN counts data, SYN and FIN", "[tcp][segment]") {
    const std::array<std::uint8_t, 5> data{};
    CHECK(segment{.flags = tcp_flags{tcp_flags::syn}}.len() == 1);
    CHECK(segment{.flags = tcp_flags{tcp_flags::ack}}.len() == 0);
    CHECK(segment{.flags = tcp_flags{tcp_flags::fin | tcp_flags::ack}, .payload = data}.len() == 6);
    CHECK(segment{.flags = tcp_flags{tcp_flags::syn | tcp_flags::fin}, .payload = data}.len() == 7);
    CHECK(out_segment{.flags = tcp_flags{tcp_flags::fin}, .payload_len = 3}.len() == 4);
}

TEST_CASE("RFC 9293 §3.10.7.1: CLOSED answers a segment without ACK with RST,ACK acknowledging it",
          "[tcp][closed]") {
    const std::array<std::uint8_t, 10> data{};
    const segment syn{.seq = seq32{1000}, .flags = tcp_flags{tcp_flags::syn}};
    const auto r = reset_for_unknown(syn);
    REQUIRE(r);
    CHECK(r->flags == tcp_flags{tcp_flags::rst | tcp_flags::ack});
    CHECK(r->seq == seq32{0});
    CHECK(r->ack == seq32{1001});

    const segment fin_data{.seq = seq32{0xffff'fffau}, .flags = tcp_flags{tcp_flags::fin}, .payload = data};
    CHECK(reset_for_unknown(fin_data)->ack == seq32{5}); // wraps: 0xfffffffa + 11
}

TEST_CASE("RFC 9293 §3.10.7.1: CLOSED answers a segment with ACK with RST at SEG.ACK", "[tcp][closed]") {
    const segment ack{.seq = seq32{5}, .ack = seq32{777}, .flags = tcp_flags{tcp_flags::ack}};
    const auto r = reset_for_unknown(ack);
    REQUIRE(r);
    CHECK(r->flags == tcp_flags{tcp_flags::rst});
    CHECK(r->seq == seq32{777});
    CHECK(r->payload_len == 0);
}

TEST_CASE("RFC 9293 §3.10.7.1: CLOSED discards a RST without answering", "[tcp][closed]") {
    CHECK_FALSE(reset_for_unknown(segment{.flags = tcp_flags{tcp_flags::rst}}));
    CHECK_FALSE(reset_for_unknown(segment{.flags = tcp_flags{tcp_flags::rst | tcp_flags::ack}}));
}

TEST_CASE("four_tuple: reversing swaps the ends", "[tcp][segment]") {
    const four_tuple t{ipv4_addr{1}, ipv4_addr{2}, 10, 20};
    CHECK(t.reversed() == four_tuple{ipv4_addr{2}, ipv4_addr{1}, 20, 10});
    CHECK(t.reversed().reversed() == t);
}
