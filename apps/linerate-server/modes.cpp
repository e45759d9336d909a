// The server's modes; see modes.hpp.
#include "modes.hpp"

#include <fmt/format.h>

namespace linerate::server {
namespace {

// The per-connection user word of respond mode:
//   bits  0..31  response bytes handed to send()
//   bits 32..33  how much of "\r\n\r\n" the request has matched so far
//   bit  34      the request has begun (its first byte was seen)
//   bit  35      the request is HTTP-like: wait for the blank line
//   bit  36      responding (the request is complete)
//   bit  37      the peer's FIN has arrived
constexpr std::uint64_t sent_mask = 0xffff'ffffull;
constexpr int match_shift = 32;
constexpr std::uint64_t match_mask = 3ull << match_shift;
constexpr std::uint64_t begun = 1ull << 34;
constexpr std::uint64_t http_like = 1ull << 35;
constexpr std::uint64_t responding = 1ull << 36;
constexpr std::uint64_t peer_fin = 1ull << 37;

} // namespace

std::vector<std::uint8_t> http_response(std::uint64_t body_size) {
    const std::string head = fmt::format("HTTP/1.1 200 OK\r\n"
                                         "Server: linerate\r\n"
                                         "Content-Type: application/octet-stream\r\n"
                                         "Content-Length: {}\r\n"
                                         "Connection: close\r\n"
                                         "\r\n",
                                         body_size);
    std::vector<std::uint8_t> r(head.begin(), head.end());
    const std::vector<std::uint8_t> body = raw_response(body_size);
    r.insert(r.end(), body.begin(), body.end());
    return r;
}

std::vector<std::uint8_t> raw_response(std::uint64_t size) {
    // A body that shows where it was cut if a byte goes missing: lines of 64 bytes.
    static constexpr std::string_view line = "linerate linerate linerate linerate linerate linerate linerate.\n";
    static_assert(line.size() == 64);
    std::vector<std::uint8_t> r;
    r.reserve(size);
    for (std::uint64_t i = 0; i < size; ++i) r.push_back(static_cast<std::uint8_t>(line[i % line.size()]));
    return r;
}

std::string_view to_string(mode m) noexcept {
    switch (m) {
    case mode::echo: return "echo";
    case mode::respond: return "respond";
    case mode::discard: return "discard";
    }
    return "?";
}

std::optional<mode> parse_mode(std::string_view s) noexcept {
    for (const mode m : {mode::echo, mode::respond, mode::discard})
        if (s == to_string(m)) return m;
    return std::nullopt;
}

std::optional<std::pair<std::uint16_t, mode>> parse_listen(std::string_view spec, std::string_view default_mode) noexcept {
    const auto colon = spec.find(':');
    const std::string_view digits = spec.substr(0, colon);
    const auto m = parse_mode(colon == std::string_view::npos ? default_mode : spec.substr(colon + 1));
    if (!m || digits.empty() || digits.size() > 5) return std::nullopt;
    unsigned port = 0;
    for (const char ch : digits) {
        if (ch < '0' || ch > '9') return std::nullopt;
        port = port * 10 + static_cast<unsigned>(ch - '0');
    }
    if (port == 0 || port > 65535) return std::nullopt;
    return std::pair{static_cast<std::uint16_t>(port), *m};
}

void server_app::on_accepted(lcore_context &ctx, conn c) { ctx.user_data(c) = 0; }

void server_app::on_data(lcore_context &ctx, conn c, std::span<const std::byte> data) {
    stats_.bytes_in += data.size();
    switch (mode_) {
    case mode::discard: return;
    case mode::echo: {
        const std::size_t n = ctx.send(c, data);
        stats_.bytes_out += n;
        if (n < data.size()) {
            // Echo cannot push back on its peer (the receive window is the core's), so
            // bytes it cannot store are a broken promise: the connection is reset and
            // counted rather than silently shortened.
            ++stats_.short_sends;
            ctx.abort(c);
        }
        return;
    }
    case mode::respond: break;
    }
    std::uint64_t &u = ctx.user_data(c);
    // The rest of a request, or one pipelined behind it before its response is out, is
    // ignored: a client that waits for each response (as linerate-client and wrk do)
    // sends the next only then.
    if (u & responding) return;
    if (!(u & begun)) {
        u |= begun;
        // An HTTP request line starts with a method in capitals; anything else is a
        // request of "any data".
        if (!data.empty() && data[0] >= std::byte{'A'} && data[0] <= std::byte{'Z'}) u |= http_like;
    }
    bool complete = !(u & http_like);
    if (!complete) {
        // Find "\r\n\r\n" across segment boundaries: a tiny state machine whose state is
        // how much of the pattern the bytes so far end with.
        auto matched = static_cast<unsigned>((u & match_mask) >> match_shift);
        for (const std::byte b : data) {
            const std::byte want{(matched % 2 == 0) ? std::uint8_t{'\r'} : std::uint8_t{'\n'}};
            if (b == want)
                ++matched;
            else
                matched = b == std::byte{'\r'} ? 1 : 0;
            if (matched == 4) {
                complete = true;
                break;
            }
        }
        u = (u & ~match_mask) | (std::uint64_t{matched % 4} << match_shift);
    }
    if (!complete) return;
    ++stats_.requests;
    u |= responding;
    respond_more(ctx, c);
}

void server_app::respond_more(lcore_context &ctx, conn c) {
    std::uint64_t &u = ctx.user_data(c);
    const std::uint64_t sent = u & sent_mask;
    const std::size_t n = ctx.send(c, std::as_bytes(response_.subspan(sent)));
    stats_.bytes_out += n;
    u = (u & ~sent_mask) | (sent + n);
    if (sent + n == response_.size()) {
        ++stats_.responses;
        // The FIN follows the response: the server closes first. Otherwise the peer's
        // FIN, already in or still to come, closes it (on_peer_closed), and until then
        // the connection is kept alive: the next request gets the next response
        // (HTTP/1.1's persistent connections, RFC 9112 §9.3, which wrk and
        // linerate-client --requests-per-connection use).
        if (close_first_ || (u & peer_fin))
            ctx.close(c);
        else
            u &= peer_fin;
    }
    // Otherwise the rest goes on `writable`.
}

void server_app::on_writable(lcore_context &ctx, conn c) {
    const std::uint64_t u = ctx.user_data(c);
    if (mode_ == mode::respond && (u & responding) && (u & sent_mask) < response_.size()) respond_more(ctx, c);
}

void server_app::on_peer_closed(lcore_context &ctx, conn c) {
    std::uint64_t &u = ctx.user_data(c);
    u |= peer_fin;
    if (mode_ == mode::respond && (u & responding)) {
        // A response still going out closes the connection when it is out; one that is
        // out was closed with it, unless this FIN is what it waited for.
        if ((u & sent_mask) < response_.size() || close_first_) return;
    }
    // echo and discard close after the peer; respond closes a connection that ended
    // without a complete request.
    ctx.close(c);
}

void server_app::on_closed(lcore_context &, conn, close_reason why) {
    switch (why) {
    case close_reason::normal: ++stats_.closed_normal; break;
    case close_reason::reset:
    case close_reason::refused: ++stats_.closed_reset; break;
    case close_reason::timeout: ++stats_.closed_timeout; break;
    case close_reason::aborted: ++stats_.closed_aborted; break;
    }
}

} // namespace linerate::server
