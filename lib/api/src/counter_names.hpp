// The names under which stack::counters() reports each counter.
//
// The same names as linerate-server's summary and DPDK telemetry's /linerate/stats
// (the TCP MIB as `nstat` spells it, IP/ICMP/ARP, one name per drop reason), so that
// one vocabulary serves every tool; then the shard's extra counters and the API's own.
// Summing goes name by name into a map: a name that two layers both used would
// silently merge two counters, which the unit test rules out.
#pragma once

#include <linerate/engine/counters.hpp>
#include <linerate/flow/shard.hpp>
#include <linerate/tcp/counters.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace linerate::api {

// Counters of the API layer on one lcore, written by that lcore only.
struct api_counters {
    std::uint64_t timers_fired = 0;
    std::uint64_t timers_full = 0;    // schedule() found the timer pool empty
    std::uint64_t connect_failed = 0; // connect() opened nothing
};

using counter_map = std::map<std::string, std::uint64_t>;

// Adds one lcore's counters to `out`, every name present even when zero.
void add_counters(counter_map &out, const engine::counters &e, const tcp::counters &t,
                  const flow::shard_counters &f, const api_counters &a);

} // namespace linerate::api
