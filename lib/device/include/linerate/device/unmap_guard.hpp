// A grace period between a driver unmapping device memory and the lcores that may be
// reading it in the middle of a burst.
//
// Why this exists. DPDK 22.11's net_memif tears its link down on the EAL interrupt
// thread when the peer goes away (memif_disconnect): it clears the port's "connected"
// flag and, a few microseconds later, munmaps the shared rings and buffers. An lcore that
// tested the flag just before, and is still inside rte_eth_rx_burst or
// rte_eth_tx_burst, then reads or copies into memory that is gone and dies of SIGSEGV.
// The window is short, but any preemption of the lcore mid-burst stretches it: a client
// whose server was killed crashed in about one run in ten here. The driver offers no
// hook before the unmap, and no event at all.
//
// What it does. Each lcore that runs bursts holds a `burst_reader` and marks a quiescent
// point once per loop turn, between bursts. linerate defines `munmap`: when a thread that
// is not such a reader unmaps memory while readers are online, the call first waits
// until every online reader has passed a quiescent point (or gone offline), and only then
// unmaps. A driver that has already cleared its flag, as memif has, is then never read
// again: every burst that could have seen the old flag has returned. This is RCU's grace
// period (and DPDK's rte_rcu_qsbr), applied where the driver forgot it.
//
// Costs: one sequentially consistent store per loop turn on each lcore; an munmap by a
// non-reader while the loops run waits for one loop turn (microseconds). Readers
// themselves never wait, and the wait is bounded (a stopped lcore cannot hang the
// interrupt thread). munmap calls inside glibc (free, thread stacks) use an internal
// name and do not come here.
//
// The definition is found because an executable's (or liblinerate.so's exported)
// definition comes before libc's in the dynamic linker's search order, which is also the
// order DPDK's driver plugins resolve their munmap in.
#pragma once

#include <chrono>
#include <cstdint>

namespace linerate::device {

// One lcore's reader slot. Construct on the lcore's thread, once; `online` before its
// first burst, `quiescent` once a loop turn outside any burst, `offline` after its last.
class burst_reader {
public:
    burst_reader();
    ~burst_reader();
    burst_reader(const burst_reader &) = delete;
    burst_reader &operator=(const burst_reader &) = delete;

    void online() noexcept;
    void quiescent() noexcept;
    void offline() noexcept;

private:
    unsigned slot_;
};

// Readers slots available to a process: one per lcore DPDK can run (RTE_MAX_LCORE).
inline constexpr unsigned max_burst_readers = 128;

// Waits until every online reader, other than the calling thread's, has passed a
// quiescent point after this call began, or gone offline, or `limit` has passed.
// Returns false when the limit ended the wait. munmap calls this; tests call it too.
bool wait_for_burst_readers(std::chrono::nanoseconds limit = std::chrono::seconds(1)) noexcept;

// Grace periods waited for by munmap, and those that ran out at their limit: read by the
// engine's counters and by tests.
struct unmap_guard_stats {
    std::uint64_t waits;
    std::uint64_t timeouts;
};
[[nodiscard]] unmap_guard_stats unmap_guard_counters() noexcept;

} // namespace linerate::device
