// Out-of-order reassembly: RFC 9293 §3.10.7.4 "seventh, process the segment text" keeps
// segments that arrive beyond RCV.NXT but inside the window and delivers them in order
// once the gap before them fills; RFC 2018 §4 reports what is held as SACK blocks.
//
// Design: byte-range bookkeeping only. The queue never owns payload memory: each range
// carries an opaque 64-bit `handle` the caller associates with its bytes (an mbuf pointer
// in the engine, an index in the simulation). Whenever the queue drops a range it holds
// (obsolete, replaced, cleared) it hands the handle back through a `release` callable, so
// the caller frees it; a handle the queue refuses (duplicate, full) was never taken.
//
// Stored ranges never overlap and are kept sorted by sequence number in a small inline
// array (no heap, bounded by `max_segments`, at most `capacity`). Overlaps are resolved at
// insertion, keeping the bytes already held: the new segment is trimmed at its front and
// back, and the caller trims its buffer by the same amounts (Linux keeps the old bytes at
// a partial overlap too). A stored range lying wholly inside the new segment is replaced by
// it, as Linux's tcp_data_queue_ofo() does, because one range cannot have holes.
//
// Everything is relative to RCV.NXT in seq32 arithmetic (RFC 9293 §3.4), so it holds
// across the 2^32 wrap as long as what is stored lies within 2^31 of RCV.NXT, which the
// receive window guarantees. The caller window-checks a segment before inserting it
// (RFC 9293 §3.10.7.4 "first, check sequence number").
#pragma once

#include <linerate/base/seq32.hpp>
#include <linerate/wire/tcp.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

namespace linerate::tcp {

// [seq, seq + len), with the caller's handle for those bytes.
struct ooo_segment {
    seq32 seq{};
    std::uint32_t len = 0;
    std::uint64_t handle = 0;

    friend constexpr bool operator==(const ooo_segment &, const ooo_segment &) noexcept = default;
};

class reassembly_queue {
public:
    static constexpr std::size_t capacity = 16;

    // At most `max_segments` ranges (clamped to 1..capacity); settings::max_ooo_segments.
    explicit reassembly_queue(std::size_t max_segments = 8) noexcept;

    enum class insert_result : std::uint8_t {
        stored,    // taken whole
        trimmed,   // taken after trimming overlap with held bytes (trim_front / trim_back)
        duplicate, // every byte is already held or already delivered: not taken
        full,      // no room: not taken (the caller drops and counts it)
    };

    // Stores `seg`, received beyond RCV.NXT. On stored/trimmed the queue holds
    // [seg.seq + trim_front, seg.seq + seg.len - trim_back) under seg.handle, and the
    // caller trims its buffer by the same amounts; on duplicate/full both are 0. Bytes
    // before RCV.NXT count as held. `release(handle)` is called for each stored range the
    // new segment replaces and for ranges RCV.NXT has passed.
    template <class Release>
    insert_result insert(seq32 rcv_nxt, ooo_segment seg, std::uint32_t &trim_front, std::uint32_t &trim_back,
                         Release &&release) noexcept {
        auto call = [&release](std::uint64_t h) noexcept { release(h); };
        return insert_impl(rcv_nxt, seg, trim_front, trim_back, release_ref{call});
    }

    // The next range to deliver: one that starts at or before RCV.NXT and ends after it.
    // The caller delivers its bytes from offset RCV.NXT - seq on, advances RCV.NXT and
    // calls again until nullopt (the head is then beyond RCV.NXT, or the queue is empty).
    // Ranges RCV.NXT has passed entirely are dropped through `release` on the way.
    template <class Release>
    std::optional<ooo_segment> pop_in_order(seq32 rcv_nxt, Release &&release) noexcept {
        auto call = [&release](std::uint64_t h) noexcept { release(h); };
        return pop_impl(rcv_nxt, release_ref{call});
    }

    // `Release` is any callable taking the std::uint64_t handle; it must not throw.

    // Drops everything, calling `release` for each handle (connection closed or reset).
    template <class Release>
    void clear(Release &&release) noexcept {
        auto call = [&release](std::uint64_t h) noexcept { release(h); };
        clear_impl(release_ref{call});
    }

    // RFC 2018 §4: the held ranges above RCV.NXT, adjacent ones merged, most recently
    // received first (the first block holds the segment that last arrived, the rest follow
    // by the recency of their newest segment). Writes min(out.size(), blocks) blocks and
    // returns how many; tcp_max_sack_blocks (4) is the most an option carries.
    std::size_t sack_blocks(seq32 rcv_nxt, std::span<wire::tcp_sack_block> out) const noexcept;

    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    [[nodiscard]] std::size_t max_segments() const noexcept { return limit_; }
    // The held ranges in sequence order.
    [[nodiscard]] std::span<const ooo_segment> segments() const noexcept { return {segs_.data(), count_}; }

private:
    // A non-owning reference to a release callable (the wrappers above hand it a local
    // lambda, so any callable works, functions included), so that the logic lives once in
    // reassembly.cpp rather than in every instantiation.
    class release_ref {
    public:
        template <class F>
        explicit release_ref(F &f) noexcept
            : obj_(std::addressof(f)), call_([](void *o, std::uint64_t h) noexcept { (*static_cast<F *>(o))(h); }) {}
        void operator()(std::uint64_t handle) const noexcept { call_(obj_, handle); }

    private:
        void *obj_;
        void (*call_)(void *, std::uint64_t) noexcept;
    };

    insert_result insert_impl(seq32 rcv_nxt, ooo_segment seg, std::uint32_t &trim_front, std::uint32_t &trim_back,
                              release_ref release) noexcept;
    std::optional<ooo_segment> pop_impl(seq32 rcv_nxt, release_ref release) noexcept;
    void clear_impl(release_ref release) noexcept;
    void drop_obsolete(seq32 rcv_nxt, release_ref release) noexcept;
    void erase(std::size_t i) noexcept;
    void insert_at(std::size_t i, ooo_segment seg) noexcept;
    void touch(std::size_t i) noexcept;

    std::array<ooo_segment, capacity> segs_{};
    // Recency rank of each range, 0 for the most recently received, for RFC 2018 §4's
    // block order. Ranks are a permutation of 0..count_-1.
    std::array<std::uint8_t, capacity> rank_{};
    std::uint8_t count_ = 0;
    std::uint8_t limit_ = 8;
};

} // namespace linerate::tcp
