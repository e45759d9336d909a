// TCP counters of one shard, named as in Linux's /proc/net/snmp (Tcp:) and
// /proc/net/netstat (TcpExt:), so that `nstat` habits carry over, plus one counter per
// reason the core drops a segment.
#pragma once

#include <linerate/tcp/state.hpp>

#include <array>
#include <cstdint>
#include <string_view>

namespace linerate::tcp {

// Why the core discarded a segment. Each has a counter.
enum class drop : std::uint8_t {
    no_connection = 0,     // CLOSED: no TCB and no listener (answered with RST unless RST)
    listen_ack,            // LISTEN: an ACK (answered with RST)
    listen_rst,            // LISTEN: a RST (ignored)
    listen_no_syn,         // LISTEN: neither SYN nor ACK nor RST
    listen_overflow,       // LISTEN: the SYN queue is full
    syn_sent_bad_ack,      // SYN-SENT: unacceptable ACK (answered with RST unless RST)
    syn_sent_rst_no_ack,   // SYN-SENT: RST without an acceptable ACK
    syn_sent_no_syn,       // SYN-SENT: neither SYN nor RST
    out_of_window,         // first check: not acceptable (answered with ACK)
    paws,                  // RFC 7323 §5: timestamp older than TS.Recent
    rst_in_window,         // RFC 5961 §3: RST not at RCV.NXT (challenge ACK)
    syn_in_window,         // RFC 5961 §4: SYN in a synchronized state (challenge ACK)
    challenge_ack_limited, // RFC 5961 §7: a challenge ACK was due but the budget was spent
    no_ack,                // fifth check: ACK bit off
    ack_unacceptable,      // RFC 5961 §5: ACK outside [SND.UNA - MAX.SND.WND, SND.NXT]
    syn_received_bad_ack,  // SYN-RECEIVED: ACK not for our SYN (answered with RST)
    ack_after_close,       // text or FIN after the peer's FIN, ignored (§3.10.7.4 seventh)
    ooo_queue_full,        // out-of-order segment with no room in the reassembly queue
    time_wait_rst,         // RFC 1337: a RST does not end TIME-WAIT
    time_wait_segment,     // TIME-WAIT: a bare ACK or an old SYN, nothing to do
    no_memory,             // a SYN the listener would take, but the shard's connection pool is full
    count_
};
inline constexpr std::size_t drop_count = static_cast<std::size_t>(drop::count_);
[[nodiscard]] std::string_view to_string(drop d) noexcept;

struct counters {
    // Tcp: (RFC 4022 TCP-MIB names)
    std::uint64_t active_opens = 0;
    std::uint64_t passive_opens = 0;
    std::uint64_t attempt_fails = 0;
    std::uint64_t estab_resets = 0;
    std::uint64_t curr_estab = 0; // a gauge
    std::uint64_t in_segs = 0;
    std::uint64_t out_segs = 0;
    std::uint64_t retrans_segs = 0;
    std::uint64_t in_errs = 0;
    std::uint64_t out_rsts = 0;
    std::uint64_t in_csum_errors = 0;
    // TcpExt:
    std::uint64_t challenge_acks = 0;      // TCPChallengeACK
    std::uint64_t syn_challenges = 0;      // TCPSYNChallenge: a SYN in a synchronized state (RFC 5961 §4)
    std::uint64_t timeouts = 0;            // TCPTimeouts: retransmission timer expirations
    std::uint64_t paws_rejected = 0;       // PAWSEstabRejected
    std::uint64_t delayed_acks = 0;        // DelayedACKs
    std::uint64_t syn_retrans = 0;         // TCPSynRetrans
    std::uint64_t listen_overflows = 0;    // ListenOverflows
    std::uint64_t abort_on_timeout = 0;    // TCPAbortOnTimeout
    std::uint64_t abort_on_data = 0;       // TCPAbortOnData: data after the application closed
    std::uint64_t time_waits = 0;          // TW: entries into TIME-WAIT
    std::uint64_t time_wait_recycled = 0;  // TWRecycled: TIME-WAIT reopened by a new SYN
    std::uint64_t ofo_queue = 0;           // TCPOFOQueue: segments queued out of order
    std::uint64_t zero_window_probes = 0;  // TCPWinProbe
    std::uint64_t keepalive_probes = 0;    // TCPKeepAlive
    std::uint64_t listen_drops = 0;        // ListenDrops: SYNs a listener dropped (overflow or no memory), as Linux
    // RFC 4987 §3.6 SYN cookies, Linux's names.
    std::uint64_t syncookies_sent = 0;       // SyncookiesSent: cookie SYN-ACKs sent
    std::uint64_t syncookies_recv = 0;       // SyncookiesRecv: valid cookies returned (connections made)
    std::uint64_t syncookies_failed = 0;     // SyncookiesFailed: ACKs checked for a cookie that held none
    std::uint64_t req_q_full_do_cookies = 0; // TCPReqQFullDoCookies: cookies sent because the SYN queue was full
    std::uint64_t time_wait_overflow = 0;  // TCPTimeWaitOverflow: no TIME-WAIT entry free, the oldest retired early
    // ACKs not sent because the connection answered an unacceptable segment less than
    // invalid_ack_interval_ms ago (Linux's names, tcp_oow_rate_limited).
    std::uint64_t ack_skipped_seq = 0;       // TCPACKSkippedSeq: out of window
    std::uint64_t ack_skipped_paws = 0;      // TCPACKSkippedPAWS: PAWS rejected
    std::uint64_t ack_skipped_challenge = 0; // TCPACKSkippedChallenge: a challenge ACK (RFC 5961)
    // Header prediction. Linux's TCPHPHits counts predicted segments with data and
    // TCPHPAcks predicted pure ACKs; here TCPHPHits counts both. Linux has no count of
    // misses: TCPHPMisses is linerate's, every segment for a TCB that took the full
    // §3.10.7 path while prediction was on (hits + misses = segments for a TCB).
    std::uint64_t hp_hits = 0;   // TCPHPHits
    std::uint64_t hp_misses = 0; // TCPHPMisses

    // Connections in each state (a gauge per state, kept by connection::set_state).
    // CLOSED's slot means nothing and is never reported: a closed connection is about
    // to be given back.
    std::array<std::uint64_t, state_count> in_state{};

    std::array<std::uint64_t, drop_count> dropped{};
    void count(drop d) noexcept { ++dropped[static_cast<std::size_t>(d)]; }
};

struct named_counter {
    std::string_view name;
    std::uint64_t counters::*field;
};
inline constexpr std::array<named_counter, 36> mib_counters{{
    {"ActiveOpens", &counters::active_opens},
    {"PassiveOpens", &counters::passive_opens},
    {"AttemptFails", &counters::attempt_fails},
    {"EstabResets", &counters::estab_resets},
    {"CurrEstab", &counters::curr_estab},
    {"InSegs", &counters::in_segs},
    {"OutSegs", &counters::out_segs},
    {"RetransSegs", &counters::retrans_segs},
    {"InErrs", &counters::in_errs},
    {"OutRsts", &counters::out_rsts},
    {"InCsumErrors", &counters::in_csum_errors},
    {"TCPChallengeACK", &counters::challenge_acks},
    {"TCPSYNChallenge", &counters::syn_challenges},
    {"TCPTimeouts", &counters::timeouts},
    {"PAWSEstabRejected", &counters::paws_rejected},
    {"DelayedACKs", &counters::delayed_acks},
    {"TCPSynRetrans", &counters::syn_retrans},
    {"ListenOverflows", &counters::listen_overflows},
    {"TCPAbortOnTimeout", &counters::abort_on_timeout},
    {"TCPAbortOnData", &counters::abort_on_data},
    {"TW", &counters::time_waits},
    {"TWRecycled", &counters::time_wait_recycled},
    {"TCPOFOQueue", &counters::ofo_queue},
    {"TCPWinProbe", &counters::zero_window_probes},
    {"TCPKeepAlive", &counters::keepalive_probes},
    {"ListenDrops", &counters::listen_drops},
    {"SyncookiesSent", &counters::syncookies_sent},
    {"SyncookiesRecv", &counters::syncookies_recv},
    {"SyncookiesFailed", &counters::syncookies_failed},
    {"TCPReqQFullDoCookies", &counters::req_q_full_do_cookies},
    {"TCPTimeWaitOverflow", &counters::time_wait_overflow},
    {"TCPACKSkippedSeq", &counters::ack_skipped_seq},
    {"TCPACKSkippedPAWS", &counters::ack_skipped_paws},
    {"TCPACKSkippedChallenge", &counters::ack_skipped_challenge},
    {"TCPHPHits", &counters::hp_hits},
    {"TCPHPMisses", &counters::hp_misses},
}};

} // namespace linerate::tcp
