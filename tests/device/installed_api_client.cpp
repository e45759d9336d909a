// A client on linerate's public API, for tests/device/test_installed_api.py: it is
// compiled against the installed tree with pkg-config alone, like the echo example,
// and drives the parts a server does not: attach() and on_start, connect() from each
// lcore, on_connected, per-connection user data, timers (a periodic one paces the
// connections, one is cancelled, a watchdog bounds the run), stop_stack() and counters.
//
//   installed_api_client [EAL options] -- CONFIG HOST PORT CONNECTIONS SIZE
//
// After the stack is up it prints "ready" and waits for a line on stdin (the test
// configures the kernel's side of the tap meanwhile). Each connection sends SIZE bytes
// of a fixed pattern, checks that the same bytes come back and closes. Prints one line
// of results; exit status 0 when every connection came back whole.
#include <linerate/linerate.hpp>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

std::atomic<unsigned> lcores_done{0};
std::atomic<unsigned> echoed{0}, failed{0}, cancel_ok{0}, watchdog_fired{0};

constexpr std::uint64_t tick_cookie = 1, never_cookie = 2, watchdog_cookie = 3;

std::byte pattern(std::uint64_t i) { return static_cast<std::byte>((i * 7 + 3) & 0xff); }

class client final : public linerate::handler {
public:
    client(unsigned lcores, linerate::ipv4_address host, std::uint16_t port, unsigned total, std::uint32_t size)
        : lcores_(lcores), host_(host), port_(port), size_(size) {
        // Lcore i opens its share; lcore 0 also the remainder.
        share_ = total / lcores;
        remainder_ = total % lcores;
    }

    void on_start(linerate::lcore_context &ctx) override {
        if (ctx.index() == 0) to_open_ = share_ + remainder_;
        else to_open_ = share_;
        ctx.schedule(1000, *this, tick_cookie);
        const linerate::timer_id never = ctx.schedule(3'600'000'000ull, *this, never_cookie);
        if (never.valid() && ctx.cancel(never) && !ctx.cancel(never)) ++cancel_ok;
        ctx.schedule(30'000'000, *this, watchdog_cookie);
        data_.resize(size_);
        for (std::uint32_t i = 0; i < size_; ++i) data_[i] = pattern(i);
        finish_if_done(ctx);
    }

    void on_timer(linerate::lcore_context &ctx, std::uint64_t cookie) override {
        if (cookie == watchdog_cookie) {
            ++watchdog_fired;
            ctx.stop_stack();
            return;
        }
        if (cookie != tick_cookie || opened_ == to_open_) return;
        const auto r = ctx.connect(host_, port_, *this, 0);
        if (!r) {
            std::fprintf(stderr, "connect: %s\n", std::string(linerate::to_string(r.error)).c_str());
            ++failed;
            ++finished_;
        }
        ++opened_;
        if (opened_ < to_open_) ctx.schedule(1000, *this, tick_cookie); // one connection per millisecond
        finish_if_done(ctx);
    }

    void on_connected(linerate::lcore_context &ctx, linerate::conn c) override {
        if (ctx.send(c, data_) != data_.size()) ctx.abort(c);
    }

    void on_data(linerate::lcore_context &ctx, linerate::conn c, std::span<const std::byte> payload) override {
        std::uint64_t &received = ctx.user_data(c); // bytes back so far; bit 63: a byte was wrong
        for (std::size_t i = 0; i < payload.size(); ++i)
            if (payload[i] != pattern((received & ~(1ull << 63)) + i)) received |= 1ull << 63;
        received += payload.size();
        if ((received & ~(1ull << 63)) >= size_) ctx.close(c);
    }

    void on_closed(linerate::lcore_context &ctx, linerate::conn c, linerate::close_reason why) override {
        const std::uint64_t received = ctx.user_data(c);
        if (why == linerate::close_reason::normal && received == size_) ++echoed;
        else {
            std::fprintf(stderr, "connection closed %s after %llu bytes\n", std::string(to_string(why)).c_str(),
                         static_cast<unsigned long long>(received));
            ++failed;
        }
        ++finished_;
        finish_if_done(ctx);
    }

private:
    void finish_if_done(linerate::lcore_context &ctx) {
        if (done_ || finished_ < to_open_) return;
        done_ = true;
        if (++lcores_done == lcores_) ctx.stop_stack();
    }

    unsigned lcores_;
    linerate::ipv4_address host_;
    std::uint16_t port_;
    std::uint32_t size_;
    unsigned share_ = 0, remainder_ = 0, to_open_ = 0, opened_ = 0, finished_ = 0;
    bool done_ = false;
    std::vector<std::byte> data_;
};

} // namespace

int main(int argc, char **argv) {
    const auto cl = linerate::split_command_line(argc, argv);
    if (cl.args.size() != 5) {
        std::fprintf(stderr, "usage: %s [EAL options] -- CONFIG HOST PORT CONNECTIONS SIZE\n", cl.program.c_str());
        return 2;
    }
    const auto host = linerate::ipv4_address::parse(cl.args[1]);
    if (!host) return 2;
    const auto port = static_cast<std::uint16_t>(std::stoul(cl.args[2]));
    const auto total = static_cast<unsigned>(std::stoul(cl.args[3]));
    const auto size = static_cast<std::uint32_t>(std::stoul(cl.args[4]));
    try {
        linerate::stack stack(cl.args[0], cl.eal);
        const unsigned n = stack.lcores();
        stack.attach([&](unsigned) { return std::make_unique<client>(n, *host, port, total, size); });
        std::printf("ready %u lcore(s)\n", n);
        std::fflush(stdout);
        std::string go;
        std::getline(std::cin, go);
        stack.run();
        const auto c = stack.counters();
        std::printf("echoed %u failed %u cancel_ok %u watchdog %u ActiveOpens %llu AppTimersFired %llu "
                    "AppConnectFailed %llu\n",
                    echoed.load(), failed.load(), cancel_ok.load(), watchdog_fired.load(),
                    static_cast<unsigned long long>(c.at("ActiveOpens")),
                    static_cast<unsigned long long>(c.at("AppTimersFired")),
                    static_cast<unsigned long long>(c.at("AppConnectFailed")));
        return echoed == total && failed == 0 && watchdog_fired == 0 && cancel_ok == n ? 0 : 1;
    } catch (const linerate::error &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
