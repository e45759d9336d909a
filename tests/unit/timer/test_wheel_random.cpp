// Randomized properties of the timer wheel, each against a plain model (which timers
// are armed, for when, armed how far ahead). Seeds are fixed: a failure names its seed
// and replays exactly. Violations are counted rather than asserted one by one, so a
// broken wheel reports the first few cases instead of a million lines.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <sstream>
#include <string>

using namespace timer_test;
using linerate::timer::wheel;

namespace {

struct model_timer {
    bool pending = false;      // armed, by the model's account
    std::uint64_t expires = 0; // requested expiry
    std::uint64_t delay = 0;   // expires - wheel.now() when armed
    std::uint64_t armed_at = 0;
    bool from_callback = false; // armed while advance() ran
    unsigned fired = 0;
};

struct harness {
    explicit harness(std::uint64_t seed, std::size_t n, std::uint64_t start)
        : r{seed}, owners(n), model(n), w{tick{start}} {
        for (std::size_t i = 0; i < n; ++i) owners[i].id = static_cast<int>(i);
        prev_target = target = start;
    }

    rng r;
    std::vector<owner> owners;
    std::vector<model_timer> model;
    wheel w;
    std::uint64_t prev_target;
    std::uint64_t target;
    std::uint64_t last_at = 0;
    std::size_t armed = 0;
    std::size_t violations = 0;
    bool in_advance = false;
    std::string first;
    std::vector<firing> trace;

    void violation(const std::string& what) {
        if (violations++ == 0) first = what;
    }

    std::size_t pick() { return r.below(owners.size()); }

    void arm(std::size_t i, std::uint64_t delay) {
        model_timer& m = model[i];
        if (!m.pending) ++armed;
        m.pending = true;
        m.expires = w.now().value + delay;
        m.delay = delay;
        m.armed_at = w.now().value;
        m.from_callback = in_advance;
        w.arm(owners[i].h, tick{m.expires});
    }

    void cancel(std::size_t i) {
        if (model[i].pending) --armed;
        model[i].pending = false;
        w.cancel(owners[i].h);
    }

    // What every firing must satisfy; returns the owner's index.
    std::size_t on_fire(timer::hook& h) {
        const auto i = static_cast<std::size_t>(owner_of(h).id);
        model_timer& m = model[i];
        const std::uint64_t at = w.now().value;
        trace.push_back({owner_of(h).id, at});
        std::ostringstream why;
        why << "timer " << i << " expires " << m.expires << " delay " << m.delay << " fired at " << at << " in advance ("
            << prev_target << ", " << target << "]: ";
        if (!m.pending) violation(why.str() + "fired while not armed (cancelled, or twice)");
        else if (at < m.expires) violation(why.str() + "fired early");
        else if (m.from_callback && m.expires <= m.armed_at) {
            if (at != m.armed_at + 1) violation(why.str() + "armed in the past from a callback, not fired on the next tick");
        } else if (!lateness_ok(m.delay, at - m.expires)) violation(why.str() + "late by a granule or more");
        if (h.armed()) violation(why.str() + "still armed in its callback");
        if (at > target || at < prev_target) violation(why.str() + "slot time outside the advance");
        if (at < last_at) violation(why.str() + "out of order");
        last_at = at;
        if (m.pending) --armed;
        m.pending = false;
        ++m.fired;
        return i;
    }

    template <class F>
    std::size_t advance_to(std::uint64_t t, F&& cb) {
        prev_target = w.now().value;
        target = t;
        last_at = prev_target;
        in_advance = true;
        const std::size_t n = w.advance(tick{t}, cb);
        in_advance = false;
        check_after_advance();
        return n;
    }
    std::size_t advance_to(std::uint64_t t) {
        return advance_to(t, [this](timer::hook& h) { on_fire(h); });
    }

    // Nothing left armed may be overdue beyond its rounding.
    void check_after_advance() {
        if (w.size() != armed) violation("size() " + std::to_string(w.size()) + " != model " + std::to_string(armed));
        for (std::size_t i = 0; i < model.size(); ++i) {
            const model_timer& m = model[i];
            if (m.pending != owners[i].h.armed()) violation("armed() disagrees with the model for " + std::to_string(i));
            // Armed in the past from a callback at the target itself: due on the next tick.
            const bool next_tick = m.from_callback && m.expires <= m.armed_at && m.armed_at == target;
            if (m.pending && !next_tick && m.expires <= target && !lateness_ok(m.delay, target - m.expires))
                violation("timer " + std::to_string(i) + " expires " + std::to_string(m.expires) +
                          " still armed at " + std::to_string(target));
        }
    }
};

} // namespace

TEST_CASE("Randomized: no timer fires early or a granule late, each arming fires exactly once",
          "[timer][random]") {
    // Thousands of delays from 0 to 3 h (spread over every level), re-arms, cancels, and
    // advances in random steps from one tick to half an hour.
    for (std::uint64_t seed : {1u, 2u, 3u, 0xdecafu}) {
        harness t{seed, 3000, seed * 1'000'003};
        for (int round = 0; round < 400; ++round) {
            for (std::uint64_t k = t.r.below(30); k > 0; --k) t.arm(t.pick(), t.r.log_uniform(3 * hour));
            for (std::uint64_t k = t.r.below(5); k > 0; --k) t.cancel(t.pick());
            t.advance_to(t.w.now().value + t.r.log_uniform(30 * minute));
            if (round % 50 == 0 && !t.w.invariants_hold()) t.violation("invariants broken");
        }
        t.advance_to(t.w.now().value + 4 * hour);
        std::size_t fired = 0;
        for (const model_timer& m : t.model) fired += m.fired;
        INFO("seed " << seed << ": " << t.violations << " violations, first: " << t.first);
        CHECK(t.violations == 0);
        CHECK(t.w.size() == 0);
        CHECK(fired > 2000);
    }
}

TEST_CASE("Randomized: callbacks that cancel, re-arm and arm other timers keep the contract", "[timer][random][callback]") {
    for (std::uint64_t seed : {11u, 12u, 13u}) {
        harness t{seed, 2000, 0};
        std::size_t callbacks = 0;
        auto cb = [&](timer::hook& h) {
            const std::size_t self = t.on_fire(h);
            ++callbacks;
            switch (t.r.below(6)) {
            case 0: t.arm(self, t.r.log_uniform(hour)); break;       // periodic-ish
            case 1: t.arm(self, 0); break;                            // due now: next advance
            case 2: t.cancel(t.pick()); break;                        // maybe one due in this advance
            case 3: t.arm(t.pick(), t.r.log_uniform(10 * minute)); break; // maybe moves a due one
            default: break;
            }
            if (callbacks % 500 == 0 && !t.w.invariants_hold()) t.violation("invariants broken inside a callback");
        };
        for (int round = 0; round < 300; ++round) {
            for (std::uint64_t k = t.r.below(20); k > 0; --k) t.arm(t.pick(), t.r.log_uniform(2 * hour));
            t.advance_to(t.w.now().value + t.r.log_uniform(20 * minute), cb);
        }
        // Drain: callbacks keep arming, so stop them from arming and let everything come due.
        t.advance_to(t.w.now().value + 3 * hour);
        INFO("seed " << seed << ": " << t.violations << " violations, first: " << t.first);
        CHECK(t.violations == 0);
        CHECK(t.w.size() == 0);
        CHECK(callbacks > 1000);
    }
}

TEST_CASE("Randomized: next_expiry() is never later than the next firing, and nothing fires before it",
          "[timer][random][next_expiry]") {
    for (std::uint64_t seed : {21u, 22u}) {
        harness t{seed, 500, 777};
        std::size_t checked = 0;
        for (int round = 0; round < 2000; ++round) {
            if (t.r.below(3) == 0)
                for (std::uint64_t k = t.r.below(8); k > 0; --k) t.arm(t.pick(), t.r.log_uniform(3 * hour));
            if (t.r.below(4) == 0) t.cancel(t.pick());
            const std::optional<tick> next = t.w.next_expiry();
            if (t.w.size() == 0) {
                if (next) t.violation("next_expiry() set on an empty wheel");
                t.arm(t.pick(), t.r.log_uniform(3 * hour));
                continue;
            }
            if (!next) {
                t.violation("next_expiry() empty with timers armed");
                continue;
            }
            const std::uint64_t now = t.w.now().value;
            if (next->value < now) t.violation("next_expiry() in the past");
            // The simulation jumps straight to next_expiry(): it must skip no firing...
            if (next->value > now && t.advance_to(next->value - 1) != 0)
                t.violation("a timer fired before next_expiry() " + std::to_string(next->value));
            // ...and, with every delay inside the horizon, find one there.
            std::size_t at_next = 0;
            t.advance_to(next->value, [&](timer::hook& h) {
                t.on_fire(h);
                if (t.w.now() != *next) t.violation("fired at another time than next_expiry()");
                ++at_next;
            });
            if (at_next == 0) t.violation("nothing fired at next_expiry() " + std::to_string(next->value));
            ++checked;
        }
        INFO("seed " << seed << ": " << t.violations << " violations, first: " << t.first);
        CHECK(t.violations == 0);
        CHECK(checked > 1000);
    }
}

namespace {

// One scripted run: arms, cancels, re-arms from callbacks, uneven steps.
std::vector<firing> scripted_run(std::uint64_t seed) {
    harness t{seed, 1000, 123'456};
    auto cb = [&](timer::hook& h) {
        const std::size_t self = t.on_fire(h);
        if (t.r.below(3) == 0) t.arm(self, t.r.log_uniform(5 * minute));
        if (t.r.below(5) == 0) t.cancel(t.pick());
    };
    for (int round = 0; round < 200; ++round) {
        for (std::uint64_t k = t.r.below(25); k > 0; --k) t.arm(t.pick(), t.r.log_uniform(30 * minute));
        if (t.r.below(2) == 0) t.cancel(t.pick());
        t.advance_to(t.w.now().value + t.r.log_uniform(2 * minute), cb);
    }
    CHECK(t.violations == 0);
    return std::move(t.trace);
}

} // namespace

TEST_CASE("Determinism: two wheels fed the same operations fire the same timers at the same times in the same order",
          "[timer][determinism]") {
    // The simulation's same-seed-same-trace check rests on this.
    const std::vector<firing> a = scripted_run(42);
    const std::vector<firing> b = scripted_run(42);
    CHECK(a.size() > 1000);
    CHECK(a == b);
    CHECK(scripted_run(43) != a); // the test can tell runs apart
}
