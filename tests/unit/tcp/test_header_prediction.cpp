// Header prediction (connection.cpp): the segment a connection expects next takes a
// short path, anything else the full RFC 9293 §3.10.7 path. Each test drives two
// connections through the same exchange, one predicting and one not, and checks which
// path the last segment took (TCPHPHits, TCPHPMisses) and that both ended the same:
// every TCB variable and timer, the segments sent, the events and the counters. The
// simulation does the same for whole runs (tests/sim, "header prediction").
#include "../../support/tcb_diff.hpp"
#include "harness.hpp"

#include <memory>
#include <string>
#include <vector>

using namespace linerate;
using namespace linerate::tcp;
using namespace linerate::tcp::test;

namespace {

const std::array<std::uint8_t, 100> hundred{};

std::string describe(const out_segment &s) {
    std::string d = "seq=" + std::to_string(s.seq.raw()) + " ack=" + std::to_string(s.ack.raw()) +
                    " flags=" + std::to_string(s.flags.bits) + " win=" + std::to_string(s.window) +
                    " len=" + std::to_string(s.payload_len) + " mss=" + std::to_string(s.options.mss.value_or(0)) +
                    " ws=" + std::to_string(s.options.window_scale.value_or(0xff)) +
                    " sackok=" + std::to_string(s.options.sack_permitted) + " ts=" +
                    std::to_string(s.options.has_timestamp) + "/" + std::to_string(s.options.ts_val) + "/" +
                    std::to_string(s.options.ts_ecr) + " sacks=" + std::to_string(s.options.sack_count);
    for (std::size_t i = 0; i < s.options.sack_count; ++i)
        d += " [" + std::to_string(s.options.sack[i].left.raw()) + "," + std::to_string(s.options.sack[i].right.raw()) + ")";
    return d;
}

std::string describe(const recorded_event &e) {
    return std::to_string(static_cast<int>(e.type)) + "/" + std::to_string(static_cast<int>(e.reason)) + "/" +
           std::to_string(e.bytes) + "/" + std::to_string(e.data.size());
}

// Two connections, one predicting: every step is made on both.
struct twin {
    harness on, off;
    twin() { off.cfg.header_prediction = false; }
    // Both in the state a harness fixture reaches.
    explicit twin(void (harness::*to)()) : twin() { both([to](harness &h) { (h.*to)(); }); }

    template <class F> void both(F &&f) {
        f(on);
        f(off);
    }
    // Delivers the segment `make` builds (from each harness's own TCB, which are equal)
    // to both, and checks that they agree afterwards.
    template <class Make> void deliver(Make &&make) {
        hits_before = on.stats.hp_hits;
        misses_before = on.stats.hp_misses;
        both([&](harness &h) { h.deliver(make(h)); });
        expect_same();
    }
    // Which path the predicting connection took for the segment just delivered.
    enum class path : std::uint8_t { short_path, full_path, unclear };
    path deliver_peer(std::uint8_t flags, std::uint32_t seq_offset = 1, std::span<const std::uint8_t> data = {}) {
        deliver([&](harness &h) { return h.peer(flags, seq_offset, data); });
        return predicted() ? path::short_path : fell_to_full_path() ? path::full_path : path::unclear;
    }
    // A bare ACK from the peer with one field changed by `edit`.
    template <class Edit> void deliver_ack_edited(Edit &&edit) {
        deliver([&](harness &h) {
            segment s = h.peer(f::ack);
            edit(h, s);
            return s;
        });
    }
    [[nodiscard]] bool predicted() const {
        return on.stats.hp_hits == hits_before + 1 && on.stats.hp_misses == misses_before;
    }
    [[nodiscard]] bool fell_to_full_path() const {
        return on.stats.hp_hits == hits_before && on.stats.hp_misses == misses_before + 1;
    }

    void expect_same() const {
        const std::string d =
            connection_test_access::differences(on.c, off.c, on.out.held_queue(), off.out.held_queue());
        INFO("TCB differences:" << d);
        CHECK(d.empty());
        std::vector<std::string> a, b;
        for (const auto &s : on.out.sent) a.push_back(describe(s));
        for (const auto &s : off.out.sent) b.push_back(describe(s));
        CHECK(a == b);
        a.clear();
        b.clear();
        for (const auto &e : on.out.events) a.push_back(describe(e));
        for (const auto &e : off.out.events) b.push_back(describe(e));
        CHECK(a == b);
        for (const auto &n : mib_counters) {
            if (n.field == &counters::hp_hits || n.field == &counters::hp_misses) continue;
            INFO(n.name);
            CHECK(on.stats.*n.field == off.stats.*n.field);
        }
        CHECK(on.stats.dropped == off.stats.dropped);
        CHECK(on.stats.in_state == off.stats.in_state);
        CHECK(on.wheel.next_expiry() == off.wheel.next_expiry());
        CHECK(on.wheel.size() == off.wheel.size());
        CHECK(off.stats.hp_hits == 0);
        CHECK(off.stats.hp_misses == 0);
    }

    std::uint64_t hits_before = 0, misses_before = 0;
};

// One segment from the peer, to both connections in a fixture's state, which the
// prediction must leave to the full path.
std::unique_ptr<twin> full_path_for(void (harness::*to)(), std::uint8_t flags, std::uint32_t seq_offset,
                                    std::span<const std::uint8_t> data = {}) {
    auto t = std::make_unique<twin>(to);
    CHECK(t->deliver_peer(flags, seq_offset, data) == twin::path::full_path);
    return t;
}

// Both connections in SYN-RECEIVED with timestamps negotiated (TS.Recent = 5000).
void to_syn_received_with_timestamps(harness &h) {
    segment syn = h.peer_syn();
    syn.options.has_timestamp = true;
    syn.options.ts_val = 5000;
    auto x = h.ctx();
    h.c.open_passive(local_view, syn, x);
    h.clear();
}

segment with_ts(segment s, std::uint32_t ts_val) {
    s.options.has_timestamp = true;
    s.options.ts_val = ts_val;
    return s;
}

} // namespace

TEST_CASE("header prediction: in-order data in ESTABLISHED takes the short path and equals the full path",
          "[tcp][header_prediction][established]") {
    twin t(&harness::to_established);
    CHECK(t.deliver_peer(f::ack | f::psh, 1, hundred) == twin::path::short_path);
    CHECK(t.on.c.rcv_nxt() == seq32{peer_iss + 101});
    // The delayed ACK (RFC 9293 §3.8.6.3) is armed the same way on both.
    CHECK(t.on.c.deadline_delayed_ack(t.on.now) != connection::never);
    t.both([](harness &h) { h.advance(40); });
    t.expect_same();
    CHECK(t.on.stats.delayed_acks == 1);
}

TEST_CASE("header prediction: the ACK of our SYN in SYN-RECEIVED, carrying the request, takes the short path and "
          "equals the full path",
          "[tcp][header_prediction][syn_received]") {
    twin t;
    t.both(to_syn_received_with_timestamps);
    t.deliver([](harness &h) { return with_ts(h.peer(f::ack | f::psh, 1, hundred), 5001); });
    CHECK(t.predicted());
    CHECK(t.on.c.current() == state::established);
    CHECK(t.on.c.ts_recent() == 5001);
    CHECK(t.on.stats.passive_opens == 1);
}

TEST_CASE("header prediction: RFC 6298 §5.2, an ACK of all data in flight takes the short path and stops the "
          "retransmission timer as the full path does",
          "[tcp][header_prediction][established]") {
    twin t;
    t.both([](harness &h) {
        h.to_established();
        auto x = h.ctx();
        h.c.send(300, x);
        h.clear();
    });
    REQUIRE(t.on.c.deadline_retransmit(t.on.now) != connection::never);
    t.both([](harness &h) { h.advance(5); });
    CHECK(t.deliver_peer(f::ack) == twin::path::short_path);
    CHECK(t.on.c.snd_una() == t.on.c.snd_nxt());
    CHECK(t.on.c.deadline_retransmit(t.on.now) == connection::never);
}

TEST_CASE("header prediction: RFC 9293 §3.10.7.4 eighth, data with a FIN in ESTABLISHED moves to CLOSE-WAIT by the "
          "short path",
          "[tcp][header_prediction][established]") {
    twin t(&harness::to_established);
    CHECK(t.deliver_peer(f::ack | f::psh | f::fin, 1, hundred) == twin::path::short_path);
    CHECK(t.on.c.current() == state::close_wait);
    CHECK(t.on.c.rcv_nxt() == seq32{peer_iss + 102});
}

TEST_CASE("header prediction: RFC 9293 §3.10.7.4 eighth, FIN-WAIT-1 taking a FIN that acknowledges ours goes to "
          "TIME-WAIT by the short path",
          "[tcp][header_prediction][fin_wait_1]") {
    twin t(&harness::to_fin_wait_1);
    CHECK(t.deliver_peer(f::fin | f::ack) == twin::path::short_path);
    CHECK(t.on.c.current() == state::time_wait);
}

TEST_CASE("header prediction: FIN-WAIT-1 taking the ACK of our FIN goes to FIN-WAIT-2 by the short path",
          "[tcp][header_prediction][fin_wait_1]") {
    twin t(&harness::to_fin_wait_1);
    CHECK(t.deliver_peer(f::ack) == twin::path::short_path);
    CHECK(t.on.c.current() == state::fin_wait_2);
    CHECK(t.on.c.deadline_close(t.on.now) != connection::never);
}

TEST_CASE("header prediction: LAST-ACK, the ACK of our FIN closes the connection by the short path",
          "[tcp][header_prediction][last_ack]") {
    twin t(&harness::to_last_ack);
    CHECK(t.deliver_peer(f::ack, 2) == twin::path::short_path);
    CHECK(t.on.c.current() == state::closed);
    REQUIRE_FALSE(t.on.out.events.empty());
    CHECK(t.on.out.events.back().type == event_type::closed);
}

TEST_CASE("header prediction: RFC 7323 §5.3, a PAWS-failing segment falls to the full path",
          "[tcp][header_prediction][options]") {
    twin t;
    t.both(to_syn_received_with_timestamps);
    t.deliver([](harness &h) { return with_ts(h.peer(f::ack), 5001); });
    REQUIRE(t.predicted());
    t.deliver([](harness &h) { return with_ts(h.peer(f::ack, 1, hundred), 4000); });
    CHECK(t.fell_to_full_path());
    CHECK(t.on.stats.paws_rejected == 1);
    // A segment without the timestamp both sides agreed on is not the one expected either.
    CHECK(t.deliver_peer(f::ack, 1, hundred) == twin::path::full_path);
}

TEST_CASE("header prediction: RFC 5961 §3.2, a RST is never predicted, even at RCV.NXT",
          "[tcp][header_prediction][established]") {
    const auto t = full_path_for(&harness::to_established, f::rst | f::ack, 1);
    CHECK(t->on.c.current() == state::closed);
}

TEST_CASE("header prediction: RFC 5961 §4, a SYN is never predicted", "[tcp][header_prediction][established]") {
    const auto t = full_path_for(&harness::to_established, f::syn | f::ack, 1);
    CHECK(t->on.stats.challenge_acks == 1);
}

TEST_CASE("header prediction: RFC 9293 §3.10.7.4 sixth, a segment with URG falls to the full path",
          "[tcp][header_prediction][established]") {
    full_path_for(&harness::to_established, f::ack | f::urg, 1, hundred);
}

TEST_CASE("header prediction: RFC 9293 §3.10.7.4 seventh, data beyond a hole falls to the full path, and so does "
          "everything while it is held",
          "[tcp][header_prediction][reassembly]") {
    twin t(&harness::to_established);
    CHECK(t.deliver_peer(f::ack, 101, hundred) == twin::path::full_path);
    // The hole filled, at RCV.NXT: still the full path, which delivers what was held.
    CHECK(t.deliver_peer(f::ack, 1, hundred) == twin::path::full_path);
    CHECK(t.on.c.rcv_nxt() == seq32{peer_iss + 201});
    // Nothing held any more: predicted again.
    CHECK(t.deliver_peer(f::ack, 201, hundred) == twin::path::short_path);
}

TEST_CASE("header prediction: RFC 9293 §3.10.7.4 first, an old (retransmitted) segment falls to the full path",
          "[tcp][header_prediction][established]") {
    twin t(&harness::to_established);
    REQUIRE(t.deliver_peer(f::ack, 1, hundred) == twin::path::short_path);
    CHECK(t.deliver_peer(f::ack, 1, hundred) == twin::path::full_path);
}

TEST_CASE("header prediction: RFC 9293 §3.10.7.4 seventh, data beyond the receive window falls to the full path",
          "[tcp][header_prediction][established]") {
    twin t(&harness::to_established);
    static const std::vector<std::uint8_t> big(70'000);
    REQUIRE(t.on.c.rcv_wnd(t.on.cfg) < big.size());
    CHECK(t.deliver_peer(f::ack, 1, big) == twin::path::full_path);
}

TEST_CASE("header prediction: RFC 1122 §4.2.2.13, new data after CLOSE falls to the full path (and resets)",
          "[tcp][header_prediction][fin_wait_2]") {
    const auto t = full_path_for(&harness::to_fin_wait_2, f::ack, 1, hundred);
    CHECK(t->on.stats.abort_on_data == 1);
}

TEST_CASE("header prediction: RFC 9293 §3.10.7.4 seventh, text in CLOSE-WAIT falls to the full path",
          "[tcp][header_prediction][close_wait]") {
    twin t(&harness::to_close_wait);
    CHECK(t.deliver_peer(f::ack, 2, hundred) == twin::path::full_path);
    // A bare ACK in CLOSE-WAIT is predicted.
    CHECK(t.deliver_peer(f::ack, 2) == twin::path::short_path);
}

TEST_CASE("header prediction: RFC 5961 §5.2, an ACK beyond SND.MAX or below SND.UNA falls to the full path",
          "[tcp][header_prediction][established]") {
    twin t(&harness::to_established);
    t.deliver_ack_edited([](harness &h, segment &s) { s.ack = h.c.snd_nxt() + 1; });
    CHECK(t.fell_to_full_path());
    t.deliver_ack_edited([](harness &h, segment &s) { s.ack = h.c.snd_una() - 1; });
    CHECK(t.fell_to_full_path());
}

TEST_CASE("header prediction: RFC 9293 §3.8.6.1, a zero send window (the persist timer's) falls to the full path",
          "[tcp][header_prediction][established][timer]") {
    twin t(&harness::to_established);
    t.deliver_ack_edited([](harness &, segment &s) { s.window = 0; });
    CHECK(t.predicted()); // the window update itself is the full path's code
    CHECK(t.on.c.snd_wnd() == 0);
    t.both([](harness &h) {
        auto x = h.ctx();
        h.c.send(10, x);
    });
    t.expect_same();
    CHECK(t.deliver_peer(f::ack) == twin::path::full_path);
    CHECK(t.on.c.snd_wnd() > 0);
}

TEST_CASE("header prediction: turned off (tcp::settings::header_prediction), every segment takes the full path and "
          "nothing is counted",
          "[tcp][header_prediction]") {
    harness h;
    h.cfg.header_prediction = false;
    h.to_established();
    h.deliver(h.peer(f::ack | f::psh, 1, hundred));
    CHECK(h.stats.hp_hits == 0);
    CHECK(h.stats.hp_misses == 0);
    CHECK(h.c.rcv_nxt() == seq32{peer_iss + 101});
}
