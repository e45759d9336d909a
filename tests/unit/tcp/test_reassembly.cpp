// Reassembly queue: RFC 9293 §3.10.7.4 ("seventh, process the segment text": out-of-order
// data held and delivered in order), RFC 2018 §4 (SACK blocks), across the 2^32 wrap.
#include <linerate/tcp/reassembly.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <vector>

using linerate::seq32;
using linerate::tcp::ooo_segment;
using linerate::tcp::reassembly_queue;
using linerate::wire::tcp_sack_block;
using result = reassembly_queue::insert_result;

namespace {

// Collects the handles the queue gives back.
struct releases {
    std::vector<std::uint64_t> handles;
    void operator()(std::uint64_t h) noexcept { handles.push_back(h); }
};

struct fixture {
    reassembly_queue q;
    releases freed;
    std::uint32_t front = 0;
    std::uint32_t back = 0;

    explicit fixture(std::size_t max = 8) : q(max) {}

    result insert(seq32 rcv_nxt, std::uint32_t seq, std::uint32_t len, std::uint64_t handle) {
        return q.insert(rcv_nxt, ooo_segment{seq32{seq}, len, handle}, front, back, freed);
    }
    std::optional<ooo_segment> pop(seq32 rcv_nxt) { return q.pop_in_order(rcv_nxt, freed); }
    std::vector<ooo_segment> held() const { return {q.segments().begin(), q.segments().end()}; }
};

ooo_segment seg(std::uint32_t seq, std::uint32_t len, std::uint64_t handle) { return {seq32{seq}, len, handle}; }

} // namespace

TEST_CASE("RFC 9293 §3.10.7.4: a segment beyond RCV.NXT is held until the gap before it fills",
          "[tcp][reassembly]") {
    fixture f;
    const seq32 rcv{1000};
    CHECK(f.insert(rcv, 1100, 100, 1) == result::stored);
    CHECK(f.front == 0);
    CHECK(f.back == 0);
    CHECK(f.q.size() == 1);
    CHECK_FALSE(f.pop(rcv)); // the head is still beyond RCV.NXT
    CHECK(f.q.size() == 1);
    // [1000, 1100) arrives in order and is delivered by the caller; RCV.NXT moves on.
    CHECK(f.pop(seq32{1100}) == seg(1100, 100, 1));
    CHECK(f.q.empty());
    CHECK(f.freed.handles.empty());
}

TEST_CASE("RFC 9293 §3.10.7.4: held segments come out in sequence order whatever their arrival order",
          "[tcp][reassembly]") {
    fixture f;
    const seq32 rcv{0};
    CHECK(f.insert(rcv, 300, 100, 3) == result::stored);
    CHECK(f.insert(rcv, 100, 100, 1) == result::stored);
    CHECK(f.insert(rcv, 200, 100, 2) == result::stored);
    CHECK(f.insert(rcv, 500, 100, 5) == result::stored); // beyond a second gap
    seq32 next{100};
    std::vector<std::uint64_t> order;
    while (auto s = f.pop(next)) {
        order.push_back(s->handle);
        next = s->seq + s->len;
    }
    CHECK(order == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(next == seq32{400});
    CHECK(f.q.size() == 1); // [500, 600) waits for [400, 500)
}

TEST_CASE("Reassembly: a segment whose bytes are all held is a duplicate and is not taken",
          "[tcp][reassembly]") {
    fixture f;
    const seq32 rcv{0};
    REQUIRE(f.insert(rcv, 100, 100, 1) == result::stored);
    REQUIRE(f.insert(rcv, 200, 100, 2) == result::stored);
    CHECK(f.insert(rcv, 100, 100, 10) == result::duplicate); // same range
    CHECK(f.insert(rcv, 120, 50, 11) == result::duplicate);  // inside one range
    CHECK(f.insert(rcv, 150, 120, 12) == result::duplicate); // across two adjacent ranges
    CHECK(f.insert(rcv, 100, 0, 13) == result::duplicate);   // no bytes at all
    CHECK(f.front == 0);
    CHECK(f.back == 0);
    CHECK(f.held() == std::vector{seg(100, 100, 1), seg(200, 100, 2)});
    CHECK(f.freed.handles.empty());
}

TEST_CASE("RFC 9293 §3.10.7.4: bytes before RCV.NXT count as delivered", "[tcp][reassembly]") {
    fixture f;
    CHECK(f.insert(seq32{1000}, 900, 100, 1) == result::duplicate); // entirely old
    // Straddling RCV.NXT: only the new part is kept, trimmed at the front.
    CHECK(f.insert(seq32{1000}, 950, 100, 2) == result::trimmed);
    CHECK(f.front == 50);
    CHECK(f.back == 0);
    CHECK(f.held() == std::vector{seg(1000, 50, 2)});
    CHECK(f.pop(seq32{1000}) == seg(1000, 50, 2));
}

TEST_CASE("Reassembly: a partial overlap at the front keeps the held bytes (as Linux)", "[tcp][reassembly]") {
    fixture f;
    const seq32 rcv{0};
    REQUIRE(f.insert(rcv, 100, 100, 1) == result::stored);
    CHECK(f.insert(rcv, 150, 100, 2) == result::trimmed);
    CHECK(f.front == 50);
    CHECK(f.back == 0);
    CHECK(f.held() == std::vector{seg(100, 100, 1), seg(200, 50, 2)});
}

TEST_CASE("Reassembly: a partial overlap at the back keeps the held bytes (as Linux)", "[tcp][reassembly]") {
    fixture f;
    const seq32 rcv{0};
    REQUIRE(f.insert(rcv, 200, 100, 1) == result::stored);
    CHECK(f.insert(rcv, 150, 100, 2) == result::trimmed);
    CHECK(f.front == 0);
    CHECK(f.back == 50);
    CHECK(f.held() == std::vector{seg(150, 50, 2), seg(200, 100, 1)});
}

TEST_CASE("Reassembly: a segment filling the gap between two held ones is trimmed at both ends",
          "[tcp][reassembly]") {
    fixture f;
    const seq32 rcv{0};
    REQUIRE(f.insert(rcv, 100, 100, 1) == result::stored);
    REQUIRE(f.insert(rcv, 300, 100, 3) == result::stored);
    CHECK(f.insert(rcv, 150, 200, 2) == result::trimmed);
    CHECK(f.front == 50);
    CHECK(f.back == 50);
    CHECK(f.held() == std::vector{seg(100, 100, 1), seg(200, 100, 2), seg(300, 100, 3)});
}

TEST_CASE("Reassembly: a segment covering several held ones replaces them (as Linux)", "[tcp][reassembly]") {
    fixture f;
    const seq32 rcv{0};
    REQUIRE(f.insert(rcv, 100, 50, 1) == result::stored);
    REQUIRE(f.insert(rcv, 200, 50, 2) == result::stored);
    REQUIRE(f.insert(rcv, 300, 50, 3) == result::stored);
    REQUIRE(f.insert(rcv, 400, 50, 4) == result::stored);
    // [120, 420): keeps the edges of 1 and 4, swallows 2 and 3 (one range cannot have holes).
    CHECK(f.insert(rcv, 120, 300, 9) == result::trimmed);
    CHECK(f.front == 30);
    CHECK(f.back == 20);
    CHECK(f.held() == std::vector{seg(100, 50, 1), seg(150, 250, 9), seg(400, 50, 4)});
    std::sort(f.freed.handles.begin(), f.freed.handles.end());
    CHECK(f.freed.handles == std::vector<std::uint64_t>{2, 3});

    // Covering exactly, with no edge to keep: stored whole.
    fixture g;
    REQUIRE(g.insert(rcv, 200, 50, 2) == result::stored);
    CHECK(g.insert(rcv, 100, 300, 9) == result::stored);
    CHECK(g.held() == std::vector{seg(100, 300, 9)});
    CHECK(g.freed.handles == std::vector<std::uint64_t>{2});
}

TEST_CASE("Reassembly: a full queue refuses a segment and holds what it had", "[tcp][reassembly]") {
    fixture f{3};
    const seq32 rcv{0};
    REQUIRE(f.insert(rcv, 100, 10, 1) == result::stored);
    REQUIRE(f.insert(rcv, 200, 10, 2) == result::stored);
    REQUIRE(f.insert(rcv, 300, 10, 3) == result::stored);
    CHECK(f.insert(rcv, 400, 10, 4) == result::full);
    CHECK(f.q.size() == 3);
    CHECK(f.freed.handles.empty());
    // A duplicate is still recognised as such when full.
    CHECK(f.insert(rcv, 200, 10, 5) == result::duplicate);
    // Replacing a held range needs no new slot.
    CHECK(f.insert(rcv, 195, 20, 6) == result::stored);
    CHECK(f.freed.handles == std::vector<std::uint64_t>{2});
    // Ranges RCV.NXT has passed make room.
    CHECK(f.insert(seq32{150}, 400, 10, 7) == result::stored);
    CHECK(f.freed.handles == std::vector<std::uint64_t>{2, 1});
    CHECK(f.held() == std::vector{seg(195, 20, 6), seg(300, 10, 3), seg(400, 10, 7)});
}

TEST_CASE("Reassembly: the bound is clamped to the inline capacity", "[tcp][reassembly]") {
    CHECK(reassembly_queue{0}.max_segments() == 1);
    CHECK(reassembly_queue{}.max_segments() == 8);
    CHECK(reassembly_queue{1000}.max_segments() == reassembly_queue::capacity);
    fixture f{1000};
    for (std::uint32_t i = 0; i < reassembly_queue::capacity; ++i)
        REQUIRE(f.insert(seq32{0}, 10 + 20 * i, 10, i) == result::stored);
    CHECK(f.insert(seq32{0}, 1000, 10, 99) == result::full);
}

TEST_CASE("RFC 9293 §3.10.7.4: held segments that RCV.NXT has passed are released, not delivered",
          "[tcp][reassembly]") {
    fixture f;
    REQUIRE(f.insert(seq32{0}, 100, 100, 1) == result::stored);
    REQUIRE(f.insert(seq32{0}, 300, 100, 2) == result::stored);
    REQUIRE(f.insert(seq32{0}, 500, 100, 3) == result::stored);
    // A retransmission covering [0, 350) arrived in order: 1 is obsolete, 2 straddles.
    const auto s = f.pop(seq32{350});
    CHECK(s == seg(300, 100, 2)); // the caller delivers from offset 350 - 300
    CHECK(f.freed.handles == std::vector<std::uint64_t>{1});
    CHECK_FALSE(f.pop(seq32{400}));
    CHECK(f.q.size() == 1);
    // Past everything: the rest goes back, nothing is delivered.
    CHECK_FALSE(f.pop(seq32{600}));
    CHECK(f.q.empty());
    CHECK(f.freed.handles == std::vector<std::uint64_t>{1, 3});
}

namespace {
std::uint64_t released_sum = 0;
void add_to_released_sum(std::uint64_t h) noexcept { released_sum += h; }
} // namespace

TEST_CASE("Reassembly: clear gives every handle back", "[tcp][reassembly]") {
    fixture f;
    REQUIRE(f.insert(seq32{0}, 100, 10, 1) == result::stored);
    REQUIRE(f.insert(seq32{0}, 300, 10, 2) == result::stored);
    f.q.clear(f.freed);
    CHECK(f.q.empty());
    CHECK(f.freed.handles == std::vector<std::uint64_t>{1, 2});

    // A plain function works as the release callable too.
    REQUIRE(f.insert(seq32{0}, 100, 10, 40) == result::stored);
    REQUIRE(f.insert(seq32{0}, 300, 10, 2) == result::stored);
    released_sum = 0;
    f.q.clear(add_to_released_sum);
    CHECK(released_sum == 42);
}

TEST_CASE("RFC 9293 §3.4: reassembly works across the 2^32 wrap", "[tcp][reassembly]") {
    fixture f;
    const seq32 rcv{0xffff'ff00u};
    REQUIRE(f.insert(rcv, 0x0000'0080u, 0x80, 3) == result::stored);   // after the wrap
    REQUIRE(f.insert(rcv, 0xffff'ff80u, 0x80, 1) == result::stored);   // before it
    CHECK(f.insert(rcv, 0xffff'ffc0u, 0x100, 2) == result::trimmed);    // straddles it
    CHECK(f.front == 0x40);
    CHECK(f.back == 0x40);
    CHECK(f.held() == std::vector{seg(0xffff'ff80u, 0x80, 1), seg(0, 0x80, 2), seg(0x80, 0x80, 3)});
    std::array<tcp_sack_block, 4> blocks{};
    REQUIRE(f.q.sack_blocks(rcv, blocks) == 1);
    CHECK(blocks[0] == tcp_sack_block{seq32{0xffff'ff80u}, seq32{0x100}});
    seq32 next = rcv + 0x80;
    std::vector<std::uint64_t> order;
    while (auto s = f.pop(next)) {
        order.push_back(s->handle);
        next = s->seq + s->len;
    }
    CHECK(order == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(next == seq32{0x100});
}

TEST_CASE("RFC 2018 §4: SACK blocks merge adjacent ranges and list the most recent first",
          "[tcp][reassembly][sack]") {
    fixture f;
    const seq32 rcv{1000};
    REQUIRE(f.insert(rcv, 2000, 100, 1) == result::stored);
    REQUIRE(f.insert(rcv, 3000, 100, 2) == result::stored);
    REQUIRE(f.insert(rcv, 1500, 100, 3) == result::stored);
    REQUIRE(f.insert(rcv, 2100, 100, 4) == result::stored); // joins 1's block

    std::array<tcp_sack_block, 4> out{};
    REQUIRE(f.q.sack_blocks(rcv, out) == 3);
    CHECK(out[0] == tcp_sack_block{seq32{2000}, seq32{2200}}); // holds the latest arrival
    CHECK(out[1] == tcp_sack_block{seq32{1500}, seq32{1600}});
    CHECK(out[2] == tcp_sack_block{seq32{3000}, seq32{3100}});

    // The first block names the segment that triggered the ACK, even a duplicate.
    REQUIRE(f.insert(rcv, 3000, 50, 5) == result::duplicate);
    REQUIRE(f.q.sack_blocks(rcv, out) == 3);
    CHECK(out[0] == tcp_sack_block{seq32{3000}, seq32{3100}});
    CHECK(out[1] == tcp_sack_block{seq32{2000}, seq32{2200}});

    // Less room than blocks (timestamps leave room for 3, RFC 2018 §3): the oldest is left out.
    std::array<tcp_sack_block, 2> two{};
    REQUIRE(f.q.sack_blocks(rcv, two) == 2);
    CHECK(two[0] == tcp_sack_block{seq32{3000}, seq32{3100}});
    CHECK(two[1] == tcp_sack_block{seq32{2000}, seq32{2200}});

    // RFC 2018 §3: nothing at or below the cumulative ACK is reported.
    REQUIRE(f.q.sack_blocks(seq32{2050}, out) == 2);
    CHECK(out[0] == tcp_sack_block{seq32{3000}, seq32{3100}});
    CHECK(out[1] == tcp_sack_block{seq32{2050}, seq32{2200}});

    fixture empty;
    CHECK(empty.q.sack_blocks(rcv, out) == 0);
}

TEST_CASE("Reassembly matches a byte-set model over random arrivals across the wrap", "[tcp][reassembly]") {
    // (seed, bound): from a single slot to the whole inline capacity.
    for (const auto &run : std::initializer_list<std::pair<std::uint32_t, std::size_t>>{
             {1, 1}, {2, 2}, {3, 4}, {4, 8}, {5, 8}, {6, 12}, {7, 16}}) {
        // Named copies, not a structured binding: clang 14 cannot capture those in lambdas (P1091).
        const std::uint32_t seed = run.first;
        const std::size_t limit = run.second;
        CAPTURE(seed, limit);
        std::mt19937 rng(seed);
        auto uniform = [&](std::int64_t lo, std::int64_t hi) {
            return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
        };
        // Linear offsets from the stream start; seq = isn + offset wraps during the run.
        const seq32 isn{0xffff'ffffu - static_cast<std::uint32_t>(uniform(0, 50'000))};
        auto seq_of = [&](std::int64_t off) { return isn + static_cast<std::uint32_t>(off); };
        auto off_of = [&](seq32 s, std::int64_t near) {
            return near + static_cast<std::int64_t>(s - seq_of(near));
        };

        reassembly_queue q{limit};
        std::set<std::int64_t> model; // offsets of the bytes held beyond rcv
        std::map<std::uint64_t, std::pair<std::int64_t, std::int64_t>> original; // live handle -> [begin, end)
        std::vector<std::uint64_t> freed;
        auto release = [&](std::uint64_t h) noexcept { freed.push_back(h); };
        std::int64_t rcv = 0;
        std::uint64_t next_handle = 1;
        const std::int64_t window = 3000;

        auto check_invariants = [&] {
            // Every released handle was live; live handles are exactly those held.
            for (std::uint64_t h : freed) REQUIRE(original.erase(h) == 1);
            freed.clear();
            REQUIRE(original.size() == q.size());
            std::int64_t prev_end = rcv;
            std::size_t bytes = 0;
            for (const ooo_segment &s : q.segments()) {
                const std::int64_t b = off_of(s.seq, rcv);
                const std::int64_t e = b + s.len;
                REQUIRE(s.len > 0);
                REQUIRE(b >= prev_end); // sorted, disjoint, beyond rcv
                REQUIRE(b > rcv);       // pops were drained
                auto it = original.find(s.handle);
                REQUIRE(it != original.end());
                REQUIRE(b >= it->second.first); // within what the handle's buffer holds
                REQUIRE(e <= it->second.second);
                bool all_in_model = true;
                for (std::int64_t x = b; x < e; ++x) all_in_model = all_in_model && model.count(x) == 1;
                REQUIRE(all_in_model);
                bytes += static_cast<std::size_t>(s.len);
                prev_end = e;
            }
            REQUIRE(bytes == model.size());
            REQUIRE(q.size() <= limit);
        };

        auto drain = [&] {
            while (auto s = q.pop_in_order(seq_of(rcv), release)) {
                const std::int64_t b = off_of(s->seq, rcv);
                const std::int64_t e = b + s->len;
                REQUIRE(b <= rcv);
                REQUIRE(e > rcv);
                REQUIRE(original.erase(s->handle) == 1);
                rcv = e;
            }
            model.erase(model.begin(), model.lower_bound(rcv));
            REQUIRE(model.count(rcv) == 0); // nothing deliverable left behind
        };

        for (int step = 0; step < 4000; ++step) {
            const int action = static_cast<int>(uniform(0, 99));
            if (action < 2) {
                q.clear(release);
                model.clear();
                check_invariants();
                continue;
            }
            std::int64_t b = action < 15 ? rcv : uniform(rcv - 300, rcv + window);
            const std::int64_t len = uniform(0, 400);
            const std::int64_t e = b + len;
            if (b <= rcv && action >= 10) {
                // In order: the caller delivers it directly, the queue is not involved.
                rcv = std::max(rcv, e);
                drain();
                check_invariants();
                continue;
            }
            // Beyond RCV.NXT (and sometimes straddling it, to exercise the clamp).
            std::int64_t fresh = 0;
            for (std::int64_t x = std::max(b, rcv); x < e; ++x) fresh += model.count(x) == 0;
            const std::uint64_t h = next_handle++;
            std::uint32_t tf = 0, tb = 0;
            const std::size_t before = q.size();
            const result r = q.insert(seq_of(rcv), ooo_segment{seq_of(b), static_cast<std::uint32_t>(len), h}, tf, tb,
                                      release);
            if (fresh == 0) {
                REQUIRE(r == result::duplicate);
            } else if (r == result::full) {
                REQUIRE(before == limit);
            } else {
                REQUIRE((r == result::stored || r == result::trimmed));
                REQUIRE((r == result::trimmed) == (tf + tb > 0));
                original[h] = {b, e};
                for (std::int64_t x = std::max(b, rcv); x < e; ++x) model.insert(x);
                // The held range is exactly the segment less the reported trims.
                const auto held = q.segments();
                const auto it = std::find_if(held.begin(), held.end(),
                                             [&](const ooo_segment &s) { return s.handle == h; });
                REQUIRE(it != held.end());
                REQUIRE(it->seq == seq_of(b + tf));
                REQUIRE(it->len == len - tf - tb);
                // RFC 2018 §4: the first SACK block holds the segment just received.
                std::array<tcp_sack_block, 4> blocks{};
                if (off_of(it->seq, rcv) > rcv) {
                    REQUIRE(q.sack_blocks(seq_of(rcv), blocks) >= 1);
                    REQUIRE(linerate::seq_in_window(it->seq, blocks[0].left, blocks[0].right));
                }
            }
            if (r != result::stored && r != result::trimmed) {
                REQUIRE(tf == 0);
                REQUIRE(tb == 0);
            }
            drain();
            check_invariants();

            // SACK blocks are the model's maximal runs (the most recent up to 4).
            std::vector<std::pair<std::int64_t, std::int64_t>> runs;
            for (std::int64_t x : model) {
                if (!runs.empty() && runs.back().second == x)
                    ++runs.back().second;
                else
                    runs.emplace_back(x, x + 1);
            }
            std::array<tcp_sack_block, 16> blocks{};
            const std::size_t nb = q.sack_blocks(seq_of(rcv), blocks);
            REQUIRE(nb == runs.size());
            std::vector<std::pair<std::int64_t, std::int64_t>> got;
            for (std::size_t k = 0; k < nb; ++k)
                got.emplace_back(off_of(blocks[k].left, rcv), off_of(blocks[k].right, rcv));
            std::sort(got.begin(), got.end());
            REQUIRE(got == runs);
        }
        CHECK(rcv > 50'001); // the run crossed the 2^32 wrap
        q.clear(release);
        model.clear();
        check_invariants();
        CHECK(original.empty());
    }
}
