// The TCP connection state machine: RFC 9293 §3.10 event processing, with RFC 5961
// (blind in-window attacks), RFC 7323 (window scale, timestamps, PAWS), RFC 6298
// (retransmission timer), RFC 6928 (initial window) and RFC 5681 (slow start after a
// timeout). See connection.hpp for the shape: nothing here transmits, allocates or
// reads a clock; it tells the context's sink what to send and what happened.
//
// Segment arrival reads as the RFC does, step by step ("first, check sequence number",
// "second, check the RST bit", ...). Where it departs from the RFC the comment says
// so and why.
//
// The file is in the order of RFC 9293 §3.10, so that a rule is found by its section
// number: first what every section uses, then 3.10.1 OPEN, 3.10.2 SEND, 3.10.3 RECEIVE,
// 3.10.4 CLOSE, 3.10.5 ABORT, 3.10.6 STATUS, 3.10.7 SEGMENT ARRIVES (header prediction in
// front, then 3.10.7.1 to 3.10.7.4, the steps of 3.10.7.4 each labelled where its
// function is defined) and 3.10.8 TIMEOUTS, each under a banner with its section number.
//
// Time: the core counts in ticks and takes a tick to be one millisecond, the wheel's
// finest granularity; every duration in `settings` is in milliseconds.
#include <linerate/tcp/connection.hpp>

#include <linerate/tcp/reassembly.hpp>
#include <linerate/tcp/time_wait.hpp>

#include <algorithm>
#include <bit>

namespace linerate::tcp {
namespace {

using f = tcp_flags;

constexpr std::uint16_t default_mss = 536; // RFC 9293 §3.7.1 MUST-15
constexpr std::uint32_t ts_option_len = 12; // RFC 7323 Appendix A: NOP, NOP, TS(10)

constexpr short_deadline unset{};

// RFC 7323 §2.3: the shift that lets the receive buffer be advertised, at most 14.
std::uint8_t wscale_for(std::uint32_t buffer) noexcept {
    // The least s with buffer >> s <= 0xffff is how far the buffer's width exceeds 16
    // bits: a bit_width instead of a loop, on every open.
    const int excess = static_cast<int>(std::bit_width(buffer)) - 16;
    return static_cast<std::uint8_t>(std::clamp(excess, 0, int{wire::tcp_max_window_scale}));
}

} // namespace

std::string_view to_string(close_reason r) noexcept {
    switch (r) {
    case close_reason::normal: return "normal";
    case close_reason::reset: return "reset";
    case close_reason::refused: return "refused";
    case close_reason::timeout: return "timeout";
    case close_reason::aborted: return "aborted";
    }
    return "?";
}

// --- Shared by every section: state, teardown, segment output ------------------------
//
// Not a §3.10 event of their own: OPEN, SEND, CLOSE, ABORT, SEGMENT ARRIVES and the
// TIMEOUTS all change state, end the connection and form segments through these, so
// they come first rather than inside one section that all the others reach into.

void connection::set_state(state s, context &ctx) noexcept {
    // Without a branch, as every connection changes state five or six times: CLOSED has
    // a slot in in_state like any state, written and never read (a closed connection is
    // about to be given back), so both slots change unconditionally; CurrEstab counts
    // ESTABLISHED and CLOSE-WAIT, as RFC 4022 tcpCurrEstab does, and moves by the
    // difference of the two states' membership (modulo 2^64, like the slots).
    constexpr unsigned counted = 1u << static_cast<unsigned>(state::established) |
                                 1u << static_cast<unsigned>(state::close_wait);
    const auto from = static_cast<unsigned>(state_), to = static_cast<unsigned>(s);
    ctx.stats.curr_estab += std::uint64_t{(counted >> to) & 1u} - std::uint64_t{(counted >> from) & 1u};
    --ctx.stats.in_state[from];
    ++ctx.stats.in_state[to];
    state_ = s;
}

void connection::finish(close_reason why, context &ctx) noexcept {
    rexmit_at_ = delack_at_ = close_at_ = idle_at_ = unset;
    ctx.wheel.cancel(hook_);
    drop_ooo_queue(ctx);
    set_state(state::closed, ctx);
    ctx.out.notify(*this, event{.type = event_type::closed, .reason = why});
}

std::uint32_t connection::ts_now(const context &ctx) const noexcept {
    return static_cast<std::uint32_t>(ctx.now.value) + ts_offset_;
}

std::uint16_t connection::advertised_window(const settings &cfg) const noexcept {
    // RFC 7323 §2.2: the window field of a SYN or SYN-ACK is never scaled.
    const std::uint32_t w = rcv_wnd(cfg) >> rcv_wscale_;
    return static_cast<std::uint16_t>(std::min<std::uint32_t>(w, 0xffff));
}

void connection::emit(out_segment s, context &ctx) noexcept {
    if (s.flags.has(f::ack)) {
        s.ack = rcv_nxt_;
        last_ack_sent_ = rcv_nxt_;
        // Any ACK we send carries everything received so far: no delayed ACK is owed.
        delack_at_ = unset;
        unacked_segments_ = 0;
        ack_owed_ = false;
    }
    if (!s.flags.has(f::syn)) s.window = advertised_window(ctx.cfg);
    // RFC 2018 §4: an ACK sent while data is held out of order reports it, most recent
    // block first. With timestamps only three blocks fit in the 40 option bytes.
    if (sack_ok_ && ooo_ != 0 && s.flags.has(f::ack) && !s.flags.has(f::syn | f::rst)) {
        std::size_t room = ts_ok_ ? 3 : wire::tcp_max_sack_blocks;
        // RFC 9293 §3.7.1: options come off the data a segment may carry (the MSS
        // counts data only, and snd_mss_ already leaves room for the timestamp), so a
        // data segment takes only the blocks that still fit, each 8 bytes after 4 of
        // NOP, NOP, kind and length. A full-sized one takes none; the pure ACKs sent for
        // out-of-order arrivals carry them (RFC 2018 §4), as Linux's tcp_current_mss does.
        if (s.payload_len > 0) {
            const std::uint32_t spare = snd_mss_ > s.payload_len ? snd_mss_ - s.payload_len : 0;
            room = std::min<std::size_t>(room, spare >= 12 ? (spare - 4) / 8 : 0);
        }
        s.options.sack_count = room == 0 ? 0
                                         : static_cast<std::uint8_t>(ctx.out.ooo_queue(ooo_).sack_blocks(
                                               rcv_nxt_, std::span(s.options.sack).first(room)));
    }
    // RFC 7323 §3.2: once negotiated, every segment but a RST carries a timestamp.
    if (ts_ok_ && !s.flags.has(f::rst) && !s.flags.has(f::syn)) {
        s.options.has_timestamp = true;
        s.options.ts_val = ts_now(ctx);
        s.options.ts_ecr = ts_recent_;
    }
    ++ctx.stats.out_segs;
    if (s.flags.has(f::rst)) ++ctx.stats.out_rsts;
    ctx.out.transmit(this, tuple_, s);
}

void connection::send_syn(bool with_ack, context &ctx) noexcept {
    // Only in SYN-SENT and SYN-RECEIVED, where nothing past the SYN is acknowledged:
    // SND.UNA is still ISS.
    out_segment s{.seq = snd_una_, .flags = tcp_flags{with_ack ? std::uint8_t(f::syn | f::ack) : f::syn}};
    // RFC 9293 §3.7.1 MUST-14: send our MSS in every SYN (RFC 6691: from the MTU).
    s.options.mss = ctx.cfg.our_mss();
    // A SYN offers what we support; a SYN-ACK may only answer what the SYN offered
    // (RFC 7323 §2.2 and §3.2, RFC 2018 §2).
    const bool offer_ws = with_ack ? ws_ok_ : ctx.cfg.window_scaling;
    const bool offer_ts = with_ack ? ts_ok_ : ctx.cfg.timestamps;
    const bool offer_sack = with_ack ? sack_ok_ : ctx.cfg.sack;
    if (offer_ws) s.options.window_scale = static_cast<std::uint8_t>(rcv_wscale_);
    s.options.sack_permitted = offer_sack;
    if (offer_ts) {
        s.options.has_timestamp = true;
        s.options.ts_val = ts_now(ctx);
        s.options.ts_ecr = with_ack ? ts_recent_ : 0;
    }
    s.window = static_cast<std::uint16_t>(std::min<std::uint32_t>(rcv_wnd(ctx.cfg), 0xffff));
    emit(s, ctx);
}

void connection::send_ack(context &ctx) noexcept {
    emit(out_segment{.seq = snd_nxt_, .flags = tcp_flags{f::ack}}, ctx);
}

void connection::send_rst(seq32 seq, context &ctx) noexcept {
    emit(out_segment{.seq = seq, .flags = tcp_flags{f::rst}}, ctx);
}

// The tick of this connection's last ACK for an unacceptable segment lives in the spare
// bits of close_at_ while that deadline is unset (short_deadline::marked), which it is
// until FIN-WAIT-2's timeout or TIME-WAIT: that keeps the TCB at 128 bytes. Then the
// word is taken, and the shard's challenge budget alone limits these ACKs.
bool connection::answered_recently(context &ctx) noexcept {
    const std::uint32_t interval = ctx.cfg.invalid_ack_interval_ms;
    if (interval == 0 || close_at_.set()) return false;
    if (close_at_.marked_within(ctx.now, interval)) return true;
    close_at_ = short_deadline::marked(ctx.now);
    return false;
}

bool connection::spend_challenge_budget(context &ctx) noexcept {
    if (ctx.now >= ctx.challenge_window_end) {
        ctx.challenge_window_end = ctx.now + 1000;
        ctx.challenge_budget = ctx.cfg.challenge_ack_limit;
    }
    if (ctx.challenge_budget == 0) return false;
    --ctx.challenge_budget;
    return true;
}

void connection::invalid_ack(const segment &seg, std::uint64_t &skipped, context &ctx) noexcept {
    const bool limited = seg.len() == 0 || seg.has(f::syn);
    if (limited && (answered_recently(ctx) || (close_at_.set() && !spend_challenge_budget(ctx)))) {
        ++skipped;
        return;
    }
    send_ack(ctx);
}

void connection::challenge_ack(context &ctx) noexcept {
    // RFC 5961 §7: "An implementation SHOULD include an ACK throttling mechanism". Two,
    // as Linux: per connection, then per shard, a budget refilled once a second, so an
    // attacker cannot turn us into an ACK amplifier.
    if (answered_recently(ctx)) {
        ++ctx.stats.ack_skipped_challenge;
        return;
    }
    if (!spend_challenge_budget(ctx)) {
        ctx.stats.count(drop::challenge_ack_limited);
        return;
    }
    ++ctx.stats.challenge_acks;
    send_ack(ctx);
}

bool connection::defer(context &ctx) noexcept {
    if (flush_pending_) return true;
    flush_pending_ = ctx.out.want_flush(*this);
    return flush_pending_;
}

void connection::ack_soon(context &ctx) noexcept {
    if (defer(ctx))
        ack_owed_ = true;
    else
        send_ack(ctx);
}

// --- RFC 9293 §3.10.1 OPEN -----------------------------------------------------------
//
// open_passive is LISTEN's answer to a SYN (§3.10.7.2 third); negotiate_options also
// takes the SYN-ACK in SYN-SENT (§3.10.7.3).

void connection::negotiate_options(const tcp_options &peer, context &ctx) noexcept {
    // RFC 9293 §3.7.1 MUST-15: without an MSS option the peer takes 536.
    const std::uint16_t peer_mss = peer.mss.value_or(default_mss);
    snd_mss_ = std::min(peer_mss, ctx.cfg.our_mss());
    // RFC 7323 §2.2: scaling is in effect only when both SYNs carried the option.
    ws_ok_ = ctx.cfg.window_scaling && peer.window_scale.has_value();
    snd_wscale_ = ws_ok_ ? *peer.effective_window_scale() : 0;
    rcv_wscale_ = ws_ok_ ? wscale_for(ctx.cfg.receive_buffer) : 0;
    rcv_window_ = ws_ok_ ? window_wide : window_narrow;
    // RFC 2018 §2: SACK only when both sides sent SACK-permitted.
    sack_ok_ = ctx.cfg.sack && peer.sack_permitted;
    // RFC 7323 §3.2: timestamps only when both SYNs carried them.
    ts_ok_ = ctx.cfg.timestamps && peer.has_timestamp;
    if (ts_ok_) {
        ts_recent_ = peer.ts_val;
        // RFC 6691: the MSS excludes options; what each segment's options take comes
        // off the data it can carry.
        snd_mss_ = static_cast<std::uint16_t>(snd_mss_ > ts_option_len ? snd_mss_ - ts_option_len : 1);
    }
}

// RFC 9293 §3.4.1 MUST-8/MUST-9, RFC 6528: clock-driven, keyed per 4-tuple.
static seq32 new_iss(const four_tuple &t, const context &ctx) noexcept {
    return ctx.isn.generate(t.local_ip, t.local_port, t.remote_ip, t.remote_port, ctx.now_us);
}

void connection::start_send_side(const four_tuple &t, seq32 iss, context &ctx) noexcept {
    tuple_ = t;
    snd_una_ = iss;
    snd_nxt_ = iss + 1;
    snd_max_ = snd_nxt_;
    snd_end_ = iss + 1; // the application's stream starts after the SYN
    cwnd_ = ctx.cfg.initial_window_segments * ctx.cfg.our_mss(); // RFC 6928
    rto_ = rto_estimator{};
    // RFC 7323 §5.4 and appendix A: a keyed offset so TSval reveals no host clock, per
    // pair of addresses rather than per connection (as Linux's secure_tcp_ts_off), so
    // that successive connections between two hosts see TSval keep growing: RFC 6191
    // lets a SYN reopen a 4-tuple in TIME-WAIT only when its TSval is newer, which a
    // random offset per connection would refuse half the time.
    ts_offset_ = ts_offset_of(ctx, t);
    set_syn_sent_at(static_cast<std::uint32_t>(ctx.now.value));
}

void connection::open_active(const four_tuple &t, context &ctx) noexcept {
    passive_ = false;
    start_send_side(t, new_iss(t, ctx), ctx);
    // Offer scaling for our whole buffer; if the SYN-ACK does not scale, we fall back.
    rcv_wscale_ = ctx.cfg.window_scaling ? wscale_for(ctx.cfg.receive_buffer) : 0;
    rcv_window_ = ctx.cfg.window_scaling ? window_wide : window_narrow;
    set_state(state::syn_sent, ctx);
    ++ctx.stats.active_opens;
    send_syn(false, ctx);
    set_deadline(rexmit_at_, ctx, rto_ms(ctx)); // RFC 6298 §2.1: 1 s before any sample
    rearm(ctx);
}

void connection::open_passive(const four_tuple &t, const segment &syn, context &ctx) noexcept {
    // RFC 9293 §3.10.7.2 third: "Set RCV.NXT to SEG.SEQ+1, IRS is set to SEG.SEQ ...
    // ISS should be selected and a SYN segment sent of the form
    // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>. SND.NXT is set to ISS+1 and SND.UNA to ISS.
    // The connection state should be changed to SYN-RECEIVED."
    // Data or a FIN in the SYN is not kept: we acknowledge only the SYN, so the peer
    // sends them again once the connection is established (what Linux does too).
    passive_ = true;
    rcv_nxt_ = syn.seq + 1;
    start_send_side(t, new_iss(t, ctx), ctx);
    negotiate_options(syn.options, ctx);
    // RFC 7323 §2.2: the window field of a SYN is not scaled.
    snd_wnd_ = syn.window;
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = syn.seq;
    set_state(state::syn_received, ctx);
    send_syn(true, ctx);
    set_deadline(rexmit_at_, ctx, rto_ms(ctx));
    rearm(ctx);
}

// RFC 4987 §3.6, SYN cookies: the SYN-ACK open_passive's TCB would send (send_syn),
// with the cookie for ISS, built from the SYN alone. Without timestamps it offers
// neither window scaling nor SACK, which the cookie could not bring back (Linux's
// tcp_clear_options in that case); with them, the TSval's low bits carry both.
void connection::send_cookie_syn_ack(const four_tuple &t, const segment &syn, context &ctx) noexcept {
    const syn_cookie_codec codec{ctx.isn};
    const std::uint8_t index = syn_cookie_codec::mss_index(syn.options.mss.value_or(default_mss));
    out_segment s{.seq = codec.encode(t, syn.seq, index, syn_cookie_codec::count_at(ctx.now_us)),
                  .ack = syn.seq + 1,
                  .flags = tcp_flags{std::uint8_t(f::syn | f::ack)}};
    s.options.mss = ctx.cfg.our_mss(); // RFC 9293 §3.7.1 MUST-14
    if (ctx.cfg.timestamps && syn.options.has_timestamp) {
        const bool ws = ctx.cfg.window_scaling && syn.options.window_scale.has_value();
        const bool sack = ctx.cfg.sack && syn.options.sack_permitted;
        if (ws) s.options.window_scale = wscale_for(ctx.cfg.receive_buffer);
        s.options.sack_permitted = sack;
        s.options.has_timestamp = true;
        // The TSval the TCB would send (the pair's offset on the shared clock), its low
        // bits the options: the connection's own TSvals then follow on from it.
        const std::uint32_t tsval = static_cast<std::uint32_t>(ctx.now.value) + ts_offset_of(ctx, t);
        s.options.ts_val = syn_cookie_codec::ts_encode(
            tsval, ws ? syn.options.effective_window_scale() : std::nullopt, sack);
        s.options.ts_ecr = syn.options.ts_val;
    }
    // RFC 7323 §2.2: a SYN-ACK's window is not scaled.
    s.window = static_cast<std::uint16_t>(std::min<std::uint32_t>(ctx.cfg.receive_buffer, 0xffff));
    ++ctx.stats.out_segs;
    ++ctx.stats.syncookies_sent;
    ctx.out.transmit(nullptr, t, s);
}

std::optional<cookie_options> connection::check_cookie(const four_tuple &t, const segment &ack,
                                                       context &ctx) noexcept {
    const auto fail = [&ctx]() -> std::optional<cookie_options> {
        ++ctx.stats.syncookies_failed;
        return std::nullopt;
    };
    // Only a plain ACK can be the third segment of a handshake.
    if (!ack.has(f::ack) || ack.has(f::syn) || ack.has(f::rst)) return fail();
    const syn_cookie_codec codec{ctx.isn};
    const auto mss = codec.decode(t, ack.seq - 1, ack.ack - 1, syn_cookie_codec::count_at(ctx.now_us));
    if (!mss) return fail();
    cookie_options o;
    // RFC 7323 §3.2: timestamps only if the SYN-ACK carried them, which it did exactly
    // when they are on here and the SYN had them; the ACK then has them too.
    if (ctx.cfg.timestamps && ack.options.has_timestamp) {
        const auto from_ts = syn_cookie_codec::ts_decode(ack.options.ts_ecr);
        // Options this host would not have offered: not its cookie (Linux's
        // cookie_timestamp_decode refuses them the same way).
        if (!from_ts || (from_ts->sack_permitted && !ctx.cfg.sack) ||
            (from_ts->window_scale && !ctx.cfg.window_scaling))
            return fail();
        o = *from_ts;
    }
    o.mss = *mss;
    ++ctx.stats.syncookies_recv;
    return o;
}

void connection::open_from_cookie(const four_tuple &t, const segment &ack, const cookie_options &o,
                                  context &ctx) noexcept {
    // open_passive's TCB for the SYN <SEQ=SEG.SEQ-1>: IRS and ISS from the ACK, the
    // peer's options from the cookie, TS.Recent from the ACK (the SYN's TSval is lost;
    // the ACK's is newer, and PAWS only asks that it not go back).
    passive_ = true;
    rcv_nxt_ = ack.seq;
    start_send_side(t, ack.ack - 1, ctx);
    tcp_options peer{};
    peer.mss = o.mss;
    peer.window_scale = o.window_scale;
    peer.sack_permitted = o.sack_permitted;
    peer.has_timestamp = o.timestamps;
    peer.ts_val = ack.options.ts_val;
    negotiate_options(peer, ctx);
    snd_wnd_ = ack.window;
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = ack.seq - 1;
    // The SYN-ACK is out: SND.NXT = ISS + 1 (start_send_side). No tick of it was kept,
    // so without timestamps the handshake takes no RTT sample (as Linux, whose cookie
    // requests have no snt_synack); with them TSecr gives one, up to 63 ms long for
    // the bits the options took (a longer RTT: the safe side).
    if (!ts_ok_) keepalive_sent_ = 1; // handshake_unmeasured()
    set_state(state::syn_received, ctx);
    // If the ACK does not establish it after all, SYN-RECEIVED's timer ends it as any.
    set_deadline(rexmit_at_, ctx, rto_ms(ctx));
    rearm(ctx);
}

// --- RFC 9293 §3.10.2 SEND -----------------------------------------------------------
//
// push is SEND's "segmentize the buffer and send it", and the FIN after the data
// (§3.10.4); the other sections call it too, whenever the window opens or data waits.
// flush sends together what waited for the application (see connection.hpp).

std::uint32_t connection::send_space(const settings &cfg) const noexcept {
    if (fin_queued_ || !in(state::syn_sent | state::syn_received | state::established | state::close_wait)) return 0;
    const auto held = static_cast<std::uint32_t>(snd_end_ - snd_una_);
    return cfg.send_buffer > held ? cfg.send_buffer - held : 0;
}

std::uint32_t connection::send(std::uint32_t bytes, context &ctx) noexcept {
    // RFC 9293 §3.10.2: SEND is allowed until CLOSE; before ESTABLISHED the data is
    // queued and goes out once the handshake completes.
    if (fin_queued_ || !in(state::syn_sent | state::syn_received | state::established | state::close_wait)) return 0;
    const auto held = static_cast<std::uint32_t>(snd_end_ - snd_una_);
    const std::uint32_t room = ctx.cfg.send_buffer > held ? ctx.cfg.send_buffer - held : 0;
    const std::uint32_t take = std::min(bytes, room);
    if (take < bytes) want_writable_ = true;
    snd_end_ += take;
    if (take > 0 && !defer(ctx)) push(ctx);
    return take;
}

void connection::push(context &ctx) noexcept {
    if (!in(state::established | state::close_wait | state::fin_wait_1 | state::closing | state::last_ack)) return;
    const std::uint32_t window = std::min(snd_wnd_, cwnd_);
    std::uint32_t flight = static_cast<std::uint32_t>(snd_nxt_ - snd_una_);
    const std::uint16_t mss = snd_mss_;
    bool sent = false;
    // Data first. No Nagle (RFC 9293 §3.7.4 allows turning it off): request/response
    // traffic is what linerate measures, and Nagle would add a delayed-ACK stall.
    while (snd_nxt_ < snd_end_ && window > flight) {
        const std::uint32_t len = std::min<std::uint32_t>(
            {static_cast<std::uint32_t>(snd_end_ - snd_nxt_), window - flight, mss});
        out_segment s{.seq = snd_nxt_, .flags = tcp_flags{f::ack}, .payload_len = len};
        const bool last = snd_nxt_ + len == snd_end_;
        if (last) s.flags.set(f::psh);
        if (last && fin_queued_) s.flags.set(f::fin); // FIN rides on the last data segment
        if (snd_nxt_ < snd_max_) {
            ++ctx.stats.retrans_segs;
        } else if (!rtt_timing_ && !ts_ok_) {
            // Karn: time only segments sent for the first time.
            rtt_timing_ = true;
            set_rtt_seq(snd_nxt_);
            set_rtt_start(static_cast<std::uint32_t>(ctx.now.value));
        }
        emit(s, ctx);
        snd_nxt_ += s.len();
        flight += s.len();
        sent = true;
    }
    // A FIN alone when all data is out. It takes no window: a zero window must not
    // keep a connection from closing.
    if (fin_queued_ && snd_nxt_ == snd_end_) {
        if (snd_nxt_ < snd_max_) ++ctx.stats.retrans_segs;
        emit(out_segment{.seq = snd_nxt_, .flags = tcp_flags{f::fin | f::ack}}, ctx);
        snd_nxt_ += 1;
        sent = true;
    }
    if (snd_max_ < snd_nxt_) snd_max_ = snd_nxt_;
    if (fin_queued_ && snd_max_ == snd_end_ + 1) {
        // Our FIN is out: CLOSE's state change happens when the FIN is sent (§3.10.4).
        if (state_ == state::established) set_state(state::fin_wait_1, ctx);
        else if (state_ == state::close_wait) set_state(state::last_ack, ctx);
    }
    if (sent && (!rexmit_at_.set() || persist_)) {
        // RFC 6298 §5.1: start the timer when data is sent and it is not running.
        persist_ = false;
        set_deadline(rexmit_at_, ctx, rto_ms(ctx));
    } else if (!sent && snd_max_ == snd_una_ && snd_nxt_ < snd_end_ && snd_wnd_ == 0 && !rexmit_at_.set()) {
        // RFC 9293 §3.8.6.1: a zero window with data waiting: probe it (persist timer,
        // backed off like the retransmission timer).
        persist_ = true;
        set_deadline(rexmit_at_, ctx, rto_ms(ctx));
    }
    rearm(ctx);
}

void connection::flush(context &ctx) noexcept {
    flush_pending_ = false;
    if (state_ == state::closed) {
        ack_owed_ = false;
        delack_owed_ = false;
        return;
    }
    push(ctx); // any segment it sends carries the ACK (emit clears ack_owed_)
    if (ack_owed_) send_ack(ctx);
    if (delack_owed_) {
        // deliver_in_order left the delayed ACK to now: still owed when nothing went out.
        delack_owed_ = false;
        if (last_ack_sent_ != rcv_nxt_ && !delack_at_.set()) {
            set_deadline(delack_at_, ctx, std::min<std::uint32_t>(ctx.cfg.delayed_ack_ms, 500));
            rearm(ctx);
        }
    }
}

// --- RFC 9293 §3.10.3 RECEIVE --------------------------------------------------------
//
// There is no RECEIVE call: data goes straight to the application, from the segment,
// as `data` events (deliver_in_order, §3.10.7.4 seventh), so nothing waits in the TCB
// for a RECEIVE to collect.

// --- RFC 9293 §3.10.4 CLOSE ----------------------------------------------------------
//
// The FIN itself goes out through push (§3.10.2), after the queued data.

void connection::shutdown(context &ctx) noexcept {
    // RFC 9293 §3.10.4 CLOSE, for the sending side.
    switch (state_) {
    case state::closed:
    case state::listen: return;
    case state::syn_sent:
        // "Delete the TCB and return 'error: closing' responses to any queued SENDs".
        finish(close_reason::aborted, ctx);
        return;
    case state::syn_received:
    case state::established:
    case state::close_wait:
        // SYN-RECEIVED: "queue for processing after entering ESTABLISHED state";
        // otherwise the FIN follows the queued data (push sends it).
        fin_queued_ = true;
        if (!defer(ctx)) push(ctx); // flush puts the FIN on the last data segment
        return;
    default: return; // "error: connection closing"
    }
}

void connection::close(context &ctx) noexcept {
    app_closed_ = true;
    shutdown(ctx);
    if (state_ == state::fin_wait_2 && !close_at_.set()) {
        set_deadline(close_at_, ctx, ctx.cfg.fin_wait_2_timeout_ms);
        rearm(ctx);
    }
}

// --- RFC 9293 §3.10.5 ABORT ----------------------------------------------------------

void connection::abort(context &ctx) noexcept {
    // RFC 9293 §3.10.5: in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2 and
    // CLOSE-WAIT "a reset segment should be sent: <SEQ=SND.NXT><CTL=RST>".
    if (in(state::syn_received | state::established | state::fin_wait_1 | state::fin_wait_2 | state::close_wait)) {
        if (in(state::established | state::close_wait)) ++ctx.stats.estab_resets;
        send_rst(snd_nxt_, ctx);
    }
    if (state_ != state::closed) finish(close_reason::aborted, ctx);
}

// --- RFC 9293 §3.10.6 STATUS ---------------------------------------------------------
//
// The read-only views (current(), tuple(), snd_una(), rcv_nxt(), the deadlines, ...)
// are inline in connection.hpp.

// --- RFC 9293 §3.10.7 SEGMENT ARRIVES ------------------------------------------------

void connection::input(const segment &seg, context &ctx) noexcept {
    ++ctx.stats.in_segs;
    if (ctx.cfg.header_prediction) {
        if (predicted(seg, ctx.cfg)) {
            input_predicted(seg, ctx);
            return;
        }
        ++ctx.stats.hp_misses;
    }
    // The full path, RFC 9293 §3.10.7 step by step.
    if (state_ == state::closed || state_ == state::listen) {
        // A TCB that is gone (or never opened) answers as CLOSED does (§3.10.7.1).
        ctx.stats.count(drop::no_connection);
        if (auto r = reset_for_unknown(seg)) {
            ++ctx.stats.out_segs;
            ++ctx.stats.out_rsts;
            ctx.out.transmit(this, tuple_, *r);
        }
        return;
    }
    if (state_ == state::syn_sent) {
        input_syn_sent(seg, ctx);
        return;
    }
    // Departure from the RFC, as Linux does (tcp_check_req): in SYN-RECEIVED the
    // peer's SYN again, unchanged, means our SYN-ACK was lost; answer it with the
    // SYN-ACK rather than the bare ACK the sequence check would send, which the peer
    // in SYN-SENT would drop ("fifth, if neither SYN nor RST").
    // In SYN-RECEIVED nothing past the SYN is received yet: IRS is RCV.NXT - 1.
    if (state_ == state::syn_received && seg.flags.only(f::syn) && seg.seq + 1 == rcv_nxt_) {
        ++ctx.stats.retrans_segs;
        send_syn(true, ctx);
        return;
    }
    if (!check_sequence(seg, ctx)) return; // first
    if (!check_rst(seg, ctx)) return;      // second
    // third, check security: linerate does not use IP security/compartment options
    // (RFC 9293 §3.10.7.4 leaves them to implementations that do).
    if (!check_syn(seg, ctx)) return;      // fourth
    update_ts_recent(seg);
    restart_keepalive(ctx);
    if (!check_ack(seg, ctx)) return; // fifth
    // sixth, check the URG bit: urgent data is not supported (RFC 6093 recommends new
    // applications not use it); the bytes are delivered as ordinary data.
    process_text(seg, ctx); // seventh
    if (state_ == state::closed) return;
    process_fin(seg, ctx); // eighth
    if (state_ == state::closed) return;
    push(ctx);
}

// --- RFC 9293 §3.10.7 SEGMENT ARRIVES: header prediction, the short path -------------
//
// Van Jacobson's header prediction (BSD's tcp_input, Linux's tcp_rcv_established and
// its pred_flags), generalised from ESTABLISHED to every state a request/response
// connection passes through once its SYN is answered. After each output the TCB's own
// variables say what the peer sends next: the segment at RCV.NXT, acknowledging
// something in [SND.UNA, SND.MAX], with only ACK, PSH and FIN set, a timestamp PAWS
// accepts, and no reassembly under way. Such a segment passes every test of the
// full path, so the short path skips the tests and runs only the updates the full
// path would make, in the same order and through the same functions (process_ack,
// deliver_in_order, accept_fin, push): same TCB, timers, counters, events and output.
// Nothing is stored for it (every byte of the TCB is paid per connection): the prediction is
// read from RCV.NXT, SND.UNA, SND.MAX, TS.Recent and the state, which is what "the
// TCB knows what comes next" amounts to.
//
// Departure from BSD and Linux: they also require the window to be unchanged, because
// their fast path does not update it. Here the window update is the full path's code
// (process_ack), so a new window needs no fall-back; a zero window does fall back
// (the persist timer, RFC 9293 §3.8.6.1, is the full path's business).
//
// The simulation (tests/sim) runs every scenario twice, prediction on and off, in
// lockstep, and fails at the first segment after which the two differ.

bool connection::predicted(const segment &seg, const settings &cfg) const noexcept {
    // Every state after the handshake that takes an ACK and goes on; a segment with text
    // (data or FIN) only in those where §3.10.7.4 seventh and eighth accept it.
    constexpr state_set acks = state::syn_received | state::established | state::fin_wait_1 | state::fin_wait_2 |
                               state::close_wait | state::closing | state::last_ack;
    constexpr state_set texts = state::syn_received | state::established | state::fin_wait_1 | state::fin_wait_2;
    // ACK with PSH or FIN or neither: never SYN, RST or URG (nor ECE, CWR), each of
    // which has a step of its own in §3.10.7.4.
    if ((seg.flags.bits & ~(f::psh | f::fin)) != f::ack) return false;
    // First check: exactly RCV.NXT is acceptable whatever the length, once the window
    // is open and holds the data (the full path would trim what lies beyond).
    if (seg.seq != rcv_nxt_) return false;
    const bool text = !seg.payload.empty() || seg.has(f::fin);
    if (!(text ? texts : acks).contains(state_)) return false;
    // RFC 1122 §4.2.2.13: new data for a closed application is a reset. The FIN is
    // taken once (fin_received_ cannot be set in a `texts` state; checked all the same,
    // it shares a byte with app_closed_).
    const std::uint32_t rcv_wnd = this->rcv_wnd(cfg);
    if (text && (rcv_wnd < seg.payload.size() || rcv_wnd == 0 || fin_received_ ||
                 (app_closed_ && !seg.payload.empty())))
        return false;
    // Fifth check: RFC 5961 §5.2 accepts [SND.UNA - MAX.SND.WND, SND.MAX]; the
    // prediction is the part that is not old, and in SYN-RECEIVED only an ACK of our SYN.
    const seq32 lowest = state_ == state::syn_received ? snd_una_ + 1 : snd_una_;
    if (!seq_in_window(seg.ack, lowest, snd_max_ + 1)) return false;
    // RFC 7323 §5.3 R1: PAWS accepts it (a timestamp no older than TS.Recent).
    if (ts_ok_ && (!seg.options.has_timestamp || ts_before(seg.options.ts_val, ts_recent_))) return false;
    // No reassembly under way (data or a FIN held beyond a hole), and no zero window
    // (persist_ is only ever set while SND.WND is zero).
    return ooo_ == 0 && !ooo_fin_ && snd_wnd_ != 0;
}

void connection::input_predicted(const segment &seg, context &ctx) noexcept {
    ++ctx.stats.hp_hits;
    // The full path's steps in its order, less the tests the prediction has passed.
    // RFC 7323 §4.3 (update_ts_recent): PAWS accepted SEG.TSval, so only the
    // "SEG.SEQ =< Last.ACK.sent" half remains.
    if (ts_ok_ && seg.seq <= last_ack_sent_) ts_recent_ = seg.options.ts_val;
    restart_keepalive(ctx);
    // Fifth, the ACK.
    if (!(state_ == state::syn_received ? enter_established(seg, ctx) : process_ack(seg, ctx))) return;
    // Seventh, the text: at RCV.NXT and inside the window.
    if (!seg.payload.empty()) {
        deliver_in_order(seg.payload, ctx);
        if (state_ == state::closed) return;
    }
    // Eighth, the FIN: right after the text, so at the new RCV.NXT.
    if (seg.has(f::fin)) {
        accept_fin(ctx);
        if (state_ == state::closed) return;
    }
    push(ctx);
}

// --- RFC 9293 §3.10.7.1 SEGMENT ARRIVES, CLOSED --------------------------------------
//
// Answered with reset_for_unknown (segment.hpp): by input when this TCB is CLOSED, by
// the shard (lib/flow/src/shard.cpp) when no connection and no listener match.

// --- RFC 9293 §3.10.7.2 SEGMENT ARRIVES, LISTEN --------------------------------------
//
// LISTEN lives with the owner, not in a TCB: tcp::listener (listener.hpp) says what a
// segment for a listening port gets, the shard (lib/flow/src/shard.cpp) acts on it, and
// a SYN that is let in becomes a connection through open_passive (§3.10.1), which does
// the third step, "check for a SYN".

// --- RFC 9293 §3.10.7.3 SEGMENT ARRIVES, SYN-SENT ------------------------------------

void connection::input_syn_sent(const segment &seg, context &ctx) noexcept {
    // RFC 9293 §3.10.7.3. First, check the ACK bit.
    bool ack_ok = false;
    if (seg.has(f::ack)) {
        // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is
        // set, if so drop the segment and return)".
        // SND.UNA is ISS in SYN-SENT: nothing past the SYN can be acknowledged yet.
        if (seg.ack <= snd_una_ || seg.ack > snd_max_) {
            ctx.stats.count(drop::syn_sent_bad_ack);
            if (!seg.has(f::rst)) send_rst(seg.ack, ctx);
            return;
        }
        ack_ok = snd_una_ < seg.ack; // "SND.UNA < SEG.ACK =< SND.NXT"
    }
    // Second, check the RST bit: with an acceptable ACK it refuses the connection
    // (RFC 5961 §3 keeps this rule for SYN-SENT); without, it is dropped.
    if (seg.has(f::rst)) {
        if (ack_ok) {
            ++ctx.stats.attempt_fails;
            finish(close_reason::refused, ctx);
        } else {
            ctx.stats.count(drop::syn_sent_rst_no_ack);
        }
        return;
    }
    // Third, security: not used. Fourth, check the SYN bit.
    if (!seg.has(f::syn)) {
        ctx.stats.count(drop::syn_sent_no_syn);
        return;
    }
    rcv_nxt_ = seg.seq + 1; // IRS is SEG.SEQ
    negotiate_options(seg.options, ctx);
    // Karn: a SYN that was retransmitted gives no sample.
    if (retries_ == 0 && !sample_rtt_from_timestamp(seg, ctx))
        rto_.sample(static_cast<std::uint32_t>(ctx.now.value) - syn_sent_at());
    // RFC 7323 §2.2: the SYN-ACK's window is not scaled.
    snd_wnd_ = seg.window;
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = seg.seq;
    snd_wl2_ = seg.ack;
    if (ack_ok) {
        snd_una_ = seg.ack;
        // "our SYN has been ACKed": ESTABLISHED, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
        // Data in the SYN-ACK is not kept (as in open_passive); the peer resends it.
        set_state(state::established, ctx);
        settle_rto_after_handshake();
        rexmit_at_ = unset;
        // RFC 9293 §3.8.4: the idle interval runs from the SYN-ACK, the last segment
        // received (only a synchronized state starts it, so not before here).
        restart_keepalive(ctx);
        // "Data or controls that were queued for transmission MAY be included": where
        // the owner flushes, the ACK waits for the connected callback and rides on the
        // request it sends (flush also sends what was queued before ESTABLISHED).
        ack_soon(ctx);
        ctx.raise(*this, event_type::connected);
        if (!flush_pending_ && state_ == state::established) push(ctx);
        rearm(ctx);
    } else {
        // Simultaneous open (MUST-10): SYN-RECEIVED, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
        set_state(state::syn_received, ctx);
        send_syn(true, ctx);
        rearm(ctx);
    }
}

// --- RFC 9293 §3.10.7.4 SEGMENT ARRIVES, other states --------------------------------
//
// input runs the steps in order; each function is labelled with its step's name.

// first, check sequence number
bool connection::check_sequence(const segment &seg, context &ctx) noexcept {
    // RFC 7323 §5.3 R1 (PAWS), before the window test: a timestamp older than
    // TS.Recent marks an old duplicate. A RST is exempt (§5.3 R1, last paragraph).
    if (ts_ok_ && seg.options.has_timestamp && !seg.has(f::rst) && ts_before(seg.options.ts_val, ts_recent_)) {
        ++ctx.stats.paws_rejected;
        ctx.stats.count(drop::paws);
        invalid_ack(seg, ctx.stats.ack_skipped_paws, ctx);
        return false;
    }
    // RFC 9293 §3.10.7.4 first: the four cases of the acceptability test.
    const std::uint32_t len = seg.len();
    const std::uint32_t rcv_wnd = this->rcv_wnd(ctx.cfg);
    const seq32 end = rcv_nxt_ + rcv_wnd;
    bool ok;
    if (len == 0)
        ok = rcv_wnd == 0 ? seg.seq == rcv_nxt_ : seq_in_window(seg.seq, rcv_nxt_, end);
    else
        ok = rcv_wnd != 0 &&
             (seq_in_window(seg.seq, rcv_nxt_, end) || seq_in_window(seg.seq + (len - 1), rcv_nxt_, end));
    if (ok) return true;
    // "If an incoming segment is not acceptable, an acknowledgment should be sent in
    // reply (unless the RST bit is set, if so drop the segment and return)".
    ctx.stats.count(drop::out_of_window);
    if (!seg.has(f::rst)) {
        invalid_ack(seg, ctx.stats.ack_skipped_seq, ctx);
        // §3.10.7.4 eighth, TIME-WAIT: a retransmitted FIN restarts the 2 MSL timeout.
        if (state_ == state::time_wait && seg.has(f::fin)) {
            set_deadline(close_at_, ctx, 2ull * ctx.cfg.msl_ms);
            rearm(ctx);
        }
    }
    return false;
}

// second, check the RST bit
bool connection::check_rst(const segment &seg, context &ctx) noexcept {
    if (!seg.has(f::rst)) return true;
    if (state_ == state::time_wait) {
        // RFC 1337: a RST must not end TIME-WAIT early ("TIME-WAIT assassination").
        ctx.stats.count(drop::rst_in_window);
        return false;
    }
    // RFC 5961 §3.2: only a RST exactly at RCV.NXT resets; one elsewhere in the window
    // gets a challenge ACK, so a blind attacker must guess the exact number.
    if (seg.seq != rcv_nxt_) {
        ctx.stats.count(drop::rst_in_window);
        challenge_ack(ctx);
        return false;
    }
    if (state_ == state::syn_received) {
        // MUST-11: a passive open goes back to LISTEN (the listener keeps listening;
        // this half-open connection is released); an active one is refused.
        ++ctx.stats.attempt_fails;
        finish(passive_ ? close_reason::reset : close_reason::refused, ctx);
        return false;
    }
    if (in(state::established | state::fin_wait_1 | state::fin_wait_2 | state::close_wait))
        ++ctx.stats.estab_resets;
    finish(close_reason::reset, ctx);
    return false;
}

// third, check security: not implemented. linerate uses no IP security/compartment
// options (see input).

// fourth, check the SYN bit
bool connection::check_syn(const segment &seg, context &ctx) noexcept {
    if (!seg.has(f::syn)) return true;
    if (state_ == state::syn_received && passive_) {
        // RFC 9293 §3.10.7.4 fourth: "If the connection was initiated with a passive
        // OPEN, then return this connection to the LISTEN state and return."
        ++ctx.stats.attempt_fails;
        finish(close_reason::reset, ctx);
        return false;
    }
    // RFC 5961 §4 (RFC 9293 §3.10.7.4 fourth): a SYN in a synchronized state, whatever
    // its sequence number, gets a challenge ACK; the peer that really restarted answers
    // it with a RST at exactly the right number, an attacker cannot.
    ctx.stats.count(drop::syn_in_window);
    ++ctx.stats.syn_challenges;
    challenge_ack(ctx);
    return false;
}

// Not a step of its own: input calls it after the fourth step and before the fifth,
// input_predicted before the fifth.
void connection::update_ts_recent(const segment &seg) noexcept {
    // RFC 7323 §4.3: "If SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent, then
    // TS.Recent = SEG.TSval" (PAWS has already refused older values).
    if (ts_ok_ && seg.options.has_timestamp && seg.seq <= last_ack_sent_ &&
        !ts_before(seg.options.ts_val, ts_recent_))
        ts_recent_ = seg.options.ts_val;
}

// fifth, check the ACK field
bool connection::check_ack(const segment &seg, context &ctx) noexcept {
    // RFC 9293 §3.10.7.4 fifth: "if the ACK bit is off, drop the segment and return".
    if (!seg.has(f::ack)) {
        ctx.stats.count(drop::no_ack);
        return false;
    }
    if (state_ == state::syn_received) {
        // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state and continue
        // processing with the variables ... SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ,
        // SND.WL2 <- SEG.ACK. If the segment acknowledgment is not acceptable, form a
        // reset segment <SEQ=SEG.ACK><CTL=RST> and send it."
        if (!(snd_una_ < seg.ack && seg.ack <= snd_max_)) {
            ctx.stats.count(drop::syn_received_bad_ack);
            send_rst(seg.ack, ctx);
            return false;
        }
        return enter_established(seg, ctx);
    }

    // RFC 5961 §5.2: acceptable only in [SND.UNA - MAX.SND.WND, SND.NXT]; anything
    // else is discarded with an ACK. (SND.NXT here is the highest number sent.) That
    // ACK is one of the mitigation's, which §7 throttles: a challenge ACK, as Linux's
    // tcp_ack sends for an ACK too old.
    if (seg.ack > snd_max_ || seg.ack < snd_una_ - max_snd_wnd_) {
        ctx.stats.count(drop::ack_unacceptable);
        challenge_ack(ctx);
        return false;
    }
    return process_ack(seg, ctx);
}

bool connection::enter_established(const segment &seg, context &ctx) noexcept {
    // RFC 9293 §3.10.7.4 fifth, SYN-RECEIVED, for an ACK that acknowledges our SYN.
    if (retries_ == 0 && !sample_rtt_from_timestamp(seg, ctx) && !handshake_unmeasured())
        rto_.sample(static_cast<std::uint32_t>(ctx.now.value) - syn_sent_at());
    keepalive_sent_ = 0;
    snd_una_ = seg.ack;
    snd_wnd_ = static_cast<std::uint32_t>(seg.window) << snd_wscale_;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    snd_wl1_ = seg.seq;
    snd_wl2_ = seg.ack;
    settle_rto_after_handshake();
    rexmit_at_ = unset;
    set_state(state::established, ctx);
    // RFC 9293 §3.8.4: the idle interval runs from this ACK; a peer that vanishes
    // after the handshake is then probed like any other.
    restart_keepalive(ctx);
    if (passive_) ++ctx.stats.passive_opens;
    ctx.raise(*this, passive_ ? event_type::accepted : event_type::connected);
    rearm(ctx);
    return state_ == state::established; // else the application closed or aborted
}

bool connection::process_ack(const segment &seg, context &ctx) noexcept {
    // RFC 9293 §3.10.7.4 fifth, in the synchronized states, for an acceptable ACK.
    if (snd_una_ < seg.ack) on_new_ack(seg.ack, seg, ctx);
    // Window update: "If SND.UNA =< SEG.ACK =< SND.NXT ... If SND.WL1 < SEG.SEQ or
    // (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK), set SND.WND <- SEG.WND, SND.WL1 <-
    // SEG.SEQ, and set SND.WL2 <- SEG.ACK." (RFC 7323 §2.3: scaled by the peer's shift.)
    if (snd_wl1_ < seg.seq || (snd_wl1_ == seg.seq && snd_wl2_ <= seg.ack)) {
        snd_wnd_ = static_cast<std::uint32_t>(seg.window) << snd_wscale_;
        max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
        snd_wl1_ = seg.seq;
        snd_wl2_ = seg.ack;
        if (persist_ && snd_wnd_ > 0) {
            persist_ = false;
            rexmit_at_ = unset;
        }
    }
    switch (state_) {
    case state::fin_wait_1:
        // "if the FIN segment is now acknowledged, then enter FIN-WAIT-2".
        if (fin_acked()) {
            set_state(state::fin_wait_2, ctx);
            // Only a connection nobody will read from again times out here (as Linux's
            // tcp_fin_timeout); after shutdown() the application still reads.
            if (app_closed_) set_deadline(close_at_, ctx, ctx.cfg.fin_wait_2_timeout_ms);
            rearm(ctx);
        }
        break;
    case state::closing:
        // "if the ACK acknowledges our FIN, then enter the TIME-WAIT state".
        if (fin_acked()) enter_time_wait(ctx);
        return false;
    case state::last_ack:
        // "If our FIN is now acknowledged, delete the TCB, enter the CLOSED state".
        if (fin_acked()) finish(close_reason::normal, ctx);
        return false;
    default: break;
    }
    return true;
}

void connection::on_new_ack(seq32 ack, const segment &seg, context &ctx) noexcept {
    // Bytes of the application's stream newly acknowledged: the FIN's sequence number
    // is not a byte of it.
    const seq32 data_end = seq_min(ack, snd_end_);
    const std::uint32_t bytes = snd_una_ < data_end ? static_cast<std::uint32_t>(data_end - snd_una_) : 0;
    const std::uint32_t acked = static_cast<std::uint32_t>(ack - snd_una_);
    snd_una_ = ack;
    if (snd_nxt_ < snd_una_) snd_nxt_ = snd_una_; // after a go-back-N retransmit

    // RFC 6298 §2 samples: from the echoed timestamp (RFC 7323 §4.1) or the timed
    // segment (Karn: never one that was retransmitted).
    if (retries_ == 0 && sample_rtt_from_timestamp(seg, ctx)) {
        rtt_timing_ = false;
    } else if (rtt_timing_ && rtt_seq() < ack) {
        rto_.sample(static_cast<std::uint32_t>(ctx.now.value) - rtt_start());
        rtt_timing_ = false;
    }
    retries_ = 0;
    rto_.reset_backoff();
    // RFC 5681 §3.1 slow start: one MSS per ACK of new data, at most what was acked.
    cwnd_ = std::min(cwnd_ + std::min<std::uint32_t>(acked, snd_mss_), ctx.cfg.send_buffer + snd_mss_);
    // RFC 6298 §5.2 and §5.3: stop the timer when all is acknowledged, else restart it.
    if (snd_una_ == snd_max_)
        rexmit_at_ = unset;
    else
        set_deadline(rexmit_at_, ctx, rto_ms(ctx));
    persist_ = false;
    rearm(ctx);
    if (bytes > 0) ctx.out.notify(*this, event{.type = event_type::acked, .bytes = bytes});
    if (want_writable_ && state_ != state::closed) {
        want_writable_ = false;
        ctx.raise(*this, event_type::writable);
    }
}

// sixth, check the URG bit: ignored, a departure from RFC 9293 §3.8.5, which still asks
// implementations to support urgent data: no urgent pointer is honoured and the bytes
// are delivered as ordinary data. The same section says new applications SHOULD NOT
// use the urgent mechanism, and RFC 6093 recommends the same.

// seventh, process the segment text
void connection::process_text(const segment &seg, context &ctx) noexcept {
    if (seg.payload.empty()) return;
    if (!in(state::established | state::fin_wait_1 | state::fin_wait_2)) {
        // "This should not occur since a FIN has been received from the remote side.
        // Ignore the segment text."
        ctx.stats.count(drop::ack_after_close);
        return;
    }
    seq32 seq = seg.seq;
    std::span<const std::uint8_t> data = seg.payload;
    if (seq < rcv_nxt_) {
        // The front was received before: keep only what is new.
        const auto old = static_cast<std::uint32_t>(rcv_nxt_ - seq);
        if (old >= data.size()) {
            send_ack(ctx); // a duplicate: tell the peer where we are, at once
            return;
        }
        data = data.subspan(old);
        seq = rcv_nxt_;
    }
    if (app_closed_) {
        // RFC 1122 §4.2.2.13 (RFC 9293 §3.6): new data for an application that closed
        // is answered with RST, so the peer learns it was not read (Linux:
        // TCPAbortOnData). Only new data: a retransmission of bytes already received,
        // perhaps carrying the FIN, is the peer closing normally.
        ++ctx.stats.abort_on_data;
        send_rst(snd_nxt_, ctx);
        finish(close_reason::aborted, ctx);
        return;
    }
    const auto room = static_cast<std::uint32_t>((rcv_nxt_ + rcv_wnd(ctx.cfg)) - seq);
    if (data.size() > room) data = data.first(room); // beyond the window: not ours yet
    if (seq != rcv_nxt_) {
        queue_out_of_order(seq, data, ctx);
        return;
    }
    deliver_in_order(data, ctx);
}

void connection::deliver_in_order(std::span<const std::uint8_t> data, context &ctx) noexcept {
    // RFC 9293 §3.10.7.4 seventh: text starting at RCV.NXT, inside the window.
    rcv_nxt_ += static_cast<std::uint32_t>(data.size());
    ctx.raise(*this, event_type::data, data);
    if (state_ == state::closed) return; // the application aborted in its callback
    if (ooo_ != 0) {
        // The hole may be filled: what was held behind it follows in order, and the
        // peer hears of it at once (RFC 5681 §4.2: ACK immediately when a gap fills).
        deliver_queued(ctx);
        if (state_ != state::closed) send_ack(ctx);
        return;
    }
    // RFC 9293 §3.8.6.3 (RFC 1122 §4.2.3.2): ACK at least every second full-sized
    // segment at once; otherwise delay, never more than 500 ms (MUST-40).
    if (data.size() >= snd_mss_ && unacked_segments_ < 3) ++unacked_segments_;
    if (unacked_segments_ >= 2 || ctx.cfg.delayed_ack_ms == 0) {
        ack_soon(ctx); // at once, or on the reply the data callback sends
    } else if (!delack_at_.set()) {
        // When the owner flushes after the callbacks, a reply the data callback sends
        // carries the ACK, and a delayed-ACK timer armed now would only be left to fire
        // early for nothing: it is started at the flush instead, if no segment went out
        // (the same `now`, so the same deadline).
        if (defer(ctx)) {
            delack_owed_ = true;
        } else {
            set_deadline(delack_at_, ctx, std::min<std::uint32_t>(ctx.cfg.delayed_ack_ms, 500));
            rearm(ctx);
        }
    }
}

void connection::queue_out_of_order(seq32 seq, std::span<const std::uint8_t> data, context &ctx) noexcept {
    // Beyond RCV.NXT, inside the window: kept for later when the owner can hold it.
    // Either way the peer is told at once where the hole is (RFC 5681 §4.2: an
    // immediate duplicate ACK, with SACK blocks when permitted).
    if (ooo_ == 0 && ctx.cfg.max_ooo_segments > 0) ooo_ = ctx.out.acquire_ooo_queue();
    const std::uint64_t handle = ooo_ != 0 ? ctx.out.hold(*this, seq, data) : 0;
    if (handle == 0) {
        ctx.stats.count(drop::ooo_queue_full);
    } else {
        std::uint32_t trim_front = 0, trim_back = 0;
        const auto r = ctx.out.ooo_queue(ooo_).insert(rcv_nxt_, ooo_segment{seq, static_cast<std::uint32_t>(data.size()), handle},
                                    trim_front, trim_back, [&ctx](std::uint64_t h) { ctx.out.release(h); });
        if (r == reassembly_queue::insert_result::stored || r == reassembly_queue::insert_result::trimmed) {
            ++ctx.stats.ofo_queue;
        } else {
            ctx.out.release(handle);
            if (r == reassembly_queue::insert_result::full) ctx.stats.count(drop::ooo_queue_full);
        }
    }
    send_ack(ctx);
    if (ooo_ != 0 && ctx.out.ooo_queue(ooo_).empty()) drop_ooo_queue(ctx);
}

void connection::deliver_queued(context &ctx) noexcept {
    const auto release = [&ctx](std::uint64_t h) { ctx.out.release(h); };
    while (ooo_ != 0) {
        const auto r = ctx.out.ooo_queue(ooo_).pop_in_order(rcv_nxt_, release);
        if (!r) break;
        // The queue stores the range it kept; the owner's bytes start at `first`.
        const auto kept = ctx.out.held(r->handle);
        const auto begin = static_cast<std::uint32_t>(rcv_nxt_ - kept.first);
        const auto end = static_cast<std::uint32_t>((r->seq + r->len) - kept.first);
        if (end > kept.bytes.size() || begin >= end) {
            ctx.out.release(r->handle); // the owner lost track of its bytes: not ours to guess
            continue;
        }
        const auto data = kept.bytes.subspan(begin, end - begin);
        rcv_nxt_ += end - begin;
        ctx.raise(*this, event_type::data, data);
        ctx.out.release(r->handle);
        if (state_ == state::closed) return;
    }
    if (ooo_ != 0 && ctx.out.ooo_queue(ooo_).empty()) drop_ooo_queue(ctx);
}

void connection::drop_ooo_queue(context &ctx) noexcept {
    if (ooo_ == 0) return;
    ctx.out.ooo_queue(ooo_).clear([&ctx](std::uint64_t h) { ctx.out.release(h); });
    ctx.out.release_ooo_queue(ooo_);
    ooo_ = 0;
}

// eighth, check the FIN bit
void connection::process_fin(const segment &seg, context &ctx) noexcept {
    if (fin_received_) return;
    if (seg.has(f::fin)) {
        // The FIN counts only in order, right after the segment's data.
        const seq32 fin_seq = seg.seq + static_cast<std::uint32_t>(seg.payload.size());
        if (fin_seq == rcv_nxt_) {
            accept_fin(ctx);
            return;
        }
        if (rcv_nxt_ < fin_seq && seq_in_window(fin_seq, rcv_nxt_, rcv_nxt_ + rcv_wnd(ctx.cfg) + 1)) {
            // Beyond a hole: remembered with the held data (the queue keeps byte ranges
            // only) and taken when the hole fills, as Linux keeps a FIN in its
            // out-of-order queue. A bare FIN still owes the duplicate ACK that data
            // beyond a hole gets (RFC 5681 §4.2); data carrying it has had one.
            ooo_fin_ = true;
            ooo_fin_seq_ = fin_seq;
            if (seg.payload.empty()) send_ack(ctx);
        }
        return;
    }
    if (ooo_fin_ && rcv_nxt_ == ooo_fin_seq_) accept_fin(ctx); // the hole before it filled
}

void connection::accept_fin(context &ctx) noexcept {
    ooo_fin_ = false;
    // RFC 9293 §3.10.7.4 eighth: "advance RCV.NXT over the FIN, and send an
    // acknowledgment for the FIN", "signal the user 'connection closing'".
    fin_received_ = true;
    rcv_nxt_ += 1;
    // The stream ends at the FIN: bytes held beyond it cannot belong to it. They go, as
    // Linux's tcp_fin() purges its out-of-order queue, so that no ACK reports them as
    // received and queued (RFC 2018 §4) and their buffers come back.
    drop_ooo_queue(ctx);
    // Where we have not closed yet, the application may close in its peer_closed
    // callback, and the ACK then rides on our FIN. Once our FIN is out, the ACK is
    // due at once: TIME-WAIT hands the TCB over before any flush would come.
    if (in(state::syn_received | state::established))
        ack_soon(ctx);
    else
        send_ack(ctx);
    ctx.raise(*this, event_type::peer_closed);
    if (state_ == state::closed) return;
    switch (state_) {
    case state::syn_received:
    case state::established: set_state(state::close_wait, ctx); break;
    case state::fin_wait_1:
        // "If our FIN has been ACKed (perhaps in this segment), then enter TIME-WAIT
        // ... otherwise, enter the CLOSING state."
        if (fin_acked())
            enter_time_wait(ctx);
        else
            set_state(state::closing, ctx);
        break;
    case state::fin_wait_2: enter_time_wait(ctx); break;
    default: break;
    }
}

void connection::enter_time_wait(context &ctx) noexcept {
    set_state(state::time_wait, ctx);
    ++ctx.stats.time_waits;
    rexmit_at_ = delack_at_ = idle_at_ = unset;
    // RFC 9293 §3.10.7.4 eighth: "Start the time-wait timer" for 2 MSL.
    set_deadline(close_at_, ctx, 2ull * ctx.cfg.msl_ms);
    rearm(ctx);
    ctx.raise(*this, event_type::time_wait);
}

// TIME-WAIT goes on in the owner's small entry (time_wait.hpp).
void connection::hand_over(time_wait_state &tw, context &ctx) noexcept {
    tw = time_wait_state{.tuple = tuple_,
                         .snd_nxt = snd_nxt_,
                         .rcv_nxt = rcv_nxt_,
                         .ts_recent = ts_recent(),
                         .window = advertised_window(ctx.cfg),
                         .ts_ok = ts_ok_};
    finish(close_reason::normal, ctx);
}

// --- RFC 9293 §3.10.8 TIMEOUTS -------------------------------------------------------
//
// on_timer serves every deadline: RETRANSMISSION TIMEOUT (and the persist timer),
// TIME-WAIT TIMEOUT, the FIN-WAIT-2 timeout, the delayed ACK and keepalives. USER
// TIMEOUT has no timer of its own: the retry limits in retransmit play its part. The
// helpers after it keep the timer on the wheel and the deadlines and the RTO up to date.

void connection::on_timer(context &ctx) noexcept {
    rearm_due_ = true; // the timer fired: none is armed
    const tick now = ctx.now;
    if (close_at_.due(now)) {
        close_at_ = unset;
        if (state_ == state::time_wait) {
            finish(close_reason::normal, ctx); // 2 MSL have passed
        } else {
            ++ctx.stats.abort_on_timeout; // FIN-WAIT-2 timeout
            finish(close_reason::timeout, ctx);
        }
        return;
    }
    if (delack_at_.due(now)) {
        delack_at_ = unset;
        ++ctx.stats.delayed_acks;
        send_ack(ctx);
    }
    if (rexmit_at_.due(now)) {
        rexmit_at_ = unset;
        if (persist_) {
            // Zero-window probe: one byte past the window, so the peer's ACK carries
            // its current window (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17).
            ++ctx.stats.zero_window_probes;
            rto_.backoff();
            emit(out_segment{.seq = snd_nxt_, .flags = tcp_flags{f::ack}, .payload_len = 1}, ctx);
            set_deadline(rexmit_at_, ctx, rto_ms(ctx));
        } else {
            retransmit(ctx);
            if (state_ == state::closed) return;
        }
    }
    if (idle_at_.due(now)) {
        idle_at_ = unset;
        // RFC 9293 §3.8.4 (RFC 1122 §4.2.3.6): a keepalive is <SEQ=SND.NXT-1> with no
        // data, so the peer must answer with an ACK. Only an idle connection is probed:
        // with data or a FIN unacknowledged the retransmission timer is the one that
        // tells whether the peer lives, and a probe inside a peer's hole would go
        // unanswered and kill a live connection (as Linux's tcp_keepalive_timer, which
        // skips probes while packets are out).
        if (in_flight() > 0 || persist_ || !in(state::established | state::close_wait)) {
            set_deadline(idle_at_, ctx, ctx.cfg.keepalive_idle_ms);
            rearm(ctx);
            return;
        }
        if (keepalive_sent_ >= ctx.cfg.keepalive_probes) {
            ++ctx.stats.abort_on_timeout;
            finish(close_reason::timeout, ctx);
            return;
        }
        ++keepalive_sent_;
        ++ctx.stats.keepalive_probes;
        emit(out_segment{.seq = snd_nxt_ - 1, .flags = tcp_flags{f::ack}}, ctx);
        set_deadline(idle_at_, ctx, ctx.cfg.keepalive_interval_ms);
    }
    rearm(ctx);
}

void connection::retransmit(context &ctx) noexcept {
    ++ctx.stats.timeouts; // TCPTimeouts: the retransmission timer expired
    const bool synchronizing = in(state::syn_sent | state::syn_received);
    const std::uint8_t limit = state_ == state::syn_sent       ? ctx.cfg.syn_retries
                               : state_ == state::syn_received ? ctx.cfg.synack_retries
                                                               : ctx.cfg.data_retries;
    if (retries_ >= limit) {
        // RFC 9293 §3.8.3: past R2 the connection is closed; no RST is sent, the peer
        // is presumed gone (Linux does the same).
        if (synchronizing)
            ++ctx.stats.attempt_fails;
        else
            ++ctx.stats.abort_on_timeout;
        finish(close_reason::timeout, ctx);
        return;
    }
    ++retries_;
    rto_.backoff(); // RFC 6298 §5.5
    rtt_timing_ = false; // Karn's algorithm: no sample from a retransmitted segment
    set_deadline(rexmit_at_, ctx, rto_ms(ctx));
    if (state_ == state::syn_sent) {
        ++ctx.stats.syn_retrans;
        ++ctx.stats.retrans_segs;
        send_syn(false, ctx);
    } else if (state_ == state::syn_received) {
        // The same ISN every time: the SYN-ACK is a retransmission, not a new offer.
        ++ctx.stats.retrans_segs;
        send_syn(true, ctx);
    } else {
        // Go back to the first unacknowledged byte with a loss window of one segment
        // (RFC 5681 §3.1); ACKs then open the window again by slow start.
        // push() leaves the timer armed above alone: it only starts a stopped one.
        snd_nxt_ = snd_una_;
        cwnd_ = snd_mss_;
        push(ctx);
    }
    rearm(ctx);
}

// Every duration passed here is a setting the configuration bounds well below
// short_deadline::reach (settings.hpp).
void connection::set_deadline(short_deadline &d, const context &ctx, std::uint64_t ms) noexcept {
    const tick t = ctx.now + ms;
    d = short_deadline::at(t);
    // The armed timer fires no later than every deadline (rearm's invariant) until one
    // is set before it: only then, or with no timer armed, has rearm() work to do.
    if (!hook_.armed() || t < hook_.expires()) rearm_due_ = true;
}

void connection::rearm(context &ctx) noexcept {
    // Nothing was set before the armed timer since the last call: it still fires first
    // (a deadline cleared or moved later leaves it early, which is the lazy rule below).
    // Most calls end here, without looking at the four deadlines.
    if (!rearm_due_) return;
    rearm_due_ = false;
    // Two pairwise minima rather than std::min's initializer list, which the compiler
    // spills to the stack. The minimum is taken over the deadlines' 32-bit keys, and
    // only the earliest is rebuilt as a tick.
    const tick now = ctx.now;
    const std::uint32_t w = short_deadline::now_word(now);
    const std::uint32_t k = std::min(std::min(rexmit_at_.key(w), delack_at_.key(w)), std::min(close_at_.key(w), idle_at_.key(w)));
    const tick first = k == short_deadline::unset_key ? never : short_deadline::at_key(now, k);
    // Lazy, as BSD's and Linux's TCP timers are in spirit: a deadline that moved later
    // (the retransmission timer pushed back by every ACK, the delayed ACK dropped
    // because a segment carried the ACK, all deadlines gone) leaves the timer where it
    // is. It then fires early, on_timer finds nothing due and re-arms it for the real
    // deadline. Most such timers never get that far: the connection closes first, and
    // moving the timer on every segment was the core's largest single cost.
    if (hook_.armed() && hook_.expires() <= first) return;
    if (first == never)
        ctx.wheel.cancel(hook_);
    else
        ctx.wheel.arm(hook_, first);
}

void connection::restart_keepalive(context &ctx) noexcept {
    // RFC 9293 §3.8.4: keep-alives are sent only when "no data or acknowledgment
    // packets have been received for the connection within an interval".
    if (ctx.cfg.keepalive && in(synchronized_states)) {
        keepalive_sent_ = 0;
        set_deadline(idle_at_, ctx, ctx.cfg.keepalive_idle_ms);
    }
}

bool connection::sample_rtt_from_timestamp(const segment &seg, const context &ctx) noexcept {
    // RFC 7323 §4.1: RTT = now - TSecr. An echo of zero carries no timestamp, and one
    // from the future (a broken or hostile peer) is no sample: skipped, as Linux does.
    if (!ts_ok_ || !seg.options.has_timestamp || seg.options.ts_ecr == 0) return false;
    const auto rtt = static_cast<std::int32_t>(ts_now(ctx) - seg.options.ts_ecr);
    if (rtt < 0) return false;
    rto_.sample(static_cast<std::uint32_t>(rtt));
    return true;
}

void connection::settle_rto_after_handshake() noexcept {
    // RFC 6298 §5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP
    // implementation is using an RTO less than 3 seconds, the RTO MUST be re-initialized
    // to 3 seconds when data transmission begins" - when no sample was taken since.
    if (retries_ > 0 && !rto_.has_sample())
        rto_.syn_timed_out();
    else
        rto_.reset_backoff();
    retries_ = 0;
}

} // namespace linerate::tcp
