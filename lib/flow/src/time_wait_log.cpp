// The TIME-WAIT log: see time_wait_log.hpp for the layout and why.
#include <linerate/flow/time_wait_log.hpp>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>

namespace linerate::flow {
namespace {

// Stale records beyond `capacity` the ring has room for: 1/64 more records (0.3 bytes
// per entry), at least 64, so a few restarted or reopened 4-tuples do not force live
// records out early.
std::uint32_t ring_size(std::uint32_t capacity) noexcept {
    const std::uint64_t n = std::uint64_t{capacity} + std::max<std::uint64_t>(64, capacity / 64);
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, 0xffff'fffeu)); // position + 1 fits in 32 bits
}

// Buckets for `capacity` entries at 87.5 % load of their slots: 8 entries for each
// 7 * 7 slots.
std::uint32_t bucket_count(std::uint32_t capacity) noexcept {
    const std::uint64_t slots = (std::uint64_t{capacity} * 8 + 6) / 7;
    return static_cast<std::uint32_t>(std::max<std::uint64_t>(1, (slots + time_wait_log::slots_per_bucket - 1) /
                                                                     time_wait_log::slots_per_bucket));
}

} // namespace

time_wait_log::time_wait_log(std::uint32_t capacity, std::uint64_t lifetime, std::uint64_t seed)
    : ring_(ring_size(std::max<std::uint32_t>(capacity, 1))), index_(bucket_count(std::max<std::uint32_t>(capacity, 1))),
      capacity_(std::max<std::uint32_t>(capacity, 1)), lifetime_(lifetime),
      slop_(std::max<std::uint64_t>(1, lifetime / 256)), hash_(seed), marks_(std::make_unique<mark[]>(max_marks)),
      profiles_(std::make_unique<profile[]>(max_profiles)),
      profile_map_(std::make_unique<std::uint16_t[]>(profile_map_size)),
      free_profiles_(std::make_unique<std::uint16_t[]>(max_profiles)) {
    std::fill_n(profile_map_.get(), profile_map_size, no_profile);
    // The top of the stack is the last element: profile 0 is handed out first.
    for (std::uint32_t k = 0; k < max_profiles; ++k) free_profiles_[k] = static_cast<std::uint16_t>(max_profiles - 1 - k);
}

std::size_t time_wait_log::bytes_for(std::uint32_t capacity) noexcept {
    capacity = std::max<std::uint32_t>(capacity, 1);
    return std::size_t{ring_size(capacity)} * sizeof(record) + std::size_t{bucket_count(capacity)} * sizeof(bucket) +
           max_marks * sizeof(mark) + max_profiles * (sizeof(profile) + sizeof(std::uint16_t)) +
           profile_map_size * sizeof(std::uint16_t) + sizeof(time_wait_log);
}

std::size_t time_wait_log::bytes() const noexcept {
    return ring_.size() * sizeof(record) + index_.size() * sizeof(bucket) + max_marks * sizeof(mark) +
           max_profiles * (sizeof(profile) + sizeof(std::uint16_t)) + profile_map_size * sizeof(std::uint16_t) +
           sizeof(*this);
}

// --- lookup -----------------------------------------------------------------------------

tcp::four_tuple time_wait_log::tuple_of(const record &r) const noexcept {
    const profile &p = profiles_[r.profile];
    if (p.flags & flag_local) return tcp::four_tuple{ipv4_addr{p.ip}, ipv4_addr{r.ip}, p.port, r.port};
    return tcp::four_tuple{ipv4_addr{r.ip}, ipv4_addr{p.ip}, r.port, p.port};
}

// Bit i set: slot i of the bucket carries `tag`. Every SYN that opens a connection
// asks the log first and nearly always finds nothing, so the seven tags are compared
// at once (SSE2, in every x86-64) instead of in a loop of seven: the bucket's line as
// 32-bit lanes, the odd lanes gathered by two shuffles (lane 1 is `unused`, lanes 3,
// 5, ..., 15 are the slots' tags), two compares.
std::uint32_t time_wait_log::tag_matches(const bucket &k, std::uint32_t tag) noexcept {
#if defined(__SSE2__)
    static_assert(offsetof(bucket, slots) == 8 && std::endian::native == std::endian::little,
                  "slot i's tag is 32-bit lane 3 + 2i of the bucket");
    const auto *v = reinterpret_cast<const float *>(&k);
    const __m128 odd_lo = _mm_shuffle_ps(_mm_load_ps(v), _mm_load_ps(v + 4), _MM_SHUFFLE(3, 1, 3, 1));   // 1 3 5 7
    const __m128 odd_hi = _mm_shuffle_ps(_mm_load_ps(v + 8), _mm_load_ps(v + 12), _MM_SHUFFLE(3, 1, 3, 1)); // 9 ... 15
    const __m128i want = _mm_set1_epi32(static_cast<int>(tag));
    const auto lo = static_cast<std::uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(_mm_castps_si128(odd_lo), want))));
    const auto hi = static_cast<std::uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(_mm_castps_si128(odd_hi), want))));
    return (lo | hi << 4) >> 1;
#else
    std::uint32_t m = 0;
    for (unsigned i = 0; i < slots_per_bucket; ++i)
        if (static_cast<std::uint32_t>(k.slots[i] >> 32) == tag) m |= 1u << i;
    return m;
#endif
}

std::optional<std::uint32_t> time_wait_log::find(const tcp::four_tuple &t, std::uint64_t hash) const noexcept {
    const auto tag = static_cast<std::uint32_t>(hash);
    // At most every bucket once: in a small index every bucket may have been passed.
    std::uint32_t b = home(hash);
    for (std::uint32_t n = 0; n < index_.size(); ++n, b = next_bucket(b)) {
        const bucket &k = index_[b];
        // A tag matches a wrong 4-tuple once in 2^32: only then is a record read.
        for (std::uint32_t m = tag_matches(k, tag); m != 0; m &= m - 1) {
            const std::uint64_t s = k.slots[std::countr_zero(m)];
            if (static_cast<std::uint32_t>(s) == 0) continue;
            const std::uint32_t at = static_cast<std::uint32_t>(s) - 1;
            if (tuple_of(ring_[at]) == t) return at;
        }
        if (k.overflow == 0) break; // nothing probed past this bucket
    }
    return std::nullopt;
}

tcp::time_wait_state time_wait_log::state(std::uint32_t at) const noexcept {
    const record &r = ring_[at];
    const profile &p = profiles_[r.profile];
    return tcp::time_wait_state{.tuple = tuple_of(r),
                                .snd_nxt = seq32{r.snd_nxt},
                                .rcv_nxt = seq32{r.rcv_nxt},
                                .ts_recent = r.ts_recent,
                                .window = p.window,
                                .ts_ok = (p.flags & flag_ts_ok) != 0};
}

// --- the index --------------------------------------------------------------------------

void time_wait_log::index_insert(std::uint64_t hash, std::uint32_t at) noexcept {
    const std::uint64_t entry = (hash << 32) | (std::uint64_t{at} + 1);
    // Never loops for ever: live records are fewer than the slots (87.5 % at most).
    for (std::uint32_t b = home(hash);; b = next_bucket(b)) {
        bucket &k = index_[b];
        for (std::uint64_t &s : k.slots)
            if (s == 0) {
                s = entry;
                return;
            }
        ++k.overflow;
    }
}

bool time_wait_log::index_erase(std::uint64_t hash, std::uint32_t at) noexcept {
    const std::uint32_t h = home(hash);
    std::uint32_t b = h;
    for (std::uint32_t n = 0; n < index_.size(); ++n, b = next_bucket(b)) {
        bucket &k = index_[b];
        for (std::uint64_t &s : k.slots)
            if (static_cast<std::uint32_t>(s) == at + 1) {
                s = 0;
                // The entry no longer probes past the buckets before its own.
                for (std::uint32_t c = h; c != b; c = next_bucket(c)) --index_[c].overflow;
                return true;
            }
        if (k.overflow == 0) break;
    }
    return false;
}

// --- profiles ---------------------------------------------------------------------------

std::uint32_t time_wait_log::profile_slot(const profile &p) const noexcept {
    // Not keyed: a profile's endpoint is this host's (a listener) or a server this host
    // chose to connect to, never one a peer can pick freely.
    const std::uint64_t k = (std::uint64_t{p.ip} << 32) | (std::uint64_t{p.port} << 16) | p.window;
    return static_cast<std::uint32_t>(detail::mum(k ^ p.flags, 0x9e37'79b9'7f4a'7c15u)) & (profile_map_size - 1);
}

std::uint16_t time_wait_log::acquire_profile(const profile &p) noexcept {
    std::uint32_t i = profile_slot(p);
    for (;; i = (i + 1) & (profile_map_size - 1)) {
        const std::uint16_t id = profile_map_[i];
        if (id == no_profile) break;
        const profile &q = profiles_[id];
        if (q.ip == p.ip && q.port == p.port && q.window == p.window && q.flags == p.flags) {
            ++profiles_[id].refs;
            return id;
        }
    }
    if (free_count_ == 0) return no_profile;
    const std::uint16_t id = free_profiles_[--free_count_];
    profiles_[id] = p;
    profiles_[id].refs = 1;
    profile_map_[i] = id;
    return id;
}

void time_wait_log::release_profile(std::uint16_t id) noexcept {
    if (--profiles_[id].refs != 0) return;
    constexpr std::uint32_t mask = profile_map_size - 1;
    std::uint32_t hole = profile_slot(profiles_[id]);
    while (profile_map_[hole] != id) hole = (hole + 1) & mask;
    // Backward shift (Knuth vol. 3, 6.4, Algorithm R), as the connection table erases:
    // later entries of the probe run move into the hole when their home allows it.
    for (std::uint32_t j = (hole + 1) & mask; profile_map_[j] != no_profile; j = (j + 1) & mask) {
        const std::uint32_t h = profile_slot(profiles_[profile_map_[j]]);
        // j's entry may move to `hole` unless its home lies cyclically in (hole, j].
        const bool home_between = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (home_between) continue;
        profile_map_[hole] = profile_map_[j];
        hole = j;
    }
    profile_map_[hole] = no_profile;
    free_profiles_[free_count_++] = id;
}

// --- appending and popping --------------------------------------------------------------

bool time_wait_log::append(const tcp::time_wait_state &tw, shared_end shared, tick now) noexcept {
    assert(!full());
    const bool local = shared == shared_end::local;
    const profile p{.ip = local ? tw.tuple.local_ip.value : tw.tuple.remote_ip.value,
                    .port = local ? tw.tuple.local_port : tw.tuple.remote_port,
                    .window = tw.window,
                    .flags = static_cast<std::uint8_t>((tw.ts_ok ? flag_ts_ok : 0) | (local ? flag_local : 0))};
    const std::uint16_t id = acquire_profile(p);
    if (id == no_profile) return false;
    ring_[tail_at_] = record{.ip = local ? tw.tuple.remote_ip.value : tw.tuple.local_ip.value,
                             .port = local ? tw.tuple.remote_port : tw.tuple.local_port,
                             .profile = id,
                             .snd_nxt = tw.snd_nxt.raw(),
                             .rcv_nxt = tw.rcv_nxt.raw(),
                             .ts_recent = tw.ts_recent};
    index_insert(hash_(tw.tuple), tail_at_);
    const tick expires = now + lifetime_;
    if (mark_count_ == 0) {
        marks_[mark_head_] = mark{tail_, expires, expires};
        mark_count_ = 1;
    } else {
        mark &last = marks_[(mark_head_ + mark_count_ - 1) % max_marks];
        if (expires - last.opened > slop_ && mark_count_ < max_marks) {
            marks_[(mark_head_ + mark_count_) % max_marks] = mark{tail_, expires, expires};
            ++mark_count_;
        } else {
            last.expires = std::max(last.expires, expires);
        }
    }
    ++tail_;
    tail_at_ = tail_at_ + 1 == ring_.size() ? 0 : tail_at_ + 1;
    ++live_;
    return true;
}

void time_wait_log::forget(std::uint32_t at, std::uint64_t hash) noexcept {
    [[maybe_unused]] const bool was = index_erase(hash, at);
    assert(was);
    --live_;
}

time_wait_log::popped time_wait_log::pop() noexcept {
    if (head_ == tail_) return popped::nothing;
    const record &r = ring_[head_at_];
    // Live exactly when the index still points at this position.
    const bool was_live = index_erase(hash_(tuple_of(r)), head_at_);
    release_profile(r.profile);
    ++head_;
    head_at_ = head_at_ + 1 == ring_.size() ? 0 : head_at_ + 1;
    if (head_ == tail_) {
        mark_count_ = 0;
    } else {
        // The head mark goes once the head has reached the next mark's first record.
        while (mark_count_ > 1 && marks_[(mark_head_ + 1) % max_marks].first <= head_) {
            mark_head_ = (mark_head_ + 1) % max_marks;
            --mark_count_;
        }
    }
    if (!was_live) return popped::stale;
    --live_;
    return popped::live;
}

time_wait_log::popped time_wait_log::pop_expired(tick now) noexcept {
    if (head_ == tail_ || now < marks_[mark_head_].expires) return popped::nothing;
    return pop();
}

std::optional<tick> time_wait_log::next_expiry() const noexcept {
    if (head_ == tail_) return std::nullopt;
    return marks_[mark_head_].expires;
}

} // namespace linerate::flow
