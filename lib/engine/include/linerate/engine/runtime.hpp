// The runtime: EAL, ports, and one run-to-completion loop per lcore, each the owner of
// a shard of the TCP connections.
//
// Each lcore (a "worker") owns one cache-aligned struct: its RX/TX queues, its shard
// (TCB table, TCB and TIME-WAIT pools, timer wheel), its TX batches, its ARP cache and
// its counters. Nothing on the per-packet path is shared, locked or allocated.
//
// Steering: a port with RSS and a queue per worker spreads flows over the workers with
// a symmetric Toeplitz key, so both directions of a connection meet the same worker.
// A port with fewer queues than workers (net_tap, net_pcap, virtio, many VFs) is polled
// by as many workers as it has queues; they compute the same Toeplitz hash in software
// and hand each TCP segment to its owner over a single-producer single-consumer ring
// (one per ordered pair of workers). A worker without a TX queue of its own on a port
// hands its packets to one that has, the same way. ARP frames are copied to every
// worker, so every ARP cache learns what one worker heard.
//
// The application side is the public API's: a worker's shard calls the
// linerate::handler of each connection directly, with the lcore_context bound to it
// (flow::shard::bind). The engine makes neither handlers nor contexts: liblinerate and
// the programs build one context per worker over lcore_of(w) before run()
// (lib/api/src/lcore_state.hpp), which binds the worker's shard and is also its poller.
#pragma once

#include <linerate/config/config.hpp>
#include <linerate/engine/counters.hpp>
#include <linerate/flow/shard.hpp>
#include <linerate/tcp/counters.hpp>
#include <linerate/tcp/isn.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace linerate::engine {

struct port_summary {
    std::string name;        // from the configuration
    std::string device_name; // DPDK's name, e.g. net_tap0
    std::uint16_t port_id;
    std::string mac;
    std::string address;     // "198.18.0.2/24"
    unsigned rx_queues;
    unsigned tx_queues;
    bool rss;                // the device steers flows to queues
    std::string tx_checksum; // "software", "ipv4" or "ipv4+tcp"
};

// A port's own counts (rte_eth_stats), so that a drop in the NIC can be told from one in
// the stack: what it received and sent, what it missed (its ring full), its errors, and
// what it could not receive for want of an mbuf.
struct port_stats {
    std::string name;
    std::uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0;
    std::uint64_t imissed = 0, ierrors = 0, oerrors = 0, rx_nombuf = 0;
};

// How a runtime is built, beyond its configuration file.
struct runtime_options {
    // A fixed RFC 6528 secret instead of a random one: only for reproducible captures and
    // tests (a published key lets an off-path attacker predict ISNs). Its PRF is SipHash on
    // every machine, so that a capture replays the same everywhere (tcp/isn.hpp).
    std::optional<std::array<std::uint8_t, tcp::isn_generator::key_size>> isn_key;
    // Time stands still at zero: ISNs and timestamps depend only on the key and the
    // 4-tuple, and no timer ever fires. For replaying a capture and comparing what comes
    // out with an expected one; never for traffic that needs retransmission.
    bool frozen_clock = false;
};

// Why lcore::connect() opened nothing.
enum class connect_error : std::uint8_t {
    no_route,    // no port reaches the destination
    no_source,   // every local address and port that this lcore owns is in use with it
    no_memory,   // the connection pool is full
};

// What an lcore offers the code that runs on it (its lcore_context and poller).
class lcore {
public:
    [[nodiscard]] virtual unsigned worker_index() const noexcept = 0;
    [[nodiscard]] virtual unsigned lcore_id() const noexcept = 0;
    [[nodiscard]] virtual flow::shard &tcp() noexcept = 0;
    // Microseconds on this lcore's clock (the one the TCP core is given).
    [[nodiscard]] virtual std::uint64_t now_us() const noexcept = 0;
    // Opens a connection to remote:port from a local address and port that this lcore
    // owns: the source port is chosen so that the peer's segments hash back here (RSS
    // or software steering) and the 4-tuple is in use neither by a connection nor by a
    // TIME-WAIT entry. Sources are the addresses given to add_addresses() on the port
    // that reaches `remote` (its own address when none were given) and the ports of
    // set_source_ports(), taken round-robin.
    // `h` is the new connection's handler, `user` its user word.
    virtual std::optional<flow::conn_id> connect(ipv4_addr remote, std::uint16_t port, handler &h,
                                                 std::uint64_t user, connect_error *why) noexcept = 0;
    // Sends one segment that belongs to no connection, from any source address and
    // port (a load generator's stateless floods): the port that reaches t.remote_ip
    // carries it, whatever t.local_ip is, and nothing answers for that address. False,
    // and nothing sent, when there is no route, no mbuf, or the next hop's MAC is still
    // being asked for (the segment is not kept waiting: a flood would fill that queue).
    virtual bool send_segment(const tcp::four_tuple &t, const tcp::out_segment &s) noexcept = 0;
    [[nodiscard]] virtual const counters &engine_stats() const noexcept = 0;
    // True while a device queue of this lcore holds back frames it refused at the last
    // flush (its ring is full: the peer or the NIC is not keeping up). A load generator
    // opens nothing new meanwhile; frames queued on top of a full batch are dropped
    // (tx_full) and cost a retransmission each, so a burst of SYNs would only feed a
    // storm of synchronised retransmissions.
    [[nodiscard]] virtual bool tx_backlogged() const noexcept = 0;

protected:
    ~lcore() = default;
};

// Code that runs on an lcore's loop, once per turn, after received packets have been
// handled: the lcore's context runs the application timers here, and a load generator
// chained behind it opens connections. It must not block.
class poller {
public:
    virtual void poll(lcore &l) noexcept = 0;

protected:
    ~poller() = default;
};

struct run_options {
    // Stop after this many milliseconds; 0 runs until `stop` is set.
    std::uint64_t duration_ms = 0;
};

// One worker's counters, as another thread reads them (values may be a few increments
// old; see relaxed_copy in runtime.cpp).
struct worker_snapshot {
    unsigned worker = 0;
    unsigned lcore_id = 0;
    counters engine{};
    tcp::counters tcp{};
    flow::shard_counters flow{};
    std::uint64_t connections = 0;
    std::uint64_t time_wait_entries = 0;
};

class runtime {
public:
    // Starts EAL (arguments from the file, then the command line), every port and one
    // shard per lcore. Throws device::error with a message naming what failed.
    runtime(const config::app_config &cfg, const std::string &program, std::span<const std::string> eal_cli_args,
            const runtime_options &opts = {});
    ~runtime();
    runtime(const runtime &) = delete;
    runtime &operator=(const runtime &) = delete;

    [[nodiscard]] const std::vector<port_summary> &ports() const noexcept;
    [[nodiscard]] unsigned workers() const noexcept;
    [[nodiscard]] bool software_dispatch() const noexcept;

    // Listens on `port` at every address of this host (one wildcard listener per worker,
    // as a socket bound to INADDR_ANY: its SYN and accept queues are shared by every
    // port's addresses); handler_for(w) is the handler of the connections worker w
    // accepts (it must outlive run()). Call before run(). Returns false if a worker's
    // listener table is full.
    bool listen(std::uint16_t port, const std::function<handler &(unsigned worker)> &handler_for);

    // Worker w, for building its lcore_context (which binds its shard) before run().
    [[nodiscard]] lcore &lcore_of(unsigned worker) noexcept;

    // More local addresses, [first, first + count), on the port whose prefix holds them:
    // answered for and accepted like the port's own, and the sources of connect().
    // Call before run(). Throws device::error when no port's prefix holds them all.
    void add_addresses(ipv4_addr first, std::uint32_t count);
    // The source ports connect() takes, [lo, hi]; by default 1024..65535.
    void set_source_ports(std::uint16_t lo, std::uint16_t hi);
    // poller_for(w) is polled on worker w's lcore every loop turn (or nullptr for none).
    // Call before run(); the pollers must outlive it.
    void set_pollers(const std::function<poller *(unsigned worker)> &poller_for);

    // Runs the loops on every lcore (the calling thread is the main lcore and runs one
    // too) until `stop` becomes true or the duration has passed; then aborts what is
    // still open, so the peers are told.
    void run(const std::atomic<bool> &stop, const run_options &opts = {});

    // Safe while running, from any thread.
    [[nodiscard]] counters totals() const noexcept;
    // The devices' counts alone (counters::port_*): what totals() adds to the lcores'.
    [[nodiscard]] counters port_counters() const noexcept;
    // Each port's rte_eth_stats, in the configuration's order.
    [[nodiscard]] std::vector<port_stats> ports_stats() const;
    // A port's extended statistics (rte_eth_xstats) that are not zero, by the driver's
    // names: what each NIC counts beyond the basic stats (per-queue drops, pause frames,
    // CRC errors...).
    [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> port_xstats(std::size_t port) const;
    [[nodiscard]] tcp::counters tcp_totals() const noexcept;
    [[nodiscard]] std::vector<worker_snapshot> snapshot() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace linerate::engine
