// The protocol core's cost per connection, for callgrind: a client shard and a server
// shard (lib/flow, the per-lcore TCP the engine runs) joined by an in-memory link on a
// virtual clock, running N connections of the cps benchmark's first case: handshake, a
// 16-byte request, a 64-byte response, the server closes first, the client closes on
// its FIN, and the server's TIME-WAIT entry expires.
//
// Every call into a side goes through a non-inlined function whose name starts with
// client_side or server_side, so `valgrind --tool=callgrind --toggle-collect=
// '*client_side*'` counts exactly what one side's core (with the application's few
// calls, made through the lcore_context the handlers are given, as the programs make
// them) executes. perf/instructions/run does that for each side, toggles collection
// off inside array_io (this file's stand-in for the engine's frame building and the
// device: not the protocol core), and divides by the connections and by the segments.
//
// Not counted, on purpose: the engine's packet parsing, checksums and mbufs (they are
// device- and offload-dependent and have their own benchmarks in perf/micro), and this
// program's link and clock.
//
// The program checks its own result: every connection completed, every byte arrived,
// every TCB and TIME-WAIT entry came back. Exit status 1 otherwise.
//
//   conn_cost [CONNECTIONS [IN_FLIGHT]]
#include <linerate/flow/shard.hpp>
#include <linerate/flow/shard_context.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

using namespace linerate;
using flow::conn_id;

// GCC's noipa: never inlined, cloned or folded into another function, so each side's
// calls stay functions of their own that callgrind can name. Clang has no noipa (and
// refuses the unknown attribute under -Werror); noinline is its nearest, and clang folds
// identical functions only when asked (-fmerge-functions), so the sides stay apart there
// as well.
#if defined(__clang__)
#define LINERATE_NOIPA [[gnu::noinline]]
#else
#define LINERATE_NOIPA [[gnu::noipa]]
#endif

namespace {

constexpr std::uint16_t server_port = 80;
constexpr ipv4_addr server_ip = ipv4_addr::from_octets(198, 18, 0, 2);
constexpr std::size_t request_size = 16;
constexpr std::size_t response_size = 64;
constexpr std::size_t max_payload = 128;

struct packet {
    tcp::four_tuple from; // the sender's view
    tcp::out_segment seg;
    std::uint32_t len = 0;
    std::array<std::uint8_t, max_payload> payload;
};

// A ring of packets, allocated once.
class wire_link {
public:
    explicit wire_link(std::size_t capacity) : q_(capacity) {}
    packet *push() noexcept {
        if (count_ == q_.size()) return nullptr;
        packet *p = &q_[(head_ + count_) % q_.size()];
        ++count_;
        return p;
    }
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    packet &front() noexcept { return q_[head_]; }
    void pop() noexcept {
        head_ = (head_ + 1) % q_.size();
        --count_;
    }
    std::uint64_t sent = 0;
    std::uint64_t overflow = 0;

private:
    std::vector<packet> q_;
    std::size_t head_ = 0, count_ = 0;
};

// Send streams as fixed arrays per connection: a request or a response fits one. One
// type per side (Side is client_io or server_io), so that perf/instructions/run can
// name each side's io calls and leave them out of that side's count; noipa keeps the
// compiler from folding the two sides' identical bodies into one function.
struct client_io;
struct server_io;
template <class Side>
class array_io final : public flow::io {
public:
    array_io(wire_link &out, std::uint32_t connections) : out_(out), streams_(connections) {}

    LINERATE_NOIPA void transmit(conn_id id, const tcp::four_tuple &t, const tcp::out_segment &s, std::uint32_t offset) noexcept override {
        packet *p = out_.push();
        if (p == nullptr) {
            ++out_.overflow;
            return;
        }
        ++out_.sent;
        p->from = t;
        p->seg = s;
        p->len = s.payload_len;
        if (s.payload_len > 0) std::memcpy(p->payload.data(), streams_[id].bytes.data() + streams_[id].first + offset, s.payload_len);
    }
    LINERATE_NOIPA std::uint32_t append(conn_id id, std::span<const std::uint8_t> bytes) noexcept override {
        stream &st = streams_[id];
        const auto n = static_cast<std::uint32_t>(std::min(bytes.size(), st.bytes.size() - st.end));
        std::memcpy(st.bytes.data() + st.end, bytes.data(), n);
        st.end += n;
        return n;
    }
    LINERATE_NOIPA void release_sent(conn_id id, std::uint32_t bytes) noexcept override { streams_[id].first += bytes; }
    LINERATE_NOIPA void forget(conn_id id) noexcept override { streams_[id] = stream{}; }

private:
    struct stream {
        std::array<std::uint8_t, max_payload> bytes{};
        std::uint32_t first = 0, end = 0;
    };
    wire_link &out_;
    std::vector<stream> streams_;
};

struct tally {
    std::uint64_t opened = 0, connected = 0, accepted = 0, completed_client = 0, completed_server = 0;
    std::uint64_t bytes_to_server = 0, bytes_to_client = 0, bad = 0;
};

const std::array<std::uint8_t, request_size> request = [] {
    std::array<std::uint8_t, request_size> r{};
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<std::uint8_t>('a' + i);
    return r;
}();
const std::array<std::uint8_t, response_size> response = [] {
    std::array<std::uint8_t, response_size> r{};
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<std::uint8_t>('A' + i % 26);
    return r;
}();

// The client: sends the request when connected, closes when the server has.
struct client_app final : handler {
    tally *t = nullptr;
    void on_connected(lcore_context &ctx, conn c) override {
        ++t->connected;
        if (ctx.send(c, std::as_bytes(std::span(request))) != request.size()) ++t->bad;
    }
    void on_data(lcore_context &, conn, std::span<const std::byte> d) override { t->bytes_to_client += d.size(); }
    void on_peer_closed(lcore_context &ctx, conn c) override { ctx.close(c); }
    void on_closed(lcore_context &, conn, close_reason r) override {
        if (r == close_reason::normal)
            ++t->completed_client;
        else
            ++t->bad;
    }
};

// The server: answers a whole request with the response and closes first.
struct server_app final : handler {
    tally *t = nullptr;
    void on_accepted(lcore_context &ctx, conn c) override {
        ++t->accepted;
        ctx.user_data(c) = 0;
    }
    void on_data(lcore_context &ctx, conn c, std::span<const std::byte> d) override {
        t->bytes_to_server += d.size();
        std::uint64_t &got = ctx.user_data(c);
        got += d.size();
        if (got == request.size()) {
            if (ctx.send(c, std::as_bytes(std::span(response))) != response.size()) ++t->bad;
            ctx.close(c);
        }
    }
    void on_closed(lcore_context &, conn, close_reason r) override {
        if (r == close_reason::normal)
            ++t->completed_server;
        else
            ++t->bad;
    }
};

tcp::segment as_segment(const packet &p) {
    return tcp::segment{.seq = p.seg.seq, .ack = p.seg.ack, .flags = p.seg.flags, .window = p.seg.window,
                        .options = p.seg.options, .payload = std::span<const std::uint8_t>(p.payload.data(), p.len)};
}

// The measured entry points: one per side and kind of call. noipa, not just noinline:
// the two sides' functions are identical, and identical-code folding would merge them.
LINERATE_NOIPA void client_side_connect(flow::shard &s, const tcp::four_tuple &t, handler &h, std::uint64_t &opened) {
    if (s.connect(t, h)) ++opened;
}
LINERATE_NOIPA void client_side_input(flow::shard &s, const tcp::four_tuple &t, const tcp::segment &seg) {
    s.input(t, seg);
}
LINERATE_NOIPA void server_side_input(flow::shard &s, const tcp::four_tuple &t, const tcp::segment &seg) {
    s.input(t, seg);
}
LINERATE_NOIPA void client_side_timers(flow::shard &s, tick now) {
    s.set_time(now, now.value * 1000);
    s.run_timers();
}
LINERATE_NOIPA void server_side_timers(flow::shard &s, tick now) {
    s.set_time(now, now.value * 1000);
    s.run_timers();
}

} // namespace

int main(int argc, char **argv) {
    const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
    const std::uint64_t window = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 64;
    if (n == 0 || window == 0) {
        std::fprintf(stderr, "usage: conn_cost [CONNECTIONS [IN_FLIGHT]]\n");
        return 2;
    }
    // The defaults of a real deployment (delayed ACKs, 2*MSL of 60 s), except the
    // pools: TIME-WAIT must hold every connection of the run, which ends in less than
    // 2*MSL of virtual time.
    const tcp::settings cfg{};
    const std::array<std::uint8_t, 16> key_c{1}, key_s{2};
    const tcp::isn_generator isn_c(key_c), isn_s(key_s);
    wire_link to_server(4 * window + 64), to_client(4 * window + 64);
    const auto conns = static_cast<std::uint32_t>(2 * window + 16);
    array_io<client_io> io_c(to_server, conns);
    array_io<server_io> io_s(to_client, conns);
    const auto tws = static_cast<std::uint32_t>(n + 16);
    flow::shard client(cfg, {.connections = conns, .time_wait = 16, .table_seed = 1}, isn_c, io_c, tick{0});
    flow::shard server(cfg, {.connections = conns, .time_wait = tws, .table_seed = 2}, isn_s, io_s, tick{0});
    flow::shard_context ctx_c(client), ctx_s(server);
    tally t;
    client_app capp;
    server_app sapp;
    capp.t = &t;
    sapp.t = &t;
    if (!server.listen(server_ip, server_port, sapp)) return 1;

    tick now{0};
    client.set_time(now, 0);
    server.set_time(now, 0);
    std::uint64_t next = 0;
    std::uint64_t idle_steps = 0;
    while (t.completed_client + t.bad < n) {
        // Keep `window` connections in flight.
        while (next < n && client.connections() < window) {
            // Unique 4-tuples: no port is reused, so no TIME-WAIT is met again.
            const ipv4_addr local{ipv4_addr::from_octets(198, 18, 1, 0).value + static_cast<std::uint32_t>(next / 60'000)};
            const auto port = static_cast<std::uint16_t>(1024 + next % 60'000);
            client_side_connect(client, tcp::four_tuple{local, server_ip, port, server_port}, capp, t.opened);
            ++next;
        }
        bool moved = false;
        while (!to_server.empty() || !to_client.empty()) {
            moved = true;
            while (!to_server.empty()) {
                const packet &p = to_server.front();
                server_side_input(server, p.from.reversed(), as_segment(p));
                to_server.pop();
            }
            while (!to_client.empty()) {
                const packet &p = to_client.front();
                client_side_input(client, p.from.reversed(), as_segment(p));
                to_client.pop();
            }
        }
        if (!moved) {
            // Quiet: time moves on a millisecond (delayed ACKs are due after 40).
            now = now + 1;
            client_side_timers(client, now);
            server_side_timers(server, now);
            if (++idle_steps > 10'000'000) break;
        }
    }
    // TIME-WAIT ends: time jumps to each timer still armed (the wheel fires a far
    // timer when its slot comes due, at most a slot's width late) until none is left.
    for (int guard = 0; guard < 1000; ++guard) {
        const auto due_c = client.next_timer(), due_s = server.next_timer();
        if (!due_c && !due_s) break;
        now = std::max(now, std::min(due_c.value_or(tick{~0ull}), due_s.value_or(tick{~0ull})));
        client_side_timers(client, now);
        server_side_timers(server, now);
    }

    const bool ok = t.opened == n && t.connected == n && t.accepted == n && t.completed_client == n &&
                    t.completed_server == n && t.bad == 0 && t.bytes_to_server == n * request_size &&
                    t.bytes_to_client == n * response_size && client.connections() == 0 &&
                    server.connections() == 0 && server.time_wait_entries() == 0 && to_server.overflow == 0 &&
                    to_client.overflow == 0;
    std::printf("connections %llu completed %llu segments_to_server %llu segments_to_client %llu "
                "virtual_ms %llu time_wait_expired %llu ok %d\n",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(t.completed_client),
                static_cast<unsigned long long>(to_server.sent), static_cast<unsigned long long>(to_client.sent),
                static_cast<unsigned long long>(now.value),
                static_cast<unsigned long long>(server.shard_stats().time_wait_expired), ok ? 1 : 0);
    return ok ? 0 : 1;
}
