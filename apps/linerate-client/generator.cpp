// linerate-client's per-lcore work; see generator.hpp.
#include "generator.hpp"

#include <algorithm>

namespace linerate::client {

std::string_view to_string(failure f) noexcept {
    switch (f) {
    case failure::refused: return "refused";
    case failure::connect_timeout: return "connect_timeout";
    case failure::reset: return "reset";
    case failure::timeout: return "timeout";
    case failure::closed_early: return "closed_early";
    case failure::bad_response: return "bad_response";
    case failure::no_route: return "no_route";
    case failure::unfinished: return "unfinished";
    case failure::count_: break;
    }
    return "?";
}

std::optional<flood_kind> parse_flood_kind(std::string_view s) noexcept {
    for (const flood_kind k : {flood_kind::syn, flood_kind::ack, flood_kind::rst, flood_kind::fin})
        if (s == to_string(k)) return k;
    return std::nullopt;
}

std::string_view to_string(flood_kind k) noexcept {
    switch (k) {
    case flood_kind::none: return "none";
    case flood_kind::syn: return "syn";
    case flood_kind::ack: return "ack";
    case flood_kind::rst: return "rst";
    case flood_kind::fin: return "fin";
    }
    return "?";
}

tcp::out_segment flood_segment(flood_kind k, std::uint64_t random) noexcept {
    using f = tcp::tcp_flags;
    tcp::out_segment s{.seq = seq32{static_cast<std::uint32_t>(random)},
                       .ack = seq32{static_cast<std::uint32_t>(random >> 32)},
                       .window = 65535};
    switch (k) {
    case flood_kind::syn:
        s.ack = seq32{0};
        s.flags = f{f::syn};
        s.options.mss = 1460;
        break;
    case flood_kind::ack: s.flags = f{f::ack}; break;
    case flood_kind::rst:
        s.ack = seq32{0};
        s.window = 0;
        s.flags = f{f::rst};
        break;
    case flood_kind::fin: s.flags = f{static_cast<std::uint8_t>(f::fin | f::ack)}; break;
    case flood_kind::none: break;
    }
    return s;
}

generator::generator(const settings &s, const run_phase &phase, std::uint32_t max_connections)
    : cfg_(s), phase_(phase), pacer_(s.rate, s.ramp_s), conns_(s.flood == flood_kind::none ? max_connections : 0),
      rng_(s.seed) {
    if (s.hold_us > 0) holds_.slots.resize(conns_.size());
    if (s.request_interval_us > 0) spaced_.slots.resize(conns_.size());
}

std::uint64_t generator::next_random() noexcept {
    // splitmix64 (Steele, Lea, Flood 2014): one multiply chain per call, no state beyond
    // a word, and every 64-bit output once per period.
    std::uint64_t z = (rng_ += 0x9e37'79b9'7f4a'7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11ebull;
    return z ^ (z >> 31);
}

std::pair<ipv4_addr, std::uint16_t> generator::next_target() noexcept {
    const std::pair<ipv4_addr, std::uint16_t> t{ipv4_addr{cfg_.target.value + target_i_},
                                                static_cast<std::uint16_t>(cfg_.target_port + target_port_i_)};
    if (++target_i_ == cfg_.target_count) {
        target_i_ = 0;
        if (++target_port_i_ == cfg_.target_port_count) target_port_i_ = 0;
    }
    return t;
}

void generator::flood(engine::lcore &l, std::uint64_t budget, std::uint64_t now) noexcept {
    const flood_sources &src = cfg_.sources;
    const std::uint32_t ports = static_cast<std::uint32_t>(src.port_hi - src.port_lo) + 1;
    while (budget-- > 0) {
        if (attempts_ >= cfg_.connections) {
            quota_done_.store(true, std::memory_order_relaxed);
            return;
        }
        const std::uint64_t r = next_random();
        // Source address and port drawn by multiply-shift (Lemire's range reduction):
        // the high bits of a product, no division.
        const std::uint32_t hi = static_cast<std::uint32_t>(r >> 32), lo = static_cast<std::uint32_t>(r);
        const auto [dst, dst_port] = next_target();
        const tcp::four_tuple t{
            ipv4_addr{src.first.value + static_cast<std::uint32_t>((std::uint64_t{hi} * src.count) >> 32)}, dst,
            static_cast<std::uint16_t>(src.port_lo + ((std::uint64_t{lo} * ports) >> 32)), dst_port};
        // No route, no mbuf, or the target's MAC still being asked for: the rest of the
        // turn waits, and a paced run falls behind (counted in `missed`).
        if (!l.send_segment(t, flood_segment(cfg_.flood, next_random()))) {
            fall_behind(now);
            return;
        }
        ++attempts_;
        ++paced_;
        ++stats_.flood_sent;
    }
    if (attempts_ >= cfg_.connections) quota_done_.store(true, std::memory_order_relaxed);
}

void generator::fail(failure f) noexcept {
    ++stats_.failures[static_cast<std::size_t>(f)];
    ++stats_.failed;
}

void generator::poll(engine::lcore &l) noexcept {
    if (lcore_ == nullptr) {
        // Relaxed: the flag orders nothing, the control thread only waits for it.
        if (!polled_.load(std::memory_order_relaxed)) polled_.store(true, std::memory_order_relaxed);
        if (!phase_.started.load(std::memory_order_relaxed)) return;
        lcore_ = &l;
        start_us_ = l.now_us();
    }
    // Relaxed: the acquire-release pair is interval_now_, which the control thread
    // reads before it touches the other histograms.
    if (const std::uint32_t asked = interval_asked_.load(std::memory_order_relaxed);
        asked != interval_now_.load(std::memory_order_relaxed))
        interval_now_.store(asked, std::memory_order_release);
    const std::uint64_t now = l.now_us();
    // Held connections and spaced requests go on while the run drains.
    if (ctx_ != nullptr && (holds_.count != 0 || spaced_.count != 0)) run_waits(now);
    if (!phase_.opening.load(std::memory_order_relaxed) || quota_done_.load(std::memory_order_relaxed)) return;
    std::uint64_t budget = cfg_.opens_per_turn;
    if (!pacer_.unlimited()) {
        const std::uint64_t due = pacer_.due(now - start_us_);
        budget = due > paced_ ? std::min<std::uint64_t>(due - paced_, budget) : 0;
    }
    // The device refused frames at the last flush: new SYNs now would be dropped on top
    // of them. Wait for the ring to drain (a paced run falls behind, as at the cap).
    if (l.tx_backlogged()) {
        fall_behind(now);
        return;
    }
    if (cfg_.flood != flood_kind::none) {
        flood(l, budget, now);
        return;
    }
    while (budget-- > 0) {
        if (attempts_ >= cfg_.connections) {
            quota_done_.store(true, std::memory_order_relaxed);
            return;
        }
        const std::uint64_t open = stats_.opened - stats_.closed;
        // The first connection goes alone: until the target has answered once, its MAC
        // may be unknown, and a burst of SYNs would overflow the engine's bounded queue
        // of packets waiting for ARP (each one lost there costs a 1 s retransmission).
        if (open > 0 && stats_.established + stats_.closed == 0) return;
        if (cfg_.concurrency != 0 && open >= cfg_.concurrency) {
            // At the cap, a paced run falls behind rather than bursting later: what was
            // due while the cap held is forgotten.
            fall_behind(now);
            return;
        }
        engine::connect_error why{};
        const auto [dst, dst_port] = next_target();
        const auto id = l.connect(dst, dst_port, *this, 0, &why);
        if (!id) {
            if (why == engine::connect_error::no_route) {
                // Nothing will ever reach the target: one failure, and this lcore stops.
                ++attempts_;
                ++paced_;
                fail(failure::no_route);
                quota_done_.store(true, std::memory_order_relaxed);
                return;
            }
            // Out of local 4-tuples or TCBs: not a connection that failed, but a limit of
            // this end (TIME-WAIT holding every source port, or the pool too small).
            // Counted, and the rest of the turn is skipped; like the concurrency cap, a
            // paced run falls behind instead of bursting later.
            ++stats_.deferred[why == engine::connect_error::no_source ? 0 : 1];
            fall_behind(now);
            return;
        }
        ++attempts_;
        ++paced_;
        ++stats_.opened;
        conn_state &c = conns_[*id];
        c = conn_state{};
        c.start_us = now - start_us_;
    }
    if (attempts_ >= cfg_.connections) quota_done_.store(true, std::memory_order_relaxed);
}

void generator::run_waits(std::uint64_t now) {
    const std::uint64_t at = now - start_us_;
    for (wait_ring *q : {&holds_, &spaced_}) {
        while (q->count != 0) {
            const wait_entry e = q->slots[q->head];
            if (e.due_us > at) break;
            q->pop();
            conn_state &c = conns_[e.id];
            if (!c.waiting || c.start_us != e.start_us) continue; // ended meanwhile
            c.waiting = false;
            const conn id{e.id};
            if (q == &holds_) {
                finish(*ctx_, id, c);
            } else {
                c.parser.reset();
                c.request_sent = 0;
                send_request(*ctx_, id, c);
            }
        }
    }
}

// Opens that fell due while none could be made are forgotten, not made later in a
// burst; they are not attempts either, so --connections still counts connections
// really opened (counting them as attempts ended a run whose TX ring was backed up for
// a tenth of a second with a fraction of its connections made).
void generator::fall_behind(std::uint64_t now) noexcept {
    if (pacer_.unlimited()) return;
    const std::uint64_t due = pacer_.due(now - start_us_);
    if (due <= paced_) return;
    stats_.missed += due - paced_;
    paced_ = due;
}

void generator::on_connected(lcore_context &ctx, conn id) {
    conn_state &c = state_of(id);
    c.established = true;
    ++stats_.established;
    // RFC 9293 §3.5: the SYN-ACK has just been answered; SYN to here is the handshake.
    const std::uint64_t us = age_us(c, ctx.now_us());
    connect_.record(us);
    connect_iv_[interval_now_.load(std::memory_order_relaxed) & 1].record(us);
    if (cfg_.requests_per_connection == 0) {
        // No data: the connection ends once open (and held).
        last_response(ctx, id, c);
        return;
    }
    send_request(ctx, id, c);
}

void generator::send_request(lcore_context &ctx, conn id, conn_state &c) {
    for (;;) {
        if (c.request_sent == cfg_.request.size()) return;
        const auto n = static_cast<std::uint32_t>(ctx.send(id, std::as_bytes(cfg_.request.subspan(c.request_sent))));
        c.request_sent += n;
        stats_.bytes_out += n;
        if (c.request_sent != cfg_.request.size()) return; // the rest goes on `writable`
        ++stats_.requests;
        if (!cfg_.no_response) return;
        // Nothing comes back (a discard server): a request is done once it is sent. A
        // loop rather than response_done(), which would recurse once per request.
        if (++c.requests_done >= cfg_.requests_per_connection) {
            last_response(ctx, id, c);
            return;
        }
        if (cfg_.request_interval_us > 0) {
            wait_for_next_request(ctx, id, c);
            return;
        }
        c.request_sent = 0;
    }
}

void generator::wait_for_next_request(lcore_context &ctx, conn id, conn_state &c) {
    c.waiting = true;
    spaced_.push({ctx.now_us() - start_us_ + cfg_.request_interval_us, c.start_us, id.id});
}

void generator::on_writable(lcore_context &ctx, conn id) {
    conn_state &c = state_of(id);
    if (!c.done) send_request(ctx, id, c);
}

void generator::on_data(lcore_context &ctx, conn id, std::span<const std::byte> bytes) {
    conn_state &c = state_of(id);
    stats_.bytes_in += bytes.size();
    if (c.done) return; // after the last response: nothing more is expected, nothing is read
    if (!c.got_byte && !bytes.empty()) {
        c.got_byte = true;
        const std::uint64_t us = age_us(c, ctx.now_us());
        first_byte_.record(us);
        first_byte_iv_[interval_now_.load(std::memory_order_relaxed) & 1].record(us);
    }
    // The parser reads octets.
    std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size());
    while (!data.empty() && !c.done) {
        const std::size_t used = c.parser.feed(data, cfg_.response_size);
        data = data.subspan(used);
        if (!c.parser.complete()) return;
        response_done(ctx, id, c);
    }
}

void generator::response_done(lcore_context &ctx, conn id, conn_state &c) {
    ++stats_.responses;
    ++c.requests_done;
    const std::uint16_t st = c.parser.status();
    if (c.parser.bad() || (st != 0 && (st < 200 || st > 299))) {
        fail(failure::bad_response);
        c.done = true;
        c.requests_done = ~0u; // failed: on_closed must not count it again
        ctx.abort(id);
        return;
    }
    if (c.requests_done < cfg_.requests_per_connection) {
        if (cfg_.request_interval_us > 0) {
            wait_for_next_request(ctx, id, c);
            return;
        }
        c.parser.reset();
        c.request_sent = 0;
        send_request(ctx, id, c);
        return;
    }
    last_response(ctx, id, c);
}

void generator::last_response(lcore_context &ctx, conn id, conn_state &c) {
    if (cfg_.hold_us == 0) {
        finish(ctx, id, c);
        return;
    }
    c.done = true; // nothing more is read; finish() comes when the hold is over
    c.waiting = true;
    holds_.push({ctx.now_us() - start_us_ + cfg_.hold_us, c.start_us, id.id});
}

void generator::finish(lcore_context &ctx, conn id, conn_state &c) {
    c.done = true;
    switch (cfg_.close) {
    case close_mode::client:
        c.close_called = true;
        ctx.close(id);
        break;
    case close_mode::reset:
        c.close_called = true;
        ctx.abort(id);
        break;
    case close_mode::server: break; // on_peer_closed closes
    }
}

void generator::on_peer_closed(lcore_context &ctx, conn id) {
    conn_state &c = state_of(id);
    if (!c.done) {
        // A response that runs until the close ends here.
        c.parser.peer_closed();
        if (c.parser.complete()) response_done(ctx, id, c);
    }
    if (c.requests_done == ~0u || c.close_called) return;
    c.close_called = true;
    ctx.close(id);
}

void generator::on_closed(lcore_context &ctx, conn id, close_reason why) {
    conn_state &c = state_of(id);
    c.waiting = false; // its entry in a wait queue is stale now
    ++stats_.closed;
    if (why == close_reason::reset || why == close_reason::refused) ++stats_.resets_in;
    if (why == close_reason::timeout) ++stats_.timeouts;
    if (c.requests_done == ~0u) return; // counted when it failed
    const bool ok = c.done && (why == close_reason::normal ||
                               (why == close_reason::aborted && cfg_.close == close_mode::reset));
    if (ok) {
        ++stats_.completed;
        whole_.record(age_us(c, ctx.now_us()));
        return;
    }
    switch (why) {
    case close_reason::refused: fail(failure::refused); break;
    case close_reason::reset: fail(failure::reset); break;
    case close_reason::timeout: fail(c.established ? failure::timeout : failure::connect_timeout); break;
    case close_reason::aborted: fail(failure::unfinished); break; // the run's end reset it
    case close_reason::normal: fail(failure::closed_early); break;
    }
}

} // namespace linerate::client
