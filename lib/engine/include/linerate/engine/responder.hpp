// The link- and network-level responder: what an lcore does with a received frame
// before TCP exists for it. It answers ARP requests for our address (RFC 826), learns
// senders into the ARP cache, answers ICMP echo requests (RFC 792, RFC 1122 §3.2.2.6),
// and sorts everything else into a drop reason.
//
// Replies are written over the request in place: an ARP reply and an echo reply are
// never longer than what they answer, so no mbuf is allocated and no byte is copied
// except the fields that change (checksums are updated incrementally, RFC 1624).
// It works on plain bytes and holds no DPDK type, so the unit tests drive it directly.
#pragma once

#include <linerate/base/addr.hpp>
#include <linerate/base/ticks.hpp>
#include <linerate/engine/arp_cache.hpp>
#include <linerate/engine/counters.hpp>
#include <linerate/wire/fast_parse.hpp>

#include <cstdint>
#include <span>

namespace linerate::engine {

struct interface_address {
    mac_addr mac;
    ipv4_prefix ip; // our address and its subnet
    // More addresses of ours on this link, [extra_first, extra_first + extra_count): a
    // load generator's source addresses, so that TIME-WAIT does not cap its rate. They
    // are answered for (ARP, ICMP) and accepted (TCP) like `ip.addr`.
    ipv4_addr extra_first{};
    std::uint32_t extra_count = 0;

    [[nodiscard]] bool owns(ipv4_addr a) const noexcept {
        return a == ip.addr || a.value - extra_first.value < extra_count;
    }
};

// What to do with the frame after on_frame() has looked at it.
struct verdict {
    // consumed: absorbed without reply (an ARP reply we learned from); not a drop.
    enum class kind : std::uint8_t { drop, consumed, transmit, deliver_tcp } what = kind::drop;
    std::uint16_t length = 0; // transmit: the frame's new length (bytes from the start)
    // deliver_tcp: where the TCP segment is (the IPv4 payload, Ethernet padding trimmed
    // off) and the addresses of its pseudo header.
    std::uint16_t l4_offset = 0;
    std::uint16_t l4_length = 0;
    ipv4_addr src{};
    ipv4_addr dst{};

    friend constexpr bool operator==(const verdict &, const verdict &) noexcept = default;
};

class responder {
public:
    responder(interface_address self, arp_cache &arp, counters &c) noexcept
        : self_(self), arp_(arp), c_(c) {}

    // frame: the received Ethernet frame, writable. ip_checksum_good: the NIC verified
    // the IPv4 header checksum (so software need not). Everything dropped is counted.
    // answer false: a copy of an ARP frame another lcore has answered, to learn from only.
    verdict on_frame(std::span<std::uint8_t> frame, bool ip_checksum_good, tick now, bool answer = true) noexcept;
    // A frame wire::parse_fast took (so well-formed Ethernet / IPv4 / TCP): the same
    // station and address checks, counters and verdict as on_frame gives that frame.
    verdict on_fast_tcp(const wire::fast_tcp_frame &f) noexcept;

    [[nodiscard]] const interface_address &self() const noexcept { return self_; }
    void set_extra_addresses(ipv4_addr first, std::uint32_t count) noexcept {
        self_.extra_first = first;
        self_.extra_count = count;
    }

private:
    verdict on_arp(std::span<std::uint8_t> frame, std::size_t l3_offset, tick now, bool answer) noexcept;
    verdict on_ipv4(std::span<std::uint8_t> frame, std::size_t l3_offset, bool ip_checksum_good) noexcept;
    // The checks and counters on_frame and on_fast_tcp share, one copy of each rule.
    [[nodiscard]] bool for_this_station(const mac_addr &dst) noexcept;
    [[nodiscard]] bool for_this_host(ipv4_addr dst) noexcept;
    verdict deliver_tcp(std::size_t l4_offset, std::size_t l4_length, ipv4_addr src, ipv4_addr dst) noexcept;

    interface_address self_;
    arp_cache &arp_;
    counters &c_;
};

} // namespace linerate::engine
