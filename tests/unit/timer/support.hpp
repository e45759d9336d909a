// Helpers shared by the timer tests: an owner type (as a TCB would hold its hook), a
// record of what fired and when, and a seeded generator whose sequence does not depend
// on the standard library's distributions, so a failing seed replays anywhere.
#pragma once

#include <linerate/timer/wheel.hpp>

#include <catch2/catch.hpp>

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

namespace timer_test {

using linerate::tick;
namespace timer = linerate::timer;

struct owner {
    int id = 0;
    timer::hook h;
};

inline owner& owner_of(timer::hook& h) { return timer::owner_of<owner, &owner::h>(h); }

struct firing {
    int id;
    std::uint64_t at; // wheel.now() inside the callback: the slot time it fired for
    friend bool operator==(const firing&, const firing&) = default;
};

// Records every callback as (owner id, wheel time).
struct recorder {
    timer::wheel& w;
    std::vector<firing>& out;
    void operator()(timer::hook& h) const { out.push_back({owner_of(h).id, w.now().value}); }
};

// splitmix64: tiny, fully specified, good enough to pick delays.
struct rng {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t n) { return n ? next() % n : 0; }
    // Spread over every order of magnitude up to max, so every level gets traffic.
    std::uint64_t log_uniform(std::uint64_t max) {
        const std::uint64_t cap = std::uint64_t{1} << below(static_cast<std::uint64_t>(std::bit_width(max)) + 1);
        return below((cap < max ? cap : max) + 1);
    }
};

inline constexpr std::uint64_t ms = 1; // the default tick
inline constexpr std::uint64_t second = 1000 * ms;
inline constexpr std::uint64_t minute = 60 * second;
inline constexpr std::uint64_t hour = 60 * minute;

// The promise of the wheel: fires at or after the expiry, late by less than 8/63 of the
// delay (one granule of a level chosen because the finer one could not hold it), and
// exactly on time for delays the finest level holds.
inline bool lateness_ok(std::uint64_t delay, std::uint64_t late) {
    if (delay <= 64) return late == 0;
    return late * 63 < delay * 8;
}

} // namespace timer_test

template <>
struct Catch::StringMaker<timer_test::firing> {
    static std::string convert(const timer_test::firing& f) {
        return "{id " + std::to_string(f.id) + " at " + std::to_string(f.at) + "}";
    }
};
