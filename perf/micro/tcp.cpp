// TCP core cost per segment type: what one shard::input() costs for a SYN at a
// listener, a SYN-ACK at SYN-SENT, the ACK that completes the handshake, 16 bytes of
// data, and a FIN, including what the segment makes the shard send back (SYN-ACK, ACK,
// echoed data, FIN) and the application callbacks it raises.
//
// Two shards, a client and a server, are wired back to back in memory through an io
// that only captures what they transmit; the peer shard builds every segment, so the
// options, sequence numbers and timestamps are the ones a real peer would send. Only
// the last step is timed. Each batch opens `batch` connections and walks them (outside
// the timed region) to the state under test, captures the segments that state's input
// needs, then times `batch` input() calls in a row. Pausing the timer costs far more
// than an input(), so it happens twice per batch, not per segment; after the batch both
// shards abort everything and the next one starts from the same empty state.
//
// What this measures is the CPU cost of the core with its TCBs warm in cache (the set-up
// just touched them): a batch holds 1024 connections, about 256 KiB of TCBs per shard.
// The table, pools and timer wheel are the real ones. The clock does not move, so no
// timer fires inside the timed region.
#include "micro.hpp"

#include <linerate/flow/shard.hpp>
#include <linerate/flow/shard_context.hpp>

#include <array>
#include <memory>
#include <span>
#include <vector>

namespace linerate::perf {
namespace {

using flow::conn_id;

constexpr ipv4_addr client_ip{0xC612'0001u}; // 198.18.0.1
constexpr ipv4_addr server_ip{0xC612'0002u}; // 198.18.0.2
constexpr std::uint16_t server_port = 80;
constexpr std::uint16_t first_client_port = 10'000;
constexpr std::uint32_t batch = 1024;
constexpr std::uint32_t data_bytes = 16;

// The bytes every data segment carries. The core never reads payload content (the
// application gets a span of it), so all segments can point at the same bytes.
constexpr std::array<std::uint8_t, 1460> payload_bytes{};

constexpr std::array<std::uint8_t, tcp::isn_generator::key_size> client_key{1, 2, 3}, server_key{4, 5, 6};

struct captured {
    tcp::four_tuple from; // the sender's view
    tcp::out_segment seg;
};

// Captures segments and stores nothing else: stream bytes are counted, never copied,
// since a segment's payload is rebuilt from payload_bytes when it is delivered.
class capture_io final : public flow::io {
public:
    std::vector<captured> out;
    std::uint64_t overflowed = 0;

    explicit capture_io(std::size_t room) { out.reserve(room); }

    void transmit(conn_id, const tcp::four_tuple &t, const tcp::out_segment &s, std::uint32_t) noexcept override {
        // Never grow inside a timed input(): the room is sized for a batch.
        if (out.size() < out.capacity())
            out.push_back(captured{t, s});
        else
            ++overflowed;
    }
    std::uint32_t append(conn_id, std::span<const std::uint8_t> bytes) noexcept override {
        return static_cast<std::uint32_t>(bytes.size());
    }
    void release_sent(conn_id, std::uint32_t) noexcept override {}
    void forget(conn_id) noexcept override {}
};

// The server's application, as linerate-server's modes behave: `echo` sends back what
// arrives; every mode closes once the peer has. It acts through the lcore_context it is
// given, as the programs' handlers do.
struct server_app final : handler {
    bool echo = false;
    std::uint64_t accepted = 0, bytes = 0, peer_closed = 0;

    void on_accepted(lcore_context &, conn) override { ++accepted; }
    void on_data(lcore_context &ctx, conn c, std::span<const std::byte> d) override {
        bytes += d.size();
        if (echo) ctx.send(c, d);
    }
    void on_peer_closed(lcore_context &ctx, conn c) override {
        ++peer_closed;
        ctx.close(c);
    }
};

struct client_app final : handler {
    std::uint64_t connected = 0;
    void on_connected(lcore_context &, conn) override { ++connected; }
};

struct delivery {
    tcp::four_tuple to; // the receiver's view
    tcp::segment seg;
};

class rig {
public:
    explicit rig(tcp::settings cfg, bool echo) : cfg_(cfg) {
        // Every connection of a batch is half-open at once in the SYN benchmark.
        cfg_.syn_backlog = cfg_.accept_backlog = 2 * batch;
        const flow::shard_limits limits{.connections = batch, .time_wait = batch, .table_seed = 0x5eed};
        client_ = std::make_unique<flow::shard>(cfg_, limits, isn_c_, io_c_, start);
        server_ = std::make_unique<flow::shard>(cfg_, limits, isn_s_, io_s_, start);
        ctx_c_ = std::make_unique<flow::shard_context>(*client_);
        ctx_s_ = std::make_unique<flow::shard_context>(*server_);
        for (flow::shard *s : {client_.get(), server_.get()}) s->set_time(start, start.value * 1000);
        server_->listen(server_ip, server_port, app_s);
        app_s.echo = echo;
        ids_.reserve(batch);
        pending_.reserve(batch);
    }

    flow::shard &client() noexcept { return *client_; }
    flow::shard &server() noexcept { return *server_; }

    // Both shards back to empty: every connection aborted, nothing captured.
    void reset() {
        client_->abort_all();
        server_->abort_all();
        io_c_.out.clear();
        io_s_.out.clear();
        ids_.clear();
        pending_.clear();
    }

    // The client opens `batch` connections; their SYNs wait in the client's capture.
    bool open() {
        for (std::uint32_t i = 0; i < batch; ++i) {
            const tcp::four_tuple t{client_ip, server_ip, static_cast<std::uint16_t>(first_client_port + i), server_port};
            const auto id = client_->connect(t, app_c);
            if (!id) return false;
            ids_.push_back(*id);
        }
        return io_c_.out.size() == batch;
    }
    // The handshake up to ESTABLISHED on both sides; nothing left captured.
    bool establish() {
        if (!open()) return false;
        deliver(io_c_, *server_); // SYN
        deliver(io_s_, *client_); // SYN-ACK
        deliver(io_c_, *server_); // ACK
        return client_->connections() == batch && server_->connections() == batch && io_s_.out.empty();
    }

    // Every segment the client (or the server) has sent, as what the timed loop will
    // deliver to the other side.
    void take_from_client() { take(io_c_); }
    void take_from_server() { take(io_s_); }

    // The timed part: every pending segment into `to`.
    void input_pending(flow::shard &to) noexcept {
        for (const delivery &d : pending_) to.input(d.to, d.seg);
    }

    // Every segment captured from `from` goes into `to`, untimed.
    // `to` answers into its own io, never into `from`'s, so walking `from` is safe.
    static void deliver(capture_io &from, flow::shard &to) {
        for (const captured &c : from.out) to.input(c.from.reversed(), as_segment(c.seg));
        from.out.clear();
    }

    std::span<conn_id> ids() noexcept { return ids_; }
    capture_io &io_client() noexcept { return io_c_; }
    capture_io &io_server() noexcept { return io_s_; }
    std::uint64_t overflowed() const noexcept { return io_c_.overflowed + io_s_.overflowed; }

    server_app app_s;
    client_app app_c;

private:
    static constexpr tick start{1'000};
    // A batch sends a few segments per connection at most; aborting adds one RST each.
    static constexpr std::size_t capture_room = 8 * batch;

    static tcp::segment as_segment(const tcp::out_segment &s) noexcept {
        return tcp::segment{.seq = s.seq, .ack = s.ack, .flags = s.flags, .window = s.window, .options = s.options,
                            .payload = std::span<const std::uint8_t>(payload_bytes.data(), s.payload_len)};
    }
    void take(capture_io &from) {
        for (const captured &c : from.out) pending_.push_back(delivery{c.from.reversed(), as_segment(c.seg)});
        from.out.clear();
    }

    tcp::settings cfg_;
    tcp::isn_generator isn_c_{client_key}, isn_s_{server_key};
    capture_io io_c_{capture_room}, io_s_{capture_room};
    std::unique_ptr<flow::shard> client_, server_;
    std::unique_ptr<flow::shard_context> ctx_c_, ctx_s_; // what the callbacks are given
    std::vector<conn_id> ids_;
    std::vector<delivery> pending_;
};

// One benchmark: `prepare` builds a batch outside the timed region and leaves it
// pending; `check` (also untimed) says whether the last timed batch did what it should.
// Reports items_processed (one item = one input()) and how many segments the target
// shard sent per input.
template <class Prepare, class Check>
void run(benchmark::State &state, rig &r, flow::shard &target, capture_io &target_out, Prepare prepare, Check check) {
    std::uint64_t sent = 0;
    bool checked = true;
    while (state.KeepRunningBatch(batch)) {
        state.PauseTiming();
        if (!checked) {
            if (!check()) return fail(state, "the timed inputs did not do what the benchmark measures");
            sent += target_out.out.size();
        }
        r.reset();
        if (!prepare()) return fail(state, "set-up did not reach the state under test");
        checked = false;
        state.ResumeTiming();
        r.input_pending(target);
    }
    if (!checked) {
        if (!check()) return fail(state, "the timed inputs did not do what the benchmark measures");
        sent += target_out.out.size();
    }
    if (r.overflowed() != 0) return fail(state, "the capture io ran out of room");
    r.reset();
    state.SetItemsProcessed(state.iterations());
    state.counters["sent_per_input"] =
        benchmark::Counter(static_cast<double>(sent) / static_cast<double>(state.iterations()));
}

bool all_flags(const capture_io &io, std::uint8_t flags, std::size_t expected) {
    if (io.out.size() != expected) return false;
    for (const captured &c : io.out)
        if (!c.seg.flags.only(flags)) return false;
    return true;
}

// A SYN at the listener: a TCB, an ISN (SipHash), the table insert, the SYN-ACK and its
// retransmission timer.
void tcp_syn(benchmark::State &state) {
    rig r(tcp::settings{}, false);
    run(
        state, r, r.server(), r.io_server(),
        [&] {
            if (!r.open()) return false;
            r.take_from_client();
            return true;
        },
        [&] {
            return r.server().connections() == batch &&
                   all_flags(r.io_server(), tcp::tcp_flags::syn | tcp::tcp_flags::ack, batch);
        });
}

// A SYN-ACK at SYN-SENT: the client reaches ESTABLISHED, sends the ACK and tells its
// application.
void tcp_syn_ack(benchmark::State &state) {
    rig r(tcp::settings{}, false);
    std::uint64_t before = 0;
    run(
        state, r, r.client(), r.io_client(),
        [&] {
            if (!r.open()) return false;
            rig::deliver(r.io_client(), r.server());
            r.take_from_server();
            before = r.app_c.connected;
            return true;
        },
        [&] { return r.app_c.connected == before + batch && all_flags(r.io_client(), tcp::tcp_flags::ack, batch); });
}

// The ACK that completes the handshake at SYN-RECEIVED: ESTABLISHED and the accept; no
// segment goes out.
void tcp_ack(benchmark::State &state) {
    rig r(tcp::settings{}, false);
    std::uint64_t before = 0;
    run(
        state, r, r.server(), r.io_server(),
        [&] {
            if (!r.open()) return false;
            rig::deliver(r.io_client(), r.server());
            rig::deliver(r.io_server(), r.client());
            r.take_from_client();
            before = r.app_s.accepted;
            return true;
        },
        [&] { return r.app_s.accepted == before + batch && r.io_server().out.empty(); });
}

// 16 bytes in ESTABLISHED, and the answer. `echo`: the application sends them back in
// its callback, and the ACK rides on that segment (delayed ACKs on, as configured by
// default). Otherwise the application only reads, and with delayed ACKs off the core
// sends a pure ACK at once.
void tcp_data(benchmark::State &state, bool echo) {
    tcp::settings cfg;
    if (!echo) cfg.delayed_ack_ms = 0;
    rig r(cfg, echo);
    std::uint64_t before = 0;
    const std::span<const std::uint8_t> data(payload_bytes.data(), data_bytes);
    run(
        state, r, r.server(), r.io_server(),
        [&] {
            if (!r.establish()) return false;
            for (const conn_id id : r.ids())
                if (r.client().send(id, data) != data_bytes) return false;
            r.take_from_client();
            before = r.app_s.bytes;
            return true;
        },
        [&] {
            if (r.app_s.bytes != before + std::uint64_t{batch} * data_bytes) return false;
            if (r.io_server().out.size() != batch) return false;
            for (const captured &c : r.io_server().out)
                if (c.seg.payload_len != (echo ? data_bytes : 0) || !c.seg.flags.has(tcp::tcp_flags::ack)) return false;
            return true;
        });
}

// The client's FIN in ESTABLISHED: CLOSE-WAIT, the application hears of it and closes,
// and the server sends its own FIN (LAST-ACK).
void tcp_fin(benchmark::State &state) {
    rig r(tcp::settings{}, false);
    std::uint64_t before = 0;
    run(
        state, r, r.server(), r.io_server(),
        [&] {
            if (!r.establish()) return false;
            for (const conn_id id : r.ids()) r.client().close(id);
            r.take_from_client();
            before = r.app_s.peer_closed;
            return true;
        },
        [&] {
            if (r.app_s.peer_closed != before + batch) return false;
            std::size_t fins = 0;
            for (const captured &c : r.io_server().out) fins += c.seg.flags.has(tcp::tcp_flags::fin) ? 1 : 0;
            return fins == batch;
        });
}

} // namespace

void register_tcp() {
    benchmark::RegisterBenchmark("tcp/syn", tcp_syn);
    benchmark::RegisterBenchmark("tcp/syn_ack", tcp_syn_ack);
    benchmark::RegisterBenchmark("tcp/ack", tcp_ack);
    benchmark::RegisterBenchmark("tcp/data/ack", &tcp_data, false);
    benchmark::RegisterBenchmark("tcp/data/echo", &tcp_data, true);
    benchmark::RegisterBenchmark("tcp/fin", tcp_fin);
}

} // namespace linerate::perf
