// Every variable of a TCB, compared between two connections: what the header
// prediction tests need to show that the short path left a TCB exactly as the full
// path would have. It reads the private fields (connection.hpp makes
// connection_test_access a friend for tests), because a difference the accessors do not
// show (SND.MAX, SND.WL1, the congestion window, a timer deadline, a flag) is a
// difference all the same, and would surface only segments later.
#pragma once

#include <linerate/tcp/connection.hpp>
#include <linerate/tcp/reassembly.hpp>

#include <cstdint>
#include <string>

namespace linerate::tcp {

struct connection_test_access {
    // The names and values of the variables that differ ("" when none). The TCB names
    // its reassembly queue by the owner's id, so the owners pass the queues themselves
    // (null for none): their ids may differ, their contents must not.
    static std::string differences(const connection &a, const connection &b, const reassembly_queue *a_queue,
                                   const reassembly_queue *b_queue) {
        std::string out;
        const auto cmp = [&out](const char *name, std::uint64_t x, std::uint64_t y) {
            if (x != y) out += std::string(" ") + name + " " + std::to_string(x) + " vs " + std::to_string(y) + ";";
        };
        const auto seq = [&cmp](const char *name, seq32 x, seq32 y) { cmp(name, x.raw(), y.raw()); };
        cmp("state", static_cast<std::uint64_t>(a.state_), static_cast<std::uint64_t>(b.state_));
        seq("snd_una", a.snd_una_, b.snd_una_);
        seq("snd_nxt", a.snd_nxt_, b.snd_nxt_);
        seq("snd_max", a.snd_max_, b.snd_max_);
        seq("snd_end", a.snd_end_, b.snd_end_);
        seq("snd_wl1", a.snd_wl1_, b.snd_wl1_);
        seq("snd_wl2", a.snd_wl2_, b.snd_wl2_);
        cmp("snd_wnd", a.snd_wnd_, b.snd_wnd_);
        cmp("max_snd_wnd", a.max_snd_wnd_, b.max_snd_wnd_);
        cmp("cwnd", a.cwnd_, b.cwnd_);
        seq("rcv_nxt", a.rcv_nxt_, b.rcv_nxt_);
        cmp("rcv_window", a.rcv_window_, b.rcv_window_);
        seq("last_ack_sent", a.last_ack_sent_, b.last_ack_sent_);
        seq("ooo_fin_seq/syn_sent_at", a.ooo_fin_seq_, b.ooo_fin_seq_);
        cmp("snd_wscale", a.snd_wscale_, b.snd_wscale_);
        cmp("rcv_wscale", a.rcv_wscale_, b.rcv_wscale_);
        cmp("retries", a.retries_, b.retries_);
        cmp("unacked_segments", a.unacked_segments_, b.unacked_segments_);
        cmp("keepalive_sent", a.keepalive_sent_, b.keepalive_sent_);
        cmp("snd_mss", a.snd_mss_, b.snd_mss_);
        cmp("passive", a.passive_, b.passive_);
        cmp("ts_ok", a.ts_ok_, b.ts_ok_);
        cmp("sack_ok", a.sack_ok_, b.sack_ok_);
        cmp("fin_queued", a.fin_queued_, b.fin_queued_);
        cmp("app_closed", a.app_closed_, b.app_closed_);
        cmp("ws_ok", a.ws_ok_, b.ws_ok_);
        cmp("fin_received", a.fin_received_, b.fin_received_);
        cmp("ooo_fin", a.ooo_fin_, b.ooo_fin_);
        cmp("want_writable", a.want_writable_, b.want_writable_);
        cmp("rtt_timing", a.rtt_timing_, b.rtt_timing_);
        cmp("persist", a.persist_, b.persist_);
        cmp("flush_pending", a.flush_pending_, b.flush_pending_);
        cmp("ack_owed", a.ack_owed_, b.ack_owed_);
        cmp("delack_owed", a.delack_owed_, b.delack_owed_);
        cmp("rearm_due", a.rearm_due_, b.rearm_due_);
        // The timers: each deadline, and where the one hook on the wheel is (rearm is
        // lazy, so the hook is part of the state: it decides when on_timer next runs).
        cmp("hook_armed", a.hook_.armed(), b.hook_.armed());
        if (a.hook_.armed() && b.hook_.armed()) cmp("hook_expires", a.hook_.expires().value, b.hook_.expires().value);
        cmp("rexmit_at", a.rexmit_at_.raw(), b.rexmit_at_.raw());
        cmp("delack_at", a.delack_at_.raw(), b.delack_at_.raw());
        cmp("close_at", a.close_at_.raw(), b.close_at_.raw());
        cmp("idle_at", a.idle_at_.raw(), b.idle_at_.raw());
        cmp("srtt8", a.rto_.srtt_eighths_ms(), b.rto_.srtt_eighths_ms());
        cmp("rttvar4", a.rto_.rttvar_quarters_ms(), b.rto_.rttvar_quarters_ms());
        cmp("rto_backoffs", a.rto_.backoffs(), b.rto_.backoffs());
        cmp("rto_has_sample", a.rto_.has_sample(), b.rto_.has_sample());
        cmp("rto_syn_fallback", a.rto_.syn_fallback(), b.rto_.syn_fallback());
        // Each word once, whichever of its two variables it holds (connection.hpp, row 3).
        cmp("ts_recent/rtt_seq", a.ts_recent_, b.ts_recent_);
        cmp("ts_offset/rtt_start", a.ts_offset_, b.ts_offset_);
        cmp("tuple", a.tuple_ == b.tuple_ ? 0 : 1, 0);
        // The reassembly queue: held or not, and the same ranges under the same handles.
        cmp("ooo_queue", a.ooo_ != 0, b.ooo_ != 0);
        cmp("ooo_queue_passed", (a.ooo_ != 0) != (a_queue != nullptr), (b.ooo_ != 0) != (b_queue != nullptr));
        if (a_queue != nullptr && b_queue != nullptr) {
            const auto x = a_queue->segments();
            const auto y = b_queue->segments();
            cmp("ooo_segments", x.size(), y.size());
            for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
                seq("ooo_seq", x[i].seq, y[i].seq);
                cmp("ooo_len", x[i].len, y[i].len);
                cmp("ooo_handle", x[i].handle, y[i].handle);
            }
        }
        return out;
    }
};

} // namespace linerate::tcp
