// A log-linear latency histogram, as HdrHistogram lays one out: values below 64 have a
// bucket each, and every power of two above is split into 32 equal buckets, so any
// value is known to within 1/32 (3 %) of itself with a fixed array, no allocation and
// one shift and add per record. Each lcore records into its own; the summary merges
// them by adding arrays, which is why a percentile over all lcores is exact up to the
// bucket width (averaging per-lcore percentiles would not be).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace linerate::client {

class histogram {
public:
    static constexpr unsigned sub_bits = 5;                 // 32 buckets per power of two
    static constexpr std::uint64_t sub = 1u << sub_bits;
    // The largest shift is 64 - (sub_bits + 1), and its row ends at 2 * sub - 1.
    static constexpr std::size_t buckets = (64 - sub_bits + 1) * sub;

    // The bucket of v: values below 2*sub map to themselves; above, the value is shifted
    // down until it has sub_bits + 1 significant bits, and the shift picks the row.
    [[nodiscard]] static constexpr std::size_t index_of(std::uint64_t v) noexcept {
        const unsigned width = static_cast<unsigned>(std::bit_width(v));
        const unsigned shift = width > sub_bits + 1 ? width - (sub_bits + 1) : 0;
        return static_cast<std::size_t>(shift) * sub + static_cast<std::size_t>(v >> shift);
    }
    // The largest value that falls into bucket i (the value a percentile reports, so a
    // reported latency is never below the true one).
    [[nodiscard]] static constexpr std::uint64_t highest_in(std::size_t i) noexcept {
        if (i < 2 * sub) return i;
        const std::uint64_t shift = i / sub - 1;
        const std::uint64_t mantissa = i - shift * sub; // in [sub, 2*sub)
        return ((mantissa + 1) << shift) - 1;
    }

    void record(std::uint64_t v) noexcept {
        ++counts_[index_of(v)];
        ++total_;
        max_ = std::max(max_, v);
        min_ = std::min(min_, v);
        sum_ += v;
    }
    void merge(const histogram &o) noexcept {
        for (std::size_t i = 0; i < buckets; ++i) counts_[i] += o.counts_[i];
        total_ += o.total_;
        max_ = std::max(max_, o.max_);
        min_ = std::min(min_, o.min_);
        sum_ += o.sum_;
    }

    // The value at or below which a fraction p (0..1) of the records lie; 0 when empty.
    [[nodiscard]] std::uint64_t percentile(double p) const noexcept {
        if (total_ == 0) return 0;
        auto rank = static_cast<std::uint64_t>(p * static_cast<double>(total_) + 0.999999);
        rank = std::clamp<std::uint64_t>(rank, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(highest_in(i), max_);
        }
        return max_;
    }
    // Records at or below v, to the bucket: those in v's bucket count whole.
    [[nodiscard]] std::uint64_t count_at_or_below(std::uint64_t v) const noexcept {
        const std::size_t last = index_of(v);
        std::uint64_t n = 0;
        for (std::size_t i = 0; i <= last; ++i) n += counts_[i];
        return n;
    }
    [[nodiscard]] double stddev() const noexcept {
        if (total_ == 0) return 0.0;
        const double m = mean();
        double acc = 0;
        for (std::size_t i = 0; i < buckets; ++i)
            if (counts_[i] != 0) {
                const double d = static_cast<double>(std::min(highest_in(i), max_)) - m;
                acc += d * d * static_cast<double>(counts_[i]);
            }
        return std::sqrt(acc / static_cast<double>(total_));
    }
    [[nodiscard]] std::uint64_t count() const noexcept { return total_; }
    [[nodiscard]] std::uint64_t max() const noexcept { return total_ ? max_ : 0; }
    [[nodiscard]] std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
    [[nodiscard]] double mean() const noexcept {
        return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0.0;
    }

private:
    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t min_ = ~std::uint64_t{0};
    std::uint64_t sum_ = 0;
};

// The histogram as HdrHistogram's outputPercentileDistribution writes it (the .hgrm
// text its plotter and most latency tooling read): value, percentile, count at or below
// and 1/(1-percentile) per line, the percentiles stepping as HdrHistogram's do (five
// steps per halving of the distance to 100 %), then the mean, deviation, max and count.
// Values are divided by `unit_ratio` (1000: microseconds recorded, milliseconds written).
inline std::string percentile_distribution(const histogram &h, double unit_ratio = 1.0) {
    std::string out;
    char line[160];
    std::snprintf(line, sizeof line, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
                  "1/(1-Percentile)");
    out += line;
    if (h.count() != 0) {
        constexpr int ticks_per_half = 5;
        double p = 0; // percent
        for (;;) {
            const std::uint64_t v = h.percentile(p / 100);
            const std::uint64_t n = h.count_at_or_below(v);
            if (p >= 100 || n == h.count()) {
                std::snprintf(line, sizeof line, "%12.3f %1.12f %10llu\n", static_cast<double>(h.max()) / unit_ratio,
                              1.0, static_cast<unsigned long long>(h.count()));
                out += line;
                break;
            }
            std::snprintf(line, sizeof line, "%12.3f %1.12f %10llu %14.2f\n", static_cast<double>(v) / unit_ratio,
                          p / 100, static_cast<unsigned long long>(n), 1.0 / (1.0 - p / 100));
            out += line;
            // HdrHistogram's PercentileIterator: 2^k * ticks_per_half steps over the whole
            // range once the remaining distance to 100 % is below 100 / 2^(k-1).
            const double halvings = std::floor(std::log2(100.0 / (100.0 - p))) + 1;
            p += 100.0 / (ticks_per_half * std::exp2(halvings));
        }
    }
    std::snprintf(line, sizeof line, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", h.mean() / unit_ratio,
                  h.stddev() / unit_ratio);
    out += line;
    std::snprintf(line, sizeof line, "#[Max     = %12.3f, Total count    = %12llu]\n",
                  static_cast<double>(h.max()) / unit_ratio, static_cast<unsigned long long>(h.count()));
    out += line;
    std::snprintf(line, sizeof line, "#[Buckets = %12zu, SubBuckets     = %12llu]\n", histogram::buckets / histogram::sub,
                  static_cast<unsigned long long>(histogram::sub));
    out += line;
    return out;
}

} // namespace linerate::client
