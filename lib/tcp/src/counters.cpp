// Names of the TCP drop reasons, as counters.
#include <linerate/tcp/counters.hpp>

namespace linerate::tcp {

std::string_view to_string(drop d) noexcept {
    switch (d) {
    case drop::no_connection: return "tcp_no_connection";
    case drop::listen_ack: return "tcp_listen_ack";
    case drop::listen_rst: return "tcp_listen_rst";
    case drop::listen_no_syn: return "tcp_listen_no_syn";
    case drop::listen_overflow: return "tcp_listen_overflow";
    case drop::syn_sent_bad_ack: return "tcp_syn_sent_bad_ack";
    case drop::syn_sent_rst_no_ack: return "tcp_syn_sent_rst_no_ack";
    case drop::syn_sent_no_syn: return "tcp_syn_sent_no_syn";
    case drop::out_of_window: return "tcp_out_of_window";
    case drop::paws: return "tcp_paws";
    case drop::rst_in_window: return "tcp_rst_in_window";
    case drop::syn_in_window: return "tcp_syn_in_window";
    case drop::challenge_ack_limited: return "tcp_challenge_ack_limited";
    case drop::no_ack: return "tcp_no_ack";
    case drop::ack_unacceptable: return "tcp_ack_unacceptable";
    case drop::syn_received_bad_ack: return "tcp_syn_received_bad_ack";
    case drop::ack_after_close: return "tcp_text_after_fin";
    case drop::ooo_queue_full: return "tcp_ooo_dropped";
    case drop::time_wait_rst: return "tcp_time_wait_rst";
    case drop::time_wait_segment: return "tcp_time_wait_segment";
    case drop::no_memory: return "tcp_no_memory";
    case drop::count_: break;
    }
    return "unknown";
}

} // namespace linerate::tcp
