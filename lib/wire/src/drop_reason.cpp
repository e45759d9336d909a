// Counter names for drop reasons: the enumerators' own spelling.
#include <linerate/wire/drop_reason.hpp>

#include <array>

namespace linerate::wire {

namespace {

constexpr std::array<std::string_view, drop_reason_count> names{
    "none",
    "eth_truncated",
    "eth_unsupported_type",
    "arp_truncated",
    "arp_unsupported",
    "arp_bad_op",
    "ipv4_truncated",
    "ipv4_bad_version",
    "ipv4_bad_ihl",
    "ipv4_bad_total_length",
    "ipv4_bad_checksum",
    "ipv4_fragment",
    "ipv4_bad_option",
    "ipv4_bad_source",
    "icmp_truncated",
    "icmp_bad_checksum",
    "tcp_truncated",
    "tcp_bad_data_offset",
    "tcp_bad_checksum",
    "tcp_bad_option",
};
// A reason added to the enum without a name here fails to compile: the array would have
// an empty trailing element, caught below.
static_assert(!names.back().empty(), "every drop_reason needs a name");

} // namespace

std::string_view to_string(drop_reason r) noexcept {
    const auto i = static_cast<std::size_t>(r);
    return i < names.size() ? names[i] : std::string_view{"unknown"};
}

} // namespace linerate::wire
