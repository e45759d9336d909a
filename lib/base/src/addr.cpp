// Text forms of MAC and IPv4 addresses. Not on the per-packet path: used by the
// configuration loader and by logs.
#include <linerate/base/addr.hpp>

#include <charconv>
#include <cstdio>

namespace linerate {
namespace {

int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace

std::optional<mac_addr> mac_addr::parse(std::string_view text) noexcept {
    // Six pairs of hex digits and five separators: 17 characters exactly.
    if (text.size() != 17) return std::nullopt;
    mac_addr m;
    const char sep = text[2];
    if (sep != ':' && sep != '-') return std::nullopt;
    for (std::size_t i = 0; i < 6; ++i) {
        const std::size_t at = i * 3;
        const int hi = hex_digit(text[at]);
        const int lo = hex_digit(text[at + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        if (i < 5 && text[at + 2] != sep) return std::nullopt;
        m.bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return m;
}

std::string mac_addr::to_string() const {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3],
                  bytes[4], bytes[5]);
    return buf;
}

std::optional<ipv4_addr> ipv4_addr::parse(std::string_view text) noexcept {
    std::uint32_t value = 0;
    const char *p = text.data();
    const char *const end = text.data() + text.size();
    for (int i = 0; i < 4; ++i) {
        if (i > 0) {
            if (p == end || *p != '.') return std::nullopt;
            ++p;
        }
        const char *start = p;
        unsigned octet = 0;
        auto [next, ec] = std::from_chars(p, end, octet);
        // from_chars accepts no sign, so "+1" and "-1" fail here; cap at three digits.
        if (ec != std::errc{} || next == start || next - start > 3 || octet > 255) return std::nullopt;
        value = (value << 8) | octet;
        p = next;
    }
    if (p != end) return std::nullopt;
    return ipv4_addr{value};
}

std::string ipv4_addr::to_string() const {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff,
                  value & 0xff);
    return buf;
}

std::optional<ipv4_prefix> ipv4_prefix::parse(std::string_view text) noexcept {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const auto addr = ipv4_addr::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    const std::string_view len_text = text.substr(slash + 1);
    unsigned len = 0;
    auto [next, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (ec != std::errc{} || len_text.empty() || next != len_text.data() + len_text.size() || len > 32 ||
        len_text.size() > 2)
        return std::nullopt;
    return ipv4_prefix{*addr, static_cast<std::uint8_t>(len)};
}

std::string ipv4_prefix::to_string() const { return addr.to_string() + "/" + std::to_string(length); }

} // namespace linerate
