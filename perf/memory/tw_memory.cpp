// Memory of the TIME-WAIT log: fills one shard's log (flow::time_wait_log, the structure
// flow::shard keeps) with N live records, as a server that closes first holds them
// (default 150 M: 60 s of TIME-WAIT at 2.5 M connections/s), and reports bytes per
// entry from the growth of the process's resident memory, beside the size the log
// computes from its parts. Then it checks the records: a sample of them is found with
// the numbers it was given, and 4-tuples never added are not (with the time a lookup
// takes for each, the second being a new connection's SYN).
//
//     tw_memory [N]
//
// One line of key-value pairs on stdout; exit 1 if a check fails. perf/memory/run
// drives it and writes JSON.
#include <linerate/flow/time_wait_log.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

using namespace linerate;

namespace {

// Resident memory, from /proc/self/status (VmRSS, in KiB).
std::uint64_t rss_bytes() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
    return 0;
}

constexpr std::uint32_t ports_per_client = 60'000;

// The i-th 4-tuple, the server's view: one listener, clients from 10.0.0.0 up, 60,000
// source ports each (2,500 client addresses for 150 M).
tcp::time_wait_state nth(std::uint64_t i) {
    const auto client = static_cast<std::uint32_t>(i / ports_per_client);
    const auto port = static_cast<std::uint16_t>(1024 + i % ports_per_client);
    return tcp::time_wait_state{.tuple = tcp::four_tuple{ipv4_addr{0xC6120002}, ipv4_addr{0x0A00'0000u + client}, 80, port},
                                .snd_nxt = seq32{static_cast<std::uint32_t>(i * 2654435761u)},
                                .rcv_nxt = seq32{static_cast<std::uint32_t>(i * 40503u)},
                                .ts_recent = static_cast<std::uint32_t>(i),
                                .window = 502,
                                .ts_ok = true};
}

} // namespace

int main(int argc, char **argv) {
    const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 150'000'000;
    if (n == 0 || n > (1u << 30)) {
        std::fprintf(stderr, "usage: tw_memory [N], 1 <= N <= 2^30\n");
        return 2;
    }
    const auto count = static_cast<std::uint32_t>(n);
    constexpr std::uint64_t lifetime = 60'000; // 2*MSL at the default MSL of 30 s, in ms

    const std::uint64_t before = rss_bytes();
    const auto t0 = std::chrono::steady_clock::now();
    flow::time_wait_log log(count, lifetime, 0x5eed);
    // 2.5 M records a second of virtual time: the whole log is live at the end.
    for (std::uint64_t i = 0; i < n; ++i)
        if (!log.append(nth(i), flow::time_wait_log::shared_end::local, tick{i / 2'500})) {
            std::fprintf(stderr, "append %llu refused\n", static_cast<unsigned long long>(i));
            return 1;
        }
    const double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::uint64_t after = rss_bytes();

    // A sample of the records, spread over the log, and as many 4-tuples never added.
    const std::uint64_t samples = std::min<std::uint64_t>(n, 1'000'000);
    std::uint64_t wrong = 0;
    auto t1 = std::chrono::steady_clock::now();
    for (std::uint64_t k = 0; k < samples; ++k) {
        const auto tw = nth(k * (n / samples));
        const auto at = log.find(tw.tuple, log.hash(tw.tuple));
        if (!at || !(log.state(*at) == tw)) ++wrong;
    }
    const double hit_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t1).count() /
                          static_cast<double>(samples);
    t1 = std::chrono::steady_clock::now();
    for (std::uint64_t k = 0; k < samples; ++k) {
        auto t = nth(k).tuple;
        t.local_port = 8080; // no record has it
        if (log.find(t, log.hash(t))) ++wrong;
    }
    const double miss_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t1).count() /
                           static_cast<double>(samples);

    std::printf("entries %llu live %u rss_growth_bytes %llu rss_bytes_per_entry %.2f computed_bytes_per_entry %.2f "
                "fill_s %.2f hit_ns %.1f miss_ns %.1f wrong %llu\n",
                static_cast<unsigned long long>(n), log.live(), static_cast<unsigned long long>(after - before),
                static_cast<double>(after - before) / static_cast<double>(n),
                static_cast<double>(log.bytes()) / static_cast<double>(n), fill_s, hit_ns, miss_ns,
                static_cast<unsigned long long>(wrong));
    return wrong == 0 && log.live() == count ? 0 : 1;
}
