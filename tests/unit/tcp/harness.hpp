// A connection under test: a recording sink, a real timer wheel, a fixed-key ISN, a
// virtual clock, and fixtures that reach each state through a real exchange (so a
// fixture cannot be an impossible state: smoltcp's `sanity!` idea, made structural).
#pragma once

#include <linerate/tcp/connection.hpp>
#include <linerate/tcp/reassembly.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <deque>
#include <optional>
#include <map>
#include <memory>
#include <vector>

namespace linerate::tcp::test {

using f = tcp_flags;

inline const four_tuple local_view{ipv4_addr::from_octets(198, 18, 0, 2), ipv4_addr::from_octets(198, 18, 0, 1),
                                   80, 40000};
inline constexpr std::uint32_t peer_iss = 1000;

struct recorded_event {
    event_type type;
    close_reason reason;
    std::uint32_t bytes;
    std::vector<std::uint8_t> data;
};

struct recording_sink final : sink {
    std::deque<out_segment> sent;
    std::deque<recorded_event> events;

    // The connection's ISS, from its first SYN: the TCB keeps it only while it is SND.UNA.
    std::optional<seq32> iss;
    void transmit(const connection *, const four_tuple &, const out_segment &s) override {
        if (s.flags.has(tcp_flags::syn) && !iss) iss = s.seq;
        sent.push_back(s);
    }
    void notify(connection &, const event &e) override {
        events.push_back({e.type, e.reason, e.bytes, {e.data.begin(), e.data.end()}});
    }
    // Out-of-order data: a real queue and the bytes kept by handle, so the tests see
    // every handle given back (`holding` returns to zero).
    bool can_hold = true;
    std::unique_ptr<reassembly_queue> queue;
    bool queue_taken = false;
    std::map<std::uint64_t, std::pair<seq32, std::vector<std::uint8_t>>> kept;
    std::uint64_t next_handle = 1;

    static constexpr std::uint32_t queue_id = 1; // the one queue there is
    std::uint32_t acquire_ooo_queue() override {
        if (!can_hold || queue_taken) return 0;
        if (!queue) queue = std::make_unique<reassembly_queue>(4);
        queue_taken = true;
        return queue_id;
    }
    reassembly_queue &ooo_queue(std::uint32_t id) override {
        CHECK(id == queue_id);
        CHECK(queue_taken);
        return *queue;
    }
    void release_ooo_queue(std::uint32_t id) override {
        CHECK(id == queue_id);
        CHECK(queue->empty());
        queue_taken = false;
    }
    // The queue the connection holds, if any (for connection_test_access::differences).
    [[nodiscard]] const reassembly_queue *held_queue() const { return queue_taken ? queue.get() : nullptr; }
    std::uint64_t hold(connection &, seq32 first, std::span<const std::uint8_t> bytes) override {
        kept[next_handle] = {first, {bytes.begin(), bytes.end()}};
        return next_handle++;
    }
    held_bytes held(std::uint64_t h) override {
        const auto &k = kept.at(h);
        return {k.first, k.second};
    }
    void release(std::uint64_t h) override { CHECK(kept.erase(h) == 1); }
    // Whether the owner promises to flush after the callbacks (sink::want_flush); the
    // test then calls flush() itself, as the shard does after them.
    bool promise_flush = false;
    std::uint32_t flush_requests = 0;
    bool want_flush(connection &) override {
        if (promise_flush) ++flush_requests;
        return promise_flush;
    }
    [[nodiscard]] std::size_t holding() const { return kept.size(); }
};

inline constexpr std::array<std::uint8_t, 16> test_key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

struct harness {
    settings cfg{};
    timer::wheel wheel{tick{0}};
    isn_generator isn{std::span<const std::uint8_t, 16>(test_key)};
    counters stats{};
    recording_sink out{};
    std::uint32_t challenge_budget = 0;
    tick challenge_end{0};
    tick now{0};
    connection c;

    harness() { cfg.receive_buffer = 65535; }

    context ctx() {
        return context{now, now.value * 1000, cfg, wheel, isn, stats, out, challenge_budget, challenge_end};
    }

    // ISS, as the connection's first SYN carried it.
    [[nodiscard]] seq32 iss() const {
        REQUIRE(out.iss.has_value());
        return *out.iss;
    }

    // The ISN the RFC 6528 generator gives local_view now.
    [[nodiscard]] seq32 generated_iss() const {
        return isn.generate(local_view.local_ip, local_view.local_port, local_view.remote_ip, local_view.remote_port,
                            now.value * 1000);
    }

    void deliver(const segment &s) {
        auto x = ctx();
        c.input(s, x);
    }
    std::uint64_t fired = 0;

    // Moves the virtual clock on, firing what is due.
    void advance(std::uint64_t ms) {
        now = now + ms;
        fired += wheel.advance(now, [this](timer::hook &) {
            auto x = ctx();
            c.on_timer(x);
        });
    }
    // Advances by `ms` and then on, a tick at a time, until the wheel fires: a timer
    // fires at its deadline or up to one granule of its wheel level later (at most an
    // eighth of its delay), never earlier. `delay` is the timer's whole delay when the
    // clock has already been moved most of the way. Returns the ticks past `ms` it took.
    std::uint64_t fire(std::uint64_t ms, std::uint64_t delay = 0) {
        const std::uint64_t before = fired;
        advance(ms);
        std::uint64_t late = 0;
        while (fired == before && late <= std::max(ms, delay) / 8 + 1) {
            advance(1);
            ++late;
        }
        REQUIRE(fired > before);
        return late;
    }

    out_segment expect_emitted() {
        INFO("segments sent: " << out.sent.size());
        REQUIRE(out.sent.size() == 1);
        out_segment s = out.sent.front();
        out.sent.pop_front();
        return s;
    }
    void expect_nothing() {
        INFO("segments sent: " << out.sent.size());
        CHECK(out.sent.empty());
    }
    recorded_event expect_event(event_type t) {
        REQUIRE_FALSE(out.events.empty());
        recorded_event e = out.events.front();
        out.events.pop_front();
        CHECK(e.type == t);
        return e;
    }
    void clear() {
        out.sent.clear();
        out.events.clear();
    }

    // --- segments from the peer -------------------------------------------------
    segment peer(std::uint8_t flags, std::uint32_t seq_offset = 1, std::span<const std::uint8_t> data = {}) const {
        segment s{.seq = seq32{peer_iss} + seq_offset, .ack = c.snd_nxt(), .flags = tcp_flags{flags}, .window = 65535};
        s.payload = data;
        return s;
    }
    segment peer_syn() const {
        segment s{.seq = seq32{peer_iss}, .flags = tcp_flags{f::syn}, .window = 65535};
        s.options.mss = 1460;
        return s;
    }

    // --- fixtures: each state reached by a real exchange --------------------------
    void to_syn_received() {
        auto x = ctx();
        c.open_passive(local_view, peer_syn(), x);
        clear();
    }
    void to_established() {
        to_syn_received();
        deliver(peer(f::ack));
        clear();
    }
    // ESTABLISHED after a peer's SYN that offered SACK-permitted (ours always does).
    void to_established_with_sack() {
        segment syn = peer_syn();
        syn.options.sack_permitted = true;
        auto x = ctx();
        c.open_passive(local_view, syn, x);
        deliver(peer(f::ack));
        clear();
    }
    // ESTABLISHED with timestamps: the peer's SYN carries TSval `ts_val`, its ACK
    // ts_val + 1 (TS.Recent after it), and SACK-permitted when asked.
    void to_established_with_timestamps(std::uint32_t ts_val, bool sack = false) {
        segment syn = peer_syn();
        syn.options.sack_permitted = sack;
        syn.options.has_timestamp = true;
        syn.options.ts_val = ts_val;
        auto x = ctx();
        c.open_passive(local_view, syn, x);
        segment ack = peer(f::ack);
        ack.options.has_timestamp = true;
        ack.options.ts_val = ts_val + 1;
        deliver(ack);
        clear();
    }
    void to_syn_sent() {
        auto x = ctx();
        c.open_active(local_view, x);
        clear();
    }
    void to_fin_wait_1() {
        to_established();
        auto x = ctx();
        c.close(x);
        clear();
    }
    void to_fin_wait_2() {
        to_fin_wait_1();
        deliver(peer(f::ack));
        clear();
    }
    void to_close_wait() {
        to_established();
        deliver(peer(f::fin | f::ack));
        clear();
    }
    void to_last_ack() {
        to_close_wait();
        auto x = ctx();
        c.close(x);
        clear();
    }
    void to_closing() {
        to_fin_wait_1();
        // The peer's FIN crosses ours: it does not acknowledge our FIN yet.
        segment s = peer(f::fin | f::ack);
        s.ack = c.snd_nxt() - 1;
        deliver(s);
        clear();
    }
    void to_time_wait() {
        to_fin_wait_2();
        deliver(peer(f::fin | f::ack));
        clear();
    }
};

} // namespace linerate::tcp::test
