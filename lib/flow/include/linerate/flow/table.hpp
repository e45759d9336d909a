// The per-shard flow table: 4-tuple -> connection or TIME-WAIT entry, looked up for
// every received segment. (flow::shard keeps only connections here now: its TIME-WAIT
// 4-tuples are in its time_wait_log, whose index costs 10.5 bytes per entry against
// this table's 21 to 43. The time_wait kind and replace() remain for a table user that
// wants both.)
//
// Design:
// - Open addressing with linear probing over an array of 16-byte slots, sized once to
//   the smallest multiple of 16 (chunk_slots) that keeps the load at or below 75 %.
//   Not a power of two: rounding up to one costs up to twice the memory (10.5 M
//   connections would take 2^24 slots, 268 MB, where 14 M, 224 MB, do). So the home
//   slot is the hash scaled into [0, n) by a multiply and a shift ("fast range",
//   Lemire 2019) and a probe wraps with a compare; nothing on the lookup path divides.
//   A multiple of 16 so that the readers' 16-slot chunks tile the array. The price: a
//   full table is always near 75 % load, where the power of two often left it lower
//   (10.5 M in 2^24: 63 %), so probes are longer (linear probing at 75 %: a miss
//   examines 8.5 slots on average and a hit 2.5; at 63 %, 4.1 and 1.8). A slot holds
//   the 12 key bytes and a 4-byte `ref` (kind + pool index: the table stores indices,
//   never pointers); four slots share a 64-byte cache line, so most lookups touch one
//   line, and prefetch() lets the engine start those loads for a whole RX burst before
//   the first lookup. A ref of raw 0 marks an empty slot.
// - Deletion is by BACKWARD SHIFT (Knuth vol. 3, 6.4, Algorithm R), never by
//   tombstone. Tombstones are never reclaimed under churn: each erase leaves one, a
//   miss must walk past them to a truly empty slot, and after enough connections have
//   come and gone (the normal life of a server) nearly every slot is a tombstone and a
//   miss - every SYN - walks much of the table. Backward shift instead closes the gap:
//   the entries after the erased one move back when that keeps each within its probe
//   run (between its home slot and the first empty slot), so the table is always
//   exactly one that inserts alone could have built, and probe lengths depend only on
//   the keys present, not on the history. The price is an erase that rehashes the rest
//   of its cluster (a few entries at 75 % load), paid when a flow ends.
// - The hash is keyed by a per-shard random seed (tuple_hash.hpp says why).
// - One thread, the shard's owner, writes. Telemetry threads read concurrently through
//   find_concurrent() and for_each_concurrent(), which never take a lock and never make
//   the owner wait: a sequence lock (seqlock). The owner makes a version odd before it
//   changes slots and even after, with plain stores (a single writer needs no atomic
//   read-modify-write); a reader that saw the version change, or saw it odd, retries.
//   Slot words are std::atomic<std::uint64_t> read and written with relaxed order, so a
//   torn read is a detected retry and never undefined behaviour; on x86 a relaxed load
//   or store and a release store are plain moves and a release fence only stops the
//   compiler, so the owner's fast path costs the same as with plain words.
#pragma once

#include <linerate/base/big_array.hpp>
#include <linerate/flow/tuple_hash.hpp>
#include <linerate/tcp/segment.hpp>

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace linerate::flow {

enum class entry_kind : std::uint8_t { connection = 0, time_wait = 1 };

// What a table entry refers to: a connection or a TIME-WAIT entry, by pool index. Four
// bytes: bit 31 is the kind, bits 0..30 hold index + 1, so raw 0 (reserved for the
// empty slot) is never a valid ref.
struct ref {
    static constexpr std::uint32_t max_index = 0x7fff'fffeu; // index < 2^31 - 1
    std::uint32_t raw = 0;

    [[nodiscard]] static constexpr ref connection(std::uint32_t index) noexcept { return make(entry_kind::connection, index); }
    [[nodiscard]] static constexpr ref time_wait(std::uint32_t index) noexcept { return make(entry_kind::time_wait, index); }

    [[nodiscard]] constexpr entry_kind kind() const noexcept { return static_cast<entry_kind>(raw >> 31); }
    [[nodiscard]] constexpr std::uint32_t index() const noexcept { return (raw & 0x7fff'ffffu) - 1; }
    [[nodiscard]] constexpr bool empty() const noexcept { return raw == 0; }

    friend constexpr bool operator==(ref, ref) noexcept = default;

private:
    [[nodiscard]] static constexpr ref make(entry_kind k, std::uint32_t index) noexcept {
        assert(index <= max_index);
        return ref{(static_cast<std::uint32_t>(k) << 31) | (index + 1)};
    }
};
static_assert(sizeof(ref) == 4);

class table {
public:
    // Holds up to `capacity` entries in slots_for(capacity) slots. `seed` keys the
    // hash; the shard draws it at random. Allocates here and never again; throws
    // std::length_error if the slot count would not fit in 32 bits, std::bad_alloc if
    // memory is short.
    table(std::uint32_t capacity, std::uint64_t seed);

    table(const table &) = delete;
    table &operator=(const table &) = delete;

    // The smallest multiple of chunk_slots, at least chunk_slots, of which `capacity`
    // is at most 75 %. Throws std::length_error if that does not fit in 32 bits.
    [[nodiscard]] static std::uint32_t slots_for(std::uint32_t capacity);

    // Keyed hash of the 4-tuple; its high 32 bits pick the home slot (see home()).
    [[nodiscard]] std::uint64_t hash(const tcp::four_tuple &t) const noexcept { return hash_(t); }

    // The slot where the probe for `hash` starts: the hash's high 32 bits scaled into
    // [0, slots()) by fast range, a multiply and a shift where a modulo would divide.
    // Either half is as well mixed (tuple_hash.hpp); the high one because the TIME-WAIT
    // log's index, which is given the same hash value, places by the high half too and
    // tags by the low: one rule for every structure on this hash. Public for tests,
    // which need keys with a chosen home.
    [[nodiscard]] std::uint32_t home(std::uint64_t hash) const noexcept {
        return static_cast<std::uint32_t>((std::uint64_t{static_cast<std::uint32_t>(hash >> 32)} * n_) >> 32);
    }

    // Starts loading the home slot of `hash` into the cache. The engine calls it for a
    // whole RX burst before the lookups, so the misses overlap.
    void prefetch(std::uint64_t hash) const noexcept { __builtin_prefetch(&slots_[home(hash)], 0, 3); }

    // --- The owner thread ---------------------------------------------------------

    [[nodiscard]] std::optional<ref> find(const tcp::four_tuple &t, std::uint64_t hash) const noexcept {
        // The owner is the only writer, so it reads without the seqlock.
        const std::uint64_t addrs = detail::key_addrs(t);
        const std::uint64_t ports = detail::key_ports(t);
        for (std::uint32_t i = home(hash);; i = next(i)) {
            const std::uint64_t w1 = slots_[i].ports_ref.load(std::memory_order_relaxed);
            const auto r = ref{static_cast<std::uint32_t>(w1)};
            if (r.empty()) return std::nullopt; // the end of the probe run: absent
            if ((w1 & port_mask) == ports && slots_[i].addrs.load(std::memory_order_relaxed) == addrs) return r;
        }
    }
    [[nodiscard]] std::optional<ref> find(const tcp::four_tuple &t) const noexcept { return find(t, hash(t)); }

    enum class insert_result : std::uint8_t { inserted, present, full };
    // `present` (and no change) if t is in the table, whatever its ref; `full` if it is
    // not and size() == capacity(). r must not be empty.
    insert_result insert(const tcp::four_tuple &t, std::uint64_t hash, ref r) noexcept;
    insert_result insert(const tcp::four_tuple &t, ref r) noexcept { return insert(t, hash(t), r); }

    // Changes the ref of a present key, in place (a connection handing its 4-tuple to a
    // TIME-WAIT entry); false if t is absent. r must not be empty.
    bool replace(const tcp::four_tuple &t, std::uint64_t hash, ref r) noexcept;
    bool replace(const tcp::four_tuple &t, ref r) noexcept { return replace(t, hash(t), r); }

    // Removes t (backward shift: see the top of this file); false if it is absent.
    bool erase(const tcp::four_tuple &t, std::uint64_t hash) noexcept;
    bool erase(const tcp::four_tuple &t) noexcept { return erase(t, hash(t)); }
    // Removes t only while its ref is `expected` (a connection giving back its own
    // 4-tuple): one probe both checks and erases. False, and no change, otherwise.
    bool erase(const tcp::four_tuple &t, std::uint64_t hash, ref expected) noexcept;

    // Any thread may call size(): it is an atomic the owner stores (never an RMW).
    [[nodiscard]] std::uint32_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] std::uint32_t slots() const noexcept { return n_; }

    // How many slots a find(t) examines, present or absent (1 when t sits in, or misses
    // at, its home slot). For tests and the benchmark. Owner thread.
    [[nodiscard]] std::uint32_t probe_length(const tcp::four_tuple &t) const noexcept;

    // --- Readers on other threads --------------------------------------------------

    // A lookup that may run concurrently with the owner's mutations. While the owner
    // is writing it retries: the first `spin_attempts` with a pause, later ones after
    // yielding the CPU (an owner preempted in the middle of a write, as happens on an
    // overloaded test machine, though rarely on an isolated lcore, needs the CPU back
    // to finish). After `max_attempts` attempts that all overlapped a mutation it gives
    // up and answers nullopt, as if t were absent: a telemetry reader can live with
    // that. Pass a larger budget to wait longer (~0u: until the owner lets it read).
    [[nodiscard]] std::optional<ref> find_concurrent(const tcp::four_tuple &t,
                                                     std::uint32_t max_attempts = max_read_attempts) const noexcept;

    // How many mutations (successful inserts, replaces and erases) have completed: the
    // seqlock version halved. A reader that sees it unchanged knows the table is too.
    // Any thread.
    [[nodiscard]] std::uint64_t mutations() const noexcept { return version_.load(std::memory_order_acquire) / 2; }
    // The same count for the owner thread, which wrote it: a plain load. A lookup made
    // earlier still stands while it is unchanged.
    [[nodiscard]] std::uint64_t owner_mutations() const noexcept { return version_.load(std::memory_order_relaxed) / 2; }

    // f(four_tuple, ref) for the entries, read `chunk_slots` slots at a time under the
    // seqlock into a local copy, then f is called for that copy outside the read, so f
    // may be slow. Each chunk is a consistent snapshot, but the walk as a whole is not:
    // while it runs, an erase can shift an entry back from a chunk not yet read into
    // one already read (the entry is then missed), or around the end of the array into
    // the last chunk (seen twice); an entry inserted or erased during the walk may or
    // may not be seen. Entries that do not move are seen exactly once. A chunk is
    // retried as find_concurrent() retries; one that overlaps mutations for
    // `max_attempts` attempts is skipped, and the result is false if any chunk was.
    template <class F> bool for_each_concurrent(F &&f, std::uint32_t max_attempts = max_read_attempts) const {
        chunk c;
        bool complete = true;
        for (std::uint32_t first = 0; first < slots(); first += chunk_slots) {
            if (!read_chunk(first, c, max_attempts)) {
                complete = false;
                continue;
            }
            for (std::uint32_t k = 0; k < chunk_slots; ++k) {
                const auto r = ref{static_cast<std::uint32_t>(c.ports_ref[k])};
                if (!r.empty()) f(detail::key_of(c.addrs[k], c.ports_ref[k]), r);
            }
        }
        return complete;
    }

    static constexpr std::uint32_t chunk_slots = 16; // 256 bytes, four cache lines
    static constexpr std::uint32_t spin_attempts = 64;
    static constexpr std::uint32_t max_read_attempts = 1u << 16;

private:
    static constexpr std::uint64_t port_mask = ~std::uint64_t{0} << 32;

    // 16 bytes; the array is 16-byte aligned, so a slot never straddles a cache line.
    struct alignas(16) slot {
        std::atomic<std::uint64_t> addrs{0};     // local_ip << 32 | remote_ip
        std::atomic<std::uint64_t> ports_ref{0}; // local_port << 48 | remote_port << 32 | ref.raw
    };
    static_assert(sizeof(slot) == 16);

    struct chunk {
        std::uint64_t addrs[chunk_slots];
        std::uint64_t ports_ref[chunk_slots];
    };

    // The slot after i, wrapping at the end of the array: a compare, not a modulo.
    [[nodiscard]] std::uint32_t next(std::uint32_t i) const noexcept { return i + 1 == n_ ? 0 : i + 1; }
    // How many steps a probe takes from slot `from` to slot `to`, wrapping.
    [[nodiscard]] std::uint32_t distance(std::uint32_t from, std::uint32_t to) const noexcept {
        return to >= from ? to - from : to + n_ - from;
    }
    // The slot of t, or none if t is absent.
    [[nodiscard]] std::uint32_t locate(std::uint64_t addrs, std::uint64_t ports, std::uint64_t hash) const noexcept;
    // Empties slot `hole` (occupied) by backward shift.
    void erase_at(std::uint32_t hole) noexcept;
    [[nodiscard]] bool read_chunk(std::uint32_t first, chunk &out, std::uint32_t max_attempts) const noexcept;
    void write_begin() noexcept;
    void write_end() noexcept;

    static constexpr std::uint32_t none = ~std::uint32_t{0};

    big_array<slot> slots_; // huge pages: see big_array.hpp
    std::uint32_t n_; // slots: a multiple of chunk_slots
    std::uint32_t capacity_;
    tuple_hash hash_;
    std::atomic<std::uint32_t> size_{0};
    // The seqlock version: odd while the owner mutates. On its own cache line, so that
    // readers polling it do not keep pulling away the line with the fields the owner
    // reads on every lookup (slots_, n_, hash_).
    alignas(64) std::atomic<std::uint64_t> version_{0};
};

} // namespace linerate::flow
