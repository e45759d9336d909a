// The timer wheel, per timer: arm an unarmed hook, re-arm an armed one (what every ACK
// does to the retransmission timer), cancel, and expiry (advance() over armed timers,
// each firing once).
//
// Delays are random between 1 and 65 536 ticks (1 ms to 65 s at the default tick),
// which spans the delayed ACK, RTOs, SYN retries and TIME-WAIT, so timers land in
// levels 0 to 4. Each benchmark runs with 4 096 timers (hooks in cache) and with
// 1 048 576 (24 MiB of hooks and lists: every arm and cancel touches memory that is
// not in cache, as on a shard holding a million connections).
#include "micro.hpp"

#include <linerate/timer/wheel.hpp>

#include <vector>

namespace linerate::perf {
namespace {

constexpr std::uint64_t max_delay = 65'536;

struct timers {
    timer::wheel wheel{tick{0}};
    std::vector<timer::hook> hooks;
    std::vector<std::uint64_t> delays;

    explicit timers(std::size_t n) : hooks(n), delays(n) {
        std::mt19937_64 rng(n);
        for (auto &d : delays) d = 1 + rng() % max_delay;
    }
    void arm_all(std::size_t shift = 0) noexcept {
        const tick now = wheel.now();
        const std::size_t n = hooks.size();
        for (std::size_t i = 0; i < n; ++i) wheel.arm(hooks[i], now + delays[(i + shift) % n]);
    }
    void cancel_all() noexcept {
        for (auto &h : hooks) wheel.cancel(h);
    }
};

std::size_t timer_count(const benchmark::State &state) { return static_cast<std::size_t>(state.range(0)); }

void timer_arm(benchmark::State &state) {
    timers t(timer_count(state));
    while (state.KeepRunningBatch(static_cast<benchmark::IterationCount>(t.hooks.size()))) {
        state.PauseTiming();
        t.cancel_all();
        state.ResumeTiming();
        t.arm_all();
    }
    if (t.wheel.size() != t.hooks.size()) return fail(state, "a timer was not armed");
    state.SetItemsProcessed(state.iterations());
}

// Already armed: arm() unlinks and places again. No pause: every batch moves every
// timer to another timer's delay.
void timer_rearm(benchmark::State &state) {
    timers t(timer_count(state));
    t.arm_all();
    std::size_t shift = 0;
    while (state.KeepRunningBatch(static_cast<benchmark::IterationCount>(t.hooks.size()))) t.arm_all(++shift);
    if (t.wheel.size() != t.hooks.size() || !t.wheel.invariants_hold()) return fail(state, "re-arming broke the wheel");
    state.SetItemsProcessed(state.iterations());
}

void timer_cancel(benchmark::State &state) {
    timers t(timer_count(state));
    while (state.KeepRunningBatch(static_cast<benchmark::IterationCount>(t.hooks.size()))) {
        state.PauseTiming();
        t.arm_all();
        state.ResumeTiming();
        t.cancel_all();
    }
    if (t.wheel.size() != 0) return fail(state, "a timer was not cancelled");
    state.SetItemsProcessed(state.iterations());
}

// advance() far enough that every timer fires: the wheel fires a timer late by less
// than 8/63 of its delay, so twice the longest delay leaves a wide margin.
void timer_expiry(benchmark::State &state) {
    timers t(timer_count(state));
    std::uint64_t fired = 0;
    while (state.KeepRunningBatch(static_cast<benchmark::IterationCount>(t.hooks.size()))) {
        state.PauseTiming();
        t.arm_all();
        const tick until = t.wheel.now() + 2 * max_delay;
        state.ResumeTiming();
        fired += t.wheel.advance(until, [](timer::hook &h) { benchmark::DoNotOptimize(&h); });
    }
    if (fired != static_cast<std::uint64_t>(state.iterations()) || t.wheel.size() != 0)
        return fail(state, "a timer did not fire exactly once");
    state.SetItemsProcessed(state.iterations());
}

} // namespace

void register_timer() {
    for (const auto &bm : {std::pair{"timer/arm", &timer_arm}, std::pair{"timer/rearm", &timer_rearm},
                          std::pair{"timer/cancel", &timer_cancel}, std::pair{"timer/expiry", &timer_expiry}})
        benchmark::RegisterBenchmark(bm.first, bm.second)->Arg(4096)->Arg(1 << 20);
}

} // namespace linerate::perf
