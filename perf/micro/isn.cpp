// The RFC 6528 ISN's keyed PRF, F, once per connection (and once per TSval offset the
// cache misses): AES-128 with AES-NI against SipHash-2-4, the two PRFs isn_generator
// chooses between, under the same key. Consecutive source ports, as a client opening
// connections sees them.
//
// Two figures each: throughput (independent calls, which the CPU overlaps) and latency
// (each call's port depends on the previous result, as when F sits on the critical path
// of a SYN's handling). AES-NI's ten rounds are a dependent chain of AESENC, so it gains
// far more throughput, and far more instructions, than latency.
#include "micro.hpp"

#include <linerate/tcp/isn.hpp>

#include <array>

namespace linerate::perf {
namespace {

constexpr std::array<std::uint8_t, tcp::isn_generator::key_size> key{7, 1, 2, 8};

// A template parameter, not a run-time flag: a flag folded into the port update with a
// conditional move would chain the "independent" calls too.
template <bool chained>
void isn_offset(benchmark::State &state, tcp::isn_prf prf) {
    const tcp::isn_generator gen{key, prf};
    if (gen.prf() != prf) {
        // Not a failure of the code: this CPU has no AES-NI, so there is nothing to time.
        state.SkipWithError("this CPU has no AES-NI");
        return;
    }
    const ipv4_addr local = ipv4_addr::from_octets(198, 18, 0, 1), remote = ipv4_addr::from_octets(198, 18, 0, 2);
    std::uint16_t port = 1024;
    for (auto _ : state) {
        const std::uint32_t f = gen.offset(local, port, remote, 80);
        benchmark::DoNotOptimize(f);
        if constexpr (chained)
            port = static_cast<std::uint16_t>(port + 1 + (f & 1));
        else
            ++port;
    }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

void register_isn() {
    benchmark::RegisterBenchmark("isn/aes128/throughput",
                                 [](benchmark::State &st) { isn_offset<false>(st, tcp::isn_prf::aes128); });
    benchmark::RegisterBenchmark("isn/siphash/throughput",
                                 [](benchmark::State &st) { isn_offset<false>(st, tcp::isn_prf::siphash); });
    benchmark::RegisterBenchmark("isn/aes128/latency",
                                 [](benchmark::State &st) { isn_offset<true>(st, tcp::isn_prf::aes128); });
    benchmark::RegisterBenchmark("isn/siphash/latency",
                                 [](benchmark::State &st) { isn_offset<true>(st, tcp::isn_prf::siphash); });
}

} // namespace linerate::perf
