// Per-lcore counters, named like the kernel's TCP/IP MIB (`nstat`, `netstat -s`) so
// the habits and tools people already have carry over.
//
// Every way a packet can be dropped has its own counter: the wire layer's parse
// failures (wire::drop_reason) and the engine's own reasons below. Counters are plain
// integers owned by one lcore; other threads read them without locks and may see a
// value one increment old, which is what a counter reader expects anyway.
#pragma once

#include <linerate/tcp/counters.hpp>
#include <linerate/wire/drop_reason.hpp>

#include <array>
#include <cstdint>
#include <string_view>

namespace linerate::engine {

// Drops decided by the engine after a frame parsed cleanly.
enum class local_drop : std::uint8_t {
    not_our_mac = 0,       // unicast frame for another station
    arp_not_for_us,        // ARP request for another address
    arp_bad_sender,        // ARP from a multicast/broadcast/zero sender: never learned
    ipv4_not_for_us,       // IPv4 destination is not our address
    ipv4_unknown_protocol, // neither ICMP nor TCP
    icmp_unsupported_type, // ICMP other than echo request
    rx_multi_segment,      // chained mbuf on receive; we configure no scatter
    tx_full,               // the device took nothing while a whole TX stage (2048 frames) waited
    tx_no_mbuf,            // no mbuf to build a segment in (the TCP core retransmits later)
    tx_too_big,            // a segment larger than one mbuf (the MTU outgrew the mbuf size)
    send_no_mbuf,          // no mbuf to store sent bytes in (send() took fewer)
    dispatch_full,         // the ring to the owning lcore was full
    no_route,              // a segment to an address off every port's subnet, with no gateway
    arp_unresolved,        // waited for a next hop's ARP reply in vain, or too many waited
    vlan_mismatch,         // on a VLAN port, a frame untagged or tagged for another VLAN
    tx_no_headroom,        // no room before a frame for its VLAN tag
    count_
};
inline constexpr std::size_t local_drop_count = static_cast<std::size_t>(local_drop::count_);

[[nodiscard]] std::string_view to_string(local_drop d) noexcept;

struct alignas(64) counters {
    // RFC 4293 IP-MIB / Linux /proc/net/snmp names.
    std::uint64_t ip_in_receives = 0;
    std::uint64_t ip_in_hdr_errors = 0;
    std::uint64_t ip_in_addr_errors = 0;
    std::uint64_t ip_in_unknown_protos = 0;
    std::uint64_t ip_in_delivers = 0;
    std::uint64_t ip_out_requests = 0;
    std::uint64_t icmp_in_msgs = 0;
    std::uint64_t icmp_in_errors = 0;
    std::uint64_t icmp_in_echos = 0;
    std::uint64_t icmp_out_msgs = 0;
    std::uint64_t icmp_out_echo_reps = 0;
    // ARP has no kernel MIB; named in the same style.
    std::uint64_t arp_in_requests = 0;
    std::uint64_t arp_in_replies = 0;
    std::uint64_t arp_out_replies = 0;
    std::uint64_t arp_out_requests = 0;
    std::uint64_t arp_cache_updates = 0;
    std::uint64_t arp_cache_full = 0;
    // Per-port totals as the loop saw them.
    std::uint64_t rx_frames = 0;
    std::uint64_t rx_bytes = 0;
    std::uint64_t tx_frames = 0;
    std::uint64_t tx_bytes = 0;
    // Device calls that moved at least one frame: frames per burst is how much each
    // poll of the device carried, the loop's efficiency (a loop that keeps up sees small
    // bursts and pays each poll's fixed cost for a frame or two).
    std::uint64_t rx_bursts = 0;
    std::uint64_t tx_bursts = 0;
    // Segments sent in the mbuf of the segment they answer, instead of a new one.
    std::uint64_t tx_reused_mbufs = 0;
    // Software dispatch: TCP segments handed to, and received from, other lcores.
    std::uint64_t dispatched_out = 0;
    std::uint64_t dispatched_in = 0;
    // The devices' own counts (rte_eth_stats), of what never reached the loop: frames
    // the device had no mbuf to receive into, frames it missed (its ring full), receive
    // and transmit errors. Per port, not per lcore: only runtime::totals() fills them, so
    // a drop below TCP can be told from one in the stack.
    std::uint64_t port_rx_nombuf = 0;
    std::uint64_t port_imissed = 0;
    std::uint64_t port_ierrors = 0;
    std::uint64_t port_oerrors = 0;
    // TSC cycles of the lcore's loop turns, and of those that did work (received a frame
    // or sent one): busy / loop is how much of its core the lcore needs, which a
    // busy-polling loop's CPU time (always 100 %) does not say.
    std::uint64_t loop_cycles = 0;
    std::uint64_t busy_cycles = 0;

    std::array<std::uint64_t, wire::drop_reason_count> malformed{};
    std::array<std::uint64_t, local_drop_count> dropped{};

    void count(wire::drop_reason r) noexcept { ++malformed[static_cast<std::size_t>(r)]; }
    void count(local_drop d) noexcept { ++dropped[static_cast<std::size_t>(d)]; }
    [[nodiscard]] std::uint64_t total_dropped() const noexcept;

    counters &operator+=(const counters &o) noexcept;

    // Visits every counter as (name, value): MIB counters first, then each drop
    // reason under its own name, in a stable order; for printing and telemetry.
    template <class F> void for_each(F &&f) const;
};

// The MIB counters by name, in print order; one table serves printing, telemetry
// and summing so that a new counter is added in one place.
struct named_counter {
    std::string_view name;
    std::uint64_t counters::*field;
};
inline constexpr std::array<named_counter, 32> mib_counters{{
    {"IpInReceives", &counters::ip_in_receives},
    {"IpInHdrErrors", &counters::ip_in_hdr_errors},
    {"IpInAddrErrors", &counters::ip_in_addr_errors},
    {"IpInUnknownProtos", &counters::ip_in_unknown_protos},
    {"IpInDelivers", &counters::ip_in_delivers},
    {"IpOutRequests", &counters::ip_out_requests},
    {"IcmpInMsgs", &counters::icmp_in_msgs},
    {"IcmpInErrors", &counters::icmp_in_errors},
    {"IcmpInEchos", &counters::icmp_in_echos},
    {"IcmpOutMsgs", &counters::icmp_out_msgs},
    {"IcmpOutEchoReps", &counters::icmp_out_echo_reps},
    {"ArpInRequests", &counters::arp_in_requests},
    {"ArpInReplies", &counters::arp_in_replies},
    {"ArpOutReplies", &counters::arp_out_replies},
    {"ArpOutRequests", &counters::arp_out_requests},
    {"ArpCacheUpdates", &counters::arp_cache_updates},
    {"ArpCacheFull", &counters::arp_cache_full},
    {"RxFrames", &counters::rx_frames},
    {"RxBytes", &counters::rx_bytes},
    {"TxFrames", &counters::tx_frames},
    {"TxBytes", &counters::tx_bytes},
    {"RxBursts", &counters::rx_bursts},
    {"TxBursts", &counters::tx_bursts},
    {"TxReusedMbufs", &counters::tx_reused_mbufs},
    {"DispatchedOut", &counters::dispatched_out},
    {"DispatchedIn", &counters::dispatched_in},
    {"PortRxNoMbuf", &counters::port_rx_nombuf},
    {"PortRxMissed", &counters::port_imissed},
    {"PortRxErrors", &counters::port_ierrors},
    {"PortTxErrors", &counters::port_oerrors},
    {"LoopCycles", &counters::loop_cycles},
    {"BusyCycles", &counters::busy_cycles},
}};

template <class F> void counters::for_each(F &&f) const {
    for (const auto &c : mib_counters) f(c.name, this->*c.field);
    // Index 0 of drop_reason is `none`, not a drop.
    for (std::size_t i = 1; i < malformed.size(); ++i)
        f(wire::to_string(static_cast<wire::drop_reason>(i)), malformed[i]);
    for (std::size_t i = 0; i < dropped.size(); ++i) f(to_string(static_cast<local_drop>(i)), dropped[i]);
}

// Every counter of an lcore (or of a sum), in the one order that the summaries,
// telemetry, JSON and the embedding API all report: the TCP MIB, the engine's MIB, then
// every drop reason (the engine's, then the TCP core's). f(name, value, is_drop): drop
// reasons are what a summary may leave out while they are zero.
template <class F> void for_each_counter(const counters &e, const tcp::counters &t, F &&f) {
    for (const auto &n : tcp::mib_counters) f(n.name, t.*n.field, false);
    std::size_t i = 0;
    e.for_each([&](std::string_view name, std::uint64_t v) { f(name, v, i++ >= mib_counters.size()); });
    for (std::size_t d = 0; d < tcp::drop_count; ++d) f(tcp::to_string(static_cast<tcp::drop>(d)), t.dropped[d], true);
}

} // namespace linerate::engine
