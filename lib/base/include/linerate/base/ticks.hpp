// Ticks: the one unit of time inside the stack.
//
// The engine reads the TSC once per loop turn, converts it to ticks and passes `now`
// down; nothing below the engine reads a clock (that is what makes the simulation
// deterministic). A tick is one millisecond by default, the finest timer-wheel
// granularity; tick_clock converts from a raw counter of any frequency.
#pragma once

#include <compare>
#include <cstdint>

namespace linerate {

// A point in time, in ticks since an arbitrary epoch. 64 bits never wrap in practice
// (at 1 kHz: 584 million years).
struct tick {
    std::uint64_t value = 0;

    friend constexpr auto operator<=>(tick, tick) noexcept = default;
    friend constexpr tick operator+(tick t, std::uint64_t d) noexcept { return tick{t.value + d}; }
    // Elapsed ticks from b to a; zero if b is later (time never runs backwards for callers).
    friend constexpr std::uint64_t operator-(tick a, tick b) noexcept {
        return a.value > b.value ? a.value - b.value : 0;
    }
};

// Converts a free-running counter (the TSC, CLOCK_MONOTONIC ns, a virtual clock) to
// ticks. The division happens once per loop turn, not per packet.
class tick_clock {
public:
    // counter_hz: counter increments per second; tick_hz: ticks per second (1000 = 1 ms).
    constexpr tick_clock(std::uint64_t counter_hz, std::uint64_t tick_hz = 1000) noexcept
        : counter_hz_(counter_hz ? counter_hz : 1), tick_hz_(tick_hz ? tick_hz : 1) {}

    [[nodiscard]] constexpr tick to_ticks(std::uint64_t counter) const noexcept {
        // Split to avoid overflow of counter * tick_hz for large counters.
        const std::uint64_t whole = counter / counter_hz_;
        const std::uint64_t part = counter % counter_hz_;
        return tick{whole * tick_hz_ + part * tick_hz_ / counter_hz_};
    }
    [[nodiscard]] constexpr std::uint64_t ms_to_ticks(std::uint64_t ms) const noexcept {
        // Round up so a timer never fires early.
        return (ms * tick_hz_ + 999) / 1000;
    }
    [[nodiscard]] constexpr std::uint64_t tick_hz() const noexcept { return tick_hz_; }
    [[nodiscard]] constexpr std::uint64_t counter_hz() const noexcept { return counter_hz_; }

private:
    std::uint64_t counter_hz_;
    std::uint64_t tick_hz_;
};

} // namespace linerate
