// The fixed-capacity ARP cache and the counters' names and sums.
#include <linerate/engine/arp_cache.hpp>
#include <linerate/engine/counters.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace linerate;
using namespace linerate::engine;

TEST_CASE("arp_cache: insert, refresh and look up", "[engine][arp_cache]") {
    arp_cache c(8);
    const ipv4_addr a = ipv4_addr::from_octets(198, 18, 0, 1);
    CHECK_FALSE(c.lookup(a));
    CHECK_FALSE(c.merge(a, mac_addr{{2, 0, 0, 0, 0, 1}}, tick{1}));
    CHECK(c.insert(a, mac_addr{{2, 0, 0, 0, 0, 1}}, tick{1}) == arp_cache::update_result::inserted);
    CHECK(c.insert(a, mac_addr{{2, 0, 0, 0, 0, 2}}, tick{2}) == arp_cache::update_result::updated);
    CHECK(*c.lookup(a) == mac_addr{{2, 0, 0, 0, 0, 2}});
    CHECK(c.size() == 1);
}

TEST_CASE("arp_cache: a full cache refuses new entries and keeps the old ones", "[engine][arp_cache]") {
    arp_cache c(8);
    REQUIRE(c.capacity() == 8);
    std::size_t inserted = 0;
    for (std::uint8_t i = 1; i <= 20; ++i)
        if (c.insert(ipv4_addr::from_octets(198, 18, 1, i), mac_addr{{2, 0, 0, 0, 1, i}}, tick{i}) ==
            arp_cache::update_result::inserted)
            ++inserted;
    CHECK(inserted == 7); // one slot stays free so that misses terminate
    for (std::uint8_t i = 1; i <= 7; ++i) CHECK(c.lookup(ipv4_addr::from_octets(198, 18, 1, i)));
    CHECK_FALSE(c.lookup(ipv4_addr::from_octets(198, 18, 1, 8)));
    CHECK_FALSE(c.lookup(ipv4_addr::from_octets(10, 0, 0, 1)));
}

TEST_CASE("arp_cache: capacity rounds up to a power of two", "[engine][arp_cache]") {
    CHECK(arp_cache(100).capacity() == 128);
    CHECK(arp_cache(1).capacity() == 8);
}

TEST_CASE("counters: every counter has a distinct, non-empty name", "[engine][counters]") {
    counters c;
    std::set<std::string> names;
    std::size_t n = 0;
    c.for_each([&](std::string_view name, std::uint64_t) {
        CHECK_FALSE(name.empty());
        CHECK(name != "unknown");
        names.emplace(name);
        ++n;
    });
    CHECK(names.size() == n);
    CHECK(n == mib_counters.size() + (wire::drop_reason_count - 1) + local_drop_count);
}

TEST_CASE("counters: sums add every field", "[engine][counters]") {
    counters a, b;
    a.icmp_in_echos = 3;
    b.icmp_in_echos = 4;
    a.count(local_drop::tx_full);
    b.count(local_drop::tx_full);
    b.count(wire::drop_reason::ipv4_bad_checksum);
    a += b;
    CHECK(a.icmp_in_echos == 7);
    CHECK(a.dropped[static_cast<std::size_t>(local_drop::tx_full)] == 2);
    CHECK(a.total_dropped() == 3);
}
