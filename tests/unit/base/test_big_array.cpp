#include <linerate/base/big_array.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <string>

namespace {

struct counted {
    static inline int alive = 0;
    int value = 7;
    counted() { ++alive; }
    ~counted() { --alive; }
};

// The process's AnonHugePages, in KiB, from /proc (0 where the kernel has no THP).
std::uint64_t anon_huge_kib() {
    std::ifstream in("/proc/self/smaps_rollup");
    std::string key;
    std::uint64_t kib = 0;
    while (in >> key) {
        if (key == "AnonHugePages:") {
            in >> kib;
            return kib;
        }
        in.ignore(1 << 10, '\n');
    }
    return 0;
}

bool thp_offered() {
    std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string line;
    std::getline(in, line);
    return line.find("[always]") != std::string::npos || line.find("[madvise]") != std::string::npos;
}

} // namespace

TEST_CASE("big_array value-initialises its elements, as new T[n]() does") {
    linerate::big_array<std::atomic<std::uint64_t>> words(1000);
    REQUIRE(words.size() == 1000);
    for (std::size_t i = 0; i < words.size(); ++i) REQUIRE(words[i].load() == 0);
    linerate::big_array<std::uint32_t> ints(3);
    REQUIRE(ints[0] == 0);
    REQUIRE(ints[2] == 0);
}

TEST_CASE("big_array constructs and destroys every element exactly once") {
    {
        linerate::big_array<counted> a(4096);
        REQUIRE(counted::alive == 4096);
        REQUIRE(a[4095].value == 7);
    }
    REQUIRE(counted::alive == 0);
}

TEST_CASE("big_array aligns small arrays to a cache line and large ones to a 2 MiB page") {
    linerate::big_array<std::uint8_t> small(100);
    REQUIRE(reinterpret_cast<std::uintptr_t>(small.data()) % 64 == 0);
    linerate::big_array<std::uint64_t> large((std::size_t{4} << 20) / 8);
    REQUIRE(reinterpret_cast<std::uintptr_t>(large.data()) % (std::size_t{2} << 20) == 0);
}

TEST_CASE("big_array: a large array is backed by transparent huge pages where the kernel offers them") {
    if (!thp_offered()) {
        WARN("transparent huge pages are off on this kernel: nothing to check");
        return;
    }
    const std::uint64_t before = anon_huge_kib();
    linerate::big_array<std::uint64_t> large((std::size_t{16} << 20) / 8); // 16 MiB, touched by construction
    // Fault-time THP can fall back to small pages when the kernel has no free 2 MiB
    // page, so ask for some, not all.
    REQUIRE(anon_huge_kib() >= before + 2048);
    REQUIRE(large[large.size() - 1] == 0);
}
