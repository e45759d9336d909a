// The 4-tuple table at 1 thousand, 1 million and 10 million entries: lookup of a
// present key, lookup of an absent one (every SYN is a miss), insert and erase, each
// one by one and in bursts of 32 with prefetch, the way the engine handles an RX burst
// (hash all 32, prefetch all 32 home slots, then look all 32 up).
//
// The table is sized for its entry count, as a shard sized for that many connections
// would be at full occupancy (1e3: 1,344 slots, 1e6: 1,333,344, 1e7: 13,333,344; 74 to
// 75 % load). Keys are random 4-tuples in 198.18.0.0/15 with random ports, so
// consecutive lookups land on unrelated cache lines: at 1e3 the table (21 KiB) stays in
// cache, at 1e7 (203 MiB) nearly every lookup misses to memory, which is what prefetch
// is for.
// The target: at 10 million entries a lookup with burst prefetch is at least
// half as fast as at 1 thousand.
//
// Building the 10 million table takes a second or two and a few hundred MiB, so the
// benchmarks are registered size by size and the table of the current size is kept
// between them (and between repetitions); it changes only when the size does.
//
// Insert and erase keep the table near its size: a batch of keys is erased untimed and
// inserted back timed (or erased timed and inserted back untimed), moving through the
// keys so that every batch works on different slots.
#include "micro.hpp"

#include <linerate/base/big_array.hpp>
#include <linerate/flow/table.hpp>

#include <algorithm>
#include <array>
#include <memory>
#include <span>
#include <vector>

namespace linerate::perf {
namespace {

constexpr std::uint32_t burst = 32; // the engine's RX burst
constexpr std::array<std::uint32_t, 3> sizes{1'000, 1'000'000, 10'000'000};
constexpr std::uint32_t max_absent = 1u << 20; // enough misses to leave every cache behind

struct table_data {
    std::uint32_t entries;
    flow::table table;
    std::vector<tcp::four_tuple> present; // present[i] holds ref::connection(i)
    std::vector<tcp::four_tuple> absent;

    explicit table_data(std::uint32_t n) : entries(n), table(n, 0x7ab1e5eedULL) {
        std::mt19937_64 rng(n);
        present.reserve(n);
        while (present.size() < n) {
            const tcp::four_tuple t = random_tuple(rng);
            const auto index = static_cast<std::uint32_t>(present.size());
            if (table.insert(t, flow::ref::connection(index)) == flow::table::insert_result::inserted)
                present.push_back(t);
        }
        const std::uint32_t misses = std::min(n, max_absent);
        absent.reserve(misses);
        while (absent.size() < misses) {
            const tcp::four_tuple t = random_tuple(rng);
            if (!table.find(t)) absent.push_back(t);
        }
    }
};

std::unique_ptr<table_data> current;

table_data &data_for(std::uint32_t n) {
    if (!current || current->entries != n) {
        current.reset(); // the old one goes first: 1e7 entries and its keys are ~400 MiB
        current = std::make_unique<table_data>(n);
    }
    return *current;
}

// How many keys one burst finds: hash, then find one at a time; or hash and prefetch
// all, then find all.
template <bool Prefetch>
std::uint32_t find_burst(const flow::table &t, const tcp::four_tuple *keys) noexcept {
    std::uint32_t found = 0;
    if constexpr (Prefetch) {
        std::uint64_t h[burst];
        for (std::uint32_t i = 0; i < burst; ++i) {
            h[i] = t.hash(keys[i]);
            t.prefetch(h[i]);
        }
        for (std::uint32_t i = 0; i < burst; ++i) found += t.find(keys[i], h[i]).has_value() ? 1 : 0;
    } else {
        for (std::uint32_t i = 0; i < burst; ++i) found += t.find(keys[i], t.hash(keys[i])).has_value() ? 1 : 0;
    }
    return found;
}

template <bool Prefetch>
void lookup(benchmark::State &state, bool hit) {
    table_data &d = data_for(static_cast<std::uint32_t>(state.range(0)));
    const std::span<const tcp::four_tuple> keys = hit ? d.present : d.absent;
    const std::size_t end = keys.size() - keys.size() % burst;
    std::size_t cursor = 0;
    std::uint64_t found = 0;
    while (state.KeepRunningBatch(burst)) {
        found += find_burst<Prefetch>(d.table, keys.data() + cursor);
        cursor += burst;
        if (cursor == end) cursor = 0;
    }
    const auto expected = hit ? static_cast<std::uint64_t>(state.iterations()) : 0;
    if (found != expected) return fail(state, "a lookup gave the wrong answer");
    state.SetItemsProcessed(state.iterations());
}

// Keys per untimed step of insert and erase: large enough that pausing the timer costs
// little per operation, small enough (a quarter of the table) to keep the load near
// the table's size. A multiple of the burst.
std::uint32_t batch_for(std::uint32_t n) noexcept { return std::min<std::uint32_t>(4096, n / 4 / burst * burst); }

template <bool Prefetch>
std::uint32_t insert_keys(flow::table &t, std::span<const tcp::four_tuple> keys, std::uint32_t first_index) noexcept {
    std::uint32_t inserted = 0;
    for (std::uint32_t b = 0; b < keys.size(); b += burst) {
        const tcp::four_tuple *k = keys.data() + b;
        const auto insert = [&](std::uint32_t i, std::uint64_t h) {
            const auto r = t.insert(k[i], h, flow::ref::connection(first_index + b + i));
            inserted += r == flow::table::insert_result::inserted ? 1 : 0;
        };
        if constexpr (Prefetch) {
            std::uint64_t h[burst];
            for (std::uint32_t i = 0; i < burst; ++i) {
                h[i] = t.hash(k[i]);
                t.prefetch(h[i]);
            }
            for (std::uint32_t i = 0; i < burst; ++i) insert(i, h[i]);
        } else {
            for (std::uint32_t i = 0; i < burst; ++i) insert(i, t.hash(k[i]));
        }
    }
    return inserted;
}

template <bool Prefetch>
std::uint32_t erase_keys(flow::table &t, std::span<const tcp::four_tuple> keys) noexcept {
    std::uint32_t erased = 0;
    for (std::uint32_t b = 0; b < keys.size(); b += burst) {
        const tcp::four_tuple *k = keys.data() + b;
        if constexpr (Prefetch) {
            std::uint64_t h[burst];
            for (std::uint32_t i = 0; i < burst; ++i) {
                h[i] = t.hash(k[i]);
                t.prefetch(h[i]);
            }
            for (std::uint32_t i = 0; i < burst; ++i) erased += t.erase(k[i], h[i]) ? 1 : 0;
        } else {
            for (std::uint32_t i = 0; i < burst; ++i) erased += t.erase(k[i], t.hash(k[i])) ? 1 : 0;
        }
    }
    return erased;
}

// timed_insert: the batch is erased untimed and inserted back timed; otherwise erased
// timed and inserted back untimed. Either way the table ends full, as it started.
template <bool Prefetch>
void mutate(benchmark::State &state, bool timed_insert) {
    table_data &d = data_for(static_cast<std::uint32_t>(state.range(0)));
    const std::uint32_t n = batch_for(d.entries);
    const std::size_t end = d.present.size() - d.present.size() % n;
    std::size_t cursor = 0;
    bool ok = true;
    while (state.KeepRunningBatch(n)) {
        const std::span<const tcp::four_tuple> keys(d.present.data() + cursor, n);
        const auto first = static_cast<std::uint32_t>(cursor);
        if (timed_insert) {
            state.PauseTiming();
            ok &= erase_keys<false>(d.table, keys) == n;
            state.ResumeTiming();
            ok &= insert_keys<Prefetch>(d.table, keys, first) == n;
        } else {
            ok &= erase_keys<Prefetch>(d.table, keys) == n;
            state.PauseTiming();
            ok &= insert_keys<false>(d.table, keys, first) == n;
            state.ResumeTiming();
        }
        cursor += n;
        if (cursor == end) cursor = 0;
    }
    if (!ok || d.table.size() != d.entries) return fail(state, "an insert or erase did not change the table");
    state.SetItemsProcessed(state.iterations());
}

// The machine's floor under a lookup: the same bursts of 32 (index, prefetch all, then
// read all) over an array as large as the table's slots, with no hashing and no
// probing, just one 16-byte read per key at a random slot. At 10 million entries this
// is what memory itself allows; a lookup can approach it but not beat it, so the ratio
// of this floor at 1 thousand and 10 million bounds the table's ratio too.
void random_read(benchmark::State &state) {
    table_data &d = data_for(static_cast<std::uint32_t>(state.range(0)));
    struct alignas(16) line_part {
        std::uint64_t a = 0, b = 0;
    };
    const big_array<line_part> memory(d.table.slots());
    std::vector<std::uint32_t> index(std::size_t{1} << 20);
    std::mt19937_64 rng(d.entries);
    for (auto &i : index) i = static_cast<std::uint32_t>(rng() % d.table.slots()); // untimed: a modulo is fine
    std::size_t cursor = 0;
    std::uint64_t sum = 0;
    while (state.KeepRunningBatch(burst)) {
        const std::uint32_t *k = index.data() + cursor;
        for (std::uint32_t i = 0; i < burst; ++i) __builtin_prefetch(&memory[k[i]], 0, 3);
        for (std::uint32_t i = 0; i < burst; ++i) sum += memory[k[i]].a ^ memory[k[i]].b;
        cursor = (cursor + burst) & (index.size() - 1);
    }
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(state.iterations());
}

// The engine's RX burst after the table: each segment's TCB is read, worked on and
// written. A TCB-sized record (two cache lines, as tcp::connection is) per entry,
// present[i]'s at index i, and a chain of dependent multiplies standing for the core's
// work on it (a few hundred cycles, as a segment's input is): that work fills the
// core's reorder window, so without the stage the next segment's TCB load waits for it
// and every miss is paid alone. With the stage (worker::tcp_burst and
// shard::look_ahead) all 32 are found and their lines prefetched before the first is
// worked on, and the misses overlap.
struct alignas(64) tcb_like {
    std::uint64_t words[16];
};
static_assert(sizeof(tcb_like) == 128, "a TCB is two cache lines");
constexpr std::uint64_t core_work = 100; // dependent multiplies: about 300 cycles

template <bool Stage>
void lookup_and_touch(benchmark::State &state) {
    table_data &d = data_for(static_cast<std::uint32_t>(state.range(0)));
    big_array<tcb_like> tcbs(d.entries);
    const std::size_t end = d.present.size() - d.present.size() % burst;
    std::size_t cursor = 0;
    std::uint64_t touched = 0;
    const auto touch = [&](std::uint32_t index) {
        tcb_like &c = tcbs[index];
        // Reads from both lines, work that depends on them, writes.
        std::uint64_t x = c.words[9] | 1;
        for (std::uint64_t k = 0; k < core_work; ++k) x = x * 0x9e37'79b9'7f4a'7c15ull + k;
        c.words[9] = x & 0xff;
        ++c.words[0];
        ++touched;
    };
    while (state.KeepRunningBatch(burst)) {
        const tcp::four_tuple *keys = d.present.data() + cursor;
        std::uint64_t h[burst];
        for (std::uint32_t i = 0; i < burst; ++i) {
            h[i] = d.table.hash(keys[i]);
            d.table.prefetch(h[i]);
        }
        if constexpr (Stage) {
            std::uint32_t index[burst];
            for (std::uint32_t i = 0; i < burst; ++i) {
                const auto r = d.table.find(keys[i], h[i]);
                index[i] = r ? r->index() : 0;
                const auto *c = reinterpret_cast<const char *>(&tcbs[index[i]]);
                __builtin_prefetch(c, 1, 3);
                __builtin_prefetch(c + 64, 1, 3);
            }
            for (std::uint32_t i = 0; i < burst; ++i) touch(index[i]);
        } else {
            for (std::uint32_t i = 0; i < burst; ++i) {
                const auto r = d.table.find(keys[i], h[i]);
                touch(r ? r->index() : 0);
            }
        }
        cursor += burst;
        if (cursor == end) cursor = 0;
    }
    std::uint64_t sum = 0;
    for (std::uint32_t i = 0; i < d.entries; ++i) sum += tcbs[i].words[0];
    if (sum != touched) return fail(state, "a TCB was not touched once per lookup");
    state.SetItemsProcessed(state.iterations());
}

} // namespace

void register_table() {
    // Size by size, so each table is built once (see the top of the file).
    for (const std::uint32_t n : sizes) {
        benchmark::RegisterBenchmark("table/lookup_hit/one_by_one", &lookup<false>, true)->Arg(n);
        benchmark::RegisterBenchmark("table/lookup_hit/prefetch", &lookup<true>, true)->Arg(n);
        benchmark::RegisterBenchmark("table/lookup_and_touch_tcb/slots_prefetched", &lookup_and_touch<false>)->Arg(n);
        benchmark::RegisterBenchmark("table/lookup_and_touch_tcb/tcbs_prefetched_too", &lookup_and_touch<true>)->Arg(n);
        benchmark::RegisterBenchmark("table/random_read_floor/prefetch", &random_read)->Arg(n);
        benchmark::RegisterBenchmark("table/lookup_miss/one_by_one", &lookup<false>, false)->Arg(n);
        benchmark::RegisterBenchmark("table/lookup_miss/prefetch", &lookup<true>, false)->Arg(n);
        benchmark::RegisterBenchmark("table/insert/one_by_one", &mutate<false>, true)->Arg(n);
        benchmark::RegisterBenchmark("table/insert/prefetch", &mutate<true>, true)->Arg(n);
        benchmark::RegisterBenchmark("table/erase/one_by_one", &mutate<false>, false)->Arg(n);
        benchmark::RegisterBenchmark("table/erase/prefetch", &mutate<true>, false)->Arg(n);
    }
}

} // namespace linerate::perf
