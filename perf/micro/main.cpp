// linerate-micro: the protocol core's micro-benchmarks (issue 6): TCP input per segment
// type, the 4-tuple table, the timer wheel, the Internet checksum, receive parsing
// (the one-pass recogniser against the general parsers) and the ISN's PRF. No DPDK: the
// shards are driven in memory, as the unit tests drive them.
//
// main() is Google Benchmark's own, plus an exit status: non-zero when a benchmark
// failed its own checks or when the filter selected nothing, so that the smoke run in
// the unit suite fails instead of passing over a broken or renamed benchmark.
#include "micro.hpp"

#include <cstdio>

namespace linerate::perf {
namespace {
int failures = 0;
} // namespace

void fail(benchmark::State &state, const char *why) {
    ++failures;
    state.SkipWithError(why);
}

} // namespace linerate::perf

int main(int argc, char **argv) {
    using namespace linerate::perf;
    register_tcp();
    register_table();
    register_timer();
    register_checksum();
    register_parse();
    register_isn();

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    const std::size_t ran = benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (ran == 0) {
        std::fprintf(stderr, "linerate-micro: no benchmark matched the filter\n");
        return 1;
    }
    if (failures != 0) {
        std::fprintf(stderr, "linerate-micro: %d benchmark(s) failed their checks\n", failures);
        return 1;
    }
    return 0;
}
