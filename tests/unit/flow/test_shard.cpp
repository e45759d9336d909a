// The shard: two of them, a client and a server, joined by an in-memory link, with an
// io that keeps send streams and held bytes in plain vectors. Each test drives virtual
// time by hand, so every exchange is deterministic. The applications are the public
// API's handlers, given each shard's flow::shard_context.
#include <linerate/flow/shard.hpp>
#include <linerate/flow/shard_context.hpp>

#include "../../support/memory_io.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace linerate;
using namespace linerate::flow;
using tcp::state;
using wire::tcp_flags;

namespace {

constexpr ipv4_addr client_ip{0xC6120001}; // 198.18.0.1
constexpr ipv4_addr server_ip{0xC6120002}; // 198.18.0.2
constexpr std::uint16_t server_port = 80;

using testing::memory_io;
using testing::packet;

// Records callbacks; `echo` sends back what arrives and closes when the peer has.
struct recorder final : handler {
    bool echo = false;
    bool close_on_peer_close = true;
    std::vector<std::string> log;
    std::map<conn_id, std::string> received;
    std::map<conn_id, close_reason> closed;
    std::vector<conn_id> accepted;

    void on_accepted(lcore_context &, conn c) override {
        accepted.push_back(c.id);
        log.push_back("accepted");
    }
    void on_connected(lcore_context &, conn) override { log.push_back("connected"); }
    void on_data(lcore_context &ctx, conn c, std::span<const std::byte> d) override {
        for (const std::byte b : d) received[c.id].push_back(static_cast<char>(b));
        if (echo) CHECK(ctx.send(c, d) == d.size());
    }
    void on_peer_closed(lcore_context &ctx, conn c) override {
        log.push_back("peer_closed");
        if (close_on_peer_close) ctx.close(c);
    }
    void on_closed(lcore_context &, conn c, close_reason r) override {
        closed[c.id] = r;
        log.push_back("closed " + std::string(linerate::to_string(r)));
    }
};

tcp::settings fast_settings() {
    tcp::settings s;
    s.msl_ms = 500; // TIME-WAIT is one second
    s.delayed_ack_ms = 0;
    return s;
}

constexpr std::array<std::uint8_t, 16> key_a{1, 2, 3}, key_b{4, 5, 6};

struct pair_of_shards {
    tcp::settings cfg = fast_settings();
    tcp::isn_generator isn_c{key_a}, isn_s{key_b};
    memory_io io_c, io_s;
    std::deque<packet> to_server, to_client;
    shard_limits lim_c, lim_s;
    std::unique_ptr<shard> client, server;
    std::unique_ptr<shard_context> ctx_c, ctx_s; // what each shard's callbacks are given
    recorder app_c, app_s;
    std::uint64_t now = 0;

    explicit pair_of_shards(shard_limits lc = {.connections = 64, .time_wait = 64},
                            shard_limits ls = {.connections = 64, .time_wait = 64}) {
        io_c.wire = &to_server;
        io_s.wire = &to_client;
        make_shards(lc, ls);
        app_s.echo = true;
    }
    // Fresh shards (with `cfg` as it is now), each bound to a context of its own.
    void make_shards(shard_limits lc, shard_limits ls) {
        ctx_c.reset();
        ctx_s.reset();
        client = std::make_unique<shard>(cfg, lc, isn_c, io_c, tick{0});
        server = std::make_unique<shard>(cfg, ls, isn_s, io_s, tick{0});
        ctx_c = std::make_unique<shard_context>(*client);
        ctx_s = std::make_unique<shard_context>(*server);
    }

    // Delivers everything in flight, both ways, until the link is quiet.
    void run() { testing::deliver_all(to_server, *server, to_client, *client); }
    // Moves time forward, firing timers each millisecond, and delivers what they send.
    void advance(std::uint64_t ms) {
        for (std::uint64_t i = 0; i < ms; ++i) {
            ++now;
            for (shard *s : {client.get(), server.get()}) {
                s->set_time(tick{now}, now * 1000);
                s->run_timers();
            }
            run();
        }
    }
    std::optional<conn_id> connect(std::uint16_t port) {
        return client->connect(tcp::four_tuple{client_ip, server_ip, port, server_port}, app_c);
    }
    // A connection from `port` that the client closes first, so the client holds
    // TIME-WAIT (the server must listen).
    void client_closes_first(std::uint16_t port) {
        const auto id = connect(port);
        REQUIRE(id);
        run();
        client->close(*id);
        run();
    }
};

std::span<const std::uint8_t> bytes_of(const std::string &s) {
    return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}
template <std::size_t n> std::span<const std::byte> bytes_of(const std::array<std::uint8_t, n> &a) {
    return std::as_bytes(std::span(a));
}

} // namespace

TEST_CASE("shard: a listener accepts, echoes and both sides close cleanly", "[flow][shard]") {
    pair_of_shards w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    const auto id = w.connect(40000);
    REQUIRE(id);
    w.run();
    REQUIRE(w.app_c.log == std::vector<std::string>{"connected"});
    REQUIRE(w.app_s.accepted.size() == 1);
    CHECK(w.server->stats().passive_opens == 1);
    CHECK(w.client->stats().active_opens == 1);

    const std::string msg(5000, 'x');
    CHECK(w.client->send(*id, bytes_of(msg)) == msg.size());
    w.run();
    w.advance(5);
    CHECK(w.app_c.received[*id] == msg);
    CHECK(w.app_s.received[w.app_s.accepted[0]] == msg);

    // The client closes first: it ends in TIME-WAIT, handed to an entry; the server's
    // connection is gone at once after LAST-ACK.
    w.client->close(*id);
    w.run();
    CHECK(w.app_s.closed.at(w.app_s.accepted[0]) == close_reason::normal);
    CHECK(w.app_c.closed.at(*id) == close_reason::normal);
    CHECK(w.server->connections() == 0);
    CHECK(w.client->connections() == 0);
    CHECK(w.client->time_wait_entries() == 1);
    CHECK(w.client->in_time_wait(tcp::four_tuple{client_ip, server_ip, 40000, server_port}));
    CHECK(w.io_c.streams.empty());
    CHECK(w.io_s.streams.empty());
}

TEST_CASE("shard: RFC 9293 §3.10.7.1, a SYN for a port with no listener is answered with RST", "[flow][shard]") {
    pair_of_shards w;
    const auto id = w.connect(40001);
    REQUIRE(id);
    w.run();
    CHECK(w.io_s.resets == 1);
    CHECK(w.server->stats().out_rsts == 1);
    CHECK(w.server->stats().dropped[static_cast<std::size_t>(tcp::drop::no_connection)] == 1);
    CHECK(w.app_c.closed.at(*id) == close_reason::refused);
    CHECK(w.client->connections() == 0);
}

TEST_CASE("shard: a full connection pool drops the SYN and counts ListenDrops", "[flow][shard]") {
    pair_of_shards w({.connections = 64, .time_wait = 64}, {.connections = 1, .time_wait = 4});
    REQUIRE(w.server->listen(ipv4_addr{0}, server_port, w.app_s));
    REQUIRE(w.connect(40002));
    REQUIRE(w.connect(40003));
    w.run();
    CHECK(w.server->connections() == 1);
    CHECK(w.server->stats().listen_drops == 1);
    CHECK(w.server->stats().dropped[static_cast<std::size_t>(tcp::drop::no_memory)] == 1);
    CHECK(w.app_c.log == std::vector<std::string>{"connected"});
    // The dropped SYN is retried after the initial RTO and still finds no room; no
    // reset is ever sent for it.
    w.advance(1'100);
    CHECK(w.server->stats().listen_drops == 2);
    CHECK(w.io_s.resets == 0);
}

TEST_CASE("shard: a TIME-WAIT entry holds the 4-tuple for 2*MSL, then the table forgets it", "[flow][shard][time_wait]") {
    pair_of_shards w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    w.client_closes_first(40004);
    REQUIRE(w.client->time_wait_entries() == 1);
    CHECK(w.client->stats().in_state[static_cast<std::size_t>(state::time_wait)] == 0); // the TCB is gone
    w.advance(990);
    CHECK(w.client->time_wait_entries() == 1); // never early
    w.advance(200);                              // the log may be up to 2*MSL/256 late
    CHECK(w.client->time_wait_entries() == 0);
    CHECK(w.client->shard_stats().time_wait_expired == 1);
    CHECK(w.client->tuples().size() == 0);
    CHECK(w.client->time_waits().count() == 0);
}

TEST_CASE("shard: RFC 9293 3.10.7.4: FIN in TIME-WAIT restarts 2MSL (stale record, new record)",
          "[flow][shard][time_wait]") {
    pair_of_shards w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    w.client_closes_first(40010);
    const tcp::four_tuple t{client_ip, server_ip, 40010, server_port};
    const auto &log = w.client->time_waits();
    const auto at = log.find(t, log.hash(t));
    REQUIRE(at);
    const tcp::time_wait_state tw = log.state(*at);
    const std::uint64_t entered = w.now;
    // The log's head is the shard's next deadline: 2*MSL on, at most the log's slop late.
    REQUIRE(w.client->next_timer());
    CHECK(w.client->next_timer()->value >= entered + 1'000);
    CHECK(w.client->next_timer()->value <= entered + 1'000 + log.slop().value);

    w.advance(600);
    // The server's FIN again, as if the client's last ACK had been lost.
    tcp::segment fin{.seq = tw.rcv_nxt - 1, .ack = tw.snd_nxt, .flags = tcp::tcp_flags{tcp::tcp_flags::fin | tcp::tcp_flags::ack},
                     .window = 1000};
    fin.options.has_timestamp = tw.ts_ok;
    fin.options.ts_val = tw.ts_recent;
    w.client->input(t, fin);
    REQUIRE(w.to_server.size() == 1);
    CHECK(w.to_server.front().seg.flags == tcp::tcp_flags{tcp::tcp_flags::ack});
    CHECK(w.to_server.front().seg.seq == tw.snd_nxt);
    CHECK(w.to_server.front().seg.ack == tw.rcv_nxt);
    w.to_server.clear();
    CHECK(log.count() == 2); // the old record, stale, and its copy at the tail
    CHECK(w.client->time_wait_entries() == 1);
    const auto again = log.find(t, log.hash(t));
    REQUIRE(again);
    CHECK(again != at);
    CHECK(log.state(*again) == tw);

    w.advance(500); // past the first 2*MSL: the stale record goes, TIME-WAIT stays
    CHECK(log.count() == 1);
    CHECK(w.client->in_time_wait(t));
    CHECK(w.client->shard_stats().time_wait_expired == 0);
    w.advance(500); // past 2*MSL from the FIN
    CHECK_FALSE(w.client->in_time_wait(t));
    CHECK(log.count() == 0);
    CHECK(w.client->shard_stats().time_wait_expired == 1);
    CHECK(w.client->time_wait_entries() == 0);
    CHECK_FALSE(w.client->next_timer());
}

TEST_CASE("shard: with no TIME-WAIT entry free the oldest entry is retired early (TCPTimeWaitOverflow)",
          "[flow][shard][time_wait]") {
    pair_of_shards w({.connections = 8, .time_wait = 1}, {.connections = 8, .time_wait = 8});
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    const auto a = w.connect(40005);
    const auto b = w.connect(40006);
    w.run();
    w.client->close(*a);
    w.run();
    REQUIRE(w.client->in_time_wait(tcp::four_tuple{client_ip, server_ip, 40005, server_port}));
    w.client->close(*b);
    w.run();
    // b took a's entry: a's 4-tuple is free, and no TCB is left holding TIME-WAIT.
    CHECK(w.client->time_wait_entries() == 1);
    CHECK(w.client->stats().time_wait_overflow == 1);
    CHECK(w.client->connections() == 0);
    CHECK(w.client->stats().in_state[static_cast<std::size_t>(state::time_wait)] == 0);
    CHECK_FALSE(w.client->in_time_wait(tcp::four_tuple{client_ip, server_ip, 40005, server_port}));
    CHECK(w.client->in_time_wait(tcp::four_tuple{client_ip, server_ip, 40006, server_port}));
    CHECK(w.client->tuples().size() == 0); // TIME-WAIT is in the log, not the connection table
    CHECK(w.client->time_waits().count() == 1);
    w.advance(1'200);
    CHECK(w.client->time_wait_entries() == 0);
    CHECK(w.client->tuples().size() == 0);
}

TEST_CASE("shard: TIME-WAIT entries retire oldest first, also after one left early", "[flow][shard][time_wait]") {
    // Three entries in a pool of three; the middle one is reopened by a SYN (RFC 6191)
    // and leaves the order; the next two overflows retire the oldest, then the newest
    // of the first round, never an entry made later.
    pair_of_shards w({.connections = 8, .time_wait = 8}, {.connections = 8, .time_wait = 3});
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    const auto tuple = [](std::uint16_t port) { return tcp::four_tuple{server_ip, client_ip, server_port, port}; };
    // The server closes first, so the server holds TIME-WAIT.
    auto close_by_server = [&](std::uint16_t port) {
        w.app_s.accepted.clear();
        REQUIRE(w.connect(port));
        w.run();
        REQUIRE(w.app_s.accepted.size() == 1);
        w.server->close(w.app_s.accepted[0]);
        w.run();
        REQUIRE(w.server->in_time_wait(tuple(port)));
        w.advance(2);
    };
    close_by_server(41001);
    close_by_server(41002);
    close_by_server(41003);
    // 41002 again: its TIME-WAIT entry goes (reopened), the new connection is served
    // and closed, and its new entry is the newest.
    close_by_server(41002);
    CHECK(w.server->stats().time_wait_recycled == 1);
    CHECK(w.server->time_wait_entries() == 3);
    CHECK(w.server->stats().time_wait_overflow == 0);
    close_by_server(41004); // retires 41001
    CHECK_FALSE(w.server->in_time_wait(tuple(41001)));
    CHECK(w.server->in_time_wait(tuple(41003)));
    close_by_server(41005); // retires 41003, not the newer 41002
    CHECK_FALSE(w.server->in_time_wait(tuple(41003)));
    CHECK(w.server->in_time_wait(tuple(41002)));
    CHECK(w.server->in_time_wait(tuple(41004)));
    CHECK(w.server->in_time_wait(tuple(41005)));
    CHECK(w.server->stats().time_wait_overflow == 2);
    CHECK(w.server->connections() == 0);
}

namespace {

// A request/response load between the pair: the client keeps up to `concurrency`
// connections opening, sends a request on each, and closes after the server's FIN;
// the server answers the request and closes first, so the server holds TIME-WAIT (as
// linerate-server --mode respond does). Every connection is counted by how it ended.
struct request_response_load {
    struct client_app final : handler {
        std::uint32_t open = 0, completed = 0, failed = 0;
        void on_connected(lcore_context &ctx, conn c) override {
            static constexpr std::array<std::uint8_t, 16> request{'G', 'E', 'T'};
            CHECK(ctx.send(c, bytes_of(request)) == request.size());
        }
        void on_data(lcore_context &, conn c, std::span<const std::byte> d) override { received[c.id] += d.size(); }
        void on_peer_closed(lcore_context &ctx, conn c) override { ctx.close(c); }
        void on_closed(lcore_context &, conn c, close_reason r) override {
            --open;
            if (r == close_reason::normal && received[c.id] == 64)
                ++completed;
            else
                ++failed;
            received.erase(c.id);
        }
        std::map<conn_id, std::size_t> received;
    };
    struct server_app final : handler {
        std::uint32_t served = 0, failed = 0;
        void on_data(lcore_context &ctx, conn c, std::span<const std::byte>) override {
            static constexpr std::array<std::uint8_t, 64> response{};
            CHECK(ctx.send(c, bytes_of(response)) == response.size());
            ctx.close(c);
        }
        void on_closed(lcore_context &, conn, close_reason r) override { ++(r == close_reason::normal ? served : failed); }
    };

    pair_of_shards &w;
    client_app client;
    server_app server;
    std::uint32_t opened = 0;

    explicit request_response_load(pair_of_shards &pair) : w(pair) { REQUIRE(w.server->listen(server_ip, server_port, server)); }

    // Opens `total` connections, `concurrency` at a time, from distinct 4-tuples
    // (the client's address moves on every 50,000 ports), one virtual millisecond a
    // round, until all have ended or `max_ms` has passed. In waves, the next
    // `concurrency` open together once the last wave has ended.
    void run(std::uint32_t total, std::uint32_t concurrency, std::uint64_t max_ms, bool waves = false) {
        const std::uint64_t end = w.now + max_ms;
        while ((opened < total || client.open > 0) && w.now < end) {
            while (opened < total && client.open < concurrency && !(waves && client.open > 0 && opened % concurrency == 0)) {
                const ipv4_addr ip{client_ip.value + 16 + opened / 50'000};
                const auto port = static_cast<std::uint16_t>(10'000 + opened % 50'000);
                REQUIRE(w.client->connect(tcp::four_tuple{ip, server_ip, port, server_port}, client));
                ++opened;
                ++client.open;
            }
            w.run();
            // Nothing to open until connections end: skip to the next timer, since
            // nothing happens before it (waves wait out whole retransmission rounds).
            const bool waiting = waves && client.open > 0;
            std::optional<std::uint64_t> next;
            for (const shard *s : {w.client.get(), w.server.get()})
                if (const auto t = s->next_timer()) next = std::min(next.value_or(t->value), t->value);
            if (waiting && next && *next > w.now + 1) w.now = std::min(*next, end) - 1;
            w.advance(1);
        }
    }
};

} // namespace

TEST_CASE("shard: 100,000 connections through a 1,024-entry TIME-WAIT pool, none failed (TCPTimeWaitOverflow)",
          "[flow][shard][time_wait][exhaustion]") {
    pair_of_shards w({.connections = 1'024, .time_wait = 1'024}, {.connections = 1'024, .time_wait = 1'024});
    request_response_load load(w);
    load.run(100'000, 256, 60'000);
    CHECK(load.opened == 100'000);
    CHECK(load.client.completed == 100'000);
    CHECK(load.client.failed == 0);
    CHECK(load.server.served == 100'000);
    CHECK(load.server.failed == 0);
    // TIME-WAIT lasts 1 s here and the run is shorter than that many times over: most
    // connections found the pool full and retired the oldest entry.
    CHECK(w.server->stats().time_wait_overflow > 90'000);
    CHECK(w.server->stats().time_wait_overflow + w.server->shard_stats().time_wait_expired +
              w.server->time_wait_entries() == 100'000);
    CHECK(w.server->time_wait_entries() == 1'024);
    CHECK(w.server->connections() == 0); // no TCB kept in TIME-WAIT
    CHECK(w.server->stats().listen_drops == 0);
    CHECK(w.server->tuples().size() == 0); // TIME-WAIT is in the log, not the connection table
    CHECK(w.server->time_waits().count() == 1'024);
    w.advance(1'200);
    CHECK(w.server->time_wait_entries() == 0);
    CHECK(w.server->time_waits().count() == 0);
    CHECK(w.server->tuples().size() == 0);
}

TEST_CASE("shard: a TCB pool far smaller than the offered load drops SYNs, serves the rest and recovers",
          "[flow][shard][exhaustion]") {
    // 32 server TCBs against waves of 192 connections opening at once: SYNs that find
    // the pool full are dropped and counted (ListenDrops, no_memory), the client
    // retransmits them (RFC 6298 backoff), and connections already accepted finish
    // undisturbed. Here a handshake ends within one exchange, so the pool serves 32 per
    // retransmission round and a wave of six times the pool needs six of the client's
    // seven tries (Linux's SYN budget): every connection gets through. An overload
    // that never ends would make some SYN lose every try however the server drops;
    // what matters is that the server neither stalls nor fails anyone it took in.
    pair_of_shards w({.connections = 1'024, .time_wait = 1'024}, {.connections = 32, .time_wait = 64});
    request_response_load load(w);
    load.run(100'000, 192, 100'000'000, true);
    CHECK(load.opened == 100'000);
    CHECK(load.client.open == 0);
    CHECK(load.client.completed == 100'000);
    CHECK(load.client.failed == 0);
    CHECK(load.server.failed == 0);
    CHECK(load.server.served == 100'000);
    const auto drops = w.server->stats().listen_drops;
    CHECK(drops > 0);
    CHECK(w.server->stats().dropped[static_cast<std::size_t>(tcp::drop::no_memory)] == drops);
    CHECK(w.server->connections() == 0);

    // Once the overload is over, the pool serves at full rate again: a load within its
    // size loses no SYN and takes no longer than on a fresh pair.
    const std::uint64_t t0 = w.now;
    load.run(101'000, 32, 60'000);
    const std::uint64_t took = w.now - t0;
    CHECK(load.client.completed == 101'000);
    CHECK(w.server->stats().listen_drops == drops);
    pair_of_shards fresh({.connections = 1'024, .time_wait = 1'024}, {.connections = 32, .time_wait = 64});
    request_response_load reference(fresh);
    reference.run(1'000, 32, 60'000);
    CHECK(reference.client.completed == 1'000);
    CHECK(took == fresh.now);
}

TEST_CASE("shard: RFC 6191, a newer SYN reopens a 4-tuple in TIME-WAIT on the server", "[flow][shard][time_wait]") {
    pair_of_shards w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    w.app_c.close_on_peer_close = true;
    const auto id = w.connect(40007);
    w.run();
    // The server closes first, so the server holds TIME-WAIT.
    w.server->close(w.app_s.accepted.at(0));
    w.run();
    REQUIRE(w.server->time_wait_entries() == 1);
    REQUIRE(w.app_c.closed.count(*id) == 1);
    w.advance(10); // timestamps move on
    const auto again = w.connect(40007);
    REQUIRE(again);
    w.run();
    CHECK(w.server->stats().time_wait_recycled == 1);
    CHECK(w.server->time_wait_entries() == 0);
    CHECK(w.app_s.accepted.size() == 2);
    CHECK(w.client->connection(*again).current() == state::established);
}

TEST_CASE("shard: short of buffers, send() takes what was stored and writable follows the next ACK",
          "[flow][shard]") {
    pair_of_shards w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    w.app_s.echo = false;
    const auto id = w.connect(40008);
    w.run();
    struct writer final : handler {
        int writable = 0;
        void on_writable(lcore_context &, conn) override { ++writable; }
    } wr;
    // Rebind the client connection's application by opening a second one with `wr`.
    const auto id2 = w.client->connect(tcp::four_tuple{client_ip, server_ip, 40009, server_port}, wr);
    REQUIRE(id2);
    w.run();
    w.io_c.append_limit = 1000;
    const std::string msg(3000, 'y');
    CHECK(w.client->send(*id2, bytes_of(msg)) == 1000);
    CHECK(w.client->shard_stats().send_no_buffer == 1);
    w.run();
    w.advance(2);
    CHECK(wr.writable == 1);
    CHECK(w.app_s.received[w.app_s.accepted.at(1)] == std::string(1000, 'y'));
    (void)id;
}

TEST_CASE("shard: out-of-order bytes are held by the io and released once delivered", "[flow][shard]") {
    pair_of_shards w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    w.app_s.echo = false;
    const auto id = w.connect(40010);
    w.run();
    const std::string msg(3 * 1460, 'z');
    w.client->send(*id, bytes_of(msg));
    // Several segments in flight to the server: deliver them last first.
    REQUIRE(w.to_server.size() >= 3);
    std::reverse(w.to_server.begin(), w.to_server.end());
    w.run();
    CHECK(w.app_s.received[w.app_s.accepted.at(0)] == msg);
    CHECK(w.server->stats().ofo_queue >= 1);
    CHECK(w.io_s.held_.empty());
}

TEST_CASE("shard: ids are reused, and a connection's id stays valid through its closed callback", "[flow][shard]") {
    pair_of_shards w({.connections = 1, .time_wait = 1}, {.connections = 4, .time_wait = 4});
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    const auto a = w.connect(40011);
    REQUIRE(a);
    CHECK_FALSE(w.connect(40012)); // the pool holds one
    w.run();
    w.client->abort(*a);
    CHECK(w.app_c.closed.at(*a) == close_reason::aborted);
    w.run();
    const auto b = w.connect(40013);
    REQUIRE(b);
    CHECK(*b == *a);
    w.run();
    CHECK(w.client->connection(*b).current() == state::established);
    CHECK(w.server->stats().estab_resets == 1);
}

TEST_CASE("shard_context: a handler's calls act on its shard, and on a connection that is gone do nothing",
          "[flow][shard][context]") {
    pair_of_shards w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    const auto id = w.connect(40020);
    REQUIRE(id);
    w.run();
    shard_context &ctx = *w.ctx_c;
    const conn c{*id};
    CHECK(ctx.local(c) == endpoint{ipv4_address{client_ip.value}, 40020});
    CHECK(ctx.remote(c) == endpoint{ipv4_address{server_ip.value}, server_port});
    ctx.user_data(c) = 7;
    CHECK(w.client->user(*id) == 7);
    CHECK(ctx.send_space(c) == w.client->connection(*id).send_space(w.client->settings()));
    CHECK(ctx.send(c, "abc") == 3);
    w.run();
    CHECK(w.app_c.received[*id] == "abc"); // echoed by the server
    w.advance(3);
    CHECK(ctx.now_us() == w.now * 1000);

    ctx.abort(c);
    REQUIRE(w.app_c.closed.at(*id) == close_reason::aborted);
    w.run();
    // Gone: nothing is sent, nothing is read from or written to another connection.
    CHECK(ctx.send(c, "late") == 0);
    CHECK(ctx.send_space(c) == 0);
    ctx.shutdown(c);
    ctx.close(c);
    ctx.abort(c);
    CHECK(w.to_server.empty());
    CHECK(ctx.user_data(c) == 0);
    CHECK(ctx.local(c) == endpoint{});
    CHECK(ctx.remote(c) == endpoint{});

    // A shard alone has no route, no timer pool and no stack to stop.
    CHECK(ctx.connect(ipv4_address{server_ip.value}, server_port, w.app_c, 0).error == connect_error::no_route);
    const timer_id t = ctx.schedule(10, w.app_c, 1);
    CHECK_FALSE(t.valid());
    CHECK_FALSE(ctx.cancel(t));
    CHECK_FALSE(ctx.stop_asked());
    ctx.stop_stack();
    CHECK(ctx.stop_asked());
}

TEST_CASE("shard: abort_all resets every connection and forgets TIME-WAIT", "[flow][shard]") {
    pair_of_shards w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    for (std::uint16_t p = 41000; p < 41010; ++p) REQUIRE(w.connect(p));
    w.run();
    REQUIRE(w.server->connections() == 10);
    w.client->close(*w.client->find(tcp::four_tuple{client_ip, server_ip, 41000, server_port}));
    w.run();
    w.client->abort_all();
    CHECK(w.client->connections() == 0);
    CHECK(w.client->time_wait_entries() == 0);
    CHECK(w.client->tuples().size() == 0);
    w.run();
    CHECK(w.server->connections() == 0);
}

namespace {

// Request and response, as linerate-client and linerate-server --raw exchange them: the
// client sends its request when connected and closes when the server has; the server
// answers a whole request and closes at once.
struct request_response final : handler {
    bool is_client = false;
    std::size_t request = 16, response = 64;
    std::map<conn_id, std::size_t> got;
    std::vector<conn_id> ids;
    std::map<conn_id, close_reason> closed;

    void on_accepted(lcore_context &, conn c) override { ids.push_back(c.id); }
    void on_connected(lcore_context &ctx, conn c) override {
        ids.push_back(c.id);
        const std::string req(request, 'q');
        CHECK(ctx.send(c, req) == request);
    }
    void on_data(lcore_context &ctx, conn c, std::span<const std::byte> d) override {
        got[c.id] += d.size();
        if (!is_client && got[c.id] == request) {
            const std::string resp(response, 'r');
            CHECK(ctx.send(c, resp) == response);
            ctx.close(c);
        }
    }
    void on_peer_closed(lcore_context &ctx, conn c) override {
        if (is_client) ctx.close(c);
    }
    void on_closed(lcore_context &, conn c, close_reason r) override { closed[c.id] = r; }
};

// Delivers what is in flight one packet at a time, writing each down as
// "C>S SYN,ACK 16" (direction, flags, payload bytes).
std::vector<std::string> run_logged(pair_of_shards &w) {
    std::vector<std::string> out;
    const auto describe = [](const char *dir, const packet &p) {
        using f = tcp::tcp_flags;
        std::string flags;
        // Appended piece by piece: GCC 12 at -O3 without LTO falsely reports the string
        // temporary of `"," + std::string(name)` as an overlapping copy (-Wrestrict).
        for (const auto &[bit, name] : {std::pair{f::syn, "SYN"}, {f::fin, "FIN"}, {f::rst, "RST"}, {f::ack, "ACK"}}) {
            if (!p.seg.flags.has(bit)) continue;
            if (!flags.empty()) flags += ',';
            flags += name;
        }
        return std::string(dir) + " " + flags + " " + std::to_string(p.payload.size());
    };
    for (int guard = 0; guard < 1'000 && (!w.to_server.empty() || !w.to_client.empty()); ++guard) {
        if (!w.to_server.empty()) {
            packet p = std::move(w.to_server.front());
            w.to_server.pop_front();
            out.push_back(describe("C>S", p));
            w.server->input(p.from.reversed(), p.as_segment());
        }
        if (!w.to_client.empty()) {
            packet p = std::move(w.to_client.front());
            w.to_client.pop_front();
            out.push_back(describe("S>C", p));
            w.client->input(p.from.reversed(), p.as_segment());
        }
    }
    return out;
}

} // namespace

TEST_CASE("shard: RFC 9293 §3.10.7.3 and §3.10.4, what a callback sends carries the ACK and the FIN that are due: "
          "a request, a response and both closes in 6 segments",
          "[flow][shard][flush]") {
    for (const std::uint32_t delayed_ack_ms : {0u, 40u}) {
        CAPTURE(delayed_ack_ms);
        pair_of_shards w;
        w.cfg.delayed_ack_ms = delayed_ack_ms;
        w.make_shards(shard_limits{.connections = 4, .time_wait = 4}, shard_limits{.connections = 4, .time_wait = 4});
        request_response client, server;
        client.is_client = true;
        REQUIRE(w.server->listen(server_ip, server_port, server));
        const auto id = w.client->connect(tcp::four_tuple{client_ip, server_ip, 40100, server_port}, client);
        REQUIRE(id);
        const std::vector<std::string> expected{
            "C>S SYN 0",
            "S>C SYN,ACK 0",
            "C>S ACK 16",     // §3.10.7.3: the handshake's ACK on the request
            "S>C FIN,ACK 64", // §3.10.4: the FIN on the last data; the request's ACK too
            "C>S FIN,ACK 0",  // the ACK of the server's FIN on the client's own FIN
            "S>C ACK 0",
        };
        CHECK(run_logged(w) == expected);
        CHECK(client.got.at(*id) == 64);
        CHECK(server.got.at(server.ids.at(0)) == 16);
        CHECK(client.closed.at(*id) == close_reason::normal);
        CHECK(w.server->time_wait_entries() == 1);
        CHECK(w.client->connections() == 0);
        CHECK(w.client->shard_stats().flush_list_full == 0);
        CHECK(w.server->shard_stats().flush_list_full == 0);
    }
}

TEST_CASE("shard: a callback that sends on more connections than the flush list holds: the rest go out at once, "
          "counted, and nothing is lost",
          "[flow][shard][flush]") {
    constexpr std::uint32_t n = 1'100; // more than the shard's 1,024 flush slots
    // The server answers one connection's data with a message on every connection, all
    // from inside that one callback.
    struct broadcast final : handler {
        std::vector<conn_id> ids;
        void on_accepted(lcore_context &, conn c) override { ids.push_back(c.id); }
        void on_data(lcore_context &ctx, conn, std::span<const std::byte>) override {
            for (const conn_id t : ids) CHECK(ctx.send(conn{t}, "hello") == 5);
        }
    };
    pair_of_shards w({.connections = n, .time_wait = n}, {.connections = n, .time_wait = n});
    broadcast b;
    REQUIRE(w.server->listen(server_ip, server_port, b));
    std::vector<conn_id> ids;
    for (std::uint32_t i = 0; i < n; ++i) {
        const auto id = w.connect(static_cast<std::uint16_t>(41000 + i));
        REQUIRE(id);
        ids.push_back(*id);
        if (i % 100 == 99) w.run(); // within the listener's SYN backlog
    }
    w.run();
    REQUIRE(b.ids.size() == n);
    REQUIRE(w.client->send(ids[0], bytes_of("go")) == 2);
    w.run();
    CHECK(w.server->shard_stats().flush_list_full == n - 1'024);
    for (const conn_id id : ids) CHECK(w.app_c.received[id] == "hello");
}

TEST_CASE("shard: settings with a timer beyond the TCB's 32-bit deadlines are refused at construction",
          "[flow][shard]") {
    // The configuration file bounds every timer; settings built in code are checked by
    // the shard itself, in every build (an assert would vanish from a release build).
    tcp::isn_generator isn{key_a};
    memory_io io;
    tcp::settings cfg = fast_settings();
    CHECK_NOTHROW(shard(cfg, {.connections = 4, .time_wait = 4}, isn, io, tick{0}));
    cfg.keepalive_idle_ms = static_cast<std::uint32_t>(short_deadline::reach);
    CHECK_THROWS_AS(shard(cfg, {.connections = 4, .time_wait = 4}, isn, io, tick{0}), std::invalid_argument);
    cfg = fast_settings();
    cfg.msl_ms = static_cast<std::uint32_t>(short_deadline::reach / 2);
    CHECK_THROWS_AS(shard(cfg, {.connections = 4, .time_wait = 4}, isn, io, tick{0}), std::invalid_argument);
}

// The shard keeps a passive open's listener in the connection's user word until the
// application is told of it (the per-connection meta has no other room for it).
TEST_CASE("shard: an accepted connection's user word is 0 and its listener's queues are its own",
          "[flow][shard][listen]") {
    struct user_at_accept final : handler {
        std::vector<std::uint64_t> users;
        void on_accepted(lcore_context &ctx, conn c) override { users.push_back(ctx.user_data(c)); }
    };
    pair_of_shards w;
    // One half-open connection at a time per listener: a slot given back to the wrong
    // listener would leave the second one full.
    w.cfg.syn_backlog = 1;
    w.make_shards({.connections = 64, .time_wait = 64}, {.connections = 64, .time_wait = 64});
    user_at_accept first, second;
    REQUIRE(w.server->listen(server_ip, 81, first));
    REQUIRE(w.server->listen(server_ip, server_port, second)); // listener index 1
    for (std::uint16_t port = 40100; port < 40104; ++port) {
        REQUIRE(w.connect(port));
        w.run();
    }
    CHECK(first.users.empty());
    CHECK(second.users == std::vector<std::uint64_t>(4, 0));
    CHECK(w.server->connections() == 4);
    CHECK(w.server->stats().listen_drops == 0);
}

// tcp_burst's TCB stage: look_ahead() for a whole burst, then input() with each answer.
// An earlier segment of the burst may change the table in between; input() must then
// look again rather than trust an answer that no longer holds.
TEST_CASE("shard: a burst's lookups made ahead stand while the table is unchanged and are redone after",
          "[flow][shard][burst]") {
    pair_of_shards w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    const auto take = [&] {
        REQUIRE_FALSE(w.to_server.empty());
        packet p = std::move(w.to_server.front());
        w.to_server.pop_front();
        return p;
    };
    const auto input_ahead = [&](const packet &p, shard::lookahead la) {
        const tcp::four_tuple t = p.from.reversed();
        w.server->input(t, w.server->hash(t), p.as_segment(), la);
    };

    // A SYN twice in one burst: both looked up before either is processed, both found
    // absent. The second must meet the connection the first made (a repeated SYN in
    // SYN-RECEIVED, answered with the SYN-ACK again), not a listener.
    REQUIRE(w.connect(40200));
    const packet syn = take();
    const tcp::four_tuple t = syn.from.reversed();
    const auto first = w.server->look_ahead(t, w.server->hash(t));
    const auto second = w.server->look_ahead(t, w.server->hash(t));
    input_ahead(syn, first);
    input_ahead(syn, second);
    CHECK(w.server->connections() == 1);
    CHECK(w.server->stats().listen_drops == 0);
    REQUIRE(w.to_client.size() == 2); // the SYN-ACK, then the same SYN-ACK again
    CHECK(w.to_client[0].seg.seq == w.to_client[1].seg.seq);
    w.run();
    REQUIRE(w.app_s.accepted.size() == 1);
    CHECK(w.server->stats().passive_opens == 1);

    // Data on the connection, looked up ahead; then a new connection changes the table
    // before the data is processed. Both paths deliver the bytes.
    const auto id = *w.client->find(tcp::four_tuple{client_ip, server_ip, 40200, server_port});
    REQUIRE(w.client->send(id, bytes_of(std::string("ahead"))) == 5);
    const packet data = take();
    const tcp::four_tuple td = data.from.reversed();
    const auto stale = w.server->look_ahead(td, w.server->hash(td));
    REQUIRE(w.connect(40201));
    const packet syn2 = take();
    input_ahead(syn2, w.server->look_ahead(syn2.from.reversed(), w.server->hash(syn2.from.reversed())));
    CHECK(w.server->connections() == 2);
    input_ahead(data, stale); // made before the insert: looked up again
    CHECK(w.app_s.received[w.app_s.accepted[0]] == "ahead");
    REQUIRE(w.client->send(id, bytes_of(std::string("fresh"))) == 5);
    const packet more = take();
    input_ahead(more, w.server->look_ahead(td, w.server->hash(td))); // current: used as it is
    CHECK(w.app_s.received[w.app_s.accepted[0]] == "aheadfresh");
    w.run();
    CHECK(w.app_c.received[id] == "aheadfresh"); // echoed
}

// --- SYN cookies (RFC 4987 §3.6) -------------------------------------------------------

namespace {

// Sends `greeting` as soon as it is connected, so that the handshake's third segment
// carries data (the flush rule puts it on the ACK).
struct greeter final : handler {
    std::string greeting = "hello";
    std::string received;
    std::vector<close_reason> closed;
    bool close_after_greeting = false;
    void on_connected(lcore_context &ctx, conn c) override {
        CHECK(ctx.send(c, std::as_bytes(std::span(greeting))) == greeting.size());
        if (close_after_greeting) ctx.shutdown(c);
    }
    void on_data(lcore_context &, conn, std::span<const std::byte> d) override {
        for (const std::byte b : d) received.push_back(static_cast<char>(b));
    }
    void on_peer_closed(lcore_context &ctx, conn c) override { ctx.close(c); }
    void on_closed(lcore_context &, conn, close_reason r) override { closed.push_back(r); }
};

constexpr tcp::four_tuple client_side(std::uint16_t port) { return {client_ip, server_ip, port, server_port}; }

// Two shards whose server answers every SYN with a cookie (syn_cookies = always), with
// `adjust` applied to the settings of both first.
struct cookie_pair : pair_of_shards {
    explicit cookie_pair(void (*adjust)(tcp::settings &) = nullptr) {
        cfg.syn_cookies = tcp::syn_cookie_mode::always;
        if (adjust != nullptr) adjust(cfg);
        make_shards({.connections = 64, .time_wait = 64}, {.connections = 64, .time_wait = 64});
    }
};

// The SYN in flight to the server delivered, and the SYN-ACK back to the client.
void deliver_syn_and_syn_ack(pair_of_shards &w) {
    w.server->input(w.to_server.front().from.reversed(), w.to_server.front().as_segment());
    w.to_server.pop_front();
    w.client->input(w.to_client.front().from.reversed(), w.to_client.front().as_segment());
    w.to_client.pop_front();
}

} // namespace

TEST_CASE("RFC 4987 §3.6: with cookies always, the server keeps nothing for a SYN and the ACK makes the connection",
          "[flow][shard][syn_cookie]") {
    cookie_pair w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    greeter g;
    REQUIRE(w.client->connect(client_side(40300), g));
    // The SYN reaches the server: a SYN-ACK goes back, and no TCB is taken for it.
    const packet syn = w.to_server.front();
    w.to_server.pop_front();
    w.server->input(syn.from.reversed(), syn.as_segment());
    CHECK(w.server->connections() == 0);
    CHECK(w.server->stats().syncookies_sent == 1);
    REQUIRE(w.to_client.size() == 1);
    const packet syn_ack = w.to_client.front();
    CHECK(syn_ack.seg.flags.bits == (tcp_flags::syn | tcp_flags::ack));
    CHECK(syn_ack.seg.ack == syn.seg.seq + 1);
    // The rest: the ACK carries the greeting, the server echoes it and closes.
    w.run();
    CHECK(w.server->stats().syncookies_recv == 1);
    CHECK(w.server->stats().syncookies_failed == 0);
    CHECK(w.server->stats().passive_opens == 1);
    REQUIRE(w.app_s.accepted.size() == 1);
    CHECK(w.app_s.received[w.app_s.accepted[0]] == "hello");
    CHECK(g.received == "hello");
    // What the SYN offered came back from the cookie: the MSS (1460, the table's entry
    // for the client's 1460, less the timestamps' 12), window scale and SACK.
    const auto id = w.server->find(client_side(40300).reversed());
    REQUIRE(id);
    const tcp::connection &s = w.server->connection(*id);
    const tcp::connection &cl = w.client->connection(*w.client->find(client_side(40300)));
    CHECK(s.current() == state::established);
    CHECK(s.mss() == 1448);
    CHECK(s.timestamps());
    CHECK(s.sack_permitted());
    CHECK(s.snd_wscale() == cl.rcv_wscale());
    CHECK(s.rcv_wscale() == cl.snd_wscale());
    CHECK(cl.mss() == 1448);
}

TEST_CASE("RFC 4987 §3.6: a cookie connection without timestamps runs without window scaling and SACK",
          "[flow][shard][syn_cookie]") {
    cookie_pair w([](tcp::settings &s) { s.timestamps = false; });
    // The server sends nothing, so that no RTT sample but the handshake's could be taken.
    w.app_s.echo = false;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    greeter g;
    REQUIRE(w.client->connect(client_side(40301), g));
    w.run();
    REQUIRE(w.app_s.accepted.size() == 1);
    CHECK(w.app_s.received[w.app_s.accepted[0]] == "hello");
    const auto id = w.server->find(client_side(40301).reversed());
    REQUIRE(id);
    const tcp::connection &s = w.server->connection(*id);
    const tcp::connection &cl = w.client->connection(*w.client->find(client_side(40301)));
    CHECK_FALSE(s.timestamps());
    CHECK_FALSE(s.sack_permitted());
    CHECK_FALSE(cl.sack_permitted());
    CHECK(s.snd_wscale() == 0);
    CHECK(cl.snd_wscale() == 0);
    CHECK(s.mss() == 1460);
    // No tick of the SYN-ACK was kept: the handshake took no RTT sample.
    CHECK_FALSE(s.rto().has_sample());
}

TEST_CASE("RFC 4987 §3.6: an ACK whose cookie is not valid is reset as a stray ACK at LISTEN",
          "[flow][shard][syn_cookie]") {
    cookie_pair w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    tcp::segment forged{.seq = seq32{1000}, .ack = seq32{0x5eed'1234}, .flags = tcp_flags{tcp_flags::ack}, .window = 512};
    w.server->input(client_side(40302).reversed(), forged);
    CHECK(w.server->connections() == 0);
    CHECK(w.server->stats().syncookies_failed == 1);
    CHECK(w.server->stats().syncookies_recv == 0);
    // RFC 9293 §3.10.7.2 second: <SEQ=SEG.ACK><CTL=RST>.
    REQUIRE(w.to_client.size() == 1);
    CHECK(w.to_client.front().seg.flags.bits == tcp_flags::rst);
    CHECK(w.to_client.front().seg.seq == forged.ack);
}

TEST_CASE("RFC 4987 §3.6: with cookies auto, a SYN beyond the full SYN queue gets a cookie and both connect",
          "[flow][shard][syn_cookie]") {
    pair_of_shards w;
    w.cfg.syn_backlog = 1;
    w.make_shards({.connections = 64, .time_wait = 64}, {.connections = 64, .time_wait = 64});
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    greeter g1, g2;
    // The first SYN takes the queue's one place; its SYN-ACK is held back so the
    // connection stays half-open while the second SYN arrives.
    REQUIRE(w.client->connect(client_side(40303), g1));
    REQUIRE(w.client->connect(client_side(40304), g2));
    for (int i = 0; i < 2; ++i) {
        const packet p = w.to_server.front();
        w.to_server.pop_front();
        w.server->input(p.from.reversed(), p.as_segment());
    }
    CHECK(w.server->connections() == 1);
    CHECK(w.server->stats().req_q_full_do_cookies == 1);
    CHECK(w.server->stats().syncookies_sent == 1);
    CHECK(w.server->stats().listen_overflows == 0);
    w.run();
    CHECK(g1.received == "hello");
    CHECK(g2.received == "hello");
    CHECK(w.app_s.accepted.size() == 2);
    CHECK(w.server->stats().syncookies_recv == 1);
}

TEST_CASE("RFC 4987 §3.6: a cookie ACK carrying data and a FIN leaves the server in CLOSE-WAIT",
          "[flow][shard][syn_cookie]") {
    cookie_pair w;
    struct holder final : handler {
        std::string received;
        int peer_closed = 0;
        void on_data(lcore_context &, conn, std::span<const std::byte> d) override {
            for (const std::byte b : d) received.push_back(static_cast<char>(b));
        }
        void on_peer_closed(lcore_context &, conn) override { ++peer_closed; }
    } server_app;
    REQUIRE(w.server->listen(server_ip, server_port, server_app));
    greeter g;
    g.close_after_greeting = true;
    REQUIRE(w.client->connect(client_side(40305), g));
    w.run();
    CHECK(server_app.received == "hello");
    CHECK(server_app.peer_closed == 1);
    const auto id = w.server->find(client_side(40305).reversed());
    REQUIRE(id);
    CHECK(w.server->connection(*id).current() == state::close_wait);
    CHECK(w.server->stats().syncookies_recv == 1);
}

TEST_CASE("RFC 4987 §3.6: when the cookie ACK is lost, the retransmitted data still returns the cookie",
          "[flow][shard][syn_cookie]") {
    cookie_pair w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    greeter g;
    REQUIRE(w.client->connect(client_side(40306), g));
    deliver_syn_and_syn_ack(w);
    // The client's ACK with its greeting is lost.
    REQUIRE(w.to_server.size() == 1);
    CHECK(w.to_server.front().payload.size() == 5);
    w.to_server.pop_front();
    CHECK(w.server->connections() == 0);
    // Its retransmission (RFC 6298: after the initial RTO of 1 s) has the same SEG.SEQ
    // and SEG.ACK, so the cookie comes back with it.
    w.advance(1100);
    CHECK(w.server->stats().syncookies_recv == 1);
    REQUIRE(w.app_s.accepted.size() == 1);
    CHECK(w.app_s.received[w.app_s.accepted[0]] == "hello");
    CHECK(g.received == "hello");
}

TEST_CASE("RFC 4987 §3.6: a cookie ACK two periods late is refused", "[flow][shard][syn_cookie]") {
    cookie_pair w;
    REQUIRE(w.server->listen(server_ip, server_port, w.app_s));
    REQUIRE(w.client->connect(client_side(40307), w.app_c));
    w.server->input(w.to_server.front().from.reversed(), w.to_server.front().as_segment());
    w.to_server.pop_front();
    const packet syn_ack = w.to_client.front();
    w.to_client.pop_front();
    // The ACK the client would send, delivered to the server two cookie periods later.
    const tcp::segment ack{.seq = syn_ack.seg.ack, .ack = syn_ack.seg.seq + 1, .flags = tcp_flags{tcp_flags::ack},
                           .window = 1024};
    const std::uint64_t late_us = std::uint64_t{2} << tcp::syn_cookie_codec::period_shift;
    w.server->set_time(tick{late_us / 1000}, late_us);
    w.server->input(client_side(40307).reversed(), ack);
    CHECK(w.server->connections() == 0);
    CHECK(w.server->stats().syncookies_failed == 1);
    REQUIRE(w.to_client.size() == 1);
    CHECK(w.to_client.front().seg.flags.bits == tcp_flags::rst);
    // The same ACK one period late was still good.
    cookie_pair v;
    REQUIRE(v.server->listen(server_ip, server_port, v.app_s));
    REQUIRE(v.client->connect(client_side(40307), v.app_c));
    v.server->input(v.to_server.front().from.reversed(), v.to_server.front().as_segment());
    v.to_server.pop_front();
    const packet syn_ack2 = v.to_client.front();
    const tcp::segment ack2{.seq = syn_ack2.seg.ack, .ack = syn_ack2.seg.seq + 1, .flags = tcp_flags{tcp_flags::ack},
                            .window = 1024};
    const std::uint64_t next_us = std::uint64_t{1} << tcp::syn_cookie_codec::period_shift;
    v.server->set_time(tick{next_us / 1000}, next_us);
    v.server->input(client_side(40307).reversed(), ack2);
    CHECK(v.server->connections() == 1);
    CHECK(v.server->stats().syncookies_recv == 1);
}
