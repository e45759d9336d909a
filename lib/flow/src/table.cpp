// The flow table's mutations and its concurrent readers. The design, and why deletion
// shifts entries back instead of leaving tombstones, is at the top of table.hpp.
//
// The seqlock, in one place (each step is commented again where it happens):
//   owner:  v = version (odd now); fence(release); relaxed stores to slots; version = v + 2 (release)
//   reader: s1 = version (acquire); relaxed loads of slots; fence(acquire); s2 = version (relaxed);
//           use what was read only if s1 is even and s1 == s2, else retry.
// The owner uses no read-modify-write instruction and never waits for a reader; a reader
// never writes anything shared.
#include <linerate/flow/table.hpp>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <thread>

namespace linerate::flow {

namespace {

// A reader backing off while the owner writes. First a pause, which tells the core (and
// its SMT sibling, which may be the owner) that this is a spin; after spin_attempts a
// yield, so that an owner preempted in the middle of a write can get the CPU back.
void back_off(std::uint32_t attempt) noexcept {
    if (attempt < table::spin_attempts) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield" ::: "memory");
#endif
    } else {
        std::this_thread::yield();
    }
}

} // namespace

std::uint32_t table::slots_for(std::uint32_t capacity) {
    // capacity <= 75 % of n  <=>  n >= ceil(capacity * 4 / 3); then up to a whole chunk.
    const std::uint64_t least = (std::uint64_t{capacity} * 4 + 2) / 3;
    const std::uint64_t n = std::max<std::uint64_t>(chunk_slots, (least + chunk_slots - 1) / chunk_slots * chunk_slots);
    if (n > std::numeric_limits<std::uint32_t>::max()) throw std::length_error("flow::table: capacity too large");
    return static_cast<std::uint32_t>(n);
}

// std::atomic's default constructor value-initialises (C++20), and big_array
// value-initialises its elements: every slot starts empty (ref raw 0).
table::table(std::uint32_t capacity, std::uint64_t seed)
    : slots_(slots_for(capacity)), n_(static_cast<std::uint32_t>(slots_.size())), capacity_(capacity), hash_(seed) {}

std::uint32_t table::locate(std::uint64_t addrs, std::uint64_t ports, std::uint64_t hash) const noexcept {
    for (std::uint32_t i = home(hash);; i = next(i)) {
        const std::uint64_t w1 = slots_[i].ports_ref.load(std::memory_order_relaxed);
        if (static_cast<std::uint32_t>(w1) == 0) return none;
        if ((w1 & port_mask) == ports && slots_[i].addrs.load(std::memory_order_relaxed) == addrs) return i;
    }
}

// Seqlock, writer side. Only the owner stores the version, so it reads it back with a
// relaxed load (it sees its own last store) and bumps it with a plain store: no locked
// instruction.
void table::write_begin() noexcept {
    const std::uint64_t v = version_.load(std::memory_order_relaxed);
    assert((v & 1) == 0);
    version_.store(v + 1, std::memory_order_relaxed);
    // Release fence AFTER the odd store and BEFORE the slot stores. Without it the
    // relaxed slot stores could become visible before the odd version, and a reader
    // could read a new slot value and the old even version at both ends of its read.
    // With it, if a reader's relaxed load reads a slot value stored after
    // this fence, the reader's acquire fence (after its slot loads) synchronises with
    // this fence ([atomics.fences]/2), so the odd store happens-before the reader's
    // second version load, which then reads the odd value or a later one: it differs
    // from the even s1 the reader began with, and the reader retries.
    // On x86 stores are not reordered with stores, so this emits no instruction; it
    // only stops the compiler from moving the slot stores above the version store.
    std::atomic_thread_fence(std::memory_order_release);
}

void table::write_end() noexcept {
    const std::uint64_t v = version_.load(std::memory_order_relaxed);
    // Release store of the even version: a reader whose acquire load reads it (s1)
    // sees every slot store of this and earlier mutations, so its relaxed loads return
    // those values or later ones; later ones belong to a later mutation, whose odd
    // store the fence argument above makes visible to the reader's s2. On x86 a plain
    // mov.
    version_.store(v + 1, std::memory_order_release);
}

table::insert_result table::insert(const tcp::four_tuple &t, std::uint64_t hash, ref r) noexcept {
    assert(!r.empty());
    const std::uint64_t addrs = detail::key_addrs(t);
    const std::uint64_t ports = detail::key_ports(t);
    // Probe (a read; no seqlock needed by the only writer) to the key or the first
    // empty slot, which is where linear probing puts a new key.
    std::uint32_t i = home(hash);
    for (;; i = next(i)) {
        const std::uint64_t w1 = slots_[i].ports_ref.load(std::memory_order_relaxed);
        if (static_cast<std::uint32_t>(w1) == 0) break;
        if ((w1 & port_mask) == ports && slots_[i].addrs.load(std::memory_order_relaxed) == addrs)
            return insert_result::present;
    }
    const std::uint32_t n = size();
    if (n == capacity_) return insert_result::full;
    write_begin();
    slots_[i].addrs.store(addrs, std::memory_order_relaxed);
    slots_[i].ports_ref.store(ports | r.raw, std::memory_order_relaxed);
    write_end();
    size_.store(n + 1, std::memory_order_relaxed);
    return insert_result::inserted;
}

bool table::replace(const tcp::four_tuple &t, std::uint64_t hash, ref r) noexcept {
    assert(!r.empty());
    const std::uint64_t ports = detail::key_ports(t);
    const std::uint32_t i = locate(detail::key_addrs(t), ports, hash);
    if (i == none) return false;
    // One 64-bit store, so a reader could not tear it; the seqlock is kept anyway so
    // that every mutation follows the same protocol.
    write_begin();
    slots_[i].ports_ref.store(ports | r.raw, std::memory_order_relaxed);
    write_end();
    return true;
}

bool table::erase(const tcp::four_tuple &t, std::uint64_t hash) noexcept {
    const std::uint32_t hole = locate(detail::key_addrs(t), detail::key_ports(t), hash);
    if (hole == none) return false;
    erase_at(hole);
    return true;
}

bool table::erase(const tcp::four_tuple &t, std::uint64_t hash, ref expected) noexcept {
    const std::uint32_t hole = locate(detail::key_addrs(t), detail::key_ports(t), hash);
    if (hole == none || static_cast<std::uint32_t>(slots_[hole].ports_ref.load(std::memory_order_relaxed)) != expected.raw)
        return false;
    erase_at(hole);
    return true;
}

void table::erase_at(std::uint32_t hole) noexcept {
    write_begin();
    // Backward shift (Knuth, Algorithm R): walk the rest of the cluster; an entry may
    // fill the hole if its home slot is NOT cyclically within (hole, j], because then
    // the hole lies on its probe path (between its home and j): that is, if it is at
    // least as far from its home as from the hole, both distances counted forward and
    // wrapping at the end of the array. It moves, and the slot it left becomes the
    // hole. The walk ends at the first empty slot, where every probe run ends.
    for (std::uint32_t j = next(hole);; j = next(j)) {
        const std::uint64_t w1 = slots_[j].ports_ref.load(std::memory_order_relaxed);
        if (static_cast<std::uint32_t>(w1) == 0) break;
        const std::uint64_t w0 = slots_[j].addrs.load(std::memory_order_relaxed);
        const std::uint32_t j_home = home(this->hash(detail::key_of(w0, w1)));
        if (distance(j_home, j) >= distance(hole, j)) {
            slots_[hole].addrs.store(w0, std::memory_order_relaxed);
            slots_[hole].ports_ref.store(w1, std::memory_order_relaxed);
            hole = j;
        }
    }
    slots_[hole].ports_ref.store(0, std::memory_order_relaxed);
    slots_[hole].addrs.store(0, std::memory_order_relaxed);
    write_end();
    size_.store(size() - 1, std::memory_order_relaxed);
}

std::uint32_t table::probe_length(const tcp::four_tuple &t) const noexcept {
    const std::uint64_t addrs = detail::key_addrs(t);
    const std::uint64_t ports = detail::key_ports(t);
    std::uint32_t n = 1;
    for (std::uint32_t i = home(hash(t));; i = next(i), ++n) {
        const std::uint64_t w1 = slots_[i].ports_ref.load(std::memory_order_relaxed);
        if (static_cast<std::uint32_t>(w1) == 0) return n;
        if ((w1 & port_mask) == ports && slots_[i].addrs.load(std::memory_order_relaxed) == addrs) return n;
    }
}

// Seqlock, reader side. hash_ (its keys) and n_ are written only by the constructor,
// which happens-before any reader thread is given the table.
std::optional<ref> table::find_concurrent(const tcp::four_tuple &t, std::uint32_t max_attempts) const noexcept {
    const std::uint64_t h = hash(t);
    const std::uint64_t addrs = detail::key_addrs(t);
    const std::uint64_t ports = detail::key_ports(t);
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
        // Acquire: if this reads the even version a mutation ended with, every slot
        // store of that mutation is visible to the loads below (see write_end).
        const std::uint64_t s1 = version_.load(std::memory_order_acquire);
        if ((s1 & 1) != 0) { // the owner is writing now
            back_off(attempt);
            continue;
        }
        // Relaxed loads: they may mix slot values from before and during a mutation;
        // the check below throws such a result away. The probe is bounded by the slot
        // count because a torn view need not contain an empty slot.
        std::optional<ref> result;
        std::uint32_t i = home(h);
        for (std::uint32_t n = 0; n < n_; ++n, i = next(i)) {
            const std::uint64_t w1 = slots_[i].ports_ref.load(std::memory_order_relaxed);
            const auto r = ref{static_cast<std::uint32_t>(w1)};
            if (r.empty()) break;
            if ((w1 & port_mask) == ports && slots_[i].addrs.load(std::memory_order_relaxed) == addrs) {
                result = r;
                break;
            }
        }
        // Acquire fence BEFORE the second version load: an acquire load would only keep
        // later accesses after it, not the slot loads above, which could then be
        // satisfied after the version load and escape the check. The fence keeps them
        // before it, and pairs with the owner's release fence in write_begin (if any
        // slot load saw a mutation's store, s2 sees that mutation's odd version). On
        // x86 loads are not reordered with loads: no instruction, a compiler barrier.
        std::atomic_thread_fence(std::memory_order_acquire);
        const std::uint64_t s2 = version_.load(std::memory_order_relaxed);
        if (s1 == s2) return result; // no mutation overlapped the loads
        back_off(attempt);
    }
    return std::nullopt; // gave up: the owner kept writing (see the header)
}

// The same protocol as find_concurrent, over a chunk of slots copied out.
// The slot count is a multiple of chunk_slots (slots_for), so chunks tile it exactly.
bool table::read_chunk(std::uint32_t first, chunk &out, std::uint32_t max_attempts) const noexcept {
    for (std::uint32_t attempt = 0; attempt < max_attempts; ++attempt) {
        const std::uint64_t s1 = version_.load(std::memory_order_acquire); // pairs with write_end
        if ((s1 & 1) != 0) {
            back_off(attempt);
            continue;
        }
        for (std::uint32_t k = 0; k < chunk_slots; ++k) {
            out.addrs[k] = slots_[first + k].addrs.load(std::memory_order_relaxed);
            out.ports_ref[k] = slots_[first + k].ports_ref.load(std::memory_order_relaxed);
        }
        std::atomic_thread_fence(std::memory_order_acquire); // keeps the loads above before s2; pairs with write_begin
        if (version_.load(std::memory_order_relaxed) == s1) return true;
        back_off(attempt);
    }
    return false;
}

} // namespace linerate::flow
