// What the engine's translation units share: the worker (one per lcore: its queues,
// shard, ARP cache, header templates, TX stage and stream store) and the state every
// worker reads. Internal to lib/engine; runtime.hpp is the interface.
//
// One turn of a worker's loop, as in DPDK's l3fwd:
//   TSC -> ticks (once) -> rx_burst on each of its queues -> prefetch -> classify (ARP,
//   ICMP answered in place; TCP steered to its owner) -> 4-tuple hashes of the burst,
//   table buckets prefetched -> TCP input -> application callbacks (inside the shard)
//   -> segments handed over by other workers -> on a new tick, the timers and ARP
//   upkeep -> TX flush when a batch is full, the turn was idle, or the drain interval
//   has passed.
//
// The worker's code is split along its seams, one file each:
//   rx.cpp          receive, classification, steering to the owning lcore, connect()'s
//                   choice of a source port that steers back;
//   tx.cpp          the TX stage and building segments from header templates;
//   neighbours.cpp  ARP requests, the templates per (port, next hop), packets waiting
//                   for resolution;
//   stream.cpp      the send streams and held out-of-order bytes (flow::io's storage);
//   telemetry.cpp   DPDK telemetry commands;
//   runtime.cpp     the loop, and the runtime that starts and stops the workers.
#pragma once

#include <cassert>

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

namespace linerate::engine::detail {

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
    std::uint16_t vlan = 0;    // 802.1Q VLAN ID of every frame on this port; 0: untagged
    bool vlan_offload = false; // the device strips and inserts the tag
};

// One (port, queue) an lcore polls.
struct rx_queue {
    std::uint16_t port_index = 0;
    std::uint16_t queue_id = 0;
};

// Everything a connection needs beside its TCB on this engine: the bytes of its send
// stream (mbufs linked through `next`, from the first unacknowledged byte) and its
// header template. One per connection of the shard's capacity, so its size counts ten
// million times over: one word, the chain's head mbuf in the low 48 bits (a user-space
// address on x86-64 and AArch64 Linux, which hand out no address above 2^48 unless a
// mapping asks for one) and the hop index in the high 16; what only a connection with
// stored bytes needs (the chain's tail and length, the bytes of the head already
// acknowledged) is in its head mbuf's private area (chain_info).
class conn_ext {
public:
    static constexpr std::uint16_t no_hop = 0xffff;

    [[nodiscard]] rte_mbuf *head() const noexcept { return reinterpret_cast<rte_mbuf *>(word_ & address_mask); }
    void set_head(rte_mbuf *m) noexcept {
        assert((reinterpret_cast<std::uintptr_t>(m) & ~address_mask) == 0);
        word_ = (word_ & ~address_mask) | reinterpret_cast<std::uintptr_t>(m);
    }
    // Its next hop's template (worker::hops), once known.
    [[nodiscard]] std::uint16_t hop() const noexcept { return static_cast<std::uint16_t>(word_ >> 48); }
    void set_hop(std::uint16_t h) noexcept { word_ = (word_ & address_mask) | (std::uint64_t{h} << 48); }

private:
    static constexpr std::uint64_t address_mask = (std::uint64_t{1} << 48) - 1;
    std::uint64_t word_ = std::uint64_t{no_hop} << 48;
};
static_assert(sizeof(conn_ext) == 8, "conn_ext is per connection: see above");

// A send-stream chain's tail, its stored bytes (from head + head_off) and how many bytes
// of the head are already acknowledged (below its data_len), kept in the private area
// of its head mbuf (device::mbuf_priv_size), which the store allocates from its
// worker's pool.
struct chain_info {
    rte_mbuf *tail;
    std::uint32_t bytes;
    std::uint16_t head_off;
};
static_assert(sizeof(chain_info) <= device::mbuf_priv_size, "chain_info outgrew the mbufs' private area");
[[nodiscard]] inline chain_info &chain_of(rte_mbuf *head) noexcept {
    return *static_cast<chain_info *>(rte_mbuf_to_priv(head));
}

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

// From how many connections on a shard tcp_burst looks the TCBs up in a stage of their
// own (shard::look_ahead): 16,384 TCBs are 2 MiB, an L2 cache's size on current cores,
// past which a burst's TCBs are mostly misses (perf/micro table/lookup_and_touch_tcb).
inline constexpr std::uint32_t lookahead_connections = 16384;

struct tcp_item {
    rte_mbuf *m;
    std::uint16_t port_index;
    verdict v;
    tcp::four_tuple t;
    std::uint64_t hash;
    // What wire::parse_fast read from the frame, or nullptr: the general parsers then
    // read the TCP header (a frame the fast path left, or one from another worker).
    const wire::fast_tcp_frame *fast;
    flow::shard::lookahead ahead{}; // tcp_burst's lookup stage
};

// RFC 9293 §3.1 MUST-3: the TCP checksum is verified, by the device when it can.
enum class l4_checksum : std::uint8_t { verify, skip, bad };

inline l4_checksum device_l4_checksum(const port_info &p, const rte_mbuf *m) noexcept {
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
    static_assert(max_hops < conn_ext::no_hop, "a hop index fits conn_ext::hop");
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
    // The segment being input, once nothing refers to its bytes (it has no payload, or
    // the data callbacks have run and hold() kept none of it): the first segment sent
    // afterwards is written into it instead of a new mbuf, as a reply. A SYN's SYN-ACK,
    // the request riding on a SYN-ACK's ACK, the response to a request, a FIN's ACK:
    // one mbuf allocation and one free less each. `current_lent`: it went out so.
    rte_mbuf *reusable = nullptr;
    bool current_lent = false;
    bool reusable_kind = false; // `current` is a plain mbuf of `pool`
    // Storage mbufs of send streams the peer acknowledged, kept for the next append():
    // a request or response of a few bytes takes one and gives it back one round trip
    // later, and a pop and a push cost a tenth of rte_pktmbuf_alloc and _free. Bounded,
    // so what a burst of releases returns beyond it goes back to the pool; drop_unsent
    // frees them at the end.
    static constexpr std::uint16_t spare_store_size = 32;
    std::array<rte_mbuf *, spare_store_size> spare_store{};
    std::uint16_t spare_count = 0;
    void store_free(rte_mbuf *m) noexcept {
        if (spare_count < spare_store_size) {
            m->data_len = 0;
            m->pkt_len = 0;
            spare_store[spare_count++] = m;
        } else {
            rte_pktmbuf_free(m);
        }
    }
    // Received mbufs done with, freed together at the end of a burst.
    std::array<rte_mbuf *, burst_size> rx_done{};
    std::uint16_t rx_done_count = 0;
    // What parse_fast read from each frame of the burst being received, until
    // tcp_burst has input them: here rather than on poll_rx's stack, where 32 of them
    // would be initialised on every burst.
    std::array<wire::fast_tcp_frame, burst_size> rx_fast{};

    void loop();
    void poll_rx(const rx_queue &q, tick now);
    // 802.1Q on a VLAN port: untag() takes a received frame's tag off (false: not this
    // port's VLAN), tag() puts the port's on a frame going out (false: no headroom).
    [[nodiscard]] static bool untag(const port_info &p, rte_mbuf *m) noexcept;
    [[nodiscard]] static bool tag(const port_info &p, rte_mbuf *m) noexcept;
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
    std::optional<flow::conn_id> connect(ipv4_addr remote, std::uint16_t port, handler &h,
                                         std::uint64_t user, connect_error *why) noexcept override;
    bool send_segment(const tcp::four_tuple &t, const tcp::out_segment &s) noexcept override;
    [[nodiscard]] std::optional<std::uint16_t> route_to(ipv4_addr remote) const noexcept;
    const counters &engine_stats() const noexcept override { return stats; }
    bool tx_backlogged() const noexcept override { return tx_refused != 0; }

    // flow::io
    void transmit(flow::conn_id id, const tcp::four_tuple &t, const tcp::out_segment &s,
                  std::uint32_t offset) noexcept override;
    void finish_segment(rte_mbuf *m, std::uint8_t *b, std::size_t hdr, const header_template &tmpl,
                        const tcp::four_tuple &t, const tcp::out_segment &s, std::uint32_t payload_sum) noexcept;
    std::uint32_t append(flow::conn_id id, std::span<const std::uint8_t> bytes) noexcept override;
    void release_sent(flow::conn_id id, std::uint32_t bytes) noexcept override;
    void callbacks_done() noexcept override {
        if (current != nullptr && reusable_kind && !current_lent && rte_mbuf_refcnt_read(current) == 1)
            reusable = current;
    }
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

int worker_main(void *arg);

// DPDK's telemetry commands read `rt` (its public counters and snapshots) until detach.
void attach_telemetry(runtime &rt);
void detach_telemetry() noexcept;

} // namespace linerate::engine::detail
