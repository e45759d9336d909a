// The grace period before munmap (device/unmap_guard.hpp): an unmapping thread must not
// return while an online reader is between two quiescent points, and must not wait for
// readers that are offline or for itself.
#include <linerate/device/unmap_guard.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <sys/mman.h>

using namespace linerate::device;
using namespace std::chrono_literals;

namespace {

void *map_page() {
    void *p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    return p;
}

} // namespace

TEST_CASE("unmap guard: munmap is this program's, ahead of libc's", "[device][unmap_guard]") {
    // What DPDK's driver plugins resolve: if libc's came first, nothing would wait.
    void *resolved = ::dlsym(RTLD_DEFAULT, "munmap");
    void *libc = ::dlsym(RTLD_NEXT, "munmap");
    REQUIRE(resolved != nullptr);
    CHECK(resolved != libc);
}

TEST_CASE("unmap guard: munmap waits until an online reader passes a quiescent point", "[device][unmap_guard]") {
    burst_reader r;
    std::atomic<bool> reader_ready{false}, release{false}, quiesced{false}, unmapped{false};
    std::thread lcore([&] {
        r.online();
        reader_ready = true;
        // "Inside a burst" until told: the munmap below must not finish meanwhile.
        while (!release) std::this_thread::yield();
        quiesced = true;
        r.quiescent();
        while (!unmapped) std::this_thread::yield();
        r.offline();
    });
    while (!reader_ready) std::this_thread::yield();
    const auto before = unmap_guard_counters();
    void *page = map_page();
    std::thread unmapper([&] {
        CHECK(::munmap(page, 4096) == 0);
        // Ordered after the reader's quiescent point: the flag was set before it.
        CHECK(quiesced.load());
        unmapped = true;
    });
    std::this_thread::sleep_for(50ms);
    CHECK_FALSE(unmapped.load());
    release = true;
    unmapper.join();
    lcore.join();
    CHECK(unmap_guard_counters().waits == before.waits + 1);
    CHECK(unmap_guard_counters().timeouts == before.timeouts);
}

TEST_CASE("unmap guard: an offline reader is not waited for", "[device][unmap_guard]") {
    burst_reader r;
    r.online();
    r.offline();
    const auto before = unmap_guard_counters();
    CHECK(::munmap(map_page(), 4096) == 0);
    CHECK(unmap_guard_counters().waits == before.waits);
}

TEST_CASE("unmap guard: a reader unmapping on its own thread does not wait for itself", "[device][unmap_guard]") {
    burst_reader r;
    r.online();
    const auto before = unmap_guard_counters();
    CHECK(::munmap(map_page(), 4096) == 0);
    CHECK(unmap_guard_counters().waits == before.waits);
    r.offline();
}

TEST_CASE("unmap guard: a reader that never quiesces bounds the wait", "[device][unmap_guard]") {
    // A stopped lcore (a debugger, SIGSTOP) must not hang the interrupt thread forever.
    burst_reader r;
    std::atomic<bool> ready{false}, done{false};
    std::thread lcore([&] {
        r.online();
        ready = true;
        while (!done) std::this_thread::yield();
        r.offline();
    });
    while (!ready) std::this_thread::yield();
    const auto before = unmap_guard_counters();
    CHECK_FALSE(wait_for_burst_readers(20ms));
    CHECK(unmap_guard_counters().timeouts == before.timeouts + 1);
    done = true;
    lcore.join();
    CHECK(wait_for_burst_readers(20ms));
}

TEST_CASE("unmap guard: one slot per lcore, given back when the reader goes", "[device][unmap_guard]") {
    {
        std::vector<std::unique_ptr<burst_reader>> all;
        for (unsigned i = 0; i < max_burst_readers; ++i) all.push_back(std::make_unique<burst_reader>());
        CHECK_THROWS_AS(burst_reader{}, std::length_error);
    }
    // All given back: a program may start and stop its loops any number of times.
    for (unsigned i = 0; i < 2 * max_burst_readers; ++i) {
        burst_reader r;
        r.online();
        r.offline();
    }
    CHECK_NOTHROW(burst_reader{});
}
