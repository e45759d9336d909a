// config::tcp_config -> tcp::settings. Ranges were checked by the loader; the casts
// below cannot lose anything the loader let through.
#include <linerate/engine/tcp_settings.hpp>

namespace linerate::engine {

tcp::settings to_tcp_settings(const config::tcp_config &c, std::uint16_t mtu) noexcept {
    tcp::settings s;
    s.window_scaling = c.window_scaling;
    s.sack = c.sack;
    s.timestamps = c.timestamps;
    s.mtu = mtu;
    s.receive_buffer = c.receive_buffer;
    s.send_buffer = c.send_buffer;
    s.initial_window_segments = c.initial_window_segments;
    s.max_ooo_segments = c.max_ooo_segments;
    s.rto.initial_ms = c.rto_initial_ms;
    s.rto.min_ms = c.rto_min_ms;
    s.rto.max_ms = c.rto_max_ms;
    s.syn_retries = static_cast<std::uint8_t>(c.syn_retries);
    s.synack_retries = static_cast<std::uint8_t>(c.synack_retries);
    s.data_retries = static_cast<std::uint8_t>(c.data_retries);
    s.delayed_ack_ms = c.delayed_ack_ms;
    s.fin_wait_2_timeout_ms = c.fin_wait_2_timeout_ms;
    s.msl_ms = c.msl_ms;
    s.keepalive = c.keepalive;
    s.keepalive_idle_ms = c.keepalive_idle_ms;
    s.keepalive_interval_ms = c.keepalive_interval_ms;
    s.keepalive_probes = static_cast<std::uint8_t>(c.keepalive_probes);
    s.challenge_ack_limit = c.challenge_ack_limit;
    s.invalid_ack_interval_ms = c.invalid_ack_interval_ms;
    s.syn_backlog = c.syn_backlog;
    s.accept_backlog = c.accept_backlog;
    s.syn_cookies = c.syn_cookies == config::tcp_config::syn_cookies_mode::off      ? tcp::syn_cookie_mode::off
                    : c.syn_cookies == config::tcp_config::syn_cookies_mode::always ? tcp::syn_cookie_mode::always
                                                                                    : tcp::syn_cookie_mode::automatic;
    return s;
}

} // namespace linerate::engine
