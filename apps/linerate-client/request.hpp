// What linerate-client asks for and of whom: --target as ranges of addresses and ports,
// and the HTTP request (--method, --host, --path, --header). DPDK-free, so
// tests/unit/client checks the parsing and the bytes alone.
#pragma once

#include <linerate/base/addr.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace linerate::client {

// --target A[-B]:P[-Q]: `count` addresses from `first`, ports `port_lo`..`port_hi`.
struct target_range {
    ipv4_addr first{};
    std::uint32_t count = 1;
    std::uint16_t port_lo = 80, port_hi = 80;
};

// "A" or "A-B" of ports 1..65535; nullopt when malformed or reversed.
[[nodiscard]] inline std::optional<std::pair<std::uint16_t, std::uint16_t>> parse_port_range(std::string_view s) {
    const auto number = [](std::string_view d) -> std::optional<unsigned> {
        if (d.empty() || d.size() > 5) return std::nullopt;
        unsigned v = 0;
        for (const char ch : d) {
            if (ch < '0' || ch > '9') return std::nullopt;
            v = v * 10 + static_cast<unsigned>(ch - '0');
        }
        return v;
    };
    const auto dash = s.find('-');
    const auto lo = number(s.substr(0, dash));
    const auto hi = dash == std::string_view::npos ? lo : number(s.substr(dash + 1));
    if (!lo || !hi || *lo == 0 || *hi > 65535 || *hi < *lo) return std::nullopt;
    return std::pair{static_cast<std::uint16_t>(*lo), static_cast<std::uint16_t>(*hi)};
}

// "A" or "A-B" of addresses; nullopt when malformed or reversed.
[[nodiscard]] inline std::optional<std::pair<ipv4_addr, std::uint32_t>> parse_ip_range(std::string_view s) {
    const auto dash = s.find('-');
    const auto a = ipv4_addr::parse(s.substr(0, dash));
    const auto b = dash == std::string_view::npos ? a : ipv4_addr::parse(s.substr(dash + 1));
    if (!a || !b || b->value < a->value) return std::nullopt;
    return std::pair{*a, b->value - a->value + 1};
}

[[nodiscard]] inline std::optional<target_range> parse_target(std::string_view s) {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const auto ips = parse_ip_range(s.substr(0, colon));
    const auto ports = parse_port_range(s.substr(colon + 1));
    if (!ips || !ports) return std::nullopt;
    return target_range{ips->first, ips->second, ports->first, ports->second};
}

// The HTTP request each connection sends (RFC 9112 §3): request line, Host, the
// User-Agent, the extra header fields, the blank line.
struct http_shape {
    std::string method = "GET";
    std::string path = "/";
    std::string host; // empty: the first target, with its port unless 80
    std::vector<std::string> headers; // "Name: value", each as given
};

// Why the shape would make a request a server cannot parse, or nullopt when it is fine:
// the method a token (RFC 9110 §9.1), the path an origin-form or asterisk-form target
// (RFC 9112 §3.2), each header a field name, a colon and a value, and nothing anywhere
// that would end a line early.
[[nodiscard]] inline std::optional<std::string> http_shape_error(const http_shape &h) {
    const auto tchar = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    };
    const auto printable = [](std::string_view s) {
        return std::all_of(s.begin(), s.end(), [](char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); });
    };
    if (h.method.empty() || !std::all_of(h.method.begin(), h.method.end(), tchar))
        return "--method: '" + h.method + "' is not an HTTP method (a token, e.g. GET or POST)";
    if (!(h.path == "*" || (!h.path.empty() && h.path[0] == '/')) ||
        h.path.find_first_of(" \t") != std::string::npos || !printable(h.path))
        return "--path: '" + h.path + "' is not a path starting with '/' (or '*') without spaces";
    if (!printable(h.host) || h.host.find_first_of(" \t") != std::string::npos)
        return "--host: '" + h.host + "' is not a host name";
    for (const std::string &f : h.headers) {
        const auto colon = f.find(':');
        if (colon == std::string::npos || colon == 0 ||
            !std::all_of(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(colon), tchar) || !printable(f))
            return "--header: '" + f + "' is not 'Name: value'";
    }
    return std::nullopt;
}

[[nodiscard]] inline std::string http_request(const http_shape &h, const target_range &t) {
    const auto is_host = [](const std::string &f) {
        static constexpr std::string_view name = "host:";
        return f.size() >= name.size() && std::equal(name.begin(), name.end(), f.begin(), [](char a, char b) {
                   return a == std::tolower(static_cast<unsigned char>(b));
               });
    };
    std::string r = h.method + " " + h.path + " HTTP/1.1\r\n";
    // One Host field (RFC 9112 §3.2: a request without one, or with two, is answered 400).
    if (std::none_of(h.headers.begin(), h.headers.end(), is_host)) {
        std::string host = h.host;
        if (host.empty()) {
            host = t.first.to_string();
            if (t.port_lo != 80) host += ":" + std::to_string(t.port_lo);
        }
        r += "Host: " + host + "\r\n";
    }
    r += "User-Agent: linerate-client\r\n";
    for (const std::string &f : h.headers) r += f + "\r\n";
    return r + "\r\n";
}

} // namespace linerate::client
