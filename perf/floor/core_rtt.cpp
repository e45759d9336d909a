// core_rtt: how long a cache line takes to go from one CPU to another and back, once
// a second. Two threads, pinned to the two CPUs given, hand a counter back and forth
// through one cache line; each line printed is the mean round trip over a second.
//
//     core_rtt [--cpus A,B] [--seconds N]        (default CPUs 0,1, 10 s)
//
// Why it is here: every memif figure in perf/ (the floor, cps) is two processes on two
// CPUs exchanging frames through shared memory, so it moves with the cost of moving a
// cache line between those CPUs. On the 2-vCPU guest of perf/RESULTS.md that cost is
// not a constant of the machine: with nothing else running it sits near 70 ns for a
// while and near 320 ns for another while, as the host places the two vCPUs. Run this
// beside a benchmark to tell the stack's changes from the host's.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <pthread.h>
#include <sched.h>

namespace {

bool pin(unsigned cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// The line both threads write: alone on its cache line, so that only the hand-over moves.
struct alignas(64) line {
    std::atomic<std::uint64_t> turn{0};
};

int usage() {
    std::fprintf(stderr, "usage: core_rtt [--cpus A,B] [--seconds N]\n");
    return 2;
}

} // namespace

int main(int argc, char **argv) {
    unsigned a = 0, b = 1, seconds = 10;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--cpus" && i + 1 < argc) {
            if (std::sscanf(argv[++i], "%u,%u", &a, &b) != 2 || a == b) return usage();
        } else if (arg == "--seconds" && i + 1 < argc) {
            seconds = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
            if (seconds == 0 || seconds > 3600) return usage();
        } else {
            return usage();
        }
    }
    line shared;
    std::atomic<bool> stop{false};
    bool pinned_b = true;
    // The other CPU answers every odd value with the next even one.
    std::thread echo([&] {
        pinned_b = pin(b);
        std::uint64_t expect = 1;
        while (!stop.load(std::memory_order_relaxed)) {
            if (shared.turn.load(std::memory_order_acquire) == expect) {
                shared.turn.store(expect + 1, std::memory_order_release);
                expect += 2;
            }
        }
    });
    if (!pin(a)) {
        std::fprintf(stderr, "core_rtt: cannot pin to CPU %u\n", a);
        stop = true;
        echo.join();
        return 1;
    }
    using clock = std::chrono::steady_clock;
    std::uint64_t v = 0;
    int rc = 0;
    for (unsigned s = 0; s < seconds; ++s) {
        const auto start = clock::now();
        std::uint64_t trips = 0;
        clock::duration spent{};
        // Bounded by time, read every 1,024 round trips (a clock read costs more than one).
        do {
            for (int k = 0; k < 1024; ++k) {
                shared.turn.store(v + 1, std::memory_order_release);
                // Bounded too: a peer that never answers (its CPU taken away) ends the run.
                std::uint64_t spins = 0;
                while (shared.turn.load(std::memory_order_acquire) != v + 2)
                    if (++spins == (std::uint64_t{1} << 34)) {
                        std::fprintf(stderr, "core_rtt: CPU %u stopped answering\n", b);
                        stop = true;
                        echo.join();
                        return 1;
                    }
                v += 2;
            }
            trips += 1024;
            spent = clock::now() - start;
        } while (spent < std::chrono::seconds(1));
        const double ns = std::chrono::duration<double, std::nano>(spent).count() / static_cast<double>(trips);
        std::printf("%u s: CPU %u -> %u -> %u round trip %.1f ns\n", s + 1, a, b, a, ns);
        std::fflush(stdout);
    }
    stop = true;
    echo.join();
    if (!pinned_b) {
        std::fprintf(stderr, "core_rtt: cannot pin to CPU %u\n", b);
        rc = 1;
    }
    return rc;
}
