// A TCP echo server on linerate's public API, built with nothing but pkg-config:
//
//   g++ -std=c++20 -O2 echo_server.cpp -o echo_server $(pkg-config --cflags --libs linerate)
//   echo_server [EAL options] -- CONFIG [PORT [SECONDS]]
//
// It echoes on PORT (default 7) on every lcore of CONFIG until SIGINT or SIGTERM, or
// for SECONDS, then prints two counters and exits 0 (2 for a bad file, 1 otherwise).
#include <linerate/linerate.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

namespace {

std::atomic<bool> stop_requested{false};

// One per lcore, called only on that lcore: its connections need no lock.
class echo final : public linerate::handler {
public:
    void on_data(linerate::lcore_context &ctx, linerate::conn c, std::span<const std::byte> payload) override {
        // payload is the received packet itself; send() copies what it takes. Echo
        // cannot slow its peer down (the receive window is TCP's), so a send buffer
        // that overflows means a peer that does not read: reset it.
        if (ctx.send(c, payload) < payload.size()) ctx.abort(c);
    }
    void on_peer_closed(linerate::lcore_context &ctx, linerate::conn c) override { ctx.close(c); }
};

} // namespace

int main(int argc, char **argv) {
    const linerate::command_line cl = linerate::split_command_line(argc, argv);
    if (cl.args.empty()) {
        std::fprintf(stderr, "usage: %s [EAL options] -- CONFIG [PORT [SECONDS]]\n", cl.program.c_str());
        return 2;
    }
    const auto port = static_cast<std::uint16_t>(cl.args.size() > 1 ? std::stoul(cl.args[1]) : 7);
    const std::chrono::seconds duration{cl.args.size() > 2 ? std::stoul(cl.args[2]) : 0};
    std::signal(SIGINT, [](int) { stop_requested.store(true); });
    std::signal(SIGTERM, [](int) { stop_requested.store(true); });
    try {
        linerate::stack stack(cl.args[0], cl.eal);
        stack.listen(port, [](unsigned) { return std::make_unique<echo>(); });
        for (const auto &p : stack.ports())
            std::printf("echoing on %s port %u (%s), %u lcore(s)\n", p.address.c_str(), port, p.device.c_str(),
                        stack.lcores());
        std::fflush(stdout);
        stack.run(stop_requested, duration);
        const auto counters = stack.counters();
        std::printf("PassiveOpens %llu EstabResets %llu\n",
                    static_cast<unsigned long long>(counters.at("PassiveOpens")),
                    static_cast<unsigned long long>(counters.at("EstabResets")));
    } catch (const linerate::error &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return e.kind() == linerate::error_kind::configuration ? 2 : 1;
    }
    return 0;
}
