// Byte order helpers and the tick clock.
#include <linerate/base/byteorder.hpp>
#include <linerate/base/ticks.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <random>

using namespace linerate;

TEST_CASE("byteorder: big-endian loads and stores at odd addresses", "[base][byteorder]") {
    std::array<std::uint8_t, 8> buf{};
    store_be16(buf.data() + 1, 0x1234);
    CHECK(buf[1] == 0x12);
    CHECK(buf[2] == 0x34);
    CHECK(load_be16(buf.data() + 1) == 0x1234);
    store_be32(buf.data() + 3, 0xdeadbeef);
    CHECK(buf[3] == 0xde);
    CHECK(buf[6] == 0xef);
    CHECK(load_be32(buf.data() + 3) == 0xdeadbeefu);
}

TEST_CASE("byteorder: hton and ntoh are inverse", "[base][byteorder]") {
    CHECK(ntoh16(hton16(0xabcd)) == 0xabcd);
    CHECK(ntoh32(hton32(0x01020304u)) == 0x01020304u);
    CHECK(bswap16(0x1122) == 0x2211);
    CHECK(bswap32(0x11223344u) == 0x44332211u);
}

TEST_CASE("ticks: counter to milliseconds", "[base][ticks]") {
    const tick_clock clock(2'000'000'000ull); // a 2 GHz TSC
    CHECK(clock.to_ticks(0).value == 0);
    CHECK(clock.to_ticks(2'000'000ull).value == 1);
    CHECK(clock.to_ticks(2'000'000'000ull * 3600).value == 3'600'000);
    // Large counters do not overflow: 100 years of a 4 GHz TSC.
    const tick_clock fast(4'000'000'000ull);
    const std::uint64_t century = 4'000'000'000ull * 3600 * 24 * 365 * 100;
    CHECK(fast.to_ticks(century).value == 1000ull * 3600 * 24 * 365 * 100);
}

TEST_CASE("ticks: durations round up so timers never fire early", "[base][ticks]") {
    const tick_clock coarse(1000, 100); // 10 ms ticks
    CHECK(coarse.ms_to_ticks(10) == 1);
    CHECK(coarse.ms_to_ticks(11) == 2);
    CHECK(coarse.ms_to_ticks(0) == 0);
}

TEST_CASE("ticks: elapsed time never goes negative", "[base][ticks]") {
    CHECK(tick{10} - tick{4} == 6);
    CHECK(tick{4} - tick{10} == 0);
    CHECK(tick{4} + 3 == tick{7});
}

TEST_CASE("short_deadline: 32 bits give back the full tick within reach of now", "[base][ticks]") {
    constexpr tick none{~std::uint64_t{0}};
    CHECK_FALSE(short_deadline{}.set());
    CHECK(short_deadline{}.when(tick{5}, none) == none);
    CHECK_FALSE(short_deadline{}.due(tick{5}));
    // Ahead of now, behind it (due, not fired yet), and across every 2^31 boundary of the
    // stored bits, from a clock far past 2^32.
    for (const std::uint64_t now : {std::uint64_t{0} + short_deadline::reach, std::uint64_t{1} << 31,
                                    (std::uint64_t{7} << 31) - 3, std::uint64_t{0x1234'5678'9abc}}) {
        CAPTURE(now);
        for (const std::int64_t delta : {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{40},
                                         std::int64_t{86'400'000}, -std::int64_t{86'400'000},
                                         static_cast<std::int64_t>(short_deadline::reach) - 1,
                                         -static_cast<std::int64_t>(short_deadline::reach)}) {
            CAPTURE(delta);
            const tick t{now + static_cast<std::uint64_t>(delta)};
            const auto d = short_deadline::at(t);
            CHECK(d.set());
            CHECK(d.when(tick{now}, none) == t);
            CHECK(d.due(tick{now}) == (delta <= 0));
        }
    }
}

TEST_CASE("short_deadline: a mark in an unset deadline is no deadline", "[base][ticks]") {
    constexpr tick none{~std::uint64_t{0}};
    CHECK_FALSE(short_deadline{}.marked_within(tick{5}, 500));
    for (const std::uint64_t at : {std::uint64_t{0}, std::uint64_t{1} << 31, std::uint64_t{0x1234'5678'9abc}}) {
        CAPTURE(at);
        const auto m = short_deadline::marked(tick{at});
        CHECK_FALSE(m.set());
        CHECK_FALSE(m.due(tick{at + 10}));
        CHECK(m.when(tick{at}, none) == none);
        CHECK(m.key(short_deadline::now_word(tick{at})) == short_deadline::unset_key);
        CHECK(m.marked_within(tick{at}, 500));
        CHECK(m.marked_within(tick{at + 498}, 500));
        CHECK_FALSE(m.marked_within(tick{at + 501}, 500));
        CHECK_FALSE(m.marked_within(tick{at + 100'000}, 500));
        // A real deadline in the same word is no mark.
        CHECK_FALSE(short_deadline::at(tick{at}).marked_within(tick{at}, 500));
    }
}

TEST_CASE("short_deadline: keys order deadlines as their ticks do, unset last", "[base][ticks]") {
    // The earliest of several deadlines, by the least key, is the earliest tick, across
    // the 2^31 boundaries of the stored bits and with unset deadlines among them.
    std::mt19937_64 rng(30);
    const std::int64_t reach = static_cast<std::int64_t>(short_deadline::reach);
    for (int round = 0; round < 100000; ++round) {
        const std::uint64_t now = (std::uint64_t{1} << 34) + rng() % (std::uint64_t{1} << 33);
        const std::uint32_t w = short_deadline::now_word(tick{now});
        std::uint32_t least = short_deadline::unset_key;
        std::uint64_t want = ~std::uint64_t{0};
        for (int i = 0; i < 4; ++i) {
            short_deadline d;
            if (rng() % 4 != 0) {
                const auto delta = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(2 * reach)) - reach;
                const tick t{now + static_cast<std::uint64_t>(delta)};
                d = short_deadline::at(t);
                want = std::min(want, t.value);
                CHECK(short_deadline::at_key(tick{now}, d.key(w)) == t);
                CHECK(d.key(w) != short_deadline::unset_key);
            } else {
                CHECK(d.key(w) == short_deadline::unset_key);
            }
            least = std::min(least, d.key(w));
        }
        INFO("round " << round);
        if (want == ~std::uint64_t{0})
            REQUIRE(least == short_deadline::unset_key);
        else
            REQUIRE(short_deadline::at_key(tick{now}, least) == tick{want});
    }
}
