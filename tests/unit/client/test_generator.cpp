// linerate-client's generator on a real client shard, against a real server shard over
// an in-memory link: the lcore it polls on is a small engine::lcore whose clock, TX
// backlog and source ports the test sets. Its callbacks get the lcore's real context
// (api::lcore_state, as in the program), which polls it every turn. What is tested is
// the pacing: a run asked for N connections opens N, whatever held it back on the way.
#include "generator.hpp"
#include "lcore_state.hpp"
#include "modes.hpp"

#include <linerate/flow/shard.hpp>
#include <linerate/flow/shard_context.hpp>

#include "../../support/fake_lcore.hpp"
#include "../../support/memory_io.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <vector>

using namespace linerate;

namespace {

constexpr ipv4_addr client_ip{0xC6120001}; // 198.18.0.1
constexpr ipv4_addr server_ip{0xC6120002}; // 198.18.0.2

using testing::fake_lcore;
using testing::memory_io;
using testing::packet;

// Answers each request with a 4-byte raw response and closes first, unless told to
// keep the connection open (for the client to end: --close client, --hold).
struct responder final : handler {
    bool closes = true;
    std::uint64_t requests = 0;
    void on_data(lcore_context &ctx, conn c, std::span<const std::byte>) override {
        ++requests;
        ctx.send(c, "ok\r\n");
        if (closes) ctx.close(c);
    }
    void on_peer_closed(lcore_context &ctx, conn c) override { ctx.close(c); }
};

constexpr std::array<std::uint8_t, 16> key_a{1, 2, 3}, key_b{4, 5, 6};
constexpr std::array<std::uint8_t, 5> request{'h', 'e', 'l', 'l', 'o'};

struct bench {
    tcp::settings cfg = [] {
        tcp::settings s;
        s.msl_ms = 500;
        s.delayed_ack_ms = 0;
        return s;
    }();
    tcp::isn_generator isn_c{key_a}, isn_s{key_b};
    memory_io io_c, io_s;
    std::deque<packet> to_server, to_client;
    std::unique_ptr<flow::shard> client, server;
    std::unique_ptr<flow::shard_context> ctx_s;
    responder app_s;
    fake_lcore lc; // the lcore the generator polls on: the client shard, a clock, a backlog switch
    std::atomic<bool> stop{false};
    std::unique_ptr<api::lcore_state> ctx_c; // the client lcore's context and poller
    client::run_phase phase;
    std::unique_ptr<client::generator> gen;

    explicit bench(const client::settings &s, bool server_closes = true, handler *server_app = nullptr) {
        app_s.closes = server_closes;
        io_c.wire = &to_server;
        io_s.wire = &to_client;
        client = std::make_unique<flow::shard>(cfg, flow::shard_limits{.connections = 4096, .time_wait = 4096},
                                               isn_c, io_c, tick{0});
        server = std::make_unique<flow::shard>(cfg, flow::shard_limits{.connections = 4096, .time_wait = 4096},
                                               isn_s, io_s, tick{0});
        ctx_s = std::make_unique<flow::shard_context>(*server);
        REQUIRE(server->listen(server_ip, 80, server_app != nullptr ? *server_app : app_s));
        lc.shard = client.get();
        lc.local_ip = client_ip;
        phase.started = true;
        gen = std::make_unique<client::generator>(s, phase, 4096);
        ctx_c = std::make_unique<api::lcore_state>(lc, 0, stop);
        ctx_c->chain(gen.get());
        gen->set_context(*ctx_c);
    }
    [[nodiscard]] std::uint64_t open() const { return gen->stats().opened - gen->stats().closed; }
    [[nodiscard]] std::uint64_t ms() const { return lc.us / 1000; }

    // Turns until the generator has opened its count (at most `max_turns`), then 100
    // more, in which the last connections end.
    void run_to_end(int max_turns) {
        for (int i = 0; i < max_turns && !gen->quota_done(); ++i) turn();
        for (int i = 0; i < 100; ++i) turn();
    }

    // One loop turn of a millisecond: the generator opens what is due (polled by the
    // context), the link delivers everything both ways, the timers run.
    void turn() {
        lc.us += 1000;
        const tick now{lc.us / 1000};
        for (flow::shard *s : {client.get(), server.get()}) s->set_time(now, lc.us);
        ctx_c->poll(lc);
        testing::deliver_all(to_server, *server, to_client, *client);
        for (flow::shard *s : {client.get(), server.get()}) s->run_timers();
    }
};

client::settings paced(double rate, std::uint64_t connections) {
    client::settings s;
    s.target = server_ip;
    s.rate = rate;
    s.connections = connections;
    s.response_size = 4;
    s.close = client::close_mode::server;
    s.request = request;
    return s;
}

} // namespace

TEST_CASE("generator: a paced run opens its connections at the rate and completes them", "[client][generator]") {
    bench b(paced(1000, 500));
    b.run_to_end(1000);
    CHECK(b.gen->quota_done());
    CHECK(b.gen->stats().opened == 500);
    CHECK(b.gen->stats().missed == 0);
    CHECK(b.gen->stats().completed == 500);
    CHECK(b.gen->stats().failed == 0);
    // 1000 per second, one turn a millisecond: the 500th open falls due at 500 ms.
    CHECK(b.lc.us / 1000 >= 500);
    CHECK(b.lc.us / 1000 <= 700);
}

TEST_CASE("generator: opens forgotten while TX is backed up are not attempts: the run still opens all it was asked",
          "[client][generator]") {
    bench b(paced(1000, 500));
    // The device refuses frames for the first 300 ms: 300 opens fall due meanwhile and
    // are forgotten (not made later in a burst), and they are not counted against
    // --connections.
    b.lc.backlogged = true;
    for (int i = 0; i < 300; ++i) b.turn();
    CHECK(b.gen->stats().opened == 0);
    CHECK_FALSE(b.gen->quota_done());
    b.lc.backlogged = false;
    // The pacer moved on: the next opens come at the rate, not in a burst of 300, and
    // the ones it skipped are counted as missed.
    b.turn();
    CHECK(b.gen->stats().opened <= 2);
    CHECK(b.gen->stats().missed >= 299);
    CHECK(b.gen->stats().missed <= 301);
    b.run_to_end(2000);
    CHECK(b.gen->quota_done());
    CHECK(b.gen->stats().opened == 500);
    CHECK(b.gen->stats().completed == 500);
    CHECK(b.gen->stats().failed == 0);
}

namespace {
client::settings flood_of(client::flood_kind k, double rate, std::uint64_t segments) {
    client::settings s = paced(rate, segments);
    s.flood = k;
    s.target_port = 80;
    s.sources = {.first = ipv4_addr{0xC6130000}, .count = 256, .port_lo = 2000, .port_hi = 2009}; // 198.19.0.0-255
    return s;
}
} // namespace

TEST_CASE("generator: a flood sends stateless segments at the rate from random sources in the ranges, and opens "
          "nothing",
          "[client][generator][flood]") {
    bench b(flood_of(client::flood_kind::syn, 10'000, 2'000));
    b.run_to_end(1000);
    CHECK(b.gen->quota_done());
    CHECK(b.gen->stats().flood_sent == 2'000);
    CHECK(b.gen->stats().opened == 0);
    CHECK(b.client->connections() == 0);
    REQUIRE(b.lc.sent.size() == 2'000);
    // 10,000 per second, a turn a millisecond: 10 a turn, so 200 ms.
    CHECK(b.lc.us / 1000 >= 200);
    std::set<std::uint32_t> addresses;
    std::set<std::uint16_t> ports;
    std::set<std::uint32_t> seqs;
    for (const auto &[t, s] : b.lc.sent) {
        CHECK(t.local_ip.value - 0xC6130000u < 256u);
        CHECK(t.local_port >= 2000);
        CHECK(t.local_port <= 2009);
        CHECK(t.remote_ip == server_ip);
        CHECK(t.remote_port == 80);
        CHECK(s.flags.bits == tcp::tcp_flags::syn);
        CHECK(s.options.mss == std::optional<std::uint16_t>{1460});
        CHECK(s.payload_len == 0);
        addresses.insert(t.local_ip.value);
        ports.insert(t.local_port);
        seqs.insert(s.seq.raw());
    }
    // Spread over the ranges, not one source repeated.
    CHECK(addresses.size() == 256);
    CHECK(ports.size() == 10);
    CHECK(seqs.size() > 1'990);
}

TEST_CASE("generator: each flood kind sends its own segment", "[client][generator][flood]") {
    using f = tcp::tcp_flags;
    for (const auto &[kind, flags] : {std::pair{client::flood_kind::syn, std::uint8_t{f::syn}},
                                      std::pair{client::flood_kind::ack, std::uint8_t{f::ack}},
                                      std::pair{client::flood_kind::rst, std::uint8_t{f::rst}},
                                      std::pair{client::flood_kind::fin, std::uint8_t(f::fin | f::ack)}}) {
        const tcp::out_segment s = client::flood_segment(kind, 0x1234'5678'9abc'def0ull);
        CHECK(s.flags.bits == flags);
        CHECK(s.seq == seq32{0x9abc'def0});
        // RFC 9293 §3.10.7.1: a segment without ACK carries no acknowledgment number.
        if ((flags & f::ack) == 0) CHECK(s.ack == seq32{0});
        CHECK(client::parse_flood_kind(client::to_string(kind)) == kind);
    }
    CHECK_FALSE(client::parse_flood_kind("udp"));
}

TEST_CASE("generator: a flood the device cannot take falls behind and counts what it missed",
          "[client][generator][flood]") {
    bench b(flood_of(client::flood_kind::ack, 10'000, 2'000));
    b.lc.send_fails = true; // no mbuf, or the target's MAC not yet known
    for (int i = 0; i < 100; ++i) b.turn();
    CHECK(b.gen->stats().flood_sent == 0);
    CHECK(b.gen->stats().missed >= 990);
    b.lc.send_fails = false;
    b.run_to_end(1000);
    CHECK(b.gen->stats().flood_sent == 2'000);
}

namespace {
client::settings client_closes(double rate, std::uint64_t connections) {
    client::settings s = paced(rate, connections);
    s.close = client::close_mode::client;
    return s;
}
} // namespace

TEST_CASE("generator: --hold keeps each connection open that long after its last response, then closes it",
          "[client][generator][hold]") {
    client::settings s = client_closes(1000, 10);
    s.hold_us = 200'000;
    bench b(s, false);
    // 10 opens a millisecond apart, each answered within a turn or two: all open by
    // 20 ms, all held until 200 ms after their response.
    while (b.ms() < 150) b.turn();
    CHECK(b.gen->stats().opened == 10);
    CHECK(b.gen->stats().responses == 10);
    CHECK(b.open() == 10);
    CHECK(b.gen->stats().completed == 0);
    while (b.gen->stats().completed < 10 && b.ms() < 1000) b.turn();
    CHECK(b.gen->stats().completed == 10);
    CHECK(b.gen->stats().failed == 0);
    // The last opened at about 10 ms and was answered a turn or two later.
    CHECK(b.ms() >= 210);
    CHECK(b.ms() <= 230);
    // Each lived about the hold: the connection time (open to closed) is at least it.
    CHECK(b.gen->connection_us().min() >= 200'000);
    CHECK(b.gen->connection_us().max() < 220'000);
}

TEST_CASE("generator: --hold with no requests holds bare connections: N concurrent at rate R (RFC 3511 §5.2)",
          "[client][generator][hold]") {
    client::settings s = client_closes(1000, 50);
    s.requests_per_connection = 0;
    s.hold_us = 300'000;
    bench b(s, false);
    while (b.ms() < 100) b.turn();
    CHECK(b.gen->stats().opened == 50);
    CHECK(b.gen->stats().established == 50);
    CHECK(b.open() == 50);
    CHECK(b.app_s.requests == 0);
    b.run_to_end(1000);
    while (b.gen->stats().completed < 50 && b.ms() < 2000) b.turn();
    CHECK(b.gen->stats().completed == 50);
    CHECK(b.open() == 0);
    CHECK(b.gen->stats().failed == 0);
}

TEST_CASE("generator: a connection the server ends during its hold completes, and its wait is forgotten",
          "[client][generator][hold]") {
    // The server closes right after each response: the client closes on the server's
    // FIN, within the hold. The stale entries in the hold queue, some for slots that new
    // connections took meanwhile, must end nothing.
    client::settings s = client_closes(1000, 300);
    s.hold_us = 100'000;
    bench b(s, true);
    b.run_to_end(2000);
    while (b.gen->stats().closed < 300 && b.ms() < 3000) b.turn();
    CHECK(b.gen->stats().completed == 300);
    CHECK(b.gen->stats().failed == 0);
    // Closed at the server's FIN, not after the hold.
    CHECK(b.gen->connection_us().max() < 50'000);
}

TEST_CASE("generator: --request-interval spaces the requests on a connection", "[client][generator][hold]") {
    client::settings s = client_closes(1000, 1);
    s.requests_per_connection = 3;
    s.request_interval_us = 100'000;
    bench b(s, false);
    while (b.ms() < 50) b.turn();
    CHECK(b.app_s.requests == 1);
    while (b.ms() < 150) b.turn();
    CHECK(b.app_s.requests == 2);
    while (b.ms() < 250) b.turn();
    CHECK(b.app_s.requests == 3);
    b.run_to_end(100);
    CHECK(b.gen->stats().responses == 3);
    CHECK(b.gen->stats().completed == 1);
    CHECK(b.gen->connection_us().min() >= 200'000);
}

TEST_CASE("generator: each interval's latency goes to its own histograms, switched at the lcore's next turn",
          "[client][generator]") {
    bench b(paced(1000, 100));
    while (b.ms() < 40) b.turn();
    const std::uint64_t first = b.gen->stats().established;
    REQUIRE(first > 0);
    b.gen->start_interval(1);
    CHECK_FALSE(b.gen->interval_started(1));
    b.turn();
    REQUIRE(b.gen->interval_started(1));
    // Interval 0 holds what came before the switch, and nothing is added to it after.
    const std::uint64_t in_first = b.gen->interval_connect_us(0).count();
    CHECK(in_first >= first);
    b.run_to_end(1000);
    CHECK(b.gen->interval_connect_us(0).count() == in_first);
    CHECK(b.gen->interval_connect_us(0).count() + b.gen->interval_connect_us(1).count() == 100);
    CHECK(b.gen->interval_first_byte_us(0).count() + b.gen->interval_first_byte_us(1).count() == 100);
    b.gen->clear_interval(0);
    CHECK(b.gen->interval_connect_us(0).count() == 0);
}

TEST_CASE("generator and the server's respond mode: HTTP keep-alive, each request on a connection answered "
          "(RFC 9112 §9.3)",
          "[client][generator][hold]") {
    // linerate-server --mode respond --close client keeps the connection for the next
    // request; linerate-client --requests-per-connection 3 --request-interval sends them.
    const std::vector<std::uint8_t> response = server::http_response(64);
    server::server_app app(server::mode::respond, response, false);
    static constexpr std::string_view get = "GET / HTTP/1.1\r\nHost: 198.18.0.2\r\n\r\n";
    client::settings s = client_closes(1000, 20);
    s.request = std::span(reinterpret_cast<const std::uint8_t *>(get.data()), get.size());
    s.response_size = 0; // HTTP: the response says its length
    s.requests_per_connection = 3;
    s.request_interval_us = 10'000;
    bench b(s, false, &app);
    b.run_to_end(1000);
    while (b.gen->stats().closed < 20 && b.ms() < 2000) b.turn();
    CHECK(b.gen->stats().completed == 20);
    CHECK(b.gen->stats().responses == 60);
    CHECK(b.gen->stats().failed == 0);
    CHECK(app.stats().requests == 60);
    CHECK(app.stats().responses == 60);
}

TEST_CASE("server: --listen PORT takes --mode, PORT:MODE its own", "[client][server]") {
    using server::mode;
    CHECK(server::parse_listen("80", "respond") == std::pair{std::uint16_t{80}, mode::respond});
    CHECK(server::parse_listen("7:echo", "respond") == std::pair{std::uint16_t{7}, mode::echo});
    CHECK(server::parse_listen("9:discard", "echo") == std::pair{std::uint16_t{9}, mode::discard});
    CHECK(server::parse_listen("65535:respond", "echo") == std::pair{std::uint16_t{65535}, mode::respond});
    for (const char *bad : {"0", "65536", "7:", "7:bogus", ":echo", "x", "80x", "-1", "123456", ""}) {
        INFO(bad);
        CHECK_FALSE(server::parse_listen(bad, "respond"));
    }
    CHECK_FALSE(server::parse_listen("80", "bogus"));
    for (const mode m : {mode::echo, mode::respond, mode::discard}) CHECK(server::parse_mode(server::to_string(m)) == m);
}

TEST_CASE("generator: --target ranges are cycled, addresses first, then ports", "[client][generator]") {
    // Two addresses (only the first listens here: the second's SYNs are answered by
    // nobody) and three ports: the opens go to each (address, port) in turn.
    client::settings s = paced(1000, 12);
    s.target_count = 2;
    s.target_port_count = 3;
    s.flood = client::flood_kind::syn; // stateless, so every destination is seen in what is sent
    s.sources = {.first = client_ip, .count = 1, .port_lo = 2000, .port_hi = 2000};
    bench b(s);
    b.run_to_end(100);
    REQUIRE(b.lc.sent.size() == 12);
    for (std::size_t i = 0; i < 12; ++i) {
        INFO(i);
        CHECK(b.lc.sent[i].first.remote_ip.value == server_ip.value + i % 2);
        CHECK(b.lc.sent[i].first.remote_port == 80 + (i / 2) % 3);
    }
}

TEST_CASE("generator: raw requests with no response expected (a discard server) complete once sent",
          "[client][generator]") {
    struct sink final : handler {
        std::uint64_t bytes = 0;
        void on_data(lcore_context &, conn, std::span<const std::byte> d) override { bytes += d.size(); }
        void on_peer_closed(lcore_context &ctx, conn c) override { ctx.close(c); }
    } discard;
    client::settings s = client_closes(1000, 30);
    s.no_response = true;
    s.response_size = 0;
    s.requests_per_connection = 1000; // back to back, in a loop, not a recursion per request
    bench b(s, false, &discard);
    b.run_to_end(1000);
    while (b.gen->stats().closed < 30 && b.ms() < 5000) b.turn();
    CHECK(b.gen->stats().completed == 30);
    CHECK(b.gen->stats().requests == 30'000);
    CHECK(b.gen->stats().responses == 0);
    CHECK(discard.bytes == 30'000 * request.size());
}
