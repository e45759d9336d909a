// TCP option lists: RFC 9293 §3.1-3.2 rules (MUST-4..7, MUST-64, MUST-68), RFC 7323
// window scale and timestamps, RFC 2018 SACK; Linux's layout on the way out.
#include <linerate/wire/tcp.hpp>

#include <catch2/catch.hpp>

#include <vector>

#include "support.hpp"

using namespace linerate;
using namespace linerate::wire;
using namespace linerate::wire::test;

namespace {
using bytes_t = std::vector<std::uint8_t>;

drop_reason reason(const bytes_t &opts) { return parse_tcp_options(opts).error(); }

tcp_options parsed(const bytes_t &opts) {
    const auto r = parse_tcp_options(opts);
    REQUIRE(r);
    return *r;
}
} // namespace

TEST_CASE("TCP options: a real Linux-like SYN's options parse", "[wire][tcp][options]") {
    auto t = tcp_of(test_vectors::tcp_syn);
    const auto seg = parse_tcp(t.segment(), t.src, t.dst);
    REQUIRE(seg);
    const auto o = parse_tcp_options(seg->options);
    REQUIRE(o);
    CHECK(o->mss == 1460);
    CHECK(o->window_scale == 7);
    CHECK(o->sack_permitted);
    CHECK(o->has_timestamp);
    CHECK(o->ts_val == 12345);
    CHECK(o->ts_ecr == 0);
    CHECK(o->sack_count == 0);
}

TEST_CASE("TCP options: a real SYN-ACK's and data segment's options parse", "[wire][tcp][options]") {
    auto synack = tcp_of(test_vectors::tcp_syn_ack);
    const auto o = parse_tcp_options(parse_tcp(synack.segment(), synack.src, synack.dst)->options);
    REQUIRE(o);
    CHECK(o->window_scale == 9);
    CHECK(o->ts_val == 777);
    CHECK(o->ts_ecr == 12345);

    auto data = tcp_of(test_vectors::tcp_data_odd);
    const auto d = parse_tcp_options(parse_tcp(data.segment(), data.src, data.dst)->options);
    REQUIRE(d);
    CHECK_FALSE(d->mss);
    CHECK_FALSE(d->window_scale);
    CHECK_FALSE(d->sack_permitted);
    CHECK(d->has_timestamp);
    CHECK(d->ts_val == 12346);
    CHECK(d->ts_ecr == 777);
}

TEST_CASE("RFC 9293 §3.1 MUST-4: EOL ends the list and what follows is not read", "[wire][tcp][options]") {
    const auto o = parsed({0x00, 0x02, 0x00, 0xff, 0xff, 0xff});
    CHECK_FALSE(o.mss);
    CHECK(parsed({0x02, 0x04, 0x05, 0xb4, 0x00, 0x03, 0x03}).window_scale == std::nullopt);
    CHECK(parsed({0x02, 0x04, 0x05, 0xb4, 0x00, 0x03, 0x03}).mss == 1460);
    CHECK(parse_tcp_options({}).ok());
}

TEST_CASE("RFC 9293 §3.1 MUST-4: NOPs are skipped anywhere", "[wire][tcp][options]") {
    const auto o = parsed({0x01, 0x01, 0x01, 0x02, 0x04, 0x23, 0x28, 0x01, 0x01, 0x01, 0x01, 0x01});
    CHECK(o.mss == 9000);
    CHECK(parsed(bytes_t(40, 0x01)).mss == std::nullopt);
}

TEST_CASE("RFC 9293 §3.2 MUST-64: options that do not start on a word boundary parse", "[wire][tcp][options]") {
    // MSS at offset 1, TS at offset 5, WS at offset 15, SACK-perm at 18, SACK at 20.
    const bytes_t opts{0x01, 0x02, 0x04, 0x02, 0x18, 0x08, 0x0a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                       0x03, 0x03, 0x0e, 0x04, 0x02, 0x05, 0x0a, 0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe};
    const auto o = parsed(opts);
    CHECK(o.mss == 536);
    CHECK(o.has_timestamp);
    CHECK(o.ts_val == 0x01020304u);
    CHECK(o.ts_ecr == 0x05060708u);
    CHECK(o.window_scale == 14);
    CHECK(o.sack_permitted);
    REQUIRE(o.sack_count == 1);
    CHECK(o.sack[0].left == seq32{0xdeadbeef});
    CHECK(o.sack[0].right == seq32{0xcafebabe});
}

TEST_CASE("RFC 9293 §3.1 MUST-6: an unknown option with a valid length is skipped", "[wire][tcp][options]") {
    // Kind 30 (MPTCP, RFC 8684), kind 34 (TFO, RFC 7413), kind 254 (experimental, RFC 6994),
    // kind 19 (MD5, RFC 2385) of their usual lengths, with an MSS after them.
    const auto o = parsed({0x1e, 0x04, 0x00, 0x81, 0x22, 0x02, 0xfe, 0x06, 0xf9, 0x89, 0x12, 0x34,
                           0x13, 0x12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                           0x02, 0x04, 0x05, 0x78});
    CHECK(o.mss == 1400);
    // A minimal unknown option (length 2, no data) is legal too.
    CHECK(parsed({0x63, 0x02, 0x02, 0x04, 0x05, 0x78}).mss == 1400);
}

TEST_CASE("RFC 9293 §3.1 MUST-7: option length 0 is malformed", "[wire][tcp][options]") {
    CHECK(reason({0x02, 0x00, 0x05, 0xb4}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x1e, 0x00, 0x00, 0x00}) == drop_reason::tcp_bad_option);
}

TEST_CASE("RFC 9293 §3.1 MUST-7: option length 1 is malformed", "[wire][tcp][options]") {
    CHECK(reason({0x02, 0x01, 0x05, 0xb4}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x63, 0x01, 0x01, 0x01}) == drop_reason::tcp_bad_option);
}

TEST_CASE("RFC 9293 §3.1 MUST-7: an option running past the header is malformed", "[wire][tcp][options]") {
    CHECK(reason({0x02, 0x04, 0x05}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x01, 0x08, 0x0a, 0, 0, 0, 0, 0, 0, 0}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x63, 0xff, 0x00, 0x00}) == drop_reason::tcp_bad_option);
    // Every truncation of a valid list that cuts an option is caught.
    const bytes_t syn{0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0, 0, 0x30, 0x39, 0, 0, 0, 0, 0x01, 0x03,
                      0x03, 0x07};
    const std::size_t option_ends[] = {0, 4, 6, 16, 17, 20};
    for (std::size_t n = 0; n <= syn.size(); ++n) {
        INFO(n);
        const bool at_boundary = std::find(std::begin(option_ends), std::end(option_ends), n) != std::end(option_ends);
        const auto r = parse_tcp_options(bytes_t(syn.begin(), syn.begin() + static_cast<std::ptrdiff_t>(n)));
        CHECK(r.ok() == at_boundary);
        if (!at_boundary) CHECK(r.error() == drop_reason::tcp_bad_option);
    }
}

TEST_CASE("RFC 9293 §3.1 MUST-68: a kind byte with no room for its length is malformed", "[wire][tcp][options]") {
    CHECK(reason({0x01, 0x01, 0x01, 0x02}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x08}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x63}) == drop_reason::tcp_bad_option);
}

TEST_CASE("RFC 9293 §3.2: an MSS option whose length is not 4 is malformed", "[wire][tcp][options]") {
    CHECK(reason({0x02, 0x03, 0x05, 0x01}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x02, 0x05, 0x05, 0xb4, 0x00, 0x01, 0x01, 0x01}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x02, 0x02, 0x01, 0x01}) == drop_reason::tcp_bad_option);
}

TEST_CASE("RFC 7323 §2.2: a window scale option whose length is not 3 is malformed", "[wire][tcp][options]") {
    CHECK(reason({0x03, 0x02, 0x01, 0x01}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x03, 0x04, 0x07, 0x00}) == drop_reason::tcp_bad_option);
}

TEST_CASE("RFC 2018 §2: a SACK-permitted option whose length is not 2 is malformed", "[wire][tcp][options]") {
    CHECK(reason({0x04, 0x03, 0x00, 0x01}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x04, 0x04, 0x00, 0x00}) == drop_reason::tcp_bad_option);
}

TEST_CASE("RFC 2018 §3: a SACK option must hold 1 to 4 whole blocks", "[wire][tcp][options]") {
    for (std::uint8_t len : {2, 3, 9, 11, 17, 19, 26 + 1, 42}) {
        bytes_t opts(len < 2 ? 2 : len, 0x00);
        opts.resize(44, 0x00);
        opts[0] = 0x05;
        opts[1] = len;
        INFO(int{len});
        CHECK(reason(opts) == drop_reason::tcp_bad_option);
    }
    for (std::uint8_t blocks = 1; blocks <= 4; ++blocks) {
        bytes_t opts{0x05, static_cast<std::uint8_t>(2 + 8 * blocks)};
        for (std::uint8_t b = 0; b < blocks; ++b)
            for (std::uint32_t edge : {1000u * (b + 1), 1000u * (b + 1) + 500}) {
                opts.push_back(static_cast<std::uint8_t>(edge >> 24));
                opts.push_back(static_cast<std::uint8_t>(edge >> 16));
                opts.push_back(static_cast<std::uint8_t>(edge >> 8));
                opts.push_back(static_cast<std::uint8_t>(edge));
            }
        const auto o = parsed(opts);
        REQUIRE(o.sack_count == blocks);
        for (std::uint8_t b = 0; b < blocks; ++b) {
            CHECK(o.sack[b].left == seq32{1000u * (b + 1)});
            CHECK(o.sack[b].right == seq32{1000u * (b + 1) + 500});
        }
    }
    // Five blocks (42 bytes) would not fit the header, but a caller could pass a longer span.
    bytes_t five(42, 0);
    five[0] = 0x05;
    five[1] = 42;
    CHECK(reason(five) == drop_reason::tcp_bad_option);
}

TEST_CASE("RFC 7323 §3.2: a timestamp option whose length is not 10 is malformed", "[wire][tcp][options]") {
    CHECK(reason({0x08, 0x08, 0, 0, 0, 1, 0, 0}) == drop_reason::tcp_bad_option);
    CHECK(reason({0x08, 0x0b, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0}) == drop_reason::tcp_bad_option);
}

TEST_CASE("RFC 7323 §2.3: a shift count above 14 is kept raw and used as 14", "[wire][tcp][options]") {
    const auto o = parsed({0x01, 0x03, 0x03, 0x0f});
    CHECK(o.window_scale == 15);
    CHECK(o.effective_window_scale() == 14);
    CHECK(parsed({0x01, 0x03, 0x03, 0xff}).effective_window_scale() == 14);
    CHECK(parsed({0x01, 0x03, 0x03, 0x0e}).effective_window_scale() == 14);
    CHECK(parsed({0x01, 0x03, 0x03, 0x00}).effective_window_scale() == 0);
    CHECK(tcp_options{}.effective_window_scale() == std::nullopt);
    CHECK(clamp_window_scale(7) == 7);
    CHECK(clamp_window_scale(200) == 14);
}

TEST_CASE("TCP options: a repeated option takes the last value, as Linux does", "[wire][tcp][options]") {
    const auto o = parsed({0x02, 0x04, 0x05, 0xb4, 0x02, 0x04, 0x02, 0x18});
    CHECK(o.mss == 536);
}

TEST_CASE("TCP options: the writer emits Linux's SYN layout, equal to scapy's bytes", "[wire][tcp][options]") {
    auto t = tcp_of(test_vectors::tcp_syn);
    const auto seg = parse_tcp(t.segment(), t.src, t.dst);
    REQUIRE(seg);
    const tcp_options o{.mss = 1460, .window_scale = 7, .sack_permitted = true, .has_timestamp = true,
                        .ts_val = 12345, .ts_ecr = 0};
    std::array<std::uint8_t, 40> out{};
    REQUIRE(tcp_options_size(o) == 20);
    REQUIRE(write_tcp_options(out, o) == 20);
    CHECK(std::equal(seg->options.begin(), seg->options.end(), out.begin()));
}

TEST_CASE("TCP options: the writer pads with NOPs like Linux for every combination", "[wire][tcp][options]") {
    struct expectation {
        tcp_options o;
        bytes_t wire;
    };
    const expectation cases[] = {
        {{}, {}},
        {{.mss = 1460}, {0x02, 0x04, 0x05, 0xb4}},
        {{.mss = 1460, .window_scale = 7}, {0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07}},
        {{.mss = 1460, .sack_permitted = true}, {0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02}},
        {{.mss = 1460, .window_scale = 2, .sack_permitted = true},
         {0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02, 0x01, 0x03, 0x03, 0x02}},
        {{.has_timestamp = true, .ts_val = 1, .ts_ecr = 2}, {0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 2}},
        {{.sack_count = 1, .sack = {{{seq32{5}, seq32{9}}}}},
         {0x01, 0x01, 0x05, 0x0a, 0, 0, 0, 5, 0, 0, 0, 9}},
        {{.sack_count = 2, .sack = {{{seq32{5}, seq32{9}}, {seq32{20}, seq32{30}}}}, .has_timestamp = true,
          .ts_val = 3, .ts_ecr = 4},
         {0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 3, 0, 0, 0, 4, 0x01, 0x01, 0x05, 0x12, 0, 0, 0, 5, 0, 0, 0, 9, 0, 0, 0, 20,
          0, 0, 0, 30}},
    };
    for (std::size_t i = 0; i < std::size(cases); ++i) {
        INFO("case " << i);
        std::array<std::uint8_t, 40> out{};
        const auto n = write_tcp_options(out, cases[i].o);
        CHECK(n == cases[i].wire.size());
        CHECK(n % 4 == 0);
        CHECK(tcp_options_size(cases[i].o) == n);
        CHECK(std::equal(cases[i].wire.begin(), cases[i].wire.end(), out.begin()));
    }
}

TEST_CASE("TCP options: written options parse back to the same values", "[wire][tcp][options]") {
    const tcp_options o{.mss = 8960, .window_scale = 14, .sack_permitted = true, .sack_count = 3,
                        .sack = {{{seq32{0xfffffff0}, seq32{0x10}}, {seq32{100}, seq32{200}}, {seq32{300}, seq32{400}}}},
                        .has_timestamp = true, .ts_val = 0xdeadbeef, .ts_ecr = 0x01020304};
    // MSS 4 + SACK-perm/TS 12 + WS 4 + 3 SACK blocks 28 = 48: too much for one header.
    std::array<std::uint8_t, 64> out{};
    CHECK(tcp_options_size(o) == 48);
    CHECK(write_tcp_options(out, o) == 0);

    tcp_options fits = o;
    fits.mss.reset();
    fits.window_scale.reset();
    fits.sack_permitted = false;
    REQUIRE(write_tcp_options(out, fits) == 40);
    const auto back = parse_tcp_options(std::span(out).first(40));
    REQUIRE(back);
    CHECK(back->sack_count == 3);
    CHECK(back->sack == fits.sack);
    CHECK(back->ts_val == 0xdeadbeef);
    CHECK(back->ts_ecr == 0x01020304);
    CHECK_FALSE(back->mss);

    tcp_options syn = o;
    syn.sack_count = 0;
    REQUIRE(write_tcp_options(out, syn) == 20);
    const auto s = parse_tcp_options(std::span(out).first(20));
    REQUIRE(s);
    CHECK(s->mss == 8960);
    CHECK(s->window_scale == 14);
    CHECK(s->sack_permitted);
    CHECK(s->has_timestamp);
}

TEST_CASE("TCP options: the writer refuses a short buffer and more than 4 SACK blocks", "[wire][tcp][options]") {
    const tcp_options o{.mss = 1460, .window_scale = 7, .sack_permitted = true, .has_timestamp = true};
    std::array<std::uint8_t, 19> small{};
    CHECK(write_tcp_options(small, o) == 0);
    CHECK(small == std::array<std::uint8_t, 19>{});
    tcp_options many{};
    many.sack_count = 5;
    std::array<std::uint8_t, 64> out{};
    CHECK(write_tcp_options(out, many) == 0);
    many.sack_count = 4;
    CHECK(write_tcp_options(out, many) == 36);
}
