// What the micro-benchmark files share: a way to fail that the smoke test notices, and
// the random 4-tuples the table and TCP benchmarks use.
//
// Google Benchmark's SkipWithError marks a benchmark as failed in the report but still
// exits 0, so a benchmark whose set-up stopped doing what it measures (a handshake that
// no longer completes, a timer that no longer fires) would pass the smoke test
// silently. fail() also counts, and main() exits non-zero when anything failed.
#pragma once

#include <linerate/base/addr.hpp>
#include <linerate/tcp/segment.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>

namespace linerate::perf {

// Marks the benchmark failed and remembers it for main()'s exit status. The caller
// returns from the benchmark function at once: after SkipWithError Google Benchmark
// accepts a benchmark that leaves its loop early.
void fail(benchmark::State &state, const char *why);

// A random 4-tuple in the benchmarking range 198.18.0.0/15 (RFC 2544), both ends, with
// random ports: 66 random bits, so 10 million of them almost never repeat (callers
// still check).
[[nodiscard]] inline tcp::four_tuple random_tuple(std::mt19937_64 &rng) noexcept {
    constexpr std::uint32_t net = 0xC612'0000u; // 198.18.0.0
    const std::uint64_t a = rng();
    const std::uint64_t b = rng();
    const auto port = [](std::uint64_t bits) {
        const auto p = static_cast<std::uint16_t>(bits);
        return p == 0 ? std::uint16_t{1} : p; // port 0 never appears on the wire
    };
    return tcp::four_tuple{ipv4_addr{net | static_cast<std::uint32_t>(a & 0x1ffff)},
                           ipv4_addr{net | static_cast<std::uint32_t>((a >> 17) & 0x1ffff)}, port(b), port(b >> 16)};
}

// Registration, one function per file, called by main() in this order so the report
// always lists the benchmarks the same way.
void register_tcp();
void register_table();
void register_timer();
void register_checksum();
void register_parse();
void register_isn();

} // namespace linerate::perf
