// SYN cookies: see syn_cookie.hpp for the encoding and why it is Linux's.
#include <linerate/tcp/syn_cookie.hpp>

#include <linerate/wire/tcp.hpp>

namespace linerate::tcp {

std::uint8_t syn_cookie_codec::mss_index(std::uint16_t peer_mss) noexcept {
    std::uint8_t i = mss_table.size() - 1;
    while (i > 0 && peer_mss < mss_table[i]) --i;
    return i;
}

std::uint32_t syn_cookie_codec::hash(const four_tuple &t, std::uint32_t which, std::uint32_t value) const noexcept {
    // The word's top two bits are 01 or 10, never 00 (isn_generator::offset's word), so
    // neither term is an ISN offset or a TSval offset under the shared key. Its other 30
    // bits are the peer's ISN (term 0) or the count (term 1, which wraps after 2^30
    // periods, 2,300 centuries).
    const std::uint32_t word = ((which + 1) << 30) | (value & 0x3fff'ffffu);
    return prf_.prf(t.local_ip, t.local_port, t.remote_ip, t.remote_port, word);
}

seq32 syn_cookie_codec::encode(const four_tuple &t, seq32 peer_isn, std::uint8_t mss_index,
                               std::uint32_t count) const noexcept {
    // RFC 4987 §3.6 / Linux's secure_tcp_syn_cookie, with one change: the count-free
    // term hashes the peer's ISN as well as the 4-tuple. In Linux's the ISN is only
    // added, so an ACK whose SEG.SEQ - 1 is the ISN plus 1 to 3 (a bare ACK or a small
    // segment sent after the handshake's ACK and overtaking it) decodes as a valid
    // cookie of another table entry: the connection is made with IRS off by that much
    // and the bytes between are taken as old and lost. The simulation found it (a
    // duplicated SYN-ACK's ACK arriving before the request). Hashed, a wrong ISN leaves
    // the rest random and the check fails as for any forgery.
    const std::uint32_t v = hash(t, 0, peer_isn.raw()) + peer_isn.raw() + (count << data_bits) +
                            ((hash(t, 1, count) + mss_index) & data_mask);
    return seq32{v};
}

std::optional<std::uint16_t> syn_cookie_codec::decode(const four_tuple &t, seq32 peer_isn, seq32 cookie,
                                                      std::uint32_t count) const noexcept {
    // Linux's check_tcp_syn_cookie: take the count-free terms off, read the count the
    // cookie was made with from its top bits (modulo 2^8, so a count that wrapped there
    // still compares), and the rest must then be an MSS index.
    const std::uint32_t rest = cookie.raw() - (hash(t, 0, peer_isn.raw()) + peer_isn.raw());
    const std::uint32_t age = (count - (rest >> data_bits)) & ((std::uint32_t{1} << count_bits) - 1);
    if (age >= max_age) return std::nullopt;
    const std::uint32_t index = (rest - hash(t, 1, count - age)) & data_mask;
    if (index >= mss_table.size()) return std::nullopt;
    return mss_table[index];
}

std::uint32_t syn_cookie_codec::ts_encode(std::uint32_t tsval, std::optional<std::uint8_t> peer_wscale,
                                          bool sack_permitted) noexcept {
    std::uint32_t options = peer_wscale ? std::uint32_t{*peer_wscale} : ts_no_wscale;
    if (sack_permitted) options |= ts_sack;
    std::uint32_t ts = (tsval & ~ts_mask) | options;
    // Serial order (RFC 7323 §5.2): one step of 2^6 back when the options made it newer.
    if (static_cast<std::int32_t>(ts - tsval) > 0) ts -= std::uint32_t{1} << ts_bits;
    return ts;
}

std::optional<cookie_options> syn_cookie_codec::ts_decode(std::uint32_t tsecr) noexcept {
    const std::uint32_t options = tsecr & ts_mask;
    // ECN is never offered, so a cookie that claims it is not ours.
    if ((options & ts_ecn) != 0) return std::nullopt;
    cookie_options o;
    o.timestamps = true;
    o.sack_permitted = (options & ts_sack) != 0;
    const std::uint32_t ws = options & ts_no_wscale;
    if (ws != ts_no_wscale) {
        // RFC 7323 §2.3: a shift above 14 is never sent (encode stores the clamped one).
        if (ws > wire::tcp_max_window_scale) return std::nullopt;
        o.window_scale = static_cast<std::uint8_t>(ws);
    }
    return o;
}

} // namespace linerate::tcp
