// A TCP connection: its TCB and the state machine that drives it (RFC 9293 §3.10).
//
// The core never transmits, never allocates and never reads a clock. Every entry point
// takes a `context`: the current time, the shard's timer wheel, its counters, its
// settings, and a `sink` through which the connection hands out segments to send and
// events for the application. The owner (the engine's shard, or the simulation) turns
// segments into packets and events into callbacks. That is what lets the simulation
// drive two endpoints through loss and reordering on a virtual clock.
//
// Data is counted, not held: the application's bytes live with the owner. A segment
// to send names how many bytes of the send stream it carries from its sequence number
// on; `acked` events tell the owner how much it may release. Received bytes are handed
// to the application straight from the segment, in order. A connection that carries no
// data therefore holds no buffer memory at all.
//
// Timers are data in the TCB (one deadline per kind) behind one intrusive hook on the
// wheel, armed for the earliest deadline; arming and cancelling never allocate.
#pragma once

#include <linerate/base/seq32.hpp>
#include <linerate/base/ticks.hpp>
#include <linerate/tcp/counters.hpp>
#include <linerate/tcp/isn.hpp>
#include <linerate/tcp/rto.hpp>
#include <linerate/tcp/segment.hpp>
#include <linerate/tcp/settings.hpp>
#include <linerate/tcp/state.hpp>
#include <linerate/tcp/syn_cookie.hpp>
#include <linerate/timer/wheel.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace linerate::tcp {

class connection;
class reassembly_queue;
struct time_wait_state;

enum class close_reason : std::uint8_t {
    normal,  // both FINs exchanged (or TIME-WAIT handed over)
    reset,   // the peer reset a synchronized connection (RFC 9293 MUST-12: told apart)
    refused, // the peer reset our SYN (active open refused)
    timeout, // retransmissions ran out (SYN, SYN-ACK, data, FIN, keepalive)
    aborted, // the application aborted
};
[[nodiscard]] std::string_view to_string(close_reason r) noexcept;

enum class event_type : std::uint8_t {
    accepted,    // passive open reached ESTABLISHED
    connected,   // active open reached ESTABLISHED
    data,        // in-order bytes from the peer (event::data)
    acked,       // the peer acknowledged event::bytes more bytes of the send stream
    writable,    // send() had refused bytes and there is room again
    peer_closed, // the peer's FIN arrived: no more data will come
    time_wait,   // entered TIME-WAIT: the owner should move it to a TIME-WAIT entry
    closed,      // the connection is gone (event::reason); the owner may release it
};

struct event {
    event_type type{};
    close_reason reason = close_reason::normal;
    std::uint32_t bytes = 0;
    std::span<const std::uint8_t> data{};
};

// The events of core calls, kept for the owner to hand out once the core has returned
// (callbacks never run inside the core). An event joins the outcome at the tail when
// that outcome is the same connection's and the event comes later in the order the
// application hears them (established, writable, data, peer_closed, time_wait) and is
// not in it yet; otherwise it starts a new outcome. The application therefore hears
// exactly the sequence that was raised, while a call that raises several events (the
// handshake's ACK with a request: accepted and data; a response with the FIN: data and
// peer_closed) costs one entry, handed out with bit tests instead of one queued record
// and one dispatch per event. `acked` and `closed` do not come here: the owner must
// act on `acked` at once (what the connection sends next is counted from the new first
// byte), and `closed` ends the connection after everything else (sink::notify).
class outcome_queue {
public:
    struct outcome {
        connection *conn = nullptr;
        std::uint8_t bits = 0; // 1 << event_type
        std::uint8_t rank = 0; // the latest event's place in the hearing order
        std::span<const std::uint8_t> data{};
    };
    [[nodiscard]] static constexpr std::uint8_t bit(event_type t) noexcept {
        return static_cast<std::uint8_t>(1u << static_cast<unsigned>(t));
    }

    // `capacity_log2`: the queue holds 2^capacity_log2 outcomes (a mask wraps it).
    // `lost` counts events that found it full.
    outcome_queue(unsigned capacity_log2, std::uint64_t &lost)
        : ring_(std::size_t{1} << capacity_log2), mask_((std::size_t{1} << capacity_log2) - 1), lost_(lost) {}

    void raise(connection &c, event_type t, std::span<const std::uint8_t> data = {}) noexcept {
        const std::uint8_t r = rank_of(t);
        if (count_ > 0) {
            outcome &b = ring_[(head_ + count_ - 1) & mask_];
            if (b.conn == &c && (b.bits & bit(t)) == 0 && r >= b.rank) {
                b.bits |= bit(t);
                b.rank = r;
                if (t == event_type::data) b.data = data;
                return;
            }
        }
        if (count_ == ring_.size()) [[unlikely]] {
            ++lost_;
            return;
        }
        ring_[(head_ + count_) & mask_] = outcome{&c, bit(t), r, t == event_type::data ? data : std::span<const std::uint8_t>{}};
        ++count_;
    }
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    // The oldest outcome, taken out: events raised while it is handed out go behind it.
    outcome pop() noexcept {
        const outcome o = ring_[head_];
        head_ = (head_ + 1) & mask_;
        --count_;
        return o;
    }

private:
    [[nodiscard]] static constexpr std::uint8_t rank_of(event_type t) noexcept {
        switch (t) {
        case event_type::accepted:
        case event_type::connected: return 0;
        case event_type::writable: return 1;
        case event_type::data: return 2;
        case event_type::peer_closed: return 3;
        default: return 4; // time_wait (acked and closed never come here)
        }
    }
    std::vector<outcome> ring_;
    std::size_t mask_;
    std::size_t head_ = 0, count_ = 0;
    std::uint64_t &lost_;
};

// What the owner provides.
class sink {
public:
    // `c` is null for a reset answering a segment of no connection.
    virtual void transmit(const connection *c, const four_tuple &t, const out_segment &s) = 0;
    virtual void notify(connection &c, const event &e) = 0;
    // A reassembly queue for a connection that received data out of order, named by a
    // non-zero id (the TCB keeps 4 bytes of id rather than 8 of pointer); 0 when none is
    // free (the segment is then dropped and counted). ooo_queue() finds it by its id.
    virtual std::uint32_t acquire_ooo_queue() = 0;
    virtual reassembly_queue &ooo_queue(std::uint32_t id) = 0;
    virtual void release_ooo_queue(std::uint32_t id) = 0;

    // Bytes received out of order (RFC 9293 §3.10.7.4 seventh: kept until the gap before
    // them fills). The owner keeps `bytes`, which start at sequence number `first`, and
    // returns a non-zero handle for them, or 0 when it cannot keep them (the segment is
    // then dropped and counted, and the peer retransmits). The defaults keep nothing.
    struct held_bytes {
        seq32 first{};
        std::span<const std::uint8_t> bytes{};
    };
    virtual std::uint64_t hold(connection &, seq32 /*first*/, std::span<const std::uint8_t>) { return 0; }
    virtual held_bytes held(std::uint64_t /*handle*/) { return {}; }
    virtual void release(std::uint64_t /*handle*/) {}

    // Output that can wait for the application (see connection::flush): the connection
    // asks once, and the owner promises to call c.flush(ctx) after the callbacks of the
    // call in progress have run, so an ACK rides on the request or response they send
    // and a FIN on the last data. False (the default) means no promise, and the
    // connection sends at once.
    virtual bool want_flush(connection &) { return false; }

protected:
    ~sink() = default;
};

// Per-shard state the core reads and writes, passed to every call.
struct context {
    tick now{};
    std::uint64_t now_us = 0; // for RFC 6528's 4 µs ISN clock
    const settings &cfg;
    timer::wheel &wheel;
    const isn_generator &isn;
    counters &stats;
    sink &out;
    // RFC 5961 §7 challenge-ACK budget of this shard: refilled to the configured limit
    // when the one-second window ending at challenge_window_end has passed.
    std::uint32_t &challenge_budget;
    tick &challenge_window_end;
    // The shard's cache of TSval offsets; without one each connection hashes its own.
    ts_offset_cache *ts_offsets = nullptr;
    // Where events for the application go; without a queue (unit tests of the core
    // alone) each goes to sink::notify as it is raised.
    outcome_queue *events = nullptr;
    // The RTO bounds (RFC 6298), built once from cfg.rto by the owner: they are the same
    // for every connection, so no TCB carries a copy, and building them saturates four
    // settings. Without them each call builds its own from cfg.rto.
    const rto_bounds *rto = nullptr;
    // An event for the application (not `acked` or `closed`).
    void raise(connection &c, event_type t, std::span<const std::uint8_t> data = {}) noexcept {
        if (events != nullptr)
            events->raise(c, t, data);
        else
            out.notify(c, event{.type = t, .bytes = static_cast<std::uint32_t>(data.size()), .data = data});
    }
};

// RFC 7323 §5.4 and appendix A: the TSval offset of a 4-tuple, keyed per pair of
// addresses (see open_*), through the shard's cache when there is one. A pure function
// of the addresses, so TIME-WAIT computes it again instead of storing it.
[[nodiscard]] inline std::uint32_t ts_offset_of(context &ctx, const four_tuple &t) noexcept {
    return ctx.ts_offsets != nullptr ? ctx.ts_offsets->get(ctx.isn, t.local_ip, t.remote_ip)
                                     : ctx.isn.ts_offset(t.local_ip, t.remote_ip);
}

class connection {
public:
    // A timer deadline that is not set.
    static constexpr tick never{~std::uint64_t{0}};

    connection() noexcept = default;
    connection(const connection &) = delete;
    connection &operator=(const connection &) = delete;

    // OPEN, active (RFC 9293 §3.10.1): send a SYN, go to SYN-SENT.
    void open_active(const four_tuple &t, context &ctx) noexcept;
    // LISTEN receiving a SYN (RFC 9293 §3.10.7.2 third): send a SYN-ACK, go to
    // SYN-RECEIVED. Which listener it came from is the owner's to keep: MUST-11's return
    // to LISTEN is the connection closing (reset) while the listener goes on listening.
    void open_passive(const four_tuple &t, const segment &syn, context &ctx) noexcept;

    // SYN cookies (RFC 4987 §3.6, syn_cookie.hpp). A listener under pressure answers a
    // SYN with a SYN-ACK whose ISS is a cookie and keeps nothing...
    static void send_cookie_syn_ack(const four_tuple &t, const segment &syn, context &ctx) noexcept;
    // ... and an ACK for no connection is checked for one (SEG.ACK - 1 the cookie,
    // SEG.SEQ - 1 the peer's ISN): what it restores, or nullopt (counted in
    // SyncookiesFailed) when it holds none this host made in the last two periods.
    [[nodiscard]] static std::optional<cookie_options> check_cookie(const four_tuple &t, const segment &ack,
                                                                    context &ctx) noexcept;
    // The TCB open_passive would have built for that SYN, rebuilt from the ACK and the
    // cookie, in SYN-RECEIVED with the SYN-ACK counted as sent: the owner then gives
    // it the ACK (input), which establishes it as any third segment of a handshake.
    void open_from_cookie(const four_tuple &t, const segment &ack, const cookie_options &o, context &ctx) noexcept;

    // SEGMENT ARRIVES (RFC 9293 §3.10.7.3 and §3.10.7.4): the segment the TCB expects
    // next takes the header-prediction short path (settings::header_prediction), any
    // other the full path; both give the same result.
    void input(const segment &seg, context &ctx) noexcept;
    // The wheel fired this connection's hook.
    void on_timer(context &ctx) noexcept;

    // SEND (§3.10.2): appends up to `bytes` to the send stream; returns how many were
    // taken (the rest waits for a `writable` event).
    std::uint32_t send(std::uint32_t bytes, context &ctx) noexcept;
    // How many bytes send() would take now.
    [[nodiscard]] std::uint32_t send_space(const settings &cfg) const noexcept;
    // Half-close: no more data from us; a FIN follows the queued bytes, and we keep
    // receiving (FIN-WAIT-2 lasts as long as the peer keeps its side open).
    void shutdown(context &ctx) noexcept;
    // CLOSE (§3.10.4): shutdown, and the application reads no more: FIN-WAIT-2 times
    // out, and data arriving afterwards is answered with RST (RFC 1122 §4.2.2.13).
    void close(context &ctx) noexcept;
    // ABORT (§3.10.5): RST if synchronized, then CLOSED at once.
    void abort(context &ctx) noexcept;

    // Sends, together, what waited for the application: the bytes of send(), the FIN of
    // shutdown() or close(), and an ACK an arriving segment left owed (the handshake's
    // last ACK, a FIN's ACK, the ACK due for data). One segment then carries what would
    // otherwise be two or three: RFC 9293 §3.10.7.3 lets the handshake's ACK carry
    // "data or controls that were queued for transmission", and §3.10.4 sends the FIN
    // once the queued data is segmentized, which puts it on the last data segment. Only
    // an owner whose sink::want_flush() said yes calls it, in the same turn.
    void flush(context &ctx) noexcept;

    [[nodiscard]] state current() const noexcept { return state_; }
    [[nodiscard]] bool in(state_set s) const noexcept { return s.contains(state_); }
    [[nodiscard]] const four_tuple &tuple() const noexcept { return tuple_; }
    [[nodiscard]] bool passive() const noexcept { return passive_; }
    [[nodiscard]] timer::hook &hook() noexcept { return hook_; }

    // Read-only views of the RFC variables, for tests and telemetry.
    [[nodiscard]] seq32 snd_una() const noexcept { return snd_una_; }
    [[nodiscard]] seq32 snd_nxt() const noexcept { return snd_nxt_; }
    [[nodiscard]] seq32 snd_end() const noexcept { return snd_end_; }
    [[nodiscard]] std::uint32_t snd_wnd() const noexcept { return snd_wnd_; }
    [[nodiscard]] seq32 rcv_nxt() const noexcept { return rcv_nxt_; }
    // RCV.WND, under the settings the connection runs with (see rcv_window_).
    [[nodiscard]] std::uint32_t rcv_wnd(const settings &cfg) const noexcept {
        return rcv_window_ == window_wide     ? cfg.receive_buffer
               : rcv_window_ == window_narrow ? std::min<std::uint32_t>(cfg.receive_buffer, 0xffff)
                                              : 0;
    }
    [[nodiscard]] std::uint16_t mss() const noexcept { return snd_mss_; }
    [[nodiscard]] std::uint8_t snd_wscale() const noexcept { return snd_wscale_; }
    [[nodiscard]] std::uint8_t rcv_wscale() const noexcept { return rcv_wscale_; }
    [[nodiscard]] bool timestamps() const noexcept { return ts_ok_; }
    [[nodiscard]] bool sack_permitted() const noexcept { return sack_ok_; }
    // TS.Recent; 0 without timestamps (its word then times segments: see row 3).
    [[nodiscard]] std::uint32_t ts_recent() const noexcept { return ts_ok_ ? ts_recent_ : 0; }
    // The owner's id of the reassembly queue it holds (sink::acquire_ooo_queue), 0 for none.
    [[nodiscard]] std::uint32_t ooo_queue() const noexcept { return ooo_; }
    [[nodiscard]] std::uint32_t unsent() const noexcept { return static_cast<std::uint32_t>(snd_end_ - snd_nxt_); }
    [[nodiscard]] const rto_estimator &rto() const noexcept { return rto_; }
    // The RTO the retransmission timer is armed with now, under the shard's bounds.
    [[nodiscard]] std::uint32_t rto_ms(const context &ctx) const noexcept {
        return ctx.rto != nullptr ? rto_.rto_ms(*ctx.rto) : rto_.rto_ms(rto_bounds(ctx.cfg.rto));
    }
    // The deadlines as full ticks (never when not set), given the time now: the TCB
    // keeps them in 32 bits each (base/ticks.hpp, short_deadline).
    [[nodiscard]] tick deadline_retransmit(tick now) const noexcept { return rexmit_at_.when(now, never); }
    [[nodiscard]] tick deadline_delayed_ack(tick now) const noexcept { return delack_at_.when(now, never); }
    [[nodiscard]] tick deadline_close(tick now) const noexcept { return close_at_.when(now, never); }

    // In TIME-WAIT: copies what TIME-WAIT needs into `tw`, then closes this connection
    // (event closed, normal) so the owner can give the TCB back. The owner keeps `tw`
    // for 2*MSL from now (it holds no timer: see time_wait.hpp).
    void hand_over(time_wait_state &tw, context &ctx) noexcept;

    // The TSval offset, while timestamps may be sent: during the handshake and, after
    // it, when they are in use; 0 otherwise (its word then times segments: see row 3).
    [[nodiscard]] std::uint32_t ts_offset() const noexcept {
        return ts_ok_ || in(state::syn_sent | state::syn_received) ? ts_offset_ : 0;
    }
    [[nodiscard]] std::uint16_t advertised_window(const settings &cfg) const noexcept;

    // The one place a TCB's state changes (smoltcp's set_state is the model).
    void set_state(state s, context &ctx) noexcept;

private:
    friend struct connection_test_access;

    // Header prediction: the segment this TCB expects next, and the short path that
    // takes it (see connection.cpp, "Header prediction").
    [[nodiscard]] bool predicted(const segment &seg, const settings &cfg) const noexcept;
    void input_predicted(const segment &seg, context &ctx) noexcept;

    // Segment arrival, one function per RFC 9293 §3.10.7 step group.
    void input_syn_sent(const segment &seg, context &ctx) noexcept;
    bool check_sequence(const segment &seg, context &ctx) noexcept;           // first
    bool check_rst(const segment &seg, context &ctx) noexcept;                // second
    bool check_syn(const segment &seg, context &ctx) noexcept;                // fourth
    void restart_keepalive(context &ctx) noexcept;
    bool check_ack(const segment &seg, context &ctx) noexcept;                // fifth
    // What follows an acceptable ACK (both paths): SYN-RECEIVED's move to ESTABLISHED,
    // and in the other states the new ACK, the window update and the state changes.
    // False when processing ends there.
    bool enter_established(const segment &seg, context &ctx) noexcept;
    bool process_ack(const segment &seg, context &ctx) noexcept;
    void process_text(const segment &seg, context &ctx) noexcept;             // seventh
    void deliver_in_order(std::span<const std::uint8_t> data, context &ctx) noexcept; // text at RCV.NXT
    void queue_out_of_order(seq32 seq, std::span<const std::uint8_t> data, context &ctx) noexcept;
    void deliver_queued(context &ctx) noexcept;
    void drop_ooo_queue(context &ctx) noexcept;
    void process_fin(const segment &seg, context &ctx) noexcept;              // eighth
    void accept_fin(context &ctx) noexcept;

    void start_send_side(const four_tuple &t, seq32 iss, context &ctx) noexcept; // what follows from the ISS
    void settle_rto_after_handshake() noexcept;
    void negotiate_options(const tcp_options &peer, context &ctx) noexcept;
    void update_ts_recent(const segment &seg) noexcept;
    bool sample_rtt_from_timestamp(const segment &seg, const context &ctx) noexcept;
    void send_syn(bool with_ack, context &ctx) noexcept;
    void send_ack(context &ctx) noexcept;
    void send_rst(seq32 seq, context &ctx) noexcept;
    // Cold and out of line, with invalid_ack: they answer segments that are not
    // acceptable, which the common path never meets, and inlined into the checks they
    // made the hot steps of input bigger (perf/instructions/profile).
    [[gnu::cold, gnu::noinline]] void challenge_ack(context &ctx) noexcept;
    // An ACK in reply to a segment that was not acceptable, at most one per
    // invalid_ack_interval_ms (Linux's tcp_oow_rate_limited), `skipped` counted
    // instead when this connection sent one too recently (or, in FIN-WAIT-2 with its
    // timeout and in TIME-WAIT, when the shard's challenge budget is spent). Segments that carry data and
    // no SYN are always answered, as in Linux: a data segment cannot be one half of an
    // ACK loop, and a peer retransmitting what we already hold needs the ACK.
    [[gnu::cold, gnu::noinline]] void invalid_ack(const segment &seg, std::uint64_t &skipped, context &ctx) noexcept;
    // Whether this connection answered an unacceptable segment less than
    // invalid_ack_interval_ms ago; if not, now counts as its last answer.
    [[nodiscard]] bool answered_recently(context &ctx) noexcept;
    // One ACK from the shard's RFC 5961 §7 budget, refilled once a second; false when spent.
    [[nodiscard]] static bool spend_challenge_budget(context &ctx) noexcept;
    void emit(out_segment s, context &ctx) noexcept;
    void push(context &ctx) noexcept; // send what window and stream allow, then FIN
    void on_new_ack(seq32 ack, const segment &seg, context &ctx) noexcept;
    void retransmit(context &ctx) noexcept;
    void enter_time_wait(context &ctx) noexcept;
    void finish(close_reason why, context &ctx) noexcept; // -> CLOSED, event closed
    [[nodiscard]] bool fin_acked() const noexcept { return fin_queued_ && snd_una_ == snd_end_ + 1; }
    [[nodiscard]] std::uint32_t in_flight() const noexcept { return static_cast<std::uint32_t>(snd_max_ - snd_una_); }
    void rearm(context &ctx) noexcept;
    // Sets deadline `d` to `ms` from now, and notes whether rearm() must move the timer.
    void set_deadline(short_deadline &d, const context &ctx, std::uint64_t ms) noexcept;
    // True when the owner took a flush request (sink::want_flush): output can wait for it.
    [[nodiscard]] bool defer(context &ctx) noexcept;
    // An ACK that may ride on what the application sends in its callbacks.
    void ack_soon(context &ctx) noexcept;
    [[nodiscard]] std::uint32_t ts_now(const context &ctx) const noexcept;

    // Row 1: what every segment reads (RFC 9293 §3.3.1 names). ISS and IRS are not
    // kept: only the handshake asks for them, and until it is over nothing past either
    // SYN is acknowledged or received, so ISS is SND.UNA and IRS is RCV.NXT - 1 (Linux
    // too keeps them only while the connection is a request sock).
    seq32 snd_una_{};
    seq32 snd_nxt_{};
    seq32 snd_max_{}; // highest sequence number sent; SND.NXT goes back on retransmit
    seq32 snd_end_{}; // end of the send stream the application has given us
    seq32 snd_wl1_{};
    seq32 snd_wl2_{};
    std::uint32_t snd_wnd_ = 0;     // scaled
    std::uint32_t max_snd_wnd_ = 0; // RFC 5961 §5 MAX.SND.WND
    std::uint32_t cwnd_ = 0;        // bytes; RFC 5681 slow start only, for now
    seq32 rcv_nxt_{};
    seq32 last_ack_sent_{}; // RFC 7323 §4.3 Last.ACK.sent
    seq32 ooo_fin_seq_{}; // or, during the handshake, the SYN's send tick (see row 3)
    std::uint8_t retries_ = 0;
    std::uint8_t keepalive_sent_ = 0;
    std::uint16_t snd_mss_ = 536;
    // Bit fields rather than bytes: state, window scales and flags share four bytes,
    // which with RCV.WND derived (rcv_window_) is what keeps the TCB at 128 bytes.
    state state_ : 4 = state::closed;
    std::uint8_t snd_wscale_ : 4 = 0; // at most 14 (RFC 7323 §2.3)
    std::uint8_t rcv_wscale_ : 4 = 0;
    // Full segments received since our last ACK, saturating at 3: only "at least two"
    // is ever asked (deliver_in_order).
    std::uint8_t unacked_segments_ : 2 = 0;
    // RCV.WND is the receive buffer of the settings, whole once both sides scale and at
    // most 65535 otherwise, and never changes after the SYNs: two bits say which, and
    // rcv_wnd() reads the size from the settings rather than 4 bytes of every TCB.
    static constexpr std::uint8_t window_none = 0, window_narrow = 1, window_wide = 2;
    std::uint8_t rcv_window_ : 2 = window_none;
    bool passive_ : 1 = false;
    bool ts_ok_ : 1 = false;
    bool sack_ok_ : 1 = false;
    bool fin_queued_ : 1 = false;   // shutdown or close: FIN after snd_end_
    bool app_closed_ : 1 = false;   // close: the application reads no more
    bool ws_ok_ : 1 = false;        // RFC 7323 §2.2: both SYNs carried a window scale
    bool fin_received_ : 1 = false;
    bool ooo_fin_ : 1 = false;      // a FIN arrived beyond a hole, at ooo_fin_seq_
    bool want_writable_ : 1 = false;
    bool rtt_timing_ : 1 = false;
    bool persist_ : 1 = false;      // rexmit_at_ is a zero-window probe, not a retransmit
    bool flush_pending_ : 1 = false; // the owner will call flush() (sink::want_flush said yes)
    bool ack_owed_ : 1 = false;     // an ACK is due and left for flush() to send with data
    bool delack_owed_ : 1 = false;  // the delayed-ACK timer is left for flush() to start
    bool rearm_due_ : 1 = false;    // a deadline was set before the armed timer, or none is armed

    // Row 2: timers.
    timer::hook hook_{};
    // 32 bits each rather than a 64-bit tick: every timer is set less than
    // short_deadline::reach ahead, and `now` rebuilds the rest.
    short_deadline rexmit_at_{}; // SYN, SYN-ACK, data and FIN retransmit; persist
    short_deadline delack_at_{}; // delayed ACK (MUST-40)
    short_deadline close_at_{};  // FIN-WAIT-2 timeout, TIME-WAIT expiry
    short_deadline idle_at_{};   // keepalive

    // Row 3: colder. Three words hold two variables each, never live at the same time;
    // the accessors below name the second use. Whether timestamps are in use (ts_ok_) is
    // settled by the handshake and never changes after it:
    //   - ts_recent_ is TS.Recent (RFC 7323 §4.3) while timestamps are in use, and the
    //     sequence number of the segment Karn's algorithm times (RFC 6298 §3) while they
    //     are not: only then are segments timed (push), and only then is TS.Recent
    //     unused (it stays 0 without timestamps, which ts_recent() and hand_over() say).
    //   - ts_offset_ is the TSval offset (RFC 7323 §5.4) while timestamps may be sent
    //     (the handshake, before ts_ok_ is known, and after it if they are in use), and
    //     the tick the timed segment was first sent otherwise.
    //   - ooo_fin_seq_ holds, during the handshake, the tick the SYN was first sent,
    //     for the RTT sample the handshake takes (input_syn_sent, enter_established):
    //     a FIN is taken only from ESTABLISHED on (RFC 9293 §3.10.7.4 eighth), so no
    //     FIN beyond a hole is remembered before then.
    // That saves 8 bytes on each of millions of TCBs.
    rto_estimator rto_{};
    std::uint32_t ts_recent_ = 0; // or rtt_seq()
    std::uint32_t ts_offset_ = 0; // RFC 7323 §5.4: the pair of addresses' TSval offset; or rtt_start()
    [[nodiscard]] seq32 rtt_seq() const noexcept { return seq32{ts_recent_}; }
    void set_rtt_seq(seq32 s) noexcept { ts_recent_ = s.raw(); }
    [[nodiscard]] std::uint32_t rtt_start() const noexcept { return ts_offset_; }
    void set_rtt_start(std::uint32_t t) noexcept { ts_offset_ = t; }
    // A handshake with no tick of its SYN-ACK to measure from (a cookie's, without
    // timestamps): keepalive_sent_ says so until ESTABLISHED, where keepalives start.
    [[nodiscard]] bool handshake_unmeasured() const noexcept { return keepalive_sent_ != 0; }
    [[nodiscard]] std::uint32_t syn_sent_at() const noexcept { return ooo_fin_seq_.raw(); }
    void set_syn_sent_at(std::uint32_t t) noexcept { ooo_fin_seq_ = seq32{t}; }
    four_tuple tuple_{};
    std::uint32_t ooo_ = 0; // the owner's id of the reassembly queue held, 0 for none
};
// Rows 1 and 2 (the first 96 bytes) are touched by every segment, row 3 less often.
// Shards hold millions of these (the target is 10 M idle connections per side in under
// 4 GiB for both sides together), so every byte is paid ten million times: growth is a
// decision, not an accident. 128 bytes, two cache lines: 192 before the deadlines went to
// 32 bits, the RTO bounds, the user word and the listener left, the reassembly queue
// became an id, the Karn words were shared, RCV.WND was derived and ISS and IRS left.
// The rest is the timer hook (24 bytes, the wheel's), the 4-tuple (12) and RFC 9293's
// variables.
static_assert(sizeof(connection) <= 128, "the TCB grew");

} // namespace linerate::tcp
