// The grace period before munmap; see unmap_guard.hpp for why it exists.
//
// Memory order, as a whole: the driver clears its flag with a plain store and then calls
// munmap; the full fence at the start of the wait orders that store before the loads of
// the readers' counters. A reader's quiescent point is a sequentially consistent store
// (a locked instruction on x86), so its next burst's load of the driver's flag cannot be
// performed before the counter it published. If the waiter sees the counter move, that
// reader either finished the burst it was in, and will see the cleared flag in its next
// one; an offline reader runs no burst at all.
#include <linerate/device/unmap_guard.hpp>

#include <array>
#include <atomic>
#include <stdexcept>
#include <thread>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace linerate::device {
namespace {

constexpr unsigned no_slot = ~0U;

struct alignas(64) reader_slot {
    std::atomic<bool> taken{false};
    std::atomic<bool> online{false};
    // Bumped at every quiescent point; only its owner writes it.
    std::atomic<std::uint64_t> seq{0};
};

std::array<reader_slot, max_burst_readers> slots;
// Readers online now: lets munmap skip the scan when no loop runs (start-up, shutdown,
// programs that never start one).
std::atomic<unsigned> online_count{0};
std::atomic<std::uint64_t> waits{0};
std::atomic<std::uint64_t> timeouts{0};

// The slot of the reader running on this thread, if any: readers never wait.
thread_local unsigned this_thread_slot = no_slot;

} // namespace

burst_reader::burst_reader() : slot_(no_slot) {
    for (unsigned i = 0; i < max_burst_readers; ++i) {
        bool expected = false;
        if (slots[i].taken.compare_exchange_strong(expected, true)) {
            slot_ = i;
            return;
        }
    }
    throw std::length_error("more burst readers than lcores");
}

burst_reader::~burst_reader() {
    offline();
    slots[slot_].taken.store(false, std::memory_order_release);
}

void burst_reader::online() noexcept {
    auto &s = slots[slot_];
    if (s.online.load(std::memory_order_relaxed)) return;
    this_thread_slot = slot_;
    online_count.fetch_add(1, std::memory_order_seq_cst);
    s.online.store(true, std::memory_order_seq_cst);
}

void burst_reader::quiescent() noexcept {
    auto &s = slots[slot_];
    s.seq.store(s.seq.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
}

void burst_reader::offline() noexcept {
    auto &s = slots[slot_];
    if (!s.online.load(std::memory_order_relaxed)) return;
    // Release: the last burst happens before a waiter that sees the reader offline.
    s.online.store(false, std::memory_order_release);
    online_count.fetch_sub(1, std::memory_order_release);
    if (this_thread_slot == slot_) this_thread_slot = no_slot;
}

bool wait_for_burst_readers(std::chrono::nanoseconds limit) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::array<std::uint64_t, max_burst_readers> seen{};
    std::array<bool, max_burst_readers> pending{};
    unsigned left = 0;
    for (unsigned i = 0; i < max_burst_readers; ++i) {
        if (i == this_thread_slot || !slots[i].online.load(std::memory_order_acquire)) continue;
        seen[i] = slots[i].seq.load(std::memory_order_acquire);
        pending[i] = true;
        ++left;
    }
    if (left == 0) return true;
    waits.fetch_add(1, std::memory_order_relaxed);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
        for (unsigned i = 0; i < max_burst_readers; ++i) {
            if (!pending[i]) continue;
            if (!slots[i].online.load(std::memory_order_acquire) ||
                slots[i].seq.load(std::memory_order_acquire) != seen[i]) {
                pending[i] = false;
                --left;
            }
        }
        if (left == 0) return true;
        if (std::chrono::steady_clock::now() >= deadline) {
            timeouts.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        // The waiter may share a core with a reader (control threads pinned beside an
        // lcore): give it the core rather than spin against it.
        std::this_thread::yield();
    }
}

unmap_guard_stats unmap_guard_counters() noexcept {
    return {waits.load(std::memory_order_relaxed), timeouts.load(std::memory_order_relaxed)};
}

} // namespace linerate::device

// Interposes on libc's munmap (see the header). Exported with default visibility so that
// the executables and liblinerate.so publish it to the dynamic linker, ahead of libc.
extern "C" __attribute__((visibility("default"))) int munmap(void *addr, std::size_t len) noexcept {
    using namespace linerate::device;
    if (online_count.load(std::memory_order_acquire) != 0 && this_thread_slot == no_slot)
        wait_for_burst_readers();
    return static_cast<int>(::syscall(SYS_munmap, addr, len));
}
