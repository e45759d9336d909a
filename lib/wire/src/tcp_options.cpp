// TCP option list parse and build: RFC 9293 §3.1-3.2 (EOL, NOP, MSS), RFC 7323 §2-3
// (window scale, timestamps), RFC 2018 §2-3 (SACK-permitted, SACK).
#include <linerate/wire/tcp.hpp>

#include <linerate/base/byteorder.hpp>

namespace linerate::wire {

namespace {
constexpr std::uint8_t len_mss = 4;            // RFC 9293 §3.2 "Length == 4"
constexpr std::uint8_t len_window_scale = 3;   // RFC 7323 §2.2
constexpr std::uint8_t len_sack_permitted = 2; // RFC 2018 §2
constexpr std::uint8_t len_timestamp = 10;     // RFC 7323 §3.2
constexpr std::size_t sack_block_len = 8;      // RFC 2018 §3: two 32-bit edges
} // namespace

parse_result<tcp_options> parse_tcp_options(std::span<const std::uint8_t> options) noexcept {
    tcp_options o;
    const std::size_t n = options.size();
    std::size_t i = 0;
    // RFC 9293 §3.2 MUST-64: options may begin on any byte, so the walk is byte-wise and
    // every multi-byte field is read with an unaligned load.
    while (i < n) {
        const std::uint8_t kind = options[i];
        if (kind == tcp_opt_eol) break; // RFC 9293 §3.2: "the end of the option list"
        if (kind == tcp_opt_nop) {
            ++i;
            continue;
        }
        // RFC 9293 §3.1 MUST-68: every other option has a length byte.
        if (n - i < 2) return drop_reason::tcp_bad_option;
        const std::uint8_t len = options[i + 1];
        // RFC 9293 §3.1 MUST-7: an illegal length (below the two bytes of kind and length,
        // or past the end of the list) must be handled, and the walk could not continue.
        if (len < 2 || len > n - i) return drop_reason::tcp_bad_option;
        const std::uint8_t *d = options.data() + i + 2;
        switch (kind) {
        case tcp_opt_mss:
            if (len != len_mss) return drop_reason::tcp_bad_option;
            o.mss = load_be16(d);
            break;
        case tcp_opt_window_scale:
            if (len != len_window_scale) return drop_reason::tcp_bad_option;
            o.window_scale = d[0]; // raw; RFC 7323 §2.3 clamping is effective_window_scale()
            break;
        case tcp_opt_sack_permitted:
            if (len != len_sack_permitted) return drop_reason::tcp_bad_option;
            o.sack_permitted = true;
            break;
        case tcp_opt_sack: {
            // RFC 2018 §3: length 8n + 2 for n blocks, 1 <= n <= 4.
            const std::size_t body = len - 2u;
            const std::size_t blocks = body / sack_block_len;
            if (body % sack_block_len != 0 || blocks == 0 || blocks > tcp_max_sack_blocks)
                return drop_reason::tcp_bad_option;
            o.sack_count = static_cast<std::uint8_t>(blocks);
            for (std::size_t b = 0; b < blocks; ++b)
                o.sack[b] = tcp_sack_block{seq32{load_be32(d + b * sack_block_len)},
                                           seq32{load_be32(d + b * sack_block_len + 4)}};
            break;
        }
        case tcp_opt_timestamp:
            if (len != len_timestamp) return drop_reason::tcp_bad_option;
            o.has_timestamp = true;
            o.ts_val = load_be32(d);
            o.ts_ecr = load_be32(d + 4);
            break;
        default:
            // RFC 9293 §3.1 MUST-6: ignore without error an option we do not implement.
            break;
        }
        i += len;
    }
    return o;
}

std::size_t tcp_options_size(const tcp_options &o) noexcept {
    std::size_t n = 0;
    if (o.mss) n += 4;
    if (o.has_timestamp) n += 12;        // SACK-perm + TS, or NOP NOP TS
    else if (o.sack_permitted) n += 4;   // NOP NOP SACK-perm
    if (o.window_scale) n += 4;          // NOP WS
    if (o.sack_count != 0) n += 4 + sack_block_len * o.sack_count; // NOP NOP SACK
    return n;
}

std::size_t write_tcp_options(std::span<std::uint8_t> out, const tcp_options &o) noexcept {
    const std::size_t size = tcp_options_size(o);
    if (size > tcp_max_options_len || size > out.size() || o.sack_count > tcp_max_sack_blocks) return 0;

    // The layout of Linux's tcp_options_write(): NOPs placed so that every 32-bit value
    // (timestamps, SACK edges) starts on a word boundary of the header, and peers and
    // middleboxes see the option order they see from Linux.
    std::uint8_t *p = out.data();
    if (o.mss) {
        p[0] = tcp_opt_mss;
        p[1] = len_mss;
        store_be16(p + 2, *o.mss);
        p += 4;
    }
    if (o.has_timestamp) {
        if (o.sack_permitted) {
            p[0] = tcp_opt_sack_permitted;
            p[1] = len_sack_permitted;
        } else {
            p[0] = tcp_opt_nop;
            p[1] = tcp_opt_nop;
        }
        p[2] = tcp_opt_timestamp;
        p[3] = len_timestamp;
        store_be32(p + 4, o.ts_val);
        store_be32(p + 8, o.ts_ecr);
        p += 12;
    } else if (o.sack_permitted) {
        p[0] = tcp_opt_nop;
        p[1] = tcp_opt_nop;
        p[2] = tcp_opt_sack_permitted;
        p[3] = len_sack_permitted;
        p += 4;
    }
    if (o.window_scale) {
        p[0] = tcp_opt_nop;
        p[1] = tcp_opt_window_scale;
        p[2] = len_window_scale;
        p[3] = *o.window_scale; // sent as given: the caller chooses a shift <= 14 (RFC 7323 §2.3)
        p += 4;
    }
    if (o.sack_count != 0) {
        p[0] = tcp_opt_nop;
        p[1] = tcp_opt_nop;
        p[2] = tcp_opt_sack;
        p[3] = static_cast<std::uint8_t>(2 + sack_block_len * o.sack_count);
        p += 4;
        for (std::size_t b = 0; b < o.sack_count; ++b, p += sack_block_len) {
            store_be32(p, o.sack[b].left.raw());
            store_be32(p + 4, o.sack[b].right.raw());
        }
    }
    return size;
}

} // namespace linerate::wire
