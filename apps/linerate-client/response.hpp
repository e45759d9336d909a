// Knows, byte by byte, when a response is complete, without buffering it: the state
// fits in the per-connection slot, and bytes are looked at once, in the packet.
//   HTTP/1.x (the first byte is 'H'): the status line and headers up to the blank
//   line, then Content-Length bytes of body. A response without Content-Length ends
//   when the server closes (RFC 9112 §6.3, rule 8); chunked bodies are not supported
//   (linerate-server and the test servers never send them) and count as bad, as any
//   Transfer-Encoding does.
//   Anything else: `raw_size` bytes (an echo server returns the request's size).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace linerate::client {

class response_parser {
public:
    explicit response_parser(std::uint32_t raw_size = 0) noexcept : raw_size_(raw_size) {}

    void reset() noexcept { *this = response_parser(raw_size_); }

    // Consumes bytes of the response; returns how many belonged to it (any rest is the
    // start of the next one, or unwanted).
    std::size_t feed(std::span<const std::uint8_t> data) noexcept {
        std::size_t i = 0;
        while (i < data.size() && phase_ != phase::done) {
            switch (phase_) {
            case phase::start:
                if (data[i] == 'H') {
                    phase_ = phase::status;
                } else {
                    phase_ = phase::raw;
                    remaining_ = raw_size_;
                    if (remaining_ == 0) phase_ = phase::done;
                }
                continue; // the byte is looked at again in its phase
            case phase::raw:
            case phase::body: {
                const std::size_t k = remaining_ < data.size() - i ? remaining_ : data.size() - i;
                remaining_ -= static_cast<std::uint32_t>(k);
                i += k;
                if (remaining_ == 0) phase_ = phase::done;
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
    [[nodiscard]] std::uint16_t status() const noexcept { return status_; }

private:
    enum class phase : std::uint8_t { start, status, headers, body, raw, until_close, done };
    static constexpr char length_name[] = "content-length:";
    static constexpr char te_name[] = "transfer-encoding:";
    static constexpr std::uint8_t no_match = 0xff;

    void header_byte(std::uint8_t b) noexcept {
        // The blank line: "\r\n\r\n" (the state is how much of it the bytes end with).
        const std::uint8_t want = (crlf_ % 2 == 0) ? '\r' : '\n';
        crlf_ = b == want ? static_cast<std::uint8_t>(crlf_ + 1) : (b == '\r' ? 1 : 0);
        if (phase_ == phase::status) {
            // "HTTP/1.1 200 OK": the three digits after the first space.
            if (b == ' ' && status_digits_ == 0) {
                status_digits_ = 1;
            } else if (status_digits_ >= 1 && status_digits_ <= 3 && b >= '0' && b <= '9') {
                status_ = static_cast<std::uint16_t>(status_ * 10 + (b - '0'));
                ++status_digits_;
            }
            if (b == '\n') phase_ = phase::headers;
            return;
        }
        if (crlf_ == 4) {
            if (!have_length_) {
                phase_ = phase::until_close;
            } else {
                remaining_ = length_;
                phase_ = remaining_ == 0 ? phase::done : phase::body;
            }
            return;
        }
        if (b == '\n') {
            name_pos_ = te_pos_ = 0;
            in_value_ = false;
            return;
        }
        if (in_value_) {
            if (b >= '0' && b <= '9') {
                if (length_ > (0xffffffffu - 9) / 10) bad_ = true; // longer than a connection carries
                length_ = length_ * 10 + (b - '0');
                have_length_ = true;
            } else if (b != ' ' && b != '\t' && b != '\r') {
                bad_ = true;
            }
            return;
        }
        const std::uint8_t lower = (b >= 'A' && b <= 'Z') ? static_cast<std::uint8_t>(b + 32) : b;
        if (match(name_pos_, length_name, lower)) {
            in_value_ = true;
            length_ = 0;
        }
        // Any Transfer-Encoding (chunked, in practice) is something this parser
        // cannot follow: the response is counted as bad.
        if (match(te_pos_, te_name, lower)) bad_ = true;
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

    std::uint32_t raw_size_;
    std::uint32_t remaining_ = 0;
    std::uint32_t length_ = 0;
    std::uint16_t status_ = 0;
    phase phase_ = phase::start;
    std::uint8_t crlf_ = 0;
    std::uint8_t name_pos_ = 0;
    std::uint8_t status_digits_ = 0;
    std::uint8_t te_pos_ = 0;
    bool in_value_ = false;
    bool have_length_ = false;
    bool bad_ = false;
};

} // namespace linerate::client
