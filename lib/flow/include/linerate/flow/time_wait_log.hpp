// The TIME-WAIT log of a shard: every 4-tuple in TIME-WAIT, as a FIFO of 20-byte
// records with an index beside it, about 31 bytes per entry all-in (the sizes are in
// bytes_for(), checked by a unit test and measured by perf/memory).
//
// Why a log: every TIME-WAIT lasts 2*MSL (RFC 9293 §3.6.1) from the moment it starts,
// so the order records are appended in is the order they expire in. A ring of records
// needs no timer per entry, no wheel, no free list and no order links: run_timers pops
// the head while it is due. A server that closes first holds one record per connection
// of the last 2*MSL (150 M at 2.5 M connections/s and 60 s), so their size is what
// bounds its memory; hence each design choice below saves bytes per entry.
//
// - A record is not a whole TIME-WAIT state (tcp::time_wait_state, 28 bytes unpacked):
//   one endpoint of the 4-tuple repeats across records (the listener's ip:port on a
//   server, the server's ip:port on a client), and so do the advertised window and
//   whether timestamps are on. Those go into a profile, shared by reference count, and
//   the record keeps a 16-bit profile number, the other endpoint, SND.NXT, RCV.NXT and
//   TS.Recent: 20 bytes. The TSval offset is not stored at all: it is a function of the
//   address pair (tcp::ts_offset_of). max_profiles distinct profiles may be live at
//   once; a connection that finds none free skips TIME-WAIT (append() says so and the
//   shard counts it), as Linux does when its TIME-WAIT table is full.
// - Records carry no time. Consecutive records share a mark: (first record, expiry of
//   the newest record that joined it). A new mark starts when the newest expiry would
//   move more than `slop` = 2*MSL/256 past the mark's first, so a record may expire up
//   to slop late, never early (as the timer wheel rounds up). Marks cost nothing per
//   entry: at most max_marks are live. Should run_timers not be called for so long that
//   they run out, the last mark keeps extending: records expire late, never early.
// - The index maps a 4-tuple's keyed hash (the connection table's: tuple_hash.hpp) to
//   a record's ring position. Buckets are one cache line: an 8-byte header and seven
//   8-byte slots {32-bit hash tag, position + 1}, sized for 87.5 % load (10.45 bytes
//   per entry), counted by fast range (Lemire) rather than rounded to a power of two,
//   which could double them. A full bucket spills into the next one, and its header
//   counts the entries that probed past it (as folly's F14 does), so a lookup stops at
//   the first bucket that nothing overflowed, deletion needs no tombstone, and the
//   common lookup, a new 4-tuple's SYN that is in no TIME-WAIT, reads one
//   (prefetchable) cache line and compares tags, touching no record.
// - Stale records: a retransmitted FIN restarts 2*MSL (RFC 9293 §3.10.7.4), and a SYN
//   may reopen the 4-tuple (RFC 6191). Either way the record's index entry goes (for
//   the FIN a copy is appended at the tail and indexed instead), and the record stays
//   in the ring, stale, until the head reaches it. The index alone says what is live:
//   popping the head erases the record's index entry if it still points at it, and a
//   record it did not point at was stale. So a record needs no flag, and stale records
//   cost nothing but their ring position. The ring has slack beyond `capacity` for
//   them; when even that is full, the head is popped early.
// - At most `capacity` records are live; a full log is the owner's to resolve (it pops
//   the head until a live record went, and counts it: TCPTimeWaitOverflow), so the
//   stack never stalls.
//
// The owner thread alone uses it; nothing here allocates after the constructor.
#pragma once

#include <linerate/base/big_array.hpp>
#include <linerate/base/ticks.hpp>
#include <linerate/flow/tuple_hash.hpp>
#include <linerate/tcp/segment.hpp>
#include <linerate/tcp/time_wait.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace linerate::flow {

class time_wait_log {
public:
    // Which endpoint of the 4-tuple the profile holds: the one that repeats.
    enum class shared_end : std::uint8_t { local, remote };

    // What popping a record from the head did.
    enum class popped : std::uint8_t {
        nothing, // the log is empty, or its head is not due
        stale,   // a record no longer in TIME-WAIT (restarted or reopened) went
        live,    // a 4-tuple left TIME-WAIT
    };

    static constexpr std::uint32_t max_profiles = 4'096;
    static constexpr std::uint32_t max_marks = 260; // 2*MSL / slop + room for rounding
    static constexpr std::uint32_t slots_per_bucket = 7;

    struct record {
        std::uint32_t ip;       // the endpoint the profile does not hold
        std::uint16_t port;
        std::uint16_t profile;
        std::uint32_t snd_nxt;
        std::uint32_t rcv_nxt;
        std::uint32_t ts_recent;
    };
    static_assert(sizeof(record) == 20, "a TIME-WAIT record is 20 bytes");

    struct alignas(64) bucket {
        std::uint32_t overflow = 0; // entries that probed past this bucket
        std::uint32_t unused = 0;
        std::uint64_t slots[slots_per_bucket] = {}; // tag << 32 | (position + 1); 0 is empty
    };
    static_assert(sizeof(bucket) == 64, "an index bucket is one cache line");

    // Room for `capacity` live records (at least 1). `lifetime` is 2*MSL in ticks; `seed`
    // keys the index's hash, and must be the connection table's so that one hash of an
    // arriving segment serves both. Allocates here and never again.
    time_wait_log(std::uint32_t capacity, std::uint64_t lifetime, std::uint64_t seed);
    time_wait_log(const time_wait_log &) = delete;
    time_wait_log &operator=(const time_wait_log &) = delete;

    // The bytes a log of `capacity` holds, from the sizes of its parts: what the unit
    // test divides by the capacity to get bytes per entry all-in.
    [[nodiscard]] static std::size_t bytes_for(std::uint32_t capacity) noexcept;
    [[nodiscard]] std::size_t bytes() const noexcept;

    [[nodiscard]] std::uint64_t hash(const tcp::four_tuple &t) const noexcept { return hash_(t); }
    void prefetch(std::uint64_t hash) const noexcept { __builtin_prefetch(&index_[home(hash)], 0, 3); }

    // The ring position of t's live record, if t is in TIME-WAIT.
    [[nodiscard]] std::optional<std::uint32_t> find(const tcp::four_tuple &t, std::uint64_t hash) const noexcept;
    [[nodiscard]] tcp::time_wait_state state(std::uint32_t at) const noexcept;
    // Which endpoint the record at `at` shares (to append a copy of it).
    [[nodiscard]] shared_end shared(std::uint32_t at) const noexcept {
        return (profiles_[ring_[at].profile].flags & flag_local) != 0 ? shared_end::local : shared_end::remote;
    }

    // True when append() needs the owner to pop the head first: `capacity` records are
    // live, or the ring is full of live and stale ones.
    [[nodiscard]] bool full() const noexcept { return live_ == capacity_ || count() == ring_.size(); }
    // Appends tw, live from `now` for `lifetime` ticks. False, and nothing changes, when
    // no profile is free for it. Requires !full() and tw.tuple not live in the log.
    bool append(const tcp::time_wait_state &tw, shared_end shared, tick now) noexcept;
    // The live record at `at` leaves TIME-WAIT (RFC 6191 reopen): it becomes stale.
    void forget(std::uint32_t at, std::uint64_t hash) noexcept;

    // Pops the head: early, at the owner's request (a full log).
    popped pop() noexcept;
    // Pops the head if it is due at `now`.
    popped pop_expired(tick now) noexcept;
    // When the head is due, if there is one.
    [[nodiscard]] std::optional<tick> next_expiry() const noexcept;

    [[nodiscard]] std::uint32_t live() const noexcept { return live_; }
    [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }
    // Records in the ring, live and stale.
    [[nodiscard]] std::uint32_t count() const noexcept { return static_cast<std::uint32_t>(tail_ - head_); }
    [[nodiscard]] std::uint32_t profiles_in_use() const noexcept { return max_profiles - free_count_; }
    [[nodiscard]] tick slop() const noexcept { return tick{slop_}; }

private:
    struct profile {
        std::uint32_t ip = 0;
        std::uint16_t port = 0;
        std::uint16_t window = 0;
        std::uint8_t flags = 0; // flag_ts_ok | flag_local
        std::uint32_t refs = 0; // records, live or stale, naming it
    };
    static constexpr std::uint8_t flag_ts_ok = 1, flag_local = 2;
    struct mark {
        std::uint64_t first = 0; // sequence number of its first record
        tick opened{};           // that record's expiry
        tick expires{};          // the newest record's
    };
    static constexpr std::uint16_t no_profile = 0xffff;
    static constexpr std::uint32_t profile_map_size = 2 * max_profiles; // power of two, half full at most

    [[nodiscard]] std::uint32_t home(std::uint64_t hash) const noexcept {
        return static_cast<std::uint32_t>(((hash >> 32) * index_.size()) >> 32);
    }
    [[nodiscard]] std::uint32_t next_bucket(std::uint32_t b) const noexcept {
        return b + 1 == index_.size() ? 0 : b + 1;
    }
    [[nodiscard]] tcp::four_tuple tuple_of(const record &r) const noexcept;
    [[nodiscard]] static std::uint32_t tag_matches(const bucket &k, std::uint32_t tag) noexcept;
    void index_insert(std::uint64_t hash, std::uint32_t at) noexcept;
    bool index_erase(std::uint64_t hash, std::uint32_t at) noexcept;
    [[nodiscard]] std::uint16_t acquire_profile(const profile &p) noexcept;
    void release_profile(std::uint16_t id) noexcept;
    [[nodiscard]] std::uint32_t profile_slot(const profile &p) const noexcept;

    big_array<record> ring_;
    big_array<bucket> index_;
    std::uint64_t head_ = 0, tail_ = 0; // sequence numbers; position = sequence % ring size
    std::uint32_t head_at_ = 0, tail_at_ = 0;
    std::uint32_t live_ = 0;
    std::uint32_t capacity_;
    std::uint64_t lifetime_;
    std::uint64_t slop_;
    tuple_hash hash_;

    std::unique_ptr<mark[]> marks_;
    std::uint32_t mark_head_ = 0, mark_count_ = 0;

    std::unique_ptr<profile[]> profiles_;
    std::unique_ptr<std::uint16_t[]> profile_map_; // open addressing, linear probing: profile ids
    std::unique_ptr<std::uint16_t[]> free_profiles_;
    std::uint32_t free_count_ = max_profiles;
};

} // namespace linerate::flow
