// The per-lcore loops and what they own; see runtime.hpp.
//
// One turn of a worker's loop, as in DPDK's l3fwd:
//   TSC -> ticks (once) -> rx_burst on each of its queues -> prefetch -> classify (ARP,
//   ICMP answered in place; TCP steered to its owner) -> 4-tuple hashes of the burst,
//   table buckets prefetched -> TCP input -> application callbacks (inside the shard)
//   -> segments handed over by other workers -> on a new tick, the timer wheel and ARP
//   upkeep -> TX flush when a batch is full, the turn was idle, or the drain interval
//   has passed.
#include <linerate/engine/runtime.hpp>

#include <linerate/base/byteorder.hpp>
#include <linerate/base/ticks.hpp>
#include <linerate/device/device.hpp>
#include <linerate/device/rss.hpp>
#include <linerate/device/unmap_guard.hpp>
#include <linerate/engine/arp_cache.hpp>
#include <linerate/engine/responder.hpp>
#include <linerate/engine/tcp_settings.hpp>
#include <linerate/engine/tx_template.hpp>
#include <linerate/wire/arp.hpp>
#include <linerate/wire/checksum.hpp>
#include <linerate/wire/ethernet.hpp>
#include <linerate/wire/fast_parse.hpp>
#include <linerate/wire/tcp.hpp>

#include <boost/lockfree/spsc_queue.hpp>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pdump.h>
#include <rte_prefetch.h>
#include <rte_telemetry.h>

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

namespace linerate::engine {
namespace {

constexpr std::uint16_t burst_size = 32;
constexpr std::uint16_t tx_batch_size = 64;
// Frames a port's TX stage holds while the device's ring is full, before the next is
// dropped (tx_full): a few bursts' worth of a full ring, so a burst of SYNs or of
// responses meets backpressure instead of loss. 16 KiB of pointers per port and worker.
constexpr std::uint32_t tx_stage_size = 2048;
constexpr std::size_t ring_size = 4096;         // mbufs in flight between two workers
constexpr std::size_t arp_waiting_max = 64;     // packets held per worker while a next hop resolves
constexpr std::uint64_t drain_us = 100;         // a queued TX packet waits at most this long
constexpr std::uint64_t arp_retry_ms = 1'000;   // a resolution request is repeated this often...
constexpr std::uint64_t arp_give_up_ms = 3'000; // ...and its waiting packets dropped after this
constexpr std::uint64_t arp_refresh_ms = 30'000; // an entry in use older than this is re-asked (unicast)
constexpr std::uint64_t arp_expire_ms = 60'000;  // and one older than this is no longer trusted

using ring = boost::lockfree::spsc_queue<rte_mbuf *>;

// Reads an object of 64-bit counters that its owner is writing: each word is loaded
// atomically (relaxed), so no value is torn; the copy as a whole is not a snapshot of
// one instant, which counters do not need. The owner's writes are plain stores of
// aligned words, which x86-64 and AArch64 never tear.
template <class T> T relaxed_copy(const T &src) noexcept {
    static_assert(sizeof(T) % sizeof(std::uint64_t) == 0 && std::is_trivially_copyable_v<T>);
    T out;
    auto *d = reinterpret_cast<std::uint64_t *>(&out);
    const auto *s = reinterpret_cast<const std::uint64_t *>(&src);
    for (std::size_t i = 0; i < sizeof(T) / sizeof(std::uint64_t); ++i) d[i] = __atomic_load_n(s + i, __ATOMIC_RELAXED);
    return out;
}

struct port_info {
    std::uint16_t port_id = 0;
    mac_addr mac{};
    ipv4_prefix address{};
    ipv4_addr extra_first{}; // add_addresses(): more of ours on this link
    std::uint32_t extra_count = 0;
    std::optional<ipv4_addr> gateway;
    unsigned rx_queues = 1;
    unsigned tx_queues = 1;
    bool rx_ipv4_cksum = false;
    bool rx_tcp_cksum = false;
    checksum_offload tx_offload = checksum_offload::none;
};

// One (port, queue) an lcore polls.
struct rx_queue {
    std::uint16_t port_index = 0;
    std::uint16_t queue_id = 0;
};

// Everything a connection needs beside its TCB on this engine: the bytes of its send
// stream (mbufs linked through `next`, from the first unacknowledged byte) and its
// header template.
struct conn_ext {
    rte_mbuf *head = nullptr;
    rte_mbuf *tail = nullptr;
    std::uint32_t head_off = 0; // bytes of head already acknowledged
    std::uint32_t bytes = 0;    // stored, from head + head_off
    std::uint32_t hop = ~0u;    // its next hop's template (worker::hops), once known
};

struct held_segment {
    rte_mbuf *m = nullptr;
    seq32 first{};
    const std::uint8_t *data = nullptr;
    std::uint32_t len = 0;
};

struct waiting_packet {
    rte_mbuf *m = nullptr;
    ipv4_addr next_hop{};
    std::uint16_t port_index = 0;
    tick since{};
    tick asked{};
};

struct tcp_item {
    rte_mbuf *m;
    std::uint16_t port_index;
    verdict v;
    tcp::four_tuple t;
    std::uint64_t hash;
    // What wire::parse_fast read from the frame, or nullptr: the general parsers then
    // read the TCP header (a frame the fast path left, or one from another worker).
    const wire::fast_tcp_frame *fast;
};

// RFC 9293 §3.1 MUST-3: the TCP checksum is verified, by the device when it can.
enum class l4_checksum : std::uint8_t { verify, skip, bad };

l4_checksum device_l4_checksum(const port_info &p, const rte_mbuf *m) noexcept {
    if (!p.rx_tcp_cksum) return l4_checksum::verify;
    const auto l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    // NONE: the checksum field was never filled in, but the data is known intact
    // (virtio and taps hand over the sender kernel's unfinished checksums this way),
    // so it is as good as GOOD; checking it in software would drop every segment.
    if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE) return l4_checksum::skip;
    if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) return l4_checksum::bad;
    return l4_checksum::verify;
}

struct shared_state;

// One lcore's world.
struct alignas(64) worker final : flow::io, lcore {
    unsigned index = 0;
    rte_mempool *pool = nullptr; // the pool of this lcore's NUMA socket
    unsigned lcore_id_ = 0;
    shared_state *shared = nullptr;
    std::vector<rx_queue> rxq;
    std::vector<std::optional<responder>> answer; // per port
    std::vector<int> txq;                          // per port: our TX queue, or -1
    std::vector<unsigned> tx_owner;                // per port: the worker that sends for us
    // Per port: frames to send, in order, from buf[head] on (count of them). Sent in
    // bursts of tx_batch_size; what the device refuses stays, so order is kept.
    struct tx_stage {
        std::vector<rte_mbuf *> buf;
        std::uint32_t head = 0;
        std::uint32_t count = 0;
    };
    std::vector<tx_stage> txs;
    // Bit p: port p's device refused part of the last flush, and what it refused is
    // still staged. Cleared by a flush that empties the stage.
    std::uint64_t tx_refused = 0;
    arp_cache arp{256};
    // Header templates per (port, next hop), shared by every connection through that
    // hop; see tx_template.hpp. Looked up by an open-addressing map of (port, hop) keys
    // that never shrinks: next hops are few (the ARP cache holds 256), and once the map
    // is full a new hop's segments are built from a template made for each of them.
    static constexpr std::uint32_t max_hops = 1024;
    static constexpr std::uint32_t no_hop = ~0u;
    std::vector<header_template> hops;
    std::vector<tick> hop_made;           // when its MAC was last confirmed
    std::vector<std::uint64_t> hop_keys;  // 2 * max_hops slots: (port + 1) << 32 | hop, 0 empty
    std::vector<std::uint32_t> hop_index; // beside hop_keys
    counters stats;
    std::unique_ptr<flow::shard> shard;
    std::vector<conn_ext> ext;
    std::vector<held_segment> held_;
    std::vector<std::uint32_t> held_free_;
    std::vector<waiting_packet> waiting;
    // Rings: in[w] carries segments (and ARP copies) from worker w to us; out[w] from
    // us to w. tx_in/tx_out the same for packets to transmit.
    std::vector<ring *> in, out, tx_in, tx_out;
    tick_clock clock{1};
    std::uint64_t tsc_hz = 1;
    std::uint64_t drain_tsc = 0;
    std::uint64_t last_flush_tsc = 0;
    tick last_tick{};
    const std::atomic<bool> *stop = nullptr;
    std::uint64_t deadline_tsc = 0;
    bool frozen = false;       // runtime_options::frozen_clock
    std::uint64_t us_now = 0;  // the time the shard was last given
    poller *app_poller = nullptr;
    // Tells a driver's munmap on another thread when no burst of ours is in flight
    // (device/unmap_guard.hpp: memif unmaps its rings under a running burst otherwise).
    device::burst_reader reader;
    // connect(): the next source address (an index into the port's sources) and port.
    std::uint32_t next_source = 0;
    std::uint16_t next_port = 0;

    // The segment being input, so that hold() can keep its mbuf and a reply can use
    // the frame's source MAC when ARP does not know the peer yet.
    rte_mbuf *current = nullptr;
    tcp::four_tuple current_tuple{};
    mac_addr current_src{};
    // What parse_fast read from each frame of the burst being received, until
    // tcp_burst has input them: here rather than on poll_rx's stack, where 32 of them
    // would be initialised on every burst.
    std::array<wire::fast_tcp_frame, burst_size> rx_fast{};

    void loop();
    void poll_rx(const rx_queue &q, tick now);
    void poll_rings(tick now);
    void steer_tcp(rte_mbuf *m, std::uint16_t pi, const verdict &v, const wire::fast_tcp_frame *fast, tcp_item *local,
                   std::uint16_t &nl);
    void tcp_burst(tcp_item *items, std::uint16_t n);
    void tcp_input(const tcp_item &it);
    bool parse_tcp_general(const tcp_item &it, tcp::segment &seg);
    void copy_arp_to_others(rte_mbuf *m, std::uint16_t pi);
    void on_tick(tick now);
    void queue_tx(std::uint16_t pi, rte_mbuf *m);
    void flush(std::uint16_t pi);
    void flush_all();
    void drop_unsent();
    const header_template *find_template(const tcp::four_tuple &t, header_template &scratch, rte_mbuf *m_if_waiting,
                                         bool &parked, std::uint32_t &hop);
    [[nodiscard]] std::uint32_t *hop_slot(std::uint16_t pi, ipv4_addr hop) noexcept;
    std::uint32_t keep_template(std::uint16_t pi, ipv4_addr hop, const header_template &t) noexcept;
    std::optional<std::uint16_t> port_for(ipv4_addr local) const noexcept;
    void send_arp_request(std::uint16_t pi, ipv4_addr target, std::optional<mac_addr> unicast);
    void release_waiting_for_learned();
    void drain_rings_at_exit();

    // lcore
    unsigned worker_index() const noexcept override { return index; }
    unsigned lcore_id() const noexcept override { return lcore_id_; }
    flow::shard &tcp() noexcept override { return *shard; }
    std::uint64_t now_us() const noexcept override { return us_now; }
    std::optional<flow::conn_id> connect(ipv4_addr remote, std::uint16_t port, flow::application &app,
                                         std::uint64_t user, connect_error *why) noexcept override;
    const counters &engine_stats() const noexcept override { return stats; }
    bool tx_backlogged() const noexcept override { return tx_refused != 0; }

    // flow::io
    void transmit(flow::conn_id id, const tcp::four_tuple &t, const tcp::out_segment &s,
                  std::uint32_t offset) noexcept override;
    std::uint32_t append(flow::conn_id id, std::span<const std::uint8_t> bytes) noexcept override;
    void release_sent(flow::conn_id id, std::uint32_t bytes) noexcept override;
    void forget(flow::conn_id id) noexcept override;
    std::uint64_t hold(flow::conn_id id, seq32 first, std::span<const std::uint8_t> bytes) noexcept override;
    tcp::sink::held_bytes held(std::uint64_t handle) noexcept override;
    void release(std::uint64_t handle) noexcept override;
};

struct shared_state {
    std::vector<port_info> ports;
    unsigned workers = 1;
    bool software_dispatch = false;
    device::toeplitz hash{};
    device::reta_map reta{};
    std::uint16_t source_port_lo = 1024, source_port_hi = 65535;
};

// --- receive ------------------------------------------------------------------------------

void worker::poll_rx(const rx_queue &q, tick now) {
    rte_mbuf *rx[burst_size];
    const std::uint16_t n = rte_eth_rx_burst(shared->ports[q.port_index].port_id, q.queue_id, rx, burst_size);
    if (n == 0) return;
    // Headers of the whole burst are prefetched before the first is classified, so the
    // cache misses overlap instead of queueing one behind the other.
    for (std::uint16_t i = 0; i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(rx[i], void *));
    const port_info &p = shared->ports[q.port_index];
    tcp_item local[burst_size];
    std::uint16_t nl = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf *m = rx[i];
        ++stats.rx_frames;
        stats.rx_bytes += rte_pktmbuf_pkt_len(m);
        if (m->nb_segs != 1) {
            stats.count(local_drop::rx_multi_segment);
            rte_pktmbuf_free(m);
            continue;
        }
        auto *frame_bytes = rte_pktmbuf_mtod(m, std::uint8_t *);
        const std::span<std::uint8_t> frame(frame_bytes, rte_pktmbuf_data_len(m));
        // Every worker's ARP cache learns from every ARP frame; the copies go out before
        // this worker writes its reply over the request.
        if (shared->workers > 1 && frame.size() >= 14 && load_be16(frame_bytes + 12) == wire::ethertype_arp)
            copy_arp_to_others(m, q.port_index);
        const bool cksum_good =
            p.rx_ipv4_cksum && (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
        // The common TCP frame in one pass (wire/fast_parse.hpp); whatever it does not
        // take, a segment the device found bad included, the general parsers decide and
        // count. Either way the responder applies the same checks and counters.
        const l4_checksum l4 = device_l4_checksum(p, m);
        wire::fast_tcp_frame &fast = rx_fast[i];
        const bool took = l4 != l4_checksum::bad &&
                          wire::parse_fast(frame, cksum_good ? wire::checksum_mode::skip : wire::checksum_mode::verify,
                                           l4 == l4_checksum::skip ? wire::checksum_mode::skip
                                                                   : wire::checksum_mode::verify,
                                           fast);
        const verdict v =
            took ? answer[q.port_index]->on_fast_tcp(fast) : answer[q.port_index]->on_frame(frame, cksum_good, now);
        switch (v.what) {
        case verdict::kind::transmit:
            rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - v.length));
            m->ol_flags = 0;
            queue_tx(q.port_index, m);
            break;
        case verdict::kind::deliver_tcp: steer_tcp(m, q.port_index, v, took ? &fast : nullptr, local, nl); break;
        case verdict::kind::consumed:
            rte_pktmbuf_free(m);
            if (!waiting.empty()) release_waiting_for_learned();
            break;
        case verdict::kind::drop: rte_pktmbuf_free(m); break;
        }
    }
    tcp_burst(local, nl);
}

void worker::copy_arp_to_others(rte_mbuf *m, std::uint16_t pi) {
    for (unsigned w = 0; w < shared->workers; ++w) {
        if (w == index) continue;
        rte_mbuf *c = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
        if (c == nullptr) {
            stats.count(local_drop::tx_no_mbuf);
            continue;
        }
        c->port = pi; // which port's responder learns from it
        if (!out[w]->push(c)) {
            stats.count(local_drop::dispatch_full);
            rte_pktmbuf_free(c);
        }
    }
}

// Which worker owns a TCP segment: the NIC said so when RSS steers a queue per worker;
// otherwise the same symmetric Toeplitz hash, computed here, picks it.
void worker::steer_tcp(rte_mbuf *m, std::uint16_t pi, const verdict &v, const wire::fast_tcp_frame *fast,
                       tcp_item *local, std::uint16_t &nl) {
    const auto *f = rte_pktmbuf_mtod(m, const std::uint8_t *);
    if (v.l4_length < wire::tcp_min_header_len) {
        // Counted by the TCP input path's parser, on this worker.
        local[nl++] = tcp_item{m, pi, v, {}, 0, nullptr};
        return;
    }
    const std::uint16_t sport = load_be16(f + v.l4_offset);
    const std::uint16_t dport = load_be16(f + v.l4_offset + 2);
    const tcp::four_tuple t{v.dst, v.src, dport, sport};
    if (shared->software_dispatch) {
        const unsigned owner = shared->reta.queue_of(shared->hash.ipv4_tcp(v.src, v.dst, sport, dport));
        if (owner != index) {
            // The owner re-reads the offsets from the headers this worker validated.
            m->port = pi;
            m->l2_len = 14;
            m->l3_len = static_cast<std::uint16_t>(v.l4_offset - 14) & 0x1ff;
            if (out[owner]->push(m)) {
                ++stats.dispatched_out;
            } else {
                stats.count(local_drop::dispatch_full);
                rte_pktmbuf_free(m);
            }
            return;
        }
    }
    local[nl++] = tcp_item{m, pi, v, t, 0, fast};
}

void worker::poll_rings(tick now) {
    rte_mbuf *batch[burst_size];
    for (unsigned w = 0; w < shared->workers; ++w) {
        if (w == index) continue;
        // Packets others want sent through our TX queue.
        if (ring *r = tx_in[w]) {
            const std::size_t n = r->pop(batch, burst_size);
            for (std::size_t i = 0; i < n; ++i) queue_tx(batch[i]->port, batch[i]);
        }
        ring *r = in[w];
        if (r == nullptr) continue;
        const std::size_t n = r->pop(batch, burst_size);
        if (n == 0) continue;
        tcp_item local[burst_size];
        std::uint16_t nl = 0;
        for (std::size_t i = 0; i < n; ++i) {
            rte_mbuf *m = batch[i];
            auto *f = rte_pktmbuf_mtod(m, std::uint8_t *);
            if (load_be16(f + 12) == wire::ethertype_arp) {
                // A copy to learn from; the receiving worker answered the original.
                (void)answer[m->port]->on_frame(std::span<std::uint8_t>(f, rte_pktmbuf_data_len(m)), false, now, false);
                rte_pktmbuf_free(m);
                if (!waiting.empty()) release_waiting_for_learned();
                continue;
            }
            ++stats.dispatched_in;
            const std::uint16_t l4 = static_cast<std::uint16_t>(m->l2_len + m->l3_len);
            verdict v{};
            v.what = verdict::kind::deliver_tcp;
            v.l4_offset = l4;
            v.l4_length = static_cast<std::uint16_t>(load_be16(f + 14 + 2) - m->l3_len);
            v.src = ipv4_addr{load_be32(f + 14 + 12)};
            v.dst = ipv4_addr{load_be32(f + 14 + 16)};
            const tcp::four_tuple t{v.dst, v.src, load_be16(f + l4 + 2), load_be16(f + l4)};
            // The sender parsed only what steering needed: the TCP header is read here.
            local[nl++] = tcp_item{m, m->port, v, t, 0, nullptr};
        }
        tcp_burst(local, nl);
    }
}

void worker::tcp_burst(tcp_item *items, std::uint16_t n) {
    // Hash the whole burst and prefetch its table buckets before the first lookup.
    for (std::uint16_t i = 0; i < n; ++i) {
        items[i].hash = shard->hash(items[i].t);
        shard->prefetch(items[i].hash);
    }
    for (std::uint16_t i = 0; i < n; ++i) tcp_input(items[i]);
}

void worker::tcp_input(const tcp_item &it) {
    rte_mbuf *m = it.m;
    const auto *f = rte_pktmbuf_mtod(m, const std::uint8_t *);
    tcp::segment seg;
    if (it.fast != nullptr) {
        const wire::fast_tcp_frame &ff = *it.fast;
        seg = tcp::segment{.seq = ff.seq, .ack = ff.ack, .flags = ff.flags, .window = ff.window,
                           .options = ff.options, .payload = ff.payload};
    } else if (!parse_tcp_general(it, seg)) {
        return;
    }
    current = m;
    current_tuple = it.t;
    current_src = wire::load_mac(f + 6);
    shard->input(it.t, it.hash, seg);
    current = nullptr;
    rte_pktmbuf_free(m); // held bytes took their own reference
}

// The TCP header and options of a segment parse_fast did not take, through the general
// parsers, which decide and count every drop (and free the mbuf: false).
bool worker::parse_tcp_general(const tcp_item &it, tcp::segment &seg) {
    rte_mbuf *m = it.m;
    const auto *f = rte_pktmbuf_mtod(m, const std::uint8_t *);
    const std::span<const std::uint8_t> bytes(f + it.v.l4_offset, it.v.l4_length);
    const l4_checksum l4 = device_l4_checksum(shared->ports[it.port_index], m);
    if (l4 == l4_checksum::bad) {
        stats.count(wire::drop_reason::tcp_bad_checksum);
        shard->count_bad_segment(true);
        rte_pktmbuf_free(m);
        return false;
    }
    const auto tv = wire::parse_tcp(bytes, it.v.src, it.v.dst,
                                    l4 == l4_checksum::skip ? wire::checksum_mode::skip : wire::checksum_mode::verify);
    if (!tv) {
        stats.count(tv.error());
        shard->count_bad_segment(tv.error() == wire::drop_reason::tcp_bad_checksum);
        rte_pktmbuf_free(m);
        return false;
    }
    const auto opts = wire::parse_tcp_options(tv->options);
    if (!opts) {
        stats.count(opts.error());
        shard->count_bad_segment(false);
        rte_pktmbuf_free(m);
        return false;
    }
    seg = tcp::segment{.seq = tv->seq, .ack = tv->ack, .flags = tv->flags, .window = tv->window,
                       .options = *opts, .payload = tv->payload};
    return true;
}

// --- transmit -----------------------------------------------------------------------------

std::optional<std::uint16_t> worker::port_for(ipv4_addr local) const noexcept {
    for (std::uint16_t i = 0; i < shared->ports.size(); ++i) {
        const port_info &p = shared->ports[i];
        if (p.address.addr == local || local.value - p.extra_first.value < p.extra_count) return i;
    }
    return std::nullopt;
}

std::optional<flow::conn_id> worker::connect(ipv4_addr remote, std::uint16_t rport, flow::application &app,
                                             std::uint64_t user, connect_error *why) noexcept {
    const auto fail = [why](connect_error e) -> std::optional<flow::conn_id> {
        if (why != nullptr) *why = e;
        return std::nullopt;
    };
    // The port that reaches `remote`: on its link first, else through a gateway.
    std::optional<std::uint16_t> pi;
    for (std::uint16_t i = 0; i < shared->ports.size() && !pi; ++i)
        if (shared->ports[i].address.contains(remote)) pi = i;
    for (std::uint16_t i = 0; i < shared->ports.size() && !pi; ++i)
        if (shared->ports[i].gateway) pi = i;
    if (!pi) return fail(connect_error::no_route);
    const port_info &p = shared->ports[*pi];
    const std::uint32_t sources = p.extra_count > 0 ? p.extra_count : 1;
    const std::uint16_t lo = shared->source_port_lo, hi = shared->source_port_hi;
    // Try each source address once, starting where the last connect() left off; on
    // each, the first free port at or after the cursor that steers back to this lcore.
    // The address turns fastest and the port cursor moves on once per round of the
    // addresses, so every address-port pair is used before any comes back: moving both
    // at once would repeat after lcm(addresses, ports) connections (8,064,000 for 1,000
    // addresses), and the peer would still hold those 4-tuples in TIME-WAIT.
    for (std::uint32_t tried = 0; tried < sources; ++tried) {
        // The cursor stays below `sources` (it wraps just below), so no division.
        const std::uint32_t k = next_source < sources ? next_source : 0;
        next_source = k + 1 == sources ? 0 : k + 1;
        const ipv4_addr local = p.extra_count > 0 ? ipv4_addr{p.extra_first.value + k} : p.address.addr;
        // Each candidate port is tried by opening it: one probe both checks that the
        // 4-tuple is free (no connection, no TIME-WAIT entry) and reserves it.
        std::optional<flow::conn_id> id;
        bool no_memory = false;
        const auto try_open = [&](std::uint16_t lport) {
            const auto r = shard->open(tcp::four_tuple{local, remote, lport, rport}, app, user);
            if (r.status == flow::shard::open_status::opened) id = r.id;
            no_memory = r.status == flow::shard::open_status::no_memory;
            return r.status != flow::shard::open_status::tuple_taken;
        };
        const auto port = device::choose_source_port(shared->hash, shared->reta, index, local, remote, rport, lo, hi,
                                                      next_port, try_open);
        if (!port) continue;
        if (k + 1 == sources) next_port = static_cast<std::uint16_t>(*port == hi ? lo : *port + 1);
        if (no_memory) return fail(connect_error::no_memory);
        return id;
    }
    return fail(connect_error::no_source);
}

void worker::queue_tx(std::uint16_t pi, rte_mbuf *m) {
    if (txq[pi] < 0) {
        // No TX queue of ours on this port: the worker that has one sends it.
        m->port = pi;
        if (!tx_out[tx_owner[pi]]->push(m)) {
            stats.count(local_drop::dispatch_full);
            rte_pktmbuf_free(m);
        }
        return;
    }
    tx_stage &s = txs[pi];
    if (s.head + s.count == s.buf.size()) {
        // At the end of the buffer: try the device, then move what it left to the front.
        flush(pi);
        if (s.head > 0 && s.count > 0) std::memmove(s.buf.data(), s.buf.data() + s.head, s.count * sizeof(rte_mbuf *));
        s.head = 0;
        if (s.count == s.buf.size()) {
            // A whole stage waiting on a device that takes nothing: this one is dropped.
            stats.count(local_drop::tx_full);
            rte_pktmbuf_free(m);
            return;
        }
    }
    s.buf[s.head + s.count++] = m;
    // A burst's worth is ready: send it now rather than at the end of the turn (while
    // the device refuses, once per burst's worth, so a full ring costs little).
    if (s.count % tx_batch_size == 0) flush(pi);
}

// Sends what the stage holds, a burst of tx_batch_size at a time, until the device
// takes less than a whole burst. What it refuses (its ring is full: net_tap when the
// kernel's queue is, memif when the peer lags) stays staged, in order, for the next
// flush rather than being dropped: a dropped segment costs a retransmission timeout.
// Nothing is retried in a loop, so a stuck queue never stalls the lcore.
void worker::flush(std::uint16_t pi) {
    tx_stage &s = txs[pi];
    while (s.count > 0) {
        const auto n = static_cast<std::uint16_t>(std::min<std::uint32_t>(s.count, tx_batch_size));
        rte_mbuf **b = s.buf.data() + s.head;
        // Lengths are read before the burst: a sent mbuf belongs to the driver, which
        // may free it at once.
        std::uint32_t len[tx_batch_size];
        for (std::uint16_t i = 0; i < n; ++i) len[i] = rte_pktmbuf_pkt_len(b[i]);
        const std::uint16_t sent = rte_eth_tx_burst(shared->ports[pi].port_id, static_cast<std::uint16_t>(txq[pi]), b, n);
        for (std::uint16_t i = 0; i < sent; ++i) {
            ++stats.tx_frames;
            stats.tx_bytes += len[i];
        }
        s.head += sent;
        s.count -= sent;
        if (sent < n) break;
    }
    if (s.count == 0) s.head = 0;
    static_assert(config::max_ports <= 64, "tx_refused holds one bit per port");
    const std::uint64_t bit = std::uint64_t{1} << pi;
    tx_refused = s.count > 0 ? tx_refused | bit : tx_refused & ~bit;
}

void worker::drop_unsent() {
    for (tx_stage &s : txs) {
        for (std::uint32_t i = 0; i < s.count; ++i) {
            stats.count(local_drop::tx_full);
            rte_pktmbuf_free(s.buf[s.head + i]);
        }
        s.head = s.count = 0;
    }
    tx_refused = 0;
}

void worker::flush_all() {
    for (std::uint16_t pi = 0; pi < txs.size(); ++pi) flush(pi);
}

void worker::send_arp_request(std::uint16_t pi, ipv4_addr target, std::optional<mac_addr> unicast) {
    rte_mbuf *m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
        stats.count(local_drop::tx_no_mbuf);
        return;
    }
    auto *b = reinterpret_cast<std::uint8_t *>(rte_pktmbuf_append(m, 14 + wire::arp_len));
    const port_info &p = shared->ports[pi];
    const mac_addr dst = unicast ? *unicast : mac_addr::broadcast();
    wire::store_mac(b, dst);
    wire::store_mac(b + 6, p.mac);
    store_be16(b + 12, wire::ethertype_arp);
    // RFC 826: the target hardware address is unknown, so zero.
    wire::write_arp(std::span<std::uint8_t>(b + 14, wire::arp_len), wire::arp_op::request, p.mac, p.address.addr,
                    mac_addr{}, target);
    ++stats.arp_out_requests;
    queue_tx(pi, m);
}

// The slot of the (port, hop) key in the template map: the template's index when it is
// there, no_hop (in an empty slot) when it is not; null when the map is full and the
// key is absent.
std::uint32_t *worker::hop_slot(std::uint16_t pi, ipv4_addr hop) noexcept {
    const std::uint64_t key = (std::uint64_t{pi} + 1) << 32 | hop.value;
    const auto mask = static_cast<std::uint32_t>(hop_keys.size() - 1);
    for (auto i = static_cast<std::uint32_t>((key * 0x9E3779B97F4A7C15ull) >> 40) & mask, n = 0u; n <= mask;
         i = (i + 1) & mask, ++n) {
        if (hop_keys[i] == key) return &hop_index[i];
        if (hop_keys[i] == 0) {
            if (hops.size() == max_hops) return nullptr;
            hop_keys[i] = key;
            hop_index[i] = no_hop;
            return &hop_index[i];
        }
    }
    return nullptr;
}

// Keeps `t` as the template of (port, hop), replacing an older one (a MAC that
// changed is changed for every connection through the hop); its index, or no_hop when
// the map is full.
std::uint32_t worker::keep_template(std::uint16_t pi, ipv4_addr hop, const header_template &t) noexcept {
    std::uint32_t *slot = hop_slot(pi, hop);
    if (slot == nullptr) return no_hop;
    if (*slot == no_hop) {
        *slot = static_cast<std::uint32_t>(hops.size());
        hops.push_back(t); // reserved: never reallocates
        hop_made.push_back(last_tick);
    } else {
        hops[*slot] = t;
        hop_made[*slot] = last_tick;
    }
    return *slot;
}

// The template for a segment of `t`: its next hop's, when the MAC is known and was
// confirmed within arp_refresh_ms; otherwise made from ARP (asking again when the entry
// is old) and kept for the hop. When ARP does not know the MAC (and the segment being
// answered does not show it), the packet waits for resolution: `parked` says the
// caller must hand it over rather than send it. `hop` is the kept template's index
// (no_hop when it was not kept). Null when there is no route.
const header_template *worker::find_template(const tcp::four_tuple &t, header_template &scratch, rte_mbuf *m,
                                             bool &parked, std::uint32_t &hop_out) {
    parked = false;
    hop_out = no_hop;
    const auto pi = port_for(t.local_ip);
    if (!pi) {
        stats.count(local_drop::no_route);
        return nullptr;
    }
    const port_info &p = shared->ports[*pi];
    ipv4_addr hop = t.remote_ip;
    if (!p.address.contains(t.remote_ip)) {
        if (!p.gateway) {
            stats.count(local_drop::no_route);
            return nullptr;
        }
        hop = *p.gateway;
    }
    const tick now = last_tick;
    if (const std::uint32_t *slot = hop_slot(*pi, hop);
        slot != nullptr && *slot != no_hop && now.value - hop_made[*slot].value < arp_refresh_ms) {
        hop_out = *slot;
        return &hops[*slot];
    }
    const auto kept = [&](const header_template &made) -> const header_template * {
        hop_out = keep_template(*pi, hop, made);
        if (hop_out == no_hop) {
            scratch = made;
            return &scratch;
        }
        return &hops[hop_out];
    };
    if (port_for(hop) == pi) {
        // Talking to ourselves (both ends on one port, as over a net_ring loopback): the
        // frame goes to our own MAC, with no ARP, which never answers its own address.
        return kept(make_template(p.mac, p.mac, *pi));
    }
    if (const auto e = arp.lookup_entry(hop); e && now.value - e->updated.value < arp_expire_ms) {
        if (now.value - e->updated.value > arp_refresh_ms && now.value - e->probed.value > arp_retry_ms) {
            // Still trusted, but old: ask the owner directly, as Linux's neighbour
            // probes do, and keep using the entry meanwhile.
            arp.mark_probed(hop, now);
            send_arp_request(*pi, hop, e->mac);
        }
        return kept(make_template(p.mac, e->mac, *pi));
    }
    if (current != nullptr && current_tuple == t) {
        // Answering a segment that just came from this peer: its frame's source is the
        // next hop back.
        return kept(make_template(p.mac, current_src, *pi));
    }
    if (m == nullptr) return nullptr;
    if (waiting.size() >= arp_waiting_max) {
        stats.count(local_drop::arp_unresolved);
        return nullptr;
    }
    // Ask once per retry interval per next hop, not once per packet.
    bool asked_recently = false;
    for (const auto &w : waiting)
        if (w.next_hop == hop && now.value - w.asked.value < arp_retry_ms) asked_recently = true;
    waiting.push_back(waiting_packet{m, hop, *pi, now, now});
    if (!asked_recently) send_arp_request(*pi, hop, std::nullopt);
    parked = true;
    scratch = make_template(p.mac, mac_addr{}, *pi);
    scratch.ready = false; // not to be kept: the MAC is filled in on release
    return &scratch;
}

void worker::release_waiting_for_learned() {
    for (std::size_t i = 0; i < waiting.size();) {
        const auto e = arp.lookup(waiting[i].next_hop);
        if (!e) {
            ++i;
            continue;
        }
        rte_mbuf *m = waiting[i].m;
        wire::store_mac(rte_pktmbuf_mtod(m, std::uint8_t *), *e);
        queue_tx(waiting[i].port_index, m);
        waiting[i] = waiting.back();
        waiting.pop_back();
    }
}

void worker::transmit(flow::conn_id id, const tcp::four_tuple &t, const tcp::out_segment &s,
                      std::uint32_t offset) noexcept {
    rte_mbuf *m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
        // The core's retransmission timer recovers; a reset is simply not sent.
        stats.count(local_drop::tx_no_mbuf);
        return;
    }
    // The connection's next hop template while it is fresh: one compare, no lookup.
    const header_template *tmpl = nullptr;
    header_template scratch;
    bool parked = false;
    if (id != flow::no_conn && ext[id].hop != no_hop &&
        last_tick.value - hop_made[ext[id].hop].value < arp_refresh_ms) {
        tmpl = &hops[ext[id].hop];
    } else {
        std::uint32_t hop = no_hop;
        tmpl = find_template(t, scratch, m, parked, hop);
        if (tmpl == nullptr) {
            rte_pktmbuf_free(m);
            return;
        }
        if (id != flow::no_conn) ext[id].hop = hop;
    }
    const port_info &p = shared->ports[tmpl->port_index];
    const std::size_t opt = wire::tcp_options_size(s.options);
    const std::size_t hdr = eth_ipv4_tcp_len + opt;
    auto *b = reinterpret_cast<std::uint8_t *>(rte_pktmbuf_append(m, static_cast<std::uint16_t>(hdr + s.payload_len)));
    if (b == nullptr) {
        // More than one mbuf holds: the configuration's MTU outgrew the mbuf size.
        stats.count(local_drop::tx_too_big);
        if (parked) waiting.pop_back();
        rte_pktmbuf_free(m);
        return;
    }
    std::uint32_t payload_sum = 0;
    if (s.payload_len > 0) {
        // Copy the bytes from the send stream, from `offset` on.
        const conn_ext &e = ext[id];
        std::uint32_t pos = e.head_off + offset;
        const rte_mbuf *src = e.head;
        while (src != nullptr && pos >= src->data_len) {
            pos -= src->data_len;
            src = src->next;
        }
        std::uint8_t *dst = b + hdr;
        std::uint32_t left = s.payload_len;
        while (left > 0 && src != nullptr) {
            const std::uint32_t k = std::min<std::uint32_t>(left, src->data_len - pos);
            std::memcpy(dst, rte_pktmbuf_mtod_offset(src, const std::uint8_t *, pos), k);
            dst += k;
            left -= k;
            pos = 0;
            src = src->next;
        }
        if (p.tx_offload != checksum_offload::ipv4_tcp)
            payload_sum = wire::csum_partial(std::span<const std::uint8_t>(b + hdr, s.payload_len));
    }
    write_segment_headers(std::span<std::uint8_t>(b, hdr), *tmpl, t, s, payload_sum, p.tx_offload);
    if (p.tx_offload != checksum_offload::none) {
        m->l2_len = 14;
        m->l3_len = 20;
        m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
        if (p.tx_offload == checksum_offload::ipv4_tcp) m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
    }
    ++stats.ip_out_requests;
    if (!parked) queue_tx(tmpl->port_index, m);
}

std::uint32_t worker::append(flow::conn_id id, std::span<const std::uint8_t> bytes) noexcept {
    conn_ext &e = ext[id];
    std::size_t done = 0;
    while (done < bytes.size()) {
        if (e.tail == nullptr || rte_pktmbuf_tailroom(e.tail) == 0) {
            rte_mbuf *m = rte_pktmbuf_alloc(pool);
            if (m == nullptr) {
                stats.count(local_drop::send_no_mbuf);
                break;
            }
            // Linked through `next` as a plain list: these are storage, never sent as a
            // chain, so pkt_len and nb_segs stay those of single mbufs.
            if (e.tail != nullptr)
                e.tail->next = m;
            else
                e.head = m;
            e.tail = m;
        }
        const std::size_t k = std::min<std::size_t>(rte_pktmbuf_tailroom(e.tail), bytes.size() - done);
        std::memcpy(rte_pktmbuf_mtod_offset(e.tail, std::uint8_t *, e.tail->data_len), bytes.data() + done, k);
        e.tail->data_len = static_cast<std::uint16_t>(e.tail->data_len + k);
        e.tail->pkt_len = e.tail->data_len;
        done += k;
    }
    e.bytes += static_cast<std::uint32_t>(done);
    return static_cast<std::uint32_t>(done);
}

void worker::release_sent(flow::conn_id id, std::uint32_t n) noexcept {
    conn_ext &e = ext[id];
    n = std::min(n, e.bytes);
    e.bytes -= n;
    while (n > 0 && e.head != nullptr) {
        const std::uint32_t avail = e.head->data_len - e.head_off;
        if (n < avail) {
            e.head_off += n;
            return;
        }
        n -= avail;
        rte_mbuf *next = e.head->next;
        e.head->next = nullptr;
        rte_pktmbuf_free(e.head);
        e.head = next;
        e.head_off = 0;
    }
    if (e.head == nullptr) e.tail = nullptr;
}

void worker::forget(flow::conn_id id) noexcept {
    conn_ext &e = ext[id];
    while (e.head != nullptr) {
        rte_mbuf *next = e.head->next;
        e.head->next = nullptr;
        rte_pktmbuf_free(e.head);
        e.head = next;
    }
    e = conn_ext{};
}

std::uint64_t worker::hold(flow::conn_id, seq32 first, std::span<const std::uint8_t> bytes) noexcept {
    if (current == nullptr || held_free_.empty()) return 0;
    const std::uint32_t i = held_free_.back();
    held_free_.pop_back();
    rte_mbuf_refcnt_update(current, 1);
    held_[i] = held_segment{current, first, bytes.data(), static_cast<std::uint32_t>(bytes.size())};
    return std::uint64_t{i} + 1;
}

tcp::sink::held_bytes worker::held(std::uint64_t handle) noexcept {
    if (handle == 0 || handle > held_.size()) return {};
    const held_segment &h = held_[handle - 1];
    if (h.m == nullptr) return {};
    return {h.first, std::span<const std::uint8_t>(h.data, h.len)};
}

void worker::release(std::uint64_t handle) noexcept {
    if (handle == 0 || handle > held_.size()) return;
    held_segment &h = held_[handle - 1];
    if (h.m == nullptr) return;
    rte_pktmbuf_free(h.m);
    h = held_segment{};
    held_free_.push_back(static_cast<std::uint32_t>(handle - 1));
}

// --- time ---------------------------------------------------------------------------------

void worker::on_tick(tick now) {
    shard->run_timers();
    // Packets whose next hop never answered: asked again each second, dropped after
    // a few.
    for (std::size_t i = 0; i < waiting.size();) {
        waiting_packet &w = waiting[i];
        if (now.value - w.since.value >= arp_give_up_ms) {
            stats.count(local_drop::arp_unresolved);
            rte_pktmbuf_free(w.m);
            w = waiting.back();
            waiting.pop_back();
            continue;
        }
        if (now.value - w.asked.value >= arp_retry_ms) {
            for (auto &o : waiting)
                if (o.next_hop == w.next_hop) o.asked = now;
            send_arp_request(w.port_index, w.next_hop, std::nullopt);
        }
        ++i;
    }
}

void worker::loop() {
    // A relaxed load is enough: the flag only asks the loop to end soon, it orders no
    // data; what the loop did is read after rte_eal_mp_wait_lcore().
    reader.online();
    while (!stop->load(std::memory_order_relaxed)) {
        // Between two turns no burst is in flight: a driver waiting to unmap its rings
        // may go ahead.
        reader.quiescent();
        const std::uint64_t tsc = rte_rdtsc();
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

// --- telemetry ----------------------------------------------------------------------------

runtime *telemetry_target = nullptr; // set while a runtime exists; DPDK's callbacks take no context

void add_counters(rte_tel_data *d, const counters &c, const tcp::counters &t) {
    for_each_counter(c, t, [&](std::string_view name, std::uint64_t v, bool) {
        rte_tel_data_add_dict_u64(d, std::string(name).c_str(), v);
    });
}

int telemetry_stats(const char *, const char *, rte_tel_data *d) {
    if (telemetry_target == nullptr) return -1;
    rte_tel_data_start_dict(d);
    add_counters(d, telemetry_target->totals(), telemetry_target->tcp_totals());
    return 0;
}

int telemetry_states(const char *, const char *, rte_tel_data *d) {
    if (telemetry_target == nullptr) return -1;
    rte_tel_data_start_dict(d);
    const auto snap = telemetry_target->snapshot();
    for (std::size_t s = 2; s < tcp::state_count; ++s) { // CLOSED is never held; LISTEN is no connection
        std::uint64_t n = 0;
        for (const auto &w : snap) n += w.tcp.in_state[s];
        if (static_cast<tcp::state>(s) == tcp::state::time_wait)
            for (const auto &w : snap) n += w.time_wait_entries;
        // Telemetry names take letters, digits and underscores: "TIME_WAIT".
        std::string name(tcp::to_string(static_cast<tcp::state>(s)));
        std::replace(name.begin(), name.end(), '-', '_');
        rte_tel_data_add_dict_u64(d, name.c_str(), n);
    }
    return 0;
}

int telemetry_lcores(const char *, const char *, rte_tel_data *d) {
    if (telemetry_target == nullptr) return -1;
    rte_tel_data_start_dict(d);
    for (const auto &w : telemetry_target->snapshot()) {
        rte_tel_data *c = rte_tel_data_alloc();
        if (c == nullptr) return -ENOMEM;
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_u64(c, "lcore", w.lcore_id);
        rte_tel_data_add_dict_u64(c, "connections", w.connections);
        rte_tel_data_add_dict_u64(c, "time_wait_entries", w.time_wait_entries);
        rte_tel_data_add_dict_u64(c, "CurrEstab", w.tcp.curr_estab);
        rte_tel_data_add_dict_u64(c, "PassiveOpens", w.tcp.passive_opens);
        rte_tel_data_add_dict_u64(c, "ActiveOpens", w.tcp.active_opens);
        rte_tel_data_add_dict_u64(c, "InSegs", w.tcp.in_segs);
        rte_tel_data_add_dict_u64(c, "OutSegs", w.tcp.out_segs);
        rte_tel_data_add_dict_u64(c, "RxFrames", w.engine.rx_frames);
        rte_tel_data_add_dict_u64(c, "TxFrames", w.engine.tx_frames);
        rte_tel_data_add_dict_u64(c, "DispatchedIn", w.engine.dispatched_in);
        rte_tel_data_add_dict_u64(c, "DispatchedOut", w.engine.dispatched_out);
        rte_tel_data_add_dict_u64(c, "Dropped", w.engine.total_dropped());
        const std::string key = fmt::format("worker{}", w.worker);
        rte_tel_data_add_dict_container(d, key.c_str(), c, 0);
    }
    return 0;
}

} // namespace

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

    telemetry_target = this;
    rte_telemetry_register_cmd("/linerate/stats", telemetry_stats,
                               "linerate's counters, summed over lcores: the TCP MIB, IP/ICMP/ARP, and every drop reason");
    rte_telemetry_register_cmd("/linerate/tcp/states", telemetry_states,
                               "TCP connections by state (TIME-WAIT includes TIME-WAIT entries)");
    rte_telemetry_register_cmd("/linerate/lcores", telemetry_lcores, "per-lcore counters and connection counts");
}

runtime::~runtime() {
    auto &d = *impl_;
    telemetry_target = nullptr;
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

bool runtime::listen(std::uint16_t port, const std::function<flow::application &(unsigned worker)> &app_for) {
    auto &d = *impl_;
    for (auto &w : d.workers) {
        flow::application &app = app_for(w->index);
        for (const auto &p : d.shared.ports)
            if (!w->shard->listen(p.address.addr, port, app)) return false;
    }
    return true;
}

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
    counters sum;
    for (const auto &w : impl_->workers) sum += relaxed_copy(w->stats);
    return sum;
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
