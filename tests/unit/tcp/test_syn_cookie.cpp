// SYN cookies (RFC 4987 §3.6, Linux's encoding): the codec alone, and the listener's
// choice of when to send and check them.
#include <linerate/tcp/listener.hpp>
#include <linerate/tcp/syn_cookie.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <random>

using namespace linerate;
using namespace linerate::tcp;

namespace {

constexpr std::array<std::uint8_t, 16> key_a{9, 8, 7, 6, 5, 4, 3, 2, 1};
constexpr std::array<std::uint8_t, 16> key_b{1, 2, 3, 4, 5, 6, 7, 8, 9};
const four_tuple tuple{ipv4_addr::from_octets(198, 18, 0, 2), ipv4_addr::from_octets(198, 18, 0, 1), 80, 40000};
constexpr seq32 peer_isn{0x1234'5678};
constexpr std::uint32_t count = 0x0abc'de01;

using codec = syn_cookie_codec;

} // namespace

TEST_CASE("RFC 4987 §3.6: a cookie decodes to every MSS of the table it encodes", "[tcp][syn_cookie]") {
    for (const isn_prf prf : {isn_prf::siphash, isn_prf::aes128}) {
        const isn_generator isn{key_a, prf};
        const codec c{isn};
        for (std::uint8_t i = 0; i < codec::mss_table.size(); ++i) {
            const seq32 cookie = c.encode(tuple, peer_isn, i, count);
            const auto mss = c.decode(tuple, peer_isn, cookie, count);
            REQUIRE(mss);
            CHECK(*mss == codec::mss_table[i]);
        }
    }
}

TEST_CASE("RFC 4987 §3.6: the MSS table entry is the largest not above the peer's MSS", "[tcp][syn_cookie]") {
    CHECK(codec::mss_table[codec::mss_index(536)] == 536); // RFC 9293 MUST-15's default
    CHECK(codec::mss_table[codec::mss_index(88)] == 536);  // below the table: its first entry
    CHECK(codec::mss_table[codec::mss_index(1299)] == 536);
    CHECK(codec::mss_table[codec::mss_index(1300)] == 1300);
    CHECK(codec::mss_table[codec::mss_index(1439)] == 1300);
    CHECK(codec::mss_table[codec::mss_index(1440)] == 1440);
    CHECK(codec::mss_table[codec::mss_index(1460)] == 1460);
    CHECK(codec::mss_table[codec::mss_index(8960)] == 1460);
}

TEST_CASE("RFC 4987 §3.6: a cookie holds for its period and the next, never after or before", "[tcp][syn_cookie]") {
    const isn_generator isn{key_a};
    const codec c{isn};
    const seq32 cookie = c.encode(tuple, peer_isn, 3, count);
    CHECK(c.decode(tuple, peer_isn, cookie, count) == std::optional<std::uint16_t>{1460});
    CHECK(c.decode(tuple, peer_isn, cookie, count + 1) == std::optional<std::uint16_t>{1460}); // the previous period's
    CHECK_FALSE(c.decode(tuple, peer_isn, cookie, count + 2));                                 // older
    CHECK_FALSE(c.decode(tuple, peer_isn, cookie, count + 256));                               // 2^8 periods on: its count bits match again
    CHECK_FALSE(c.decode(tuple, peer_isn, cookie, count - 1));                                 // from the future
}

TEST_CASE("RFC 4987 §3.6: the count wraps in the cookie's 8 bits and in the clock's 32", "[tcp][syn_cookie]") {
    const isn_generator isn{key_a};
    const codec c{isn};
    // The cookie's count field wraps from 0xff to 0x00 between the two periods.
    const seq32 at_ff = c.encode(tuple, peer_isn, 1, 0x0000'01ff);
    CHECK(c.decode(tuple, peer_isn, at_ff, 0x0000'0200) == std::optional<std::uint16_t>{1300});
    // And the clock's count itself wraps (now_us >> 26 past 2^32).
    const seq32 at_top = c.encode(tuple, peer_isn, 2, 0xffff'ffff);
    CHECK(c.decode(tuple, peer_isn, at_top, 0) == std::optional<std::uint16_t>{1440});
    CHECK(codec::count_at(std::uint64_t{0xffff'ffff} << codec::period_shift) == 0xffff'ffffu);
    CHECK(codec::count_at(std::uint64_t{1} << (32 + codec::period_shift)) == 0u);
}

TEST_CASE("RFC 4987 §3.6: a forged cookie, or one for another SYN, is refused", "[tcp][syn_cookie]") {
    const isn_generator isn{key_a}, other_key{key_b};
    const codec c{isn};
    const seq32 cookie = c.encode(tuple, peer_isn, 3, count);
    // Another 4-tuple, another peer ISN, another secret: not this cookie.
    four_tuple other_port = tuple;
    other_port.remote_port = 40001;
    CHECK_FALSE(c.decode(other_port, peer_isn, cookie, count));
    CHECK_FALSE(c.decode(tuple, seq32{0x9abc'def0}, cookie, count));
    // The ISN is hashed, not only added as in Linux: a segment whose SEG.SEQ - 1 is the
    // ISN plus 1 to 3 (one sent after the handshake's ACK, arriving first) is no cookie
    // of a neighbouring MSS entry, made with IRS off by that much.
    for (std::uint32_t k = 1; k <= 3; ++k) CHECK_FALSE(c.decode(tuple, peer_isn + k, cookie, count));
    CHECK_FALSE(codec{other_key}.decode(tuple, peer_isn, cookie, count));
    // The last entry's index plus one is no index.
    CHECK_FALSE(c.decode(tuple, peer_isn, cookie + 1, count));
    // Guesses: each passes with probability 2 periods x 4 indices / 2^32 (about 2e-9), so
    // a million of them expect 0.002 successes; more than one means the hash leaks.
    std::mt19937 rng(7);
    int passed = 0;
    for (int i = 0; i < 1'000'000; ++i)
        if (c.decode(tuple, peer_isn, seq32{static_cast<std::uint32_t>(rng())}, count)) ++passed;
    CHECK(passed <= 1);
}

TEST_CASE("RFC 4987 §3.6: window scale and SACK-permitted come back from the TSval's low bits",
          "[tcp][syn_cookie]") {
    for (const std::uint32_t tsval : {0u, 5u, 63u, 64u, 1'000'000u, 0xffff'fff0u}) {
        for (int ws = -1; ws <= 14; ++ws) {
            for (const bool sack : {false, true}) {
                const auto shift = ws < 0 ? std::nullopt : std::optional<std::uint8_t>(static_cast<std::uint8_t>(ws));
                const std::uint32_t ts = codec::ts_encode(tsval, shift, sack);
                // RFC 7323 §5.2's serial order: never newer than the clock, and less than
                // 2^6 older.
                const auto behind = tsval - ts;
                CHECK(behind < 64u);
                const auto back = codec::ts_decode(ts);
                REQUIRE(back);
                CHECK(back->timestamps);
                CHECK(back->window_scale == shift);
                CHECK(back->sack_permitted == sack);
            }
        }
    }
    // ECN is never offered: an echo that claims it is no cookie of ours.
    CHECK_FALSE(codec::ts_decode(codec::ts_ecn | codec::ts_no_wscale));
}

TEST_CASE("RFC 4987 §3.6: the cookie hash keeps apart from the ISN and TSval offsets", "[tcp][syn_cookie]") {
    // The shared secret's other uses hash the word 0; the cookie's words never are.
    const isn_generator isn{key_a, isn_prf::siphash};
    CHECK(isn.prf(tuple.local_ip, tuple.local_port, tuple.remote_ip, tuple.remote_port, 0) !=
          isn.offset(tuple.local_ip, tuple.local_port, tuple.remote_ip, tuple.remote_port));
    const isn_generator aes{key_a, isn_prf::aes128};
    // With AES the word fills the block offset() pads with zeros: word 0 is offset().
    CHECK(aes.prf(tuple.local_ip, tuple.local_port, tuple.remote_ip, tuple.remote_port, 0) ==
          aes.offset(tuple.local_ip, tuple.local_port, tuple.remote_ip, tuple.remote_port));
    CHECK(aes.prf(tuple.local_ip, tuple.local_port, tuple.remote_ip, tuple.remote_port, 1u << 30) !=
          aes.offset(tuple.local_ip, tuple.local_port, tuple.remote_ip, tuple.remote_port));
}

// --- the listener ----------------------------------------------------------------------

namespace {
listener make(syn_cookie_mode mode, std::uint32_t syn_backlog = 1, std::uint32_t accept_backlog = 4) {
    return listener(ipv4_addr::from_octets(198, 18, 0, 2), 80, syn_backlog, accept_backlog, mode);
}
const segment syn{.seq = peer_isn, .flags = tcp_flags{tcp_flags::syn}};
const segment ack{.seq = peer_isn + 1, .ack = seq32{99}, .flags = tcp_flags{tcp_flags::ack}};
constexpr std::uint64_t period_us = std::uint64_t{1} << codec::period_shift;
} // namespace

TEST_CASE("RFC 4987 §3.6: syn_cookies off drops a SYN the full queue cannot take", "[tcp][syn_cookie][listen]") {
    counters st;
    auto l = make(syn_cookie_mode::off);
    CHECK(l.on_segment(syn, st) == listener::verdict::open);
    CHECK(l.on_segment(syn, st) == listener::verdict::drop);
    CHECK(st.listen_overflows == 1);
    CHECK(l.on_segment(ack, st) == listener::verdict::reset); // never a cookie to check
}

TEST_CASE("RFC 4987 §3.6: syn_cookies auto answers with cookies only while the SYN queue is full",
          "[tcp][syn_cookie][listen]") {
    counters st;
    auto l = make(syn_cookie_mode::automatic);
    const std::uint64_t t0 = 10 * period_us;
    // No cookie out yet: an ACK is a stray one.
    CHECK(l.on_segment(ack, st, t0) == listener::verdict::reset);
    CHECK(l.on_segment(syn, st, t0) == listener::verdict::open);
    CHECK(l.on_segment(syn, st, t0) == listener::verdict::send_cookie);
    CHECK(st.req_q_full_do_cookies == 1);
    CHECK(st.listen_overflows == 0);
    // While a cookie sent may still come back, ACKs are checked for one...
    CHECK(l.on_segment(ack, st, t0) == listener::verdict::check_cookie);
    CHECK(l.on_segment(ack, st, t0 + period_us) == listener::verdict::check_cookie);
    // ... and once none can, they are stray again.
    CHECK(l.on_segment(ack, st, t0 + 2 * period_us) == listener::verdict::reset);
    // The queue has room again: a SYN opens as before.
    l.half_open_closed();
    CHECK(l.on_segment(syn, st, t0) == listener::verdict::open);
    // A SYN-ACK at a listener is no handshake's third segment.
    const segment syn_ack{.seq = peer_isn, .ack = seq32{1}, .flags = tcp_flags{tcp_flags::syn | tcp_flags::ack}};
    CHECK(l.on_segment(syn_ack, st, t0) == listener::verdict::reset);
}

TEST_CASE("RFC 4987 §3.6: syn_cookies always answers every SYN with a cookie and keeps no queue",
          "[tcp][syn_cookie][listen]") {
    counters st;
    auto l = make(syn_cookie_mode::always);
    for (int i = 0; i < 3; ++i) CHECK(l.on_segment(syn, st) == listener::verdict::send_cookie);
    CHECK(l.half_open() == 0);
    CHECK(st.req_q_full_do_cookies == 0); // not for want of room
    CHECK(l.on_segment(ack, st) == listener::verdict::check_cookie);
    // A valid cookie goes through the queue's count like any handshake.
    CHECK(l.cookie_open(st));
    CHECK(l.half_open() == 1);
    l.half_open_established();
    CHECK(l.pending_accept() == 1);
}

TEST_CASE("RFC 4987 §3.6: a full accept queue drops SYNs and cookie ACKs even with cookies",
          "[tcp][syn_cookie][listen]") {
    counters st;
    auto l = make(syn_cookie_mode::always, 1, 1);
    REQUIRE(l.cookie_open(st));
    l.half_open_established(); // the accept queue holds its one
    CHECK(l.on_segment(syn, st) == listener::verdict::drop);
    CHECK_FALSE(l.cookie_open(st));
    CHECK(st.listen_overflows == 2);
    l.accepted();
    CHECK(l.on_segment(syn, st) == listener::verdict::send_cookie);
}
