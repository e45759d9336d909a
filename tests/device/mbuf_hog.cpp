// An echo server on the public API whose control thread can take every free mbuf of
// the process's pools and give them back: test_mbuf_exhaustion.py's way of starving the
// stack without touching it.
//
//   mbuf_hog [EAL options] -- CONFIG PORT CONTROL_DIR
//
// CONTROL_DIR/hold takes the mbufs (then CONTROL_DIR/held says how many), /release gives
// them back (then /released, after /starved_counters: the counters before the release),
// /stop ends the run. It holds only pointers: the mbufs
// themselves stay in the pool's memory, untouched.
#include <linerate/linerate.hpp>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

class echo final : public linerate::handler {
public:
    void on_data(linerate::lcore_context &ctx, linerate::conn c, std::span<const std::byte> payload) override {
        if (ctx.send(c, payload) < payload.size()) ctx.abort(c);
    }
    void on_peer_closed(linerate::lcore_context &ctx, linerate::conn c) override { ctx.close(c); }
};

// Every mbuf the pools will give now, added to `held`. This thread is not an lcore, so
// it has no per-lcore cache, and neither must the lcores (the test's pool has none):
// what they free goes back to the pool, where the next sweep takes it.
void take_all(std::vector<rte_mbuf *> &held) {
    std::vector<rte_mempool *> pools;
    rte_mempool_walk([](rte_mempool *mp, void *arg) { static_cast<std::vector<rte_mempool *> *>(arg)->push_back(mp); },
                     &pools);
    for (rte_mempool *mp : pools)
        while (rte_mbuf *m = rte_pktmbuf_alloc(mp)) held.push_back(m);
}

void say(const std::filesystem::path &p, const std::string &text) {
    std::ofstream f(p);
    f << text << '\n';
}

} // namespace

int main(int argc, char **argv) {
    const linerate::command_line cl = linerate::split_command_line(argc, argv);
    if (cl.args.size() < 3) {
        std::fprintf(stderr, "usage: %s [EAL options] -- CONFIG PORT CONTROL_DIR\n", cl.program.c_str());
        return 2;
    }
    const auto port = static_cast<std::uint16_t>(std::stoul(cl.args[1]));
    const std::filesystem::path dir = cl.args[2];
    std::atomic<bool> stop{false};
    try {
        linerate::stack stack(cl.args[0], cl.eal);
        stack.listen(port, [](unsigned) { return std::make_unique<echo>(); });
        std::thread control([&] {
            std::vector<rte_mbuf *> held;
            bool holding = false, released = false;
            while (!stop.load()) {
                if (!released && std::filesystem::exists(dir / "hold")) {
                    // Sweeps again every turn: the device's transmit side frees what it
                    // sent, and each of those would let one more frame in.
                    take_all(held);
                    if (!holding) say(dir / "held", std::to_string(held.size()));
                    holding = true;
                }
                if (holding && std::filesystem::exists(dir / "release")) {
                    // The counters as starvation left them, while the ports still run.
                    std::string text;
                    for (const auto &[name, value] : stack.counters())
                        if (value != 0) text += "  " + name + " " + std::to_string(value) + "\n";
                    say(dir / "starved_counters", text);
                    for (rte_mbuf *m : held) rte_pktmbuf_free(m);
                    held.clear();
                    holding = false;
                    released = true;
                    say(dir / "released", "ok");
                }
                if (std::filesystem::exists(dir / "stop")) stop.store(true);
                std::this_thread::sleep_for(std::chrono::milliseconds(holding ? 1 : 20));
            }
            for (rte_mbuf *m : held) rte_pktmbuf_free(m);
        });
        std::printf("echoing on port %u\n", port);
        std::fflush(stdout);
        stack.run(stop, std::chrono::seconds(120));
        stop.store(true);
        control.join();
        for (const auto &[name, value] : stack.counters())
            if (value != 0) std::printf("  %s %llu\n", name.c_str(), static_cast<unsigned long long>(value));
    } catch (const linerate::error &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
