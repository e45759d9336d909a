// The stream store: each connection's send stream, kept in mbufs until the peer
// acknowledges it, and out-of-order bytes held in the mbufs they arrived in (flow::io's
// storage side). See worker.hpp.
#include "worker.hpp"

namespace linerate::engine::detail {

std::uint32_t worker::append(flow::conn_id id, std::span<const std::uint8_t> bytes) noexcept {
    conn_ext &e = ext[id];
    rte_mbuf *head = e.head();
    rte_mbuf *tail = head != nullptr ? chain_of(head).tail : nullptr;
    std::size_t done = 0;
    while (done < bytes.size()) {
        if (tail == nullptr || rte_pktmbuf_tailroom(tail) == 0) {
            rte_mbuf *m = spare_count > 0 ? spare_store[--spare_count] : rte_pktmbuf_alloc(pool);
            if (m == nullptr) {
                stats.count(local_drop::send_no_mbuf);
                break;
            }
            // Linked through `next` as a plain list: these are storage, never sent as a
            // chain, so pkt_len and nb_segs stay those of single mbufs.
            if (tail != nullptr) {
                tail->next = m;
            } else {
                head = m;
                e.set_head(m);
                chain_of(m).bytes = 0;
                chain_of(m).head_off = 0;
            }
            tail = m;
        }
        const std::size_t k = std::min<std::size_t>(rte_pktmbuf_tailroom(tail), bytes.size() - done);
        std::memcpy(rte_pktmbuf_mtod_offset(tail, std::uint8_t *, tail->data_len), bytes.data() + done, k);
        tail->data_len = static_cast<std::uint16_t>(tail->data_len + k);
        tail->pkt_len = tail->data_len;
        done += k;
    }
    if (head != nullptr) {
        chain_info &c = chain_of(head);
        c.tail = tail;
        c.bytes += static_cast<std::uint32_t>(done);
    }
    return static_cast<std::uint32_t>(done);
}

void worker::release_sent(flow::conn_id id, std::uint32_t n) noexcept {
    conn_ext &e = ext[id];
    rte_mbuf *head = e.head();
    if (head == nullptr) return;
    chain_info c = chain_of(head); // moves to the next head if this one goes
    n = std::min(n, c.bytes);
    c.bytes -= n;
    while (n > 0 && head != nullptr) {
        const std::uint32_t avail = head->data_len - c.head_off;
        if (n < avail) {
            c.head_off = static_cast<std::uint16_t>(c.head_off + n);
            break;
        }
        n -= avail;
        rte_mbuf *next = head->next;
        head->next = nullptr;
        store_free(head);
        head = next;
        c.head_off = 0;
    }
    e.set_head(head);
    if (head != nullptr) chain_of(head) = c;
}

void worker::forget(flow::conn_id id) noexcept {
    conn_ext &e = ext[id];
    rte_mbuf *head = e.head();
    while (head != nullptr) {
        rte_mbuf *next = head->next;
        head->next = nullptr;
        store_free(head);
        head = next;
    }
    e = conn_ext{};
}

std::uint64_t worker::hold(flow::conn_id, seq32 first, std::span<const std::uint8_t> bytes) noexcept {
    if (current == nullptr || held_free_.empty()) return 0;
    const std::uint32_t i = held_free_.back();
    held_free_.pop_back();
    rte_mbuf_refcnt_update(current, 1);
    held_[i] = held_segment{current, first, bytes.data(), static_cast<std::uint32_t>(bytes.size())};
    return std::uint64_t{i} + 1;
}

tcp::sink::held_bytes worker::held(std::uint64_t handle) noexcept {
    if (handle == 0 || handle > held_.size()) return {};
    const held_segment &h = held_[handle - 1];
    if (h.m == nullptr) return {};
    return {h.first, std::span<const std::uint8_t>(h.data, h.len)};
}

void worker::release(std::uint64_t handle) noexcept {
    if (handle == 0 || handle > held_.size()) return;
    held_segment &h = held_[handle - 1];
    if (h.m == nullptr) return;
    rte_pktmbuf_free(h.m);
    h = held_segment{};
    held_free_.push_back(static_cast<std::uint32_t>(handle - 1));
}

} // namespace linerate::engine::detail
