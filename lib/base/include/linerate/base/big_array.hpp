// big_array<T>: a fixed-size array for the per-shard structures that grow with the
// connection count (the 4-tuple table's slots, the TCB and TIME-WAIT pools), backed by
// transparent huge pages where the kernel offers them.
//
// Why: those arrays reach hundreds of MiB, and a lookup lands on a random line of them.
// With 4 KiB pages every such access is also a TLB miss, and the page walk's own loads
// miss the cache too; burst prefetch then overlaps two dependent misses instead of one.
// With 2 MiB pages a 256 MiB table needs 128 TLB entries, which the second-level TLB
// holds. The memory is 2 MiB-aligned and marked MADV_HUGEPAGE before it is first
// touched, because the kernel picks a page's size when it faults it in (with THP in
// "madvise" mode, Debian's default, nothing else asks). Arrays under 2 MiB, or a kernel
// without THP, get ordinary pages: the hint is advice, never a requirement.
//
// Allocated once, in the constructor; the fast path only indexes.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace linerate {

namespace detail {
// Memory for `bytes`, 2 MiB-aligned and advised for huge pages when bytes >= 2 MiB;
// throws std::bad_alloc. Released with big_free.
[[nodiscard]] void *big_alloc(std::size_t bytes);
void big_free(void *p) noexcept;
} // namespace detail

template <class T> class big_array {
public:
    // n value-initialised elements (zero for scalars and atomics, as new T[n]() gives).
    explicit big_array(std::size_t n) : data_(static_cast<T *>(detail::big_alloc(n * sizeof(T)))), size_(n) {
        static_assert(alignof(T) <= 64, "big_array aligns to a cache line (more, for huge pages)");
        try {
            std::uninitialized_value_construct_n(data_, n);
        } catch (...) {
            detail::big_free(data_);
            throw;
        }
    }
    ~big_array() {
        std::destroy_n(data_, size_);
        detail::big_free(data_);
    }
    big_array(const big_array &) = delete;
    big_array &operator=(const big_array &) = delete;

    [[nodiscard]] T &operator[](std::size_t i) noexcept { return data_[i]; }
    [[nodiscard]] const T &operator[](std::size_t i) const noexcept { return data_[i]; }
    [[nodiscard]] T *data() noexcept { return data_; }
    [[nodiscard]] const T *data() const noexcept { return data_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    T *data_;
    std::size_t size_;
};

} // namespace linerate
