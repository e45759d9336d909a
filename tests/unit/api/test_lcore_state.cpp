// The lcore_context of an engine lcore (lib/api/src/lcore_state.hpp), over a fake
// lcore whose shard talks to a server shard in memory: on_start and the chained poller,
// connect() and its errors, timers, the stop flag, and that callbacks get this context.
#include "lcore_state.hpp"

#include <linerate/flow/shard.hpp>
#include <linerate/flow/shard_context.hpp>

#include "../../support/fake_lcore.hpp"
#include "../../support/memory_io.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

using namespace linerate;

namespace {

constexpr ipv4_addr server_ip{0xC6120002}; // 198.18.0.2
constexpr std::uint16_t server_port = 80;
constexpr ipv4_address server_address{server_ip.value};

constexpr std::array<std::uint8_t, 16> key_a{1, 2, 3}, key_b{4, 5, 6};

// Opens a connection when started; records what it is told, and with which context.
struct client_handler final : handler {
    int started = 0;
    connect_result opened{};
    std::vector<conn> connected;
    std::vector<std::uint64_t> timers;
    std::vector<const lcore_context *> contexts;

    void on_start(lcore_context &ctx) override {
        ++started;
        contexts.push_back(&ctx);
        opened = ctx.connect(server_address, server_port, *this, 42);
    }
    void on_connected(lcore_context &ctx, conn c) override {
        contexts.push_back(&ctx);
        connected.push_back(c);
    }
    void on_timer(lcore_context &ctx, std::uint64_t cookie) override {
        contexts.push_back(&ctx);
        timers.push_back(cookie);
    }
};

// A program's own per-turn step, chained behind the context.
struct step final : engine::poller {
    const client_handler *h = nullptr;
    int polls = 0;
    int started_before = 0; // what on_start had done when this step first ran
    void poll(engine::lcore &) noexcept override {
        if (polls++ == 0) started_before = h->started;
    }
};

struct bench {
    tcp::settings cfg{};
    tcp::isn_generator isn_c{key_a}, isn_s{key_b};
    testing::memory_io io_c, io_s;
    std::deque<testing::packet> to_server, to_client;
    flow::shard client{cfg, {.connections = 16, .time_wait = 16}, isn_c, io_c, tick{0}};
    flow::shard server{cfg, {.connections = 16, .time_wait = 16}, isn_s, io_s, tick{0}};
    flow::shard_context server_ctx{server};
    handler server_app; // accepts, does nothing else
    testing::fake_lcore lc;
    std::atomic<bool> stop{false};
    std::unique_ptr<api::lcore_state> ctx;

    explicit bench(std::uint32_t timers = 16) {
        io_c.wire = &to_server;
        io_s.wire = &to_client;
        REQUIRE(server.listen(server_ip, server_port, server_app));
        lc.shard = &client;
        ctx = std::make_unique<api::lcore_state>(lc, timers, stop);
    }
    // One loop turn at `us`: the context's poll, then the link both ways.
    void turn(std::uint64_t us) {
        lc.us = us;
        for (flow::shard *s : {&client, &server}) s->set_time(tick{us / 1000}, us);
        ctx->poll(lc);
        testing::deliver_all(to_server, server, to_client, client);
    }
};

} // namespace

TEST_CASE("lcore_state: connect() is not_running before the first poll; there on_start runs once, then the chained "
          "poller, and the callbacks get this context",
          "[api][lcore_state]") {
    bench b;
    auto &h = static_cast<client_handler &>(b.ctx->adopt(std::make_unique<client_handler>()));
    step s;
    s.h = &h;
    b.ctx->chain(&s);

    CHECK(b.ctx->connect(server_address, server_port, h, 0).error == connect_error::not_running);
    CHECK(b.ctx->read_counters().connect_failed == 1);
    CHECK(b.client.connections() == 0);

    b.turn(1000);
    CHECK(h.started == 1);
    CHECK(s.polls == 1);
    CHECK(s.started_before == 1);
    REQUIRE(h.opened);
    CHECK(b.ctx->user_data(h.opened.connection) == 42);
    CHECK(b.ctx->local(h.opened.connection).address.value == b.lc.local_ip.value);
    CHECK(b.ctx->remote(h.opened.connection) == endpoint{server_address, server_port});
    REQUIRE(h.connected == std::vector<conn>{h.opened.connection});

    b.turn(2000);
    CHECK(h.started == 1); // once
    CHECK(s.polls == 2);
    for (const lcore_context *c : h.contexts) CHECK(c == b.ctx.get());
    CHECK(b.ctx->read_counters().connect_failed == 1);
}

TEST_CASE("lcore_state: the engine's connect errors are the public ones, each counted (AppConnectFailed)",
          "[api][lcore_state]") {
    bench b;
    handler h;
    b.turn(1000);
    const std::array<std::pair<engine::connect_error, connect_error>, 3> cases{{
        {engine::connect_error::no_route, connect_error::no_route},
        {engine::connect_error::no_source, connect_error::no_source},
        {engine::connect_error::no_memory, connect_error::no_memory},
    }};
    for (const auto &[engine_error, public_error] : cases) {
        b.lc.refuse = engine_error;
        const connect_result r = b.ctx->connect(server_address, server_port, h, 0);
        CHECK(r.error == public_error);
        CHECK_FALSE(r.connection.valid());
    }
    CHECK(b.ctx->read_counters().connect_failed == 3);
    CHECK(b.client.connections() == 0);
}

TEST_CASE("lcore_state: timers fire at a poll once due, never early, with this context; a full pool is counted",
          "[api][lcore_state][timers]") {
    bench b(1);
    client_handler h; // not adopted: no on_start, no connection
    b.turn(1000);
    const timer_id t = b.ctx->schedule(100, h, 7);
    REQUIRE(t.valid());
    CHECK_FALSE(b.ctx->schedule(100, h, 8).valid()); // a pool of one
    CHECK(b.ctx->read_counters().timers_full == 1);
    b.turn(1099);
    CHECK(h.timers.empty());
    b.turn(1200);
    CHECK(h.timers == std::vector<std::uint64_t>{7});
    REQUIRE(h.contexts.size() == 1);
    CHECK(h.contexts[0] == b.ctx.get());
    CHECK(b.ctx->read_counters().timers_fired == 1);
    CHECK_FALSE(b.ctx->cancel(t)); // it fired
    CHECK(b.ctx->now_us() == 1200);
    CHECK(b.ctx->index() == b.lc.worker_index());
    CHECK(b.ctx->lcore_id() == b.lc.lcore_id());
}

TEST_CASE("lcore_state: stop_stack() sets the engine's stop flag, and a watched flag is copied to it at the next poll",
          "[api][lcore_state]") {
    bench b;
    b.ctx->stop_stack();
    CHECK(b.stop.load());

    b.stop = false;
    std::atomic<bool> program_flag{false};
    b.ctx->watch(&program_flag);
    b.turn(1000);
    CHECK_FALSE(b.stop.load());
    program_flag = true;
    b.turn(2000);
    CHECK(b.stop.load());
}
