// LISTEN (RFC 9293 §3.10.7.2, bounded SYN and accept queues) and the TIME-WAIT entry
// (RFC 9293 §3.10.7.4, RFC 1337, RFC 6191).
#include "harness.hpp"

#include <linerate/tcp/listener.hpp>
#include <linerate/tcp/time_wait.hpp>

using namespace linerate;
using namespace linerate::tcp;
using namespace linerate::tcp::test;

namespace {
listener make(std::uint32_t syn_backlog = 4, std::uint32_t accept_backlog = 4) {
    return listener(ipv4_addr::from_octets(198, 18, 0, 2), 80, syn_backlog, accept_backlog);
}
} // namespace

TEST_CASE("RFC 9293 §3.10.7.2: LISTEN ignores a RST", "[tcp][listen]") {
    counters st;
    auto l = make();
    CHECK(l.on_segment(segment{.flags = tcp_flags{f::rst}}, st) == listener::verdict::drop);
    CHECK(st.dropped[static_cast<std::size_t>(drop::listen_rst)] == 1);
}

TEST_CASE("RFC 9293 §3.10.7.2: LISTEN answers an ACK with <SEQ=SEG.ACK><CTL=RST>", "[tcp][listen]") {
    counters st;
    auto l = make();
    const segment ack{.seq = seq32{9}, .ack = seq32{12345}, .flags = tcp_flags{f::ack}};
    REQUIRE(l.on_segment(ack, st) == listener::verdict::reset);
    const auto r = reset_for_unknown(ack);
    REQUIRE(r);
    CHECK(r->seq == seq32{12345});
    CHECK(r->flags == tcp_flags{f::rst});
}

TEST_CASE("RFC 9293 §3.10.7.2: LISTEN opens on a SYN and drops other segments", "[tcp][listen]") {
    counters st;
    auto l = make();
    CHECK(l.on_segment(segment{.flags = tcp_flags{f::syn}}, st) == listener::verdict::open);
    CHECK(l.half_open() == 1);
    CHECK(l.on_segment(segment{.flags = tcp_flags{f::fin}}, st) == listener::verdict::drop);
    CHECK(st.dropped[static_cast<std::size_t>(drop::listen_no_syn)] == 1);
}

TEST_CASE("LISTEN: a full SYN queue drops the SYN and counts ListenOverflows", "[tcp][listen]") {
    counters st;
    auto l = make(2, 8);
    const segment syn{.flags = tcp_flags{f::syn}};
    CHECK(l.on_segment(syn, st) == listener::verdict::open);
    CHECK(l.on_segment(syn, st) == listener::verdict::open);
    CHECK(l.on_segment(syn, st) == listener::verdict::drop);
    CHECK(st.listen_overflows == 1);
    l.half_open_closed(); // one half-open connection gave up
    CHECK(l.on_segment(syn, st) == listener::verdict::open);
}

TEST_CASE("LISTEN: a full accept queue drops new SYNs until the application accepts", "[tcp][listen]") {
    counters st;
    auto l = make(8, 1);
    const segment syn{.flags = tcp_flags{f::syn}};
    REQUIRE(l.on_segment(syn, st) == listener::verdict::open);
    l.half_open_established();
    CHECK(l.pending_accept() == 1);
    CHECK(l.on_segment(syn, st) == listener::verdict::drop);
    l.accepted();
    CHECK(l.on_segment(syn, st) == listener::verdict::open);
}

TEST_CASE("LISTEN: a wildcard address matches every local address, a port only its own", "[tcp][listen]") {
    const listener any(ipv4_addr{0}, 80, 1, 1);
    CHECK(any.matches(ipv4_addr::from_octets(198, 18, 0, 2), 80));
    CHECK(any.matches(ipv4_addr::from_octets(198, 19, 1, 1), 80));
    CHECK_FALSE(any.matches(ipv4_addr::from_octets(198, 18, 0, 2), 81));
    const auto one = make();
    CHECK_FALSE(one.matches(ipv4_addr::from_octets(198, 18, 0, 3), 80));
}

namespace {

// A connection taken to TIME-WAIT and handed over to the state its owner keeps.
struct tw_fixture : harness {
    time_wait_state tw;
    std::uint16_t window = 0; // what the connection advertised
    explicit tw_fixture(bool timestamps) {
        cfg.msl_ms = 1000;
        if (timestamps) {
            segment syn = peer_syn();
            syn.options.has_timestamp = true;
            syn.options.ts_val = 100;
            auto x = ctx();
            c.open_passive(local_view, syn, x);
            segment ack = peer(f::ack);
            ack.options.has_timestamp = true;
            ack.options.ts_val = 101;
            deliver(ack);
            auto y = ctx();
            c.close(y);
            segment fin = peer(f::fin | f::ack);
            fin.options.has_timestamp = true;
            fin.options.ts_val = 102;
            deliver(fin);
        } else {
            to_time_wait();
        }
        REQUIRE(c.current() == state::time_wait);
        clear();
        window = c.advertised_window(cfg);
        auto x = ctx();
        c.hand_over(tw, x);
        CHECK(c.current() == state::closed);
        CHECK(expect_event(event_type::closed).reason == close_reason::normal);
        clear();
    }
    time_wait_verdict deliver_tw(const segment &s) {
        auto x = ctx();
        return time_wait_input(tw, s, x);
    }
    segment peer_at(std::uint8_t flags, std::uint32_t offset) const {
        return segment{.seq = seq32{peer_iss} + offset, .ack = tw.snd_nxt, .flags = tcp_flags{flags}, .window = 100};
    }
};

} // namespace

TEST_CASE("TIME-WAIT state: the hand-over keeps the numbers and leaves no timer (the owner's log times it)",
          "[tcp][time_wait]") {
    tw_fixture h(false);
    CHECK(h.tw.tuple == local_view);
    CHECK(h.tw.rcv_nxt == seq32{peer_iss + 2});
    CHECK(h.tw.snd_nxt == h.c.snd_nxt());
    CHECK(h.tw.window == h.window);
    CHECK_FALSE(h.tw.ts_ok);
    CHECK(h.wheel.size() == 0); // the connection's timer is cancelled, and TIME-WAIT has none
}

TEST_CASE("RFC 9293 §3.10.7.4: after the hand-over a retransmitted FIN is ACKed and restarts 2*MSL",
          "[tcp][time_wait][timer]") {
    tw_fixture h(false);
    h.advance(1500);
    // The verdict tells the owner to start 2*MSL over (flow::shard appends a fresh
    // record; its test checks the timing).
    CHECK(h.deliver_tw(h.peer_at(f::fin | f::ack, 1)) == time_wait_verdict::restart);
    const auto ack = h.expect_emitted();
    CHECK(ack.flags == tcp_flags{f::ack});
    CHECK(ack.ack == seq32{peer_iss + 2});
}

TEST_CASE("TIME-WAIT: the ACK it sends is the connection's: SND.NXT, RCV.NXT, the advertised window, "
          "TSval = now + the pair's RFC 7323 §5.4 offset, TSecr = TS.Recent",
          "[tcp][time_wait]") {
    tw_fixture h(true);
    REQUIRE(h.tw.ts_ok);
    CHECK(h.tw.ts_recent == 102);
    const std::uint32_t offset = h.c.ts_offset();
    h.advance(700);
    segment fin = h.peer_at(f::fin | f::ack, 1);
    fin.options.has_timestamp = true;
    fin.options.ts_val = 103;
    CHECK(h.deliver_tw(fin) == time_wait_verdict::restart);
    const auto ack = h.expect_emitted();
    CHECK(ack.seq == h.c.snd_nxt());
    CHECK(ack.ack == h.c.rcv_nxt());
    CHECK(ack.window == h.window);
    REQUIRE(ack.options.has_timestamp);
    CHECK(ack.options.ts_val == static_cast<std::uint32_t>(h.now.value) + offset);
    CHECK(ack.options.ts_ecr == 102);
}

TEST_CASE("RFC 1337: a RST does not end TIME-WAIT after the hand-over", "[tcp][time_wait]") {
    tw_fixture h(false);
    CHECK(h.deliver_tw(h.peer_at(f::rst, 2)) == time_wait_verdict::keep);
    h.expect_nothing();
    CHECK(h.stats.dropped[static_cast<std::size_t>(drop::time_wait_rst)] == 1);
}

TEST_CASE("RFC 9293 §3.6.1 MAY-2: without timestamps a SYN beyond the old sequence reopens TIME-WAIT",
          "[tcp][time_wait]") {
    tw_fixture h(false);
    CHECK(h.deliver_tw(h.peer_at(f::syn, 100000)) == time_wait_verdict::reopen);
    CHECK(h.stats.time_wait_recycled == 1);
    // An old duplicate SYN (behind RCV.NXT) does not; it is answered with an ACK.
    tw_fixture old(false);
    CHECK(old.deliver_tw(old.peer_at(f::syn, 0)) == time_wait_verdict::keep);
    CHECK(old.expect_emitted().flags == tcp_flags{f::ack});
}

TEST_CASE("RFC 6191 §2: with timestamps a SYN reopens TIME-WAIT only with a newer timestamp", "[tcp][time_wait]") {
    tw_fixture h(true);
    REQUIRE(h.tw.ts_ok);
    segment syn = h.peer_at(f::syn, 0); // even a lower sequence number: the timestamp decides
    syn.options.has_timestamp = true;
    syn.options.ts_val = 200;
    CHECK(h.deliver_tw(syn) == time_wait_verdict::reopen);

    tw_fixture stale(true);
    segment old = stale.peer_at(f::syn, 100000);
    old.options.has_timestamp = true;
    old.options.ts_val = 50;
    CHECK(stale.deliver_tw(old) == time_wait_verdict::keep);
}

TEST_CASE("TIME-WAIT: a bare ACK is dropped, data is answered with an ACK", "[tcp][time_wait]") {
    tw_fixture h(false);
    CHECK(h.deliver_tw(h.peer_at(f::ack, 2)) == time_wait_verdict::keep);
    h.expect_nothing();
    const std::array<std::uint8_t, 3> data{1, 2, 3};
    segment d = h.peer_at(f::ack, 2);
    d.payload = data;
    h.deliver_tw(d);
    CHECK(h.expect_emitted().ack == seq32{peer_iss + 2});
}

TEST_CASE("RFC 7323 appendix A: TSval keeps growing across connections between two hosts, so RFC 6191 "
          "can reopen TIME-WAIT",
          "[tcp][time_wait]") {
    // Two connections between the same addresses, from different ports, a second apart:
    // their timestamp clocks share one offset, so the later SYN's TSval is the newer,
    // which is what a peer holding the old 4-tuple in TIME-WAIT needs to reopen it.
    harness a;
    auto xa = a.ctx();
    a.c.open_active(local_view, xa);
    REQUIRE(!a.out.sent.empty());
    const std::uint32_t first = a.out.sent.front().options.ts_val;

    harness b;
    b.now = tick{1000};
    four_tuple other = local_view;
    other.local_port = static_cast<std::uint16_t>(local_view.local_port + 1);
    auto xb = b.ctx();
    b.c.open_active(other, xb);
    REQUIRE(!b.out.sent.empty());
    CHECK(b.out.sent.front().options.ts_val - first == 1000u);

    // Another pair of hosts gets another offset: TSval says nothing about the host clock.
    harness c;
    four_tuple elsewhere = local_view;
    elsewhere.remote_ip = ipv4_addr::from_octets(198, 19, 0, 9);
    auto xc = c.ctx();
    c.c.open_active(elsewhere, xc);
    REQUIRE(!c.out.sent.empty());
    CHECK(c.out.sent.front().options.ts_val != first);
}
