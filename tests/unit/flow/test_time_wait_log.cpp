// The TIME-WAIT log on its own: its size per entry, its order, its index and its
// profiles. The shard's tests drive it through real connections.
#include <linerate/flow/time_wait_log.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <random>

using namespace linerate;
using namespace linerate::flow;
using popped = time_wait_log::popped;
using shared_end = time_wait_log::shared_end;

namespace {

constexpr std::uint64_t lifetime = 60'000; // 2*MSL at the default MSL, in ms ticks

// A server's view: its listener is the shared local endpoint, clients vary.
tcp::time_wait_state server_tw(std::uint32_t client, std::uint16_t port = 40000) {
    return tcp::time_wait_state{.tuple = tcp::four_tuple{ipv4_addr{0xC6120002}, ipv4_addr{0xC6130000 + client}, 80, port},
                                .snd_nxt = seq32{client * 7},
                                .rcv_nxt = seq32{client * 11},
                                .ts_recent = client * 13,
                                .window = 502,
                                .ts_ok = true};
}

std::uint64_t h(const time_wait_log &log, const tcp::time_wait_state &tw) { return log.hash(tw.tuple); }

} // namespace

TEST_CASE("TIME-WAIT log: at most 32 bytes per entry all-in (records, index at its sizing load, marks, profiles)",
          "[flow][time_wait_log][memory]") {
    STATIC_REQUIRE(sizeof(time_wait_log::record) == 20);
    STATIC_REQUIRE(sizeof(time_wait_log::bucket) == 64);
    // 150 M: 60 s of TIME-WAIT at 2.5 M connections/s, the target (under 5 GiB).
    for (const std::uint32_t n : {150'000'000u, 10'000'000u, 1'000'000u}) {
        const double per_entry = static_cast<double>(time_wait_log::bytes_for(n)) / n;
        INFO(n << " entries: " << per_entry << " bytes per entry");
        CHECK(per_entry <= 32.0);
    }
    CHECK(time_wait_log::bytes_for(150'000'000) < (std::size_t{5} << 30));
    // The formula is the log's real size, not a separate guess.
    const time_wait_log log(100'000, lifetime, 1);
    CHECK(log.bytes() == time_wait_log::bytes_for(100'000));
}

TEST_CASE("TIME-WAIT log: insertion order is expiry order, 2*MSL after each record, never early, at most slop late",
          "[flow][time_wait_log]") {
    time_wait_log log(16, lifetime, 1);
    CHECK_FALSE(log.next_expiry());
    REQUIRE(log.append(server_tw(1), shared_end::local, tick{100}));
    REQUIRE(log.append(server_tw(2), shared_end::local, tick{100 + log.slop().value + 50})); // a mark of its own
    REQUIRE(log.append(server_tw(3), shared_end::local, tick{30'000}));
    CHECK(log.live() == 3);
    CHECK(log.next_expiry() == tick{100 + lifetime});
    CHECK(log.pop_expired(tick{100 + lifetime - 1}) == popped::nothing);
    CHECK(log.pop_expired(tick{100 + lifetime}) == popped::live);
    CHECK_FALSE(log.find(server_tw(1).tuple, h(log, server_tw(1))));
    // The second record's own deadline, and nothing beyond it yet.
    const tick second{100 + log.slop().value + 50 + lifetime};
    CHECK(log.pop_expired(tick{second.value - 1}) == popped::nothing);
    CHECK(log.pop_expired(second) == popped::live);
    CHECK(log.pop_expired(second) == popped::nothing);
    CHECK(log.find(server_tw(3).tuple, h(log, server_tw(3))));
    CHECK(log.pop_expired(tick{30'000 + lifetime}) == popped::live);
    CHECK(log.live() == 0);
    CHECK(log.count() == 0);
    CHECK_FALSE(log.next_expiry());
}

TEST_CASE("TIME-WAIT log: records of one mark expire together, at most slop after the first", "[flow][time_wait_log]") {
    time_wait_log log(16, lifetime, 1);
    const std::uint64_t slop = log.slop().value;
    REQUIRE(log.append(server_tw(1), shared_end::local, tick{0}));
    REQUIRE(log.append(server_tw(2), shared_end::local, tick{slop})); // joins the first mark
    CHECK(log.pop_expired(tick{lifetime}) == popped::nothing);         // not before the second's
    CHECK(log.pop_expired(tick{lifetime + slop}) == popped::live);
    CHECK(log.pop_expired(tick{lifetime + slop}) == popped::live);
}

TEST_CASE("TIME-WAIT log: a record keeps every number the ACK needs", "[flow][time_wait_log]") {
    time_wait_log log(4, lifetime, 1);
    const auto a = server_tw(5);
    auto b = server_tw(6);
    b.tuple = b.tuple.reversed(); // a client's view: the server is the shared remote endpoint
    b.ts_ok = false;
    b.window = 65'535;
    REQUIRE(log.append(a, shared_end::local, tick{0}));
    REQUIRE(log.append(b, shared_end::remote, tick{0}));
    const auto at_a = log.find(a.tuple, h(log, a));
    const auto at_b = log.find(b.tuple, h(log, b));
    REQUIRE(at_a);
    REQUIRE(at_b);
    CHECK(log.state(*at_a) == a);
    CHECK(log.state(*at_b) == b);
    CHECK(log.shared(*at_a) == shared_end::local);
    CHECK(log.shared(*at_b) == shared_end::remote);
    CHECK(log.profiles_in_use() == 2);
}

TEST_CASE("TIME-WAIT log: a forgotten record is stale, skipped by lookups and popped uncounted", "[flow][time_wait_log]") {
    time_wait_log log(4, lifetime, 1);
    REQUIRE(log.append(server_tw(1), shared_end::local, tick{0}));
    REQUIRE(log.append(server_tw(2), shared_end::local, tick{0}));
    const auto at = log.find(server_tw(1).tuple, h(log, server_tw(1)));
    REQUIRE(at);
    log.forget(*at, h(log, server_tw(1)));
    CHECK(log.live() == 1);
    CHECK(log.count() == 2);
    CHECK_FALSE(log.find(server_tw(1).tuple, h(log, server_tw(1))));
    // The same 4-tuple again (a restart): the new record is found, the stale one is not.
    REQUIRE(log.append(server_tw(1), shared_end::local, tick{10}));
    CHECK(log.find(server_tw(1).tuple, h(log, server_tw(1))) != at);
    CHECK(log.pop() == popped::stale);
    CHECK(log.find(server_tw(1).tuple, h(log, server_tw(1))));
    CHECK(log.pop() == popped::live); // server_tw(2)
    CHECK(log.pop() == popped::live); // the restarted server_tw(1)
    CHECK(log.pop() == popped::nothing);
    CHECK(log.profiles_in_use() == 0);
}

TEST_CASE("TIME-WAIT log: full at capacity live records; popping the head makes room", "[flow][time_wait_log]") {
    time_wait_log log(3, lifetime, 1);
    for (std::uint32_t k = 1; k <= 3; ++k) REQUIRE(log.append(server_tw(k), shared_end::local, tick{k}));
    CHECK(log.full());
    CHECK(log.pop() == popped::live);
    CHECK_FALSE(log.full());
    CHECK_FALSE(log.find(server_tw(1).tuple, h(log, server_tw(1))));
    CHECK(log.find(server_tw(2).tuple, h(log, server_tw(2))));
    // Stale records take ring room, not live room; the ring's slack is finite.
    std::uint32_t restarts = 0;
    while (!log.full()) {
        const auto tw = server_tw(2);
        const auto at = log.find(tw.tuple, h(log, tw));
        REQUIRE(at);
        log.forget(*at, h(log, tw));
        REQUIRE(log.append(tw, shared_end::local, tick{10}));
        ++restarts;
    }
    CHECK(log.live() == 2);
    CHECK(restarts >= 64);
}

TEST_CASE("TIME-WAIT log: with every profile in use a record is refused, and a freed profile is reused",
          "[flow][time_wait_log]") {
    time_wait_log log(time_wait_log::max_profiles + 1, lifetime, 1);
    for (std::uint32_t k = 0; k < time_wait_log::max_profiles; ++k) {
        auto tw = server_tw(k);
        tw.tuple.local_port = static_cast<std::uint16_t>(1000 + k); // a listener each
        REQUIRE(log.append(tw, shared_end::local, tick{0}));
    }
    CHECK(log.profiles_in_use() == time_wait_log::max_profiles);
    auto extra = server_tw(1);
    extra.tuple.local_port = 999;
    CHECK_FALSE(log.append(extra, shared_end::local, tick{0}));
    CHECK(log.live() == time_wait_log::max_profiles);
    // A record of an existing profile still fits.
    auto same = server_tw(77, 50000);
    same.tuple.local_port = 1000;
    CHECK(log.append(same, shared_end::local, tick{0}));
    CHECK(log.pop() == popped::live); // port 1000's first record: its profile has a second
    CHECK_FALSE(log.append(extra, shared_end::local, tick{0}));
    CHECK(log.pop() == popped::live); // port 1001's only record: its profile is free again
    CHECK(log.append(extra, shared_end::local, tick{0}));
    CHECK(log.find(extra.tuple, h(log, extra)));
    CHECK(log.find(same.tuple, h(log, same)));
}

TEST_CASE("TIME-WAIT log: the index agrees with a reference map through random appends, forgets and pops",
          "[flow][time_wait_log][index]") {
    // A small log runs many records through few buckets, so buckets spill into their
    // neighbours and erasures must keep the overflow counts right.
    time_wait_log log(500, lifetime, 42);
    std::map<std::pair<std::uint32_t, std::uint16_t>, bool> live; // (client, port) -> in TIME-WAIT
    std::mt19937_64 rng(7);
    std::uint64_t now = 0;
    std::deque<std::pair<std::uint32_t, std::uint16_t>> order; // every record, live or stale
    for (int step = 0; step < 50'000; ++step) {
        const auto client = static_cast<std::uint32_t>(rng() % 64);
        const auto port = static_cast<std::uint16_t>(40000 + rng() % 64);
        const auto tw = server_tw(client, port);
        const auto key = std::make_pair(client, port);
        const auto at = log.find(tw.tuple, h(log, tw));
        REQUIRE(at.has_value() == live[key]);
        if (at) {
            CHECK(log.state(*at) == tw);
            log.forget(*at, h(log, tw));
            live[key] = false;
            if (rng() % 2 != 0) continue; // a reopen; else a restart
        }
        while (log.full()) {
            REQUIRE(!order.empty());
            const auto head = order.front();
            order.pop_front();
            const auto p = log.pop();
            // The head was live unless a newer record of its 4-tuple exists or it was forgotten.
            const bool newer = std::count(order.begin(), order.end(), head) > 0;
            CHECK(p == ((live[head] && !newer) ? popped::live : popped::stale));
            if (p == popped::live) live[head] = false;
        }
        REQUIRE(log.append(tw, shared_end::local, tick{now}));
        order.push_back(key);
        live[key] = true;
        ++now;
    }
    std::uint32_t n = 0;
    for (const auto &[k, v] : live) n += v ? 1 : 0;
    CHECK(log.live() == n);
}

TEST_CASE("TIME-WAIT log: a 4-tuple whose tag matches another's is told apart by its record",
          "[flow][time_wait_log][index]") {
    // Asked with the hash of a live record's 4-tuple, each other 4-tuple finds that
    // record's tag in the bucket (the compare of the seven tags at once says "maybe"),
    // reads the record and is turned away by its 4-tuple; the owner is still found. A
    // small log fills its buckets, so matches sit in every slot position.
    time_wait_log log(64, lifetime, 9);
    for (std::uint32_t c = 0; c < 48; ++c) REQUIRE(log.append(server_tw(c), shared_end::local, tick{c}));
    for (std::uint32_t c = 0; c < 48; ++c) {
        const auto tw = server_tw(c);
        const std::uint64_t hash = h(log, tw);
        REQUIRE(log.find(tw.tuple, hash).has_value());
        CHECK(log.state(*log.find(tw.tuple, hash)) == tw);
        CHECK_FALSE(log.find(server_tw(c + 1000).tuple, hash).has_value());
        CHECK_FALSE(log.find(server_tw(c, 40001).tuple, hash).has_value());
    }
}
