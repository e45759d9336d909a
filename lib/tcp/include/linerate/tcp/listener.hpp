// A listening endpoint: what LISTEN does with a segment (RFC 9293 §3.10.7.2), and the
// two bounded queues every listener has. The SYN queue counts half-open connections
// (SYN-RECEIVED, alive only until their SYN-ACK retries run out); the accept queue
// counts established connections the application has not taken yet. A SYN that finds
// the accept queue full is dropped and counted, as Linux does (ListenOverflows). One
// that finds the SYN queue full is answered with a SYN cookie (syn_cookie.hpp) while
// the mode allows it, and dropped otherwise.
#pragma once

#include <linerate/base/addr.hpp>
#include <linerate/tcp/counters.hpp>
#include <linerate/tcp/segment.hpp>
#include <linerate/tcp/settings.hpp>
#include <linerate/tcp/syn_cookie.hpp>

#include <cstdint>

namespace linerate::tcp {

class listener {
public:
    // ip 0.0.0.0 accepts on every local address.
    listener(ipv4_addr ip, std::uint16_t port, std::uint32_t syn_backlog, std::uint32_t accept_backlog,
             syn_cookie_mode cookies = syn_cookie_mode::off) noexcept
        : ip_(ip), port_(port), syn_backlog_(syn_backlog), accept_backlog_(accept_backlog), cookies_(cookies) {}

    enum class verdict : std::uint8_t {
        open,         // a SYN with room: create a connection and call open_passive
        reset,        // answer with reset_for_unknown(segment)
        drop,         // counted, nothing sent
        send_cookie,  // a SYN to answer with a cookie SYN-ACK, keeping nothing
        check_cookie, // an ACK that may return a cookie: open if it does, else reset
    };

    [[nodiscard]] bool matches(ipv4_addr local_ip, std::uint16_t local_port) const noexcept {
        return local_port == port_ && (ip_.value == 0 || ip_ == local_ip);
    }

    // now_us: the clock of the cookies' periods (syn_cookie_codec::count_at).
    verdict on_segment(const segment &seg, counters &stats, std::uint64_t now_us = 0) noexcept {
        // "first, check for a RST: An incoming RST should be ignored."
        if (seg.has(tcp_flags::rst)) {
            stats.count(drop::listen_rst);
            return verdict::drop;
        }
        // "second, check for an ACK: Any acknowledgment is bad if it arrives on a
        // connection still in the LISTEN state. An acceptable reset segment should be
        // formed for any arriving ACK-bearing segment: <SEQ=SEG.ACK><CTL=RST>".
        // RFC 4987 §3.6: while cookies may be out, an ACK can be the third segment of a
        // handshake whose SYN-ACK was a cookie (Linux checks only then, too: after
        // tcp_synq_no_recent_overflow). What fails the check is then reset as here.
        if (seg.has(tcp_flags::ack)) {
            if (!seg.has(tcp_flags::syn) && cookies_in_play(now_us)) return verdict::check_cookie;
            stats.count(drop::listen_ack);
            return verdict::reset;
        }
        // "third, check for a SYN".
        if (seg.has(tcp_flags::syn)) {
            // A full accept queue drops the SYN even with cookies (Linux's
            // tcp_conn_request): the connection would have nowhere to go.
            const bool syn_queue_full = half_open_ >= syn_backlog_;
            if (pending_accept_ >= accept_backlog_ || (syn_queue_full && cookies_ == syn_cookie_mode::off)) {
                ++stats.listen_overflows;
                stats.count(drop::listen_overflow);
                return verdict::drop;
            }
            if (syn_queue_full || cookies_ == syn_cookie_mode::always) {
                if (syn_queue_full) ++stats.req_q_full_do_cookies;
                last_cookie_count_ = syn_cookie_codec::count_at(now_us);
                cookies_sent_ = true;
                return verdict::send_cookie;
            }
            ++half_open_;
            return verdict::open;
        }
        // "fourth, other data or control: ... drop the segment and return."
        stats.count(drop::listen_no_syn);
        return verdict::drop;
    }

    // The owner reports what becomes of the connections it opened from here.
    void half_open_closed() noexcept { if (half_open_ > 0) --half_open_; }      // SYN-RECEIVED -> gone
    void half_open_established() noexcept {                                      // SYN-RECEIVED -> ESTABLISHED
        half_open_closed();
        ++pending_accept_;
    }
    void accepted() noexcept { if (pending_accept_ > 0) --pending_accept_; }      // the application took it
    // A valid cookie ACK: the connection is created in SYN-RECEIVED and established by
    // that same ACK, so it passes through the SYN queue's count as any other (the
    // reports above then balance). False, counted, when the accept queue is full.
    bool cookie_open(counters &stats) noexcept {
        if (pending_accept_ >= accept_backlog_) {
            ++stats.listen_overflows;
            stats.count(drop::listen_overflow);
            return false;
        }
        ++half_open_;
        return true;
    }
    // Whether an ACK may carry a cookie of this listener's: always in mode always; in
    // mode automatic, for as long as a cookie sent last stays valid.
    [[nodiscard]] bool cookies_in_play(std::uint64_t now_us) const noexcept {
        if (cookies_ == syn_cookie_mode::always) return true;
        return cookies_sent_ && syn_cookie_codec::count_at(now_us) - last_cookie_count_ < syn_cookie_codec::max_age;
    }

    [[nodiscard]] std::uint32_t half_open() const noexcept { return half_open_; }
    [[nodiscard]] std::uint32_t pending_accept() const noexcept { return pending_accept_; }
    [[nodiscard]] ipv4_addr ip() const noexcept { return ip_; }
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

private:
    ipv4_addr ip_;
    std::uint16_t port_;
    std::uint32_t syn_backlog_;
    std::uint32_t accept_backlog_;
    std::uint32_t half_open_ = 0;
    std::uint32_t pending_accept_ = 0;
    syn_cookie_mode cookies_;
    bool cookies_sent_ = false;
    std::uint32_t last_cookie_count_ = 0; // the period of the last cookie sent
};

} // namespace linerate::tcp
