// The Internet checksum: the full sum (RFC 1071) over 64, 512 and 1460 bytes (a small
// segment, a medium one, a full MSS), and the incremental update of RFC 1624 that
// patches a prebuilt header template when one 16-bit word (a port, a window) or one
// 32-bit field (an address, a sequence number) changes.
//
// The updates are chained, each taking the checksum the previous one produced, as when
// several fields of one template are patched in turn: what is measured is the latency
// of one update, not the throughput of independent ones.
#include "micro.hpp"

#include <linerate/wire/checksum.hpp>

#include <array>
#include <vector>

namespace linerate::perf {
namespace {

void checksum_full(benchmark::State &state) {
    std::vector<std::uint8_t> buf(static_cast<std::size_t>(state.range(0)));
    std::mt19937_64 rng(buf.size());
    for (auto &b : buf) b = static_cast<std::uint8_t>(rng());
    for (auto _ : state) {
        // The buffer may have changed, for all the compiler knows: no hoisting the sum.
        benchmark::ClobberMemory();
        benchmark::DoNotOptimize(wire::inet_checksum(buf));
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * state.range(0));
}

// Old and new values to patch in: random, so that the folds take every path.
constexpr std::size_t values = 256;

template <class T> std::array<T, values> random_values(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::array<T, values> v{};
    for (auto &x : v) x = static_cast<T>(rng());
    return v;
}

void checksum_update16(benchmark::State &state) {
    const auto old_v = random_values<std::uint16_t>(1);
    const auto new_v = random_values<std::uint16_t>(2);
    std::uint16_t check = 0x1234;
    while (state.KeepRunningBatch(values)) {
        for (std::size_t i = 0; i < values; ++i) check = wire::csum_update16(check, old_v[i], new_v[i]);
        benchmark::DoNotOptimize(check);
    }
    state.SetItemsProcessed(state.iterations());
}

void checksum_update32(benchmark::State &state) {
    const auto old_v = random_values<std::uint32_t>(3);
    const auto new_v = random_values<std::uint32_t>(4);
    std::uint16_t check = 0x1234;
    while (state.KeepRunningBatch(values)) {
        for (std::size_t i = 0; i < values; ++i) check = wire::csum_update32(check, old_v[i], new_v[i]);
        benchmark::DoNotOptimize(check);
    }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

void register_checksum() {
    benchmark::RegisterBenchmark("checksum/full", checksum_full)->Arg(64)->Arg(512)->Arg(1460);
    benchmark::RegisterBenchmark("checksum/update16", checksum_update16);
    benchmark::RegisterBenchmark("checksum/update32", checksum_update32);
}

} // namespace linerate::perf
