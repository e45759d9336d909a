// The public headers' own behaviour, without a stack: value types, the command-line
// split every DPDK program does, the error type, and a handler driven through a fake
// lcore_context (what an embedder's unit tests of their handlers look like).
#include <linerate/linerate.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

using linerate::conn;
using linerate::ipv4_address;

TEST_CASE("ipv4_address: dotted quads parse and print back; anything else is refused", "[api][types]") {
    const auto a = ipv4_address::parse("198.18.0.1");
    REQUIRE(a);
    CHECK(a->value == 0xc6120001u);
    CHECK(*a == ipv4_address::from_octets(198, 18, 0, 1));
    CHECK(a->to_string() == "198.18.0.1");
    CHECK(ipv4_address::parse("0.0.0.0")->value == 0);
    CHECK(ipv4_address::parse("255.255.255.255")->to_string() == "255.255.255.255");
    for (const char *bad : {"", "1.2.3", "1.2.3.4.", "1.2.3.256", "1..2.3", "a.b.c.d", "1.2.3.4 ", "1234.1.1.1",
                            " 1.2.3.4", "1.2.3.-4"})
        CHECK_FALSE(ipv4_address::parse(bad));
    static_assert(ipv4_address::parse("10.0.0.1")->value == 0x0a000001u, "usable at compile time");
}

TEST_CASE("Close reasons and connect errors have stable names", "[api][types]") {
    using linerate::close_reason;
    CHECK(to_string(close_reason::normal) == "normal");
    CHECK(to_string(close_reason::reset) == "reset");
    CHECK(to_string(close_reason::refused) == "refused");
    CHECK(to_string(close_reason::timeout) == "timeout");
    CHECK(to_string(close_reason::aborted) == "aborted");
    CHECK(to_string(linerate::connect_error::no_source) == "no_source");
    CHECK_FALSE(static_cast<bool>(linerate::connect_result{conn{}, linerate::connect_error::no_route}));
    CHECK(static_cast<bool>(linerate::connect_result{conn{3}, linerate::connect_error::none}));
    CHECK_FALSE(conn{}.valid());
    CHECK_FALSE(linerate::timer_id{}.valid());
}

TEST_CASE("split_command_line: EAL options before --, the program's after", "[api][types]") {
    std::vector<std::string> words{"prog", "--no-huge", "-l", "0", "--", "cfg.toml", "7"};
    std::vector<char *> argv;
    for (auto &w : words) argv.push_back(w.data());
    const auto cl = linerate::split_command_line(static_cast<int>(argv.size()), argv.data());
    CHECK(cl.program == "prog");
    CHECK(cl.eal == std::vector<std::string>{"--no-huge", "-l", "0"});
    CHECK(cl.args == std::vector<std::string>{"cfg.toml", "7"});

    const auto none = linerate::split_command_line(1, argv.data());
    CHECK(none.eal.empty());
    CHECK(none.args.empty());
    const auto no_sep = linerate::split_command_line(3, argv.data());
    CHECK(no_sep.eal == std::vector<std::string>{"--no-huge", "-l"});
    CHECK(no_sep.args.empty());
}

TEST_CASE("linerate::error carries its kind and message and is a std::runtime_error", "[api][types]") {
    try {
        throw linerate::error(linerate::error_kind::configuration, "x.toml:3: port.mtu: 10 is below 68");
    } catch (const std::runtime_error &e) {
        CHECK(std::string(e.what()) == "x.toml:3: port.mtu: 10 is below 68");
        const auto *le = dynamic_cast<const linerate::error *>(&e);
        REQUIRE(le != nullptr);
        CHECK(le->kind() == linerate::error_kind::configuration);
    }
}

namespace {

// What an embedder writes to test a handler without DPDK.
class fake_context final : public linerate::lcore_context {
public:
    unsigned index() const noexcept override { return 0; }
    unsigned lcore_id() const noexcept override { return 0; }
    std::uint64_t now_us() const noexcept override { return now; }
    std::size_t send(conn c, std::span<const std::byte> b) noexcept override {
        sent[c.id].append(reinterpret_cast<const char *>(b.data()), b.size());
        return b.size();
    }
    using lcore_context::send;
    std::size_t send_space(conn) const noexcept override { return 1 << 20; }
    void shutdown(conn) noexcept override {}
    void close(conn c) noexcept override { closed.push_back(c.id); }
    void abort(conn) noexcept override {}
    std::uint64_t &user_data(conn c) noexcept override { return user[c.id]; }
    linerate::endpoint local(conn) const noexcept override { return {}; }
    linerate::endpoint remote(conn) const noexcept override { return {}; }
    linerate::connect_result connect(ipv4_address, std::uint16_t, linerate::handler &,
                                     std::uint64_t) noexcept override {
        return {conn{}, linerate::connect_error::not_running};
    }
    linerate::timer_id schedule(std::uint64_t, linerate::handler &, std::uint64_t) noexcept override { return {}; }
    bool cancel(linerate::timer_id) noexcept override { return false; }
    void stop_stack() noexcept override {}

    std::uint64_t now = 0;
    std::map<std::uint32_t, std::string> sent;
    std::map<std::uint32_t, std::uint64_t> user;
    std::vector<std::uint32_t> closed;
};

// Counts bytes per connection in the user word and answers "ok" when the peer closes.
class counting final : public linerate::handler {
public:
    void on_data(linerate::lcore_context &ctx, conn c, std::span<const std::byte> p) override {
        ctx.user_data(c) += p.size();
    }
    void on_peer_closed(linerate::lcore_context &ctx, conn c) override {
        ctx.send(c, "ok " + std::to_string(ctx.user_data(c)));
        ctx.close(c);
    }
};

} // namespace

TEST_CASE("A handler runs against a fake lcore_context; callbacks it does not override do nothing",
          "[api][handler]") {
    fake_context ctx;
    counting h;
    const std::string hello = "hello";
    h.on_start(ctx);
    h.on_accepted(ctx, conn{4});
    h.on_data(ctx, conn{4}, std::as_bytes(std::span(hello.data(), hello.size())));
    h.on_data(ctx, conn{4}, std::as_bytes(std::span(hello.data(), 2)));
    h.on_writable(ctx, conn{4});
    h.on_timer(ctx, 9);
    h.on_peer_closed(ctx, conn{4});
    h.on_closed(ctx, conn{4}, linerate::close_reason::normal);
    CHECK(ctx.sent[4] == "ok 7");
    CHECK(ctx.closed == std::vector<std::uint32_t>{4});
}
