// RSS steering without a device: the software Toeplitz hash against published
// vectors, the symmetric key, the redirection table map, and the choice of source
// ports whose replies come back to the opener's queue. Nothing here starts EAL.
#include <linerate/device/rss.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <span>
#include <stdexcept>
#include <vector>

using namespace linerate;
using device::choose_source_port;
using device::reta_map;
using device::toeplitz;

namespace {

ipv4_addr ip(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return ipv4_addr::from_octets(a, b, c, d);
}

// The verification data of Microsoft's RSS specification, "Verifying the RSS Hash
// Calculation" (Windows driver documentation, network/verifying-the-rss-hash-calculation;
// the same numbers appear in DPDK's app/test/test_thash.c). Only the published
// numbers are taken.
constexpr std::array<std::uint8_t, 40> microsoft_key{
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

struct vector_row {
    ipv4_addr src;
    std::uint16_t sport;
    ipv4_addr dst;
    std::uint16_t dport;
    std::uint32_t ipv4_only;
    std::uint32_t ipv4_tcp;
};

const std::array<vector_row, 5> microsoft_ipv4_rows{{
    {ip(66, 9, 149, 187), 2794, ip(161, 142, 100, 80), 1766, 0x323e8fc2, 0x51ccc178},
    {ip(199, 92, 111, 2), 14230, ip(65, 69, 140, 83), 4739, 0xd718262a, 0xc626b0ea},
    {ip(24, 19, 198, 95), 12898, ip(12, 22, 207, 184), 38024, 0xd2d0a5de, 0x5c2b394a},
    {ip(38, 27, 205, 30), 48228, ip(209, 142, 163, 6), 2217, 0x82989176, 0xafc7327f},
    {ip(153, 39, 163, 191), 44251, ip(202, 188, 127, 2), 1303, 0x5d1809c5, 0x10e828a2},
}};

struct tuple4 {
    ipv4_addr a, b;
    std::uint16_t pa, pb;
};

std::vector<tuple4> random_tuples(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<tuple4> out;
    for (std::size_t i = 0; i < n; ++i)
        out.push_back({ipv4_addr{static_cast<std::uint32_t>(rng())}, ipv4_addr{static_cast<std::uint32_t>(rng())},
                       static_cast<std::uint16_t>(rng()), static_cast<std::uint16_t>(rng())});
    return out;
}

const ipv4_addr local = ip(198, 18, 0, 2);
const ipv4_addr remote = ip(198, 19, 0, 1);
constexpr std::uint16_t http = 80;

auto any_port = [](std::uint16_t) { return true; };

} // namespace

TEST_CASE("Toeplitz: matches the IPv4 rows of Microsoft's RSS verification suite", "[device][rss]") {
    const toeplitz h(microsoft_key);
    for (const auto &row : microsoft_ipv4_rows) {
        INFO(row.src.to_string() << ":" << row.sport << " -> " << row.dst.to_string() << ":" << row.dport);
        CHECK(h.ipv4(row.src, row.dst) == row.ipv4_only);
        CHECK(h.ipv4_tcp(row.src, row.dst, row.sport, row.dport) == row.ipv4_tcp);
    }
}

TEST_CASE("Toeplitz: the key is read as bytes, whatever its alignment", "[device][rss]") {
    // The same key at an odd offset in a larger buffer hashes the same.
    std::array<std::uint8_t, 41> buffer{};
    std::copy(microsoft_key.begin(), microsoft_key.end(), buffer.begin() + 1);
    const toeplitz h(std::span<const std::uint8_t>(buffer).subspan(1));
    const auto &row = microsoft_ipv4_rows[0];
    CHECK(h.ipv4_tcp(row.src, row.dst, row.sport, row.dport) == row.ipv4_tcp);
}

TEST_CASE("Toeplitz: a key too short for an IPv4/TCP tuple is refused", "[device][rss]") {
    const std::array<std::uint8_t, 15> short_key{};
    CHECK_THROWS_AS(toeplitz(short_key), std::invalid_argument);
    const std::array<std::uint8_t, device::min_rss_key_size> just_enough{};
    CHECK_NOTHROW(toeplitz(just_enough));
}

TEST_CASE("Toeplitz: the default key is the symmetric 0x6d5a key", "[device][rss]") {
    for (std::size_t i = 0; i < device::symmetric_rss_key.size(); ++i)
        CHECK(device::symmetric_rss_key[i] == (i % 2 == 0 ? 0x6d : 0x5a));
    const toeplitz by_default;
    const toeplitz explicit_key(device::symmetric_rss_key);
    for (const auto &t : random_tuples(100, 7)) CHECK(by_default.ipv4_tcp(t.a, t.b, t.pa, t.pb) ==
                                                      explicit_key.ipv4_tcp(t.a, t.b, t.pa, t.pb));
}

TEST_CASE("Toeplitz: with the symmetric key both directions of a flow hash alike", "[device][rss]") {
    const toeplitz h;
    for (const auto &t : random_tuples(10000, 1)) {
        REQUIRE(h.ipv4_tcp(t.a, t.b, t.pa, t.pb) == h.ipv4_tcp(t.b, t.a, t.pb, t.pa));
        REQUIRE(h.ipv4(t.a, t.b) == h.ipv4(t.b, t.a));
    }
}

TEST_CASE("Toeplitz: the Microsoft key is not symmetric (the test above means something)", "[device][rss]") {
    const toeplitz h(microsoft_key);
    int differ = 0;
    for (const auto &t : random_tuples(100, 2))
        if (h.ipv4_tcp(t.a, t.b, t.pa, t.pb) != h.ipv4_tcp(t.b, t.a, t.pb, t.pa)) ++differ;
    CHECK(differ > 90);
}

TEST_CASE("Toeplitz: the 0x6d5a pattern repeated to another key size stays symmetric", "[device][rss]") {
    for (std::size_t size : {16u, 40u, 52u}) {
        INFO("key of " << size << " bytes");
        const auto key = device::make_symmetric_rss_key(size);
        REQUIRE(key.size() == size);
        for (std::size_t i = 0; i < size; ++i) REQUIRE(key[i] == (i % 2 == 0 ? 0x6d : 0x5a));
        const toeplitz h(key);
        const toeplitz forty;
        for (const auto &t : random_tuples(1000, 3)) {
            REQUIRE(h.ipv4_tcp(t.a, t.b, t.pa, t.pb) == h.ipv4_tcp(t.b, t.a, t.pb, t.pa));
            // An IPv4 tuple reads only the first 16 bytes, where the keys agree.
            REQUIRE(h.ipv4_tcp(t.a, t.b, t.pa, t.pb) == forty.ipv4_tcp(t.a, t.b, t.pa, t.pb));
        }
    }
}

TEST_CASE("RETA map: a hash picks the queue that entry (hash & (size - 1)) holds, entry i holding i % queues",
          "[device][rss]") {
    for (reta_map m : {reta_map{128, 1}, reta_map{128, 3}, reta_map{64, 4}, reta_map{512, 6}, reta_map{128, 200}}) {
        INFO("reta_size " << m.reta_size << ", queues " << m.queues);
        std::vector<unsigned> table(m.reta_size);
        for (unsigned i = 0; i < m.reta_size; ++i) table[i] = i % m.queues;
        std::mt19937 rng(4);
        for (int n = 0; n < 10000; ++n) {
            const auto hash = static_cast<std::uint32_t>(rng());
            REQUIRE(m.queue_of(hash) == table[hash & (m.reta_size - 1)]);
        }
        for (std::uint32_t hash = 0; hash < 2 * m.reta_size; ++hash)
            REQUIRE(m.queue_of(hash) == table[hash % m.reta_size]);
    }
}

TEST_CASE("RETA map: one queue takes everything", "[device][rss]") {
    const reta_map m{128, 1};
    const toeplitz h;
    for (const auto &t : random_tuples(1000, 5)) REQUIRE(m.queue_of(h.ipv4_tcp(t.a, t.b, t.pa, t.pb)) == 0);
}

TEST_CASE("RETA map: symmetric Toeplitz hashes of random flows spread evenly over the queues", "[device][rss]") {
    const toeplitz h;
    for (unsigned queues : {2u, 4u, 6u}) {
        INFO(queues << " queues");
        const reta_map m{128, queues};
        std::vector<unsigned> per_queue(queues);
        const auto tuples = random_tuples(60000, 6);
        for (const auto &t : tuples) ++per_queue[m.queue_of(h.ipv4_tcp(t.a, t.b, t.pa, t.pb))];
        // 128 entries over 6 queues is not exact: queues 0 and 1 own 22 entries,
        // the others 21. Allow that and a few percent of noise.
        const double fair = static_cast<double>(tuples.size()) / queues;
        for (unsigned q = 0; q < queues; ++q) {
            INFO("queue " << q);
            CHECK(per_queue[q] > 0.9 * fair);
            CHECK(per_queue[q] < 1.1 * fair);
        }
    }
}

TEST_CASE("Source port choice: every port chosen brings the reply to the opener's queue", "[device][rss]") {
    const toeplitz h;
    for (unsigned queues : {2u, 4u, 8u}) {
        const reta_map m{128, queues};
        for (unsigned queue = 0; queue < queues; ++queue) {
            INFO(queues << " queues, queue " << queue);
            std::uint16_t start = 1024;
            for (int n = 0; n < 50; ++n) {
                const auto p = choose_source_port(h, m, queue, local, remote, http, 1024, 65535, start, any_port);
                REQUIRE(p);
                // The reply travels remote:80 -> local:p.
                REQUIRE(m.queue_of(h.ipv4_tcp(remote, local, http, *p)) == queue);
                // And the segments we send hash the same (symmetric key).
                REQUIRE(m.queue_of(h.ipv4_tcp(local, remote, *p, http)) == queue);
                start = static_cast<std::uint16_t>(*p + 1);
            }
        }
    }
}

TEST_CASE("Source port choice: the first qualifying port from start upward is chosen", "[device][rss]") {
    const toeplitz h;
    const reta_map m{128, 4};
    const std::uint16_t start = 20000;
    std::uint16_t expect = start;
    while (m.queue_of(h.ipv4_tcp(remote, local, http, expect)) != 1) ++expect;
    CHECK(choose_source_port(h, m, 1, local, remote, http, 10000, 30000, start, any_port) == expect);
}

TEST_CASE("Source port choice: ports that are not free are skipped, and only ports on the queue are asked about",
          "[device][rss]") {
    const toeplitz h;
    const reta_map m{128, 2};
    std::vector<std::uint16_t> asked;
    int refusals = 3;
    const auto p = choose_source_port(h, m, 0, local, remote, http, 40000, 50000, 40000, [&](std::uint16_t port) {
        asked.push_back(port);
        return refusals-- <= 0;
    });
    REQUIRE(p);
    REQUIRE(asked.size() == 4);
    CHECK(asked.back() == *p);
    for (auto port : asked) CHECK(m.queue_of(h.ipv4_tcp(remote, local, http, port)) == 0);
    for (std::size_t i = 1; i < asked.size(); ++i) CHECK(asked[i - 1] < asked[i]);
}

TEST_CASE("Source port choice: the range is respected, and a start outside it scans from its low end",
          "[device][rss]") {
    const toeplitz h;
    const reta_map m{128, 4};
    for (unsigned queue = 0; queue < 4; ++queue) {
        for (std::uint16_t start : {std::uint16_t{0}, std::uint16_t{1000}, std::uint16_t{1063}, std::uint16_t{65535}}) {
            std::vector<std::uint16_t> asked;
            const auto p = choose_source_port(h, m, queue, local, remote, http, 1000, 1063, start, [&](std::uint16_t port) {
                asked.push_back(port);
                return true;
            });
            REQUIRE(p);
            CHECK(*p >= 1000);
            CHECK(*p <= 1063);
            if (start < 1000 || start > 1063) {
                auto first = std::uint16_t{1000};
                while (m.queue_of(h.ipv4_tcp(remote, local, http, first)) != queue) ++first;
                CHECK(*p == first);
            }
        }
    }
}

TEST_CASE("Source port choice: the scan wraps from the top of the range to its bottom", "[device][rss]") {
    const toeplitz h;
    const reta_map m{128, 2};
    // The range runs from 5000 to its highest queue-0 port, and only its lowest
    // queue-0 port is free: starting at the top, the scan must wrap to find it.
    std::uint16_t lowest = 5000;
    while (m.queue_of(h.ipv4_tcp(remote, local, http, lowest)) != 0) ++lowest;
    std::uint16_t top = 6000;
    while (m.queue_of(h.ipv4_tcp(remote, local, http, top)) != 0) --top;
    REQUIRE(lowest < top);
    std::vector<std::uint16_t> asked;
    const auto p = choose_source_port(h, m, 0, local, remote, http, 5000, top, top, [&](std::uint16_t port) {
        asked.push_back(port);
        return port == lowest;
    });
    CHECK(p == lowest);
    CHECK(asked == std::vector<std::uint16_t>{top, lowest});

    // The whole 16-bit space wraps too.
    const auto q = choose_source_port(h, m, 0, local, remote, http, 0, 65535, 65535,
                                      [&](std::uint16_t port) { return port == lowest; });
    CHECK(q == lowest);
}

TEST_CASE("Source port choice: nothing qualifies, nothing is returned", "[device][rss]") {
    const toeplitz h;
    const reta_map m{128, 2};
    SECTION("every port on the queue is taken") {
        CHECK_FALSE(choose_source_port(h, m, 0, local, remote, http, 1024, 65535, 1024,
                                       [](std::uint16_t) { return false; }));
    }
    SECTION("the one port of the range lands on the other queue") {
        std::uint16_t other = 7000;
        while (m.queue_of(h.ipv4_tcp(remote, local, http, other)) != 1) ++other;
        CHECK_FALSE(choose_source_port(h, m, 0, local, remote, http, other, other, other, any_port));
        CHECK(choose_source_port(h, m, 1, local, remote, http, other, other, other, any_port) == other);
    }
    SECTION("an empty range") {
        CHECK_FALSE(choose_source_port(h, m, 0, local, remote, http, 2000, 1999, 2000, any_port));
    }
    SECTION("a queue the map does not have") {
        CHECK_FALSE(choose_source_port(h, m, 2, local, remote, http, 1024, 65535, 1024, any_port));
    }
}

TEST_CASE("Source port choice: with 2 queues about half the ports of a range qualify", "[device][rss]") {
    const toeplitz h;
    const reta_map m{128, 2};
    for (const auto &t : random_tuples(20, 8)) {
        unsigned on_queue_0 = 0;
        const unsigned lo = 10000, hi = 59999;
        for (unsigned p = lo; p <= hi; ++p)
            if (m.queue_of(h.ipv4_tcp(t.b, t.a, t.pb, static_cast<std::uint16_t>(p))) == 0) ++on_queue_0;
        const double share = static_cast<double>(on_queue_0) / (hi - lo + 1);
        CHECK(share > 0.45);
        CHECK(share < 0.55);
    }
    // And the chooser finds them all: counting its answers by taking each port it
    // returns gives the same number.
    const auto &t = random_tuples(1, 9).front();
    std::vector<bool> taken(65536);
    unsigned chosen = 0;
    std::uint16_t start = 10000;
    while (auto p = choose_source_port(h, m, 0, t.a, t.b, t.pb, 10000, 59999, start,
                                       [&](std::uint16_t port) { return !taken[port]; })) {
        taken[*p] = true;
        ++chosen;
        start = static_cast<std::uint16_t>(*p + 1);
    }
    unsigned expected = 0;
    for (unsigned p = 10000; p <= 59999; ++p)
        if (m.queue_of(h.ipv4_tcp(t.b, t.a, t.pb, static_cast<std::uint16_t>(p))) == 0) ++expected;
    CHECK(chosen == expected);
}
