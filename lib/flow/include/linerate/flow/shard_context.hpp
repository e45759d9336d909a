// The lcore_context of a shard: what the public API's callbacks act with, answered by
// one flow::shard.
//
// Design choices a reader would otherwise have to reverse-engineer:
//   - Most of lcore_context is the shard's: send, shutdown, close, abort, the user word
//     and the 4-tuple. Those live here, once, for every owner of a shard: the engine's
//     per-lcore context (lib/api/src/lcore_state.hpp) derives from this class and adds
//     what needs the engine (a clock, source ports and routes for connect, timers, the
//     stop flag); the unit tests, the simulation and the benchmarks, which drive bare
//     shards, use this class as it is.
//   - Alone, a shard has no port to route by and no timer pool: connect() answers
//     no_route, schedule() an invalid id. Its clock is the shard's (set_time), and it is
//     lcore 0 of one.
//   - Calls on a connection that is gone are ignored (the public contract): each checks
//     that the id is in use, one bit test in the pool.
//   - Building one binds it to its shard (shard::bind): there is never a shard whose
//     callbacks would have no context to be given.
#pragma once

#include <linerate/flow/shard.hpp>
#include <linerate/handler.hpp>
#include <linerate/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace linerate::flow {

class shard_context : public lcore_context {
public:
    // Binds itself to `s`, which it must outlive as long as `s` has connections.
    explicit shard_context(shard &s) noexcept : shard_(s) { s.bind(*this); }
    shard_context(const shard_context &) = delete;
    shard_context &operator=(const shard_context &) = delete;
    virtual ~shard_context() = default;

    [[nodiscard]] shard &tcp() noexcept { return shard_; }
    [[nodiscard]] const shard &tcp() const noexcept { return shard_; }
    // Whether stop_stack() was called (the owner decides what stopping means).
    [[nodiscard]] bool stop_asked() const noexcept { return stop_asked_; }

    // lcore_context: the shard's part.
    std::size_t send(conn c, std::span<const std::byte> bytes) noexcept override;
    using lcore_context::send;
    [[nodiscard]] std::size_t send_space(conn c) const noexcept override;
    void shutdown(conn c) noexcept override;
    void close(conn c) noexcept override;
    void abort(conn c) noexcept override;
    [[nodiscard]] std::uint64_t &user_data(conn c) noexcept override;
    [[nodiscard]] endpoint local(conn c) const noexcept override;
    [[nodiscard]] endpoint remote(conn c) const noexcept override;

    // lcore_context: what an owner with an engine overrides.
    [[nodiscard]] unsigned index() const noexcept override { return 0; }
    [[nodiscard]] unsigned lcore_id() const noexcept override { return 0; }
    [[nodiscard]] std::uint64_t now_us() const noexcept override { return shard_.now_us(); }
    connect_result connect(ipv4_address address, std::uint16_t port, handler &h,
                           std::uint64_t user) noexcept override;
    timer_id schedule(std::uint64_t delay_us, handler &h, std::uint64_t cookie) noexcept override;
    bool cancel(timer_id t) noexcept override;
    void stop_stack() noexcept override { stop_asked_ = true; }

protected:
    [[nodiscard]] bool live(conn c) const noexcept { return shard_.in_use(c.id); }

private:
    shard &shard_;
    std::uint64_t scratch_ = 0; // user_data() of a connection that is gone
    bool stop_asked_ = false;
};

} // namespace linerate::flow
