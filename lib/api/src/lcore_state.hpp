// The lcore_context of one engine lcore: what every callback on that lcore is given,
// for liblinerate's stack and for the two programs alike.
//
// It is the shard's context (flow::shard_context: send, close, user data, ...; building
// it binds the worker's shard to it) plus what needs the engine: the lcore's clock and
// id, connect() through the engine's choice of a source port, application timers, the
// stop flag, and on_start for the handlers it owns. It forwards no callback: the shard
// calls each connection's handler directly, with this object as the context.
//
// Design choices a reader would otherwise have to reverse-engineer:
//   - It is also the lcore's engine::poller. The engine has no start hook and no timer
//     hook for applications; its poller runs once per loop turn after the received
//     packets, so timers and on_start run there. on_start therefore runs at the first
//     poll, which comes before any connection can have completed a handshake (the
//     SYN-ACK leaves at the end of the first turn at the earliest). A program that needs
//     a per-turn step of its own (linerate-client opens connections every turn) chains
//     its poller behind this one: one poller per lcore is all the engine calls.
//   - connect() says not_running until the first poll: before run() the loop is not
//     there to send the SYN or hear the answer.
//   - The engine watches one stop flag, given here by reference; stop_stack() sets it.
//     When the stack's run() is given the program's flag too, each poll copies it over
//     (one relaxed load a turn).
//   - No DPDK: the engine is reached through engine::lcore, so the unit tests build one
//     over a fake lcore.
#pragma once

#include "counter_names.hpp"
#include "timer_table.hpp"

#include <linerate/engine/runtime.hpp>
#include <linerate/flow/shard_context.hpp>
#include <linerate/handler.hpp>
#include <linerate/types.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace linerate::api {

class lcore_state final : public flow::shard_context, public engine::poller {
public:
    // The context of `l` (binding l.tcp() to it), with room for `timers` application
    // timers; stop_stack() sets `stop`. Made on the owning thread before run().
    lcore_state(engine::lcore &l, std::uint32_t timers, std::atomic<bool> &stop);

    // Set-up, on the owning thread before run().
    // A handler that this lcore owns: it gets on_start at the first poll.
    handler &adopt(std::unique_ptr<handler> h);
    // Polled every turn after this context's own work, or nullptr for none.
    void chain(engine::poller *next) noexcept { next_ = next; }
    // A second stop flag to follow (the program's), or nullptr.
    void watch(const std::atomic<bool> *user_stop) noexcept { user_stop_ = user_stop; }

    // The API's counters, read from any thread.
    [[nodiscard]] api_counters read_counters() const noexcept;

    // engine::poller
    void poll(engine::lcore &l) noexcept override;

    // lcore_context: the parts the engine answers.
    [[nodiscard]] unsigned index() const noexcept override { return lcore_.worker_index(); }
    [[nodiscard]] unsigned lcore_id() const noexcept override { return lcore_.lcore_id(); }
    [[nodiscard]] std::uint64_t now_us() const noexcept override { return lcore_.now_us(); }
    connect_result connect(ipv4_address address, std::uint16_t port, handler &h,
                           std::uint64_t user) noexcept override;
    timer_id schedule(std::uint64_t delay_us, handler &h, std::uint64_t cookie) noexcept override;
    bool cancel(timer_id t) noexcept override { return timers_.cancel(t); }
    void stop_stack() noexcept override { stop_.store(true, std::memory_order_relaxed); }

private:
    engine::lcore &lcore_;
    bool running_ = false; // polled at least once
    engine::poller *next_ = nullptr;
    timer_table timers_;
    std::uint64_t connect_failed_ = 0;
    std::atomic<bool> &stop_;
    const std::atomic<bool> *user_stop_ = nullptr;
    std::vector<std::unique_ptr<handler>> owned_;
    std::size_t started_ = 0;
};

} // namespace linerate::api
