// Text forms of MAC and IPv4 addresses, as the configuration loader uses them.
#include <linerate/base/addr.hpp>

#include <catch2/catch.hpp>

using namespace linerate;

TEST_CASE("addr: MAC addresses parse and print", "[base][addr]") {
    const auto m = mac_addr::parse("02:00:5E:10:00:ff");
    REQUIRE(m);
    CHECK(m->bytes == std::array<std::uint8_t, 6>{0x02, 0x00, 0x5e, 0x10, 0x00, 0xff});
    CHECK(m->to_string() == "02:00:5e:10:00:ff");
    CHECK(mac_addr::parse("02-00-5e-10-00-01"));
    CHECK_FALSE(m->is_multicast());
    CHECK(mac_addr::parse("01:00:5e:00:00:01")->is_multicast());
    CHECK(mac_addr::broadcast().is_broadcast());
}

TEST_CASE("addr: malformed MAC addresses are refused", "[base][addr]") {
    for (const char *bad : {"", "02:00:5e:10:00", "02:00:5e:10:00:ff:", "02:00:5e:10:00:fg", "02:00-5e:10:00:ff",
                            "0200:5e:10:00:ff1", "02:00:5e:10:00:f"}) {
        INFO(bad);
        CHECK_FALSE(mac_addr::parse(bad));
    }
}

TEST_CASE("addr: IPv4 addresses parse and print", "[base][addr]") {
    const auto a = ipv4_addr::parse("198.18.0.2");
    REQUIRE(a);
    CHECK(a->value == 0xc6120002u);
    CHECK(a->to_string() == "198.18.0.2");
    CHECK(*a == ipv4_addr::from_octets(198, 18, 0, 2));
    CHECK(ipv4_addr::parse("0.0.0.0")->value == 0);
    CHECK(ipv4_addr::parse("255.255.255.255")->value == 0xffffffffu);
}

TEST_CASE("addr: malformed IPv4 addresses are refused", "[base][addr]") {
    for (const char *bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "1..2.3", "1.2.3.4 ", " 1.2.3.4",
                            "0001.2.3.4", "a.b.c.d", "1.2.3.4/24"}) {
        INFO(bad);
        CHECK_FALSE(ipv4_addr::parse(bad));
    }
}

TEST_CASE("addr: prefixes parse, mask and contain", "[base][addr]") {
    const auto p = ipv4_prefix::parse("198.18.0.2/24");
    REQUIRE(p);
    CHECK(p->length == 24);
    CHECK(p->mask() == 0xffffff00u);
    CHECK(p->contains(*ipv4_addr::parse("198.18.0.1")));
    CHECK_FALSE(p->contains(*ipv4_addr::parse("198.18.1.1")));
    CHECK(p->to_string() == "198.18.0.2/24");
    CHECK(ipv4_prefix::parse("0.0.0.0/0")->mask() == 0);
    CHECK(ipv4_prefix::parse("1.2.3.4/32")->mask() == 0xffffffffu);
    for (const char *bad : {"1.2.3.4", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/-1", "1.2.3.4/2x", "x/24", "1.2.3.4/024"}) {
        INFO(bad);
        CHECK_FALSE(ipv4_prefix::parse(bad));
    }
}
