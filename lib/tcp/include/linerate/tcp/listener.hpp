// A listening endpoint: what LISTEN does with a segment (RFC 9293 §3.10.7.2), and the
// two bounded queues every listener has. The SYN queue counts half-open connections
// (SYN-RECEIVED, alive only until their SYN-ACK retries run out); the accept queue
// counts established connections the application has not taken yet. A SYN that finds
// either full is dropped and counted, as Linux does (ListenOverflows); SYN cookies
// come later.
#pragma once

#include <linerate/base/addr.hpp>
#include <linerate/tcp/counters.hpp>
#include <linerate/tcp/segment.hpp>

#include <cstdint>

namespace linerate::tcp {

class listener {
public:
    // ip 0.0.0.0 accepts on every local address.
    listener(ipv4_addr ip, std::uint16_t port, std::uint32_t syn_backlog, std::uint32_t accept_backlog) noexcept
        : ip_(ip), port_(port), syn_backlog_(syn_backlog), accept_backlog_(accept_backlog) {}

    enum class verdict : std::uint8_t {
        open,  // a SYN with room: create a connection and call open_passive
        reset, // answer with reset_for_unknown(segment)
        drop,  // counted, nothing sent
    };

    [[nodiscard]] bool matches(ipv4_addr local_ip, std::uint16_t local_port) const noexcept {
        return local_port == port_ && (ip_.value == 0 || ip_ == local_ip);
    }

    verdict on_segment(const segment &seg, counters &stats) noexcept {
        // "first, check for a RST: An incoming RST should be ignored."
        if (seg.has(tcp_flags::rst)) {
            stats.count(drop::listen_rst);
            return verdict::drop;
        }
        // "second, check for an ACK: Any acknowledgment is bad if it arrives on a
        // connection still in the LISTEN state. An acceptable reset segment should be
        // formed for any arriving ACK-bearing segment: <SEQ=SEG.ACK><CTL=RST>".
        if (seg.has(tcp_flags::ack)) {
            stats.count(drop::listen_ack);
            return verdict::reset;
        }
        // "third, check for a SYN".
        if (seg.has(tcp_flags::syn)) {
            if (half_open_ >= syn_backlog_ || pending_accept_ >= accept_backlog_) {
                ++stats.listen_overflows;
                stats.count(drop::listen_overflow);
                return verdict::drop;
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
};

} // namespace linerate::tcp
