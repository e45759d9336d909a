// The fixed-capacity object pool that holds a shard's connections and reassembly queues.
#include <linerate/flow/pool.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <set>
#include <vector>

using linerate::flow::pool;

namespace {

struct item {
    int value = 7;
    std::vector<int> history{}; // a member that owns memory, to see it reset on release
};

// Neither copyable nor movable, like tcp::connection; counts live instances.
struct pinned {
    static inline int alive = 0;
    int value = 1;
    pinned() noexcept { ++alive; }
    ~pinned() { --alive; }
    pinned(const pinned &) = delete;
    pinned &operator=(const pinned &) = delete;
    pinned(pinned &&) = delete;
    pinned &operator=(pinned &&) = delete;
};

} // namespace

TEST_CASE("pool: hands out every index once, then none when exhausted", "[flow][pool]") {
    pool<item> p(5);
    CHECK(p.capacity() == 5);
    std::set<std::uint32_t> seen;
    for (int k = 0; k < 5; ++k) {
        const auto i = p.acquire();
        REQUIRE(i != pool<item>::none);
        CHECK(i < 5);
        CHECK(seen.insert(i).second);
    }
    CHECK(p.acquire() == pool<item>::none);
    CHECK(p.acquire() == pool<item>::none);
    p.release(3);
    CHECK(p.acquire() == 3);
    CHECK(p.acquire() == pool<item>::none);
}

TEST_CASE("pool: a fresh pool hands out indices in order from 0", "[flow][pool]") {
    pool<item> p(4);
    CHECK(p.acquire() == 0);
    CHECK(p.acquire() == 1);
    CHECK(p.acquire() == 2);
    CHECK(p.acquire() == 3);
}

TEST_CASE("pool: the most recently released object is reused first", "[flow][pool]") {
    pool<item> p(8);
    for (int k = 0; k < 8; ++k) (void)p.acquire();
    p.release(2);
    p.release(6);
    p.release(4);
    CHECK(p.acquire() == 4);
    CHECK(p.acquire() == 6);
    p.release(0);
    CHECK(p.acquire() == 0);
    CHECK(p.acquire() == 2);
    CHECK(p.acquire() == pool<item>::none);
}

TEST_CASE("pool: a released object comes back default-constructed", "[flow][pool]") {
    pool<item> p(2);
    const auto i = p.acquire();
    p[i].value = 42;
    p[i].history = {1, 2, 3};
    p.release(i);
    CHECK(p[i].value == 7); // reset at release, before anyone acquires it again
    CHECK(p[i].history.empty());
    REQUIRE(p.acquire() == i);
    CHECK(p[i].value == 7);
    CHECK(p[i].history.empty());
}

TEST_CASE("pool: in_use and is_used follow acquire and release", "[flow][pool]") {
    pool<item> p(100);
    CHECK(p.in_use() == 0);
    std::vector<std::uint32_t> held;
    for (int k = 0; k < 70; ++k) held.push_back(p.acquire());
    CHECK(p.in_use() == 70);
    for (const auto i : held) CHECK(p.is_used(i));
    CHECK_FALSE(p.is_used(70));
    CHECK_FALSE(p.is_used(99));
    CHECK_FALSE(p.is_used(100)); // out of range is not in use
    CHECK_FALSE(p.is_used(pool<item>::none));
    p.release(held[10]);
    p.release(held[65]);
    CHECK(p.in_use() == 68);
    CHECK_FALSE(p.is_used(held[10]));
    CHECK_FALSE(p.is_used(held[65]));
}

TEST_CASE("pool: contains and index_of recognise its own objects by address", "[flow][pool]") {
    pool<item> a(10);
    pool<item> b(10);
    item outside;
    CHECK(a.contains(&a[0]));
    CHECK(a.contains(&a[9]));
    CHECK_FALSE(a.contains(&a[9] + 1)); // one past the end
    CHECK_FALSE(a.contains(&b[3]));
    CHECK_FALSE(a.contains(&outside));
    CHECK_FALSE(a.contains(nullptr));
    for (std::uint32_t i = 0; i < 10; ++i) {
        CHECK(a.index_of(&a[i]) == i);
        CHECK(b.index_of(&b[i]) == i);
    }
    // A pointer to a member is what a timer hook yields; its owner is found by address.
    const item &owner = a[6];
    CHECK(a.contains(&owner));
    CHECK(a.index_of(&owner) == 6);
}

TEST_CASE("pool: for_each_used visits exactly the used objects in index order", "[flow][pool]") {
    pool<item> p(200); // more than one bitmap word
    std::vector<std::uint32_t> held;
    for (int k = 0; k < 200; ++k) held.push_back(p.acquire());
    for (std::uint32_t i = 0; i < 200; ++i)
        if (i % 3 != 0 && i != 130) p.release(i);
    p[63].value = 99; // a kept index (63 % 3 == 0) with a marked value

    std::vector<std::uint32_t> visited;
    p.for_each_used([&](std::uint32_t i, item &it) {
        visited.push_back(i);
        if (i == 63) CHECK(it.value == 99);
        CHECK(&it == &p[i]);
    });
    std::vector<std::uint32_t> expected;
    for (std::uint32_t i = 0; i < 200; ++i)
        if (i % 3 == 0 || i == 130) expected.push_back(i);
    CHECK(visited == expected);

    std::uint32_t n = 0;
    const auto &cp = p;
    cp.for_each_used([&](std::uint32_t, const item &) { ++n; });
    CHECK(n == p.in_use());
}

TEST_CASE("pool: for_each_used may release the object it is given", "[flow][pool]") {
    pool<item> p(70);
    for (int k = 0; k < 70; ++k) (void)p.acquire();
    std::uint32_t n = 0;
    p.for_each_used([&](std::uint32_t i, item &) {
        ++n;
        if (i % 2 == 0) p.release(i);
    });
    CHECK(n == 70);
    CHECK(p.in_use() == 35);
}

TEST_CASE("pool: holds objects that are neither copyable nor movable", "[flow][pool]") {
    pinned::alive = 0;
    {
        pool<pinned> p(16);
        CHECK(pinned::alive == 16); // all constructed up front
        const auto i = p.acquire();
        p[i].value = 5;
        p.release(i); // destroyed and rebuilt in place
        CHECK(pinned::alive == 16);
        CHECK(p[i].value == 1);
        CHECK(p.contains(&p[i]));
    }
    CHECK(pinned::alive == 0);
}

TEST_CASE("pool: a pool of capacity zero is always exhausted", "[flow][pool]") {
    pool<item> p(0);
    CHECK(p.acquire() == pool<item>::none);
    CHECK(p.in_use() == 0);
    std::uint32_t n = 0;
    p.for_each_used([&](std::uint32_t, item &) { ++n; });
    CHECK(n == 0);
}
