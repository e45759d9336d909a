// The lcore_context of one engine lcore; see lcore_state.hpp.
#include "lcore_state.hpp"

namespace linerate::api {
namespace {

connect_error to_public(engine::connect_error e) noexcept {
    switch (e) {
    case engine::connect_error::no_route: return connect_error::no_route;
    case engine::connect_error::no_source: return connect_error::no_source;
    case engine::connect_error::no_memory: return connect_error::no_memory;
    }
    return connect_error::no_memory;
}

// A word the owner writes with plain stores, read from another thread: each word is
// loaded atomically (relaxed), as the engine reads its counters (see relaxed_copy in
// runtime.cpp); no ordering with anything else is needed.
std::uint64_t read_word(const std::uint64_t &w) noexcept { return __atomic_load_n(&w, __ATOMIC_RELAXED); }

} // namespace

lcore_state::lcore_state(engine::lcore &l, std::uint32_t timers, std::atomic<bool> &stop)
    : flow::shard_context(l.tcp()), lcore_(l), timers_(timers), stop_(stop) {}

handler &lcore_state::adopt(std::unique_ptr<handler> h) {
    owned_.push_back(std::move(h));
    return *owned_.back();
}

api_counters lcore_state::read_counters() const noexcept {
    const timer_stats &t = timers_.stats();
    return api_counters{read_word(t.fired), read_word(t.full), read_word(connect_failed_)};
}

void lcore_state::poll(engine::lcore &l) noexcept {
    running_ = true;
    if (user_stop_ != nullptr && user_stop_->load(std::memory_order_relaxed))
        stop_.store(true, std::memory_order_relaxed);
    // First, so that the wheel's clock is current before on_start arms timers.
    timers_.advance(l.now_us(), [this](handler &h, std::uint64_t cookie) { h.on_timer(*this, cookie); });
    while (started_ < owned_.size()) owned_[started_++]->on_start(*this);
    if (next_ != nullptr) next_->poll(l);
}

connect_result lcore_state::connect(ipv4_address address, std::uint16_t port, handler &h,
                                    std::uint64_t user) noexcept {
    if (!running_) {
        ++connect_failed_;
        return {conn{}, connect_error::not_running};
    }
    engine::connect_error why{};
    const auto id = lcore_.connect(ipv4_addr{address.value}, port, h, user, &why);
    if (!id) {
        ++connect_failed_;
        return {conn{}, to_public(why)};
    }
    return {conn{*id}, connect_error::none};
}

timer_id lcore_state::schedule(std::uint64_t delay_us, handler &h, std::uint64_t cookie) noexcept {
    return timers_.schedule(now_us(), delay_us, h, cookie);
}

} // namespace linerate::api
