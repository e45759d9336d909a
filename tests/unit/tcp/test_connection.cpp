// The connection state machine, state by state (RFC 9293 §3.10.7 and the RFCs it
// points to). Every fixture is reached through a real exchange; the first test checks
// that each lands in the state it is named after.
#include "harness.hpp"

using namespace linerate;
using namespace linerate::tcp;
using namespace linerate::tcp::test;

namespace {
const std::array<std::uint8_t, 100> hundred{};
}

TEST_CASE("fixtures: every fixture is the state a real exchange reaches", "[tcp][fixture]") {
    struct {
        void (harness::*to)();
        state want;
    } const cases[] = {
        {&harness::to_syn_sent, state::syn_sent},     {&harness::to_syn_received, state::syn_received},
        {&harness::to_established, state::established}, {&harness::to_fin_wait_1, state::fin_wait_1},
        {&harness::to_fin_wait_2, state::fin_wait_2}, {&harness::to_close_wait, state::close_wait},
        {&harness::to_last_ack, state::last_ack},     {&harness::to_closing, state::closing},
        {&harness::to_time_wait, state::time_wait},
    };
    for (const auto &k : cases) {
        harness h;
        (h.*k.to)();
        INFO(to_string(k.want));
        CHECK(h.c.current() == k.want);
    }
}

// --- SYN-SENT ----------------------------------------------------------------------

TEST_CASE("SYN-SENT: OPEN sends a SYN with our options from the ISN", "[tcp][syn_sent]") {
    harness h;
    auto x = h.ctx();
    h.c.open_active(local_view, x);
    const auto syn = h.expect_emitted();
    CHECK(syn.flags == tcp_flags{f::syn});
    CHECK(syn.seq == h.generated_iss());
    CHECK(h.c.snd_nxt() == h.iss() + 1);
    CHECK(syn.options.mss == std::optional<std::uint16_t>{1460}); // RFC 9293 MUST-14, from the MTU
    CHECK(syn.options.window_scale.has_value());
    CHECK(syn.options.sack_permitted);
    CHECK(syn.options.has_timestamp);
    CHECK(h.stats.active_opens == 1);
}

TEST_CASE("SYN-SENT: a SYN-ACK for our SYN establishes and is ACKed", "[tcp][syn_sent]") {
    harness h;
    h.to_syn_sent();
    segment sa{.seq = seq32{peer_iss}, .ack = h.iss() + 1, .flags = tcp_flags{f::syn | f::ack}, .window = 5000};
    sa.options.mss = 1000;
    h.deliver(sa);
    CHECK(h.c.current() == state::established);
    const auto ack = h.expect_emitted();
    CHECK(ack.flags == tcp_flags{f::ack});
    CHECK(ack.seq == h.iss() + 1);
    CHECK(ack.ack == seq32{peer_iss + 1});
    CHECK(h.c.snd_wnd() == 5000); // RFC 7323 §2.2: a SYN's window is never scaled
    CHECK(h.c.mss() == 1000);
    h.expect_event(event_type::connected);
}

TEST_CASE("RFC 9293 §3.10.7.3: SYN-SENT answers an unacceptable ACK with RST at SEG.ACK", "[tcp][syn_sent]") {
    harness h;
    h.to_syn_sent();
    h.deliver(segment{.seq = seq32{5}, .ack = h.iss() + 7, .flags = tcp_flags{f::ack}});
    const auto rst = h.expect_emitted();
    CHECK(rst.flags == tcp_flags{f::rst});
    CHECK(rst.seq == h.iss() + 7);
    CHECK(h.c.current() == state::syn_sent);
    // ...and drops one that is itself a RST, silently.
    h.deliver(segment{.seq = seq32{5}, .ack = h.iss(), .flags = tcp_flags{f::ack | f::rst}});
    h.expect_nothing();
}

TEST_CASE("RFC 9293 §3.10.7.3: SYN-SENT refused by a RST acknowledging our SYN (MUST-12)", "[tcp][syn_sent]") {
    harness h;
    h.to_syn_sent();
    h.deliver(segment{.seq = seq32{0}, .ack = h.iss() + 1, .flags = tcp_flags{f::rst | f::ack}});
    CHECK(h.c.current() == state::closed);
    CHECK(h.expect_event(event_type::closed).reason == close_reason::refused);
    CHECK(h.stats.attempt_fails == 1);
}

TEST_CASE("SYN-SENT: a RST without an ACK is ignored", "[tcp][syn_sent]") {
    harness h;
    h.to_syn_sent();
    h.deliver(segment{.seq = seq32{0}, .flags = tcp_flags{f::rst}});
    CHECK(h.c.current() == state::syn_sent);
    h.expect_nothing();
}

TEST_CASE("RFC 9293 §3.10.7.3 MUST-10: a bare SYN in SYN-SENT is a simultaneous open", "[tcp][syn_sent]") {
    harness h;
    h.to_syn_sent();
    h.deliver(h.peer_syn());
    CHECK(h.c.current() == state::syn_received);
    const auto sa = h.expect_emitted();
    CHECK(sa.flags == tcp_flags{f::syn | f::ack});
    CHECK(sa.seq == h.generated_iss());
    CHECK(sa.ack == seq32{peer_iss + 1});
    // The peer's SYN-ACK completes it, as an active open.
    h.deliver(segment{.seq = seq32{peer_iss + 1}, .ack = h.iss() + 1, .flags = tcp_flags{f::ack}, .window = 100});
    CHECK(h.c.current() == state::established);
    h.expect_event(event_type::connected);
}

TEST_CASE("SYN-SENT: the SYN is retransmitted with backoff and the attempt ends after syn_retries",
          "[tcp][syn_sent][timer]") {
    harness h;
    h.cfg.syn_retries = 3;
    h.to_syn_sent();
    for (int i = 0; i < 3; ++i) {
        const std::uint64_t rto = 1000ull << i; // 1 s, 2 s, 4 s (RFC 6298 §5.5)
        h.advance(rto - 1);
        h.expect_nothing();
        h.fire(1, rto);
        CHECK(h.expect_emitted().flags == tcp_flags{f::syn});
    }
    h.fire(8000);
    REQUIRE(h.c.current() == state::closed);
    CHECK(h.expect_event(event_type::closed).reason == close_reason::timeout);
    CHECK(h.stats.syn_retrans == 3);
    CHECK(h.wheel.size() == 0);
}

// --- SYN-RECEIVED --------------------------------------------------------------------

TEST_CASE("RFC 9293 §3.10.7.2: a SYN opens SYN-RECEIVED with a SYN-ACK", "[tcp][syn_received][listen]") {
    harness h;
    auto x = h.ctx();
    h.c.open_passive(local_view, h.peer_syn(), x);
    CHECK(h.c.current() == state::syn_received);
    const auto sa = h.expect_emitted();
    CHECK(sa.flags == tcp_flags{f::syn | f::ack});
    CHECK(sa.seq == h.generated_iss());
    CHECK(sa.ack == seq32{peer_iss + 1});
    CHECK(h.c.rcv_nxt() == seq32{peer_iss + 1});
    // The SYN offered no window scale, SACK or timestamps: the SYN-ACK answers none.
    CHECK_FALSE(sa.options.window_scale);
    CHECK_FALSE(sa.options.sack_permitted);
    CHECK_FALSE(sa.options.has_timestamp);
}

TEST_CASE("SYN-RECEIVED: the ACK of our SYN moves to ESTABLISHED", "[tcp][syn_received]") {
    harness h;
    h.to_syn_received();
    h.deliver(h.peer(f::ack));
    CHECK(h.c.current() == state::established);
    h.expect_event(event_type::accepted);
    h.expect_nothing();
    CHECK(h.stats.passive_opens == 1);
    CHECK(h.stats.curr_estab == 1);
    // Nothing to retransmit, nothing delayed. The SYN-ACK's timer stays where it was
    // (rearm is lazy): it fires, finds nothing due, sends nothing and is not re-armed.
    h.advance(10 * 60 * 1000);
    h.expect_nothing();
    CHECK(h.c.current() == state::established);
    CHECK(h.wheel.size() == 0);
}

TEST_CASE("RFC 9293 §3.10.7.4: SYN-RECEIVED answers an ACK not for our SYN with RST", "[tcp][syn_received]") {
    harness h;
    h.to_syn_received();
    segment bad = h.peer(f::ack);
    bad.ack = h.iss() + 50;
    h.deliver(bad);
    const auto rst = h.expect_emitted();
    CHECK(rst.flags == tcp_flags{f::rst});
    CHECK(rst.seq == h.iss() + 50);
    CHECK(h.c.current() == state::syn_received);
}

TEST_CASE("RFC 9293 MUST-11: a RST returns a passive SYN-RECEIVED to LISTEN", "[tcp][syn_received]") {
    harness h;
    h.to_syn_received();
    h.deliver(h.peer(f::rst));
    CHECK(h.c.current() == state::closed);
    CHECK(h.expect_event(event_type::closed).reason == close_reason::reset);
    h.expect_nothing();
}

TEST_CASE("SYN-RECEIVED: a lost SYN-ACK is resent with the same ISN, on timeout and on the SYN again",
          "[tcp][syn_received][timer]") {
    harness h;
    h.to_syn_received();
    h.fire(1000);
    auto sa = h.expect_emitted();
    CHECK(sa.flags == tcp_flags{f::syn | f::ack});
    CHECK(sa.seq == h.iss());
    h.deliver(h.peer_syn()); // as Linux: the SYN again is answered with the SYN-ACK
    sa = h.expect_emitted();
    CHECK(sa.flags == tcp_flags{f::syn | f::ack});
    CHECK(sa.seq == h.iss());
}

TEST_CASE("SYN-RECEIVED: a half-open connection lives only until its SYN-ACK retries run out",
          "[tcp][syn_received][timer]") {
    harness h;
    h.cfg.synack_retries = 2;
    h.to_syn_received();
    h.fire(1000);
    h.fire(2000);
    CHECK(h.out.sent.size() == 2);
    h.fire(4000);
    REQUIRE(h.c.current() == state::closed);
    CHECK(h.out.events.back().reason == close_reason::timeout);
    CHECK(h.wheel.size() == 0);
}

// --- ESTABLISHED ---------------------------------------------------------------------

TEST_CASE("ESTABLISHED: in-order data is delivered and ACKed after the delayed-ACK timeout",
          "[tcp][established][timer]") {
    harness h;
    h.to_established();
    h.deliver(h.peer(f::ack | f::psh, 1, hundred));
    const auto e = h.expect_event(event_type::data);
    CHECK(e.bytes == 100);
    CHECK(h.c.rcv_nxt() == seq32{peer_iss + 101});
    h.expect_nothing();
    h.advance(39);
    h.expect_nothing();
    h.advance(1);
    const auto ack = h.expect_emitted();
    CHECK(ack.ack == seq32{peer_iss + 101});
    CHECK(h.stats.delayed_acks == 1);
}

// 100 bytes in order, delivered while the owner promises a flush after the callbacks.
static void data_with_flush_promised(harness &h) {
    h.to_established();
    h.out.promise_flush = true;
    h.deliver(h.peer(f::ack | f::psh, 1, hundred));
    CHECK(h.expect_event(event_type::data).bytes == 100);
}

TEST_CASE("ESTABLISHED: with a flush promised, the delayed-ACK timer starts at the flush when nothing is sent, "
          "with the deadline it would have had",
          "[tcp][established][timer]") {
    harness h;
    data_with_flush_promised(h);
    CHECK(h.out.flush_requests == 1);
    CHECK(h.c.deadline_delayed_ack(h.now) == connection::never); // left to the flush
    auto x = h.ctx();
    h.c.flush(x); // the application sent nothing
    h.expect_nothing();
    CHECK(h.c.deadline_delayed_ack(h.now) == tick{40});
    h.advance(39);
    h.expect_nothing();
    h.advance(1);
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 101});
    CHECK(h.stats.delayed_acks == 1);
}

TEST_CASE("ESTABLISHED: with a flush promised, a reply carries the ACK and no delayed-ACK timer is started",
          "[tcp][established][timer]") {
    harness h;
    data_with_flush_promised(h);
    auto x = h.ctx();
    CHECK(h.c.send(10, x) == 10); // the data callback answers
    h.c.flush(x);
    const auto reply = h.expect_emitted();
    CHECK(reply.payload_len == 10);
    CHECK(reply.ack == seq32{peer_iss + 101});
    CHECK(h.c.deadline_delayed_ack(h.now) == connection::never);
    h.advance(100); // past the 40 ms delay, before the reply's retransmission timer
    h.expect_nothing();
    CHECK(h.stats.delayed_acks == 0);
}

TEST_CASE("RFC 1122 §4.2.3.2: every second full-sized segment is ACKed at once", "[tcp][established]") {
    harness h;
    h.to_established();
    std::vector<std::uint8_t> full(h.c.mss());
    h.deliver(h.peer(f::ack, 1, full));
    h.expect_nothing();
    h.deliver(h.peer(f::ack, 1 + h.c.mss(), full));
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 1 + 2u * h.c.mss()});
}

TEST_CASE("RFC 9293 §3.10.7.4 first: an unacceptable segment is answered with an ACK", "[tcp][established]") {
    harness h;
    h.to_established();
    h.deliver(h.peer(f::ack, 1 + 70000, hundred)); // beyond the window
    const auto ack = h.expect_emitted();
    CHECK(ack.flags == tcp_flags{f::ack});
    CHECK(ack.ack == seq32{peer_iss + 1});
    h.deliver(h.peer(f::ack, 0xffff0000u, {})); // far behind
    h.expect_emitted();
    CHECK(h.stats.dropped[static_cast<std::size_t>(drop::out_of_window)] == 2);
    CHECK(h.out.events.empty());
}

TEST_CASE("RFC 5961 §3.2: a RST exactly at RCV.NXT resets ESTABLISHED (MUST-12)", "[tcp][established]") {
    harness h;
    h.to_established();
    h.deliver(h.peer(f::rst));
    CHECK(h.c.current() == state::closed);
    CHECK(h.expect_event(event_type::closed).reason == close_reason::reset);
    CHECK(h.stats.estab_resets == 1);
    CHECK(h.stats.curr_estab == 0);
}

TEST_CASE("RFC 5961 §3.2: a RST in the window but not at RCV.NXT gets a challenge ACK", "[tcp][established]") {
    harness h;
    h.cfg.challenge_ack_limit = 5;
    h.to_established();
    h.deliver(h.peer(f::rst, 10));
    CHECK(h.c.current() == state::established);
    const auto ack = h.expect_emitted();
    CHECK(ack.flags == tcp_flags{f::ack});
    CHECK(ack.ack == seq32{peer_iss + 1});
    CHECK(h.stats.challenge_acks == 1);
}

TEST_CASE("RFC 5961 §4.2: a SYN in ESTABLISHED gets a challenge ACK", "[tcp][established]") {
    harness h;
    h.cfg.challenge_ack_limit = 5;
    h.to_established();
    h.deliver(h.peer(f::syn, 1));
    CHECK(h.c.current() == state::established);
    CHECK(h.expect_emitted().flags == tcp_flags{f::ack});
    CHECK(h.stats.syn_challenges == 1); // TCPSYNChallenge
    CHECK(h.stats.challenge_acks == 1);
}

TEST_CASE("RFC 5961 §7: challenge ACKs are limited per second", "[tcp][established]") {
    harness h;
    h.cfg.challenge_ack_limit = 3;
    h.cfg.invalid_ack_interval_ms = 0; // the shard's budget alone
    h.to_established();
    for (int i = 0; i < 10; ++i) h.deliver(h.peer(f::rst, 10));
    CHECK(h.out.sent.size() == 3);
    CHECK(h.stats.dropped[static_cast<std::size_t>(drop::challenge_ack_limited)] == 7);
    h.advance(1000);
    h.clear();
    h.deliver(h.peer(f::rst, 10));
    CHECK(h.out.sent.size() == 1);
}

TEST_CASE("RFC 5961 §7: one challenge ACK per connection per invalid_ack_interval_ms", "[tcp][established]") {
    // The ACK throttling §7 asks for, per connection as Linux does it
    // (tcp_send_challenge_ack, tcp_invalid_ratelimit): a flood of RSTs and SYNs aimed at
    // one live 4-tuple makes one ACK per interval, not one per segment.
    harness h;
    h.cfg.challenge_ack_limit = 1000;
    h.cfg.invalid_ack_interval_ms = 500;
    h.to_established();
    h.advance(7); // not at tick 0, which a mark must survive too (short_deadline::marked)
    // Each connection has its own interval; the shard's budget is the second limit.
    for (int i = 0; i < 10; ++i) h.deliver(h.peer(i % 2 == 0 ? f::rst : f::syn, 10));
    CHECK(h.out.sent.size() == 1);
    CHECK(h.stats.challenge_acks == 1);
    CHECK(h.stats.ack_skipped_challenge == 9);
    CHECK(h.stats.dropped[static_cast<std::size_t>(drop::challenge_ack_limited)] == 0);
    CHECK(h.c.current() == state::established);
    h.clear();
    h.advance(499);
    h.deliver(h.peer(f::rst, 10));
    h.expect_nothing();
    h.advance(1);
    h.deliver(h.peer(f::rst, 10));
    CHECK(h.expect_emitted().flags == tcp_flags{f::ack});
    CHECK(h.stats.challenge_acks == 2);
}

TEST_CASE("RFC 9293 §3.10.7.4 first: ACKs for segments out of the window, one per connection per interval",
          "[tcp][established]") {
    // "If an incoming segment is not acceptable, an acknowledgment should be sent in
    // reply": bare segments are answered once per invalid_ack_interval_ms (Linux's
    // tcp_oow_rate_limited, TCPACKSkippedSeq), segments with data every time.
    harness h;
    h.cfg.invalid_ack_interval_ms = 500;
    h.to_established();
    h.advance(3);
    const std::uint32_t far = 1u << 30; // far outside any window
    for (int i = 0; i < 20; ++i) h.deliver(h.peer(f::ack, far + static_cast<std::uint32_t>(i)));
    CHECK(h.out.sent.size() == 1);
    CHECK(h.stats.ack_skipped_seq == 19);
    CHECK(h.stats.dropped[static_cast<std::size_t>(drop::out_of_window)] == 20);
    h.clear();
    // A peer retransmitting data already received needs the ACK: never held back.
    for (int i = 0; i < 3; ++i) h.deliver(h.peer(f::ack, far, hundred));
    CHECK(h.out.sent.size() == 3);
    CHECK(h.stats.ack_skipped_seq == 19);
    h.clear();
    // Nor do the ACKs the connection sends anyway, with data, open the limit again: an
    // attacker's bare segments interleaved with a busy connection's traffic are still
    // answered once per interval.
    auto x = h.ctx();
    REQUIRE(h.c.send(100, x) == 100);
    h.deliver(h.peer(f::ack, 1, hundred));
    h.clear();
    h.deliver(h.peer(f::ack, far));
    h.expect_nothing();
    CHECK(h.stats.ack_skipped_seq == 20);
    // A keepalive probe (SEG.SEQ = RCV.NXT - 1, no data) an interval later is answered.
    h.advance(500);
    h.clear(); // the delayed ACK for the data above
    h.deliver(h.peer(f::ack, 100));
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 101});
    // 0 turns the limit off.
    h.clear();
    h.cfg.invalid_ack_interval_ms = 0;
    for (int i = 0; i < 5; ++i) h.deliver(h.peer(f::ack, far));
    CHECK(h.out.sent.size() == 5);
}

TEST_CASE("RFC 5961 §7: in FIN-WAIT-2 with its timeout and in TIME-WAIT the shard's budget limits invalid ACKs",
          "[tcp][close]") {
    // There close_at_ holds a deadline and no mark, so the shard's challenge budget
    // takes over; a FIN retransmitted into TIME-WAIT is always answered (§3.10.7.4).
    harness h;
    h.cfg.invalid_ack_interval_ms = 500;
    h.cfg.challenge_ack_limit = 2;
    h.to_time_wait();
    const std::uint32_t far = 1u << 30;
    for (int i = 0; i < 5; ++i) h.deliver(h.peer(f::ack, far));
    CHECK(h.out.sent.size() == 2);
    CHECK(h.stats.ack_skipped_seq == 3);
    h.clear();
    h.deliver(h.peer(f::ack | f::fin, 1));
    CHECK(h.expect_emitted().flags == tcp_flags{f::ack});
}

TEST_CASE("RFC 7323 §5.3: PAWS rejections are answered once per connection per interval", "[tcp][options]") {
    harness h;
    h.cfg.invalid_ack_interval_ms = 500;
    h.to_established_with_timestamps(5000);
    REQUIRE(h.c.current() == state::established);
    h.advance(1);
    segment old = h.peer(f::ack);
    old.options.has_timestamp = true;
    old.options.ts_val = 4000;
    for (int i = 0; i < 6; ++i) h.deliver(old);
    CHECK(h.stats.paws_rejected == 6);
    CHECK(h.out.sent.size() == 1);
    CHECK(h.stats.ack_skipped_paws == 5);
}

TEST_CASE("RFC 5961 §5.2: an ACK beyond SND.NXT is dropped and answered with an ACK", "[tcp][established]") {
    harness h;
    h.to_established();
    segment s = h.peer(f::ack, 1, hundred);
    s.ack = h.c.snd_nxt() + 1000;
    h.deliver(s);
    CHECK(h.expect_emitted().flags == tcp_flags{f::ack});
    CHECK(h.out.events.empty()); // the data was not taken
    CHECK(h.c.rcv_nxt() == seq32{peer_iss + 1});
}

TEST_CASE("RFC 9293 §3.10.7.4 fifth: a segment without ACK is dropped", "[tcp][established]") {
    harness h;
    h.to_established();
    h.deliver(h.peer(f::psh, 1, hundred));
    h.expect_nothing();
    CHECK(h.out.events.empty());
}

TEST_CASE("ESTABLISHED: sent data goes out in MSS-sized segments and is released when ACKed",
          "[tcp][established]") {
    harness h;
    h.to_established();
    auto x = h.ctx();
    CHECK(h.c.send(3000, x) == 3000);
    REQUIRE(h.out.sent.size() == 3);
    CHECK(h.out.sent[0].payload_len == 1460);
    CHECK(h.out.sent[1].payload_len == 1460);
    CHECK(h.out.sent[2].payload_len == 80);
    CHECK(h.out.sent[2].flags == tcp_flags{f::ack | f::psh});
    h.clear();
    segment ack = h.peer(f::ack);
    ack.ack = h.iss() + 1 + 2920;
    h.deliver(ack);
    CHECK(h.expect_event(event_type::acked).bytes == 2920);
    CHECK(h.c.snd_una() == h.iss() + 2921);
}

TEST_CASE("RFC 6928: the initial window is 10 segments, and the peer's window bounds it too",
          "[tcp][established]") {
    harness h;
    h.to_established();
    auto x = h.ctx();
    h.c.send(100000, x);
    CHECK(h.out.sent.size() == 10);
    harness small;
    small.to_syn_received();
    segment a = small.peer(f::ack);
    a.window = 2000;
    small.deliver(a);
    small.clear();
    auto y = small.ctx();
    small.c.send(100000, y);
    std::uint32_t bytes = 0;
    for (const auto &s : small.out.sent) bytes += s.payload_len;
    CHECK(bytes == 2000);
}

TEST_CASE("RFC 6298 §5: unacknowledged data is retransmitted on RTO with backoff", "[tcp][established][timer]") {
    harness h;
    h.to_established();
    auto x = h.ctx();
    h.c.send(500, x);
    h.clear();
    const std::uint32_t rto = h.c.rto_ms(h.ctx());
    h.fire(rto);
    const auto again = h.expect_emitted();
    CHECK(again.seq == h.iss() + 1);
    CHECK(again.payload_len == 500);
    CHECK(h.stats.retrans_segs == 1);
    CHECK(h.stats.timeouts == 1); // TCPTimeouts
    h.advance(2 * rto - 1);
    h.expect_nothing();
    h.fire(1, 2 * rto);
    h.expect_emitted();
}

TEST_CASE("RFC 6298 §5.3: an ACK of new data restarts the RTO; the early timer left behind sends nothing",
          "[tcp][established][timer]") {
    // rearm is lazy: the ACK moves the deadline later but leaves the wheel's timer at
    // the old one. That timer must fire harmlessly and re-arm for the real deadline.
    harness h;
    h.to_established();
    auto x = h.ctx();
    h.c.send(500, x);
    h.clear();
    const std::uint32_t rto = h.c.rto_ms(h.ctx());
    h.advance(rto / 2);
    segment part = h.peer(f::ack);
    part.ack = h.iss() + 1 + 200;
    h.deliver(part);
    h.clear();
    const std::uint32_t rto2 = h.c.rto_ms(h.ctx()); // the ACK may have sampled the RTT
    const std::uint32_t past_old = rto / 2 + rto / 8 + 1;
    REQUIRE(rto2 > past_old); // else the real deadline would come first
    // Past the old deadline (and its granule): the stale timer has fired, nothing sent.
    h.advance(past_old);
    CHECK(h.fired >= 1);
    h.expect_nothing();
    CHECK(h.stats.retrans_segs == 0);
    // RFC 6298 §5.3: the timer restarted at the ACK, so it expires rto2 after it.
    h.fire(rto2 - past_old, rto2);
    const auto again = h.expect_emitted();
    CHECK(again.seq == h.iss() + 1 + 200);
    CHECK(h.stats.retrans_segs == 1);
}

TEST_CASE("RFC 9293 §3.8.3: data retransmissions end in a timeout after data_retries", "[tcp][established][timer]") {
    harness h;
    h.cfg.data_retries = 2;
    h.cfg.rto.max_ms = 1000;
    h.to_established();
    auto x = h.ctx();
    h.c.send(10, x);
    for (int i = 0; i < 10 && h.c.current() != state::closed; ++i) h.fire(1000);
    REQUIRE(h.c.current() == state::closed);
    CHECK(h.out.events.back().reason == close_reason::timeout);
    CHECK(h.stats.abort_on_timeout == 1);
}

TEST_CASE("RFC 9293 §3.8.6.1: a zero window is probed by the persist timer", "[tcp][established][timer]") {
    harness h;
    h.to_syn_received();
    segment a = h.peer(f::ack);
    a.window = 0;
    h.deliver(a);
    h.clear();
    auto x = h.ctx();
    h.c.send(100, x);
    h.expect_nothing(); // the window is closed
    h.fire(h.c.rto_ms(h.ctx()));
    const auto probe = h.expect_emitted();
    CHECK(probe.payload_len == 1);
    CHECK(h.stats.zero_window_probes == 1);
    // The window opens: data flows.
    segment open = h.peer(f::ack);
    open.window = 1000;
    h.deliver(open);
    CHECK_FALSE(h.out.sent.empty());
}

TEST_CASE("ESTABLISHED: a peer's FIN moves to CLOSE-WAIT and is ACKed at once", "[tcp][established]") {
    harness h;
    h.to_established();
    h.deliver(h.peer(f::fin | f::ack, 1, hundred));
    CHECK(h.c.current() == state::close_wait);
    h.expect_event(event_type::data);
    h.expect_event(event_type::peer_closed);
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 102});
}

TEST_CASE("RFC 9293 §3.10.5: ABORT in ESTABLISHED sends RST at SND.NXT", "[tcp][established]") {
    harness h;
    h.to_established();
    auto x = h.ctx();
    h.c.abort(x);
    const auto rst = h.expect_emitted();
    CHECK(rst.flags == tcp_flags{f::rst});
    CHECK(rst.seq == h.c.snd_nxt());
    CHECK(h.c.current() == state::closed);
    CHECK(h.expect_event(event_type::closed).reason == close_reason::aborted);
}

// --- FIN-WAIT-1 ----------------------------------------------------------------------

TEST_CASE("FIN-WAIT-1: CLOSE sends a FIN after the queued data", "[tcp][fin_wait_1]") {
    harness h;
    h.to_established();
    auto x = h.ctx();
    h.c.send(100, x);
    h.c.close(x);
    CHECK(h.c.current() == state::fin_wait_1);
    REQUIRE(h.out.sent.size() == 2);
    CHECK(h.out.sent[1].flags.has(f::fin));
    CHECK(h.out.sent[1].seq == h.iss() + 101);
}

TEST_CASE("FIN-WAIT-1: the ACK of our FIN moves to FIN-WAIT-2", "[tcp][fin_wait_1]") {
    harness h;
    h.to_fin_wait_1();
    h.deliver(h.peer(f::ack));
    CHECK(h.c.current() == state::fin_wait_2);
}

TEST_CASE("FIN-WAIT-1: FIN and ACK of our FIN in one segment go straight to TIME-WAIT", "[tcp][fin_wait_1]") {
    harness h;
    h.to_fin_wait_1();
    h.deliver(h.peer(f::fin | f::ack));
    CHECK(h.c.current() == state::time_wait);
    h.expect_event(event_type::peer_closed);
    h.expect_event(event_type::time_wait);
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 2});
}

TEST_CASE("FIN-WAIT-1: the FIN is retransmitted on RTO", "[tcp][fin_wait_1][timer]") {
    harness h;
    h.to_fin_wait_1();
    h.fire(h.c.rto_ms(h.ctx()));
    CHECK(h.expect_emitted().flags == tcp_flags{f::fin | f::ack});
}

// --- FIN-WAIT-2 ----------------------------------------------------------------------

TEST_CASE("FIN-WAIT-2: after shutdown the connection keeps receiving (half-close)", "[tcp][fin_wait_2]") {
    harness h;
    h.to_established();
    auto x = h.ctx();
    h.c.shutdown(x);
    h.deliver(h.peer(f::ack));
    REQUIRE(h.c.current() == state::fin_wait_2);
    h.clear();
    h.deliver(h.peer(f::ack, 1, hundred));
    CHECK(h.expect_event(event_type::data).bytes == 100);
    CHECK(h.c.deadline_close(h.now) == connection::never); // no FIN-WAIT-2 timeout after shutdown
}

TEST_CASE("FIN-WAIT-2: the peer's FIN moves to TIME-WAIT", "[tcp][fin_wait_2]") {
    harness h;
    h.to_fin_wait_2();
    h.deliver(h.peer(f::fin | f::ack));
    CHECK(h.c.current() == state::time_wait);
    CHECK(h.stats.time_waits == 1);
}

TEST_CASE("FIN-WAIT-2: a closed connection times out after fin_wait_2_timeout", "[tcp][fin_wait_2][timer]") {
    harness h;
    h.cfg.fin_wait_2_timeout_ms = 5000;
    h.to_fin_wait_2();
    h.advance(4999);
    CHECK(h.c.current() == state::fin_wait_2);
    h.fire(1, 5000);
    CHECK(h.c.current() == state::closed);
    CHECK(h.out.events.back().reason == close_reason::timeout);
}

TEST_CASE("RFC 1122 §4.2.2.13: data after CLOSE is answered with RST", "[tcp][fin_wait_2]") {
    harness h;
    h.to_fin_wait_2();
    h.deliver(h.peer(f::ack, 1, hundred));
    CHECK(h.expect_emitted().flags == tcp_flags{f::rst});
    CHECK(h.c.current() == state::closed);
    CHECK(h.stats.abort_on_data == 1);
}

// --- CLOSE-WAIT ----------------------------------------------------------------------

TEST_CASE("CLOSE-WAIT: we keep sending after the peer's FIN", "[tcp][close_wait]") {
    harness h;
    h.to_close_wait();
    auto x = h.ctx();
    CHECK(h.c.send(200, x) == 200);
    CHECK(h.expect_emitted().payload_len == 200);
}

TEST_CASE("CLOSE-WAIT: CLOSE sends our FIN and moves to LAST-ACK", "[tcp][close_wait]") {
    harness h;
    h.to_close_wait();
    auto x = h.ctx();
    h.c.close(x);
    CHECK(h.c.current() == state::last_ack);
    CHECK(h.expect_emitted().flags == tcp_flags{f::fin | f::ack});
}

TEST_CASE("CLOSE-WAIT: text after the peer's FIN is ignored", "[tcp][close_wait]") {
    harness h;
    h.to_close_wait();
    h.deliver(h.peer(f::ack, 2, hundred));
    CHECK(h.out.events.empty());
    CHECK(h.stats.dropped[static_cast<std::size_t>(drop::ack_after_close)] == 1);
}

TEST_CASE("CLOSE-WAIT: a retransmitted FIN is ACKed again", "[tcp][close_wait]") {
    harness h;
    h.to_close_wait();
    h.deliver(h.peer(f::fin | f::ack));
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 2});
    CHECK(h.c.current() == state::close_wait);
}

// --- CLOSING -------------------------------------------------------------------------

TEST_CASE("CLOSING: the ACK of our FIN moves to TIME-WAIT", "[tcp][closing]") {
    harness h;
    h.to_closing();
    h.deliver(h.peer(f::ack, 2));
    CHECK(h.c.current() == state::time_wait);
}

TEST_CASE("CLOSING: an ACK that does not cover our FIN changes nothing", "[tcp][closing]") {
    harness h;
    h.to_closing();
    segment s = h.peer(f::ack, 2);
    s.ack = h.c.snd_nxt() - 1;
    h.deliver(s);
    CHECK(h.c.current() == state::closing);
}

TEST_CASE("CLOSING: a RST at RCV.NXT closes it", "[tcp][closing]") {
    harness h;
    h.to_closing();
    h.deliver(h.peer(f::rst, 2));
    CHECK(h.c.current() == state::closed);
}

// --- LAST-ACK ------------------------------------------------------------------------

TEST_CASE("LAST-ACK: the ACK of our FIN closes the connection normally", "[tcp][last_ack]") {
    harness h;
    h.to_last_ack();
    h.deliver(h.peer(f::ack, 2));
    CHECK(h.c.current() == state::closed);
    CHECK(h.expect_event(event_type::closed).reason == close_reason::normal);
    CHECK(h.wheel.size() == 0);
}

TEST_CASE("LAST-ACK: the FIN is retransmitted until ACKed", "[tcp][last_ack][timer]") {
    harness h;
    h.to_last_ack();
    h.fire(h.c.rto_ms(h.ctx()));
    CHECK(h.expect_emitted().flags == tcp_flags{f::fin | f::ack});
}

TEST_CASE("LAST-ACK: an old ACK keeps it waiting", "[tcp][last_ack]") {
    harness h;
    h.to_last_ack();
    segment s = h.peer(f::ack, 2);
    s.ack = h.c.snd_nxt() - 1;
    h.deliver(s);
    CHECK(h.c.current() == state::last_ack);
}

// --- TIME-WAIT -----------------------------------------------------------------------

TEST_CASE("TIME-WAIT: it ends after 2*MSL", "[tcp][time_wait][timer]") {
    harness h;
    h.cfg.msl_ms = 1000;
    h.to_time_wait();
    h.advance(1999);
    CHECK(h.c.current() == state::time_wait);
    h.fire(1, 2000);
    CHECK(h.c.current() == state::closed);
    CHECK(h.out.events.back().reason == close_reason::normal);
    CHECK(h.wheel.size() == 0);
}

TEST_CASE("RFC 9293 §3.10.7.4: a retransmitted FIN in TIME-WAIT is ACKed and restarts 2*MSL",
          "[tcp][time_wait][timer]") {
    harness h;
    h.cfg.msl_ms = 1000;
    h.to_time_wait();
    h.advance(1500);
    h.deliver(h.peer(f::fin | f::ack, 1));
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 2});
    h.advance(1999);
    CHECK(h.c.current() == state::time_wait);
    h.fire(1, 2000);
    CHECK(h.c.current() == state::closed);
}

TEST_CASE("RFC 1337: a RST does not end TIME-WAIT", "[tcp][time_wait]") {
    harness h;
    h.to_time_wait();
    h.deliver(h.peer(f::rst, 2));
    CHECK(h.c.current() == state::time_wait);
}

// --- options -------------------------------------------------------------------------

TEST_CASE("RFC 9293 §3.7.1 MUST-15: without an MSS option the peer's MSS is 536", "[tcp][options]") {
    harness h;
    segment syn = h.peer_syn();
    syn.options.mss.reset();
    auto x = h.ctx();
    h.c.open_passive(local_view, syn, x);
    CHECK(h.c.mss() == 536);
}

TEST_CASE("RFC 7323 §2: window scaling applies only when both SYNs carry it", "[tcp][options]") {
    harness h;
    h.cfg.receive_buffer = 1 << 20;
    segment syn = h.peer_syn();
    syn.options.window_scale = 7;
    auto x = h.ctx();
    h.c.open_passive(local_view, syn, x);
    const auto sa = h.expect_emitted();
    REQUIRE(sa.options.window_scale);
    CHECK(*sa.options.window_scale == 5); // 1 MiB >> 5 fits in 16 bits
    CHECK(h.c.snd_wscale() == 7);
    h.deliver(segment{.seq = seq32{peer_iss + 1}, .ack = h.iss() + 1, .flags = tcp_flags{f::ack}, .window = 10});
    CHECK(h.c.snd_wnd() == 10u << 7);

    harness no;
    no.cfg.receive_buffer = 1 << 20;
    auto y = no.ctx();
    no.c.open_passive(local_view, no.peer_syn(), y);
    CHECK(no.c.rcv_wscale() == 0);
    CHECK(no.c.rcv_wnd(no.cfg) == 65535);
}

TEST_CASE("RFC 7323 §5.3: PAWS drops a segment whose timestamp is older than TS.Recent", "[tcp][options]") {
    harness h;
    segment syn = h.peer_syn();
    syn.options.has_timestamp = true;
    syn.options.ts_val = 5000;
    auto x = h.ctx();
    h.c.open_passive(local_view, syn, x);
    CHECK(h.expect_emitted().options.ts_ecr == 5000);
    segment ack = h.peer(f::ack);
    ack.options.has_timestamp = true;
    ack.options.ts_val = 5001;
    h.deliver(ack);
    REQUIRE(h.c.current() == state::established);
    CHECK(h.c.ts_recent() == 5001);
    h.clear();
    segment old = h.peer(f::ack, 1, hundred);
    old.options.has_timestamp = true;
    old.options.ts_val = 4000;
    h.deliver(old);
    CHECK(h.stats.paws_rejected == 1);
    CHECK(h.out.events.empty());
    CHECK(h.expect_emitted().flags == tcp_flags{f::ack});
}

TEST_CASE("RFC 2018 §2: SACK is permitted only when both SYNs say so, and can be turned off", "[tcp][options]") {
    harness h;
    segment syn = h.peer_syn();
    syn.options.sack_permitted = true;
    auto x = h.ctx();
    h.c.open_passive(local_view, syn, x);
    CHECK(h.c.sack_permitted());
    CHECK(h.expect_emitted().options.sack_permitted);

    harness off;
    off.cfg.sack = false;
    auto y = off.ctx();
    off.c.open_passive(local_view, syn, y);
    CHECK_FALSE(off.c.sack_permitted());
    CHECK_FALSE(off.expect_emitted().options.sack_permitted);
}

TEST_CASE("RFC 9293 MUST-40: the delayed ACK never waits more than 500 ms", "[tcp][options][timer]") {
    harness h;
    h.cfg.delayed_ack_ms = 2000;
    h.to_established();
    h.deliver(h.peer(f::ack, 1, hundred));
    h.fire(500);
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 101});
}

TEST_CASE("RFC 1122 §4.2.2.13: old data with a new FIN after CLOSE is a normal close, not a reset",
          "[tcp][fin_wait_1]") {
    // Found by the simulation (seed 22, 5% loss): the peer's data+FIN retransmitted
    // after our ACK of the data was lost.
    harness h;
    h.to_established();
    h.deliver(h.peer(f::ack, 1, hundred));
    auto x = h.ctx();
    h.c.close(x);
    REQUIRE(h.c.current() == state::fin_wait_1);
    h.clear();
    segment again = h.peer(f::ack | f::fin, 1, hundred);
    again.ack = h.c.snd_nxt() - 1; // does not cover our FIN yet
    h.deliver(again);
    CHECK(h.c.current() == state::closing);
    CHECK(h.stats.abort_on_data == 0);
    REQUIRE_FALSE(h.out.sent.empty());
    for (const auto &s : h.out.sent) CHECK(s.flags == tcp_flags{f::ack}); // no RST
    CHECK(h.out.sent.back().ack == seq32{peer_iss + 102});
}

TEST_CASE("RFC 1122 §4.2.3.6: keepalive probes only an idle connection", "[tcp][established][timer]") {
    // Found by the simulation (seed 269, 20% loss): probes during retransmission
    // backoff fell in the peer's hole, went unanswered, and killed a live connection.
    harness h;
    h.cfg.keepalive = true;
    h.cfg.keepalive_idle_ms = 1000;
    h.cfg.keepalive_interval_ms = 100;
    h.cfg.keepalive_probes = 2;
    h.cfg.data_retries = 15;
    h.to_established();
    h.deliver(h.peer(f::ack)); // arms the idle timer
    auto x = h.ctx();
    h.c.send(10, x);
    h.clear();
    for (int i = 0; i < 40; ++i) h.advance(100);
    for (const auto &s : h.out.sent) CHECK(s.payload_len == 10); // retransmissions only, no probes
    CHECK(h.c.current() == state::established);
    CHECK(h.stats.keepalive_probes == 0);

    // Idle: probes go out at SND.NXT-1 and, unanswered, end the connection.
    harness idle;
    idle.cfg.keepalive = true;
    idle.cfg.keepalive_idle_ms = 1000;
    idle.cfg.keepalive_interval_ms = 100;
    idle.cfg.keepalive_probes = 2;
    idle.to_established();
    idle.deliver(idle.peer(f::ack));
    idle.clear();
    idle.fire(1000);
    const auto probe = idle.expect_emitted();
    CHECK(probe.seq == idle.c.snd_nxt() - 1);
    CHECK(probe.payload_len == 0);
    for (int i = 0; i < 10 && idle.c.current() != state::closed; ++i) idle.advance(100);
    CHECK(idle.c.current() == state::closed);
    CHECK(idle.out.events.back().reason == close_reason::timeout);
}

TEST_CASE("RFC 9293 §3.5 Figure 8: an old duplicate SYN is refused and the real one connects",
          "[tcp][syn_sent][syn_received]") {
    // A opens actively; an old duplicate SYN of an earlier incarnation reaches B first.
    harness a; // the client
    harness b; // the server, LISTEN
    auto ax = a.ctx();
    a.c.open_active(local_view.reversed(), ax);
    const out_segment real_syn = a.expect_emitted();

    segment old_syn{.seq = real_syn.seq - 10, .flags = tcp_flags{f::syn}, .window = 1000};
    auto bx = b.ctx();
    b.c.open_passive(local_view, old_syn, bx);
    const out_segment sa = b.expect_emitted(); // SYN-ACK acknowledging the old SYN

    // A, in SYN-SENT, finds an ACK of something it never sent: <SEQ=SEG.ACK><CTL=RST>.
    a.deliver(segment{.seq = sa.seq, .ack = sa.ack, .flags = sa.flags, .window = sa.window, .options = sa.options});
    const out_segment rst = a.expect_emitted();
    CHECK(rst.flags == tcp_flags{f::rst});
    CHECK(a.c.current() == state::syn_sent);

    // B takes the RST (at exactly RCV.NXT) and returns to LISTEN (MUST-11).
    b.deliver(segment{.seq = rst.seq, .flags = rst.flags});
    CHECK(b.c.current() == state::closed);
    CHECK(b.expect_event(event_type::closed).reason == close_reason::reset);

    // The real SYN then opens a fresh connection at B, and the handshake completes.
    harness b2;
    auto b2x = b2.ctx();
    segment syn{.seq = real_syn.seq, .flags = real_syn.flags, .window = real_syn.window, .options = real_syn.options};
    b2.c.open_passive(local_view, syn, b2x);
    const out_segment sa2 = b2.expect_emitted();
    a.deliver(segment{.seq = sa2.seq, .ack = sa2.ack, .flags = sa2.flags, .window = sa2.window, .options = sa2.options});
    CHECK(a.c.current() == state::established);
    const out_segment ack = a.expect_emitted();
    b2.deliver(segment{.seq = ack.seq, .ack = ack.ack, .flags = ack.flags, .window = ack.window, .options = ack.options});
    CHECK(b2.c.current() == state::established);
}

// --- out-of-order data ---------------------------------------------------------------

namespace {
std::vector<std::uint8_t> bytes_from(std::uint8_t start, std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(start + i);
    return v;
}
} // namespace

TEST_CASE("RFC 9293 §3.10.7.4 seventh: data beyond a hole is kept and delivered in order when it fills",
          "[tcp][established][reassembly]") {
    harness h;
    h.to_established();
    const auto first = bytes_from(0, 100);
    const auto second = bytes_from(100, 100);
    const auto third = bytes_from(200, 50);
    h.deliver(h.peer(f::ack, 201, third));  // two holes ahead of it
    h.deliver(h.peer(f::ack, 101, second));
    CHECK(h.out.events.empty());
    CHECK(h.stats.ofo_queue == 2);
    CHECK(h.out.sent.size() == 2); // an immediate duplicate ACK for each (RFC 5681 §4.2)
    for (const auto &s : h.out.sent) CHECK(s.ack == seq32{peer_iss + 1});
    h.clear();

    h.deliver(h.peer(f::ack, 1, first)); // the hole fills
    std::vector<std::uint8_t> got;
    while (!h.out.events.empty()) {
        const auto e = h.expect_event(event_type::data);
        got.insert(got.end(), e.data.begin(), e.data.end());
    }
    CHECK(got == bytes_from(0, 250));
    CHECK(h.c.rcv_nxt() == seq32{peer_iss + 251});
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 251}); // at once when a gap fills
    CHECK(h.out.holding() == 0);
}

TEST_CASE("RFC 2018 §4: the duplicate ACK reports held data as SACK blocks", "[tcp][established][reassembly]") {
    harness h;
    h.to_established_with_sack();
    h.deliver(h.peer(f::ack, 101, bytes_from(0, 100)));
    const auto ack = h.expect_emitted();
    REQUIRE(ack.options.sack_count == 1);
    CHECK(ack.options.sack[0].left == seq32{peer_iss + 101});
    CHECK(ack.options.sack[0].right == seq32{peer_iss + 201});
}

TEST_CASE("reassembly: held data is given back when the connection ends", "[tcp][established][reassembly]") {
    harness h;
    h.to_established();
    h.deliver(h.peer(f::ack, 101, bytes_from(0, 100)));
    h.deliver(h.peer(f::ack, 301, bytes_from(0, 100)));
    CHECK(h.out.holding() == 2);
    h.deliver(h.peer(f::rst));
    CHECK(h.c.current() == state::closed);
    CHECK(h.out.holding() == 0);
    CHECK_FALSE(h.out.queue_taken);
}

TEST_CASE("reassembly: when the owner cannot hold data the segment is dropped and counted",
          "[tcp][established][reassembly]") {
    harness h;
    h.out.can_hold = false;
    h.to_established();
    h.deliver(h.peer(f::ack, 101, bytes_from(0, 100)));
    CHECK(h.stats.dropped[static_cast<std::size_t>(drop::ooo_queue_full)] == 1);
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 1});
    CHECK(h.out.events.empty());
}

TEST_CASE("RFC 6298 §5.7: after a SYN timed out without an RTT sample, data starts with a 3 s RTO",
          "[tcp][syn_sent][timer]") {
    harness h;
    h.cfg.timestamps = false;
    h.to_syn_sent();
    h.fire(1000); // the SYN times out once
    h.clear();
    // Karn: the SYN-ACK of a retransmitted SYN gives no sample.
    h.deliver(segment{.seq = seq32{peer_iss}, .ack = h.iss() + 1, .flags = tcp_flags{f::syn | f::ack},
                      .window = 5000});
    REQUIRE(h.c.current() == state::established);
    CHECK_FALSE(h.c.rto().has_sample());
    CHECK(h.c.rto_ms(h.ctx()) == 3000);

    harness quick; // no timeout: the handshake's sample sets the RTO
    quick.to_syn_sent();
    quick.advance(50);
    quick.deliver(segment{.seq = seq32{peer_iss}, .ack = quick.iss() + 1,
                          .flags = tcp_flags{f::syn | f::ack}, .window = 5000});
    CHECK(quick.c.rto().has_sample());
    CHECK(quick.c.rto_ms(quick.ctx()) < 1000);
}

TEST_CASE("RFC 6298 §3: without timestamps the handshake and then one segment at a time are timed (Karn)",
          "[tcp][established][timer]") {
    // The timing words are shared with the timestamp variables (connection.hpp, row 3):
    // the SYN-ACK's send tick, then the timed segment's, must come through unharmed.
    harness h; // the peer's SYN offers no timestamps
    h.to_syn_received();
    h.advance(40);
    h.deliver(h.peer(f::ack)); // acknowledges the SYN-ACK sent 40 ms ago
    REQUIRE(h.c.current() == state::established);
    REQUIRE_FALSE(h.c.timestamps());
    CHECK(h.c.rto().srtt_ms() == 40);
    auto x = h.ctx();
    h.c.send(100, x);
    h.clear();
    h.advance(80);
    h.deliver(h.peer(f::ack)); // acknowledges the 100 bytes sent 80 ms ago
    CHECK(h.c.rto().srtt_eighths_ms() == (7 * 40 * 8 + 80 * 8 + 4) / 8); // RFC 6298 §2.3
    CHECK(h.c.ts_recent() == 0);
    CHECK(h.c.ts_offset() == 0);
}

TEST_CASE("reassembly: a FIN beyond a hole is ACKed at once and taken when the hole fills",
          "[tcp][established][reassembly]") {
    // Found by the simulation: an out-of-order FIN used to be forgotten, leaving the
    // peer to retransmit it after a full RTO.
    harness h;
    h.to_established();
    const auto data = bytes_from(0, 100);
    h.deliver(h.peer(f::fin | f::ack, 101)); // the FIN overtakes 100 bytes
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 1}); // duplicate ACK (RFC 5681 §4.2)
    CHECK(h.c.current() == state::established);
    h.deliver(h.peer(f::ack, 1, data)); // the hole fills
    CHECK(h.expect_event(event_type::data).bytes == 100);
    h.expect_event(event_type::peer_closed);
    CHECK(h.c.current() == state::close_wait);
    CHECK(h.c.rcv_nxt() == seq32{peer_iss + 102});
    CHECK(h.out.sent.back().ack == seq32{peer_iss + 102});
}

TEST_CASE("reassembly: data carrying a FIN beyond a hole is delivered and closes in order",
          "[tcp][established][reassembly]") {
    harness h;
    h.to_established();
    h.deliver(h.peer(f::fin | f::ack, 101, bytes_from(100, 50)));
    CHECK(h.out.events.empty());
    h.deliver(h.peer(f::ack, 1, bytes_from(0, 100)));
    std::vector<std::uint8_t> got;
    while (!h.out.events.empty() && h.out.events.front().type == event_type::data) {
        const auto e = h.expect_event(event_type::data);
        got.insert(got.end(), e.data.begin(), e.data.end());
    }
    CHECK(got == bytes_from(0, 150));
    h.expect_event(event_type::peer_closed);
    CHECK(h.c.current() == state::close_wait);
    CHECK(h.c.rcv_nxt() == seq32{peer_iss + 152});
    CHECK(h.out.holding() == 0);
}

// Found by tests/fuzz/fuzz_rx: the held bytes outlived the FIN, and the FIN's ACK still
// reported them in a SACK block starting at its own acknowledgment number.
TEST_CASE("RFC 2018 §4: bytes held beyond the peer's FIN are dropped when it is taken, and no SACK block reports them",
          "[tcp][fin_wait_2][reassembly]") {
    harness h;
    h.to_established_with_sack();
    auto y = h.ctx();
    h.c.shutdown(y); // FIN-WAIT-1, still reading
    h.deliver(h.peer(f::ack));
    REQUIRE(h.c.current() == state::fin_wait_2);
    h.clear();

    h.deliver(h.peer(f::psh | f::ack, 2, bytes_from(0, 18))); // one byte beyond RCV.NXT: held
    REQUIRE(h.expect_emitted().options.sack_count == 1);
    CHECK(h.out.holding() == 1);
    h.deliver(h.peer(f::fin | f::ack, 1)); // the FIN takes the byte the held ones follow
    const auto ack = h.expect_emitted();
    CHECK(ack.ack == seq32{peer_iss + 2});
    CHECK(ack.options.sack_count == 0);
    CHECK(h.c.current() == state::time_wait);
    CHECK(h.out.holding() == 0);
    CHECK_FALSE(h.out.queue_taken);
}

TEST_CASE("RFC 9293 §3.7.1 MUST-65: the MSS option goes only in SYN segments", "[tcp][options]") {
    harness h;
    auto x = h.ctx();
    h.c.open_active(local_view, x);
    CHECK(h.expect_emitted().options.mss.has_value());
    h.deliver(segment{.seq = seq32{peer_iss}, .ack = h.iss() + 1, .flags = tcp_flags{f::syn | f::ack},
                      .window = 60000});
    auto y = h.ctx();
    h.c.send(3000, y);
    auto z = h.ctx();
    h.c.close(z);
    REQUIRE(h.out.sent.size() >= 4); // ACK, data, FIN
    for (const auto &s : h.out.sent) CHECK_FALSE(s.options.mss.has_value());
}

TEST_CASE("RFC 9293 §3.10.2: SEND takes what the buffer holds and signals writable when room returns",
          "[tcp][established]") {
    harness h;
    h.cfg.send_buffer = 4000;
    h.to_established();
    auto x = h.ctx();
    CHECK(h.c.send(10000, x) == 4000);
    CHECK(h.c.send(1, x) == 0);
    h.clear();
    segment ack = h.peer(f::ack);
    ack.ack = h.iss() + 1 + 2920;
    h.deliver(ack);
    CHECK(h.expect_event(event_type::acked).bytes == 2920);
    h.expect_event(event_type::writable);
    auto y = h.ctx();
    CHECK(h.c.send(10000, y) == 2920);
}

TEST_CASE("RFC 9293 §3.7.1: SACK blocks never push a data segment past the MSS", "[tcp][established][reassembly]") {
    harness h;
    h.to_established_with_timestamps(1, true);
    // Data held out of order: every ACK we send now has SACK blocks to report. The
    // segment only points at its payload, so the bytes must outlive it.
    const auto held = bytes_from(0, 100);
    segment ooo = h.peer(f::ack, 101, held);
    ooo.options.has_timestamp = true;
    ooo.options.ts_val = 3;
    h.deliver(ooo);
    REQUIRE_FALSE(h.out.sent.empty());
    CHECK(h.out.sent.back().options.sack_count == 1);
    h.clear();
    auto y = h.ctx();
    REQUIRE(h.c.send(3000, y) == 3000);
    std::size_t full = 0, small = 0;
    while (!h.out.sent.empty()) {
        const out_segment s = h.out.sent.front();
        h.out.sent.pop_front();
        // 1460 from the peer's MSS, less the timestamp: the room for data and SACK.
        CHECK(s.payload_len + (s.options.sack_count ? 4 + 8u * s.options.sack_count : 0) <= 1448);
        (s.payload_len == 1448 ? full : small) += 1;
        if (s.payload_len == 1448) CHECK(s.options.sack_count == 0);
    }
    CHECK(full == 2);
    CHECK(small == 1); // 104 bytes: room for the block
}
