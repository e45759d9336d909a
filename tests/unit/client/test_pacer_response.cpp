// The client's pacer (how many connections are due) and its streaming response parser.
#include "pacer.hpp"
#include "response.hpp"

#include <catch2/catch.hpp>

#include <string_view>

using linerate::client::pacer;
using linerate::client::response_parser;

namespace {
std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}
} // namespace

TEST_CASE("pacer: a constant rate is due linearly") {
    const pacer p(1000, 0);
    CHECK_FALSE(p.unlimited());
    CHECK(p.due(0) == 0);
    CHECK(p.due(1'000) == 1);
    CHECK(p.due(1'000'000) == 1000);
    CHECK(p.due(2'500'000) == 2500);
    CHECK(p.rate_at(5'000'000) == Approx(1000));
}

TEST_CASE("pacer: a ramp reaches the rate linearly, and the count is its integral") {
    const pacer p(1000, 2.0);
    CHECK(p.rate_at(1'000'000) == Approx(500));
    CHECK(p.rate_at(2'000'000) == Approx(1000));
    CHECK(p.due(1'000'000) == 250);  // 1000 * 1^2 / (2*2)
    CHECK(p.due(2'000'000) == 1000); // half of two seconds at full rate
    CHECK(p.due(3'000'000) == 2000); // then the full rate
}

TEST_CASE("pacer: rate 0 is unlimited") { CHECK(pacer(0, 0).unlimited()); }

TEST_CASE("response: an HTTP response ends after Content-Length bytes of body") {
    response_parser r;
    const std::string_view head = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\n\r\n";
    CHECK(r.feed(bytes(head)) == head.size());
    CHECK_FALSE(r.complete());
    CHECK(r.status() == 200);
    CHECK(r.feed(bytes("abc")) == 3);
    CHECK_FALSE(r.complete());
    // The bytes after the body belong to the next response.
    CHECK(r.feed(bytes("deHTTP")) == 2);
    CHECK(r.complete());
    CHECK_FALSE(r.bad());
}

TEST_CASE("response: the header may arrive a byte at a time, in any letter case") {
    response_parser r;
    const std::string_view all = "HTTP/1.1 404 Not Found\r\ncontent-LENGTH:3\r\n\r\nxyz";
    for (char c : all) {
        CHECK_FALSE(r.complete());
        CHECK(r.feed(bytes(std::string_view(&c, 1))) == 1);
    }
    CHECK(r.complete());
    CHECK(r.status() == 404);
}

TEST_CASE("response: Content-Length 0 ends at the blank line") {
    response_parser r;
    CHECK(r.feed(bytes("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")) > 0);
    CHECK(r.complete());
}

TEST_CASE("response: without Content-Length it ends when the server closes (RFC 9112 6.3)") {
    response_parser r;
    r.feed(bytes("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody bytes"));
    CHECK_FALSE(r.complete());
    r.peer_closed();
    CHECK(r.complete());
}

TEST_CASE("response: a Transfer-Encoding cannot be followed and is bad") {
    response_parser r;
    r.feed(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    CHECK(r.bad());
}

TEST_CASE("response: an absurd Content-Length is bad") {
    response_parser r;
    r.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n"));
    CHECK(r.bad());
}

TEST_CASE("response: a raw response is the configured number of bytes") {
    response_parser r;
    CHECK(r.feed(bytes("0123"), 10) == 4);
    CHECK_FALSE(r.complete());
    CHECK(r.feed(bytes("456789extra"), 10) == 6);
    CHECK(r.complete());
    CHECK(r.status() == 0);
    r.reset();
    CHECK_FALSE(r.started());
}

// Found by tests/fuzz/fuzz_http: without a raw size, a first byte other than 'H' made
// an empty response, complete with no byte taken, so the client (which feeds what
// remains after each response) counted the same bytes as a response again and again.
TEST_CASE("response: RFC 9112 §4, in HTTP mode a response that does not start with the version is bad and takes "
          "its first byte") {
    response_parser r;
    CHECK(r.feed(bytes("\x8fJ")) == 1);
    CHECK(r.complete());
    CHECK(r.bad());
    CHECK(r.status() == 0);
}

// Found by tests/fuzz/fuzz_http (minimised: "H 131\r\n\r\n"): such responses waited for
// the server's close, or for a Content-Length of body that never comes.
TEST_CASE("response: RFC 9112 §6.3 rule 1, a 1xx, 204 or 304 response ends at the blank line whatever its fields "
          "say") {
    response_parser r;
    const std::string_view interim = "H 131\r\n\r\n";
    CHECK(r.feed(bytes(interim)) == interim.size());
    CHECK(r.complete());
    CHECK(r.status() == 131);

    r.reset();
    const std::string_view no_content = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1";
    CHECK(r.feed(bytes(no_content)) == no_content.size() - 8);
    CHECK(r.complete());
    CHECK_FALSE(r.bad());
    CHECK(r.status() == 204);

    r.reset();
    const std::string_view not_modified = "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";
    CHECK(r.feed(bytes(not_modified)) == not_modified.size());
    CHECK(r.complete());
    CHECK(r.status() == 304);
}
