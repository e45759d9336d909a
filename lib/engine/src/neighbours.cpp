// Neighbours: ARP requests, header templates per (port, next hop), and packets that
// wait for their next hop to resolve. See worker.hpp.
#include "worker.hpp"

namespace linerate::engine::detail {

void worker::send_arp_request(std::uint16_t pi, ipv4_addr target, std::optional<mac_addr> unicast) {
    rte_mbuf *m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
        stats.count(local_drop::tx_no_mbuf);
        return;
    }
    auto *b = reinterpret_cast<std::uint8_t *>(rte_pktmbuf_append(m, 14 + wire::arp_len));
    const port_info &p = shared->ports[pi];
    const mac_addr dst = unicast ? *unicast : mac_addr::broadcast();
    wire::store_mac(b, dst);
    wire::store_mac(b + 6, p.mac);
    store_be16(b + 12, wire::ethertype_arp);
    // RFC 826: the target hardware address is unknown, so zero.
    wire::write_arp(std::span<std::uint8_t>(b + 14, wire::arp_len), wire::arp_op::request, p.mac, p.address.addr,
                    mac_addr{}, target);
    ++stats.arp_out_requests;
    queue_tx(pi, m);
}

// The slot of the (port, hop) key in the template map: the template's index when it is
// there, no_hop (in an empty slot) when it is not; null when the map is full and the
// key is absent.
std::uint32_t *worker::hop_slot(std::uint16_t pi, ipv4_addr hop) noexcept {
    const std::uint64_t key = (std::uint64_t{pi} + 1) << 32 | hop.value;
    const auto mask = static_cast<std::uint32_t>(hop_keys.size() - 1);
    for (auto i = static_cast<std::uint32_t>((key * 0x9E3779B97F4A7C15ull) >> 40) & mask, n = 0u; n <= mask;
         i = (i + 1) & mask, ++n) {
        if (hop_keys[i] == key) return &hop_index[i];
        if (hop_keys[i] == 0) {
            if (hops.size() == max_hops) return nullptr;
            hop_keys[i] = key;
            hop_index[i] = no_hop;
            return &hop_index[i];
        }
    }
    return nullptr;
}

// Keeps `t` as the template of (port, hop), replacing an older one (a MAC that
// changed is changed for every connection through the hop); its index, or no_hop when
// the map is full.
std::uint32_t worker::keep_template(std::uint16_t pi, ipv4_addr hop, const header_template &t) noexcept {
    std::uint32_t *slot = hop_slot(pi, hop);
    if (slot == nullptr) return no_hop;
    if (*slot == no_hop) {
        // hop_slot() makes keys while templates are fewer than max_hops, and a key may
        // wait for its template (its next hop unresolved) while others fill up: the
        // reserve is the limit, checked here, so push_back never reallocates.
        if (hops.size() == max_hops) return no_hop;
        *slot = static_cast<std::uint32_t>(hops.size());
        hops.push_back(t); // reserved: never reallocates
        hop_made.push_back(last_tick);
    } else {
        hops[*slot] = t;
        hop_made[*slot] = last_tick;
    }
    return *slot;
}

// The template for a segment of `t`: its next hop's, when the MAC is known and was
// confirmed within arp_refresh_ms; otherwise made from ARP (asking again when the entry
// is old) and kept for the hop. When ARP does not know the MAC (and the segment being
// answered does not show it), the packet waits for resolution: `parked` says the
// caller must hand it over rather than send it. `hop` is the kept template's index
// (no_hop when it was not kept). Null when there is no route.
const header_template *worker::find_template(const tcp::four_tuple &t, header_template &scratch, rte_mbuf *m,
                                             bool &parked, std::uint32_t &hop_out) {
    parked = false;
    hop_out = no_hop;
    const auto pi = port_for(t.local_ip);
    if (!pi) {
        stats.count(local_drop::no_route);
        return nullptr;
    }
    const port_info &p = shared->ports[*pi];
    ipv4_addr hop = t.remote_ip;
    if (!p.address.contains(t.remote_ip)) {
        if (!p.gateway) {
            stats.count(local_drop::no_route);
            return nullptr;
        }
        hop = *p.gateway;
    }
    const tick now = last_tick;
    if (const std::uint32_t *slot = hop_slot(*pi, hop);
        slot != nullptr && *slot != no_hop && now.value - hop_made[*slot].value < arp_refresh_ms) {
        hop_out = *slot;
        return &hops[*slot];
    }
    const auto kept = [&](const header_template &made) -> const header_template * {
        hop_out = keep_template(*pi, hop, made);
        if (hop_out == no_hop) {
            scratch = made;
            return &scratch;
        }
        return &hops[hop_out];
    };
    if (port_for(hop) == pi) {
        // Talking to ourselves (both ends on one port, as over a net_ring loopback): the
        // frame goes to our own MAC, with no ARP, which never answers its own address.
        return kept(make_template(p.mac, p.mac, *pi));
    }
    if (const auto e = arp.lookup_entry(hop); e && now.value - e->updated.value < arp_expire_ms) {
        if (now.value - e->updated.value > arp_refresh_ms && now.value - e->probed.value > arp_retry_ms) {
            // Still trusted, but old: ask the owner directly, as Linux's neighbour
            // probes do, and keep using the entry meanwhile.
            arp.mark_probed(hop, now);
            send_arp_request(*pi, hop, e->mac);
        }
        return kept(make_template(p.mac, e->mac, *pi));
    }
    if (current != nullptr && current_tuple == t) {
        // Answering a segment that just came from this peer: its frame's source is the
        // next hop back.
        return kept(make_template(p.mac, current_src, *pi));
    }
    if (m == nullptr) return nullptr;
    if (waiting.size() >= arp_waiting_max) {
        stats.count(local_drop::arp_unresolved);
        return nullptr;
    }
    // Ask once per retry interval per next hop, not once per packet.
    bool asked_recently = false;
    for (const auto &w : waiting)
        if (w.next_hop == hop && now.value - w.asked.value < arp_retry_ms) asked_recently = true;
    waiting.push_back(waiting_packet{m, hop, *pi, now, now});
    if (!asked_recently) send_arp_request(*pi, hop, std::nullopt);
    parked = true;
    scratch = make_template(p.mac, mac_addr{}, *pi);
    scratch.ready = false; // not to be kept: the MAC is filled in on release
    return &scratch;
}

void worker::release_waiting_for_learned() {
    for (std::size_t i = 0; i < waiting.size();) {
        const auto e = arp.lookup(waiting[i].next_hop);
        if (!e) {
            ++i;
            continue;
        }
        rte_mbuf *m = waiting[i].m;
        wire::store_mac(rte_pktmbuf_mtod(m, std::uint8_t *), *e);
        queue_tx(waiting[i].port_index, m);
        waiting[i] = waiting.back();
        waiting.pop_back();
    }
}

void worker::on_tick(tick now) {
    shard->run_timers();
    // Packets whose next hop never answered: asked again each second, dropped after
    // a few.
    for (std::size_t i = 0; i < waiting.size();) {
        waiting_packet &w = waiting[i];
        if (now.value - w.since.value >= arp_give_up_ms) {
            stats.count(local_drop::arp_unresolved);
            rte_pktmbuf_free(w.m);
            w = waiting.back();
            waiting.pop_back();
            continue;
        }
        if (now.value - w.asked.value >= arp_retry_ms) {
            for (auto &o : waiting)
                if (o.next_hop == w.next_hop) o.asked = now;
            send_arp_request(w.port_index, w.next_hop, std::nullopt);
        }
        ++i;
    }
}

} // namespace linerate::engine::detail
