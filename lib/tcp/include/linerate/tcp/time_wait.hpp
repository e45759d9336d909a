// TIME-WAIT entries.
//
// Why TIME-WAIT exists (RFC 9293 §3.6.1, §3.10.7.4): the side that closes first waits
// 2*MSL before forgetting a connection so that (1) its last ACK can be sent again if
// the peer's FIN is retransmitted (the ACK was lost), and (2) old duplicate segments of
// this connection die in the network before a new incarnation of the same 4-tuple can
// mistake them for its own.
//
// Neither needs a whole TCB: on entry the connection is given back and this small
// entry keeps only the sequence numbers, the timestamp state and a timer hook, one
// cache line at most, as the kernel's tcp_timewait_sock does. A server that closes
// first holds one per recent connection, so their size is what bounds memory at high
// connection rates.
//
// A RST does not end TIME-WAIT (RFC 1337: "TIME-WAIT assassination"). A new SYN for
// the same 4-tuple may reopen it when its timestamp is newer (RFC 6191) or, without
// timestamps, when its sequence number is beyond the old connection's (RFC 9293 §3.6.1
// MAY-2).
#pragma once

#include <linerate/base/seq32.hpp>
#include <linerate/tcp/connection.hpp>
#include <linerate/tcp/segment.hpp>
#include <linerate/timer/wheel.hpp>

#include <cstdint>

namespace linerate::tcp {

struct time_wait_entry {
    timer::hook hook{};
    four_tuple tuple{};
    seq32 snd_nxt{};
    seq32 rcv_nxt{};
    std::uint32_t ts_recent = 0;
    std::uint32_t ts_offset = 0;
    std::uint16_t window = 0; // as advertised on the wire
    bool ts_ok = false;
    // No owner slot: entries live in the owner's pool, which finds one from its hook's
    // address. A slot would cost 8 bytes and the cache line.
};
static_assert(sizeof(time_wait_entry) <= 64, "a TIME-WAIT entry is one cache line at most");

enum class time_wait_verdict : std::uint8_t {
    keep,   // handled (an ACK may have been sent); the entry stays
    reopen, // a new SYN may take the 4-tuple: release the entry, hand the SYN to the listener
};

// Fills an entry from a connection that has just entered TIME-WAIT and arms its
// 2*MSL timer; the owner then releases the connection.
void enter_time_wait(time_wait_entry &tw, const connection &c, context &ctx) noexcept;

// A segment for a 4-tuple in TIME-WAIT.
time_wait_verdict time_wait_input(time_wait_entry &tw, const segment &seg, context &ctx) noexcept;

} // namespace linerate::tcp
