// The timer wheel against its contract, one behaviour per case. The randomized
// properties are in test_wheel_random.cpp.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

using namespace timer_test;
using linerate::timer::wheel;

namespace {

template <std::size_t N>
std::array<owner, N> make_owners() {
    std::array<owner, N> o{};
    for (std::size_t i = 0; i < N; ++i) o[i].id = static_cast<int>(i);
    return o;
}

auto nothing = [](timer::hook&) { FAIL("no timer should fire"); };

} // namespace

TEST_CASE("An empty wheel has no next expiry and advancing it fires nothing", "[timer]") {
    wheel w;
    CHECK(w.size() == 0);
    CHECK_FALSE(w.next_expiry().has_value());
    CHECK(w.advance(tick{2 * hour}, nothing) == 0);
    CHECK(w.now() == tick{2 * hour});
    CHECK_FALSE(w.next_expiry().has_value());
}

TEST_CASE("A timer fires at its expiry and not one tick before", "[timer]") {
    auto o = make_owners<1>();
    wheel w;
    std::vector<firing> fired;
    w.arm(o[0].h, tick{50});
    CHECK(w.advance(tick{49}, recorder{w, fired}) == 0);
    CHECK(o[0].h.armed());
    CHECK(w.advance(tick{50}, recorder{w, fired}) == 1);
    CHECK(fired == std::vector<firing>{{0, 50}});
    CHECK_FALSE(o[0].h.armed());
    // Exactly once: later advances do not fire it again.
    CHECK(w.advance(tick{10 * hour}, recorder{w, fired}) == 0);
}

TEST_CASE("Delays the finest level holds are exact; longer ones round up to their level's granule",
          "[timer][granularity]") {
    // At now = 0, level 0 holds expiries 1..64; 65 goes to level 1 (8 ticks) and fires
    // at 72; 513 goes to level 2 (64 ticks) and fires at 576.
    auto o = make_owners<4>();
    wheel w;
    std::vector<firing> fired;
    w.arm(o[0].h, tick{64});
    w.arm(o[1].h, tick{65});
    w.arm(o[2].h, tick{513});
    w.arm(o[3].h, tick{80}); // a multiple of 8: the rounding costs nothing
    w.advance(tick{1000}, recorder{w, fired});
    CHECK(fired == std::vector<firing>{{0, 64}, {1, 72}, {3, 80}, {2, 576}});
}

TEST_CASE("The finest level's reach is counted from now, not from the epoch", "[timer][granularity]") {
    // At now = 5, expiry 69 is 64 ticks away: still level 0, still exact.
    auto o = make_owners<1>();
    wheel w{tick{5}};
    std::vector<firing> fired;
    w.arm(o[0].h, tick{69});
    w.advance(tick{200}, recorder{w, fired});
    CHECK(fired == std::vector<firing>{{0, 69}});
}

TEST_CASE("A timer armed at or before now fires on the next advance, oldest arm first", "[timer]") {
    auto o = make_owners<2>();
    wheel w{tick{100}};
    std::vector<firing> fired;
    w.arm(o[0].h, tick{100});
    w.arm(o[1].h, tick{3});
    REQUIRE(w.next_expiry() == tick{100});
    // Even an advance that does not move time delivers them.
    CHECK(w.advance(tick{100}, recorder{w, fired}) == 2);
    CHECK(fired == std::vector<firing>{{0, 100}, {1, 100}});
}

TEST_CASE("Timers firing in one advance come out in non-decreasing slot time across levels", "[timer][order]") {
    // Armed in scrambled order, spread over levels 0 to 6; one jump fires them all.
    constexpr std::uint64_t expiries[] = {3 * hour, 7, 40 * second, 700, 1, 20 * minute, 64, 65,
                                      2 * second, 4095, 4096, 4097, 90 * minute, 512, 300 * second};
    constexpr std::size_t n = std::size(expiries);
    auto o = make_owners<n>();
    wheel w;
    std::vector<firing> fired;
    for (std::size_t i = 0; i < n; ++i) w.arm(o[i].h, tick{expiries[i]});
    CHECK(w.advance(tick{4 * hour}, recorder{w, fired}) == n);
    REQUIRE(fired.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t e = expiries[fired[i].id];
        CHECK(fired[i].at >= e);
        CHECK(lateness_ok(e, fired[i].at - e));
        if (i > 0) CHECK(fired[i - 1].at <= fired[i].at);
    }
}

TEST_CASE("Timers of one slot fire in the order they were armed", "[timer][order]") {
    // Within a slot any order would do for correctness; FIFO makes it predictable.
    auto o = make_owners<8>();
    wheel w;
    std::vector<firing> fired;
    for (int i : {3, 1, 7, 0, 5, 2, 6, 4}) w.arm(o[i].h, tick{1000 + static_cast<std::uint64_t>(i)});
    w.advance(tick{2000}, recorder{w, fired});
    REQUIRE(fired.size() == 8);
    const int order[] = {3, 1, 7, 0, 5, 2, 6, 4};
    for (std::size_t i = 0; i < 8; ++i) CHECK(fired[i].id == order[i]);
}

TEST_CASE("A timer cancelled before its expiry never fires", "[timer][cancel]") {
    auto o = make_owners<2>();
    wheel w;
    std::vector<firing> fired;
    w.arm(o[0].h, tick{10 * second});
    w.arm(o[1].h, tick{10 * second});
    w.advance(tick{5 * second}, recorder{w, fired});
    w.cancel(o[0].h);
    CHECK_FALSE(o[0].h.armed());
    CHECK(w.size() == 1);
    w.advance(tick{hour}, recorder{w, fired});
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].id == 1);
    CHECK(fired[0].at == 10'240); // level 3: 10 s rounded up to 20 granules of 512
    CHECK(w.invariants_hold());
}

TEST_CASE("Cancelling an unarmed hook, or cancelling twice, does nothing", "[timer][cancel]") {
    auto o = make_owners<2>();
    wheel w;
    w.cancel(o[0].h);
    w.arm(o[1].h, tick{10});
    w.cancel(o[1].h);
    w.cancel(o[1].h);
    CHECK(w.size() == 0);
    CHECK_FALSE(w.next_expiry().has_value());
    CHECK(w.invariants_hold());
}

TEST_CASE("A callback cancels another timer due in the same advance: it does not fire", "[timer][cancel][callback]") {
    auto o = make_owners<4>();
    wheel w;
    std::vector<firing> fired;
    // 1 and 2 sit in a later slot than 0; 3 shares 0's slot and comes after it.
    w.arm(o[0].h, tick{10});
    w.arm(o[3].h, tick{10});
    w.arm(o[1].h, tick{20});
    w.arm(o[2].h, tick{5 * second});
    auto cb = [&](timer::hook& h) {
        recorder{w, fired}(h);
        if (&h == &o[0].h) {
            w.cancel(o[3].h);
            w.cancel(o[2].h);
        }
    };
    CHECK(w.advance(tick{hour}, cb) == 2);
    CHECK(fired == std::vector<firing>{{0, 10}, {1, 20}});
    CHECK(w.size() == 0);
    CHECK(w.invariants_hold());
}

TEST_CASE("A callback moves a timer due in the same advance to later: it fires once, at the new time",
          "[timer][rearm][callback]") {
    auto o = make_owners<2>();
    wheel w;
    std::vector<firing> fired;
    w.arm(o[0].h, tick{10});
    w.arm(o[1].h, tick{10});
    auto cb = [&](timer::hook& h) {
        recorder{w, fired}(h);
        if (&h == &o[0].h) w.arm(o[1].h, tick{30});
    };
    CHECK(w.advance(tick{100}, cb) == 2);
    CHECK(fired == std::vector<firing>{{0, 10}, {1, 30}});
}

TEST_CASE("A timer armed from a callback and due before the target fires in the same advance, at its own time",
          "[timer][callback]") {
    auto o = make_owners<2>();
    wheel w;
    std::vector<firing> fired;
    w.arm(o[0].h, tick{10});
    auto cb = [&](timer::hook& h) {
        recorder{w, fired}(h);
        if (&h == &o[0].h) w.arm(o[1].h, w.now() + 5);
    };
    CHECK(w.advance(tick{100}, cb) == 2);
    CHECK(fired == std::vector<firing>{{0, 10}, {1, 15}});
    CHECK(w.now() == tick{100});
}

TEST_CASE("Re-arming an armed timer earlier moves it: it fires once, at the new time", "[timer][rearm]") {
    auto o = make_owners<1>();
    wheel w;
    std::vector<firing> fired;
    w.arm(o[0].h, tick{hour});
    w.arm(o[0].h, tick{30});
    CHECK(w.size() == 1);
    CHECK(o[0].h.expires() == tick{30});
    CHECK(w.advance(tick{2 * hour}, recorder{w, fired}) == 1);
    CHECK(fired == std::vector<firing>{{0, 30}});
}

TEST_CASE("Re-arming an armed timer later moves it: it does not fire at the old time", "[timer][rearm]") {
    // The retransmission timer's life: re-armed further out on every ACK.
    auto o = make_owners<1>();
    wheel w;
    std::vector<firing> fired;
    w.arm(o[0].h, tick{200});
    for (std::uint64_t t = 100; t <= 1000; t += 100) {
        CHECK(w.advance(tick{t}, recorder{w, fired}) == 0);
        w.arm(o[0].h, tick{t + 200});
    }
    CHECK(w.size() == 1);
    w.advance(tick{1200}, recorder{w, fired});
    CHECK(fired == std::vector<firing>{{0, 1200}});
}

TEST_CASE("A periodic timer re-armed at expires() + period from its callback fires once per period without drift",
          "[timer][rearm][callback]") {
    auto o = make_owners<1>();
    wheel w;
    std::vector<firing> fired;
    constexpr std::uint64_t period = 1000; // level 2: fires up to 63 ticks late each time
    w.arm(o[0].h, tick{period});
    auto cb = [&](timer::hook& h) {
        recorder{w, fired}(h);
        w.arm(h, h.expires() + period);
    };
    // One call covering the whole hour: each firing arms the next, due before the target.
    CHECK(w.advance(tick{hour}, cb) == hour / period);
    REQUIRE(fired.size() == hour / period);
    for (std::size_t k = 0; k < fired.size(); ++k) {
        const std::uint64_t due = (k + 1) * period;
        CHECK(fired[k].at >= due);
        CHECK(fired[k].at - due < 64); // one level-2 granule, not k of them
    }
    CHECK(w.size() == 1);
}

TEST_CASE("A callback re-arming its own timer at or before now() gets the next tick, not a loop",
          "[timer][rearm][callback]") {
    // Firing it again at the same time would let a callback spin advance() forever.
    auto o = make_owners<1>();
    wheel w;
    std::vector<std::uint64_t> at;
    w.arm(o[0].h, tick{10});
    auto cb = [&](timer::hook& h) {
        at.push_back(w.now().value);
        w.arm(h, tick{w.now().value - 5});
    };
    CHECK(w.advance(tick{13}, cb) == 4);
    CHECK(at == std::vector<std::uint64_t>{10, 11, 12, 13});
    // Armed at 13 for the past: the next tick, 14, which the wheel has not reached.
    CHECK(w.next_expiry() == tick{14});
    CHECK(w.advance(tick{13}, cb) == 0);
    CHECK(w.advance(tick{14}, cb) == 1);
    CHECK(o[0].h.armed());
    CHECK(w.invariants_hold());
}

TEST_CASE("now() inside a callback is the slot time being expired, and the target after advance", "[timer][callback]") {
    auto o = make_owners<2>();
    wheel w;
    std::vector<std::uint64_t> seen;
    w.arm(o[0].h, tick{7});
    w.arm(o[1].h, tick{100}); // level 1: slot time 104
    w.advance(tick{5000}, [&](timer::hook&) { seen.push_back(w.now().value); });
    CHECK(seen == std::vector<std::uint64_t>{7, 104});
    CHECK(w.now() == tick{5000});
}

TEST_CASE("10,000 timers in one slot all fire exactly once, in arm order", "[timer][order]") {
    constexpr std::size_t n = 10'000;
    std::vector<owner> o(n);
    wheel w;
    for (std::size_t i = 0; i < n; ++i) {
        o[i].id = static_cast<int>(i);
        w.arm(o[i].h, tick{3 * second + i % 7}); // all within one 64-tick granule of level 2
    }
    CHECK(w.size() == n);
    std::vector<firing> fired;
    const auto scans_before = w.counters().scans;
    CHECK(w.advance(tick{hour}, recorder{w, fired}) == n);
    // One slot, so one scan finds it and one more finds nothing before the target.
    CHECK(w.counters().scans - scans_before == 2);
    REQUIRE(fired.size() == n);
    for (std::size_t i = 0; i < n; ++i) CHECK(fired[i].id == static_cast<int>(i));
    CHECK(w.size() == 0);
}

TEST_CASE("A 2 h timer fires at 2 h, not one tick before", "[timer][horizon]") {
    auto o = make_owners<1>();
    wheel w;
    std::vector<firing> fired;
    w.arm(o[0].h, tick{2 * hour});
    // Walk up to it a minute at a time, as an idle loop with a coarse tick would.
    for (std::uint64_t t = minute; t < 2 * hour; t += minute) CHECK(w.advance(tick{t}, recorder{w, fired}) == 0);
    CHECK(w.advance(tick{2 * hour - 1}, recorder{w, fired}) == 0);
    w.advance(tick{3 * hour}, recorder{w, fired});
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].at >= 2 * hour);
    CHECK(lateness_ok(2 * hour, fired[0].at - 2 * hour));
}

TEST_CASE("Timers at 24 h, 100 h and a year never fire early; those beyond the horizon are re-armed on the way",
          "[timer][horizon]") {
    constexpr std::uint64_t day = 24 * hour;
    constexpr std::uint64_t expiries[] = {day, 100 * hour, 365 * day};
    auto o = make_owners<3>();
    wheel w;
    std::vector<firing> fired;
    for (std::size_t i = 0; i < 3; ++i) w.arm(o[i].h, tick{expiries[i]});
    CHECK(w.invariants_hold());
    // An hour at a time for a year: every step must leave the not-yet-due ones alone.
    for (std::uint64_t t = hour; t <= 366 * day; t += hour) {
        w.advance(tick{t}, recorder{w, fired});
        for (const firing& f : fired) CHECK(f.at >= expiries[f.id]);
    }
    REQUIRE(fired.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(fired[i].id == static_cast<int>(i));
        CHECK(lateness_ok(expiries[i], fired[i].at - expiries[i]));
    }
    CHECK(w.counters().horizon_rearms >= 2);
    CHECK(w.invariants_hold());
}

TEST_CASE("A timer beyond the horizon survives one jump past the horizon without firing early", "[timer][horizon]") {
    auto o = make_owners<1>();
    wheel w;
    std::vector<firing> fired;
    w.arm(o[0].h, tick{100 * hour});
    CHECK(w.advance(tick{100 * hour - 1}, recorder{w, fired}) == 0);
    CHECK(o[0].h.armed());
    CHECK(w.invariants_hold());
    w.advance(tick{101 * hour}, recorder{w, fired});
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].at >= 100 * hour);
}

TEST_CASE("Delays up to the horizon are placed once whatever the phase of now(); longer ones are re-armed on the way",
          "[timer][horizon]") {
    // The horizon is what the last level holds when now() sits at the worst point of
    // its granule; a phase sweep covers the best and the worst.
    for (std::uint64_t phase : {std::uint64_t{0}, std::uint64_t{1}, timer::granularity(7) / 2,
                                timer::granularity(7) - 1}) {
        auto o = make_owners<2>();
        wheel w{tick{phase}};
        w.arm(o[0].h, tick{phase + timer::horizon});
        std::vector<firing> fired;
        w.advance(tick{phase + timer::horizon + timer::granularity(7)}, recorder{w, fired});
        REQUIRE(fired.size() == 1);
        CHECK(fired[0].at >= phase + timer::horizon);
        CHECK(w.counters().horizon_rearms == 0);
        const std::uint64_t far = w.now().value + 3 * timer::horizon;
        w.arm(o[1].h, tick{far});
        w.advance(tick{far + timer::horizon}, recorder{w, fired});
        REQUIRE(fired.size() == 2);
        CHECK(fired[1].at >= far);
        CHECK(w.counters().horizon_rearms >= 2);
    }
}

TEST_CASE("A timer at the end of time never fires and can be cancelled", "[timer][horizon]") {
    auto o = make_owners<1>();
    wheel w;
    w.arm(o[0].h, tick{std::numeric_limits<std::uint64_t>::max()});
    CHECK(w.advance(tick{10 * 365 * 24 * hour}, nothing) == 0);
    CHECK(o[0].h.armed());
    CHECK(w.invariants_hold());
    w.cancel(o[0].h);
    CHECK(w.size() == 0);
}

TEST_CASE("A 2 h jump in one call fires everything due, in order, and only that", "[timer][jump]") {
    // One timer per minute for 3 h.
    constexpr std::size_t n = 180;
    std::vector<owner> o(n);
    wheel w;
    for (std::size_t i = 0; i < n; ++i) {
        o[i].id = static_cast<int>(i);
        w.arm(o[i].h, tick{(i + 1) * minute});
    }
    std::vector<firing> fired;
    w.advance(tick{2 * hour}, recorder{w, fired});
    for (std::size_t i = 0; i < fired.size(); ++i) {
        const std::uint64_t e = (static_cast<std::uint64_t>(fired[i].id) + 1) * minute;
        CHECK(fired[i].at >= e);
        CHECK(fired[i].at <= 2 * hour);
        if (i > 0) CHECK(fired[i - 1].at <= fired[i].at);
    }
    // What is left is either not due or within its rounding of the target.
    for (std::size_t i = 0; i < n; ++i) {
        if (!o[i].h.armed()) continue;
        const std::uint64_t e = (i + 1) * minute;
        CHECK((e > 2 * hour || lateness_ok(e, 2 * hour - e)));
    }
    CHECK(fired.size() >= 110); // all but the last few minutes before 2 h, rounded up
    CHECK(fired.size() + w.size() == n);
}

TEST_CASE("Advancing 2 h of idle time with one timer far away costs a few bitmap scans, not a walk of ticks",
          "[timer][cost]") {
    auto o = make_owners<1>();
    wheel w;
    w.arm(o[0].h, tick{24 * hour});
    const auto before = w.counters();
    CHECK(w.advance(tick{2 * hour}, nothing) == 0);
    CHECK(w.counters().scans - before.scans == 1);
    CHECK(w.counters().slots_expired == before.slots_expired);
    // Ten more 2 h jumps: still one scan each (the timer is placed at level 7).
    for (int i = 2; i <= 11; ++i) w.advance(tick{static_cast<std::uint64_t>(i) * 2 * hour}, nothing);
    CHECK(w.counters().scans - before.scans == 11);
}

TEST_CASE("Advancing over busy time costs one scan per busy slot", "[timer][cost]") {
    // 180 timers at distinct minutes: at most 180 busy slots to visit, whatever the tick.
    constexpr std::size_t n = 180;
    std::vector<owner> o(n);
    wheel w;
    for (std::size_t i = 0; i < n; ++i) w.arm(o[i].h, tick{(i + 1) * minute});
    const auto before = w.counters();
    CHECK(w.advance(tick{4 * hour}, [](timer::hook&) {}) == n);
    CHECK(w.counters().slots_expired - before.slots_expired <= n);
    CHECK(w.counters().scans - before.scans <= n + 1);
}

TEST_CASE("Time never goes backwards: advancing to an earlier tick does nothing", "[timer]") {
    auto o = make_owners<2>();
    wheel w{tick{1000}};
    w.arm(o[0].h, tick{1000}); // due
    w.arm(o[1].h, tick{1010});
    CHECK(w.advance(tick{999}, nothing) == 0);
    CHECK(w.now() == tick{1000});
    CHECK(w.size() == 2);
    std::vector<firing> fired;
    CHECK(w.advance(tick{1010}, recorder{w, fired}) == 2);
    CHECK(fired == std::vector<firing>{{0, 1000}, {1, 1010}});
}

TEST_CASE("size() counts armed timers through arm, re-arm, cancel and fire", "[timer]") {
    auto o = make_owners<4>();
    wheel w;
    w.arm(o[0].h, tick{10});
    w.arm(o[1].h, tick{20});
    w.arm(o[2].h, tick{hour});
    CHECK(w.size() == 3);
    w.arm(o[1].h, tick{30}); // a move, not a new timer
    CHECK(w.size() == 3);
    w.cancel(o[2].h);
    CHECK(w.size() == 2);
    std::size_t size_in_callback = 99;
    w.advance(tick{10}, [&](timer::hook&) { size_in_callback = w.size(); });
    CHECK(size_in_callback == 1); // already disarmed when called
    CHECK(w.size() == 1);
    w.arm(o[3].h, tick{5}); // in the past: armed, due on the next advance
    CHECK(w.size() == 2);
    w.advance(tick{100}, [](timer::hook&) {});
    CHECK(w.size() == 0);
}

TEST_CASE("next_expiry() is nullopt when empty, the slot time when armed, and now() when something is due",
          "[timer][next_expiry]") {
    auto o = make_owners<3>();
    wheel w{tick{1}};
    CHECK_FALSE(w.next_expiry().has_value());
    w.arm(o[0].h, tick{100 * hour});
    CHECK(w.next_expiry().has_value());
    CHECK(*w.next_expiry() <= tick{100 * hour});
    w.arm(o[1].h, tick{100}); // level 1: fires at 104
    CHECK(w.next_expiry() == tick{104});
    w.arm(o[2].h, tick{1});
    CHECK(w.next_expiry() == tick{1});
    w.cancel(o[0].h);
    w.cancel(o[1].h);
    w.cancel(o[2].h);
    CHECK_FALSE(w.next_expiry().has_value());
}

TEST_CASE("owner_of finds the owner from whichever of its hooks fired", "[timer][hook]") {
    struct entry {
        std::uint64_t pad[3]{};
        timer::hook retransmit;
        int id = 0;
        timer::hook keepalive;
    };
    entry a;
    a.id = 7;
    entry b;
    b.id = 8;
    wheel w;
    w.arm(a.keepalive, tick{20});
    w.arm(b.retransmit, tick{10});
    std::vector<std::pair<int, char>> seen;
    w.advance(tick{50}, [&](timer::hook& h) {
        if (&h == &a.keepalive || &h == &b.keepalive)
            seen.emplace_back(timer::owner_of<entry, &entry::keepalive>(h).id, 'k');
        else
            seen.emplace_back(timer::owner_of<entry, &entry::retransmit>(h).id, 'r');
    });
    CHECK(seen == std::vector<std::pair<int, char>>{{8, 'r'}, {7, 'k'}});
    CHECK(&timer::owner_of<entry, &entry::keepalive>(a.keepalive) == &a);
}

TEST_CASE("A copy of an armed hook is unarmed, and assigning hooks changes neither", "[timer][hook]") {
    // Owners stay copyable (a TCB snapshot for a test, say) without a copy aliasing a
    // node of the wheel's lists, the way Boost.Intrusive hooks copy.
    auto o = make_owners<2>();
    wheel w;
    w.arm(o[0].h, tick{10});
    owner copy = o[0];
    CHECK_FALSE(copy.h.armed());
    o[1] = o[0];
    CHECK_FALSE(o[1].h.armed());
    o[0] = copy;
    CHECK(o[0].h.armed());
    CHECK(w.invariants_hold());
    static_assert(sizeof(timer::hook) == 24);
    static_assert(std::is_trivially_destructible_v<timer::hook>);
    w.cancel(o[0].h);
}

TEST_CASE("A wheel that starts late in time places and fires like one that starts at zero", "[timer]") {
    constexpr std::uint64_t start = 1'000'000'000'007; // ~31 years of ms, not aligned
    constexpr std::uint64_t delays[] = {0, 1, 64, 65, 1000, 5 * second, 3 * minute, 2 * hour, 50 * hour};
    constexpr std::size_t n = std::size(delays);
    auto o = make_owners<n>();
    wheel w{tick{start}};
    for (std::size_t i = 0; i < n; ++i) w.arm(o[i].h, tick{start + delays[i]});
    CHECK(w.invariants_hold());
    std::vector<firing> fired;
    for (std::uint64_t t = start; t <= start + 51 * hour; t += 10 * minute) w.advance(tick{t}, recorder{w, fired});
    REQUIRE(fired.size() == n);
    for (const firing& f : fired) {
        const std::uint64_t e = start + delays[f.id];
        CHECK(f.at >= e);
        CHECK(lateness_ok(delays[f.id], f.at - e));
    }
}

TEST_CASE("An exception from a callback leaves the unfired timers of its slot armed for the next advance",
          "[timer][callback]") {
    auto o = make_owners<3>();
    wheel w;
    for (auto& x : o) w.arm(x.h, tick{10});
    std::vector<firing> fired;
    auto throwing = [&](timer::hook& h) {
        recorder{w, fired}(h);
        throw std::runtime_error("callback failed");
    };
    CHECK_THROWS_AS(w.advance(tick{20}, throwing), std::runtime_error);
    CHECK(fired.size() == 1);
    CHECK(w.size() == 2);
    CHECK(w.invariants_hold());
    CHECK(w.advance(tick{20}, recorder{w, fired}) == 2);
    CHECK(fired == std::vector<firing>{{0, 10}, {1, 10}, {2, 10}});
}
