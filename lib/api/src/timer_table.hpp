// Application timers of one lcore (lcore_context::schedule / cancel).
//
// The TCP timers live in the shard's wheel, which ticks in milliseconds and belongs to
// the TCP core; applications get a wheel of their own (the same timer::wheel) ticking
// in microseconds, advanced once per loop turn from the engine's poller hook. At 1 us a
// tick, delays up to 64 us are exact and longer ones round up by less than 8/63 of the
// delay (see wheel.hpp); beyond ~134 s the wheel parks and re-arms, still never early.
//
// Timers come from a pool allocated at start: scheduling takes a slot from a free list
// and arms its intrusive hook, so nothing allocates on the loop. Each slot carries a
// generation, bumped whenever the slot is given back, so a timer_id that outlived its
// timer (fired or cancelled, slot reused) cancels nothing.
//
// No DPDK here: unit-tested with a virtual clock.
#pragma once

#include <linerate/handler.hpp>
#include <linerate/timer/wheel.hpp>
#include <linerate/types.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace linerate::api {

struct timer_stats {
    std::uint64_t fired = 0;
    std::uint64_t full = 0; // schedule() found no free slot
};

class timer_table {
public:
    explicit timer_table(std::uint32_t capacity);
    timer_table(const timer_table &) = delete;
    timer_table &operator=(const timer_table &) = delete;

    // Arms a timer for now_us + delay_us; an invalid id when every slot is taken.
    timer_id schedule(std::uint64_t now_us, std::uint64_t delay_us, handler &h, std::uint64_t cookie) noexcept;
    bool cancel(timer_id t) noexcept;

    // Fires, in order of expiry, every timer due at now_us: fire(handler &, cookie).
    // The slot is free again before fire() runs, so the callback may schedule (even
    // into the same slot: its id has moved on) and cancel freely.
    template <class F> std::size_t advance(std::uint64_t now_us, F &&fire);

    [[nodiscard]] std::size_t armed() const noexcept { return wheel_.size(); }
    [[nodiscard]] std::uint32_t capacity() const noexcept { return static_cast<std::uint32_t>(slots_.size()); }
    [[nodiscard]] const timer_stats &stats() const noexcept { return stats_; }

private:
    static constexpr std::uint32_t none = ~std::uint32_t{0};

    struct slot {
        timer::hook hook;
        handler *target = nullptr;
        std::uint64_t cookie = 0;
        std::uint32_t generation = 0;
        std::uint32_t next_free = none;
    };

    void give_back(std::uint32_t index) noexcept {
        slot &s = slots_[index];
        s.target = nullptr;
        ++s.generation;
        s.next_free = free_;
        free_ = index;
    }

    std::vector<slot> slots_;
    std::uint32_t free_ = none;
    timer::wheel wheel_;
    timer_stats stats_{};
};

template <class F> std::size_t timer_table::advance(std::uint64_t now_us, F &&fire) {
    // An idle wheel still advances, so that its clock (the base of where schedule()
    // places timers) stays within a loop turn of now.
    return wheel_.advance(tick{now_us}, [&](timer::hook &h) {
        slot &s = timer::owner_of<slot, &slot::hook>(h);
        handler *const target = s.target;
        const std::uint64_t cookie = s.cookie;
        give_back(static_cast<std::uint32_t>(&s - slots_.data()));
        ++stats_.fired;
        fire(*target, cookie);
    });
}

} // namespace linerate::api
