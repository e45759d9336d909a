// The shard: see shard.hpp.
#include <linerate/flow/shard.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <utility>

namespace linerate::flow {
namespace {

// The event queue's size, in outcomes (a connection's events of one core call). One
// core call raises at most a handful of outcomes (a data event per segment released
// from the reassembly queue, under 2 + reassembly_queue::capacity), and settle() drains
// the queue after every call, so a few thousand leave a wide margin even when callbacks
// act on many connections at once. A power of two: the ring wraps with a mask.
constexpr unsigned event_queue_log2 = 12;
// Connections that may wait for a flush at once: more than one settle() ever sees in
// practice (a callback touching a few connections); past it, output goes out at once.
constexpr std::size_t flush_list_size = 1024;

// The handlers get the public close_reason, cast from the core's: equal values.
static_assert(static_cast<int>(close_reason::normal) == static_cast<int>(tcp::close_reason::normal));
static_assert(static_cast<int>(close_reason::reset) == static_cast<int>(tcp::close_reason::reset));
static_assert(static_cast<int>(close_reason::refused) == static_cast<int>(tcp::close_reason::refused));
static_assert(static_cast<int>(close_reason::timeout) == static_cast<int>(tcp::close_reason::timeout));
static_assert(static_cast<int>(close_reason::aborted) == static_cast<int>(tcp::close_reason::aborted));

} // namespace

shard::shard(const tcp::settings &cfg, const shard_limits &limits, const tcp::isn_generator &isn, io &out,
             tick start)
    : cfg_(cfg), isn_(isn), io_(out), wheel_(start), conns_(std::max<std::uint32_t>(limits.connections, 1)),
      meta_(std::max<std::uint32_t>(limits.connections, 1)),
      tw_(limits.time_wait, 2ull * cfg.msl_ms, limits.table_seed),
      queues_(std::max<std::uint32_t>(limits.ooo_queues, 1)),
      table_(std::max<std::uint32_t>(limits.connections, 1), limits.table_seed),
      max_listeners_(std::min<std::uint32_t>(limits.listeners, listener_cap)), events_(event_queue_log2, extra_.events_overflowed),
      rto_bounds_(cfg.rto),
      ctx_{start, 0, cfg_, wheel_, isn_, stats_, *this, challenge_budget_, challenge_end_, &ts_offsets_, &events_,
           &rto_bounds_} {
    // The configuration file's bounds keep every timer inside the TCB's 32-bit deadlines;
    // settings built in code (an embedder, a test) are checked here, before anything
    // runs, and not by an assert that a release build leaves out.
    if (!cfg.timers_fit()) throw std::invalid_argument("tcp settings: a timer beyond what the TCB's 32-bit deadlines hold");
    listeners_.reserve(max_listeners_);
    closing_.reserve(conns_.capacity());
    deferred_release_.reserve(std::max<std::uint32_t>(limits.held_segments, 64));
    flushes_.reserve(flush_list_size);
    auto &first = conns_[0];
    hook_offset_ = reinterpret_cast<const char *>(&first.hook()) - reinterpret_cast<const char *>(&first);
}

bool shard::listen(ipv4_addr ip, std::uint16_t port, handler &h) {
    if (listeners_.size() >= max_listeners_) return false;
    for (const auto &l : listeners_)
        if (l.l.port() == port && l.l.ip() == ip) return false;
    listeners_.push_back(
        listening{tcp::listener(ip, port, cfg_.syn_backlog, cfg_.accept_backlog, cfg_.syn_cookies), &h});
    return true;
}

std::optional<conn_id> shard::find(const tcp::four_tuple &t) const noexcept {
    const auto r = table_.find(t);
    if (!r || r->kind() != entry_kind::connection) return std::nullopt;
    return r->index();
}

bool shard::in_time_wait(const tcp::four_tuple &t) const noexcept { return tw_.find(t, tw_.hash(t)).has_value(); }

// --- arriving segments ----------------------------------------------------------------

void shard::input_at(const tcp::four_tuple &t, std::uint64_t hash, const tcp::segment &seg,
                     std::optional<ref> r) noexcept {
    auto &c = ctx();
    // The table first: a 4-tuple has a connection or a TIME-WAIT record, never both.
    if (r) {
        conns_[r->index()].input(seg, c);
    } else if (const auto at = tw_.find(t, hash)) {
        const tcp::time_wait_state tw = tw_.state(*at);
        switch (tcp::time_wait_input(tw, seg, c)) {
        case tcp::time_wait_verdict::keep: break;
        case tcp::time_wait_verdict::restart: {
            // RFC 9293 §3.10.7.4: a retransmitted FIN restarts 2*MSL. The log's order
            // is its expiry order, so the record cannot move: it goes stale and a copy
            // is appended at the tail.
            const auto shared = tw_.shared(*at);
            tw_.forget(*at, hash);
            add_time_wait(tw, shared);
            break;
        }
        case tcp::time_wait_verdict::reopen:
            // RFC 6191 / RFC 9293 §3.6.1: a new SYN takes the 4-tuple over; the record
            // goes stale and the SYN meets the listener as any other.
            tw_.forget(*at, hash);
            extra_.time_wait_entries = tw_.live();
            no_connection(t, hash, seg);
            break;
        }
    } else {
        ++stats_.in_segs;
        no_connection(t, hash, seg);
    }
    settle();
}

void shard::no_connection(const tcp::four_tuple &t, std::uint64_t hash, const tcp::segment &seg) noexcept {
    for (std::uint32_t li = 0; li < listeners_.size(); ++li) {
        auto &l = listeners_[li];
        if (!l.l.matches(t.local_ip, t.local_port)) continue;
        const std::uint64_t overflows = stats_.listen_overflows;
        switch (l.l.on_segment(seg, stats_, ctx_.now_us)) {
        case tcp::listener::verdict::open: {
            const auto id = passive_tcb(li, t, hash);
            if (id) conns_[*id].open_passive(t, seg, ctx());
            return;
        }
        case tcp::listener::verdict::reset: reset(t, seg); return;
        case tcp::listener::verdict::send_cookie: tcp::connection::send_cookie_syn_ack(t, seg, ctx()); return;
        case tcp::listener::verdict::check_cookie: open_from_cookie(li, t, hash, seg); return;
        case tcp::listener::verdict::drop:
            if (stats_.listen_overflows != overflows) ++stats_.listen_drops;
            return;
        }
    }
    // RFC 9293 §3.10.7.1: no connection and no listener.
    stats_.count(tcp::drop::no_connection);
    reset(t, seg);
}

// RFC 4987 §3.6: an ACK at listener li that may return a cookie. A valid one makes the
// connection its SYN would have made, and the ACK (with any data it carries) goes to it
// as the third segment of the handshake; an invalid one is a stray ACK, reset as LISTEN
// resets any (RFC 9293 §3.10.7.2 second).
void shard::open_from_cookie(std::uint32_t li, const tcp::four_tuple &t, std::uint64_t hash,
                             const tcp::segment &seg) noexcept {
    auto &c = ctx();
    auto &l = listeners_[li];
    const auto opts = tcp::connection::check_cookie(t, seg, c);
    if (!opts) {
        stats_.count(tcp::drop::listen_ack);
        reset(t, seg);
        return;
    }
    if (!l.l.cookie_open(stats_)) {
        ++stats_.listen_drops;
        return; // the peer's retransmission tries again, as after a dropped SYN
    }
    const auto id = passive_tcb(li, t, hash);
    if (!id) return;
    conns_[*id].open_from_cookie(t, seg, *opts, c);
    conns_[*id].input(seg, c);
}

// A TCB for a passive open at listener li that counted it half-open, in the table under
// t. None to give: the segment is dropped and the peer retries, as after a full SYN
// queue (Linux counts both as ListenDrops).
std::optional<conn_id> shard::passive_tcb(std::uint32_t li, const tcp::four_tuple &t, std::uint64_t hash) noexcept {
    const std::uint32_t id = conns_.acquire();
    if (id == pool<tcp::connection>::none || table_.insert(t, hash, ref::connection(id)) != table::insert_result::inserted) {
        if (id != pool<tcp::connection>::none) conns_.release(id);
        listeners_[li].l.half_open_closed();
        ++stats_.listen_drops;
        stats_.count(tcp::drop::no_memory);
        return std::nullopt;
    }
    meta_[id] = meta(listeners_[li].h, li, false);
    return id;
}

void shard::reset(const tcp::four_tuple &t, const tcp::segment &seg) noexcept {
    if (const auto r = tcp::reset_for_unknown(seg)) {
        ++stats_.out_segs;
        ++stats_.out_rsts;
        io_.transmit(no_conn, t, *r, 0);
    }
}

// --- timers ---------------------------------------------------------------------------

void shard::run_timers() noexcept {
    auto &c = ctx();
    // Every hook is a TCB's: TIME-WAIT has no timers.
    wheel_.advance(ctx_.now, [&](timer::hook &h) {
        const auto *base = reinterpret_cast<const char *>(&h) - hook_offset_;
        const auto *conn = reinterpret_cast<const tcp::connection *>(base);
        if (conns_.contains(conn)) conns_[conns_.index_of(conn)].on_timer(c);
    });
    settle();
    // The log's head is its oldest record: pop while due (2*MSL is over).
    for (;;) {
        const auto p = tw_.pop_expired(ctx_.now);
        if (p == time_wait_log::popped::nothing) break;
        if (p == time_wait_log::popped::live) ++extra_.time_wait_expired;
    }
    extra_.time_wait_entries = tw_.live();
}

std::optional<tick> shard::next_timer() const noexcept {
    const auto wheel = wheel_.next_expiry();
    const auto tw = tw_.next_expiry();
    if (wheel && tw) return std::min(*wheel, *tw);
    return wheel ? wheel : tw;
}

void shard::add_time_wait(const tcp::time_wait_state &tw, time_wait_log::shared_end shared) noexcept {
    // Exhaustion degrades, never stalls: the record nearest its expiry ends early and
    // this connection takes its place. Its 4-tuple loses the rest of its 2*MSL (an old
    // duplicate of it could now meet a new incarnation, the risk RFC 9293 §3.6.1
    // weighs). Linux, with its table full, skips TIME-WAIT for the new connection
    // instead; the oldest record is the better one to lose, its old duplicates the
    // least likely still in flight. Keeping the TCB instead would hold a connection
    // slot for 2*MSL. Stale records at the head go on the way, uncounted: they held
    // nothing.
    while (tw_.full())
        if (tw_.pop() == time_wait_log::popped::live) ++stats_.time_wait_overflow;
    if (!tw_.append(tw, shared, ctx_.now)) {
        // Every profile is in use (thousands of distinct shared endpoints at once): this
        // connection skips TIME-WAIT, as Linux does with its table full.
        ++stats_.time_wait_overflow;
        ++extra_.time_wait_no_profile;
    }
    extra_.time_wait_entries = tw_.live();
}

// --- the application's calls ----------------------------------------------------------

shard::open_result shard::open(const tcp::four_tuple &t, handler &app, std::uint64_t user) noexcept {
    // One probe of each structure: the TIME-WAIT index (a miss reads one bucket), then
    // the connection table's insert, which both checks and reserves. The TCB is taken
    // before the insert so that no second probe is needed; when the 4-tuple turns out
    // to be in use, the TCB goes straight back.
    const std::uint64_t h = table_.hash(t);
    if (tw_.find(t, h)) return {no_conn, open_status::tuple_taken};
    const std::uint32_t id = conns_.acquire();
    if (id == pool<tcp::connection>::none) return {no_conn, open_status::no_memory};
    switch (table_.insert(t, h, ref::connection(id))) {
    case table::insert_result::inserted: break;
    case table::insert_result::present: conns_.release(id); return {no_conn, open_status::tuple_taken};
    case table::insert_result::full: conns_.release(id); return {no_conn, open_status::no_memory};
    }
    meta_[id] = meta(&app, user, true);
    auto &c = ctx();
    conns_[id].open_active(t, c);
    if (!settling_) settle();
    return {id, open_status::opened};
}

std::uint32_t shard::send(conn_id id, std::span<const std::uint8_t> bytes) noexcept {
    auto &conn = conns_[id];
    const auto want = static_cast<std::uint32_t>(std::min<std::size_t>(bytes.size(), UINT32_MAX));
    const std::uint32_t room = std::min(conn.send_space(cfg_), want);
    const std::uint32_t stored = room == 0 ? 0 : io_.append(id, bytes.first(room));
    auto &c = ctx();
    std::uint32_t taken;
    if (stored == room) {
        // Offer everything: the connection takes exactly `stored` (its room) and, when
        // that is less than offered, promises a writable event.
        taken = conn.send(want, c);
    } else {
        // The owner ran out of buffers: take what it stored, and raise writable on the
        // next acknowledgment, which gives buffers back.
        taken = conn.send(stored, c);
        meta_[id].set_retry_on_ack(true);
        ++extra_.send_no_buffer;
    }
    if (!settling_) settle();
    return taken;
}

void shard::shutdown(conn_id id) noexcept {
    auto &c = ctx();
    conns_[id].shutdown(c);
    if (!settling_) settle();
}

void shard::close(conn_id id) noexcept {
    auto &c = ctx();
    conns_[id].close(c);
    if (!settling_) settle();
}

void shard::abort(conn_id id) noexcept {
    auto &c = ctx();
    conns_[id].abort(c);
    if (!settling_) settle();
}

void shard::abort_all() noexcept {
    auto &c = ctx();
    conns_.for_each_used([&](std::uint32_t, tcp::connection &conn) {
        if (conn.current() != tcp::state::closed) conn.abort(c);
    });
    settle();
    while (tw_.pop() != time_wait_log::popped::nothing) {
    }
    extra_.time_wait_entries = 0;
}

// --- tcp::sink ------------------------------------------------------------------------

void shard::transmit(const tcp::connection *conn, const tcp::four_tuple &t, const tcp::out_segment &s) {
    if (conn == nullptr) {
        io_.transmit(no_conn, t, s, 0);
        return;
    }
    const conn_id id = id_of(*conn);
    const std::uint32_t offset = s.payload_len == 0 ? 0 : stored_offset(*conn, s);
    io_.transmit(id, t, s, offset);
}

void shard::notify(tcp::connection &conn, const tcp::event &e) {
    // Only `acked` and `closed` come here; the others go to events_ (tcp::context::raise).
    const conn_id id = id_of(conn);
    switch (e.type) {
    case tcp::event_type::acked:
        // Buffers are the owner's business, not the application's: released at once, so
        // what the connection sends next is counted from the new first byte.
        io_.release_sent(id, e.bytes);
        if (meta_[id].retry_on_ack()) {
            meta_[id].set_retry_on_ack(false);
            events_.raise(conn, tcp::event_type::writable);
        }
        return;
    case tcp::event_type::closed:
        closing_.push_back(closing{id, e.reason});
        return;
    default: events_.raise(conn, e.type, e.data); return;
    }
}

std::uint32_t shard::acquire_ooo_queue() {
    const std::uint32_t i = queues_.acquire();
    if (i == pool<tcp::reassembly_queue>::none) return 0;
    auto *q = &queues_[i];
    std::destroy_at(q);
    std::construct_at(q, cfg_.max_ooo_segments);
    return i + 1; // 0 is "none"
}

void shard::release_ooo_queue(std::uint32_t id) { queues_.release(id - 1); }

std::uint64_t shard::hold(tcp::connection &conn, seq32 first, std::span<const std::uint8_t> bytes) {
    // No room to defer its release later: better not to hold it at all.
    if (deferred_release_.size() == deferred_release_.capacity()) return 0;
    return io_.hold(id_of(conn), first, bytes);
}

tcp::sink::held_bytes shard::held(std::uint64_t handle) { return io_.held(handle); }

void shard::release(std::uint64_t handle) {
    // A data event may still point into these bytes: they go after the events are out.
    if (deferred_release_.size() < deferred_release_.capacity())
        deferred_release_.push_back(handle);
    else
        io_.release(handle); // not reached: hold() keeps the list from filling
}

bool shard::want_flush(tcp::connection &conn) {
    if (flushes_.size() == flushes_.capacity()) {
        ++extra_.flush_list_full;
        return false;
    }
    flushes_.push_back(id_of(conn));
    return true;
}

// --- handing events out -----------------------------------------------------------------

void shard::settle() noexcept {
    if (settling_) return;
    settling_ = true;
    std::size_t next_closing = 0;
    for (;;) {
        if (!events_.empty()) {
            dispatch(events_.pop());
            continue;
        }
        if (!flushes_.empty()) {
            // The callbacks are done: what they sent goes out now, with the ACKs and
            // FINs it can carry. An entry whose TCB has closed (and perhaps been reused)
            // since flushes nothing it should not: flush() on a closed TCB, or on one
            // with nothing queued, sends nothing.
            io_.callbacks_done();
            auto &c = ctx();
            for (std::size_t i = 0; i < flushes_.size(); ++i) conns_[flushes_[i]].flush(c);
            flushes_.clear();
            continue;
        }
        if (next_closing < closing_.size()) {
            const closing c = closing_[next_closing++];
            finish(c.id, c.why);
            continue;
        }
        break;
    }
    closing_.clear();
    for (const std::uint64_t h : deferred_release_) io_.release(h);
    deferred_release_.clear();
    settling_ = false;
}

void shard::dispatch(const tcp::outcome_queue::outcome &o) noexcept {
    // In the order the events were raised (see tcp::outcome_queue).
    using q = tcp::outcome_queue;
    const conn_id id = id_of(*o.conn);
    meta &m = meta_[id];
    if ((o.bits & q::bit(tcp::event_type::accepted)) != 0 && !m.announced()) {
        // Until now the user word held the listener; the application gets it as 0.
        const std::uint64_t li = std::exchange(m.user, 0);
        m.announce();
        if (li < listeners_.size()) {
            // The application takes it from the accept queue at once.
            listeners_[li].l.half_open_established();
            listeners_[li].l.accepted();
        }
        m.h()->on_accepted(*app_ctx_, conn{id});
    }
    if ((o.bits & q::bit(tcp::event_type::connected)) != 0) m.h()->on_connected(*app_ctx_, conn{id});
    if ((o.bits & q::bit(tcp::event_type::writable)) != 0 && m.announced()) m.h()->on_writable(*app_ctx_, conn{id});
    if ((o.bits & q::bit(tcp::event_type::data)) != 0 && m.announced())
        m.h()->on_data(*app_ctx_, conn{id}, std::as_bytes(o.data));
    if ((o.bits & q::bit(tcp::event_type::peer_closed)) != 0 && m.announced())
        m.h()->on_peer_closed(*app_ctx_, conn{id});
    if ((o.bits & q::bit(tcp::event_type::time_wait)) != 0) to_time_wait(id);
}

void shard::to_time_wait(conn_id id) noexcept {
    auto &conn = conns_[id];
    if (!conn.in(tcp::state::time_wait)) return;
    // The endpoint that repeats goes into the log's shared profile: this host's
    // listener for a passive open, the server for an active one.
    const auto shared = conn.passive() ? time_wait_log::shared_end::local : time_wait_log::shared_end::remote;
    tcp::time_wait_state tw;
    auto &c = ctx();
    conn.hand_over(tw, c); // closed (normal) follows, and the TCB is given back
    add_time_wait(tw, shared);
}

void shard::finish(conn_id id, tcp::close_reason why) noexcept {
    meta &m = meta_[id];
    if (m.announced()) {
        m.h()->on_closed(*app_ctx_, conn{id}, static_cast<close_reason>(why));
    } else if (m.user < listeners_.size()) {
        listeners_[m.user].l.half_open_closed(); // never left SYN-RECEIVED (the user word is its listener)
    }
    auto &conn = conns_[id];
    const tcp::four_tuple t = conn.tuple();
    table_.erase(t, table_.hash(t), ref::connection(id));
    wheel_.cancel(conn.hook());
    io_.forget(id);
    m = meta{};
    conns_.release(id);
}

} // namespace linerate::flow
