// linerate-client's work on one lcore: open connections at the paced rate (the poller),
// send the request(s), read the responses, end each connection as --close says, and
// count and time what happened (the callbacks). One generator per lcore; nothing here
// is shared between lcores except the run's phase, which the control thread sets and
// the lcores only read.
//
// The callbacks are a linerate::handler's, acting through the lcore_context they are
// given, as an embedder's do. Opening is not: it runs every loop turn, polled behind the
// lcore's context (lcore_state::chain), and it needs what only the engine knows (a
// device queue backed up) and tells apart why an open failed, so it connects through
// the engine's lcore directly.
#pragma once

#include "histogram.hpp"
#include "pacer.hpp"
#include "response.hpp"

#include <linerate/engine/runtime.hpp>
#include <linerate/handler.hpp>
#include <linerate/tcp/segment.hpp>
#include <linerate/types.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace linerate::client {

enum class close_mode : std::uint8_t {
    client, // the client closes after its last response (it holds TIME-WAIT)
    server, // the client waits for the server's FIN, then closes
    reset,  // the client resets the connection after its last response
};

inline constexpr std::uint64_t unlimited = ~std::uint64_t{0};

// --flood: instead of connections, segments of no connection from random sources (the
// floods firewall and appliance testers send, and what issue 14's flood tests throw at
// a listener). Stateless: nothing is kept, and nothing answers for those sources.
enum class flood_kind : std::uint8_t { none, syn, ack, rst, fin };
[[nodiscard]] std::optional<flood_kind> parse_flood_kind(std::string_view s) noexcept;
[[nodiscard]] std::string_view to_string(flood_kind k) noexcept;

struct flood_sources {
    ipv4_addr first{};
    std::uint32_t count = 1; // addresses from first on
    std::uint16_t port_lo = 1024, port_hi = 65535;
};

struct settings {
    // The destinations, `target_count` addresses from `target` on and
    // `target_port_count` ports from `target_port` on, each open taking the next
    // (addresses first, then ports), as the sources are taken.
    ipv4_addr target{};
    std::uint16_t target_port = 80;
    std::uint32_t target_count = 1;
    std::uint32_t target_port_count = 1;
    double rate = 0;                 // per lcore; 0: as fast as --concurrency allows
    double ramp_s = 0;
    std::uint64_t concurrency = 0;   // per lcore; cap on open connections
    std::uint64_t connections = unlimited; // per lcore (the duration ends an unlimited run)
    std::uint32_t requests_per_connection = 1;
    std::uint32_t response_size = 0; // raw requests: bytes expected back
    bool no_response = false;        // raw requests with --response-size 0: nothing comes back (discard)
    close_mode close = close_mode::server;
    std::span<const std::uint8_t> request{};
    std::uint32_t opens_per_turn = 64; // bounds one loop turn's work with --rate 0
    // --hold: how long a connection stays open after its last response (or after the
    // handshake, with no requests) before it ends as `close` says; --request-interval:
    // the pause between a response and the next request on a connection. Microseconds.
    // With --rate and --concurrency they set a connection's lifetime, so a run that
    // builds N connections at rate R and holds them (RFC 3511 §5.2's concurrent
    // connection capacity) is one command.
    std::uint64_t hold_us = 0;
    std::uint64_t request_interval_us = 0;
    // With a flood: `rate`, `connections` and the pacing count segments, not connections.
    flood_kind flood = flood_kind::none;
    flood_sources sources{};
    std::uint64_t seed = 1; // of the flood's sources and sequence numbers, per lcore
};

// Why a connection failed. Each has a counter; "unfinished" are those still open when
// the run ended (they are reset).
enum class failure : std::uint8_t {
    refused,         // RST in answer to our SYN
    connect_timeout, // SYN retransmissions ran out
    reset,           // the server reset an established connection early
    timeout,         // retransmissions ran out after the handshake
    closed_early,    // the server closed before the last response was complete
    bad_response,    // a response this client cannot follow (or not 2xx)
    no_route,        // no port reaches the target
    unfinished,      // still open at the end of the run
    count_
};
inline constexpr std::size_t failure_count = static_cast<std::size_t>(failure::count_);
[[nodiscard]] std::string_view to_string(failure f) noexcept;

// Counters of one lcore. All 64-bit words, written only by their lcore; the control
// thread reads them word by word (relaxed), as the engine's are read.
struct gen_counters {
    std::uint64_t opened = 0;        // connect() gave a connection
    std::uint64_t established = 0;
    std::uint64_t completed = 0;     // every response read and the connection ended as asked
    std::uint64_t failed = 0;        // sum of `failures`
    std::uint64_t requests = 0;      // requests handed to TCP whole
    std::uint64_t responses = 0;     // responses read whole
    std::uint64_t bytes_out = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t resets_in = 0;     // connections ended by the peer's RST (refused or reset)
    std::uint64_t timeouts = 0;      // connections ended by retransmission timeout
    std::uint64_t closed = 0;        // on_closed calls: open = opened - closed
    // Opens put off for a limit of this end, not failures of a connection: [0] no free
    // local address and port (TIME-WAIT holds them all), [1] the connection pool is full.
    std::array<std::uint64_t, 2> deferred{};
    // Opens that fell due in a paced run but were not made (TX ring backed up,
    // concurrency cap, a limit of this end) and are forgotten rather than made later in
    // a burst: opened + missed is what the pacer asked for.
    std::uint64_t missed = 0;
    std::uint64_t flood_sent = 0; // --flood: segments handed to the device
    std::array<std::uint64_t, failure_count> failures{};
};

// The run's phase, set by the control thread.
struct run_phase {
    std::atomic<bool> started{false}; // after --warmup
    std::atomic<bool> opening{true};
};

class generator final : public handler, public engine::poller {
public:
    generator(const settings &s, const run_phase &phase, std::uint32_t max_connections);

    // engine::poller: opens what is due.
    void poll(engine::lcore &l) noexcept override;

    // handler
    void on_connected(lcore_context &ctx, conn c) override;
    void on_data(lcore_context &ctx, conn c, std::span<const std::byte> data) override;
    void on_writable(lcore_context &ctx, conn c) override;
    void on_peer_closed(lcore_context &ctx, conn c) override;
    void on_closed(lcore_context &ctx, conn c, close_reason why) override;

    [[nodiscard]] const gen_counters &stats() const noexcept { return stats_; }
    // The lcore's loop has polled this generator at least once: it is running, and a
    // run started now starts here within a loop turn.
    [[nodiscard]] bool polling() const noexcept { return polled_.load(std::memory_order_relaxed); }
    // This lcore has opened all it was asked to (with --connections).
    [[nodiscard]] bool quota_done() const noexcept { return quota_done_.load(std::memory_order_relaxed); }
    // Read after the run only.
    [[nodiscard]] const histogram &connect_us() const noexcept { return connect_; }
    [[nodiscard]] const histogram &first_byte_us() const noexcept { return first_byte_; }
    [[nodiscard]] const histogram &connection_us() const noexcept { return whole_; }

    // The context the callbacks act through, for what this generator does on its own
    // time (the held connections and the spaced requests, from poll()).
    void set_context(lcore_context &ctx) noexcept { ctx_ = &ctx; }

    // Latency per interval (the rows' percentiles): the lcore records into one of two
    // pairs of histograms, and the control thread asks it to switch with
    // start_interval(). Once interval_started() says the lcore has switched (it does at
    // its next poll), the lcore writes the other pair only, and the control thread may
    // read the finished one (interval_connect_us, interval_first_byte_us) and must clear
    // it (clear_interval) before it asks for the next switch.
    void start_interval(std::uint32_t n) noexcept { interval_asked_.store(n, std::memory_order_relaxed); }
    [[nodiscard]] bool interval_started(std::uint32_t n) const noexcept {
        return interval_now_.load(std::memory_order_acquire) == n;
    }
    [[nodiscard]] const histogram &interval_connect_us(std::uint32_t n) const noexcept { return connect_iv_[n & 1]; }
    [[nodiscard]] const histogram &interval_first_byte_us(std::uint32_t n) const noexcept {
        return first_byte_iv_[n & 1];
    }
    void clear_interval(std::uint32_t n) noexcept {
        connect_iv_[n & 1] = histogram{};
        first_byte_iv_[n & 1] = histogram{};
    }

private:
    struct conn_state {
        // When it was opened, in microseconds since the run's start (start_us_): 40 bits
        // reach 12.7 days, and the flags share the word, so the state is 24 bytes.
        std::uint64_t start_us : 40 = 0;
        bool established : 1 = false;
        bool got_byte : 1 = false;
        bool done : 1 = false;         // every response read
        bool close_called : 1 = false; // close() or abort() was asked for
        bool waiting : 1 = false;      // in holds_ or spaced_ (see wait_entry)
        std::uint32_t requests_done = 0;
        std::uint32_t request_sent = 0; // bytes of the current request handed to send()
        response_parser parser{};
    };
    // One per connection the client may hold (ten million in the idle scale test).
    static_assert(sizeof(conn_state) <= 24, "the client's per-connection state grew");
    // Microseconds since c was opened.
    [[nodiscard]] std::uint64_t age_us(const conn_state &c, std::uint64_t now) const noexcept {
        return now - start_us_ - c.start_us;
    }
    [[nodiscard]] conn_state &state_of(conn id) noexcept { return conns_[id.id]; }
    void send_request(lcore_context &ctx, conn id, conn_state &c);
    void response_done(lcore_context &ctx, conn id, conn_state &c);
    // The last response is in (or none was asked for): close as --close says.
    void finish(lcore_context &ctx, conn id, conn_state &c);
    // After the last response (or the handshake, with no requests): --hold, then finish.
    void last_response(lcore_context &ctx, conn id, conn_state &c);
    // --request-interval: the next request goes when the interval is over (run_waits).
    void wait_for_next_request(lcore_context &ctx, conn id, conn_state &c);
    // The held connections and spaced requests that are due.
    void run_waits(std::uint64_t now);
    void fail(failure f) noexcept;
    void fall_behind(std::uint64_t now) noexcept;
    void flood(engine::lcore &l, std::uint64_t budget, std::uint64_t now) noexcept;
    [[nodiscard]] std::uint64_t next_random() noexcept;
    // The destination of the next open (or flood segment), cycling the targets.
    [[nodiscard]] std::pair<ipv4_addr, std::uint16_t> next_target() noexcept;

    settings cfg_;
    const run_phase &phase_;
    pacer pacer_;
    std::vector<conn_state> conns_;
    gen_counters stats_{};
    std::atomic<bool> quota_done_{false};
    std::atomic<bool> polled_{false};
    engine::lcore *lcore_ = nullptr; // set on the first poll
    std::uint64_t start_us_ = 0;
    std::uint64_t attempts_ = 0;     // connect() calls, successful or not
    std::uint64_t paced_ = 0;        // opens the pacer made due that were made or forgotten
    histogram connect_, first_byte_, whole_;
    // The rows' histograms (start_interval): the pair [interval & 1] is the lcore's.
    std::array<histogram, 2> connect_iv_{}, first_byte_iv_{};
    std::atomic<std::uint32_t> interval_asked_{0}, interval_now_{0};
    lcore_context *ctx_ = nullptr;
    // A connection waiting for its hold to end or its next request. Every connection
    // waits as long as every other for the same thing, so each queue is in order of due
    // time: a ring (as long as the connection table, since a connection waits in one at
    // most) rather than a timer wheel. `start_us` tells a stale entry (its connection
    // ended and the slot was reused) from a live one.
    struct wait_entry {
        std::uint64_t due_us;
        std::uint64_t start_us;
        std::uint32_t id;
    };
    struct wait_ring {
        std::vector<wait_entry> slots;
        std::size_t head = 0, count = 0;
        void push(const wait_entry &e) noexcept {
            std::size_t i = head + count;
            if (i >= slots.size()) i -= slots.size();
            slots[i] = e;
            ++count;
        }
        void pop() noexcept {
            if (++head == slots.size()) head = 0;
            --count;
        }
    };
    wait_ring holds_, spaced_;
    std::uint64_t rng_; // splitmix64's state: the flood's sources and numbers
    std::uint32_t target_i_ = 0, target_port_i_ = 0;
};

// One segment of a flood: a SYN as scanners and flood tools send it (MSS only), a bare
// ACK, a RST, or a FIN with ACK, with random sequence and acknowledgment numbers.
[[nodiscard]] tcp::out_segment flood_segment(flood_kind k, std::uint64_t random) noexcept;

} // namespace linerate::client
