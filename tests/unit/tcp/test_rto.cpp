// RTO estimator: RFC 6298 §2 (SRTT, RTTVAR, RTO), §5 (backoff), Linux's 200 ms minimum.
#include <linerate/tcp/rto.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

using linerate::tcp::rto_bounds;
using linerate::tcp::rto_estimator;
using linerate::tcp::rto_settings;

namespace {
// No minimum, so the arithmetic of §2.2/§2.3 shows through unclamped.
constexpr rto_settings unclamped{.initial_ms = 1000, .min_ms = 0, .max_ms = 120000, .granularity_ms = 1};
} // namespace

TEST_CASE("rto_estimator fits in 8 bytes of a TCB", "[tcp][rto]") {
    STATIC_REQUIRE(sizeof(rto_estimator) <= 8);
}

TEST_CASE("RFC 6298 §2.1: RTO is 1 s before any RTT sample", "[tcp][rto]") {
    const rto_bounds rto_b;
    const rto_estimator rto;
    CHECK_FALSE(rto.has_sample());
    CHECK(rto.rto_ms(rto_b) == 1000);
    CHECK(rto.srtt_ms() == 0);
    CHECK(rto.rttvar_ms() == 0);
    CHECK(rto.backoffs() == 0);
    CHECK(rto_estimator{}.rto_ms(rto_bounds{rto_settings{.initial_ms = 3000}}) == 3000);
}

TEST_CASE("RFC 6298 §2.2: the first sample sets SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4*RTTVAR)",
          "[tcp][rto]") {
    const rto_bounds rto_b{unclamped};
    rto_estimator rto;
    rto.sample(100);
    CHECK(rto.has_sample());
    CHECK(rto.srtt_ms() == 100);
    CHECK(rto.rttvar_ms() == 50);
    CHECK(rto.rto_ms(rto_b) == 100 + 4 * 50);

    const rto_bounds odd_b{unclamped};
    rto_estimator odd;
    odd.sample(7); // RTTVAR 3.5 ms is held exactly (1/4 ms units): RTO = 7 + 14
    CHECK(odd.rttvar_quarters_ms() == 14);
    CHECK(odd.rto_ms(odd_b) == 21);
}

TEST_CASE("RFC 6298 §2.2: G wins over 4*RTTVAR when the variance is small", "[tcp][rto]") {
    const rto_bounds rto_b{rto_settings{.initial_ms = 1000, .min_ms = 0, .max_ms = 120000, .granularity_ms = 10}};
    rto_estimator rto;
    rto.sample(2); // 4*RTTVAR = 4 < G = 10
    CHECK(rto.rto_ms(rto_b) == 2 + 10);
}

TEST_CASE("RFC 6298 §2.4: RTO is clamped to the minimum, 200 ms as Linux", "[tcp][rto]") {
    const rto_bounds rto_b;
    rto_estimator rto; // defaults: min 200 ms
    rto.sample(10);    // computed 10 + 20 = 30 ms
    CHECK(rto.rto_ms(rto_b) == 200);
    const rto_bounds strict_b{rto_settings{.min_ms = 1000}};
    rto_estimator strict; // the RFC's 1 s SHOULD, if configured
    strict.sample(10);
    CHECK(strict.rto_ms(strict_b) == 1000);
}

TEST_CASE("RFC 6298 §2.3: later samples follow alpha = 1/8, beta = 1/4, RTTVAR from the old SRTT",
          "[tcp][rto]") {
    const rto_bounds rto_b{unclamped};
    rto_estimator rto;
    rto.sample(100); // SRTT 100, RTTVAR 50
    rto.sample(200); // RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5
    CHECK(rto.rttvar_quarters_ms() == 250);
    CHECK(rto.srtt_eighths_ms() == 900);
    CHECK(rto.rto_ms(rto_b) == 113 + 250); // SRTT rounded up so the timer never fires early
}

TEST_CASE("RFC 6298 §2.3: fixed point tracks a double-precision reference over random samples",
          "[tcp][rto]") {
    std::mt19937 rng(6298);
    for (int run = 0; run < 20; ++run) {
        const rto_bounds rto_b{unclamped};
        rto_estimator rto;
        double srtt = 0, rttvar = 0;
        bool first = true;
        // Mix a stable path with jitter and occasional spikes.
        const std::uint32_t base = std::uniform_int_distribution<std::uint32_t>(0, 2000)(rng);
        for (int i = 0; i < 500; ++i) {
            std::uint32_t r = base + std::uniform_int_distribution<std::uint32_t>(0, base / 4 + 5)(rng);
            if (std::uniform_int_distribution<int>(0, 30)(rng) == 0) r *= 5;
            rto.sample(r);
            if (first) {
                srtt = r;
                rttvar = r / 2.0;
                first = false;
            } else {
                rttvar = 0.75 * rttvar + 0.25 * std::fabs(srtt - r);
                srtt = 0.875 * srtt + 0.125 * r;
            }
            // Rounding to nearest bounds the error: 1/2 unit per step with contraction 7/8
            // (SRTT: 4/8 ms) or 3/4 (RTTVAR: 2/4 ms, plus SRTT's error fed through |SRTT - R|).
            REQUIRE(std::fabs(rto.srtt_eighths_ms() / 8.0 - srtt) <= 0.5 + 1e-9);
            REQUIRE(std::fabs(rto.rttvar_quarters_ms() / 4.0 - rttvar) <= 1.0 + 1e-9);
            const double want = std::clamp(srtt + std::max(1.0, 4 * rttvar), 0.0, 120000.0);
            REQUIRE(std::fabs(rto.rto_ms(rto_b) - want) <= 5.5);
        }
    }
}

TEST_CASE("RFC 6298 §5.5: each backoff doubles RTO, capped at the maximum (§2.5)", "[tcp][rto]") {
    const rto_bounds rto_b{rto_settings{.max_ms = 60000}};
    rto_estimator rto;
    CHECK(rto.rto_ms(rto_b) == 1000);
    rto.backoff();
    CHECK(rto.rto_ms(rto_b) == 2000);
    rto.backoff();
    CHECK(rto.rto_ms(rto_b) == 4000);
    CHECK(rto.backoffs() == 2);
    for (int i = 0; i < 10; ++i) rto.backoff();
    CHECK(rto.rto_ms(rto_b) == 60000);
    for (int i = 0; i < 300; ++i) rto.backoff(); // the count saturates, the RTO stays capped
    CHECK(rto.backoffs() == 255);
    CHECK(rto.rto_ms(rto_b) == 60000);
}

TEST_CASE("RFC 6298 §5.5: backoff applies to the computed RTO after clamping", "[tcp][rto]") {
    const rto_bounds rto_b;
    rto_estimator rto; // min 200 ms
    rto.sample(10);    // computed 30 ms, clamped to 200
    rto.backoff();
    CHECK(rto.rto_ms(rto_b) == 400);
}

TEST_CASE("RTO returns to the computed value when the backoff is reset", "[tcp][rto]") {
    const rto_bounds rto_b{unclamped};
    rto_estimator rto;
    rto.sample(100);
    rto.backoff();
    rto.backoff();
    CHECK(rto.rto_ms(rto_b) == 1200);
    rto.reset_backoff();
    CHECK(rto.backoffs() == 0);
    CHECK(rto.rto_ms(rto_b) == 300);
}

TEST_CASE("RFC 6298 §5: a new RTT sample collapses a backed-off RTO", "[tcp][rto]") {
    const rto_bounds rto_b{unclamped};
    rto_estimator rto;
    rto.sample(100);
    rto.backoff();
    rto.sample(100); // SRTT 100, RTTVAR 37.5
    CHECK(rto.backoffs() == 0);
    CHECK(rto.rto_ms(rto_b) == 100 + 150);
}

TEST_CASE("RFC 6298 §5.7: after a SYN timeout without a sample RTO restarts from 3 s", "[tcp][rto]") {
    const rto_bounds rto_b;
    rto_estimator rto;
    rto.backoff(); // the SYN timed out
    rto.syn_timed_out();
    CHECK(rto.backoffs() == 0);
    CHECK(rto.rto_ms(rto_b) == 3000);
    // With a sample (timestamps make one possible), the computed RTO stands, as on Linux.
    const rto_bounds sampled_b;
    rto_estimator sampled;
    sampled.sample(400);
    sampled.syn_timed_out();
    CHECK_FALSE(sampled.syn_fallback());
    CHECK(sampled.rto_ms(sampled_b) == 1200);
    // An initial RTO configured above 3 s is not lowered to it ("less than 3 seconds").
    const rto_bounds slow_b{rto_settings{.initial_ms = 5000}};
    rto_estimator slow;
    slow.syn_timed_out();
    CHECK(slow.syn_fallback());
    CHECK(slow.rto_ms(slow_b) == 5000);
}

TEST_CASE("A zero RTT sample gives RTO = G, then the minimum", "[tcp][rto]") {
    const rto_bounds rto_b{unclamped};
    rto_estimator rto;
    rto.sample(0);
    CHECK(rto.has_sample());
    CHECK(rto.srtt_ms() == 0);
    CHECK(rto.rttvar_ms() == 0);
    CHECK(rto.rto_ms(rto_b) == 1); // max(G, 0) with G = 1 ms
    const rto_bounds clamped_b;
    rto_estimator clamped;
    clamped.sample(0);
    CHECK(clamped.rto_ms(clamped_b) == 200);
}

TEST_CASE("A huge RTT sample saturates without overflow and caps RTO at the maximum", "[tcp][rto]") {
    const rto_bounds rto_b;
    rto_estimator rto;
    rto.sample(UINT32_MAX);
    CHECK(rto.srtt_ms() == rto_estimator::max_sample_ms);
    CHECK(rto.rto_ms(rto_b) == 120000);
    rto.sample(UINT32_MAX);
    rto.sample(0);
    CHECK(rto.rto_ms(rto_b) == 120000);
    for (int i = 0; i < 200; ++i) rto.sample(10); // recovers to the small path
    // Within the fixed point's rounding (±1/2 ms) of the true 10 ms.
    CHECK(rto.srtt_eighths_ms() >= 76);
    CHECK(rto.srtt_eighths_ms() <= 84);
    CHECK(rto.rto_ms(rto_b) == 200);
}

TEST_CASE("Out-of-range settings are saturated, and valid() says so", "[tcp][rto]") {
    CHECK(rto_settings{}.valid());
    CHECK_FALSE(rto_settings{.granularity_ms = 0}.valid());
    CHECK_FALSE(rto_settings{.min_ms = 5000, .max_ms = 1000}.valid());
    CHECK_FALSE(rto_settings{.max_ms = 100'000'000}.valid());

    const rto_bounds inverted_b{rto_settings{.initial_ms = 1000, .min_ms = 5000, .max_ms = 2000}};
    const rto_estimator inverted;
    CHECK(inverted.rto_ms(inverted_b) == 2000); // the minimum is taken down to the maximum
    const rto_bounds zero_g_b{rto_settings{.initial_ms = 0, .min_ms = 0, .max_ms = 1000, .granularity_ms = 0}};
    rto_estimator zero_g;
    CHECK(zero_g.rto_ms(zero_g_b) == 1); // never a zero timeout
    zero_g.sample(0);
    CHECK(zero_g.rto_ms(zero_g_b) == 1); // G = 0 taken as 1 ms
    const rto_bounds h_b{rto_settings{.max_ms = UINT32_MAX}};
    rto_estimator h;
    for (int i = 0; i < 40; ++i) h.backoff();
    CHECK(h.rto_ms(h_b) == rto_settings::max_max_ms);
}
