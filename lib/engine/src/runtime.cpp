// The per-lcore loop and what it needs; see runtime.hpp.
#include <linerate/engine/runtime.hpp>

#include <linerate/base/ticks.hpp>
#include <linerate/device/device.hpp>
#include <linerate/engine/arp_cache.hpp>
#include <linerate/engine/responder.hpp>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <fmt/format.h>

#include <optional>

namespace linerate::engine {
namespace {

constexpr std::uint16_t burst_size = 32;

// One (port, queue) pair polled by an lcore, with the responder for that port's
// address. The ARP cache is per lcore, shared by its queues.
struct queue_context {
    std::uint16_t port_id = 0;
    std::uint16_t queue_id = 0;
    bool rx_ipv4_cksum = false;
    std::optional<responder> answer;
};

// Everything one lcore touches on the fast path, in one place and cache-aligned so no
// two lcores write the same line.
struct alignas(64) lcore_context {
    unsigned lcore_id = 0;
    std::vector<queue_context> queues;
    arp_cache arp{256};
    counters stats;
    const std::atomic<bool> *stop = nullptr;
    std::uint64_t deadline_tsc = 0; // 0: none
    tick_clock clock{1};
};

// Sends what the batch holds; whatever the queue refuses is freed and counted, never
// retried in a loop (a stuck queue must not stall the lcore).
void flush(lcore_context &lc, const queue_context &q, rte_mbuf **batch, std::uint16_t n) {
    if (n == 0) return;
    const std::uint16_t sent = rte_eth_tx_burst(q.port_id, q.queue_id, batch, n);
    for (std::uint16_t i = 0; i < sent; ++i) {
        ++lc.stats.tx_frames;
        lc.stats.tx_bytes += rte_pktmbuf_pkt_len(batch[i]);
    }
    for (std::uint16_t i = sent; i < n; ++i) {
        lc.stats.count(local_drop::tx_full);
        rte_pktmbuf_free(batch[i]);
    }
}

void poll_queue(lcore_context &lc, queue_context &q, tick now) {
    rte_mbuf *rx[burst_size];
    rte_mbuf *tx[burst_size];
    std::uint16_t ntx = 0;
    const std::uint16_t n = rte_eth_rx_burst(q.port_id, q.queue_id, rx, burst_size);
    // Headers of the whole burst are prefetched before the first is classified, so
    // the cache misses overlap instead of queueing one behind the other.
    for (std::uint16_t i = 0; i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(rx[i], void *));
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf *m = rx[i];
        ++lc.stats.rx_frames;
        lc.stats.rx_bytes += rte_pktmbuf_pkt_len(m);
        if (m->nb_segs != 1) {
            lc.stats.count(local_drop::rx_multi_segment);
            rte_pktmbuf_free(m);
            continue;
        }
        const bool cksum_good =
            q.rx_ipv4_cksum && (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
        const std::span<std::uint8_t> frame(rte_pktmbuf_mtod(m, std::uint8_t *), rte_pktmbuf_data_len(m));
        const verdict v = q.answer->on_frame(frame, cksum_good, now);
        switch (v.what) {
        case verdict::kind::transmit:
            rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - v.length));
            m->ol_flags = 0;
            tx[ntx++] = m;
            break;
        case verdict::kind::deliver_tcp:
            // No TCP stack yet: counted so that nothing vanishes silently.
            lc.stats.count(local_drop::tcp_unhandled);
            rte_pktmbuf_free(m);
            break;
        case verdict::kind::drop:
        case verdict::kind::consumed: rte_pktmbuf_free(m); break;
        }
    }
    flush(lc, q, tx, ntx);
}

int lcore_main(void *arg) {
    auto &lc = *static_cast<lcore_context *>(arg);
    // A relaxed load is enough: the flag only asks the loop to end soon, it orders
    // no data; the loop's results are read after rte_eal_mp_wait_lcore().
    while (!lc.stop->load(std::memory_order_relaxed)) {
        const std::uint64_t tsc = rte_rdtsc();
        if (lc.deadline_tsc != 0 && tsc >= lc.deadline_tsc) break;
        const tick now = lc.clock.to_ticks(tsc);
        for (auto &q : lc.queues) poll_queue(lc, q, now);
    }
    return 0;
}

} // namespace

struct runtime::impl {
    device::eal eal;
    std::unique_ptr<device::mbuf_pool> pool;
    std::vector<std::unique_ptr<device::port>> ports;
    std::vector<port_summary> summaries;
    // One context per configured lcore, in configuration order; contexts are aligned
    // and never move once the loops start.
    std::vector<std::unique_ptr<lcore_context>> lcores;

    impl(const config::app_config &cfg, const std::string &program, std::span<const std::string> eal_cli)
        : eal(device::eal_arguments(cfg, program, eal_cli)) {}
};

runtime::runtime(const config::app_config &cfg, const std::string &program,
                 std::span<const std::string> eal_cli_args)
    : impl_(std::make_unique<impl>(cfg, program, eal_cli_args)) {
    auto &d = *impl_;
    d.pool = std::make_unique<device::mbuf_pool>("linerate_mbufs", cfg.mempool);

    // The lcores EAL actually runs, main first: they may differ from the file when the
    // command line passed its own -l.
    std::vector<unsigned> lcore_ids{rte_get_main_lcore()};
    unsigned id;
    RTE_LCORE_FOREACH_WORKER(id) lcore_ids.push_back(id);
    for (unsigned lid : lcore_ids) {
        auto lc = std::make_unique<lcore_context>();
        lc->lcore_id = lid;
        lc->clock = tick_clock(rte_get_tsc_hz());
        d.lcores.push_back(std::move(lc));
    }

    for (const auto &pc : cfg.ports) {
        // One RX/TX queue pair per lcore that polls this port, at most what the file
        // asks for: lcore k polls queue k.
        const unsigned queues = std::min<unsigned>(std::min(pc.rx_queues, pc.tx_queues),
                                                   static_cast<unsigned>(lcore_ids.size()));
        auto p = std::make_unique<device::port>(pc, d.pool->get(), queues);
        d.summaries.push_back(port_summary{pc.name, p->device_name(), p->id(), p->mac().to_string(),
                                           pc.address.to_string(), queues});
        const interface_address self{p->mac(), pc.address};
        for (unsigned k = 0; k < queues; ++k) {
            auto &lc = *d.lcores[k];
            auto &q = lc.queues.emplace_back();
            q.port_id = p->id();
            q.queue_id = static_cast<std::uint16_t>(k);
            q.rx_ipv4_cksum = p->rx_ipv4_checksum();
            q.answer.emplace(self, lc.arp, lc.stats);
        }
        d.ports.push_back(std::move(p));
    }
}

runtime::~runtime() {
    auto &d = *impl_;
    d.ports.clear(); // stop and close before the pool they draw from goes away
    d.pool.reset();
}

const std::vector<port_summary> &runtime::ports() const noexcept { return impl_->summaries; }

void runtime::run(const std::atomic<bool> &stop, const run_options &opts) {
    auto &d = *impl_;
    const std::uint64_t deadline =
        opts.duration_ms == 0 ? 0 : rte_rdtsc() + opts.duration_ms * (rte_get_tsc_hz() / 1000);
    for (auto &lc : d.lcores) {
        lc->stop = &stop;
        lc->deadline_tsc = deadline;
    }
    // A worker with no queue to poll (more lcores than any port has queues) is not
    // launched: it would only spin on a core that something else could use.
    for (std::size_t i = 1; i < d.lcores.size(); ++i)
        if (!d.lcores[i]->queues.empty())
            rte_eal_remote_launch(lcore_main, d.lcores[i].get(), d.lcores[i]->lcore_id);
    lcore_main(d.lcores[0].get());
    rte_eal_mp_wait_lcore();
}

counters runtime::totals() const noexcept {
    counters sum;
    for (const auto &lc : impl_->lcores) sum += lc->stats;
    return sum;
}

} // namespace linerate::engine
