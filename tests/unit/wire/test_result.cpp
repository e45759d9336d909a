// parse_result and drop_reason: the contract every parser's caller relies on.
#include <linerate/wire/wire.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <type_traits>

using namespace linerate;
using namespace linerate::wire;

TEST_CASE("parse_result: a value is ok and reports no drop reason", "[wire][result]") {
    const parse_result<int> r(42);
    CHECK(r.ok());
    CHECK(static_cast<bool>(r));
    CHECK(*r == 42);
    CHECK(r.error() == drop_reason::none);
}

TEST_CASE("parse_result: a drop reason is not ok", "[wire][result]") {
    const parse_result<ethernet_view> r(drop_reason::eth_truncated);
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r);
    CHECK(r.error() == drop_reason::eth_truncated);
}

TEST_CASE("parse_result: results of the views are trivially copyable", "[wire][result]") {
    STATIC_REQUIRE(std::is_trivially_copyable_v<parse_result<ethernet_view>>);
    STATIC_REQUIRE(std::is_trivially_copyable_v<parse_result<arp_view>>);
    STATIC_REQUIRE(std::is_trivially_copyable_v<parse_result<ipv4_view>>);
    STATIC_REQUIRE(std::is_trivially_copyable_v<parse_result<icmp_view>>);
    STATIC_REQUIRE(std::is_trivially_copyable_v<parse_result<tcp_view>>);
    STATIC_REQUIRE(std::is_trivially_copyable_v<parse_result<tcp_options>>);
}

TEST_CASE("drop_reason: every reason has a distinct snake_case counter name", "[wire][result]") {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < drop_reason_count; ++i) {
        const auto name = std::string(to_string(static_cast<drop_reason>(i)));
        INFO(i);
        CHECK(!name.empty());
        CHECK(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos);
        CHECK(seen.insert(name).second);
    }
    CHECK(to_string(drop_reason::none) == "none");
    CHECK(to_string(drop_reason::ipv4_bad_checksum) == "ipv4_bad_checksum");
    CHECK(to_string(drop_reason::tcp_bad_option) == "tcp_bad_option");
    CHECK(to_string(drop_reason::count_) == "unknown");
    CHECK(to_string(static_cast<drop_reason>(200)) == "unknown");
}
