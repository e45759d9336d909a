// Out-of-order reassembly, RFC 9293 §3.10.7.4 and RFC 2018 §4 (see reassembly.hpp).
//
// Positions are computed as signed 64-bit offsets from RCV.NXT, which turns seq32's
// modular comparisons (RFC 9293 §3.4) into plain integer ones for the duration of a call.
#include <linerate/tcp/reassembly.hpp>

#include <algorithm>

namespace linerate::tcp {

namespace {

struct range {
    std::int64_t begin;
    std::int64_t end;
};

range relative(const ooo_segment &s, seq32 rcv_nxt) noexcept {
    const std::int64_t b = s.seq - rcv_nxt;
    return range{b, b + static_cast<std::int64_t>(s.len)};
}

} // namespace

reassembly_queue::reassembly_queue(std::size_t max_segments) noexcept
    : limit_(static_cast<std::uint8_t>(std::clamp<std::size_t>(max_segments, 1, capacity))) {}

void reassembly_queue::erase(std::size_t i) noexcept {
    const std::uint8_t r = rank_[i];
    std::copy(segs_.begin() + static_cast<std::ptrdiff_t>(i) + 1, segs_.begin() + count_,
              segs_.begin() + static_cast<std::ptrdiff_t>(i));
    std::copy(rank_.begin() + static_cast<std::ptrdiff_t>(i) + 1, rank_.begin() + count_,
              rank_.begin() + static_cast<std::ptrdiff_t>(i));
    --count_;
    for (std::size_t k = 0; k < count_; ++k)
        if (rank_[k] > r) --rank_[k];
}

void reassembly_queue::insert_at(std::size_t i, ooo_segment seg) noexcept {
    std::copy_backward(segs_.begin() + static_cast<std::ptrdiff_t>(i), segs_.begin() + count_,
                       segs_.begin() + count_ + 1);
    std::copy_backward(rank_.begin() + static_cast<std::ptrdiff_t>(i), rank_.begin() + count_,
                       rank_.begin() + count_ + 1);
    ++count_;
    segs_[i] = seg;
    for (std::size_t k = 0; k < count_; ++k) ++rank_[k];
    rank_[i] = 0;
}

void reassembly_queue::touch(std::size_t i) noexcept {
    const std::uint8_t r = rank_[i];
    for (std::size_t k = 0; k < count_; ++k)
        if (rank_[k] < r) ++rank_[k];
    rank_[i] = 0;
}

void reassembly_queue::drop_obsolete(seq32 rcv_nxt, release_ref release) noexcept {
    // Ranges are sorted, so those RCV.NXT has passed entirely are at the front.
    while (count_ > 0 && relative(segs_[0], rcv_nxt).end <= 0) {
        release(segs_[0].handle);
        erase(0);
    }
}

reassembly_queue::insert_result reassembly_queue::insert_impl(seq32 rcv_nxt, ooo_segment seg,
                                                              std::uint32_t &trim_front, std::uint32_t &trim_back,
                                                              release_ref release) noexcept {
    trim_front = 0;
    trim_back = 0;
    drop_obsolete(rcv_nxt, release);

    const range orig = relative(seg, rcv_nxt);
    // Bytes before RCV.NXT were delivered already (RFC 9293 §3.10.7.4: only the part of
    // the segment from RCV.NXT on is new).
    range r{std::max<std::int64_t>(orig.begin, 0), orig.end};
    if (r.end <= r.begin) return insert_result::duplicate;

    const std::size_t n = count_;
    std::size_t i = 0; // the first held range ending after r.begin
    while (i < n && relative(segs_[i], rcv_nxt).end <= r.begin) ++i;

    // Every byte already held (possibly across several adjacent ranges)?
    std::int64_t covered = r.begin;
    for (std::size_t k = i; k < n && covered < r.end; ++k) {
        const range h = relative(segs_[k], rcv_nxt);
        if (h.begin > covered) break;
        covered = h.end;
    }
    if (covered >= r.end) {
        // RFC 2018 §4: the first SACK block reports the block holding the segment that
        // triggered the ACK, even a duplicate one.
        touch(i);
        return insert_result::duplicate;
    }

    // Front overlap: keep the held bytes, start after them.
    if (i < n) {
        const range h = relative(segs_[i], rcv_nxt);
        if (h.begin <= r.begin) {
            r.begin = h.end;
            ++i;
        }
    }
    // Held ranges wholly inside the new segment are replaced by it (Linux does the same):
    // the new range cannot skip over them.
    std::size_t j = i;
    while (j < n && relative(segs_[j], rcv_nxt).end <= r.end) ++j;
    // Back overlap: keep the held bytes, end before them.
    if (j < n) {
        const range h = relative(segs_[j], rcv_nxt);
        if (h.begin < r.end) r.end = h.begin;
    }
    // Not reachable after the coverage check; kept so a bad invariant cannot store an
    // empty or inverted range.
    if (r.end <= r.begin) return insert_result::duplicate;

    if (n - (j - i) + 1 > limit_) return insert_result::full;

    for (std::size_t k = j; k > i; --k) {
        release(segs_[k - 1].handle);
        erase(k - 1);
    }
    const auto front = static_cast<std::uint32_t>(r.begin - orig.begin);
    const auto back = static_cast<std::uint32_t>(orig.end - r.end);
    insert_at(i, ooo_segment{seg.seq + front, static_cast<std::uint32_t>(r.end - r.begin), seg.handle});
    trim_front = front;
    trim_back = back;
    return (front | back) != 0 ? insert_result::trimmed : insert_result::stored;
}

std::optional<ooo_segment> reassembly_queue::pop_impl(seq32 rcv_nxt, release_ref release) noexcept {
    drop_obsolete(rcv_nxt, release);
    if (count_ == 0 || relative(segs_[0], rcv_nxt).begin > 0) return std::nullopt;
    const ooo_segment head = segs_[0];
    erase(0);
    return head;
}

void reassembly_queue::clear_impl(release_ref release) noexcept {
    for (std::size_t k = 0; k < count_; ++k) release(segs_[k].handle);
    count_ = 0;
}

std::size_t reassembly_queue::sack_blocks(seq32 rcv_nxt, std::span<wire::tcp_sack_block> out) const noexcept {
    struct block {
        range r;
        std::uint8_t rank; // the most recent segment in the block
    };
    std::array<block, capacity> blocks{};
    std::size_t nb = 0;
    for (std::size_t k = 0; k < count_; ++k) {
        range h = relative(segs_[k], rcv_nxt);
        h.begin = std::max<std::int64_t>(h.begin, 0); // RFC 2018 §3: blocks lie above the cumulative ACK
        if (h.end <= h.begin) continue;
        if (nb > 0 && blocks[nb - 1].r.end == h.begin) {
            blocks[nb - 1].r.end = h.end;
            blocks[nb - 1].rank = std::min(blocks[nb - 1].rank, rank_[k]);
        } else {
            blocks[nb++] = block{h, rank_[k]};
        }
    }
    // RFC 2018 §4: most recent first. Ranks are distinct, so this order is total.
    const std::size_t n_out = std::min(out.size(), nb);
    std::array<bool, capacity> used{};
    for (std::size_t m = 0; m < n_out; ++m) {
        std::size_t best = capacity;
        for (std::size_t b = 0; b < nb; ++b)
            if (!used[b] && (best == capacity || blocks[b].rank < blocks[best].rank)) best = b;
        used[best] = true;
        out[m] = wire::tcp_sack_block{rcv_nxt + static_cast<std::uint32_t>(blocks[best].r.begin),
                                      rcv_nxt + static_cast<std::uint32_t>(blocks[best].r.end)};
    }
    return n_out;
}

} // namespace linerate::tcp
