// The public API on top of the engine: linerate::stack wraps engine::runtime, and each
// lcore gets one lcore_state (lcore_state.hpp): the lcore_context that the worker's
// shard hands to every handler it calls, and the engine's poller for that lcore
// (application timers, on_start, the stop flag).
//
// Design choices a reader would otherwise have to reverse-engineer:
//   - The stack adds no layer of its own between the shard and the handlers: the
//     factories' handlers are what the shard calls (a listener's for the connections it
//     accepts, connect()'s `h` for the connection it opens), and the lcore_state that
//     owns them is what they are given. The programs build the same lcore_state over
//     the same runtime.
//   - Members of stack_impl are ordered so that the runtime goes first: its destructor
//     may still deliver on_closed to the handlers, which the lcore_states own.
#include "counter_names.hpp"
#include "lcore_state.hpp"

#include <linerate/config/config.hpp>
#include <linerate/device/device.hpp>
#include <linerate/engine/runtime.hpp>
#include <linerate/stack.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace linerate {

namespace detail {

struct stack_impl {
    std::atomic<bool> stop{false};
    bool running = false;
    std::vector<std::unique_ptr<api::lcore_state>> lcores;
    // Last, so destroyed first: see the file's comment.
    std::unique_ptr<engine::runtime> rt;
};

} // namespace detail

stack::stack(const std::string &config_path, const std::vector<std::string> &eal_args, const stack_options &options)
    : impl_(std::make_unique<detail::stack_impl>()) {
    config::app_config cfg;
    try {
        cfg = config::load_file(config_path);
    } catch (const config::error &e) {
        throw error(error_kind::configuration, e.what());
    }
    if (!options.lcores.empty()) {
        std::vector<unsigned> sorted = options.lcores;
        std::sort(sorted.begin(), sorted.end());
        if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() || sorted.back() >= config::max_lcores)
            throw error(error_kind::usage, "stack_options::lcores: each lcore once, each below " +
                                               std::to_string(config::max_lcores));
        cfg.lcores = options.lcores;
    }
    try {
        impl_->rt = std::make_unique<engine::runtime>(cfg, options.program_name, eal_args);
    } catch (const device::error &e) {
        throw error(error_kind::device, e.what());
    }
    for (unsigned w = 0; w < impl_->rt->workers(); ++w)
        impl_->lcores.push_back(
            std::make_unique<api::lcore_state>(impl_->rt->lcore_of(w), options.timers_per_lcore, impl_->stop));
    impl_->rt->set_pollers([this](unsigned w) -> engine::poller * { return impl_->lcores[w].get(); });
}

stack::~stack() = default;

unsigned stack::lcores() const noexcept { return static_cast<unsigned>(impl_->lcores.size()); }

std::vector<port_info> stack::ports() const {
    std::vector<port_info> out;
    for (const auto &p : impl_->rt->ports()) out.push_back(port_info{p.name, p.device_name, p.mac, p.address});
    return out;
}

void stack::listen(std::uint16_t port, const handler_factory &factory) {
    if (impl_->running) throw error(error_kind::usage, "listen() while the stack runs");
    std::vector<handler *> handlers;
    for (unsigned w = 0; w < lcores(); ++w) {
        std::unique_ptr<handler> h = factory(w);
        if (!h) throw error(error_kind::usage, "listen(): the factory made no handler for lcore " + std::to_string(w));
        handlers.push_back(&impl_->lcores[w]->adopt(std::move(h)));
    }
    if (!impl_->rt->listen(port, [&](unsigned w) -> handler & { return *handlers[w]; }))
        throw error(error_kind::usage, "cannot listen on port " + std::to_string(port) +
                                           ": it is taken or the listener table is full");
}

void stack::attach(const handler_factory &factory) {
    if (impl_->running) throw error(error_kind::usage, "attach() while the stack runs");
    for (unsigned w = 0; w < lcores(); ++w) {
        std::unique_ptr<handler> h = factory(w);
        if (!h) throw error(error_kind::usage, "attach(): the factory made no handler for lcore " + std::to_string(w));
        impl_->lcores[w]->adopt(std::move(h));
    }
}

void stack::run(std::chrono::milliseconds duration) {
    static const std::atomic<bool> never{false};
    run(never, duration);
}

void stack::run(const std::atomic<bool> &stop_flag, std::chrono::milliseconds duration) {
    auto &d = *impl_;
    if (d.running) throw error(error_kind::usage, "run() while the stack runs");
    d.running = true;
    for (auto &l : d.lcores) l->watch(&stop_flag);
    struct done {
        detail::stack_impl &d;
        ~done() {
            for (auto &l : d.lcores) l->watch(nullptr);
            // A stop that came while running has been served; the next run() starts afresh.
            d.stop.store(false, std::memory_order_relaxed);
            d.running = false;
        }
    } guard{d};
    engine::run_options ro;
    ro.duration_ms = static_cast<std::uint64_t>(std::max<std::chrono::milliseconds::rep>(duration.count(), 0));
    d.rt->run(d.stop, ro);
}

void stack::stop() noexcept { impl_->stop.store(true, std::memory_order_relaxed); }

std::map<std::string, std::uint64_t> stack::counters() const {
    api::counter_map out;
    for (const auto &w : impl_->rt->snapshot())
        api::add_counters(out, w.engine, w.tcp, w.flow, impl_->lcores[w.worker]->read_counters());
    // The devices' counts are per port, not per lcore.
    api::add_counters(out, impl_->rt->port_counters(), tcp::counters{}, flow::shard_counters{}, api::api_counters{});
    return out;
}

} // namespace linerate
