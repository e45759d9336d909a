// The per-lcore hierarchical timer wheel: RTO, SYN/SYN-ACK retransmission, FIN-WAIT-2
// and TIME-WAIT expiry, delayed ACK, keepalive.
//
// Design (after the header comment of Linux kernel/time/timer.c, reimplemented):
//
// - 8 levels of 64 slots. Level L has a granularity of 8^L ticks and holds the timers
//   whose expiry falls within the next 64 granules of level L. A timer is put in the
//   finest level that can hold it and stays there until it fires: there is no
//   cascading from coarse levels to fine ones, so arming and cancelling are O(1) and a
//   timer is touched once when armed and once when it fires. Most TCP timers are
//   cancelled long before they fire (an RTO is re-armed on every ACK), which is the
//   case this shape is good at.
// - The price is precision: a timer's expiry is rounded UP to its level's granularity.
//   It never fires early; it fires late by less than one granule of its level. A timer
//   lands in level L >= 1 only when level L-1 could not hold it, which means its delay
//   is more than 63 granules of level L-1, so the lateness is below 8/63 (12.7 %) of
//   the delay. Delays up to 64 ticks are exact.
// - Each level keeps a 64-bit bitmap of busy slots. advance() goes from busy slot to
//   busy slot (a rotate and a count-trailing-zeros per level) and never walks idle
//   ticks: jumping over two idle hours costs one scan of 8 bitmaps, whatever the tick.
// - Timers beyond the horizon (about 37 h at 1 ms) go in the last slot that the last
//   level can reach. They keep their exact expiry; when that slot comes up and the
//   timer is not due yet it is re-armed (counted in counters().horizon_rearms) and the
//   callback is not called. So no timer ever fires before its expiry, however far.
// - The hook is intrusive (it lives in the TCB or TIME-WAIT entry): a doubly linked
//   list node and the exact expiry, 24 bytes. It does not record its slot: when
//   unlinking empties a list, the node's neighbours are both that list's head, and the
//   head's index in the wheel names the slot whose busy bit to clear. The wheel owns
//   all list heads inline, so nothing is allocated after construction, and nothing is
//   locked: a wheel belongs to one lcore.
//
// Granularity at the default tick of 1 ms (range: the delays placed in that level; the
// upper edge depends on where `now` sits within a granule, between 63 and 64 granules):
//
//   level  granularity (ticks)  granularity @1 ms   delays held @1 ms
//     0               1             1 ms                  1 ms .. 64 ms
//     1               8             8 ms                 65 ms .. 512 ms
//     2              64            64 ms                ~0.5 s .. 4.1 s
//     3             512           512 ms                ~4.1 s .. 32.8 s
//     4           4 096             4.1 s              ~32.8 s .. 4.4 min
//     5          32 768            32.8 s             ~4.4 min .. 35 min
//     6         262 144             4.4 min            ~35 min .. 4.7 h
//     7       2 097 152            35 min              ~4.7 h .. 37.3 h
//   beyond 37.3 h: parked in level 7's furthest slot and re-armed when it comes up.
//
// Time: `now()` is the wheel's clock. advance(t) moves it to t, stepping through the
// slot times it expires on the way; while a callback runs, now() is the (rounded) time
// of the slot being expired, so a periodic timer re-armed at now() + period does not
// drift with the caller's loop period. Ticks are 64-bit and never wrap in practice;
// times within 2^28 ticks of 2^64 are not supported.
#pragma once

#include <linerate/base/ticks.hpp>

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>

namespace linerate::timer {

inline constexpr unsigned level_shift = 3; // each level 8x coarser than the one below
inline constexpr unsigned slot_bits = 6;   // 64 slots, one 64-bit busy bitmap per level
inline constexpr unsigned slots_per_level = 1u << slot_bits;
inline constexpr unsigned levels = 8;

// Granularity of a level, in ticks.
[[nodiscard]] constexpr std::uint64_t granularity(unsigned level) noexcept {
    return std::uint64_t{1} << (level_shift * level);
}

// The longest delay that is placed directly (no horizon re-arm) whatever the phase of now().
inline constexpr std::uint64_t horizon = (slots_per_level - 1) * granularity(levels - 1) + 1;

class wheel;

namespace detail {
// A list node. Slot heads are bare nodes (sentinels); hooks are nodes with a payload.
struct link {
    link* prev = nullptr;
    link* next = nullptr;
};
} // namespace detail

// The intrusive hook. Lives inside the owner; arm/cancel are O(1) and never allocate.
//
// An unarmed hook is two null pointers: it costs nothing and needs no wheel. Copying follows Boost.Intrusive's hooks: a copy is unarmed (the timer belongs
// to the wheel's slot, not to the value), and assigning one hook to another changes
// neither, so owners stay copyable without a copy ever aliasing a wheel list.
// Not trivially default-constructible on purpose: a hook must read as unarmed without
// the owner remembering to value-initialise it.
class hook : private detail::link {
public:
    constexpr hook() noexcept = default;
    constexpr hook(const hook&) noexcept : hook() {}
    constexpr hook& operator=(const hook&) noexcept { return *this; }
    // Trivially destructible: cancel an armed hook before its owner goes away, unless
    // the wheel goes away with it (shutdown of the lcore).

    [[nodiscard]] bool armed() const noexcept { return prev != nullptr; }
    // The exact requested expiry. Valid while armed; after firing it still holds the
    // expiry it fired for, so a periodic callback can re-arm at expires() + period.
    [[nodiscard]] tick expires() const noexcept { return tick{expires_}; }

private:
    friend class wheel;

    std::uint64_t expires_ = 0;
};
static_assert(sizeof(hook) <= 24, "the hook lives in every TCB and TIME-WAIT entry");

// Counters of the wheel's own work, for telemetry and for tests that bound the cost of
// advance() without reading a clock.
struct wheel_counters {
    std::uint64_t scans = 0;          // bitmap scans for the next busy slot
    std::uint64_t slots_expired = 0;  // busy slots emptied by advance()
    std::uint64_t horizon_rearms = 0; // timers beyond the horizon re-armed, not fired
};

class wheel {
public:
    explicit wheel(tick start = tick{0}) noexcept;
    // The slot heads point at themselves: a wheel cannot be copied or moved. It lives
    // in the per-lcore state for the life of the lcore.
    wheel(const wheel&) = delete;
    wheel& operator=(const wheel&) = delete;

    // Arms h to fire at `expires`, or moves it there if already armed. expires <= now()
    // fires on the next advance() call, at now(); from a callback, it fires one tick
    // after the slot being expired (so a callback re-arming itself cannot loop), in the
    // same advance() if its target is later.
    void arm(hook& h, tick expires) noexcept {
        if (h.armed())
            unlink(h);
        else
            ++size_;
        h.expires_ = expires.value;
        place(h);
    }

    // No-op if h is not armed. A timer due in the advance() under way that has not
    // fired yet will not fire.
    void cancel(hook& h) noexcept {
        if (!h.armed()) return;
        unlink(h);
        --size_;
    }

    // Advances to `now`, calling on_expire(hook&) for every timer with expires <= now,
    // each exactly once, the hook already disarmed, in non-decreasing order of slot
    // time (timers of one slot in the order they were placed there). The callback may
    // arm, re-arm or cancel any hook, but must not call advance(). If it throws, the
    // timers of its slot not fired yet stay armed and fire on the next advance().
    // Returns how many fired. now < now() is a no-op: time never goes backwards.
    template <class F>
    std::size_t advance(tick now, F&& on_expire);

    [[nodiscard]] tick now() const noexcept { return tick{clk_}; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    // The earliest tick at which advance() can fire anything: never later than the real
    // next firing, equal to it unless the earliest slot holds only timers beyond the
    // horizon. It is the rounded slot time, so it may be later than the smallest
    // expires() armed. nullopt when nothing is armed. Cost: one scan of the bitmaps.
    [[nodiscard]] std::optional<tick> next_expiry() const noexcept;

    [[nodiscard]] const wheel_counters& counters() const noexcept { return counters_; }

    // Walks every list and checks bitmaps, positions, slot windows and size(). O(size()),
    // for tests and debug builds.
    [[nodiscard]] bool invariants_hold() const noexcept;

private:
    using link = detail::link;

    // lists_[level * 64 + slot] are the slots; then two lists outside the wheel proper.
    static constexpr unsigned due_list = levels * slots_per_level; // armed at or before now()
    static constexpr unsigned expiring_list = due_list + 1;        // being fired by advance()
    static constexpr unsigned list_count = expiring_list + 1;

    static void push_back(link& head, link& n) noexcept {
        n.prev = head.prev;
        n.next = &head;
        head.prev->next = &n;
        head.prev = &n;
    }
    static hook& as_hook(link* n) noexcept { return static_cast<hook&>(*n); }

    // Leaves h unarmed (but still counted in size_: callers adjust).
    void unlink(hook& h) noexcept {
        link* const before = h.prev;
        link* const after = h.next;
        before->next = after;
        after->prev = before;
        if (before == after) {
            // h was alone: `before` is the head of its list, now empty. Only list heads
            // are in lists_, so the subtraction is within the array.
            const auto list = static_cast<unsigned>(before - lists_);
            if (list < due_list) busy_[list >> slot_bits] &= ~(std::uint64_t{1} << (list & (slots_per_level - 1)));
        }
        h.prev = h.next = nullptr;
    }

    // Puts an armed-but-unlinked h where its expiry belongs relative to clk_.
    void place(hook& h) noexcept {
        std::uint64_t e = h.expires_;
        if (e <= clk_) {
            if (!advancing_) {
                push_back(lists_[due_list], h);
                return;
            }
            // From a callback: the next tick, which this advance() reaches if its target
            // is later. Firing it at clk_ again could loop forever.
            e = clk_ + 1;
        }
        for (unsigned lvl = 0;; ++lvl) {
            const unsigned shift = level_shift * lvl;
            // Granule index of the expiry, rounded up so the timer never fires early.
            std::uint64_t granule = (e >> shift) + ((e & (granularity(lvl) - 1)) != 0);
            // Each level holds the granules (clk_ granule, clk_ granule + 64]: 64 distinct
            // slot indices, so one slot never mixes two rounds of the level.
            const std::uint64_t limit = (clk_ >> shift) + slots_per_level;
            if (granule <= limit || lvl == levels - 1) {
                if (granule > limit) granule = limit; // beyond the horizon: re-armed later
                const unsigned slot = static_cast<unsigned>(granule & (slots_per_level - 1));
                push_back(lists_[lvl * slots_per_level + slot], h);
                busy_[lvl] |= std::uint64_t{1} << slot;
                return;
            }
        }
    }

    // The slot time of level lvl's earliest busy slot; requires busy_[lvl] != 0.
    [[nodiscard]] std::uint64_t next_slot_time(unsigned lvl) const noexcept {
        const unsigned shift = level_shift * lvl;
        const std::uint64_t first = (clk_ >> shift) + 1; // granules <= clk_'s are all expired
        const auto ahead = std::countr_zero(std::rotr(busy_[lvl], static_cast<int>(first & (slots_per_level - 1))));
        return (first + static_cast<std::uint64_t>(ahead)) << shift;
    }

    // Moves the due list to the expiring list.
    void collect_due() noexcept;
    // Finds the earliest busy slot time; if it is <= limit, sets clk_ to it, moves every
    // slot with that time to the expiring list and returns true.
    bool collect_next(std::uint64_t limit) noexcept;
    // Moves all of list `from` to the end of list `to`, in order. O(1).
    void splice(unsigned from, unsigned to) noexcept;
    // After an exception from a callback: the unfired go back to the due list.
    void abandon_expiring() noexcept { splice(expiring_list, due_list); }

    template <class F>
    std::size_t fire_expiring(F& on_expire);

    std::uint64_t clk_;
    std::size_t size_ = 0;
    bool advancing_ = false;
    wheel_counters counters_{};
    std::uint64_t busy_[levels]{};
    link lists_[list_count];
};

template <class F>
std::size_t wheel::fire_expiring(F& on_expire) {
    std::size_t fired = 0;
    link& head = lists_[expiring_list];
    while (head.next != &head) {
        hook& h = as_hook(head.next);
        unlink(h);
        if (h.expires_ > clk_) {
            // Parked beyond the horizon and not due yet: place it again, closer now.
            place(h);
            ++counters_.horizon_rearms;
            continue;
        }
        --size_;
        ++fired;
        on_expire(h);
    }
    return fired;
}

template <class F>
std::size_t wheel::advance(tick now, F&& on_expire) {
    if (now.value < clk_) return 0;
    assert(!advancing_ && "advance() called from a timer callback");
    struct guard {
        wheel& w;
        ~guard() {
            w.advancing_ = false;
            w.abandon_expiring();
        }
    } g{*this};
    advancing_ = true;

    // Timers armed at or before now() by earlier calls first: their time is the oldest.
    collect_due();
    std::size_t fired = fire_expiring(on_expire);
    while (collect_next(now.value)) fired += fire_expiring(on_expire);
    clk_ = now.value;
    return fired;
}

// The owner of a hook, container_of-style, checked by the type system: the member
// pointer names both the owner type and which of its hooks h is.
//   struct tcb { ...; timer::hook rto; };  tcb& t = timer::owner_of<tcb, &tcb::rto>(h);
template <class Owner, hook Owner::*Member>
[[nodiscard]] Owner& owner_of(hook& h) noexcept {
    static_assert(Member != nullptr);
    // The member's offset, taken on storage where no Owner is constructed (only
    // addresses are formed, nothing is read); the compiler folds it to a constant.
    union probe {
        probe() noexcept {}
        ~probe() {}
        char none;
        Owner owner;
    } p;
    const auto offset = reinterpret_cast<const std::byte*>(&(p.owner.*Member)) -
                        reinterpret_cast<const std::byte*>(&p.owner);
    return *std::launder(reinterpret_cast<Owner*>(reinterpret_cast<std::byte*>(&h) - offset));
}

} // namespace linerate::timer
