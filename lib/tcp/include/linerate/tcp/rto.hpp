// Retransmission timeout: RFC 6298 (SRTT, RTTVAR and RTO, exponential backoff) with
// Karn's rule left to the caller (RFC 6298 §3: never sample a retransmitted segment).
//
// Design: the estimator lives in every TCB, so it is 8 bytes: only what RFC 6298 makes
// per connection. Its state is kept in fixed point as BSD's t_srtt/t_rttvar and Linux's
// srtt_us do (SRTT in 1/8 ms, RTTVAR in 1/4 ms), which makes RFC 6298 §2.3's alpha = 1/8
// and beta = 1/4 exact integer operations. The bounds are the same for every connection
// of a shard, so they live apart, in an rto_bounds the owner builds once from the
// settings and passes to rto_ms(); they are narrowed to the widths noted on
// rto_settings::valid(), saturating, far beyond any sensible setting.
//
// Bounds: 1 s initial (RFC 6298 §2.1). 200 ms minimum as Linux (TCP_RTO_MIN), where
// RFC 6298 §2.4 says the minimum SHOULD be 1 s: with 1 s every loss on a LAN costs a
// second, which is what the benchmarks this stack runs would measure instead of the
// device. 120 s maximum as Linux (TCP_RTO_MAX); RFC 6298 §2.5 allows any maximum of at
// least 60 s. All four are configurable.
#pragma once

#include <cstdint>

namespace linerate::tcp {

struct rto_settings {
    std::uint32_t initial_ms = 1000;    // RFC 6298 §2.1
    std::uint32_t min_ms = 200;         // Linux TCP_RTO_MIN; RFC 6298 §2.4 says 1 s SHOULD
    std::uint32_t max_ms = 120000;      // Linux TCP_RTO_MAX; RFC 6298 §2.5: at least 60 s
    std::uint32_t granularity_ms = 1;   // G of RFC 6298 §2: the clock the timers run on

    // What the estimator can hold exactly; beyond it the value saturates. For the
    // configuration layer to reject nonsense rather than have it clamped silently.
    static constexpr std::uint32_t max_initial_ms = 0xffff;   // 65 s
    static constexpr std::uint32_t max_min_ms = 0xffff;       // 65 s
    static constexpr std::uint32_t max_max_ms = 0xff'ffff;    // 4.6 hours
    static constexpr std::uint32_t max_granularity_ms = 0xff; // 255 ms
    [[nodiscard]] constexpr bool valid() const noexcept {
        return initial_ms <= max_initial_ms && min_ms <= max_min_ms && max_ms <= max_max_ms &&
               granularity_ms >= 1 && granularity_ms <= max_granularity_ms && min_ms <= max_ms && max_ms >= 1;
    }
};

// The bounds of RFC 6298 §2.1, §2.4, §2.5 and the clock granularity G of §2: saturated
// copies of rto_settings, built once per shard (tcp::context::rto), not per connection.
class rto_bounds {
public:
    // Out-of-range settings are saturated (see rto_settings::valid); a granularity of 0 is
    // taken as 1 ms and a minimum above the maximum as the maximum.
    explicit rto_bounds(const rto_settings &s = {}) noexcept;

    [[nodiscard]] std::uint32_t initial_ms() const noexcept { return initial_ms_; }
    [[nodiscard]] std::uint32_t min_ms() const noexcept { return min_ms_; }
    [[nodiscard]] std::uint32_t max_ms() const noexcept { return max_ms_; }
    [[nodiscard]] std::uint32_t granularity_ms() const noexcept { return granularity_ms_; }

private:
    std::uint32_t initial_ms_ = 1000;
    std::uint32_t min_ms_ = 200;
    std::uint32_t max_ms_ = 120000;
    std::uint32_t granularity_ms_ = 1;
};

class rto_estimator {
public:
    // RTT samples above this are taken as this (about 4.6 hours): it bounds the fixed-point
    // state to its bit fields. Any such sample already drives RTO to its maximum.
    static constexpr std::uint32_t max_sample_ms = 0xff'ffff;
    // RFC 6298 §5.7 re-initialises RTO to 3 s after a SYN timed out.
    static constexpr std::uint32_t syn_fallback_ms = 3000;

    // A valid RTT measurement, in ms. Karn's rule is the caller's (RFC 6298 §3): never a
    // sample from a retransmitted segment unless timestamps disambiguate it (RFC 7323 §4).
    // The first sample follows RFC 6298 §2.2, later ones §2.3. As Linux does (and as
    // RFC 6298 §5 notes: a new measurement may "collapse" a backed-off RTO), a sample also
    // ends any backoff.
    void sample(std::uint32_t rtt_ms) noexcept;
    // RFC 6298 §5.5: the retransmission timer expired; RTO = RTO * 2, capped at the maximum
    // (§2.5). The count saturates at 255.
    void backoff() noexcept;
    // Back to the computed RTO once new data is acknowledged, as Linux clears icsk_backoff.
    void reset_backoff() noexcept;
    // RFC 6298 §5.7: a SYN (or SYN-ACK) timed out and the handshake has now completed. If
    // no RTT sample was taken (Karn's rule forbids one from a retransmitted SYN unless
    // timestamps were used), RTO restarts from 3 s rather than from the initial 1 s, as
    // Linux's TCP_TIMEOUT_FALLBACK does. Ends any backoff.
    void syn_timed_out() noexcept;

    // The RTO to arm, in ms: computed (or initial), bounded by [min, max] (RFC 6298 §2.4,
    // §2.5), doubled per backoff, capped at max. Never below 1 ms.
    [[nodiscard]] std::uint32_t rto_ms(const rto_bounds &b) const noexcept;
    [[nodiscard]] bool has_sample() const noexcept { return has_sample_ != 0; }
    // SRTT and RTTVAR rounded to the nearest ms (0 before the first sample).
    [[nodiscard]] std::uint32_t srtt_ms() const noexcept { return static_cast<std::uint32_t>((srtt8_ + 4) / 8); }
    [[nodiscard]] std::uint32_t rttvar_ms() const noexcept { return static_cast<std::uint32_t>((rttvar4_ + 2) / 4); }
    // The fixed-point values themselves, for tests and telemetry.
    [[nodiscard]] std::uint32_t srtt_eighths_ms() const noexcept { return static_cast<std::uint32_t>(srtt8_); }
    [[nodiscard]] std::uint32_t rttvar_quarters_ms() const noexcept { return static_cast<std::uint32_t>(rttvar4_); }
    [[nodiscard]] std::uint8_t backoffs() const noexcept { return static_cast<std::uint8_t>(backoffs_); }
    // Whether syn_timed_out() raised the initial RTO to syn_fallback_ms (RFC 6298 §5.7).
    [[nodiscard]] bool syn_fallback() const noexcept { return syn_fallback_ != 0; }

private:
    // RFC 6298 §2 state. With samples capped at 2^24 ms, SRTT < 2^24 ms and, by induction
    // on §2.3, RTTVAR < 2^24 ms, so both fit 27 bits in their units. 64 bits in all.
    std::uint64_t srtt8_ : 27 = 0;   // SRTT, 1/8 ms
    std::uint64_t rttvar4_ : 27 = 0; // RTTVAR, 1/4 ms
    std::uint64_t has_sample_ : 1 = 0;
    std::uint64_t backoffs_ : 8 = 0;
    std::uint64_t syn_fallback_ : 1 = 0; // the initial RTO is at least syn_fallback_ms
};

// Every TCB holds one: 8 bytes, as every byte of a TCB is paid per connection (the bounds
// that were here, the same for a whole shard, now live in rto_bounds).
static_assert(sizeof(rto_estimator) <= 8, "rto_estimator lives in every TCB");

} // namespace linerate::tcp
