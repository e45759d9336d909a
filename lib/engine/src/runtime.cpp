// The per-lcore loop, and the runtime that starts, runs and stops the workers; see
// runtime.hpp, and worker.hpp for how the worker is split across files.
#include "worker.hpp"

namespace linerate::engine {
namespace detail {

void worker::loop() {
    // A relaxed load is enough: the flag only asks the loop to end soon, it orders no
    // data; what the loop did is read after rte_eal_mp_wait_lcore().
    reader.online();
    std::uint64_t turn_tsc = rte_rdtsc();
    std::uint64_t work_before = 0;
    while (!stop->load(std::memory_order_relaxed)) {
        // Between two turns no burst is in flight: a driver waiting to unmap its rings
        // may go ahead.
        reader.quiescent();
        const std::uint64_t tsc = rte_rdtsc();
        // The turn that just ended, counted busy if it moved a frame either way.
        const std::uint64_t work = stats.rx_frames + stats.dispatched_in + stats.tx_frames;
        stats.loop_cycles += tsc - turn_tsc;
        if (work != work_before) stats.busy_cycles += tsc - turn_tsc;
        turn_tsc = tsc;
        work_before = work;
        if (deadline_tsc != 0 && tsc >= deadline_tsc) break;
        const tick now = frozen ? tick{} : clock.to_ticks(tsc);
        us_now = frozen ? 0 : tsc / (tsc_hz / 1'000'000 ? tsc_hz / 1'000'000 : 1);
        shard->set_time(now, us_now);
        const std::uint64_t rx_before = stats.rx_frames + stats.dispatched_in;
        for (const auto &q : rxq) poll_rx(q, now);
        poll_rings(now);
        if (app_poller != nullptr) app_poller->poll(*this);
        if (now != last_tick) {
            last_tick = now;
            on_tick(now);
        }
        const bool idle = stats.rx_frames + stats.dispatched_in == rx_before;
        if (idle || tsc - last_flush_tsc >= drain_tsc) {
            flush_all();
            last_flush_tsc = tsc;
        }
    }
    // Tell the peers: every connection still open is reset, and what that sends goes
    // out before the ports stop (a few tries; what the device still refuses is freed).
    shard->abort_all();
    for (int i = 0; i < 100; ++i) flush_all();
    drop_unsent();
    reader.offline();
}

int worker_main(void *arg) {
    static_cast<worker *>(arg)->loop();
    return 0;
}

} // namespace detail

using namespace detail;

struct runtime::impl {
    device::eal eal;
    // One mbuf pool per NUMA socket that runs a worker, so that every lcore allocates
    // from memory near it; each is sized by [mempool].
    std::vector<std::pair<unsigned, std::unique_ptr<device::mbuf_pool>>> pools;
    std::vector<std::unique_ptr<device::port>> ports;
    std::vector<port_summary> summaries;
    shared_state shared;
    tcp::settings tcp_cfg;
    std::unique_ptr<tcp::isn_generator> isn;
    // Workers are aligned and never move once the loops start.
    std::vector<std::unique_ptr<worker>> workers;
    std::vector<std::unique_ptr<ring>> rings;
    bool pdump = false;

    impl(const config::app_config &cfg, const std::string &program, std::span<const std::string> eal_cli)
        : eal(device::eal_arguments(cfg, program, eal_cli)) {}
};

runtime::runtime(const config::app_config &cfg, const std::string &program,
                 std::span<const std::string> eal_cli_args, const runtime_options &ropts)
    : impl_(std::make_unique<impl>(cfg, program, eal_cli_args)) {
    auto &d = *impl_;
    // A fixed key is there to make captures reproducible (the pcap golden test replays one
    // recorded elsewhere), so its PRF is pinned to the one every machine has: SipHash. A
    // random key takes AES-NI where the CPU has it (isn.hpp).
    d.isn = ropts.isn_key ? std::make_unique<tcp::isn_generator>(*ropts.isn_key, tcp::isn_prf::siphash)
                          : std::make_unique<tcp::isn_generator>();

    // The lcores EAL actually runs, main first: they may differ from the file when the
    // command line passed its own -l.
    std::vector<unsigned> lcore_ids{rte_get_main_lcore()};
    unsigned id;
    RTE_LCORE_FOREACH_WORKER(id) lcore_ids.push_back(id);
    const auto nw = static_cast<unsigned>(lcore_ids.size());
    d.shared.workers = nw;
    const auto pool_for = [&d, &cfg](unsigned socket) -> rte_mempool * {
        for (auto &[s, p] : d.pools)
            if (s == socket) return p->get();
        d.pools.emplace_back(socket, std::make_unique<device::mbuf_pool>(fmt::format("linerate_mbufs_s{}", socket),
                                                                          cfg.mempool, static_cast<int>(socket)));
        return d.pools.back().second->get();
    };
    for (unsigned l : lcore_ids) (void)pool_for(rte_lcore_to_socket_id(l));

    const std::uint16_t mtu = cfg.ports.empty() ? 1500 : cfg.ports.front().mtu;
    d.tcp_cfg = to_tcp_settings(cfg.tcp, mtu);

    bool all_rss = true;
    for (const auto &pc : cfg.ports) {
        const unsigned rxq = std::min<unsigned>(pc.rx_queues, nw);
        const unsigned txq = std::min<unsigned>(pc.tx_queues, nw);
        // RX buffers come from the pool of the main lcore's socket; on a two-socket
        // machine, put the port's workers on its socket.
        auto p = std::make_unique<device::port>(pc, pool_for(rte_lcore_to_socket_id(lcore_ids[0])), rxq, txq);
        port_info info;
        info.port_id = p->id();
        info.mac = p->mac();
        info.address = pc.address;
        info.gateway = pc.gateway;
        info.rx_queues = rxq;
        info.tx_queues = txq;
        info.rx_ipv4_cksum = p->rx_ipv4_checksum();
        info.rx_tcp_cksum = p->rx_tcp_checksum();
        info.vlan = pc.vlan;
        info.vlan_offload = p->vlan_offload();
        info.tx_offload = p->tx_tcp_checksum() && p->tx_ipv4_checksum() ? checksum_offload::ipv4_tcp
                          : p->tx_ipv4_checksum()                       ? checksum_offload::ipv4
                                                                        : checksum_offload::none;
        // The software hash must reach every worker; RSS is enough only when the NIC
        // has a queue per worker.
        if (!(p->rss() && rxq == nw)) all_rss = false;
        d.shared.reta = p->rss() ? p->reta() : device::reta_map{};
        d.shared.ports.push_back(info);
        d.summaries.push_back(port_summary{pc.name, p->device_name(), p->id(), p->mac().to_string(),
                                           pc.address.to_string(), rxq, txq, p->rss(),
                                           info.tx_offload == checksum_offload::ipv4_tcp ? "ipv4+tcp"
                                           : info.tx_offload == checksum_offload::ipv4   ? "ipv4"
                                                                                         : "software"});
        d.ports.push_back(std::move(p));
    }
    d.shared.software_dispatch = nw > 1 && !all_rss;
    d.shared.reta.queues = nw;
    if (d.shared.reta.reta_size == 0) d.shared.reta.reta_size = 128;

    const std::uint64_t hz = rte_get_tsc_hz();
    const flow::shard_limits limits{.connections = cfg.tcp.max_connections,
                                    .time_wait = cfg.tcp.max_time_wait,
                                    .ooo_queues = cfg.tcp.ooo_queues,
                                    .held_segments = cfg.tcp.ooo_queues * std::max<std::uint32_t>(cfg.tcp.max_ooo_segments, 1),
                                    .listeners = 64,
                                    .table_seed = 0};
    for (unsigned w = 0; w < nw; ++w) {
        auto wk = std::make_unique<worker>();
        wk->index = w;
        wk->lcore_id_ = lcore_ids[w];
        wk->shared = &d.shared;
        wk->pool = pool_for(rte_lcore_to_socket_id(lcore_ids[w]));
        wk->clock = tick_clock(hz);
        wk->tsc_hz = hz;
        wk->drain_tsc = hz / 1'000'000 * drain_us;
        wk->frozen = ropts.frozen_clock;
        const tick start = ropts.frozen_clock ? tick{} : wk->clock.to_ticks(rte_rdtsc());
        wk->last_tick = start;
        auto lim = limits;
        // A frozen clock asks for a reproducible run: the table's layout (and so the
        // order of anything walked through it) is fixed too.
        if (!ropts.frozen_clock) randombytes_buf(&lim.table_seed, sizeof lim.table_seed);
        wk->shard = std::make_unique<flow::shard>(d.tcp_cfg, lim, *d.isn, *wk, start);
        wk->ext.resize(limits.connections);
        wk->hops.reserve(worker::max_hops);
        wk->hop_made.reserve(worker::max_hops);
        wk->hop_keys.assign(2 * worker::max_hops, 0);
        wk->hop_index.assign(2 * worker::max_hops, worker::no_hop);
        wk->held_.resize(limits.held_segments);
        wk->held_free_.reserve(limits.held_segments);
        for (std::uint32_t i = limits.held_segments; i-- > 0;) wk->held_free_.push_back(i);
        wk->waiting.reserve(arp_waiting_max);
        wk->in.assign(nw, nullptr);
        wk->out.assign(nw, nullptr);
        wk->tx_in.assign(nw, nullptr);
        wk->tx_out.assign(nw, nullptr);
        for (std::uint16_t pi = 0; pi < d.shared.ports.size(); ++pi) {
            const port_info &p = d.shared.ports[pi];
            if (w < p.rx_queues) wk->rxq.push_back(rx_queue{pi, static_cast<std::uint16_t>(w)});
            wk->answer.emplace_back(std::in_place, interface_address{p.mac, p.address}, wk->arp, wk->stats);
            wk->txq.push_back(w < p.tx_queues ? static_cast<int>(w) : -1);
            wk->tx_owner.push_back(w % p.tx_queues);
            wk->txs.emplace_back();
            wk->txs.back().buf.resize(tx_stage_size);
        }
        d.workers.push_back(std::move(wk));
    }
    // One ring per ordered pair of workers for each direction of hand-over.
    if (nw > 1) {
        for (unsigned a = 0; a < nw; ++a)
            for (unsigned b = 0; b < nw; ++b) {
                if (a == b) continue;
                auto &r1 = d.rings.emplace_back(std::make_unique<ring>(ring_size));
                d.workers[a]->out[b] = r1.get();
                d.workers[b]->in[a] = r1.get();
                auto &r2 = d.rings.emplace_back(std::make_unique<ring>(ring_size));
                d.workers[a]->tx_out[b] = r2.get();
                d.workers[b]->tx_in[a] = r2.get();
            }
    }

    // DPDK's packet capture: dpdk-dumpcap attaches to a running instance through it
    // (multi-process, so not with --no-shconf or --in-memory; then it just says so).
    d.pdump = rte_pdump_init() == 0;

    attach_telemetry(*this);
}

runtime::~runtime() {
    auto &d = *impl_;
    detach_telemetry();
    if (d.pdump) rte_pdump_uninit();
    for (auto &w : d.workers) {
        // Whatever is still queued or held goes back to the pool before it is freed.
        w->shard->abort_all();
        w->reader.online(); // bursts from this thread now, while a driver may be unmapping
        w->flush_all();
        w->drop_unsent();
        w->reader.offline();
        for (auto *r : w->in)
            if (r != nullptr) r->consume_all([](rte_mbuf *m) { rte_pktmbuf_free(m); });
        for (auto *r : w->tx_in)
            if (r != nullptr) r->consume_all([](rte_mbuf *m) { rte_pktmbuf_free(m); });
        for (auto &wp : w->waiting) rte_pktmbuf_free(wp.m);
        w->waiting.clear();
    }
    d.workers.clear();
    d.ports.clear(); // stop and close before the pools they draw from go away
    d.pools.clear();
}

const std::vector<port_summary> &runtime::ports() const noexcept { return impl_->summaries; }
unsigned runtime::workers() const noexcept { return impl_->shared.workers; }
bool runtime::software_dispatch() const noexcept { return impl_->shared.software_dispatch; }

bool runtime::listen(std::uint16_t port, const std::function<handler &(unsigned worker)> &handler_for) {
    auto &d = *impl_;
    for (auto &w : d.workers) {
        // Segments reach a listener only for addresses the responder has found ours.
        if (!w->shard->listen(ipv4_addr{0}, port, handler_for(w->index))) return false;
    }
    return true;
}

lcore &runtime::lcore_of(unsigned worker) noexcept { return *impl_->workers[worker]; }

void runtime::add_addresses(ipv4_addr first, std::uint32_t count) {
    auto &d = *impl_;
    if (count == 0) return;
    const ipv4_addr last{first.value + (count - 1)};
    for (std::uint16_t pi = 0; pi < d.shared.ports.size(); ++pi) {
        port_info &p = d.shared.ports[pi];
        if (!p.address.contains(first) || !p.address.contains(last) || last.value < first.value) continue;
        p.extra_first = first;
        p.extra_count = count;
        for (auto &w : d.workers) w->answer[pi]->set_extra_addresses(first, count);
        return;
    }
    throw device::error(fmt::format("addresses {}..{} are not inside any port's prefix", first.to_string(),
                                    last.to_string()));
}

void runtime::set_source_ports(std::uint16_t lo, std::uint16_t hi) {
    impl_->shared.source_port_lo = lo;
    impl_->shared.source_port_hi = hi;
    for (auto &w : impl_->workers) w->next_port = lo;
}

void runtime::set_pollers(const std::function<poller *(unsigned worker)> &poller_for) {
    for (auto &w : impl_->workers) w->app_poller = poller_for(w->index);
}

void runtime::run(const std::atomic<bool> &stop, const run_options &opts) {
    auto &d = *impl_;
    const std::uint64_t deadline =
        opts.duration_ms == 0 ? 0 : rte_rdtsc() + opts.duration_ms * (rte_get_tsc_hz() / 1000);
    for (auto &w : d.workers) {
        w->stop = &stop;
        w->deadline_tsc = deadline;
    }
    // Before the first SYN goes out: ask for each gateway, so active opens find it.
    for (std::uint16_t pi = 0; pi < d.shared.ports.size(); ++pi)
        if (const auto gw = d.shared.ports[pi].gateway) d.workers[0]->send_arp_request(pi, *gw, std::nullopt);
    for (std::size_t i = 1; i < d.workers.size(); ++i)
        rte_eal_remote_launch(worker_main, d.workers[i].get(), d.workers[i]->lcore_id_);
    d.workers[0]->loop();
    rte_eal_mp_wait_lcore();
}

counters runtime::totals() const noexcept {
    counters sum = port_counters();
    for (const auto &w : impl_->workers) sum += relaxed_copy(w->stats);
    return sum;
}

counters runtime::port_counters() const noexcept {
    counters sum;
    for (const auto &p : impl_->shared.ports) {
        rte_eth_stats st{};
        if (rte_eth_stats_get(p.port_id, &st) != 0) continue;
        sum.port_rx_nombuf += st.rx_nombuf;
        sum.port_imissed += st.imissed;
        sum.port_ierrors += st.ierrors;
        sum.port_oerrors += st.oerrors;
    }
    return sum;
}

std::vector<port_stats> runtime::ports_stats() const {
    std::vector<port_stats> out;
    for (std::size_t i = 0; i < impl_->shared.ports.size(); ++i) {
        port_stats s;
        s.name = impl_->summaries[i].name;
        rte_eth_stats st{};
        if (rte_eth_stats_get(impl_->shared.ports[i].port_id, &st) == 0) {
            s.ipackets = st.ipackets;
            s.opackets = st.opackets;
            s.ibytes = st.ibytes;
            s.obytes = st.obytes;
            s.imissed = st.imissed;
            s.ierrors = st.ierrors;
            s.oerrors = st.oerrors;
            s.rx_nombuf = st.rx_nombuf;
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<std::pair<std::string, std::uint64_t>> runtime::port_xstats(std::size_t port) const {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    const std::uint16_t id = impl_->shared.ports.at(port).port_id;
    const int n = rte_eth_xstats_get_names(id, nullptr, 0);
    if (n <= 0) return out;
    std::vector<rte_eth_xstat_name> names(static_cast<std::size_t>(n));
    std::vector<rte_eth_xstat> values(static_cast<std::size_t>(n));
    if (rte_eth_xstats_get_names(id, names.data(), static_cast<unsigned>(n)) != n ||
        rte_eth_xstats_get(id, values.data(), static_cast<unsigned>(n)) != n)
        return out;
    for (const auto &v : values)
        if (v.value != 0 && v.id < names.size()) out.emplace_back(names[v.id].name, v.value);
    return out;
}

tcp::counters runtime::tcp_totals() const noexcept {
    tcp::counters sum;
    for (const auto &w : impl_->workers) {
        const tcp::counters c = relaxed_copy(w->shard->stats());
        for (const auto &n : tcp::mib_counters) sum.*n.field += c.*n.field;
        for (std::size_t i = 0; i < sum.dropped.size(); ++i) sum.dropped[i] += c.dropped[i];
        for (std::size_t i = 0; i < sum.in_state.size(); ++i) sum.in_state[i] += c.in_state[i];
    }
    return sum;
}

std::vector<worker_snapshot> runtime::snapshot() const {
    std::vector<worker_snapshot> out;
    for (const auto &w : impl_->workers) {
        worker_snapshot s;
        s.worker = w->index;
        s.lcore_id = w->lcore_id_;
        s.engine = relaxed_copy(w->stats);
        s.tcp = relaxed_copy(w->shard->stats());
        s.flow = relaxed_copy(w->shard->shard_stats());
        // The pools' in-use counts are plain integers of the owner's, read the same way.
        s.connections = 0;
        for (std::size_t i = 1; i < s.tcp.in_state.size(); ++i) s.connections += s.tcp.in_state[i];
        s.time_wait_entries = s.flow.time_wait_entries;
        out.push_back(s);
    }
    return out;
}

} // namespace linerate::engine
