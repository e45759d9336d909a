// Transmit: the TX stage (frames wait in order while the device refuses them) and
// segments built from their next hop's header template. See worker.hpp.
#include "worker.hpp"

namespace linerate::engine::detail {

// Every frame leaves a VLAN port tagged with its VID: by the device (vlan_tci) or here,
// in the headroom before the frame. Here, not where frames are built, because this is
// the one way out; a frame handed to another lcore's TX queue is tagged there.
bool worker::tag(const port_info &p, rte_mbuf *m) noexcept {
    if (p.vlan_offload) {
        m->ol_flags |= RTE_MBUF_F_TX_VLAN;
        m->vlan_tci = p.vlan;
        return true;
    }
    auto *f = reinterpret_cast<std::uint8_t *>(rte_pktmbuf_prepend(m, wire::vlan_tag_len));
    if (f == nullptr) return false;
    std::memmove(f, f + wire::vlan_tag_len, 12);
    store_be16(f + 12, wire::ethertype_vlan);
    store_be16(f + 14, p.vlan);
    // The checksum offloads find the IP header after l2_len bytes.
    if (m->ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM)) m->l2_len += wire::vlan_tag_len;
    return true;
}

void worker::queue_tx(std::uint16_t pi, rte_mbuf *m) {
    if (txq[pi] < 0) {
        // No TX queue of ours on this port: the worker that has one sends it.
        m->port = pi;
        if (!tx_out[tx_owner[pi]]->push(m)) {
            stats.count(local_drop::dispatch_full);
            rte_pktmbuf_free(m);
        }
        return;
    }
    if (const port_info &p = shared->ports[pi]; p.vlan != 0 && !tag(p, m)) {
        stats.count(local_drop::tx_no_headroom);
        rte_pktmbuf_free(m);
        return;
    }
    tx_stage &s = txs[pi];
    if (s.head + s.count == s.buf.size()) {
        // At the end of the buffer: try the device, then move what it left to the front.
        flush(pi);
        if (s.head > 0 && s.count > 0) std::memmove(s.buf.data(), s.buf.data() + s.head, s.count * sizeof(rte_mbuf *));
        s.head = 0;
        if (s.count == s.buf.size()) {
            // A whole stage waiting on a device that takes nothing: this one is dropped.
            stats.count(local_drop::tx_full);
            rte_pktmbuf_free(m);
            return;
        }
    }
    s.buf[s.head + s.count++] = m;
    // A burst's worth is ready: send it now rather than at the end of the turn (while
    // the device refuses, once per burst's worth, so a full ring costs little).
    if (s.count % tx_batch_size == 0) flush(pi);
}

// Sends what the stage holds, a burst of tx_batch_size at a time, until the device
// takes less than a whole burst. What it refuses (its ring is full: net_tap when the
// kernel's queue is, memif when the peer lags) stays staged, in order, for the next
// flush rather than being dropped: a dropped segment costs a retransmission timeout.
// Nothing is retried in a loop, so a stuck queue never stalls the lcore.
void worker::flush(std::uint16_t pi) {
    tx_stage &s = txs[pi];
    while (s.count > 0) {
        const auto n = static_cast<std::uint16_t>(std::min<std::uint32_t>(s.count, tx_batch_size));
        rte_mbuf **b = s.buf.data() + s.head;
        // Lengths are read before the burst: a sent mbuf belongs to the driver, which
        // may free it at once.
        std::uint32_t len[tx_batch_size];
        for (std::uint16_t i = 0; i < n; ++i) len[i] = rte_pktmbuf_pkt_len(b[i]);
        const std::uint16_t sent = rte_eth_tx_burst(shared->ports[pi].port_id, static_cast<std::uint16_t>(txq[pi]), b, n);
        for (std::uint16_t i = 0; i < sent; ++i) {
            ++stats.tx_frames;
            stats.tx_bytes += len[i];
        }
        if (sent != 0) ++stats.tx_bursts;
        s.head += sent;
        s.count -= sent;
        if (sent < n) break;
    }
    if (s.count == 0) s.head = 0;
    static_assert(config::max_ports <= 64, "tx_refused holds one bit per port");
    const std::uint64_t bit = std::uint64_t{1} << pi;
    tx_refused = s.count > 0 ? tx_refused | bit : tx_refused & ~bit;
}

void worker::drop_unsent() {
    for (tx_stage &s : txs) {
        for (std::uint32_t i = 0; i < s.count; ++i) {
            stats.count(local_drop::tx_full);
            rte_pktmbuf_free(s.buf[s.head + i]);
        }
        s.head = s.count = 0;
    }
    tx_refused = 0;
    while (spare_count > 0) rte_pktmbuf_free(spare_store[--spare_count]);
}

void worker::flush_all() {
    for (std::uint16_t pi = 0; pi < txs.size(); ++pi) flush(pi);
}

void worker::transmit(flow::conn_id id, const tcp::four_tuple &t, const tcp::out_segment &s,
                      std::uint32_t offset) noexcept {
    rte_mbuf *m;
    if (reusable != nullptr) {
        m = reusable;
        reusable = nullptr;
        current_lent = true;
        ++stats.tx_reused_mbufs;
        rte_pktmbuf_reset(m);
    } else {
        m = rte_pktmbuf_alloc(pool);
    }
    if (m == nullptr) {
        // The core's retransmission timer recovers; a reset is simply not sent.
        stats.count(local_drop::tx_no_mbuf);
        return;
    }
    // The connection's next hop template while it is fresh: one compare, no lookup.
    const header_template *tmpl = nullptr;
    header_template scratch;
    bool parked = false;
    if (id != flow::no_conn && ext[id].hop() != conn_ext::no_hop &&
        last_tick.value - hop_made[ext[id].hop()].value < arp_refresh_ms) {
        tmpl = &hops[ext[id].hop()];
    } else {
        std::uint32_t hop = no_hop;
        tmpl = find_template(t, scratch, m, parked, hop);
        if (tmpl == nullptr) {
            rte_pktmbuf_free(m);
            return;
        }
        if (id != flow::no_conn) ext[id].set_hop(hop == no_hop ? conn_ext::no_hop : static_cast<std::uint16_t>(hop));
    }
    const port_info &p = shared->ports[tmpl->port_index];
    const std::size_t opt = wire::tcp_options_size(s.options);
    const std::size_t hdr = eth_ipv4_tcp_len + opt;
    auto *b = reinterpret_cast<std::uint8_t *>(rte_pktmbuf_append(m, static_cast<std::uint16_t>(hdr + s.payload_len)));
    if (b == nullptr) {
        // More than one mbuf holds: the configuration's MTU outgrew the mbuf size.
        stats.count(local_drop::tx_too_big);
        if (parked) waiting.pop_back();
        rte_pktmbuf_free(m);
        return;
    }
    std::uint32_t payload_sum = 0;
    if (s.payload_len > 0) {
        // Copy the bytes from the send stream, from `offset` on.
        rte_mbuf *head = ext[id].head();
        std::uint32_t pos = head != nullptr ? chain_of(head).head_off + offset : 0;
        const rte_mbuf *src = head;
        while (src != nullptr && pos >= src->data_len) {
            pos -= src->data_len;
            src = src->next;
        }
        std::uint8_t *dst = b + hdr;
        std::uint32_t left = s.payload_len;
        while (left > 0 && src != nullptr) {
            const std::uint32_t k = std::min<std::uint32_t>(left, src->data_len - pos);
            std::memcpy(dst, rte_pktmbuf_mtod_offset(src, const std::uint8_t *, pos), k);
            dst += k;
            left -= k;
            pos = 0;
            src = src->next;
        }
        if (p.tx_offload != checksum_offload::ipv4_tcp)
            payload_sum = wire::csum_partial(std::span<const std::uint8_t>(b + hdr, s.payload_len));
    }
    finish_segment(m, b, hdr, *tmpl, t, s, payload_sum);
    if (!parked) queue_tx(tmpl->port_index, m);
}

// The headers of a segment whose payload (payload_sum over it, unless the device sums)
// is in place after `hdr` bytes at b, and the offload flags of its port.
void worker::finish_segment(rte_mbuf *m, std::uint8_t *b, std::size_t hdr, const header_template &tmpl,
                            const tcp::four_tuple &t, const tcp::out_segment &s, std::uint32_t payload_sum) noexcept {
    const port_info &p = shared->ports[tmpl.port_index];
    write_segment_headers(std::span<std::uint8_t>(b, hdr), tmpl, t, s, payload_sum, p.tx_offload);
    if (p.tx_offload != checksum_offload::none) {
        m->l2_len = 14;
        m->l3_len = 20;
        m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
        if (p.tx_offload == checksum_offload::ipv4_tcp) m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
    }
    ++stats.ip_out_requests;
}

bool worker::send_segment(const tcp::four_tuple &t, const tcp::out_segment &s) noexcept {
    // The route is the destination's, as connect() takes it: the port on its link, else
    // one with a gateway. The template is looked up as if from that port's own address;
    // the frame then carries t's source, which no port owns or answers ARP for.
    const auto pi = route_to(t.remote_ip);
    if (!pi) {
        stats.count(local_drop::no_route);
        return false;
    }
    tcp::four_tuple via = t;
    via.local_ip = shared->ports[*pi].address.addr;
    rte_mbuf *m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
        stats.count(local_drop::tx_no_mbuf);
        return false;
    }
    header_template scratch;
    bool parked = false;
    std::uint32_t hop = no_hop;
    const header_template *tmpl = find_template(via, scratch, m, parked, hop);
    if (tmpl == nullptr) {
        // No route, or the ARP wait queue is full (counted): the caller tries again later.
        rte_pktmbuf_free(m);
        return false;
    }
    const std::size_t hdr = eth_ipv4_tcp_len + wire::tcp_options_size(s.options);
    auto *b = reinterpret_cast<std::uint8_t *>(rte_pktmbuf_append(m, static_cast<std::uint16_t>(hdr)));
    if (b == nullptr) {
        stats.count(local_drop::tx_too_big);
        if (parked) waiting.pop_back();
        rte_pktmbuf_free(m);
        return false;
    }
    finish_segment(m, b, hdr, *tmpl, t, s, 0);
    // Parked, the segment waits behind the ARP request like any other, and goes out once
    // the answer is in. It stays in the wait queue, which is what keeps the request to
    // one per retry interval: taking it back would ask again for every segment, an ARP
    // storm at the flood's rate while the target does not answer.
    if (!parked) queue_tx(tmpl->port_index, m);
    return true;
}

} // namespace linerate::engine::detail
