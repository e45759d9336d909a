// libFuzzer target: the DPDK-free receive path, frame bytes to TCP state.
//
// A frame goes where the engine sends it (lib/engine/src/rx.cpp): wire::parse_fast, and
// the responder's general path (parse_ethernet, parse_ipv4, then parse_tcp and
// parse_tcp_options) when parse_fast declines, into a flow::shard. Both paths run on
// every frame here: the general one is the reference, and a frame parse_fast takes must
// get the same verdict and the same segment from it (fast_parse.hpp's promise).
//
// The shards are three, joined by an in-memory link: A (198.18.0.1) opens connections,
// B (198.18.0.2) listens on ports 80 (echoes, closes when the peer does) and 81 (keeps
// its side open), C (198.18.0.3) listens on 80 with SYN cookies for every SYN
// (tcp::syn_cookie_mode::always). Before the input is read, a fixed exchange leaves a
// connection in every state a shard holds: LISTEN, SYN-SENT, SYN-RECEIVED, ESTABLISHED,
// FIN-WAIT-1, FIN-WAIT-2 (after close() and after shutdown()), CLOSE-WAIT, CLOSING,
// LAST-ACK, TIME-WAIT on either side, a cookie connection, a cookie ACK not yet
// delivered, and data held out of order. The input then drives them.
//
// Input: one byte of settings (bits: timestamps off, SACK off, window scaling off,
// header prediction against the full path, delayed ACK 40 ms, 4 KiB buffers, keepalive,
// MTU 576), then operations until it ends, each an opcode byte (low 3 bits; bit 3: look
// the 4-tuple up ahead, as a burst does) and its arguments:
//   0, 5 FRAME  [target][mode][u16 n][n bytes]: a TCP header, options and payload,
//               wrapped in Ethernet and IPv4 between the target's two hosts;
//   1    RAW    [target][mode][u16 n][n bytes]: a whole frame, its addresses and ports
//               set to the target's (unless the mode keeps them);
//   2, 7 TIME   [k]: the clock moves on (a table of steps up to 200 s), timers run;
//   3, 6 LINK   [k]: the first (or last) 1-16 segments in flight are delivered, dropped
//               or duplicated;
//   4    APP    [target][action][arg]: send, shutdown, close, abort, connect, change
//               what the applications do, or limit the io's buffers.
// A target byte picks a 4-tuple (low 7 bits, modulo the tuples known, two more for a
// fresh one to B:80 or C:80) and the direction (bit 7: towards A). The mode byte keeps
// the TCP checksum as given (bit 0) or computes it; adds, to the sequence number (bit 1),
// acknowledgment number (bit 2) and timestamps (bit 4), what the receiver's TCB expects
// (or, with bit 3, what the sender's TCB would send), so that the fuzzer reaches
// connections in their windows; pads to 60 bytes (FRAME) or keeps the IPv4 checksum
// (RAW) with bit 5; keeps the frame's addresses (RAW, bit 6); and marks the checksums as
// verified by the device (bit 7).
//
// Checked on every segment a shard transmits (a finding aborts): no SYN with RST or
// FIN; ACK on everything but a SYN or a RST; no data on a SYN or a RST; options that
// fit 40 bytes, MSS, window scale and SACK-permitted only on a SYN, SACK blocks only
// when negotiated, well formed and above the ACK, timestamps exactly when negotiated;
// data the io holds, within the stream, at most the MSS; the FIN after the last byte;
// ACK = RCV.NXT; a window no larger than the receive buffer and a right edge that never
// moves left; a reset for no connection numbered from the segment it answers. The link
// writes every segment with wire's builders and reads it back, which must give the
// segment sent. After every operation, each TCB: SND.UNA =< SND.NXT =< end of stream,
// the io holding exactly its unacknowledged and unsent bytes, not in TIME-WAIT too;
// callbacks in the public API's order (on_closed last, no data after the peer's FIN).
// At the end every shard aborts its connections, and nothing may be left: no TCB, no
// stream, no held segment, no reassembly queue, no application that missed on_closed.
//
// With the settings' bit 3 the input runs twice in lockstep, with header prediction on
// and off: the full path is the specification and the short path must agree with it
// on every segment it takes (DESIGN.md), so after every operation each TCB must equal
// its twin (tests/support/tcb_diff.hpp) and both runs must have sent the same segments
// and made the same callbacks.
#include <linerate/base/byteorder.hpp>
#include <linerate/engine/arp_cache.hpp>
#include <linerate/engine/counters.hpp>
#include <linerate/engine/responder.hpp>
#include <linerate/flow/shard.hpp>
#include <linerate/flow/shard_context.hpp>
#include <linerate/wire/arp.hpp>
#include <linerate/wire/checksum.hpp>
#include <linerate/wire/ethernet.hpp>
#include <linerate/wire/fast_parse.hpp>
#include <linerate/wire/icmp.hpp>
#include <linerate/wire/ipv4.hpp>
#include <linerate/wire/tcp.hpp>

#include "../support/tcb_diff.hpp"
#include "fuzz_input.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

using namespace linerate;
using flow::conn_id;
using tcp::four_tuple;
using tcp::state;
using wire::tcp_flags;

// The checks below are many: a shorter name reads better.
#define CHECK_RULE LINERATE_FUZZ_CHECK

namespace {

constexpr int node_a = 0, node_b = 1, node_c = 2, nodes = 3;
constexpr std::array<ipv4_addr, nodes> node_ip{ipv4_addr::from_octets(198, 18, 0, 1),
                                               ipv4_addr::from_octets(198, 18, 0, 2),
                                               ipv4_addr::from_octets(198, 18, 0, 3)};
const std::array<mac_addr, nodes> node_mac{mac_addr{{0x02, 0, 0, 0, 0, 1}}, mac_addr{{0x02, 0, 0, 0, 0, 2}},
                                           mac_addr{{0x02, 0, 0, 0, 0, 3}}};
constexpr std::uint16_t port_echo = 80, port_hold = 81;
constexpr std::uint64_t start_ms = 10'000;
constexpr std::size_t max_tuples = 64;
constexpr std::size_t max_in_flight = 512;
constexpr std::size_t max_ops = 256;
constexpr std::size_t max_frame = 2048;

// LINERATE_FUZZ_VERBOSE set: the states after setup, every operation and every segment
// sent, on stderr, to read what led to a finding (replay its input alone).
const bool verbose = std::getenv("LINERATE_FUZZ_VERBOSE") != nullptr;

void trace_segment(const char *what, int node, const four_tuple &t, const tcp::out_segment &s) {
    if (!verbose) return;
    std::fprintf(stderr, "  %s %c %u->%u seq=%u ack=%u flags=%02x win=%u len=%u", what, "ABC"[node], t.local_port,
                 t.remote_port, s.seq.raw(), s.ack.raw(), s.flags.bits, s.window, s.payload_len);
    for (std::size_t i = 0; i < s.options.sack_count && i < s.options.sack.size(); ++i)
        std::fprintf(stderr, " sack=%u-%u", s.options.sack[i].left.raw(), s.options.sack[i].right.raw());
    if (s.options.has_timestamp) std::fprintf(stderr, " ts=%u/%u", s.options.ts_val, s.options.ts_ecr);
    std::fprintf(stderr, "\n");
}

int node_of(ipv4_addr a) {
    for (int i = 0; i < nodes; ++i)
        if (node_ip[i] == a) return i;
    return -1;
}

struct packet {
    int from = 0;
    four_tuple t; // the sender's view
    tcp::out_segment seg;
    std::vector<std::uint8_t> payload;
};

// A 4-tuple the fuzzer can aim at, seen from A, whose peer is `server` (B or C).
struct tuple_rec {
    four_tuple a_view;
    int server = node_b;
    std::array<std::uint32_t, nodes> last_tsval{}; // the TSval each side last sent on it
    [[nodiscard]] four_tuple at(int node) const { return node == node_a ? a_view : a_view.reversed(); }
};

class world;

// What the public API promises an application about one of its connections.
struct life {
    bool announced = false;   // on_accepted or on_connected came
    bool peer_closed = false; // on_peer_closed came
};

struct app final : handler {
    app(world &w, int node, bool echo, bool close_on_peer_close) : w(w), node(node), echo(echo), close(close_on_peer_close) {}
    void on_accepted(lcore_context &ctx, conn c) override;
    void on_connected(lcore_context &ctx, conn c) override;
    void on_data(lcore_context &ctx, conn c, std::span<const std::byte> payload) override;
    void on_writable(lcore_context &ctx, conn c) override;
    void on_peer_closed(lcore_context &ctx, conn c) override;
    void on_closed(lcore_context &ctx, conn c, close_reason why) override;

    world &w;
    int node;
    bool echo;
    bool close;
};

// The shard's owner: streams and held bytes in plain containers, every call checked.
class checked_io final : public flow::io {
public:
    checked_io(world &w, int node) : w_(w), node_(node) {}

    void transmit(conn_id id, const four_tuple &t, const tcp::out_segment &s, std::uint32_t offset) noexcept override;
    std::uint32_t append(conn_id id, std::span<const std::uint8_t> bytes) noexcept override {
        const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(bytes.size(), room));
        if (room != UINT32_MAX) room -= n;
        auto &st = streams[id];
        st.insert(st.end(), bytes.begin(), bytes.begin() + n);
        return n;
    }
    void release_sent(conn_id id, std::uint32_t bytes) noexcept override {
        auto it = streams.find(id);
        const std::size_t have = it == streams.end() ? 0 : it->second.size();
        CHECK_RULE(bytes <= have, "release_sent gives back no more bytes than the io holds for the stream");
        if (bytes > 0) it->second.erase(it->second.begin(), it->second.begin() + bytes);
    }
    void forget(conn_id id) noexcept override {
        streams.erase(id);
        right_edge.erase(id);
        sent_end.erase(id);
    }
    std::uint64_t hold(conn_id, seq32 first, std::span<const std::uint8_t> bytes) noexcept override {
        held_[next_handle_] = {first, {bytes.begin(), bytes.end()}};
        return next_handle_++;
    }
    tcp::sink::held_bytes held(std::uint64_t h) noexcept override {
        auto it = held_.find(h);
        CHECK_RULE(it != held_.end(), "held() asks for a handle hold() gave and release() has not taken back");
        return {it->second.first, it->second.second};
    }
    void release(std::uint64_t h) noexcept override {
        CHECK_RULE(held_.erase(h) == 1, "release() gives back a handle hold() gave, once");
    }

    std::map<conn_id, std::vector<std::uint8_t>> streams;
    std::map<std::uint64_t, std::pair<seq32, std::vector<std::uint8_t>>> held_;
    std::map<conn_id, seq32> right_edge; // of the last window each connection offered
    std::map<conn_id, seq32> sent_end;   // the end of the data each connection has sent
    std::uint32_t room = UINT32_MAX;     // bytes append() may still store

private:
    world &w_;
    int node_;
    std::uint64_t next_handle_ = 1;
};

struct node {
    node(world &w, int i, const tcp::settings &cfg, const tcp::isn_generator &isn)
        // Small pools, so that a few operations fill them: the setup leaves a dozen
        // connections on A and two TIME-WAITs.
        : io(w, i), s(cfg, flow::shard_limits{.connections = 16, .time_wait = 4, .ooo_queues = 4,
                                              .held_segments = 32, .listeners = 4, .table_seed = 7},
                      isn, io, tick{start_ms}),
          ctx(s), resp(engine::interface_address{node_mac[i], ipv4_prefix{node_ip[i], 24}}, arp, counters) {}

    checked_io io;
    flow::shard s;
    flow::shard_context ctx;
    engine::arp_cache arp{16};
    engine::counters counters;
    engine::responder resp;
    std::map<conn_id, life> live;
};

constexpr std::array<std::uint8_t, 16> isn_key(std::uint8_t k) {
    return {k, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
}

tcp::settings settings_for(std::uint8_t v, bool cookies) {
    tcp::settings s;
    s.timestamps = (v & 0x01) == 0;
    s.sack = (v & 0x02) == 0;
    s.window_scaling = (v & 0x04) == 0;
    s.header_prediction = (v & 0x08) == 0; // the differential's second run (see the top)
    s.delayed_ack_ms = (v & 0x10) != 0 ? 40 : 0;
    if ((v & 0x20) != 0) s.receive_buffer = s.send_buffer = 4096;
    if ((v & 0x40) != 0) {
        s.keepalive = true;
        s.keepalive_idle_ms = 2'000;
        s.keepalive_interval_ms = 500;
        s.keepalive_probes = 3;
    }
    if ((v & 0x80) != 0) s.mtu = 576;
    // Short timers and small queues, so that a few operations reach their ends.
    s.msl_ms = 500;
    s.fin_wait_2_timeout_ms = 5'000;
    s.syn_backlog = 4;
    s.accept_backlog = 4;
    s.challenge_ack_limit = 5;
    s.syn_cookies = cookies ? tcp::syn_cookie_mode::always : tcp::syn_cookie_mode::automatic;
    return s;
}

bool same_options(const tcp::tcp_options &a, const tcp::tcp_options &b) {
    if (a.mss != b.mss || a.window_scale != b.window_scale || a.sack_permitted != b.sack_permitted ||
        a.sack_count != b.sack_count || a.has_timestamp != b.has_timestamp)
        return false;
    for (std::size_t i = 0; i < a.sack_count && i < a.sack.size(); ++i)
        if (!(a.sack[i] == b.sack[i])) return false;
    return !a.has_timestamp || (a.ts_val == b.ts_val && a.ts_ecr == b.ts_ecr);
}

bool same_segment(const tcp::segment &a, const tcp::segment &b) {
    return a.seq == b.seq && a.ack == b.ack && a.flags == b.flags && a.window == b.window &&
           same_options(a.options, b.options) && std::ranges::equal(a.payload, b.payload);
}

class world {
public:
    explicit world(std::uint8_t variant)
        : isn_{tcp::isn_generator(isn_key(1), tcp::isn_prf::siphash), tcp::isn_generator(isn_key(2), tcp::isn_prf::siphash),
               tcp::isn_generator(isn_key(3), tcp::isn_prf::siphash)} {
        for (int i = 0; i < nodes; ++i) n_[i] = std::make_unique<node>(*this, i, settings_for(variant, i == node_c), isn_[i]);
        for (int i = 0; i < nodes; ++i) n_[i]->s.set_time(tick{now_}, now_ * 1000);
    }

    node &at(int i) { return *n_[i]; }

    void setup();
    // One operation of the input; false when there is none left to run.
    bool step(fuzz::input &in);
    void finish();

    // What a differential run compares.
    [[nodiscard]] std::uint64_t trace() const { return trace_; }
    [[nodiscard]] const std::vector<tuple_rec> &tuples() const { return tuples_; }
    // Folds what was sent or called into trace().
    void mix(std::uint64_t v) { trace_ = (trace_ ^ v) * 0x100000001b3ull; }

    // --- what the io and the applications report ---------------------------------
    void transmitted(int from, conn_id id, const four_tuple &t, const tcp::out_segment &s, std::uint32_t offset);
    void connected(int node, conn_id id) { at(node).live[id] = life{}; }

    app &app_of(int node, bool first) { return first ? *apps_[node][0] : *apps_[node][1]; }

private:
    // --- the link ----------------------------------------------------------------
    void deliver(const packet &p, bool device_checked);
    bool deliver_front();
    void pump();
    void drop_all() { link_.clear(); }

    // --- receiving ---------------------------------------------------------------
    void receive(int to, std::vector<std::uint8_t> &frame, bool device_checked, bool lookahead,
                 const packet *sent);
    void input(int to, const four_tuple &t, const tcp::segment &seg, bool lookahead);
    void check_reply(std::span<const std::uint8_t> reply);

    // --- checks ------------------------------------------------------------------
    void check_node(int i);
    void check_tcb(int i, const four_tuple &t);

    // --- the fuzzer's operations -------------------------------------------------
    struct aim {
        std::size_t rec;
        int to, from;
    };
    aim target(std::uint8_t b);
    void frame_op(fuzz::input &in, bool raw, bool lookahead);
    void patch(std::vector<std::uint8_t> &f, const aim &a, std::uint8_t mode, bool raw);
    void time_op(std::uint8_t k);
    void link_op(std::uint8_t k);
    void app_op(fuzz::input &in);
    void advance(std::uint64_t ms);

    std::optional<conn_id> connect(std::uint16_t a_port, int server, std::uint16_t port, app &h);
    std::optional<conn_id> find(int node, std::size_t rec) { return at(node).s.find(tuples_[rec].at(node)); }
    std::size_t add_tuple(std::uint16_t a_port, int server, std::uint16_t port);

    std::array<tcp::isn_generator, nodes> isn_;
    std::array<std::unique_ptr<node>, nodes> n_;
    std::array<std::array<std::unique_ptr<app>, 2>, nodes> apps_;
    std::deque<packet> link_;
    std::vector<tuple_rec> tuples_;
    std::uint64_t now_ = start_ms;
    std::uint16_t next_port_ = 20'000;
    std::size_t ops_ = 0;
    std::uint64_t trace_ = 0xcbf29ce484222325ull; // FNV-1a's offset basis
    // The segment being input and where: a reset for no connection answers it.
    const tcp::segment *current_ = nullptr;
    int current_node_ = -1;
};

// --- applications ----------------------------------------------------------------------

void app::on_accepted(lcore_context &ctx, conn c) {
    auto &live = w.at(node).live;
    CHECK_RULE(!live.contains(c.id), "on_accepted names a connection the application does not hold");
    CHECK_RULE(ctx.user_data(c) == 0, "an accepted connection's user data is 0 in on_accepted");
    live[c.id] = life{.announced = true};
    w.mix(0x100u | c.id);
}

void app::on_connected(lcore_context &, conn c) {
    auto &live = w.at(node).live;
    const auto it = live.find(c.id);
    CHECK_RULE(it != live.end() && !it->second.announced, "on_connected follows a connect(), once");
    it->second.announced = true;
    w.mix(0x200u | c.id);
}

void app::on_data(lcore_context &ctx, conn c, std::span<const std::byte> payload) {
    auto &live = w.at(node).live;
    const auto it = live.find(c.id);
    CHECK_RULE(it != live.end() && it->second.announced, "on_data comes for an accepted or connected connection");
    CHECK_RULE(!it->second.peer_closed, "RFC 9293 §3.10.7.4: no data is delivered after the peer's FIN");
    CHECK_RULE(!payload.empty(), "on_data carries bytes");
    w.mix(0x300u | c.id);
    for (const std::byte b : payload) w.mix(static_cast<std::uint8_t>(b));
    if (echo) (void)ctx.send(c, payload);
}

void app::on_writable(lcore_context &, conn c) {
    auto &live = w.at(node).live;
    const auto it = live.find(c.id);
    CHECK_RULE(it != live.end() && it->second.announced, "on_writable comes for an accepted or connected connection");
    w.mix(0x400u | c.id);
}

void app::on_peer_closed(lcore_context &ctx, conn c) {
    auto &live = w.at(node).live;
    const auto it = live.find(c.id);
    CHECK_RULE(it != live.end() && it->second.announced && !it->second.peer_closed,
               "on_peer_closed comes once, for an accepted or connected connection");
    it->second.peer_closed = true;
    w.mix(0x500u | c.id);
    if (close) ctx.close(c);
}

void app::on_closed(lcore_context &, conn c, close_reason why) {
    auto &live = w.at(node).live;
    CHECK_RULE(live.erase(c.id) == 1, "on_closed comes once, for a connection the application holds");
    w.mix(0x600u | c.id | static_cast<std::uint64_t>(why) << 32);
}

// --- the io ----------------------------------------------------------------------------

void checked_io::transmit(conn_id id, const four_tuple &t, const tcp::out_segment &s, std::uint32_t offset) noexcept {
    w_.transmitted(node_, id, t, s, offset);
}

void world::transmitted(int from, conn_id id, const four_tuple &t, const tcp::out_segment &s, std::uint32_t offset) {
    node &n = at(from);
    trace_segment("sends", from, t, s);
    const tcp_flags f = s.flags;
    const auto &o = s.options;
    CHECK_RULE(!(f.has(tcp_flags::syn) && f.has_any(tcp_flags::rst | tcp_flags::fin)),
               "no segment carries SYN with RST or FIN");
    CHECK_RULE(f.has_any(tcp_flags::ack | tcp_flags::syn | tcp_flags::rst),
               "RFC 9293 §3.1: once a connection is established the ACK is always sent (every segment but a SYN or "
               "a RST has it)");
    CHECK_RULE(!f.has_any(tcp_flags::urg), "linerate sends no urgent data");
    CHECK_RULE(s.payload_len == 0 || !f.has_any(tcp_flags::syn | tcp_flags::rst), "a SYN or a RST carries no data");
    CHECK_RULE(wire::tcp_options_size(o) <= wire::tcp_max_options_len,
               "RFC 9293 §3.1: the options fit the 40 bytes a TCP header has for them");
    CHECK_RULE(f.has(tcp_flags::syn) || (!o.mss && !o.window_scale && !o.sack_permitted),
               "MSS (RFC 9293 §3.7.1), window scale (RFC 7323 §2.2) and SACK-permitted (RFC 2018 §2) are sent only "
               "on a SYN");
    CHECK_RULE(!o.window_scale || *o.window_scale <= wire::tcp_max_window_scale,
               "RFC 7323 §2.3: the shift sent is at most 14");
    CHECK_RULE(o.sack_count <= wire::tcp_max_sack_blocks, "RFC 2018 §3: at most 4 SACK blocks");
    CHECK_RULE(o.sack_count == 0 || (f.has(tcp_flags::ack) && !f.has_any(tcp_flags::syn | tcp_flags::rst)),
               "RFC 2018 §4: SACK blocks ride on ACKs");
    for (std::size_t i = 0; i < o.sack_count && i < o.sack.size(); ++i) {
        CHECK_RULE(o.sack[i].left < o.sack[i].right, "RFC 2018 §3: a SACK block's left edge is below its right edge");
        CHECK_RULE(s.ack < o.sack[i].left, "RFC 2018 §4: a SACK block reports data above the cumulative ACK");
    }

    if (id == flow::no_conn) {
        CHECK_RULE(s.payload_len == 0, "a segment of no connection (reset, cookie SYN-ACK, TIME-WAIT ACK) has no data");
        const bool answering = current_ != nullptr && current_node_ == from;
        if (f.has(tcp_flags::rst) && answering) {
            const auto want = tcp::reset_for_unknown(*current_);
            CHECK_RULE(want && want->flags == f && want->seq == s.seq && (!f.has(tcp_flags::ack) || want->ack == s.ack),
                       "RFC 9293 §3.10.7.1: a reset for no connection takes its numbers from the segment it answers");
        } else if (f.has(tcp_flags::syn) && answering) {
            // A cookie SYN-ACK (RFC 4987 §3.6): the listener keeps nothing, but answers
            // as it would have.
            CHECK_RULE(f.only(tcp_flags::syn | tcp_flags::ack) && s.ack == current_->seq + 1 && o.mss,
                       "RFC 9293 §3.10.7.2: a cookie SYN-ACK acknowledges the SYN and carries the MSS (§3.7.1)");
        } else if (f.only(tcp_flags::ack)) {
            const flow::time_wait_log &tw = n.s.time_waits();
            if (const auto at = tw.find(t, tw.hash(t))) {
                const tcp::time_wait_state r = tw.state(*at);
                CHECK_RULE(s.seq == r.snd_nxt && s.ack == r.rcv_nxt,
                           "RFC 9293 §3.10.7.4: TIME-WAIT acknowledges with <SEQ=SND.NXT><ACK=RCV.NXT>");
            }
        }
    } else {
        CHECK_RULE(n.s.in_use(id), "a connection's segment comes from a connection in use");
        const tcp::connection &c = n.s.connection(id);
        CHECK_RULE(c.tuple() == t, "a connection sends on its own 4-tuple");
        const auto st = n.io.streams.find(id);
        const std::size_t stored = st == n.io.streams.end() ? 0 : st->second.size();
        CHECK_RULE(s.payload_len == 0 || std::size_t{offset} + s.payload_len <= stored,
                   "a segment's data is bytes the io holds for the connection's stream");
        CHECK_RULE(s.payload_len <= c.mss(), "RFC 9293 §3.7.1: a segment's data is at most the MSS");
        if (s.payload_len > 0 || f.has(tcp_flags::fin))
            CHECK_RULE(s.seq + s.payload_len <= c.snd_end(), "a segment's data lies within the send stream");
        if (f.has(tcp_flags::fin))
            CHECK_RULE(s.seq + s.payload_len == c.snd_end(), "RFC 9293 §3.10.4: the FIN follows the last byte sent");
        if (f.has(tcp_flags::syn)) {
            CHECK_RULE(s.seq == c.snd_una(), "a SYN carries the ISS");
            n.io.right_edge.erase(id);
            n.io.sent_end.erase(id);
        }
        if (s.payload_len > 0) {
            // New data (past all sent before) goes only inside the peer's window; old
            // data may be retransmitted beyond it once the window shrank (MAY-7), and a
            // zero window is probed with one byte (§3.8.6.1).
            const seq32 end = s.seq + s.payload_len;
            const auto it = n.io.sent_end.try_emplace(id, s.seq).first;
            if (it->second < end) {
                CHECK_RULE(end <= c.snd_una() + c.snd_wnd() || (c.snd_wnd() == 0 && s.payload_len == 1),
                           "RFC 9293 §3.8.6.2.1 (SHLD-15): no new data beyond the peer's window");
                it->second = end;
            }
        }
        if (f.has(tcp_flags::ack) && !f.has(tcp_flags::rst))
            CHECK_RULE(s.ack == c.rcv_nxt(), "RFC 9293 §3.10.7.4: an ACK acknowledges RCV.NXT");
        if (!f.has_any(tcp_flags::syn | tcp_flags::rst))
            CHECK_RULE(o.has_timestamp == c.timestamps(),
                       "RFC 7323 §3.2: once negotiated, every segment but a RST carries a timestamp, and none does "
                       "otherwise");
        CHECK_RULE(o.sack_count == 0 || c.sack_permitted(),
                   "RFC 2018 §3: SACK blocks only on a connection that negotiated SACK-permitted");
        if (!f.has_any(tcp_flags::syn | tcp_flags::rst)) {
            const std::uint64_t wnd = std::uint64_t{s.window} << c.rcv_wscale();
            CHECK_RULE(wnd <= n.s.connection(id).rcv_wnd(n.s.settings()),
                       "the window offered is at most the receive buffer");
            const seq32 edge = s.ack + static_cast<std::uint32_t>(wnd);
            auto [it, fresh] = n.io.right_edge.try_emplace(id, edge);
            CHECK_RULE(fresh || it->second <= edge,
                       "RFC 9293 §3.8.6 (SHLD-14): the right edge of the window offered never moves left");
            if (it->second < edge) it->second = edge;
        }
    }

    for (tuple_rec &r : tuples_)
        if (r.at(from) == t && o.has_timestamp) r.last_tsval[from] = o.ts_val;
    packet p{from, t, s, {}};
    if (s.payload_len > 0) {
        const auto &st = n.io.streams[id];
        p.payload.assign(st.begin() + offset, st.begin() + offset + s.payload_len);
    }
    mix(static_cast<std::uint64_t>(from) << 32 | std::uint64_t{t.local_port} << 16 | t.remote_port);
    mix(std::uint64_t{s.seq.raw()} << 32 | s.ack.raw());
    mix(std::uint64_t{f.bits} << 48 | std::uint64_t{s.window} << 32 | s.payload_len);
    mix(std::uint64_t{o.mss.value_or(0)} << 32 | std::uint64_t{o.window_scale.value_or(0xff)} << 16 |
        std::uint64_t{o.sack_permitted} << 8 | o.sack_count);
    for (std::size_t i = 0; i < o.sack_count && i < o.sack.size(); ++i)
        mix(std::uint64_t{o.sack[i].left.raw()} << 32 | o.sack[i].right.raw());
    if (o.has_timestamp) mix(std::uint64_t{o.ts_val} << 32 | o.ts_ecr);
    for (const std::uint8_t b : p.payload) mix(b);
    if (link_.size() >= max_in_flight) link_.pop_front();
    link_.push_back(std::move(p));
}

// --- the link --------------------------------------------------------------------------

// Writes the segment as the engine's TX would (wire's builders), then receives it.
void world::deliver(const packet &p, bool device_checked) {
    const int to = node_of(p.t.remote_ip);
    if (to < 0) return;
    std::array<std::uint8_t, wire::tcp_max_options_len> opt{};
    const std::size_t on = wire::write_tcp_options(opt, p.seg.options);
    CHECK_RULE(on == wire::tcp_options_size(p.seg.options),
               "write_tcp_options writes the bytes tcp_options_size says");
    const std::size_t l4 = wire::tcp_min_header_len + on + p.payload.size();
    std::vector<std::uint8_t> frame(wire::ethernet_header_len + wire::ipv4_min_header_len + l4);
    (void)wire::write_ethernet(frame, node_mac[to], node_mac[p.from], wire::ethertype_ipv4);
    (void)wire::write_ipv4(std::span(frame).subspan(wire::ethernet_header_len),
                           wire::ipv4_fields{.total_length = static_cast<std::uint16_t>(wire::ipv4_min_header_len + l4),
                                             .protocol = wire::ip_proto_tcp,
                                             .src = p.t.local_ip,
                                             .dst = p.t.remote_ip});
    const wire::tcp_fields tf{.src_port = p.t.local_port, .dst_port = p.t.remote_port, .seq = p.seg.seq,
                              .ack = p.seg.ack, .flags = p.seg.flags, .window = p.seg.window};
    const std::size_t written =
        wire::write_tcp(std::span(frame).subspan(wire::fast_l4_offset), tf, std::span(opt).first(on), p.payload,
                        p.t.local_ip, p.t.remote_ip);
    CHECK_RULE(written == l4, "write_tcp writes every segment linerate sends");
    if (frame.size() < wire::ethernet_min_frame_len) frame.resize(wire::ethernet_min_frame_len); // as a NIC pads
    receive(to, frame, device_checked, false, &p);
}

bool world::deliver_front() {
    if (link_.empty()) return false;
    const packet p = std::move(link_.front());
    link_.pop_front();
    deliver(p, false);
    return true;
}

// Everything in flight, until the link is quiet.
void world::pump() {
    for (int guard = 0; guard < 10'000 && deliver_front(); ++guard) {
    }
}

// --- receiving -------------------------------------------------------------------------

void world::receive(int to, std::vector<std::uint8_t> &frame, bool device_checked, bool lookahead,
                    const packet *sent) {
    node &n = at(to);
    const auto mode = device_checked ? wire::checksum_mode::skip : wire::checksum_mode::verify;
    // The general path on a copy of its own: the responder writes ARP and ICMP replies
    // over the frame.
    std::vector<std::uint8_t> copy = frame;
    const engine::verdict v = n.resp.on_frame(copy, device_checked, tick{now_});
    if (v.what == engine::verdict::kind::transmit && !device_checked)
        check_reply(std::span(copy).first(v.length));
    std::optional<tcp::segment> general;
    if (v.what == engine::verdict::kind::deliver_tcp) {
        const auto tv = wire::parse_tcp(std::span<const std::uint8_t>(copy).subspan(v.l4_offset, v.l4_length), v.src,
                                        v.dst, mode);
        if (tv) {
            const auto opts = wire::parse_tcp_options(tv->options);
            if (opts)
                general = tcp::segment{.seq = tv->seq, .ack = tv->ack, .flags = tv->flags, .window = tv->window,
                                       .options = *opts, .payload = tv->payload};
        }
    }
    wire::fast_tcp_frame fast{};
    const bool took = wire::parse_fast(frame, mode, mode, fast);
    if (took) {
        CHECK_RULE(n.resp.on_fast_tcp(fast) == v,
                   "a frame parse_fast takes gets the responder verdict the general parsers give it");
        if (v.what == engine::verdict::kind::deliver_tcp)
            CHECK_RULE(general && same_segment(fast.seg, *general),
                       "a frame parse_fast takes gives the segment the general parsers give (fast_parse.hpp)");
    }
    if (sent != nullptr && !device_checked) {
        const tcp::segment want{.seq = sent->seg.seq, .ack = sent->seg.ack, .flags = sent->seg.flags,
                                .window = sent->seg.window, .options = sent->seg.options, .payload = sent->payload};
        CHECK_RULE(general && same_segment(*general, want),
                   "a segment linerate sends, written by wire's builders, reads back as sent");
    }
    if (!general) return;
    const four_tuple t{v.dst, v.src, load_be16(copy.data() + v.l4_offset + 2), load_be16(copy.data() + v.l4_offset)};
    // The engine gives the core parse_fast's segment when it took the frame.
    input(to, t, took ? fast.seg : *general, lookahead);
}

void world::input(int to, const four_tuple &t, const tcp::segment &seg, bool lookahead) {
    flow::shard &s = at(to).s;
    if (verbose) {
        tcp::out_segment o{.seq = seg.seq, .ack = seg.ack, .flags = seg.flags, .window = seg.window,
                           .options = seg.options, .payload_len = static_cast<std::uint32_t>(seg.payload.size())};
        trace_segment("receives", to, t, o);
    }
    current_ = &seg;
    current_node_ = to;
    const std::uint64_t h = s.hash(t);
    if (lookahead)
        s.input(t, h, seg, s.look_ahead(t, h));
    else
        s.input(t, h, seg);
    current_ = nullptr;
    current_node_ = -1;
    check_node(to);
}

// An ARP or ICMP echo reply the responder wrote over a request must be one.
void world::check_reply(std::span<const std::uint8_t> reply) {
    const auto eth = wire::parse_ethernet(reply);
    CHECK_RULE(eth.ok(), "the responder's reply is an Ethernet frame");
    if (eth->ethertype == wire::ethertype_arp) {
        const auto arp = wire::parse_arp(eth->payload);
        CHECK_RULE(arp && arp->op == wire::arp_op::reply, "RFC 826: the answer to a request is a well-formed reply");
        return;
    }
    const auto ip = wire::parse_ipv4(eth->payload);
    CHECK_RULE(ip.ok(), "RFC 1122 §3.2.2.6: an echo reply is a valid IPv4 datagram");
    const auto icmp = wire::parse_icmp(ip->payload);
    CHECK_RULE(icmp && icmp->type == wire::icmp_echo_reply, "RFC 792: an echo reply with a correct checksum");
}

// --- checks ----------------------------------------------------------------------------

void world::check_tcb(int i, const four_tuple &t) {
    flow::shard &s = at(i).s;
    const auto id = s.find(t);
    if (!id) return;
    const tcp::connection &c = s.connection(*id);
    CHECK_RULE(c.current() != state::closed, "a TCB in the table is not CLOSED once a call has returned");
    CHECK_RULE(!s.in_time_wait(t), "a 4-tuple has a TCB or a TIME-WAIT record, never both");
    CHECK_RULE(c.snd_una() <= c.snd_nxt() && c.snd_nxt() <= c.snd_end() + 1,
               "SND.UNA =< SND.NXT =< the end of the send stream (and its FIN)");
    // The io holds what is not yet acknowledged: from SND.UNA (past the SYN while it is
    // unacknowledged) to the end of the stream; nothing once the FIN is acknowledged.
    const seq32 first = c.in(state::syn_sent | state::syn_received) ? c.snd_una() + 1 : c.snd_una();
    const auto unacked = static_cast<std::uint32_t>(c.snd_end() - seq_min(first, c.snd_end()));
    const auto st = at(i).io.streams.find(*id);
    const std::size_t stored = st == at(i).io.streams.end() ? 0 : st->second.size();
    CHECK_RULE(stored == unacked, "the io holds exactly the bytes from SND.UNA to the end of the send stream");
}

void world::check_node(int i) {
    node &n = at(i);
    for (const tuple_rec &r : tuples_) check_tcb(i, r.at(i));
    for (const auto &[id, l] : n.live)
        CHECK_RULE(n.s.in_use(id), "a connection the application holds stays in use until on_closed");
    CHECK_RULE(n.s.shard_stats().events_overflowed == 0, "the shard's event queue never overflows");
}

// --- setup -----------------------------------------------------------------------------

std::size_t world::add_tuple(std::uint16_t a_port, int server, std::uint16_t port) {
    tuples_.push_back(tuple_rec{four_tuple{node_ip[node_a], node_ip[server], a_port, port}, server, {}});
    return tuples_.size() - 1;
}

std::optional<conn_id> world::connect(std::uint16_t a_port, int server, std::uint16_t port, app &h) {
    const std::size_t r = add_tuple(a_port, server, port);
    const auto id = at(node_a).s.connect(tuples_[r].a_view, h);
    if (id) connected(node_a, *id);
    return id;
}

void world::advance(std::uint64_t ms) {
    now_ += ms;
    for (int i = 0; i < nodes; ++i) {
        at(i).s.set_time(tick{now_}, now_ * 1000);
        at(i).s.run_timers();
    }
    for (int i = 0; i < nodes; ++i) check_node(i);
}

// The fixed exchange that leaves a connection in every state (see the top of the file).
void world::setup() {
    // Servers: the first application echoes and closes when the peer does, the second
    // keeps its side open. A: the first keeps its side open, the second closes.
    for (int i = 0; i < nodes; ++i) {
        apps_[i][0] = std::make_unique<app>(*this, i, i != node_a, i != node_a);
        apps_[i][1] = std::make_unique<app>(*this, i, false, i == node_a);
    }
    app &a_hold = app_of(node_a, true);
    app &a_close = app_of(node_a, false);
    (void)at(node_b).s.listen(node_ip[node_b], port_echo, app_of(node_b, true));
    (void)at(node_b).s.listen(node_ip[node_b], port_hold, app_of(node_b, false));
    (void)at(node_c).s.listen(node_ip[node_c], port_echo, app_of(node_c, true));
    const auto settle = [&] {
        pump();
        advance(50); // delayed ACKs
        pump();
    };
    const auto b_side = [&](std::size_t rec) { return find(node_b, rec); };

    // First what completes without loss, while the clock moves for delayed ACKs; then,
    // with the clock still, what a lost segment leaves half done: a later tick would
    // retransmit it.
    const auto est = connect(1001, node_b, port_echo, a_hold);
    const auto fw1 = connect(1004, node_b, port_hold, a_hold);
    const auto fw2 = connect(1005, node_b, port_hold, a_hold);
    const auto closing = connect(1006, node_b, port_hold, a_hold);
    const std::size_t closing_rec = tuples_.size() - 1;
    const auto last_ack = connect(1007, node_b, port_hold, a_hold);
    const std::size_t last_ack_rec = tuples_.size() - 1;
    const auto tw_a = connect(1008, node_b, port_echo, a_hold);
    const auto tw_b = connect(1009, node_b, port_hold, a_close);
    const std::size_t tw_b_rec = tuples_.size() - 1;
    (void)connect(1010, node_c, port_echo, a_hold); // C makes it from a cookie
    const auto ooo = connect(1012, node_b, port_hold, a_hold);
    settle();
    // ESTABLISHED, with data both ways.
    if (est) {
        static constexpr std::array<std::uint8_t, 100> hello{};
        (void)at(node_a).s.send(*est, hello);
        settle();
    }
    // FIN-WAIT-2 after close() (its timeout runs) / CLOSE-WAIT.
    if (fw2) at(node_a).s.close(*fw2);
    // FIN-WAIT-2 after shutdown() (no timeout) / CLOSE-WAIT, for LAST-ACK below.
    if (last_ack) at(node_a).s.shutdown(*last_ack);
    // TIME-WAIT on A (it closes first; B echoes the close).
    if (tw_a) at(node_a).s.close(*tw_a);
    // TIME-WAIT on B (it closes first; A's application closes on the FIN).
    if (tw_b)
        if (const auto bid = b_side(tw_b_rec)) at(node_b).s.close(*bid);
    settle();

    // SYN-SENT (B: LISTEN for it).
    (void)connect(1002, node_b, port_echo, a_hold);
    drop_all();
    // SYN-SENT / SYN-RECEIVED.
    (void)connect(1003, node_b, port_echo, a_hold);
    deliver_front();
    drop_all();
    // FIN-WAIT-1 / ESTABLISHED.
    if (fw1) at(node_a).s.close(*fw1);
    drop_all();
    // CLOSING on both sides: the FINs cross, their ACKs are lost.
    if (closing) {
        at(node_a).s.close(*closing);
        if (const auto bid = b_side(closing_rec)) at(node_b).s.close(*bid);
        deliver_front();
        deliver_front();
        drop_all();
    }
    // LAST-ACK / FIN-WAIT-2: B's FIN is lost.
    if (last_ack)
        if (const auto bid = b_side(last_ack_rec)) at(node_b).s.close(*bid);
    drop_all();
    // A cookie SYN-ACK answered, its ACK not yet delivered: C holds nothing.
    if (connect(1011, node_c, port_echo, a_hold)) {
        deliver_front();
        deliver_front();
        drop_all();
    }
    // Data in flight from A, its first segment lost: B holds the rest out of order.
    if (ooo) {
        std::vector<std::uint8_t> data(3u * at(node_a).s.connection(*ooo).mss(), 0x5a);
        (void)at(node_a).s.send(*ooo, data);
        if (!link_.empty()) link_.pop_front();
        while (!link_.empty() && link_.front().from == node_a) deliver_front();
        drop_all();
    }
    for (int i = 0; i < nodes; ++i) check_node(i);
    if (verbose) {
        for (const tuple_rec &r : tuples_) {
            std::fprintf(stderr, "A:%u -> %c:%u:", r.a_view.local_port, r.server == node_b ? 'B' : 'C',
                         r.a_view.remote_port);
            for (const int i : {node_a, r.server}) {
                const auto id = at(i).s.find(r.at(i));
                std::fprintf(stderr, " %s", id ? std::string(tcp::to_string(at(i).s.connection(*id).current())).c_str()
                                         : at(i).s.in_time_wait(r.at(i)) ? "TIME-WAIT"
                                                                         : "-");
            }
            std::fprintf(stderr, "\n");
        }
        std::fprintf(stderr, "B holds %u reassembly queues\n", at(node_b).s.ooo_queues_in_use());
    }
}

// --- the fuzzer's operations -----------------------------------------------------------

world::aim world::target(std::uint8_t b) {
    const std::size_t pick = (b & 0x7f) % (tuples_.size() + 2);
    std::size_t rec = pick;
    if (pick >= tuples_.size()) {
        const int server = pick == tuples_.size() ? node_b : node_c;
        if (tuples_.size() < max_tuples)
            rec = add_tuple(next_port_++, server, port_echo);
        else
            rec = tuples_.size() - 1;
    }
    const int server = tuples_[rec].server;
    return (b & 0x80) != 0 ? aim{rec, node_a, server} : aim{rec, server, node_a};
}

// Addresses, ports, numbers and checksums of a frame aimed at `a` (see the top of the file).
void world::patch(std::vector<std::uint8_t> &f, const aim &a, std::uint8_t mode, bool raw) {
    const bool keep_tcp_sum = (mode & 0x01) != 0, rel_seq = (mode & 0x02) != 0, rel_ack = (mode & 0x04) != 0,
               peer_view = (mode & 0x08) != 0, rel_ts = (mode & 0x10) != 0, keep_ip_sum = raw && (mode & 0x20) != 0,
               keep_addresses = raw && (mode & 0x40) != 0;
    const four_tuple t = tuples_[a.rec].at(a.from); // the sender's view
    if (f.size() < wire::ethernet_header_len) return;
    if (!keep_addresses) {
        wire::store_mac(f.data(), node_mac[a.to]);
        wire::store_mac(f.data() + 6, node_mac[a.from]);
    }
    if (f.size() < wire::fast_l4_offset || load_be16(f.data() + 12) != wire::ethertype_ipv4) return;
    std::uint8_t *ip = f.data() + wire::ethernet_header_len;
    const std::size_t ihl = (ip[0] & 0x0fu) * 4u;
    if (!keep_addresses) {
        store_be32(ip + 12, t.local_ip.value);
        store_be32(ip + 16, t.remote_ip.value);
    }
    if (ihl >= wire::ipv4_min_header_len && wire::ethernet_header_len + ihl <= f.size() && !keep_ip_sum) {
        store_be16(ip + 10, 0);
        store_be16(ip + 10, wire::inet_checksum({ip, ihl}));
    }
    if (ip[9] != wire::ip_proto_tcp || ihl < wire::ipv4_min_header_len) return;
    const std::size_t total = load_be16(ip + 2);
    if (total < ihl || wire::ethernet_header_len + total > f.size()) return;
    std::uint8_t *tcp = ip + ihl;
    const std::size_t len = total - ihl;
    if (len < wire::tcp_min_header_len) return;
    if (!keep_addresses) {
        store_be16(tcp, t.local_port);
        store_be16(tcp + 2, t.remote_port);
    }
    // What the receiver expects next (its TCB, or its TIME-WAIT record), or what the
    // sender would send.
    seq32 seq_base{}, ack_base{};
    std::uint32_t ts_base = 0, ecr_base = 0;
    const int side = peer_view ? a.from : a.to;
    const four_tuple st = tuples_[a.rec].at(side);
    flow::shard &s = at(side).s;
    if (const auto id = s.find(st)) {
        const tcp::connection &c = s.connection(*id);
        seq_base = peer_view ? c.snd_nxt() : c.rcv_nxt();
        ack_base = peer_view ? c.rcv_nxt() : c.snd_una();
        ts_base = peer_view ? tuples_[a.rec].last_tsval[side] : c.ts_recent();
        ecr_base = peer_view ? c.ts_recent() : tuples_[a.rec].last_tsval[side];
    } else if (const auto tw = s.time_waits().find(st, s.time_waits().hash(st))) {
        const tcp::time_wait_state r = s.time_waits().state(*tw);
        seq_base = peer_view ? r.snd_nxt : r.rcv_nxt;
        ack_base = peer_view ? r.rcv_nxt : r.snd_nxt;
        ts_base = peer_view ? tuples_[a.rec].last_tsval[side] : r.ts_recent;
        ecr_base = peer_view ? r.ts_recent : tuples_[a.rec].last_tsval[side];
    } else if (peer_view) {
        ts_base = tuples_[a.rec].last_tsval[side];
    }
    if (rel_seq) store_be32(tcp + 4, load_be32(tcp + 4) + seq_base.raw());
    if (rel_ack) store_be32(tcp + 8, load_be32(tcp + 8) + ack_base.raw());
    if (rel_ts) {
        // The first timestamp option of a well-formed list.
        const std::size_t hl = std::min<std::size_t>((tcp[12] >> 4) * 4u, len);
        for (std::size_t i = wire::tcp_min_header_len; i < hl;) {
            const std::uint8_t kind = tcp[i];
            if (kind == wire::tcp_opt_eol) break;
            if (kind == wire::tcp_opt_nop) {
                ++i;
                continue;
            }
            if (i + 1 >= hl || tcp[i + 1] < 2) break;
            if (kind == wire::tcp_opt_timestamp && tcp[i + 1] == 10 && i + 10 <= hl) {
                store_be32(tcp + i + 2, load_be32(tcp + i + 2) + ts_base);
                store_be32(tcp + i + 6, load_be32(tcp + i + 6) + ecr_base);
                break;
            }
            i += tcp[i + 1];
        }
    }
    if (!keep_tcp_sum) {
        store_be16(tcp + 16, 0);
        const std::uint32_t pseudo = wire::ipv4_pseudo_header_sum(ipv4_addr{load_be32(ip + 12)}, ipv4_addr{load_be32(ip + 16)},
                                                                  wire::ip_proto_tcp, static_cast<std::uint16_t>(len));
        store_be16(tcp + 16, wire::csum_fold(wire::csum_partial({tcp, len}, pseudo)));
    }
}

void world::frame_op(fuzz::input &in, bool raw, bool lookahead) {
    const aim a = target(in.u8());
    const std::uint8_t mode = in.u8();
    const auto bytes = in.bytes(in.u16() % max_frame);
    std::vector<std::uint8_t> f;
    if (raw) {
        f.assign(bytes.begin(), bytes.end());
    } else {
        f.resize(wire::fast_l4_offset + bytes.size());
        (void)wire::write_ethernet(f, node_mac[a.to], node_mac[a.from], wire::ethertype_ipv4);
        const four_tuple t = tuples_[a.rec].at(a.from);
        (void)wire::write_ipv4(std::span(f).subspan(wire::ethernet_header_len),
                               wire::ipv4_fields{.total_length = static_cast<std::uint16_t>(wire::ipv4_min_header_len +
                                                                                            bytes.size()),
                                                 .protocol = wire::ip_proto_tcp,
                                                 .src = t.local_ip,
                                                 .dst = t.remote_ip});
        std::copy(bytes.begin(), bytes.end(), f.begin() + wire::fast_l4_offset);
        if ((mode & 0x20) != 0 && f.size() < wire::ethernet_min_frame_len) f.resize(wire::ethernet_min_frame_len);
    }
    patch(f, a, mode, raw);
    receive(a.to, f, (mode & 0x80) != 0, lookahead, nullptr);
}

void world::time_op(std::uint8_t k) {
    static constexpr std::array<std::uint32_t, 16> steps{1,     2,     5,      10,     40,     100,    200,   500,
                                                         1'000, 1'500, 3'000, 6'000, 10'000, 30'000, 70'000, 200'000};
    const std::uint64_t ms = steps[k & 15];
    // At once, as a loop that stalled; or in up to 64 turns, as a loop that kept up.
    const std::uint64_t turns = (k & 0x10) != 0 ? 1 : std::min<std::uint64_t>(ms, 64);
    for (std::uint64_t i = 0; i < turns; ++i) advance(ms / turns + (i < ms % turns ? 1 : 0));
}

void world::link_op(std::uint8_t k) {
    const std::size_t count = (k & 15u) + 1;
    const bool drop = (k & 0x10) != 0, from_back = (k & 0x20) != 0, duplicate = (k & 0x40) != 0,
               device_checked = (k & 0x80) != 0;
    for (std::size_t i = 0; i < count && !link_.empty(); ++i) {
        packet p;
        if (from_back) {
            p = std::move(link_.back());
            link_.pop_back();
        } else {
            p = std::move(link_.front());
            link_.pop_front();
        }
        if (drop) continue;
        if (duplicate && link_.size() < max_in_flight) link_.push_back(p);
        deliver(p, device_checked);
    }
}

void world::app_op(fuzz::input &in) {
    const aim a = target(in.u8());
    const std::uint8_t action = in.u8();
    const std::uint8_t arg = in.u8();
    flow::shard &s = at(a.to).s;
    const auto id = s.find(tuples_[a.rec].at(a.to));
    switch (action & 7) {
    case 0:
        if (id) {
            std::vector<std::uint8_t> data((arg + 1u) * 37u);
            for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i);
            (void)s.send(*id, data);
        }
        break;
    case 1:
        if (id) s.shutdown(*id);
        break;
    case 2:
        if (id) s.close(*id);
        break;
    case 3:
        if (id) s.abort(*id);
        break;
    case 4: {
        const int server = (arg & 1) != 0 ? node_c : node_b;
        const std::uint16_t port = (arg & 2) != 0 ? port_hold : port_echo;
        if (tuples_.size() < max_tuples) (void)connect(next_port_++, server, port, app_of(node_a, (arg & 4) != 0));
        break;
    }
    case 5: {
        app &h = app_of(a.to, (arg & 1) != 0);
        h.echo = (arg & 2) != 0;
        h.close = (arg & 4) != 0;
        break;
    }
    case 6: at(a.to).io.room = arg == 255 ? UINT32_MAX : arg * 64u; break;
    case 7: // a whole send buffer at once
        if (id) {
            const std::vector<std::uint8_t> data(s.settings().send_buffer + 1, 0xa5);
            (void)s.send(*id, data);
        }
        break;
    }
    check_node(a.to);
}

bool world::step(fuzz::input &in) {
    if (ops_ == max_ops || in.empty()) return false;
    ++ops_;
    const std::uint8_t op = in.u8();
    const bool lookahead = (op & 0x08) != 0;
    if (verbose) std::fprintf(stderr, "op %u at %llu ms\n", op & 7u, static_cast<unsigned long long>(now_));
    switch (op & 7) {
    case 0:
    case 5: frame_op(in, false, lookahead); break;
    case 1: frame_op(in, true, lookahead); break;
    case 2:
    case 7: time_op(in.u8()); break;
    case 3:
    case 6: link_op(in.u8()); break;
    case 4: app_op(in); break;
    }
    return true;
}

// Every shard stops: nothing it held may be left behind.
void world::finish() {
    for (int i = 0; i < nodes; ++i) {
        node &n = at(i);
        n.s.abort_all();
        CHECK_RULE(n.live.empty(), "every connection the application held got on_closed when the shard stopped");
        CHECK_RULE(n.s.connections() == 0 && n.s.time_wait_entries() == 0, "abort_all leaves no TCB and no TIME-WAIT");
        CHECK_RULE(n.io.streams.empty(), "every connection's stream is forgotten when it goes");
        CHECK_RULE(n.io.held_.empty(), "every out-of-order segment held is released");
        CHECK_RULE(n.s.ooo_queues_in_use() == 0, "every reassembly queue lent is given back");
    }
}

// The differential: the run with header prediction and the run without it agree.
void compare(world &on, world &off) {
    CHECK_RULE(on.trace() == off.trace(),
               "header prediction sends and calls back what the full path does (RFC 9293 §3.10.7, DESIGN.md)");
    CHECK_RULE(on.tuples().size() == off.tuples().size(), "header prediction runs the operations the full path runs");
    for (const tuple_rec &r : on.tuples()) {
        for (const int i : {node_a, r.server}) {
            const four_tuple t = r.at(i);
            const flow::shard &a = on.at(i).s;
            const flow::shard &b = off.at(i).s;
            const auto x = a.find(t), y = b.find(t);
            CHECK_RULE(x.has_value() == y.has_value() && a.in_time_wait(t) == b.in_time_wait(t),
                       "header prediction keeps the connections the full path keeps");
            if (!x) continue;
            const std::string d =
                tcp::connection_test_access::differences(a.connection(*x), b.connection(*y), a.ooo_queue_of(*x),
                                                         b.ooo_queue_of(*y));
            if (!d.empty() && verbose) std::fprintf(stderr, "TCB differs:%s\n", d.c_str());
            CHECK_RULE(d.empty(), "header prediction leaves a TCB as the full path leaves it");
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    fuzz::input in({data, size});
    const std::uint8_t settings = in.u8();
    const bool differential = (settings & 0x08) != 0;
    world on(static_cast<std::uint8_t>(settings & ~0x08));
    on.setup();
    if (!differential) {
        while (on.step(in)) {
        }
        on.finish();
        return 0;
    }
    // The operations read the input the same way whatever the world does, so each run
    // takes its own copy of it.
    world off(settings);
    off.setup();
    fuzz::input again = in;
    compare(on, off);
    while (on.step(in)) {
        (void)off.step(again);
        compare(on, off);
    }
    on.finish();
    off.finish();
    compare(on, off);
    return 0;
}
