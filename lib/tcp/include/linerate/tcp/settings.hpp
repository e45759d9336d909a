// What the TCP core can be told: every timer duration, retry count and option switch.
// The engine fills it from the [tcp] table of the configuration; tests and benchmarks
// shorten timers through it. Durations are in milliseconds, and each timer (2 MSL for
// TIME-WAIT) must stay below short_deadline::reach (2^30 ms, 12 days): the TCB keeps its
// deadlines in 32 bits (connection.hpp). The configuration allows a day at most;
// timers_fit() says whether settings built another way respect it.
#pragma once

#include <linerate/base/ticks.hpp>
#include <linerate/tcp/rto.hpp>

#include <cstdint>

namespace linerate::tcp {

// When a listener answers SYNs with cookies (syn_cookie.hpp, RFC 4987 §3.6).
enum class syn_cookie_mode : std::uint8_t {
    off,       // never: a full SYN queue drops SYNs (ListenOverflows)
    automatic, // while the SYN queue is full, as Linux's tcp_syncookies = 1
    always,    // every SYN, as tcp_syncookies = 2 (tests; listeners that want no SYN queue)
};

struct settings {
    // Options (each can be turned off).
    bool window_scaling = true; // RFC 7323 §2
    bool sack = true;           // RFC 2018 (SACK-permitted negotiated)
    bool timestamps = true;     // RFC 7323 §3 and PAWS §5

    // Our MSS is the interface MTU less 40 bytes of IPv4 and TCP headers (RFC 9293
    // §3.7.1, MUST-14 says send it in SYNs; RFC 6691 says derive it from the MTU).
    std::uint16_t mtu = 1500;
    std::uint32_t receive_buffer = 256 * 1024; // the receive window we offer, in bytes
    std::uint32_t send_buffer = 256 * 1024;    // unacknowledged + unsent bytes a connection may hold
    std::uint32_t initial_window_segments = 10; // RFC 6928
    std::uint32_t max_ooo_segments = 8;         // reassembly queue bound per connection

    // Timers.
    rto_settings rto{};                      // RFC 6298, 1 s initial, 200 ms minimum as Linux
    std::uint8_t syn_retries = 6;            // active open: SYN retransmissions (Linux tcp_syn_retries)
    std::uint8_t synack_retries = 5;         // passive open: SYN-ACK retransmissions (tcp_synack_retries)
    std::uint8_t data_retries = 15;          // RFC 9293 §3.8.3 R2, as Linux tcp_retries2
    std::uint32_t delayed_ack_ms = 40;       // RFC 9293 §3.8.6.3 MUST-40: never more than 500 ms
    std::uint32_t fin_wait_2_timeout_ms = 60'000; // for connections the application closed (Linux tcp_fin_timeout)
    std::uint32_t msl_ms = 30'000;           // TIME-WAIT lasts 2*MSL = 60 s, as on Linux
    bool keepalive = false;                  // RFC 9293 §3.8.4: off by default (MUST-24)
    std::uint32_t keepalive_idle_ms = 7'200'000; // MUST-25: at least two hours by default
    std::uint32_t keepalive_interval_ms = 75'000;
    std::uint8_t keepalive_probes = 9;

    // Header prediction (connection.cpp): the segment a connection expects next takes a
    // short path that gives the same result as the full RFC 9293 §3.10.7 path. Off only
    // in tests, which run both paths and compare them.
    bool header_prediction = true;

    // RFC 5961 §7: challenge ACKs per second per shard (Linux tcp_challenge_ack_limit).
    std::uint32_t challenge_ack_limit = 1000;
    // At most one ACK per connection per this many ms in reply to segments that are not
    // acceptable (out of window, PAWS, unacceptable ACK, challenges), as Linux's
    // tcp_invalid_ratelimit: a flood aimed at a live 4-tuple is not reflected ACK for
    // segment at the real peer. 0: no limit.
    std::uint32_t invalid_ack_interval_ms = 500;

    // Listeners.
    std::uint32_t syn_backlog = 1024;    // half-open connections per listener
    std::uint32_t accept_backlog = 1024; // established, not yet accepted, per listener
    syn_cookie_mode syn_cookies = syn_cookie_mode::automatic; // as Linux's default

    // The RTO needs no check: rto_bounds saturates it below 2^24 ms.
    [[nodiscard]] constexpr bool timers_fit() const noexcept {
        constexpr std::uint64_t reach = short_deadline::reach;
        return delayed_ack_ms < reach && fin_wait_2_timeout_ms < reach && 2ull * msl_ms < reach &&
               keepalive_idle_ms < reach && keepalive_interval_ms < reach;
    }

    [[nodiscard]] constexpr std::uint16_t our_mss() const noexcept {
        return static_cast<std::uint16_t>(mtu > 40 ? mtu - 40 : 0);
    }
};

} // namespace linerate::tcp
