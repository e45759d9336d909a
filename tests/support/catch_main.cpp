// The Catch2 main for every test binary, plus a listener that records how many test
// cases passed and failed.
//
// meson counts test executables; the project's closing line ("N passed, N failed")
// counts test cases across all suites. Each binary therefore writes its own tally to
// the file named by LINERATE_TEST_RESULT, and scripts/test adds them up.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace {

struct result_listener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;

    void testCaseEnded(Catch::TestCaseStats const &stats) override {
        if (stats.totals.testCases.failed > 0 || stats.aborting)
            ++failed_;
        else
            ++passed_;
    }

    void testRunEnded(Catch::TestRunStats const &) override {
        const char *path = std::getenv("LINERATE_TEST_RESULT");
        if (path == nullptr || *path == '\0') return;
        const std::filesystem::path p(path);
        std::error_code ec;
        std::filesystem::create_directories(p.parent_path(), ec);
        std::ofstream out(p, std::ios::trunc);
        out << "passed " << passed_ << "\nfailed " << failed_ << "\n";
    }

    unsigned passed_ = 0;
    unsigned failed_ = 0;
};

} // namespace

CATCH_REGISTER_LISTENER(result_listener)
