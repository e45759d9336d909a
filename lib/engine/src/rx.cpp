// Receive: bursts from the device, classification (ARP and ICMP answered in place),
// TCP steered to the lcore that owns its 4-tuple, and connect()'s choice of a source
// port whose replies steer back here. See worker.hpp.
#include "worker.hpp"

namespace linerate::engine::detail {

// A frame on a VLAN port (IEEE 802.1Q): ours when tagged with the port's VID, by the
// device (stripped, the tag in vlan_tci) or in the frame, whose tag is then taken out
// so that everything after sees an untagged frame at the usual offsets. Untagged
// frames and other VLANs' are not this port's, as a Linux VLAN interface sees only its
// own.
bool worker::untag(const port_info &p, rte_mbuf *m) noexcept {
    if (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) return (m->vlan_tci & 0x0fff) == p.vlan;
    auto *f = rte_pktmbuf_mtod(m, std::uint8_t *);
    if (rte_pktmbuf_data_len(m) < 14 + wire::vlan_tag_len || load_be16(f + 12) != wire::ethertype_vlan ||
        (load_be16(f + 14) & 0x0fff) != p.vlan)
        return false;
    std::memmove(f + wire::vlan_tag_len, f, 12);
    rte_pktmbuf_adj(m, wire::vlan_tag_len);
    return true;
}

void worker::poll_rx(const rx_queue &q, tick now) {
    rte_mbuf *rx[burst_size];
    const std::uint16_t n = rte_eth_rx_burst(shared->ports[q.port_index].port_id, q.queue_id, rx, burst_size);
    if (n == 0) return;
    ++stats.rx_bursts;
    // Headers of the whole burst are prefetched before the first is classified, so the
    // cache misses overlap instead of queueing one behind the other.
    for (std::uint16_t i = 0; i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(rx[i], void *));
    const port_info &p = shared->ports[q.port_index];
    tcp_item local[burst_size];
    std::uint16_t nl = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf *m = rx[i];
        ++stats.rx_frames;
        stats.rx_bytes += rte_pktmbuf_pkt_len(m);
        if (m->nb_segs != 1) {
            stats.count(local_drop::rx_multi_segment);
            rte_pktmbuf_free(m);
            continue;
        }
        if (p.vlan != 0 && !untag(p, m)) {
            stats.count(local_drop::vlan_mismatch);
            rte_pktmbuf_free(m);
            continue;
        }
        auto *frame_bytes = rte_pktmbuf_mtod(m, std::uint8_t *);
        const std::span<std::uint8_t> frame(frame_bytes, rte_pktmbuf_data_len(m));
        // Every worker's ARP cache learns from every ARP frame; the copies go out before
        // this worker writes its reply over the request.
        if (shared->workers > 1 && frame.size() >= 14 && load_be16(frame_bytes + 12) == wire::ethertype_arp)
            copy_arp_to_others(m, q.port_index);
        const bool cksum_good =
            p.rx_ipv4_cksum && (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
        // The common TCP frame in one pass (wire/fast_parse.hpp); whatever it does not
        // take, a segment the device found bad included, the general parsers decide and
        // count. Either way the responder applies the same checks and counters.
        const l4_checksum l4 = device_l4_checksum(p, m);
        wire::fast_tcp_frame &fast = rx_fast[i];
        const bool took = l4 != l4_checksum::bad &&
                          wire::parse_fast(frame, cksum_good ? wire::checksum_mode::skip : wire::checksum_mode::verify,
                                           l4 == l4_checksum::skip ? wire::checksum_mode::skip
                                                                   : wire::checksum_mode::verify,
                                           fast);
        const verdict v =
            took ? answer[q.port_index]->on_fast_tcp(fast) : answer[q.port_index]->on_frame(frame, cksum_good, now);
        switch (v.what) {
        case verdict::kind::transmit:
            rte_pktmbuf_trim(m, static_cast<std::uint16_t>(rte_pktmbuf_data_len(m) - v.length));
            m->ol_flags = 0;
            queue_tx(q.port_index, m);
            break;
        case verdict::kind::deliver_tcp: steer_tcp(m, q.port_index, v, took ? &fast : nullptr, local, nl); break;
        case verdict::kind::consumed:
            rte_pktmbuf_free(m);
            if (!waiting.empty()) release_waiting_for_learned();
            break;
        case verdict::kind::drop: rte_pktmbuf_free(m); break;
        }
    }
    tcp_burst(local, nl);
}

void worker::copy_arp_to_others(rte_mbuf *m, std::uint16_t pi) {
    for (unsigned w = 0; w < shared->workers; ++w) {
        if (w == index) continue;
        rte_mbuf *c = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
        if (c == nullptr) {
            stats.count(local_drop::tx_no_mbuf);
            continue;
        }
        c->port = pi; // which port's responder learns from it
        if (!out[w]->push(c)) {
            stats.count(local_drop::dispatch_full);
            rte_pktmbuf_free(c);
        }
    }
}

// Which worker owns a TCP segment: the NIC said so when RSS steers a queue per worker;
// otherwise the same symmetric Toeplitz hash, computed here, picks it.
void worker::steer_tcp(rte_mbuf *m, std::uint16_t pi, const verdict &v, const wire::fast_tcp_frame *fast,
                       tcp_item *local, std::uint16_t &nl) {
    const auto *f = rte_pktmbuf_mtod(m, const std::uint8_t *);
    if (v.l4_length < wire::tcp_min_header_len) {
        // Counted by the TCP input path's parser, on this worker.
        local[nl++] = tcp_item{m, pi, v, {}, 0, nullptr};
        return;
    }
    const std::uint16_t sport = load_be16(f + v.l4_offset);
    const std::uint16_t dport = load_be16(f + v.l4_offset + 2);
    const tcp::four_tuple t{v.dst, v.src, dport, sport};
    if (shared->software_dispatch) {
        const unsigned owner = shared->reta.queue_of(shared->hash.ipv4_tcp(v.src, v.dst, sport, dport));
        if (owner != index) {
            // The owner re-reads the offsets from the headers this worker validated.
            m->port = pi;
            m->l2_len = 14;
            m->l3_len = static_cast<std::uint16_t>(v.l4_offset - 14) & 0x1ff;
            if (out[owner]->push(m)) {
                ++stats.dispatched_out;
            } else {
                stats.count(local_drop::dispatch_full);
                rte_pktmbuf_free(m);
            }
            return;
        }
    }
    local[nl++] = tcp_item{m, pi, v, t, 0, fast};
}

void worker::poll_rings(tick now) {
    rte_mbuf *batch[burst_size];
    for (unsigned w = 0; w < shared->workers; ++w) {
        if (w == index) continue;
        // Packets others want sent through our TX queue.
        if (ring *r = tx_in[w]) {
            const std::size_t n = r->pop(batch, burst_size);
            for (std::size_t i = 0; i < n; ++i) queue_tx(batch[i]->port, batch[i]);
        }
        ring *r = in[w];
        if (r == nullptr) continue;
        const std::size_t n = r->pop(batch, burst_size);
        if (n == 0) continue;
        tcp_item local[burst_size];
        std::uint16_t nl = 0;
        for (std::size_t i = 0; i < n; ++i) {
            rte_mbuf *m = batch[i];
            auto *f = rte_pktmbuf_mtod(m, std::uint8_t *);
            if (load_be16(f + 12) == wire::ethertype_arp) {
                // A copy to learn from; the receiving worker answered the original.
                (void)answer[m->port]->on_frame(std::span<std::uint8_t>(f, rte_pktmbuf_data_len(m)), false, now, false);
                rte_pktmbuf_free(m);
                if (!waiting.empty()) release_waiting_for_learned();
                continue;
            }
            ++stats.dispatched_in;
            const std::uint16_t l4 = static_cast<std::uint16_t>(m->l2_len + m->l3_len);
            verdict v{};
            v.what = verdict::kind::deliver_tcp;
            v.l4_offset = l4;
            v.l4_length = static_cast<std::uint16_t>(load_be16(f + 14 + 2) - m->l3_len);
            v.src = ipv4_addr{load_be32(f + 14 + 12)};
            v.dst = ipv4_addr{load_be32(f + 14 + 16)};
            const tcp::four_tuple t{v.dst, v.src, load_be16(f + l4 + 2), load_be16(f + l4)};
            // The sender parsed only what steering needed: the TCP header is read here.
            local[nl++] = tcp_item{m, m->port, v, t, 0, nullptr};
        }
        tcp_burst(local, nl);
    }
}

void worker::tcp_burst(tcp_item *items, std::uint16_t n) {
    // In stages over the whole burst, so that each stage's cache misses overlap: hash
    // and prefetch the table lines, look up and prefetch the TCBs, then run the core.
    for (std::uint16_t i = 0; i < n; ++i) {
        items[i].hash = shard->hash(items[i].t);
        shard->prefetch(items[i].hash);
    }
    // The TCB stage, from as many connections as miss the cache: with few, it costs
    // about 2 % more instructions (all-in at 256 in flight) for a gain cps runs here
    // cannot resolve, and input() looks the 4-tuple up itself.
    if (shard->connections() >= lookahead_connections)
        for (std::uint16_t i = 0; i < n; ++i) items[i].ahead = shard->look_ahead(items[i].t, items[i].hash);
    for (std::uint16_t i = 0; i < n; ++i) tcp_input(items[i]);
    // One call returns the burst's mbufs to their pools, instead of one each.
    if (rx_done_count > 0) {
        rte_pktmbuf_free_bulk(rx_done.data(), rx_done_count);
        rx_done_count = 0;
    }
}

void worker::tcp_input(const tcp_item &it) {
    rte_mbuf *m = it.m;
    const auto *f = rte_pktmbuf_mtod(m, const std::uint8_t *);
    // The one-pass parser's segment as it lies; the general parsers fill a local one.
    tcp::segment general;
    const tcp::segment *segp = &general;
    if (it.fast != nullptr)
        segp = &it.fast->seg;
    else if (!parse_tcp_general(it, general))
        return;
    const tcp::segment &seg = *segp;
    current = m;
    current_tuple = it.t;
    current_src = wire::load_mac(f + 6);
    // Everything the core reads of the segment is in `seg` by value, apart from the
    // payload: without one, the frame may be overwritten by a reply (transmit).
    // Only a plain mbuf of our own pool: one with an external buffer (a zero-copy
    // driver's ring memory) or from another pool (its room may be smaller) is freed.
    reusable_kind = m->pool == pool && RTE_MBUF_DIRECT(m);
    reusable = reusable_kind && seg.payload.empty() && rte_mbuf_refcnt_read(m) == 1 ? m : nullptr;
    current_lent = false;
    shard->input(it.t, it.hash, seg, it.ahead);
    current = nullptr;
    reusable = nullptr;
    if (current_lent) return; // it went out as a reply
    // Held bytes took their own reference. tcp_burst frees the burst's at its end.
    rx_done[rx_done_count++] = m;
}

// The TCP header and options of a segment parse_fast did not take, through the general
// parsers, which decide and count every drop (and free the mbuf: false).
bool worker::parse_tcp_general(const tcp_item &it, tcp::segment &seg) {
    rte_mbuf *m = it.m;
    const auto *f = rte_pktmbuf_mtod(m, const std::uint8_t *);
    const std::span<const std::uint8_t> bytes(f + it.v.l4_offset, it.v.l4_length);
    const l4_checksum l4 = device_l4_checksum(shared->ports[it.port_index], m);
    if (l4 == l4_checksum::bad) {
        stats.count(wire::drop_reason::tcp_bad_checksum);
        shard->count_bad_segment(true);
        rte_pktmbuf_free(m);
        return false;
    }
    const auto tv = wire::parse_tcp(bytes, it.v.src, it.v.dst,
                                    l4 == l4_checksum::skip ? wire::checksum_mode::skip : wire::checksum_mode::verify);
    if (!tv) {
        stats.count(tv.error());
        shard->count_bad_segment(tv.error() == wire::drop_reason::tcp_bad_checksum);
        rte_pktmbuf_free(m);
        return false;
    }
    const auto opts = wire::parse_tcp_options(tv->options);
    if (!opts) {
        stats.count(opts.error());
        shard->count_bad_segment(false);
        rte_pktmbuf_free(m);
        return false;
    }
    seg = tcp::segment{.seq = tv->seq, .ack = tv->ack, .flags = tv->flags, .window = tv->window,
                       .options = *opts, .payload = tv->payload};
    return true;
}

std::optional<std::uint16_t> worker::port_for(ipv4_addr local) const noexcept {
    for (std::uint16_t i = 0; i < shared->ports.size(); ++i) {
        const port_info &p = shared->ports[i];
        if (p.address.addr == local || local.value - p.extra_first.value < p.extra_count) return i;
    }
    return std::nullopt;
}

std::optional<std::uint16_t> worker::route_to(ipv4_addr remote) const noexcept {
    // The port that reaches `remote`: on its link first, else through a gateway.
    for (std::uint16_t i = 0; i < shared->ports.size(); ++i)
        if (shared->ports[i].address.contains(remote)) return i;
    for (std::uint16_t i = 0; i < shared->ports.size(); ++i)
        if (shared->ports[i].gateway) return i;
    return std::nullopt;
}

std::optional<flow::conn_id> worker::connect(ipv4_addr remote, std::uint16_t rport, handler &h,
                                             std::uint64_t user, connect_error *why) noexcept {
    const auto fail = [why](connect_error e) -> std::optional<flow::conn_id> {
        if (why != nullptr) *why = e;
        return std::nullopt;
    };
    const auto pi = route_to(remote);
    if (!pi) return fail(connect_error::no_route);
    const port_info &p = shared->ports[*pi];
    const std::uint32_t sources = p.extra_count > 0 ? p.extra_count : 1;
    const std::uint16_t lo = shared->source_port_lo, hi = shared->source_port_hi;
    // Try each source address once, starting where the last connect() left off; on
    // each, the first free port at or after the cursor that steers back to this lcore.
    // The address turns fastest and the port cursor moves on once per round of the
    // addresses, so every address-port pair is used before any comes back: moving both
    // at once would repeat after lcm(addresses, ports) connections (8,064,000 for 1,000
    // addresses), and the peer would still hold those 4-tuples in TIME-WAIT.
    for (std::uint32_t tried = 0; tried < sources; ++tried) {
        // The cursor stays below `sources` (it wraps just below), so no division.
        const std::uint32_t k = next_source < sources ? next_source : 0;
        next_source = k + 1 == sources ? 0 : k + 1;
        const ipv4_addr local = p.extra_count > 0 ? ipv4_addr{p.extra_first.value + k} : p.address.addr;
        // Each candidate port is tried by opening it: one probe both checks that the
        // 4-tuple is free (no connection, no TIME-WAIT entry) and reserves it.
        std::optional<flow::conn_id> id;
        bool no_memory = false;
        const auto try_open = [&](std::uint16_t lport) {
            const auto r = shard->open(tcp::four_tuple{local, remote, lport, rport}, h, user);
            if (r.status == flow::shard::open_status::opened) id = r.id;
            no_memory = r.status == flow::shard::open_status::no_memory;
            return r.status != flow::shard::open_status::tuple_taken;
        };
        const auto port = device::choose_source_port(shared->hash, shared->reta, index, local, remote, rport, lo, hi,
                                                      next_port, try_open);
        if (!port) continue;
        if (k + 1 == sources) next_port = static_cast<std::uint16_t>(*port == hi ? lo : *port + 1);
        if (no_memory) return fail(connect_error::no_memory);
        return id;
    }
    return fail(connect_error::no_source);
}

} // namespace linerate::engine::detail
