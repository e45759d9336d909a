// The API's application timers (lib/api/src/timer_table.hpp) on a virtual clock in
// microseconds: never early, exactly once, cancellable, bounded by the pool, and safe
// to re-arm from the callback.
#include "timer_table.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <utility>
#include <vector>

using linerate::handler;
using linerate::timer_id;
using linerate::api::timer_table;

namespace {

struct fired_at {
    std::uint64_t now;
    std::uint64_t cookie;
    friend bool operator==(const fired_at &, const fired_at &) = default;
};

struct target final : handler {};

// Advances in 1 us steps from `from` to `to`, recording when each cookie fired.
std::vector<fired_at> run(timer_table &t, std::uint64_t from, std::uint64_t to) {
    std::vector<fired_at> out;
    for (std::uint64_t now = from; now <= to; ++now)
        t.advance(now, [&](handler &, std::uint64_t cookie) { out.push_back({now, cookie}); });
    return out;
}

} // namespace

TEST_CASE("Application timer: fires once its delay has passed, not a microsecond before", "[api][timer]") {
    timer_table t(8);
    target h;
    t.advance(1000, [](handler &, std::uint64_t) { FAIL("nothing is armed"); });
    REQUIRE(t.schedule(1000, 40, h, 7).valid());
    CHECK(t.armed() == 1);
    CHECK(run(t, 1001, 1039).empty());
    CHECK(run(t, 1040, 1040) == std::vector<fired_at>{{1040, 7}});
    CHECK(t.armed() == 0);
    CHECK(run(t, 1041, 5000).empty());
    CHECK(t.stats().fired == 1);
}

TEST_CASE("Application timer: a long delay is late by less than 8/63 of it, never early", "[api][timer]") {
    timer_table t(4);
    target h;
    t.advance(0, [](handler &, std::uint64_t) {});
    const std::uint64_t delay = 250'000; // 250 ms
    REQUIRE(t.schedule(0, delay, h, 1).valid());
    std::uint64_t when = 0;
    for (std::uint64_t now = 0; now <= 2 * delay && when == 0; now += 100)
        t.advance(now, [&](handler &, std::uint64_t) { when = now; });
    CHECK(when >= delay);
    CHECK(when < delay + delay * 8 / 63 + 100); // + one 100 us step of this loop
}

TEST_CASE("Application timer: the handler and cookie it was armed with come back", "[api][timer]") {
    timer_table t(4);
    target a, b;
    t.advance(0, [](handler &, std::uint64_t) {});
    REQUIRE(t.schedule(0, 5, a, 11).valid());
    REQUIRE(t.schedule(0, 3, b, 22).valid());
    std::vector<std::pair<handler *, std::uint64_t>> seen;
    t.advance(10, [&](handler &h, std::uint64_t c) { seen.emplace_back(&h, c); });
    CHECK(seen == std::vector<std::pair<handler *, std::uint64_t>>{{&b, 22}, {&a, 11}});
}

TEST_CASE("Application timer: a cancelled timer never fires, and cancelling twice is refused", "[api][timer]") {
    timer_table t(4);
    target h;
    t.advance(0, [](handler &, std::uint64_t) {});
    const timer_id id = t.schedule(0, 10, h, 1);
    CHECK(t.cancel(id));
    CHECK_FALSE(t.cancel(id));
    CHECK(t.armed() == 0);
    CHECK(run(t, 1, 100).empty());
}

TEST_CASE("Application timer: an id that outlived its timer cancels nothing when the slot is reused",
          "[api][timer]") {
    timer_table t(1); // one slot: the second timer must reuse it
    target h;
    t.advance(0, [](handler &, std::uint64_t) {});
    const timer_id first = t.schedule(0, 5, h, 1);
    CHECK(run(t, 1, 5).size() == 1);
    const timer_id second = t.schedule(5, 5, h, 2);
    REQUIRE(second.valid());
    CHECK(second.slot == first.slot);
    CHECK_FALSE(first == second);
    CHECK_FALSE(t.cancel(first));
    CHECK(run(t, 6, 10) == std::vector<fired_at>{{10, 2}});
}

TEST_CASE("Application timer: a full pool refuses and counts, and a slot freed is usable again", "[api][timer]") {
    timer_table t(2);
    target h;
    t.advance(0, [](handler &, std::uint64_t) {});
    const timer_id a = t.schedule(0, 10, h, 1);
    REQUIRE(t.schedule(0, 10, h, 2).valid());
    CHECK_FALSE(t.schedule(0, 10, h, 3).valid());
    CHECK(t.stats().full == 1);
    CHECK(t.cancel(a));
    CHECK(t.schedule(0, 10, h, 4).valid());

    timer_table none(0);
    CHECK_FALSE(none.schedule(0, 1, h, 1).valid());
    CHECK_FALSE(none.cancel(timer_id{}));
}

TEST_CASE("Application timer: a callback may re-arm itself (a periodic timer) without firing twice in a turn",
          "[api][timer]") {
    timer_table t(1); // re-arming needs the slot the firing timer just gave back
    target h;
    t.advance(0, [](handler &, std::uint64_t) {});
    // 40 us: within the wheel's exact range, so the period is exact too.
    REQUIRE(t.schedule(0, 40, h, 0).valid());
    std::vector<std::uint64_t> when;
    for (std::uint64_t now = 0; now <= 400; now += 10)
        t.advance(now, [&](handler &hh, std::uint64_t) {
            when.push_back(now);
            REQUIRE(t.schedule(now, 40, hh, 0).valid());
        });
    CHECK(when == std::vector<std::uint64_t>{40, 80, 120, 160, 200, 240, 280, 320, 360, 400});

    // Delay 0 from a callback: next turn, not again in this one.
    timer_table z(1);
    z.advance(0, [](handler &, std::uint64_t) {});
    REQUIRE(z.schedule(0, 0, h, 0).valid());
    int fired = 0;
    z.advance(10, [&](handler &hh, std::uint64_t) {
        ++fired;
        REQUIRE(z.schedule(10, 0, hh, 0).valid());
    });
    CHECK(fired <= 2);
    CHECK(z.armed() == 1);
}

TEST_CASE("Application timer: an enormous delay is parked, not wrapped into the past", "[api][timer]") {
    timer_table t(1);
    target h;
    t.advance(1'000'000, [](handler &, std::uint64_t) {});
    REQUIRE(t.schedule(1'000'000, ~std::uint64_t{0}, h, 0).valid());
    int fired = 0;
    t.advance(1'000'000'000'000ull, [&](handler &, std::uint64_t) { ++fired; });
    CHECK(fired == 0);
    CHECK(t.armed() == 1);
}
