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

// The VmFlags of the mapping that holds p, from /proc/self/smaps ("" if none does).
std::string vm_flags_of(const void *p) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    std::ifstream in("/proc/self/smaps");
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        // A mapping's first line starts "start-end " in hex; its fields follow.
        const auto dash = line.find('-');
        const auto space = line.find(' ');
        if (dash != std::string::npos && space != std::string::npos && dash < space &&
            line.find_first_not_of("0123456789abcdef") == dash) {
            const auto start = std::stoull(line.substr(0, dash), nullptr, 16);
            const auto end = std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16);
            inside = start <= a && a < end;
        } else if (inside && line.rfind("VmFlags:", 0) == 0) {
            return line;
        }
    }
    return "";
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

TEST_CASE("big_array: a large array is advised for transparent huge pages before it is touched") {
    if (!thp_offered()) {
        WARN("transparent huge pages are off on this kernel: nothing to check");
        return;
    }
    // The kernel marks an madvise(MADV_HUGEPAGE) range "hg" in its VmFlags. Whether a
    // fault then gets a 2 MiB page depends on free memory at that moment (it falls
    // back to small pages), so the advice is what is checked, not the page size.
    linerate::big_array<std::uint64_t> large((std::size_t{16} << 20) / 8);
    CHECK(vm_flags_of(large.data()).find(" hg") != std::string::npos);
    linerate::big_array<std::uint64_t> small(1024); // 8 KiB: not worth a huge page
    CHECK(vm_flags_of(small.data()).find(" hg") == std::string::npos);
}
