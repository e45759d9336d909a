// How many connections an lcore should have opened by a given time: `rate` per second,
// reached linearly over `ramp` seconds (slow start, so a server's caches and the
// peer's ARP warm up before the full rate hits them). The count is the integral of the
// rate, so pacing holds over the run even when a loop turn is late: the next turn
// opens what is due, not one.
#pragma once

#include <cstdint>

namespace linerate::client {

class pacer {
public:
    // rate: connections per second for this lcore (0: as fast as allowed); ramp_s >= 0.
    pacer(double rate, double ramp_s) noexcept : rate_(rate), ramp_(ramp_s > 0 ? ramp_s : 0) {}

    [[nodiscard]] bool unlimited() const noexcept { return rate_ <= 0; }

    // Connections due by `elapsed_us` after the start.
    [[nodiscard]] std::uint64_t due(std::uint64_t elapsed_us) const noexcept {
        const double t = static_cast<double>(elapsed_us) / 1e6;
        double n;
        if (t < ramp_)
            n = rate_ * t * t / (2 * ramp_); // the rate grows as rate*t/ramp
        else
            n = rate_ * (ramp_ / 2 + (t - ramp_));
        return static_cast<std::uint64_t>(n);
    }

    // The rate in effect at `elapsed_us`, for reports.
    [[nodiscard]] double rate_at(std::uint64_t elapsed_us) const noexcept {
        const double t = static_cast<double>(elapsed_us) / 1e6;
        return t < ramp_ ? rate_ * t / ramp_ : rate_;
    }

private:
    double rate_;
    double ramp_;
};

} // namespace linerate::client
