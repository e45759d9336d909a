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

// A deadline in 32 bits, for what is held millions of times (the TCB keeps four): the
// low 31 bits of its tick and a bit that says it is set. The full tick is rebuilt from
// a `now` within `reach` of it by serial arithmetic, as seq32 does for sequence numbers
// (RFC 1982), so a deadline is set at most `reach` ticks ahead (every timer setting is
// bounded below it: 2^30 ticks is 12 days at 1 ms, and the configuration allows a day at
// most) and is looked at again before it is `reach` ticks old (a timer wheel fires it
// long before).
class short_deadline {
public:
    static constexpr std::uint64_t reach = std::uint64_t{1} << 30;

    constexpr short_deadline() noexcept = default; // not set
    [[nodiscard]] static constexpr short_deadline at(tick t) noexcept {
        short_deadline d;
        d.raw_ = static_cast<std::uint32_t>(t.value << 1) | 1u;
        return d;
    }
    [[nodiscard]] constexpr bool set() const noexcept { return (raw_ & 1u) != 0; }
    // The tick, given a `now` within `reach` of it; `unset` when it is not set.
    [[nodiscard]] constexpr tick when(tick now, tick unset) const noexcept {
        return set() ? at_key(now, key(now_word(now))) : unset;
    }
    // The earliest of several deadlines without rebuilding each as a tick: key() maps
    // a deadline to a 32-bit word whose unsigned order is the deadlines' order seen from
    // `now` (twice the distance, biased by 2^31; not set is the largest word, which no
    // set deadline gives, as their words are even), branch-free; at_key() rebuilds the
    // least one. `now_word` is now_word(now).
    static constexpr std::uint32_t unset_key = ~std::uint32_t{0};
    [[nodiscard]] static constexpr std::uint32_t now_word(tick now) noexcept {
        return static_cast<std::uint32_t>(now.value << 1);
    }
    [[nodiscard]] constexpr std::uint32_t key(std::uint32_t now_w) const noexcept {
        return (((raw_ & ~1u) - now_w) ^ 0x8000'0000u) | ((raw_ & 1u) - 1u);
    }
    [[nodiscard]] static constexpr tick at_key(tick now, std::uint32_t k) noexcept {
        // Unbiased, the key is (tick - now) mod 2^31 in the top 31 bits of a word: shifted
        // back with its sign (an arithmetic shift in C++20), the distance in [-reach, reach).
        const std::int32_t d = static_cast<std::int32_t>(k ^ 0x8000'0000u) >> 1;
        return tick{now.value + static_cast<std::uint64_t>(std::int64_t{d})};
    }
    // An unset deadline's other 31 bits are free, and set(), when() and key() ignore
    // them: a TCB keeps there the tick of something that happened while the deadline
    // is not in use (connection::answered_recently: the last ACK sent for a segment
    // that was not acceptable). `marked` makes such a word; marked_within says whether the tick it
    // holds is less than `ticks` before now. A plain unset word (0) holds no mark, so a
    // tick whose low 31 bits are all zero is marked as the tick after it.
    [[nodiscard]] static constexpr short_deadline marked(tick t) noexcept {
        short_deadline d;
        d.raw_ = now_word(t) != 0 ? now_word(t) : 2u;
        return d;
    }
    [[nodiscard]] constexpr bool marked_within(tick now, std::uint32_t ticks) const noexcept {
        // Ticks since the mark, plus one so that the tick-0 mark (held as tick 1) is
        // 0 when read at tick 0 rather than 2^31 - 1.
        return (raw_ & 1u) == 0 && raw_ != 0 && ((now_word(now) - raw_ + 2u) >> 1) <= ticks;
    }
    // Set and not later than now.
    [[nodiscard]] constexpr bool due(tick now) const noexcept { return set() && when(now, now) <= now; }
    // The stored word, for tests that compare two of them exactly.
    [[nodiscard]] constexpr std::uint32_t raw() const noexcept { return raw_; }

private:
    std::uint32_t raw_ = 0;
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
