// What linerate-client asks for and of whom: --target ranges, and the HTTP request that
// --method, --host, --path and --header shape.
#include "request.hpp"

#include <catch2/catch.hpp>

using namespace linerate;
using namespace linerate::client;

TEST_CASE("request: --target takes an address and a port, or ranges of both") {
    const auto one = parse_target("198.18.1.2:80");
    REQUIRE(one);
    CHECK(one->first == ipv4_addr{0xC6120102});
    CHECK(one->count == 1);
    CHECK(one->port_lo == 80);
    CHECK(one->port_hi == 80);
    const auto many = parse_target("198.18.1.2-198.18.1.9:80-89");
    REQUIRE(many);
    CHECK(many->first == ipv4_addr{0xC6120102});
    CHECK(many->count == 8);
    CHECK(many->port_lo == 80);
    CHECK(many->port_hi == 89);
    for (const char *bad : {"198.18.1.2", "198.18.1.9-198.18.1.2:80", "198.18.1.2:0", "198.18.1.2:65536",
                            "198.18.1.2:90-80", "198.18.1.2:", ":80", "198.18.1.2:8x", "198.18.1.256:80",
                            "198.18.1.2:80-", "198.18.1.2:123456"}) {
        INFO(bad);
        CHECK_FALSE(parse_target(bad));
    }
}

TEST_CASE("request: the default request is a GET of / with the first target as Host (RFC 9112 §3.2)") {
    const target_range t{ipv4_addr{0xC6120102}, 8, 80, 89};
    CHECK(http_request(http_shape{}, t) == "GET / HTTP/1.1\r\nHost: 198.18.1.2\r\nUser-Agent: linerate-client\r\n\r\n");
    // Not port 80: the Host field carries the port.
    const target_range t8080{ipv4_addr{0xC6120102}, 1, 8080, 8080};
    CHECK(http_request(http_shape{}, t8080).find("\r\nHost: 198.18.1.2:8080\r\n") != std::string::npos);
}

TEST_CASE("request: --method, --host, --path and --header shape it, and one Host field only") {
    const target_range t{ipv4_addr{0xC6120102}, 1, 80, 80};
    http_shape h;
    h.method = "POST";
    h.path = "/api/v1/items?id=3";
    h.host = "example.test";
    h.headers = {"Accept: */*", "X-Run: 7"};
    CHECK(http_request(h, t) == "POST /api/v1/items?id=3 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: "
                                "linerate-client\r\nAccept: */*\r\nX-Run: 7\r\n\r\n");
    CHECK_FALSE(http_shape_error(h));
    // A Host given as a header replaces ours rather than making two.
    http_shape own;
    own.headers = {"host: other.test"};
    const std::string r = http_request(own, t);
    CHECK(r.find("Host: 198.18.1.2") == std::string::npos);
    CHECK(r.find("host: other.test\r\n") != std::string::npos);
}

TEST_CASE("request: a shape that would break the request line or a field is refused") {
    const auto error_of = [](http_shape h) { return http_shape_error(h).value_or(""); };
    http_shape h;
    h.method = "GE T";
    CHECK(error_of(h).rfind("--method:", 0) == 0);
    h = {};
    h.method = "";
    CHECK(error_of(h).rfind("--method:", 0) == 0);
    h = {};
    h.path = "index.html";
    CHECK(error_of(h).rfind("--path:", 0) == 0);
    h = {};
    h.path = "/a b";
    CHECK(error_of(h).rfind("--path:", 0) == 0);
    h = {};
    h.path = "/a\r\nX: y";
    CHECK(error_of(h).rfind("--path:", 0) == 0);
    h = {};
    h.host = "a\nb";
    CHECK(error_of(h).rfind("--host:", 0) == 0);
    for (const char *bad : {"NoColon", ": empty name", "Bad Name: v", "X: a\r\nY: b"}) {
        h = {};
        h.headers = {bad};
        INFO(bad);
        CHECK(error_of(h).rfind("--header:", 0) == 0);
    }
    h = {};
    h.path = "*";
    h.method = "OPTIONS";
    CHECK_FALSE(http_shape_error(h));
}
