// TIME-WAIT processing on the owner's compact state; see time_wait.hpp for why it exists.
#include <linerate/tcp/time_wait.hpp>

namespace linerate::tcp {
namespace {

// The ACK TIME-WAIT sends: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, with the TSval the
// connection would have sent (RFC 7323 §5.4: the pair's offset on the shared clock).
void send_ack(const time_wait_state &tw, context &ctx) noexcept {
    out_segment s{.seq = tw.snd_nxt, .ack = tw.rcv_nxt, .flags = tcp_flags{tcp_flags::ack}, .window = tw.window};
    if (tw.ts_ok) {
        s.options.has_timestamp = true;
        s.options.ts_val = static_cast<std::uint32_t>(ctx.now.value) + ts_offset_of(ctx, tw.tuple);
        s.options.ts_ecr = tw.ts_recent;
    }
    ++ctx.stats.out_segs;
    ctx.out.transmit(nullptr, tw.tuple, s);
}

} // namespace

time_wait_verdict time_wait_input(const time_wait_state &tw, const segment &seg, context &ctx) noexcept {
    ++ctx.stats.in_segs;
    // RFC 1337: ignore RSTs in TIME-WAIT, or an old duplicate RST would cut it short
    // and expose the next incarnation to this one's old segments.
    if (seg.has(tcp_flags::rst)) {
        ctx.stats.count(drop::time_wait_rst);
        return time_wait_verdict::keep;
    }
    if (seg.has(tcp_flags::syn) && !seg.has(tcp_flags::ack)) {
        bool newer;
        if (tw.ts_ok && seg.options.has_timestamp)
            // RFC 6191 §2: with timestamps, a SYN whose TSval is greater than the last
            // seen may reopen the 4-tuple: old duplicates cannot carry one.
            newer = ts_before(tw.ts_recent, seg.options.ts_val);
        else
            // RFC 9293 §3.6.1 MAY-2 (RFC 1122 §4.2.2.13): without timestamps, a SYN whose
            // sequence number is beyond the old connection's last may reopen it.
            newer = tw.rcv_nxt < seg.seq;
        if (newer) {
            ++ctx.stats.time_wait_recycled;
            return time_wait_verdict::reopen;
        }
        // An old duplicate SYN: the ACK tells a live peer where the old connection
        // stands (it answers with a RST, which we ignore, and retries), as Linux does.
        ctx.stats.count(drop::time_wait_segment);
        send_ack(tw, ctx);
        return time_wait_verdict::keep;
    }
    // RFC 7323 §5.3: PAWS applies in TIME-WAIT too.
    if (tw.ts_ok && seg.options.has_timestamp && ts_before(seg.options.ts_val, tw.ts_recent)) {
        ++ctx.stats.paws_rejected;
        ctx.stats.count(drop::paws);
        send_ack(tw, ctx);
        return time_wait_verdict::keep;
    }
    if (seg.has(tcp_flags::fin)) {
        // RFC 9293 §3.10.7.4 eighth, TIME-WAIT: the peer's FIN again means our last ACK
        // was lost. "Remain in the TIME-WAIT state. Restart the 2 MSL time-wait timeout."
        send_ack(tw, ctx);
        return time_wait_verdict::restart;
    }
    if (!seg.payload.empty()) {
        // Data after both FINs is out of any window: answered with an ACK (first check).
        send_ack(tw, ctx);
        return time_wait_verdict::keep;
    }
    ctx.stats.count(drop::time_wait_segment);
    return time_wait_verdict::keep;
}

} // namespace linerate::tcp
