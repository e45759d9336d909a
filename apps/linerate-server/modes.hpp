// What linerate-server does with a connection, one handler per worker:
//   echo:    sends back what arrives; closes after the peer closes.
//   respond: reads a request (up to the first blank line, "\r\n\r\n", when it starts
//            like an HTTP request; any data otherwise), sends an HTTP/1.1 200 response
//            with `Connection: close` and a body of the configured size, and closes
//            first: the side that closes first holds TIME-WAIT, as a web server does.
//            With close_first off it sends the response and then waits for the
//            peer's FIN (the client holds TIME-WAIT), as perf/cps's client-close case
//            needs.
//   discard: reads and drops; closes after the peer closes.
// The state of a connection lives in its user word (lcore_context::user_data), so a
// mode allocates nothing per connection. A server_app is a linerate::handler like an
// embedder's: it acts only through the lcore_context it is given.
#pragma once

#include <linerate/handler.hpp>
#include <linerate/types.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

namespace linerate::server {

enum class mode : std::uint8_t { echo, respond, discard };
[[nodiscard]] std::string_view to_string(mode m) noexcept;
[[nodiscard]] std::optional<mode> parse_mode(std::string_view s) noexcept;
// A --listen argument: "PORT" (in `default_mode`) or "PORT:MODE"; nullopt when the port
// is not 1..65535 or the mode is unknown.
[[nodiscard]] std::optional<std::pair<std::uint16_t, mode>> parse_listen(std::string_view spec,
                                                                       std::string_view default_mode) noexcept;

// Counters of one worker's application, written by that worker only.
struct app_counters {
    std::uint64_t requests = 0;       // respond: complete requests seen
    std::uint64_t responses = 0;      // respond: responses handed to TCP whole
    std::uint64_t bytes_in = 0;       // payload received
    std::uint64_t bytes_out = 0;      // payload handed to send()
    std::uint64_t short_sends = 0;    // echo: send() took less than arrived; the connection was reset
    std::uint64_t closed_normal = 0;
    std::uint64_t closed_reset = 0;   // reset by the peer
    std::uint64_t closed_timeout = 0;
    std::uint64_t closed_aborted = 0;
};

// The response, built once: header and body in one buffer that every connection sends
// from.
[[nodiscard]] std::vector<std::uint8_t> http_response(std::uint64_t body_size);

// A raw response: `size` bytes of the same body, no header, for clients that send raw
// requests and read a fixed number of bytes back (linerate-client --request-size
// --response-size, perf/cps).
[[nodiscard]] std::vector<std::uint8_t> raw_response(std::uint64_t size);

class server_app final : public handler {
public:
    // response must outlive the app (respond mode sends from it without copying it).
    server_app(mode m, std::span<const std::uint8_t> response, bool close_first = true) noexcept
        : mode_(m), response_(response), close_first_(close_first) {}

    void on_accepted(lcore_context &ctx, conn c) override;
    void on_data(lcore_context &ctx, conn c, std::span<const std::byte> data) override;
    void on_writable(lcore_context &ctx, conn c) override;
    void on_peer_closed(lcore_context &ctx, conn c) override;
    void on_closed(lcore_context &ctx, conn c, close_reason why) override;

    [[nodiscard]] const app_counters &stats() const noexcept { return stats_; }

private:
    void respond_more(lcore_context &ctx, conn c);

    mode mode_;
    std::span<const std::uint8_t> response_;
    bool close_first_;
    app_counters stats_{};
};

} // namespace linerate::server
