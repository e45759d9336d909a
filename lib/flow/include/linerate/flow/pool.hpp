// A fixed-capacity object pool: the per-shard store of connections and reassembly
// queues. (TIME-WAIT is not a pool: see time_wait_log.hpp.)
//
// Design:
// - Everything is allocated once, at construction: the objects (all default-
//   constructed up front), a stack of free indices and a bitmap of used ones. acquire()
//   and release() never allocate, never throw and never lock; a pool belongs to one
//   lcore.
// - Objects are addressed by a 32-bit index, which is what the flow table stores (half
//   the size of a pointer, and stable: objects never move). T may be neither copyable
//   nor movable (tcp::connection is not), so the storage is one array of T built in
//   place, never a vector that might want to relocate it.
// - The free list is a LIFO stack: acquire() hands out the most recently released
//   object, whose cache lines are the most likely to still be warm. Indices never
//   used come from a counter once the stack is empty, so the stack's memory is written
//   only as objects are released: a shard sized for ten million connections that holds
//   them all does not pay 4 bytes each for a stack filled at start.
// - release() destroys the object and default-constructs a fresh one in the same
//   place, so the next user never sees a previous connection's state; the cost is paid
//   when a flow ends, not when the next one starts.
// - contains()/index_of() answer from the address alone: a timer hook lives inside its
//   owner, and the shard uses them to find the connection a fired hook belongs to.
#pragma once

#include <linerate/base/big_array.hpp>

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace linerate::flow {

template <class T> class pool {
    static_assert(std::is_default_constructible_v<T>, "pool objects are default-constructed in place");

public:
    static constexpr std::uint32_t none = ~std::uint32_t{0};

    // All `capacity` objects are default-constructed now and all are free. Indices are
    // handed out 0, 1, 2, ... until the first release. Throws std::bad_alloc (only
    // here: nothing allocates afterwards).
    explicit pool(std::uint32_t capacity)
        : objects_(capacity), free_(std::make_unique_for_overwrite<std::uint32_t[]>(capacity)),
          used_(std::make_unique<std::uint64_t[]>(words(capacity))), capacity_(capacity) {}

    pool(const pool &) = delete;
    pool &operator=(const pool &) = delete;

    // A free index, or `none` when every object is in use.
    [[nodiscard]] std::uint32_t acquire() noexcept {
        std::uint32_t i;
        if (free_count_ > 0)
            i = free_[--free_count_];
        else if (fresh_ < capacity_)
            i = fresh_++;
        else
            return none;
        assert(!is_used(i));
        used_[i / 64] |= bit(i);
        return i;
    }

    // Gives the object back and leaves a freshly default-constructed one in its place.
    // Releasing an index that is not in use is a bug in the caller.
    void release(std::uint32_t index) noexcept {
        assert(index < capacity_);
        assert(is_used(index) && "pool: release of a free index");
        T *p = &objects_[index];
        std::destroy_at(p);
        std::construct_at(p); // noexcept context: a throwing constructor terminates
        used_[index / 64] &= ~bit(index);
        free_[free_count_++] = index;
    }

    [[nodiscard]] T &operator[](std::uint32_t i) noexcept {
        assert(i < capacity_);
        return objects_[i];
    }
    [[nodiscard]] const T &operator[](std::uint32_t i) const noexcept {
        assert(i < capacity_);
        return objects_[i];
    }

    [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::uint32_t in_use() const noexcept { return fresh_ - free_count_; }
    [[nodiscard]] bool is_used(std::uint32_t i) const noexcept {
        return i < capacity_ && (used_[i / 64] & bit(i)) != 0;
    }

    // Whether p points at one of this pool's objects. std::less gives a total order on
    // pointers, so comparing a pointer into another object is well defined.
    [[nodiscard]] bool contains(const T *p) const noexcept {
        const T *first = objects_.data();
        const T *last = first + capacity_;
        std::less<const T *> before;
        return !before(p, first) && before(p, last);
    }
    // Precondition: contains(p).
    [[nodiscard]] std::uint32_t index_of(const T *p) const noexcept {
        assert(contains(p));
        return static_cast<std::uint32_t>(p - objects_.data());
    }

    // f(index, T&) for every object in use, in index order. f may release the object it
    // is given (the bitmap word is read before the calls for its bits) but must not
    // acquire.
    template <class F> void for_each_used(F &&f) {
        for (std::uint32_t w = 0; w < words(capacity_); ++w) {
            for (std::uint64_t bits = used_[w]; bits != 0; bits &= bits - 1) {
                const auto i = static_cast<std::uint32_t>(w * 64 + static_cast<unsigned>(std::countr_zero(bits)));
                f(i, objects_[i]);
            }
        }
    }
    template <class F> void for_each_used(F &&f) const {
        for (std::uint32_t w = 0; w < words(capacity_); ++w) {
            for (std::uint64_t bits = used_[w]; bits != 0; bits &= bits - 1) {
                const auto i = static_cast<std::uint32_t>(w * 64 + static_cast<unsigned>(std::countr_zero(bits)));
                f(i, std::as_const(objects_[i]));
            }
        }
    }

private:
    [[nodiscard]] static constexpr std::size_t words(std::uint32_t n) noexcept { return (std::size_t{n} + 63) / 64; }
    [[nodiscard]] static constexpr std::uint64_t bit(std::uint32_t i) noexcept { return std::uint64_t{1} << (i % 64); }

    big_array<T> objects_; // huge pages: see big_array.hpp
    std::unique_ptr<std::uint32_t[]> free_; // stack of released indices, top at free_[free_count_ - 1]
    std::unique_ptr<std::uint64_t[]> used_; // bit i set: object i is in use
    std::uint32_t capacity_;
    std::uint32_t free_count_ = 0;
    std::uint32_t fresh_ = 0; // indices below it have been handed out at least once
};

} // namespace linerate::flow
