// The client's log-linear histogram: bucket bounds, relative error, percentiles and
// merging across lcores.
#include "histogram.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <vector>

using linerate::client::histogram;

TEST_CASE("histogram: values below 64 have a bucket each") {
    for (std::uint64_t v = 0; v < 64; ++v) {
        CHECK(histogram::index_of(v) == v);
        CHECK(histogram::highest_in(histogram::index_of(v)) == v);
    }
}

TEST_CASE("histogram: buckets are contiguous, ordered, and within 1/32 of their values") {
    std::uint64_t prev_high = 63;
    for (std::size_t i = 64; i < 40 * histogram::sub; ++i) {
        const std::uint64_t high = histogram::highest_in(i);
        const std::uint64_t low = prev_high + 1;
        CHECK(histogram::index_of(low) == i);
        CHECK(histogram::index_of(high) == i);
        // The width of a bucket is at most 1/32 of its lowest value.
        CHECK((high - low + 1) * 32 <= low);
        prev_high = high;
    }
    CHECK(histogram::index_of(~std::uint64_t{0}) < histogram::buckets);
}

TEST_CASE("histogram: percentiles of a uniform sample are within the bucket error") {
    histogram h;
    for (std::uint64_t v = 1; v <= 100'000; ++v) h.record(v);
    CHECK(h.count() == 100'000);
    CHECK(h.max() == 100'000);
    CHECK(h.min() == 1);
    for (const double p : {0.5, 0.9, 0.99, 0.999}) {
        const double exact = p * 100'000;
        const auto got = static_cast<double>(h.percentile(p));
        CHECK(got >= exact);          // never below the true value
        CHECK(got <= exact * 1.0313); // and at most one bucket (1/32) above
    }
    CHECK(h.percentile(1.0) == 100'000);
    CHECK(h.mean() == Approx(50'000.5));
}

TEST_CASE("histogram: an empty one reports zeros") {
    const histogram h;
    CHECK(h.count() == 0);
    CHECK(h.percentile(0.99) == 0);
    CHECK(h.max() == 0);
    CHECK(h.min() == 0);
}

TEST_CASE("histogram: merging per-lcore histograms equals recording everything in one") {
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> latency(5.0, 1.5); // a long tail, as latencies have
    histogram all, a, b;
    for (int i = 0; i < 50'000; ++i) {
        const auto v = static_cast<std::uint64_t>(latency(rng));
        all.record(v);
        (i % 3 == 0 ? a : b).record(v);
    }
    histogram merged;
    merged.merge(a);
    merged.merge(b);
    CHECK(merged.count() == all.count());
    CHECK(merged.max() == all.max());
    CHECK(merged.min() == all.min());
    for (const double p : {0.5, 0.9, 0.99, 0.999}) CHECK(merged.percentile(p) == all.percentile(p));
}
