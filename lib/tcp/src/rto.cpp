// Retransmission timeout, RFC 6298 (see rto.hpp for the fixed-point layout and bounds).
#include <linerate/tcp/rto.hpp>

#include <algorithm>

namespace linerate::tcp {

namespace {
constexpr std::uint32_t saturate(std::uint32_t v, std::uint32_t limit) noexcept { return v < limit ? v : limit; }
} // namespace

rto_bounds::rto_bounds(const rto_settings &s) noexcept {
    max_ms_ = std::max<std::uint32_t>(saturate(s.max_ms, rto_settings::max_max_ms), 1);
    min_ms_ = std::min<std::uint32_t>(saturate(s.min_ms, rto_settings::max_min_ms),
                                      static_cast<std::uint32_t>(max_ms_));
    initial_ms_ = saturate(s.initial_ms, rto_settings::max_initial_ms);
    // G is a clock period: a zero-period clock does not exist.
    granularity_ms_ = std::max<std::uint32_t>(saturate(s.granularity_ms, rto_settings::max_granularity_ms), 1);
}

void rto_estimator::sample(std::uint32_t rtt_ms) noexcept {
    const std::uint64_t r = std::min(rtt_ms, max_sample_ms);
    if (has_sample_ == 0) {
        // RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2.
        srtt8_ = r * 8;
        rttvar4_ = r * 2;
        has_sample_ = 1;
    } else {
        // RFC 6298 §2.3, with RTTVAR updated first from the old SRTT, as the RFC says:
        //   RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|,  SRTT <- 7/8 SRTT + 1/8 R'.
        // Rounded to the nearest unit rather than truncated, so the error stays bounded
        // instead of drifting downwards (about 0.5 ms for SRTT, 1 ms for RTTVAR).
        const std::uint64_t srtt8 = srtt8_;
        const std::uint64_t r8 = r * 8;
        const std::uint64_t err8 = srtt8 > r8 ? srtt8 - r8 : r8 - srtt8; // |SRTT - R'| in 1/8 ms
        // (3/4 v4 + 1/4 err8/2) in 1/4 ms = (6 v4 + err8) / 8
        rttvar4_ = (6 * static_cast<std::uint64_t>(rttvar4_) + err8 + 4) / 8;
        srtt8_ = (7 * srtt8 + r8 + 4) / 8;
    }
    // RFC 6298 §5 ("collapsing" the RTO after a new measurement), as Linux's
    // tcp_ack_update_rtt() clears icsk_backoff.
    backoffs_ = 0;
}

void rto_estimator::backoff() noexcept {
    if (backoffs_ < 255) ++backoffs_;
}

void rto_estimator::reset_backoff() noexcept { backoffs_ = 0; }

void rto_estimator::syn_timed_out() noexcept {
    // RFC 6298 §5.7: "the RTO MUST be re-initialized to 3 seconds when data transmission
    // begins" if it is less than that; Linux applies it only while there is no sample
    // (tcp_init_transfer / TCP_TIMEOUT_FALLBACK), and so do we.
    if (has_sample_ == 0) syn_fallback_ = 1;
    backoffs_ = 0;
}

std::uint32_t rto_estimator::rto_ms(const rto_bounds &b) const noexcept {
    const std::uint64_t max_ms = b.max_ms();
    // RFC 6298 §2.1, or §5.7's 3 s after a SYN timed out.
    std::uint64_t rto = syn_fallback_ != 0 ? std::max(b.initial_ms(), syn_fallback_ms) : b.initial_ms();
    if (has_sample_ != 0) {
        // RFC 6298 §2.2/§2.3: RTO <- SRTT + max(G, K*RTTVAR), K = 4. K*RTTVAR in ms is
        // exactly rttvar4_; SRTT is rounded up so the timer never fires early.
        rto = (srtt8_ + 7) / 8 + std::max<std::uint64_t>(b.granularity_ms(), rttvar4_);
    }
    // RFC 6298 §2.4 (minimum) and §2.5 (maximum).
    rto = std::clamp<std::uint64_t>(rto, b.min_ms(), max_ms);
    // RFC 6298 §5.5: doubled per backoff, capped at the maximum (§2.5). rto < 2^24, so a
    // shift of 40 or more is past any cap.
    rto = backoffs_ >= 40 ? max_ms : std::min<std::uint64_t>(rto << backoffs_, max_ms);
    return static_cast<std::uint32_t>(std::max<std::uint64_t>(rto, 1));
}

} // namespace linerate::tcp
