// The timer wheel's slow half: construction, the bitmap scans that advance() and
// next_expiry() use, and the invariant check. Arm and cancel stay inline in the header
// because the TCP input path calls them on most segments. See wheel.hpp for the design.
#include <linerate/timer/wheel.hpp>

namespace linerate::timer {

wheel::wheel(tick start) noexcept : clk_(start.value) {
    for (link& head : lists_) head.prev = head.next = &head;
}

void wheel::splice(unsigned from_list, unsigned to_list) noexcept {
    link& from = lists_[from_list];
    if (from.next == &from) return;
    // The timers now hang off `to`'s head: a callback cancelling one of them empties
    // (at worst) the expiring list, never the slot they came from, whose bit may
    // already stand for newer timers.
    link& to = lists_[to_list];
    from.next->prev = to.prev;
    to.prev->next = from.next;
    from.prev->next = &to;
    to.prev = from.prev;
    from.prev = from.next = &from;
}

void wheel::collect_due() noexcept { splice(due_list, expiring_list); }

bool wheel::collect_next(std::uint64_t limit) noexcept {
    ++counters_.scans;
    std::uint64_t at[levels];
    std::uint64_t earliest = 0;
    bool any = false;
    for (unsigned lvl = 0; lvl < levels; ++lvl) {
        if (busy_[lvl] == 0) continue;
        at[lvl] = next_slot_time(lvl);
        if (!any || at[lvl] < earliest) earliest = at[lvl];
        any = true;
    }
    if (!any || earliest > limit) return false;

    // Every slot time is > clk_ and none is < earliest, so moving clk_ there keeps each
    // level's window (clk_ granule, clk_ granule + 64] valid for the timers left.
    clk_ = earliest;
    // Finer levels first: a fixed order keeps the firing sequence reproducible.
    for (unsigned lvl = 0; lvl < levels; ++lvl) {
        if (busy_[lvl] == 0 || at[lvl] != earliest) continue;
        const unsigned slot = static_cast<unsigned>((earliest >> (level_shift * lvl)) & (slots_per_level - 1));
        splice(lvl * slots_per_level + slot, expiring_list);
        busy_[lvl] &= ~(std::uint64_t{1} << slot);
        ++counters_.slots_expired;
    }
    return true;
}

std::optional<tick> wheel::next_expiry() const noexcept {
    auto empty = [](const link& head) { return head.next == &head; };
    if (!empty(lists_[due_list]) || !empty(lists_[expiring_list])) return tick{clk_};
    std::optional<tick> earliest;
    for (unsigned lvl = 0; lvl < levels; ++lvl) {
        if (busy_[lvl] == 0) continue;
        const tick at{next_slot_time(lvl)};
        if (!earliest || at < *earliest) earliest = at;
    }
    return earliest;
}

bool wheel::invariants_hold() const noexcept {
    std::size_t count = 0;
    for (unsigned i = 0; i < list_count; ++i) {
        const link& head = lists_[i];
        const bool is_slot = i < due_list;
        const unsigned lvl = i >> slot_bits;
        const unsigned slot = i & (slots_per_level - 1);
        if (is_slot && (((busy_[lvl] >> slot) & 1) != 0) != (head.next != &head)) return false;
        std::uint64_t slot_granule = 0;
        bool first = true;
        for (const link* n = head.next; n != &head; n = n->next) {
            if (n->next->prev != n || n->prev->next != n) return false;
            const hook& h = static_cast<const hook&>(*n);
            ++count;
            if (i == due_list && h.expires_ > clk_) return false;
            if (!is_slot) continue;
            const unsigned shift = level_shift * lvl;
            const std::uint64_t granule = (h.expires_ >> shift) + ((h.expires_ & (granularity(lvl) - 1)) != 0);
            const std::uint64_t cur = clk_ >> shift;
            // The slot's time, recovered from its index and the window (cur, cur + 64].
            const std::uint64_t stored = cur + 1 + ((slot - (cur + 1)) & (slots_per_level - 1));
            // Its slot's time is its expiry rounded up (never early), except beyond the
            // horizon where it is re-armed, and for an expiry in the past armed from a
            // callback (the next tick). The expiry itself may already be <= clk_.
            const bool beyond_horizon = lvl == levels - 1 && granule > stored;
            const bool past_from_callback = lvl == 0 && granule < stored && stored == cur + 1;
            if (granule != stored && !beyond_horizon && !past_from_callback) return false;
            if (!first && stored != slot_granule) return false;
            slot_granule = stored;
            first = false;
        }
    }
    return count == size_;
}

} // namespace linerate::timer
