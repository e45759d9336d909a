// The [tcp] table and the TCP core's settings agree, defaults included.
#include <linerate/engine/tcp_settings.hpp>

#include <catch2/catch.hpp>

using namespace linerate;

TEST_CASE("tcp settings: the configuration's defaults are the core's defaults", "[engine][config][tcp]") {
    const tcp::settings core{};
    const tcp::settings from_config = engine::to_tcp_settings(config::tcp_config{}, core.mtu);
    CHECK(from_config.window_scaling == core.window_scaling);
    CHECK(from_config.sack == core.sack);
    CHECK(from_config.timestamps == core.timestamps);
    CHECK(from_config.receive_buffer == core.receive_buffer);
    CHECK(from_config.send_buffer == core.send_buffer);
    CHECK(from_config.initial_window_segments == core.initial_window_segments);
    CHECK(from_config.max_ooo_segments == core.max_ooo_segments);
    CHECK(from_config.rto.initial_ms == core.rto.initial_ms);
    CHECK(from_config.rto.min_ms == core.rto.min_ms);
    CHECK(from_config.rto.max_ms == core.rto.max_ms);
    CHECK(from_config.syn_retries == core.syn_retries);
    CHECK(from_config.synack_retries == core.synack_retries);
    CHECK(from_config.data_retries == core.data_retries);
    CHECK(from_config.delayed_ack_ms == core.delayed_ack_ms);
    CHECK(from_config.fin_wait_2_timeout_ms == core.fin_wait_2_timeout_ms);
    CHECK(from_config.msl_ms == core.msl_ms);
    CHECK(from_config.keepalive == core.keepalive);
    CHECK(from_config.keepalive_idle_ms == core.keepalive_idle_ms);
    CHECK(from_config.keepalive_interval_ms == core.keepalive_interval_ms);
    CHECK(from_config.keepalive_probes == core.keepalive_probes);
    CHECK(from_config.challenge_ack_limit == core.challenge_ack_limit);
    CHECK(from_config.invalid_ack_interval_ms == core.invalid_ack_interval_ms);
    CHECK(from_config.syn_backlog == core.syn_backlog);
    CHECK(from_config.accept_backlog == core.accept_backlog);
    CHECK(from_config.syn_cookies == core.syn_cookies);
}

TEST_CASE("tcp settings: values from the file reach the core, the MSS from the port's MTU", "[engine][config][tcp]") {
    config::tcp_config c;
    c.msl_ms = 500;
    c.timestamps = false;
    c.syn_retries = 255;
    c.invalid_ack_interval_ms = 0;
    const auto s = engine::to_tcp_settings(c, 9000);
    CHECK(s.msl_ms == 500);
    CHECK_FALSE(s.timestamps);
    CHECK(s.syn_retries == 255);
    CHECK(s.invalid_ack_interval_ms == 0);
    CHECK(s.our_mss() == 8960);
    for (const auto &[file, core] : {std::pair{config::tcp_config::syn_cookies_mode::off, tcp::syn_cookie_mode::off},
                                    std::pair{config::tcp_config::syn_cookies_mode::automatic,
                                              tcp::syn_cookie_mode::automatic},
                                    std::pair{config::tcp_config::syn_cookies_mode::always, tcp::syn_cookie_mode::always}}) {
        c.syn_cookies = file;
        CHECK(engine::to_tcp_settings(c, 1500).syn_cookies == core);
    }
}
