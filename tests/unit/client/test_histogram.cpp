// The client's log-linear histogram: bucket bounds, relative error, percentiles and
// merging across lcores.
#include "histogram.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <sstream>
#include <string>
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

TEST_CASE("histogram: the percentile distribution is HdrHistogram's .hgrm text") {
    histogram h;
    for (std::uint64_t v = 1; v <= 10'000; ++v) h.record(v);
    const std::string text = linerate::client::percentile_distribution(h, 1000.0);
    std::istringstream in(text);
    std::string line;
    std::getline(in, line);
    CHECK(line.find("Value") != std::string::npos);
    CHECK(line.find("1/(1-Percentile)") != std::string::npos);
    std::getline(in, line);
    CHECK(line.empty());
    double last_v = -1, last_p = -1;
    std::uint64_t last_n = 0;
    int rows = 0;
    bool ended = false;
    while (std::getline(in, line) && line[0] != '#') {
        std::istringstream f(line);
        double v = 0, p = 0;
        std::uint64_t n = 0;
        f >> v >> p >> n;
        REQUIRE(f);
        // Ordered in every column, each count what lies at or below its value.
        CHECK(v >= last_v);
        CHECK(p > last_p);
        CHECK(n >= last_n);
        // Within the bucket width (1/32) of the exact percentile of 1..10000 (in ms).
        if (p < 1.0) CHECK(std::abs(v * 1000 - p * 10'000) <= p * 10'000 / 32 + 1);
        last_v = v;
        last_p = p;
        last_n = n;
        ++rows;
        ended = p == 1.0;
    }
    CHECK(ended);
    CHECK(last_n == 10'000);
    CHECK(last_v == 10.0); // the max, in ms
    // HdrHistogram's steps: 5 per halving of the distance to 100 %, so tens of lines.
    CHECK(rows > 40);
    CHECK(rows < 200);
    CHECK(line.rfind("#[Mean    =", 0) == 0);
    CHECK(line.find("5.000") != std::string::npos); // the mean of 1..10000 us, in ms (5.0005)
    std::getline(in, line);
    CHECK(line.find("Total count    =        10000") != std::string::npos);
}

TEST_CASE("histogram: an empty histogram's distribution has the header and the summary only") {
    const std::string text = linerate::client::percentile_distribution(histogram{});
    CHECK(text.find("Value") != std::string::npos);
    CHECK(text.find("Total count    =            0") != std::string::npos);
}
