// Application timers of one lcore; see timer_table.hpp.
#include "timer_table.hpp"

namespace linerate::api {

timer_table::timer_table(std::uint32_t capacity) : slots_(capacity) {
    // Lowest slots first, so a lightly used table touches few cache lines.
    for (std::uint32_t i = capacity; i-- > 0;) {
        slots_[i].next_free = free_;
        free_ = i;
    }
}

timer_id timer_table::schedule(std::uint64_t now_us, std::uint64_t delay_us, handler &h,
                               std::uint64_t cookie) noexcept {
    if (free_ == none) {
        ++stats_.full;
        return timer_id{};
    }
    const std::uint32_t index = free_;
    slot &s = slots_[index];
    free_ = s.next_free;
    s.next_free = none;
    s.target = &h;
    s.cookie = cookie;
    // Saturate: a delay of "forever" must neither wrap into the past nor come near
    // 2^64, where the wheel's arithmetic does not go (see wheel.hpp).
    constexpr std::uint64_t latest = std::uint64_t{1} << 56;
    const std::uint64_t at = delay_us > latest || now_us > latest - delay_us ? latest : now_us + delay_us;
    wheel_.arm(s.hook, tick{at});
    return timer_id{index, s.generation};
}

bool timer_table::cancel(timer_id t) noexcept {
    if (t.slot >= slots_.size()) return false;
    slot &s = slots_[t.slot];
    if (s.generation != t.generation || !s.hook.armed()) return false;
    wheel_.cancel(s.hook);
    give_back(t.slot);
    return true;
}

} // namespace linerate::api
