// seq32: RFC 9293 §3.4 sequence arithmetic and RFC 1982 §3.2 serial-number ordering.
#include <linerate/base/seq32.hpp>

#include <catch2/catch.hpp>

using linerate::seq32;

TEST_CASE("RFC 9293 §3.4: sequence numbers add modulo 2^32", "[base][seq32]") {
    CHECK((seq32{0xffff'fff0u} + 0x20u).raw() == 0x10u);
    CHECK((seq32{5} - 10u).raw() == 0xffff'fffbu);
    seq32 s{0xffff'ffffu};
    s += 1;
    CHECK(s == seq32{0});
}

TEST_CASE("RFC 1982 §3.2: ordering holds across the 2^32 wrap", "[base][seq32]") {
    const seq32 before_wrap{0xffff'ff00u};
    const seq32 after_wrap{0x0000'0100u};
    CHECK(before_wrap < after_wrap);
    CHECK(after_wrap > before_wrap);
    CHECK(before_wrap <= after_wrap);
    CHECK_FALSE(after_wrap < before_wrap);
    CHECK(after_wrap - before_wrap == 0x200);
    CHECK(before_wrap - after_wrap == -0x200);
}

TEST_CASE("RFC 1982 §3.2: ordering holds up to 2^31 - 1 apart", "[base][seq32]") {
    for (std::uint32_t base : {0u, 1u, 0x7fff'ffffu, 0x8000'0000u, 0xffff'ffffu}) {
        const seq32 a{base};
        const seq32 b = a + 0x7fff'ffffu;
        CHECK(a < b);
        CHECK(b > a);
        CHECK_FALSE(b < a);
        CHECK(b - a == 0x7fff'ffff);
    }
}

TEST_CASE("RFC 1982 §3.2: numbers exactly 2^31 apart are unordered", "[base][seq32]") {
    for (std::uint32_t base : {0u, 12345u, 0x8000'0000u, 0xffff'ffffu}) {
        const seq32 a{base};
        const seq32 b = a + 0x8000'0000u;
        CHECK_FALSE(a < b);
        CHECK_FALSE(b < a);
        CHECK_FALSE(a == b);
        CHECK((a <=> b) == std::partial_ordering::unordered);
    }
}

TEST_CASE("seq32: equal numbers compare equal and not less", "[base][seq32]") {
    const seq32 a{42};
    CHECK(a == seq32{42});
    CHECK(a <= seq32{42});
    CHECK(a >= seq32{42});
    CHECK_FALSE(a < seq32{42});
}

TEST_CASE("RFC 9293 §3.4: window test lo <= s < hi across the wrap", "[base][seq32]") {
    const seq32 lo{0xffff'fff0u};
    const seq32 hi = lo + 0x40u;
    CHECK(linerate::seq_in_window(lo, lo, hi));
    CHECK(linerate::seq_in_window(seq32{0x10}, lo, hi));
    CHECK_FALSE(linerate::seq_in_window(hi, lo, hi));
    CHECK_FALSE(linerate::seq_in_window(lo - 1u, lo, hi));
    // An empty window accepts nothing.
    CHECK_FALSE(linerate::seq_in_window(lo, lo, lo));
}

TEST_CASE("seq32: max and min follow serial order, not integer order", "[base][seq32]") {
    const seq32 a{0xffff'fffeu};
    const seq32 b{3};
    CHECK(linerate::seq_max(a, b) == b);
    CHECK(linerate::seq_min(a, b) == a);
}

static_assert(seq32{1} < seq32{2});
static_assert(seq32{0xffff'ffffu} < seq32{0});
