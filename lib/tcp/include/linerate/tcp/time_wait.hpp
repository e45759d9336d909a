// TIME-WAIT: what it keeps and how it answers segments.
//
// Why TIME-WAIT exists (RFC 9293 §3.6.1, §3.10.7.4): the side that closes first waits
// 2*MSL before forgetting a connection so that (1) its last ACK can be sent again if
// the peer's FIN is retransmitted (the ACK was lost), and (2) old duplicate segments of
// this connection die in the network before a new incarnation of the same 4-tuple can
// mistake them for its own.
//
// Neither needs a whole TCB: on entry the connection is given back and its owner keeps
// only the numbers below, as the kernel's tcp_timewait_sock does. A server that closes
// first holds one per recent connection, so their size is what bounds memory at high
// connection rates. The owner stores them as it likes (flow::time_wait_log packs them
// into 20-byte records in a FIFO, which is why no timer lives here: every TIME-WAIT
// lasts 2*MSL, so the owner's insertion order is the expiry order) and hands this
// unpacked view to time_wait_input() for each segment. The TSval offset is not kept:
// it is a pure function of the address pair (isn_generator::ts_offset), computed again
// when an ACK goes out.
//
// A RST does not end TIME-WAIT (RFC 1337: "TIME-WAIT assassination"). A new SYN for
// the same 4-tuple may reopen it when its timestamp is newer (RFC 6191) or, without
// timestamps, when its sequence number is beyond the old connection's (RFC 9293 §3.6.1
// MAY-2).
#pragma once

#include <linerate/base/seq32.hpp>
#include <linerate/tcp/connection.hpp>
#include <linerate/tcp/segment.hpp>

#include <cstdint>

namespace linerate::tcp {

struct time_wait_state {
    four_tuple tuple{};
    seq32 snd_nxt{};
    seq32 rcv_nxt{};
    std::uint32_t ts_recent = 0;
    std::uint16_t window = 0; // as advertised on the wire
    bool ts_ok = false;

    friend bool operator==(const time_wait_state &, const time_wait_state &) = default;
};

enum class time_wait_verdict : std::uint8_t {
    keep,    // handled (an ACK may have been sent); TIME-WAIT goes on
    restart, // the peer's FIN again, ACKed: TIME-WAIT starts its 2*MSL over (RFC 9293 §3.10.7.4)
    reopen,  // a new SYN may take the 4-tuple: forget TIME-WAIT, hand the SYN to the listener
};

// A segment for a 4-tuple in TIME-WAIT. Never changes the state: what the owner must do
// with it is the verdict.
time_wait_verdict time_wait_input(const time_wait_state &tw, const segment &seg, context &ctx) noexcept;

} // namespace linerate::tcp
