// The names stack::counters() reports (lib/api/src/counter_names.hpp): one per
// counter, none shared between layers, the nstat names where the kernel has one.
#include "counter_names.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>

using linerate::api::add_counters;
using linerate::api::api_counters;
using linerate::api::counter_map;

namespace {

std::size_t expected_names() {
    std::size_t engine = 0;
    linerate::engine::counters{}.for_each([&](std::string_view, std::uint64_t) { ++engine; });
    return linerate::tcp::mib_counters.size() + engine + linerate::tcp::drop_count + 6 + 3;
}

} // namespace

TEST_CASE("Counters: every counter has a name of its own, present even at zero", "[api][counters]") {
    counter_map m;
    add_counters(m, {}, {}, {}, {});
    // A name used twice would merge two counters into one entry.
    CHECK(m.size() == expected_names());
    for (const auto &[name, v] : m) {
        CHECK_FALSE(name.empty());
        CHECK(v == 0);
    }
    for (const char *n : {"ActiveOpens", "PassiveOpens", "CurrEstab", "RetransSegs", "OutRsts", "InErrs",
                          "IpInReceives", "TW", "tcp_no_connection", "AppTimersFired", "AppTimersFull",
                          "AppConnectFailed", "TimeWaitEntries", "TCPHPHits", "TCPHPMisses"})
        CHECK(m.count(n) == 1);
}

TEST_CASE("Counters: each value lands under its name and lcores add up", "[api][counters]") {
    linerate::engine::counters e{};
    e.ip_in_receives = 3;
    e.count(linerate::engine::local_drop::tx_full);
    linerate::tcp::counters t{};
    t.passive_opens = 5;
    t.count(linerate::tcp::drop::no_connection);
    linerate::flow::shard_counters f{};
    f.time_wait_entries = 2;
    f.time_wait_no_profile = 1;
    const api_counters a{.timers_fired = 7, .timers_full = 1, .connect_failed = 4};

    counter_map m;
    add_counters(m, e, t, f, a);
    add_counters(m, e, t, f, a);
    CHECK(m.at("IpInReceives") == 6);
    CHECK(m.at("tx_full") == 2);
    CHECK(m.at("PassiveOpens") == 10);
    CHECK(m.at("tcp_no_connection") == 2);
    CHECK(m.at("TimeWaitEntries") == 4);
    CHECK(m.at("TimeWaitNoProfile") == 2);
    CHECK(m.at("AppTimersFired") == 14);
    CHECK(m.at("AppTimersFull") == 2);
    CHECK(m.at("AppConnectFailed") == 8);
    CHECK(m.at("ActiveOpens") == 0);
}
