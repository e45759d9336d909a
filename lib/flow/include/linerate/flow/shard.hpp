// A shard: everything one lcore owns of TCP. Its connection pool, TIME-WAIT log,
// reassembly queues, 4-tuple table, listeners, timer wheel and counters, and the glue
// that turns the TCP core's segments and events into calls on the owner's `io` (packets
// and bytes) and on the connections' handlers (callbacks).
//
// Design choices a reader would otherwise have to reverse-engineer:
//   - Everything is allocated when the shard is built, from the configured limits; after
//     that nothing allocates. A SYN that finds the connection pool full is dropped and
//     counted (ListenDrops, tcp_no_memory): the peer retries, as it does after a
//     listener overflow. A connection entering TIME-WAIT with the log full retires
//     the oldest record early (the one nearest its expiry) and takes its place
//     (TCPTimeWaitOverflow): a full TIME-WAIT log shortens TIME-WAIT for the oldest
//     4-tuple, while keeping the TCB instead would take a connection slot for 2*MSL
//     and, at a high rate, stop the shard from accepting anything.
//   - TIME-WAIT is a log of compact records (time_wait_log.hpp), expired from its head
//     by run_timers(): no timer per entry.
//   - Lookups go to the connection table first, then to the TIME-WAIT log's index (a
//     4-tuple is in at most one of them), then to the listeners. Both are keyed by one
//     hash of the 4-tuple, computed once per segment.
//   - The application is never called from inside the TCP core. Events are queued while
//     the core runs and handed out by settle() once it has returned, so a callback may
//     send, close, abort or connect without re-entering a half-finished input(). Data
//     events point into the received packet (or bytes held out of order), which the
//     owner keeps until input() returns; held bytes the core releases meanwhile are
//     released only after the events are out.
//   - A connection is given back after its `closed` callback, never before: ids stay
//     valid for the whole callback chain that closes them.
//   - The callbacks are the public API's own: each connection and each listener names
//     a linerate::handler, and the shard calls it directly with the lcore_context it
//     was bound to (bind()). There is no layer between the shard and what an embedder
//     or the programs write, so a callback costs one virtual call. The context is the
//     owner's (the engine's per-lcore one, or a flow::shard_context where no engine
//     runs: tests, the simulation, benchmarks); its calls act on this shard. conn::id
//     is the conn_id, and the public close_reason has the core's values.
#pragma once

#include <linerate/base/seq32.hpp>
#include <linerate/base/ticks.hpp>
#include <linerate/flow/pool.hpp>
#include <linerate/flow/table.hpp>
#include <linerate/flow/time_wait_log.hpp>
#include <linerate/handler.hpp>
#include <linerate/tcp/connection.hpp>
#include <linerate/tcp/counters.hpp>
#include <linerate/tcp/isn.hpp>
#include <linerate/tcp/listener.hpp>
#include <linerate/tcp/reassembly.hpp>
#include <linerate/tcp/segment.hpp>
#include <linerate/tcp/settings.hpp>
#include <linerate/tcp/time_wait.hpp>
#include <linerate/timer/wheel.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace linerate::flow {

using conn_id = std::uint32_t;
inline constexpr conn_id no_conn = ~conn_id{0};

// What the shard's owner supplies: packets out, and storage for the bytes of each
// connection's send stream (kept until the peer acknowledges them) and for bytes
// received out of order.
class io {
public:
    // Sends a segment. `id` is no_conn for a reset answering a segment of no connection.
    // A segment with payload carries s.payload_len bytes of the connection's send stream
    // from `offset` bytes past the first byte still stored.
    virtual void transmit(conn_id id, const tcp::four_tuple &t, const tcp::out_segment &s,
                          std::uint32_t offset) noexcept = 0;
    // Appends bytes to the connection's stored send stream; returns how many it stored
    // (fewer when it runs out of buffers).
    virtual std::uint32_t append(conn_id id, std::span<const std::uint8_t> bytes) noexcept = 0;
    // The peer acknowledged the first `bytes` stored: they may go.
    virtual void release_sent(conn_id id, std::uint32_t bytes) noexcept = 0;
    // The connection is gone: everything stored for it may go.
    virtual void forget(conn_id id) noexcept = 0;
    // Every data event of the call in progress has been handed out: received bytes are
    // no longer referred to, except those hold() kept. Called before the output that
    // waited for the callbacks goes out, so that a reply may reuse the received buffer.
    virtual void callbacks_done() noexcept {}
    // Out-of-order bytes, as tcp::sink::hold/held/release; the defaults keep nothing.
    virtual std::uint64_t hold(conn_id, seq32, std::span<const std::uint8_t>) noexcept { return 0; }
    virtual tcp::sink::held_bytes held(std::uint64_t) noexcept { return {}; }
    virtual void release(std::uint64_t) noexcept {}

protected:
    ~io() = default;
};

struct shard_limits {
    std::uint32_t connections = 65'536;   // TCBs in this shard
    std::uint32_t time_wait = 65'536;     // live TIME-WAIT records
    std::uint32_t ooo_queues = 1'024;     // reassembly queues, lent to connections that need one
    std::uint32_t held_segments = 8'192;  // out-of-order segments held at once (bounds deferred releases)
    std::uint32_t listeners = 64;          // at most 65535 (a 16-bit index per connection)
    std::uint64_t table_seed = 0;         // keys the 4-tuple hash; draw it at random
};

// Extra counters of the shard, beyond the TCP MIB.
struct shard_counters {
    std::uint64_t time_wait_entries = 0; // a gauge: live TIME-WAIT records
    std::uint64_t time_wait_expired = 0;
    std::uint64_t time_wait_no_profile = 0; // TIME-WAIT skipped: every log profile in use (also TCPTimeWaitOverflow)
    std::uint64_t events_overflowed = 0; // never expected: see the event queue's bound
    std::uint64_t send_no_buffer = 0;    // send() stored less than the connection had room for
    std::uint64_t flush_list_full = 0;   // output sent at once, unmerged: the flush list was full
};

class shard final : private tcp::sink {
public:
    shard(const tcp::settings &cfg, const shard_limits &limits, const tcp::isn_generator &isn, io &out, tick start);
    shard(const shard &) = delete;
    shard &operator=(const shard &) = delete;

    // The time for the calls that follow; the owner sets it once per loop turn.
    void set_time(tick now, std::uint64_t now_us) noexcept {
        ctx_.now = now;
        ctx_.now_us = now_us;
    }
    [[nodiscard]] tick now() const noexcept { return ctx_.now; }
    [[nodiscard]] std::uint64_t now_us() const noexcept { return ctx_.now_us; }

    // The context every callback is given. The owner binds it before input() or the
    // timers run, and it must outlive the shard's connections.
    void bind(lcore_context &ctx) noexcept { app_ctx_ = &ctx; }

    // Listens on ip:port (ip 0 for every local address), with `app` as the handler of
    // the connections it accepts. False when the listener table is full or the pair is
    // taken.
    bool listen(ipv4_addr ip, std::uint16_t port, handler &h);

    // The 4-tuple's hash, for prefetch() before a burst and input() after it.
    [[nodiscard]] std::uint64_t hash(const tcp::four_tuple &t) const noexcept { return table_.hash(t); }
    // Both lookups' lines: a segment that misses the table (every new SYN) goes on to
    // the TIME-WAIT index.
    void prefetch(std::uint64_t hash) const noexcept {
        table_.prefetch(hash);
        tw_.prefetch(hash);
    }

    // A burst's second stage, once prefetch() has started the table lines of all of it:
    // the table's answer for `t`, with its TCB and meta lines prefetched, for input() to
    // use instead of looking again. The TCBs of a burst are then fetched from memory
    // together rather than one after another (with ten million connections nearly each
    // is a miss). It stands while the table is unchanged, which input() checks: an
    // earlier segment of the burst may have opened or closed a connection.
    struct lookahead {
        std::uint64_t mutations = ~std::uint64_t{0}; // the table's owner_mutations() when looked up
        std::uint32_t ref_raw = 0;                   // what find() gave: 0 for absent
    };
    [[nodiscard]] lookahead look_ahead(const tcp::four_tuple &t, std::uint64_t hash) const noexcept {
        const auto r = table_.find(t, hash);
        if (r) {
            const auto *c = reinterpret_cast<const char *>(&conns_[r->index()]);
            __builtin_prefetch(c, 1, 3);
            __builtin_prefetch(c + 64, 1, 3); // 128 bytes: two lines
            __builtin_prefetch(&meta_[r->index()], 1, 3);
        }
        return {table_.owner_mutations(), r ? r->raw : 0};
    }

    // A segment arrived for `t` (this endpoint's view: local is the destination). Its
    // payload must stay valid until input() returns.
    void input(const tcp::four_tuple &t, std::uint64_t hash, const tcp::segment &seg) noexcept {
        input_at(t, hash, seg, table_.find(t, hash));
    }
    // The same, with the lookup look_ahead() made.
    void input(const tcp::four_tuple &t, std::uint64_t hash, const tcp::segment &seg, lookahead la) noexcept {
        input_at(t, hash, seg,
                 la.mutations != table_.owner_mutations() ? table_.find(t, hash)
                 : la.ref_raw != 0                        ? std::optional<ref>(ref{la.ref_raw})
                                                          : std::nullopt);
    }
    void input(const tcp::four_tuple &t, const tcp::segment &seg) noexcept { input(t, hash(t), seg); }

    // A segment the owner refused before input() (bad checksum, bad header or options):
    // counted where the MIB counts it (InSegs and InErrs, and InCsumErrors).
    void count_bad_segment(bool checksum) noexcept {
        ++stats_.in_segs;
        ++stats_.in_errs;
        if (checksum) ++stats_.in_csum_errors;
    }

    // Fires the timers due at now() and ends the TIME-WAITs that are due.
    void run_timers() noexcept;
    // When the earliest timer or TIME-WAIT is due, if any.
    [[nodiscard]] std::optional<tick> next_timer() const noexcept;

    // The application's calls.
    enum class open_status : std::uint8_t { opened, tuple_taken, no_memory };
    struct open_result {
        conn_id id = no_conn;
        open_status status = open_status::no_memory;
    };
    // An active open of `t`, telling a 4-tuple in use (a connection or TIME-WAIT has
    // it: try another) from a full pool. One table probe both checks and reserves the
    // 4-tuple, so a caller choosing a source port tries candidates with it directly.
    // `app` is the connection's handler, `user` its user word.
    open_result open(const tcp::four_tuple &t, handler &app, std::uint64_t user = 0) noexcept;
    std::optional<conn_id> connect(const tcp::four_tuple &t, handler &app, std::uint64_t user = 0) noexcept {
        const open_result r = open(t, app, user);
        return r.status == open_status::opened ? std::optional<conn_id>{r.id} : std::nullopt;
    }
    std::uint32_t send(conn_id id, std::span<const std::uint8_t> bytes) noexcept;
    void shutdown(conn_id id) noexcept;
    void close(conn_id id) noexcept;
    void abort(conn_id id) noexcept;
    [[nodiscard]] std::uint64_t &user(conn_id id) noexcept { return meta_[id].user; }
    [[nodiscard]] const tcp::connection &connection(conn_id id) const noexcept { return conns_[id]; }
    [[nodiscard]] bool in_use(conn_id id) const noexcept { return id < conns_.capacity() && conns_.is_used(id); }

    // Looks a 4-tuple up as input() would: a connection's id, if one has it.
    [[nodiscard]] std::optional<conn_id> find(const tcp::four_tuple &t) const noexcept;
    [[nodiscard]] bool in_time_wait(const tcp::four_tuple &t) const noexcept;

    [[nodiscard]] const tcp::counters &stats() const noexcept { return stats_; }
    [[nodiscard]] const shard_counters &shard_stats() const noexcept { return extra_; }
    [[nodiscard]] const table &tuples() const noexcept { return table_; }
    [[nodiscard]] std::uint32_t connections() const noexcept { return conns_.in_use(); }
    [[nodiscard]] std::uint32_t time_wait_entries() const noexcept { return tw_.live(); }
    [[nodiscard]] const time_wait_log &time_waits() const noexcept { return tw_; }
    // Reassembly queues lent to connections now: back to 0 when every connection is gone.
    [[nodiscard]] std::uint32_t ooo_queues_in_use() const noexcept { return queues_.in_use(); }
    // The reassembly queue a connection holds, if any: for tests that compare TCBs.
    [[nodiscard]] const tcp::reassembly_queue *ooo_queue_of(conn_id id) const noexcept {
        const std::uint32_t q = conns_[id].ooo_queue();
        return q == 0 ? nullptr : &queues_[q - 1];
    }
    // The listeners, in the order listen() added them: their queues, for tests and telemetry.
    [[nodiscard]] std::uint32_t listener_count() const noexcept { return static_cast<std::uint32_t>(listeners_.size()); }
    [[nodiscard]] const tcp::listener &listener(std::uint32_t i) const noexcept { return listeners_[i].l; }
    [[nodiscard]] const tcp::settings &settings() const noexcept { return cfg_; }

    // Aborts every connection and forgets every TIME-WAIT record (the lcore is stopping).
    void abort_all() noexcept;

private:
    // tcp::sink
    void transmit(const tcp::connection *c, const tcp::four_tuple &t, const tcp::out_segment &s) override;
    void notify(tcp::connection &c, const tcp::event &e) override;
    std::uint32_t acquire_ooo_queue() override;
    tcp::reassembly_queue &ooo_queue(std::uint32_t id) override { return queues_[id - 1]; }
    void release_ooo_queue(std::uint32_t id) override;
    std::uint64_t hold(tcp::connection &c, seq32 first, std::span<const std::uint8_t> bytes) override;
    held_bytes held(std::uint64_t handle) override;
    void release(std::uint64_t handle) override;
    bool want_flush(tcp::connection &c) override;

    // One context for every core call, built once: it is the time and references to
    // this shard's parts, and building it per call cost a dozen stores each time.
    [[nodiscard]] tcp::context &ctx() noexcept { return ctx_; }
    [[nodiscard]] conn_id id_of(const tcp::connection &c) const noexcept { return conns_.index_of(&c); }

    void input_at(const tcp::four_tuple &t, std::uint64_t hash, const tcp::segment &seg, std::optional<ref> r) noexcept;
    void no_connection(const tcp::four_tuple &t, std::uint64_t hash, const tcp::segment &seg) noexcept;
    void open_from_cookie(std::uint32_t li, const tcp::four_tuple &t, std::uint64_t hash,
                          const tcp::segment &seg) noexcept;
    std::optional<conn_id> passive_tcb(std::uint32_t li, const tcp::four_tuple &t, std::uint64_t hash) noexcept;
    void reset(const tcp::four_tuple &t, const tcp::segment &seg) noexcept;
    void to_time_wait(conn_id id) noexcept;
    void add_time_wait(const tcp::time_wait_state &tw, time_wait_log::shared_end shared) noexcept;
    void settle() noexcept;

    void dispatch(const tcp::outcome_queue::outcome &o) noexcept;
    // The connection's `closed`: the application's last callback, then the TCB goes back.
    void finish(conn_id id, tcp::close_reason why) noexcept;
    // What the shard keeps beside each TCB: what the core has no use for. 16 bytes, as
    // 10 M idle connections pay for every byte of it: the handler's address with two
    // flags in its low bits (a handler is polymorphic, so at least 8-aligned), and the
    // user word, which until a passive open is announced holds the index of the listener
    // it came from (the application sees the word only from on_accepted, as 0). The bytes
    // the peer acknowledged follow from SND.UNA (stored_offset) and the close reason
    // travels in closing_.
    // Listeners per shard at most, whatever shard_limits asks: the list is reserved whole.
    static constexpr std::uint32_t listener_cap = 0xffff;
    class meta {
    public:
        meta() = default;
        meta(handler *h, std::uint64_t user, bool announced) noexcept
            : h_(reinterpret_cast<std::uintptr_t>(h) | (announced ? announced_bit : 0)), user(user) {}

        [[nodiscard]] handler *h() const noexcept { return reinterpret_cast<handler *>(h_ & ~flag_bits); }
        // The application knows it (accepted, or opened with connect()).
        [[nodiscard]] bool announced() const noexcept { return (h_ & announced_bit) != 0; }
        void announce() noexcept { h_ |= announced_bit; }
        // send() was short of buffers: writable on the next ACK.
        [[nodiscard]] bool retry_on_ack() const noexcept { return (h_ & retry_bit) != 0; }
        void set_retry_on_ack(bool on) noexcept { h_ = on ? h_ | retry_bit : h_ & ~retry_bit; }

    private:
        static constexpr std::uintptr_t announced_bit = 1, retry_bit = 2, flag_bits = 3;
        static_assert(alignof(handler) > flag_bits, "the flags live in the handler address's low bits");
        std::uintptr_t h_ = 0;

    public:
        std::uint64_t user = 0; // the application's word for it (user()), or the listener (above)
    };
    static_assert(sizeof(meta) <= 16, "the per-connection meta grew");
    // A connection whose `closed` came, and why, waiting for settle() to finish it.
    struct closing {
        conn_id id;
        tcp::close_reason why;
    };
    struct listening {
        tcp::listener l;
        handler *h;
    };

    tcp::settings cfg_;
    const tcp::isn_generator &isn_;
    tcp::ts_offset_cache ts_offsets_;
    io &io_;
    lcore_context *app_ctx_ = nullptr;
    timer::wheel wheel_;
    tcp::counters stats_{};
    shard_counters extra_{};
    std::uint32_t challenge_budget_ = 0;
    tick challenge_end_{};

    pool<tcp::connection> conns_;
    std::vector<meta> meta_;
    time_wait_log tw_;
    pool<tcp::reassembly_queue> queues_;
    table table_;
    std::vector<listening> listeners_;
    std::uint32_t max_listeners_;

    // Events waiting for settle(), merged per connection and call (tcp::outcome_queue).
    // `closed` has a list of its own, one slot per connection, so that even an
    // overflowing queue never loses a connection's end. A slot carries the reason (the
    // meta has no room for it); the list is reserved, not touched, so only the slots
    // ever used are resident.
    tcp::outcome_queue events_;
    std::vector<closing> closing_;
    // Held bytes the core let go of while their data events were still queued.
    std::vector<std::uint64_t> deferred_release_;
    // Connections whose output waits for their callbacks (tcp::sink::want_flush),
    // flushed by settle() once the events are out. Bounded: when it is full a
    // connection sends at once, as it would without the promise.
    std::vector<conn_id> flushes_;
    bool settling_ = false;
    tcp::rto_bounds rto_bounds_;
    tcp::context ctx_;
    // Where a TCB's timer hook sits in it: timer::owner_of needs a public member, and the
    // TCB keeps its hook private, so the offset is measured once on the pool's first TCB.
    std::ptrdiff_t hook_offset_ = 0;
};

// Where a segment's payload starts in what the owner still stores, which begins at the
// first unacknowledged byte of the send stream: the owner drops bytes exactly as SND.UNA
// passes them (the `acked` event, raised as SND.UNA moves). SND.UNA past the stream's
// end is the FIN's, no byte of it.
[[nodiscard]] inline std::uint32_t stored_offset(const tcp::connection &c, const tcp::out_segment &s) noexcept {
    const seq32 first = s.seq + (s.flags.has(tcp::tcp_flags::syn) ? 1u : 0u);
    return static_cast<std::uint32_t>(first - seq_min(c.snd_una(), c.snd_end()));
}

} // namespace linerate::flow
