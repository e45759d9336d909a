// Knows, byte by byte, when a response is complete, without buffering it: the state
// fits in the per-connection slot, and bytes are looked at once, in the packet.
//   HTTP/1.x (the first byte is 'H'): the status line and headers up to the blank
//   line, then Content-Length bytes of body. A 1xx, 204 or 304 response has no body
//   (RFC 9112 §6.3, rule 1); any other without Content-Length ends when the server
//   closes (rule 8). Chunked bodies are not supported
//   (linerate-server and the test servers never send them) and count as bad, as any
//   Transfer-Encoding does.
//   Anything else: `raw_size` bytes (an echo server returns the request's size), or,
//   when raw_size is 0 (HTTP requests), a bad response of its first byte.
// The state is 8 bytes (one per connection, and the client may hold ten million): the
// raw size is the run's, passed to feed() rather than copied into every connection; the
// Content-Length being read and the body bytes still to come share one counter (the
// second starts from the first); the rest are bit fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace linerate::client {

class response_parser {
public:
    void reset() noexcept { *this = response_parser{}; }

    // Consumes bytes of the response; returns how many belonged to it (any rest is the
    // start of the next one, or unwanted). `raw_size`: the length of a response that is
    // not HTTP, the same for every call of a run.
    std::size_t feed(std::span<const std::uint8_t> data, std::uint32_t raw_size = 0) noexcept {
        std::size_t i = 0;
        while (i < data.size() && phase_ != phase::done) {
            switch (phase_) {
            case phase::start:
                if (data[i] == 'H') {
                    phase_ = phase::status;
                } else if (raw_size == 0) {
                    // HTTP is expected and this is not (RFC 9112 §4: the status line
                    // starts with the HTTP version): a bad response, which takes the
                    // byte. Completing without taking it would have the client, which
                    // feeds what remains after each response, count the same bytes as
                    // one response after another.
                    bad_ = true;
                    phase_ = phase::done;
                    ++i;
                    continue;
                } else {
                    phase_ = phase::raw;
                    count_ = raw_size;
                }
                continue; // the byte is looked at again in its phase
            case phase::raw:
            case phase::body: {
                const std::size_t k = count_ < data.size() - i ? count_ : data.size() - i;
                count_ -= static_cast<std::uint32_t>(k);
                i += k;
                if (count_ == 0) phase_ = phase::done;
                continue;
            }
            case phase::status:
            case phase::headers: header_byte(data[i++]); continue;
            case phase::until_close: i = data.size(); continue;
            case phase::done: break;
            }
        }
        return i;
    }
    // The server closed: a response that runs until the close is complete now.
    void peer_closed() noexcept {
        if (phase_ == phase::until_close) phase_ = phase::done;
    }

    [[nodiscard]] bool complete() const noexcept { return phase_ == phase::done; }
    [[nodiscard]] bool started() const noexcept { return phase_ != phase::start; }
    [[nodiscard]] bool bad() const noexcept { return bad_; }
    // The HTTP status code (0 for raw responses or before the status line is read).
    [[nodiscard]] std::uint16_t status() const noexcept { return static_cast<std::uint16_t>(status_); }

private:
    enum class phase : std::uint8_t { start, status, headers, body, raw, until_close, done };
    static constexpr char length_name[] = "content-length:";
    static constexpr char te_name[] = "transfer-encoding:";
    static constexpr std::uint8_t no_match = 31; // the largest value of a 5-bit position

    void header_byte(std::uint8_t b) noexcept {
        // The blank line: "\r\n\r\n" (the state is how much of it the bytes end with).
        const std::uint8_t want = (crlf_ % 2 == 0) ? '\r' : '\n';
        crlf_ = b == want ? crlf_ + 1 : (b == '\r' ? 1 : 0);
        if (phase_ == phase::status) {
            // "HTTP/1.1 200 OK": the three digits after the first space.
            if (b == ' ' && status_digits_ == 0) {
                status_digits_ = 1;
            } else if (status_digits_ >= 1 && status_digits_ <= 3 && b >= '0' && b <= '9') {
                status_ = status_ * 10 + (b - '0');
                ++status_digits_;
            }
            if (b == '\n') phase_ = phase::headers;
            return;
        }
        if (crlf_ == 4) {
            // RFC 9112 §6.3 rule 1: a 1xx, 204 or 304 response ends at the blank line,
            // whatever its header fields say. Otherwise the body's bytes to come are the
            // Content-Length read: count_ holds it already.
            if ((status_ >= 100 && status_ < 200) || status_ == 204 || status_ == 304)
                phase_ = phase::done;
            else if (!have_length_)
                phase_ = phase::until_close;
            else
                phase_ = count_ == 0 ? phase::done : phase::body;
            return;
        }
        if (b == '\n') {
            name_pos_ = te_pos_ = 0;
            in_value_ = false;
            return;
        }
        if (in_value_) {
            if (b >= '0' && b <= '9') {
                if (count_ > (0xffffffffu - 9) / 10) bad_ = true; // longer than a connection carries
                count_ = count_ * 10 + (b - '0');
                have_length_ = true;
            } else if (b != ' ' && b != '\t' && b != '\r') {
                bad_ = true;
            }
            return;
        }
        const std::uint8_t lower = (b >= 'A' && b <= 'Z') ? static_cast<std::uint8_t>(b + 32) : b;
        std::uint8_t pos = name_pos_;
        if (match(pos, length_name, lower)) {
            in_value_ = true;
            count_ = 0;
        }
        name_pos_ = pos;
        // Any Transfer-Encoding (chunked, in practice) is something this parser
        // cannot follow: the response is counted as bad.
        pos = te_pos_;
        if (match(pos, te_name, lower)) bad_ = true;
        te_pos_ = pos;
    }

    // Advances a header-name matcher at the start of a line; true when it completes.
    template <std::size_t N>
    static bool match(std::uint8_t &pos, const char (&name)[N], std::uint8_t lower) noexcept {
        if (pos == no_match) return false;
        if (lower != static_cast<std::uint8_t>(name[pos])) {
            pos = no_match;
            return false;
        }
        if (++pos < N - 1) return false;
        pos = no_match;
        return true;
    }

    // The Content-Length while the headers are read, then the bytes still to come.
    std::uint32_t count_ = 0;
    std::uint32_t status_ : 10 = 0;       // three digits at most
    phase phase_ : 3 = phase::start;
    std::uint32_t crlf_ : 3 = 0;          // 0..4
    std::uint32_t status_digits_ : 3 = 0; // 0..4
    std::uint32_t name_pos_ : 5 = 0;      // into length_name (15 letters), or no_match
    std::uint32_t te_pos_ : 5 = 0;        // into te_name (18 letters), or no_match
    bool in_value_ : 1 = false;
    bool have_length_ : 1 = false;
    bool bad_ : 1 = false;
};
// One per connection of the client.
static_assert(sizeof(response_parser) <= 8, "the response parser grew");

} // namespace linerate::client
