// The RFC 6528 ISN's keyed PRF, F, once per connection (and once per TSval offset the
// cache misses): AES-128 with AES-NI against SipHash-2-4, the two PRFs isn_generator
// chooses between, under the same key. Consecutive source ports, as a client opening
// connections sees them.
#include "micro.hpp"

#include <linerate/tcp/isn.hpp>

#include <array>

namespace linerate::perf {
namespace {

constexpr std::array<std::uint8_t, tcp::isn_generator::key_size> key{7, 1, 2, 8};

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
        benchmark::DoNotOptimize(gen.offset(local, port, remote, 80));
        ++port;
    }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

void register_isn() {
    benchmark::RegisterBenchmark("isn/aes128", [](benchmark::State &st) { isn_offset(st, tcp::isn_prf::aes128); });
    benchmark::RegisterBenchmark("isn/siphash", [](benchmark::State &st) { isn_offset(st, tcp::isn_prf::siphash); });
}

} // namespace linerate::perf
