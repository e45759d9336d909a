// ISN generator: RFC 6528 §3 (ISN = M + F(tuple, secret)), RFC 9293 §3.4.1 MUST-8/MUST-9.
#include <linerate/tcp/isn.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <set>

using linerate::ipv4_addr;
using linerate::seq32;
using linerate::tcp::isn_generator;

namespace {

constexpr std::array<std::uint8_t, 16> test_key{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
const ipv4_addr local = ipv4_addr::from_octets(198, 18, 0, 1);
const ipv4_addr remote = ipv4_addr::from_octets(198, 18, 0, 2);

} // namespace

TEST_CASE("RFC 6528 §3: with a fixed key the ISN is a reproducible golden value", "[tcp][isn]") {
    // Golden computed independently with a pure-Python SipHash-2-4 (checked against the
    // SipHash paper's test vector) over 198.18.0.1:80 -> 198.18.0.2:40000 laid out as
    // c6 12 00 01 00 50 c6 12 00 02 9c 40: SipHash = 0xa11ab8810815d309, F = 0x0815d309.
    const isn_generator gen{test_key};
    CHECK(gen.offset(local, 80, remote, 40000) == 0x0815'd309u);
    CHECK(gen.generate(local, 80, remote, 40000, 0).raw() == 0x0815'd309u);
    // M = 1 s / 4 us = 250000 = 0x3d090.
    CHECK(gen.generate(local, 80, remote, 40000, 1'000'000).raw() == 0x0819'a399u);
}

TEST_CASE("RFC 6528 §3: M advances by one every 4 microseconds", "[tcp][isn]") {
    const isn_generator gen{test_key};
    const std::uint64_t t0 = 123'456'789;
    const seq32 base = gen.generate(local, 80, remote, 40000, t0 - t0 % 4);
    CHECK(gen.generate(local, 80, remote, 40000, t0 - t0 % 4 + 3) == base); // same 4 us tick
    CHECK(gen.generate(local, 80, remote, 40000, t0 - t0 % 4 + 4) == base + 1);
    CHECK(gen.generate(local, 80, remote, 40000, t0 - t0 % 4 + 4'000'000) == base + 1'000'000u);
}

TEST_CASE("RFC 6528 §3: M wraps modulo 2^32", "[tcp][isn]") {
    const isn_generator gen{test_key};
    const std::uint32_t f = gen.offset(local, 80, remote, 40000);
    const std::uint64_t last_tick = (std::uint64_t{1} << 32) - 1; // M = 0xffffffff
    CHECK(gen.generate(local, 80, remote, 40000, last_tick * 4).raw() == f - 1);
    CHECK(gen.generate(local, 80, remote, 40000, (last_tick + 1) * 4).raw() == f);
    CHECK(gen.generate(local, 80, remote, 40000, (last_tick + 2) * 4).raw() == f + 1);
    // Wrapped or not, the sequence keeps moving forward in seq32 order.
    CHECK(gen.generate(local, 80, remote, 40000, last_tick * 4) <
          gen.generate(local, 80, remote, 40000, (last_tick + 2) * 4));
}

TEST_CASE("RFC 6528 §3: every element of the four-tuple changes F", "[tcp][isn]") {
    const isn_generator gen{test_key};
    const std::uint32_t f = gen.offset(local, 80, remote, 40000);
    CHECK(gen.offset(ipv4_addr::from_octets(198, 18, 0, 3), 80, remote, 40000) != f);
    CHECK(gen.offset(local, 81, remote, 40000) != f);
    CHECK(gen.offset(local, 80, ipv4_addr::from_octets(198, 18, 0, 3), 40000) != f);
    CHECK(gen.offset(local, 80, remote, 40001) != f);
    // The layout is ordered: swapping the two ends is a different connection.
    CHECK(gen.offset(remote, 40000, local, 80) != f);
}

TEST_CASE("RFC 6528 §3: consecutive source ports give unrelated offsets", "[tcp][isn]") {
    // A weak F (a plain sum, say) would let an attacker who sees one ISN predict the next
    // port's; with SipHash the 1000 offsets are all distinct.
    const isn_generator gen{test_key};
    std::set<std::uint32_t> seen;
    for (std::uint16_t port = 40000; port < 41000; ++port) seen.insert(gen.offset(local, 80, remote, port));
    CHECK(seen.size() == 1000);
}

TEST_CASE("RFC 6528 §3: a different secret key gives a different ISN", "[tcp][isn]") {
    std::array<std::uint8_t, 16> other_key = test_key;
    other_key[15] ^= 0x01;
    const isn_generator a{test_key};
    const isn_generator b{other_key};
    CHECK(a.generate(local, 80, remote, 40000, 42) != b.generate(local, 80, remote, 40000, 42));
}

TEST_CASE("RFC 6528 §3: generators with random secrets disagree", "[tcp][isn]") {
    // Two random 128-bit keys agreeing on all three offsets would be a 2^-96 event.
    const isn_generator a;
    const isn_generator b;
    int same = 0;
    for (std::uint16_t port : {1000, 2000, 3000})
        if (a.offset(local, 80, remote, port) == b.offset(local, 80, remote, port)) ++same;
    CHECK(same < 3);
    // Each is still deterministic for its own key.
    CHECK(a.generate(local, 80, remote, 1000, 77) == a.generate(local, 80, remote, 1000, 77));
}
