// Frame classification, ARP and ICMP echo; see responder.hpp for why replies are
// written in place.
#include <linerate/engine/responder.hpp>

#include <linerate/base/byteorder.hpp>
#include <linerate/wire/arp.hpp>
#include <linerate/wire/checksum.hpp>
#include <linerate/wire/ethernet.hpp>
#include <linerate/wire/icmp.hpp>
#include <linerate/wire/ipv4.hpp>

#include <algorithm>

namespace linerate::engine {
namespace {

constexpr std::uint8_t reply_ttl = 64;

verdict drop() noexcept { return verdict{verdict::kind::drop, 0}; }


} // namespace

verdict responder::on_frame(std::span<std::uint8_t> frame, bool ip_checksum_good, tick now, bool answer) noexcept {
    const auto eth = wire::parse_ethernet(frame);
    if (!eth) {
        c_.count(eth.error());
        return drop();
    }
    if (!for_this_station(eth->dst)) return drop();
    switch (eth->ethertype) {
    case wire::ethertype_arp: return on_arp(frame, wire::ethernet_header_len, now, answer);
    case wire::ethertype_ipv4: return on_ipv4(frame, wire::ethernet_header_len, ip_checksum_good);
    default: c_.count(wire::drop_reason::eth_unsupported_type); return drop();
    }
}

verdict responder::on_fast_tcp(const wire::fast_tcp_frame &f) noexcept {
    // on_frame's steps for an IPv4 TCP frame, the parsing already done.
    if (!for_this_station(f.eth_dst)) return drop();
    ++c_.ip_in_receives;
    if (!for_this_host(f.dst)) return drop();
    return deliver_tcp(wire::fast_l4_offset, f.l4_length, f.src, f.dst);
}

bool responder::for_this_station(const mac_addr &dst) noexcept {
    // A unicast frame for another station reaches us only in promiscuous mode or on a
    // shared segment; it is not ours to answer.
    if (!dst.is_multicast() && dst != self_.mac) {
        c_.count(local_drop::not_our_mac);
        return false;
    }
    return true;
}

bool responder::for_this_host(ipv4_addr dst) noexcept {
    if (!self_.owns(dst)) {
        ++c_.ip_in_addr_errors;
        c_.count(local_drop::ipv4_not_for_us);
        return false;
    }
    return true;
}

verdict responder::deliver_tcp(std::size_t l4_offset, std::size_t l4_length, ipv4_addr src, ipv4_addr dst) noexcept {
    ++c_.ip_in_delivers;
    return verdict{.what = verdict::kind::deliver_tcp,
                   .length = 0,
                   .l4_offset = static_cast<std::uint16_t>(l4_offset),
                   .l4_length = static_cast<std::uint16_t>(l4_length),
                   .src = src,
                   .dst = dst};
}

verdict responder::on_arp(std::span<std::uint8_t> frame, std::size_t l3, tick now, bool answer) noexcept {
    const auto arp = wire::parse_arp(frame.subspan(l3));
    if (!arp) {
        if (answer) c_.count(arp.error());
        return drop();
    }
    // Never learn a sender that could not own a unicast address: a multicast or zero
    // MAC would poison the cache, and 0.0.0.0 is an RFC 5227 probe, not an owner.
    const bool learnable = !arp->sha.is_multicast() && !arp->sha.is_zero() && arp->spa.value != 0 &&
                           !self_.owns(arp->spa);
    if (!answer) {
        // Another lcore received this frame, answered and counted it; here it only
        // teaches this lcore's cache, by the same rules (merge, or insert as target).
        if (learnable && !arp_.merge(arp->spa, arp->sha, now) && self_.owns(arp->tpa))
            (void)arp_.insert(arp->spa, arp->sha, now);
        return verdict{verdict::kind::consumed, 0};
    }
    if (arp->op == wire::arp_op::request)
        ++c_.arp_in_requests;
    else
        ++c_.arp_in_replies;

    // RFC 826 "Packet Reception": refresh a known sender whoever the target is...
    bool merged = false;
    if (learnable) {
        merged = arp_.merge(arp->spa, arp->sha, now);
        if (merged) ++c_.arp_cache_updates;
    }
    // ...answer only for our own address.
    if (!self_.owns(arp->tpa)) {
        if (arp->op == wire::arp_op::request) {
            c_.count(local_drop::arp_not_for_us);
            return drop();
        }
        return verdict{verdict::kind::consumed, 0};
    }
    if (!learnable && arp->spa.value != 0) {
        c_.count(local_drop::arp_bad_sender);
        return drop();
    }
    // ...and, being the target, add the sender if it was not already there.
    if (learnable && !merged) {
        if (arp_.insert(arp->spa, arp->sha, now) == arp_cache::update_result::full)
            ++c_.arp_cache_full;
        else
            ++c_.arp_cache_updates;
    }
    if (arp->op != wire::arp_op::request) return verdict{verdict::kind::consumed, 0};

    // RFC 826: swap sender and target, put our addresses in the sender fields, set
    // the opcode to reply, and send it to the requester's hardware address.
    const mac_addr requester = arp->sha;
    const ipv4_addr requester_ip = arp->spa;
    const ipv4_addr asked = arp->tpa;
    wire::write_arp(frame.subspan(l3), wire::arp_op::reply, self_.mac, asked, requester, requester_ip);
    wire::store_mac(frame.data(), requester);
    wire::store_mac(frame.data() + 6, self_.mac);
    ++c_.arp_out_replies;
    return verdict{verdict::kind::transmit, static_cast<std::uint16_t>(l3 + wire::arp_len)};
}

verdict responder::on_ipv4(std::span<std::uint8_t> frame, std::size_t l3, bool ip_checksum_good) noexcept {
    ++c_.ip_in_receives;
    const auto ip = wire::parse_ipv4(frame.subspan(l3),
                                     ip_checksum_good ? wire::checksum_mode::skip : wire::checksum_mode::verify);
    if (!ip) {
        ++c_.ip_in_hdr_errors;
        c_.count(ip.error());
        return drop();
    }
    if (!for_this_host(ip->dst)) return drop();
    if (ip->protocol == wire::ip_proto_tcp)
        return deliver_tcp(l3 + ip->header.size(), ip->payload.size(), ip->src, ip->dst);
    if (ip->protocol != wire::ip_proto_icmp) {
        // RFC 1122 §3.2.2.1 suggests a protocol-unreachable here; until there is an
        // ICMP error generator we only count it, as a firewall would.
        ++c_.ip_in_unknown_protos;
        c_.count(local_drop::ipv4_unknown_protocol);
        return drop();
    }
    ++c_.ip_in_delivers;
    ++c_.icmp_in_msgs;
    const auto icmp = wire::parse_icmp(ip->payload);
    if (!icmp) {
        ++c_.icmp_in_errors;
        c_.count(icmp.error());
        return drop();
    }
    if (icmp->type != wire::icmp_echo_request || icmp->code != 0) {
        c_.count(local_drop::icmp_unsupported_type);
        return drop();
    }
    ++c_.icmp_in_echos;

    // RFC 1122 §3.2.2.6: the reply carries the request's identifier, sequence number
    // and data; only the type, the addresses and the checksums change.
    const std::size_t ip_hlen = ip->header.size();
    const std::size_t icmp_at = l3 + ip_hlen;
    wire::icmp_echo_to_reply(frame.subspan(icmp_at, ip->payload.size()));

    std::uint8_t *iph = frame.data() + l3;
    // Swapping source and destination leaves the one's-complement sum unchanged;
    // resetting the TTL changes the TTL/protocol word, patched per RFC 1624.
    const std::uint16_t old_ttl_proto = load_be16(iph + 8);
    const std::uint16_t new_ttl_proto = static_cast<std::uint16_t>((reply_ttl << 8) | ip->protocol);
    store_be32(iph + 12, ip->dst.value);
    store_be32(iph + 16, ip->src.value);
    iph[8] = reply_ttl;
    store_be16(iph + 10, wire::csum_update16(load_be16(iph + 10), old_ttl_proto, new_ttl_proto));

    // Back to whoever handed us the request: the sender itself or its router.
    // Ethernet: destination at 0, source at 6.
    const mac_addr back_to = wire::load_mac(frame.data() + 6);
    wire::store_mac(frame.data(), back_to);
    wire::store_mac(frame.data() + 6, self_.mac);

    ++c_.ip_out_requests;
    ++c_.icmp_out_msgs;
    ++c_.icmp_out_echo_reps;
    // Trim Ethernet padding: the reply is exactly as long as the datagram.
    return verdict{verdict::kind::transmit, static_cast<std::uint16_t>(l3 + ip->total_length)};
}

} // namespace linerate::engine
