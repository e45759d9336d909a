// The public API on top of the engine: linerate::stack wraps engine::runtime, and each
// lcore gets one lcore_state that is at once the lcore_context handed to handlers, the
// engine's poller for that lcore (application timers, on_start, the stop flag) and the
// flow::application of the connections opened with connect().
//
// Design choices a reader would otherwise have to reverse-engineer:
//   - The shard calls one flow::application per connection, fixed when the
//     connection is made. Accepted connections get a listener_app (one per listen()
//     per lcore) that knows its handler, so forwarding costs no lookup. Connections
//     from connect() may each name a different handler, so lcore_state keeps a handler
//     pointer per connection id, an array sized at start from [tcp] max_connections:
//     connect() then allocates nothing.
//   - The engine has no start hook for applications; its poller runs once per loop
//     turn after the received packets. on_start therefore runs at the first poll,
//     which comes before any connection can have completed a handshake (the SYN-ACK
//     leaves at the end of the first turn at the earliest).
//   - The engine watches one stop flag. It watches the stack's own; when run() is
//     given the program's flag too, each poll copies it over (one relaxed load a turn).
//   - Members of stack_impl are ordered so that the runtime goes first: its destructor
//     may still deliver on_closed to the handlers.
#include "counter_names.hpp"
#include "timer_table.hpp"

#include <linerate/config/config.hpp>
#include <linerate/device/device.hpp>
#include <linerate/engine/runtime.hpp>
#include <linerate/flow/shard.hpp>
#include <linerate/stack.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace linerate {
namespace api {
namespace {

// The public enums mirror the core's; the casts below rely on equal values.
static_assert(static_cast<int>(close_reason::normal) == static_cast<int>(tcp::close_reason::normal));
static_assert(static_cast<int>(close_reason::reset) == static_cast<int>(tcp::close_reason::reset));
static_assert(static_cast<int>(close_reason::refused) == static_cast<int>(tcp::close_reason::refused));
static_assert(static_cast<int>(close_reason::timeout) == static_cast<int>(tcp::close_reason::timeout));
static_assert(static_cast<int>(close_reason::aborted) == static_cast<int>(tcp::close_reason::aborted));

connect_error to_public(engine::connect_error e) noexcept {
    switch (e) {
    case engine::connect_error::no_route: return connect_error::no_route;
    case engine::connect_error::no_source: return connect_error::no_source;
    case engine::connect_error::no_memory: return connect_error::no_memory;
    }
    return connect_error::no_memory;
}

// A word the owner writes with plain stores, read from another thread: each word is
// loaded atomically (relaxed), as the engine reads its counters (see relaxed_copy in
// runtime.cpp); no ordering with anything else is needed.
std::uint64_t read_word(const std::uint64_t &w) noexcept { return __atomic_load_n(&w, __ATOMIC_RELAXED); }

std::span<const std::uint8_t> as_u8(std::span<const std::byte> b) noexcept {
    return {reinterpret_cast<const std::uint8_t *>(b.data()), b.size()};
}

class lcore_state;

// The application of one listener on one lcore: forwards to the handler made for it.
class listener_app final : public flow::application {
public:
    listener_app(lcore_state &ls, handler &h) noexcept : ls_(ls), h_(h) {}

    void on_accepted(flow::shard &s, flow::conn_id id) override;
    void on_connected(flow::shard &s, flow::conn_id id) override;
    void on_data(flow::shard &s, flow::conn_id id, std::span<const std::uint8_t> d) override;
    void on_writable(flow::shard &s, flow::conn_id id) override;
    void on_peer_closed(flow::shard &s, flow::conn_id id) override;
    void on_closed(flow::shard &s, flow::conn_id id, tcp::close_reason why) override;

private:
    lcore_state &ls_;
    handler &h_;
};

class lcore_state final : public lcore_context, public engine::poller, public flow::application {
public:
    lcore_state(unsigned index, std::uint32_t connections, std::uint32_t timers, std::atomic<bool> &stop)
        : index_(index), conn_handler_(connections, nullptr), timers_(timers), stop_(stop) {}

    // Set-up, on the owning thread before run().
    listener_app &adopt_listener(std::unique_ptr<handler> h) {
        handler &ref = adopt(std::move(h));
        listeners_.push_back(std::make_unique<listener_app>(*this, ref));
        return *listeners_.back();
    }
    handler &adopt(std::unique_ptr<handler> h) {
        owned_.push_back(std::move(h));
        return *owned_.back();
    }
    void watch(const std::atomic<bool> *user_stop) noexcept { user_stop_ = user_stop; }

    // The counters, read from any thread.
    [[nodiscard]] api_counters read_counters() const noexcept {
        const timer_stats &t = timers_.stats();
        return api_counters{read_word(t.fired), read_word(t.full), read_word(connect_failed_)};
    }

    // Every callback names the shard; remembering it here makes the context usable
    // from that callback on (the poll sets it too, at the start of each turn).
    void bind(flow::shard &s) noexcept { shard_ = &s; }

    // engine::poller
    void poll(engine::lcore &l) noexcept override {
        lc_ = &l;
        shard_ = &l.tcp();
        if (user_stop_ != nullptr && user_stop_->load(std::memory_order_relaxed))
            stop_.store(true, std::memory_order_relaxed);
        // First, so that the wheel's clock is current before on_start arms timers.
        timers_.advance(l.now_us(), [this](handler &h, std::uint64_t cookie) { h.on_timer(*this, cookie); });
        while (started_ < owned_.size()) owned_[started_++]->on_start(*this);
    }

    // lcore_context
    unsigned index() const noexcept override { return index_; }
    unsigned lcore_id() const noexcept override { return lc_ != nullptr ? lc_->lcore_id() : 0; }
    std::uint64_t now_us() const noexcept override { return lc_ != nullptr ? lc_->now_us() : 0; }

    std::size_t send(conn c, std::span<const std::byte> bytes) noexcept override {
        return live(c) ? shard_->send(c.id, as_u8(bytes)) : 0;
    }
    using lcore_context::send;
    std::size_t send_space(conn c) const noexcept override {
        return live(c) ? shard_->connection(c.id).send_space(shard_->settings()) : 0;
    }
    void shutdown(conn c) noexcept override {
        if (live(c)) shard_->shutdown(c.id);
    }
    void close(conn c) noexcept override {
        if (live(c)) shard_->close(c.id);
    }
    void abort(conn c) noexcept override {
        if (live(c)) shard_->abort(c.id);
    }
    std::uint64_t &user_data(conn c) noexcept override {
        if (live(c)) return shard_->user(c.id);
        scratch_ = 0; // a stale id gets a word of its own rather than another connection's
        return scratch_;
    }
    endpoint local(conn c) const noexcept override {
        if (!live(c)) return {};
        const auto &t = shard_->connection(c.id).tuple();
        return endpoint{ipv4_address{t.local_ip.value}, t.local_port};
    }
    endpoint remote(conn c) const noexcept override {
        if (!live(c)) return {};
        const auto &t = shard_->connection(c.id).tuple();
        return endpoint{ipv4_address{t.remote_ip.value}, t.remote_port};
    }

    connect_result connect(ipv4_address address, std::uint16_t port, handler &h, std::uint64_t user) noexcept override {
        if (lc_ == nullptr) {
            ++connect_failed_;
            return {conn{}, connect_error::not_running};
        }
        engine::connect_error why{};
        // Should the shard call back before connect() returns the id, the handler is
        // found here.
        connecting_ = &h;
        const auto id = lc_->connect(ipv4_addr{address.value}, port, *this, user, &why);
        connecting_ = nullptr;
        if (!id) {
            ++connect_failed_;
            return {conn{}, to_public(why)};
        }
        // A connection the shard already closed within connect() (its on_closed has
        // run) must not leave an entry behind for the next user of its id.
        if (shard_ != nullptr && shard_->in_use(*id)) conn_handler_[*id] = &h;
        return {conn{*id}, connect_error::none};
    }

    timer_id schedule(std::uint64_t delay_us, handler &h, std::uint64_t cookie) noexcept override {
        return timers_.schedule(now_us(), delay_us, h, cookie);
    }
    bool cancel(timer_id t) noexcept override { return timers_.cancel(t); }
    void stop_stack() noexcept override { stop_.store(true, std::memory_order_relaxed); }

    // flow::application, for the connections of connect()
    void on_connected(flow::shard &s, flow::conn_id id) override {
        bind(s);
        if (handler *h = handler_of(id)) h->on_connected(*this, conn{id});
    }
    void on_accepted(flow::shard &s, flow::conn_id id) override { // never: listeners have their own app
        bind(s);
        if (handler *h = handler_of(id)) h->on_accepted(*this, conn{id});
    }
    void on_data(flow::shard &s, flow::conn_id id, std::span<const std::uint8_t> d) override {
        bind(s);
        if (handler *h = handler_of(id)) h->on_data(*this, conn{id}, std::as_bytes(d));
    }
    void on_writable(flow::shard &s, flow::conn_id id) override {
        bind(s);
        if (handler *h = handler_of(id)) h->on_writable(*this, conn{id});
    }
    void on_peer_closed(flow::shard &s, flow::conn_id id) override {
        bind(s);
        if (handler *h = handler_of(id)) h->on_peer_closed(*this, conn{id});
    }
    void on_closed(flow::shard &s, flow::conn_id id, tcp::close_reason why) override {
        bind(s);
        if (handler *h = handler_of(id)) h->on_closed(*this, conn{id}, static_cast<close_reason>(why));
        if (id < conn_handler_.size()) conn_handler_[id] = nullptr;
    }

private:
    [[nodiscard]] bool live(conn c) const noexcept { return shard_ != nullptr && shard_->in_use(c.id); }
    [[nodiscard]] handler *handler_of(flow::conn_id id) const noexcept {
        handler *h = id < conn_handler_.size() ? conn_handler_[id] : nullptr;
        return h != nullptr ? h : connecting_;
    }

    unsigned index_;
    engine::lcore *lc_ = nullptr;
    flow::shard *shard_ = nullptr;
    std::vector<handler *> conn_handler_;
    handler *connecting_ = nullptr;
    timer_table timers_;
    std::uint64_t connect_failed_ = 0;
    std::uint64_t scratch_ = 0;
    std::atomic<bool> &stop_;
    const std::atomic<bool> *user_stop_ = nullptr;
    std::vector<std::unique_ptr<handler>> owned_;
    std::size_t started_ = 0;
    std::vector<std::unique_ptr<listener_app>> listeners_;
};

void listener_app::on_accepted(flow::shard &s, flow::conn_id id) {
    ls_.bind(s);
    h_.on_accepted(ls_, conn{id});
}
void listener_app::on_connected(flow::shard &s, flow::conn_id id) {
    ls_.bind(s);
    h_.on_connected(ls_, conn{id});
}
void listener_app::on_data(flow::shard &s, flow::conn_id id, std::span<const std::uint8_t> d) {
    ls_.bind(s);
    h_.on_data(ls_, conn{id}, std::as_bytes(d));
}
void listener_app::on_writable(flow::shard &s, flow::conn_id id) {
    ls_.bind(s);
    h_.on_writable(ls_, conn{id});
}
void listener_app::on_peer_closed(flow::shard &s, flow::conn_id id) {
    ls_.bind(s);
    h_.on_peer_closed(ls_, conn{id});
}
void listener_app::on_closed(flow::shard &s, flow::conn_id id, tcp::close_reason why) {
    ls_.bind(s);
    h_.on_closed(ls_, conn{id}, static_cast<close_reason>(why));
}

} // namespace
} // namespace api

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
        impl_->lcores.push_back(std::make_unique<api::lcore_state>(w, cfg.tcp.max_connections,
                                                                    options.timers_per_lcore, impl_->stop));
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
    std::vector<api::listener_app *> apps;
    for (unsigned w = 0; w < lcores(); ++w) {
        std::unique_ptr<handler> h = factory(w);
        if (!h) throw error(error_kind::usage, "listen(): the factory made no handler for lcore " + std::to_string(w));
        apps.push_back(&impl_->lcores[w]->adopt_listener(std::move(h)));
    }
    if (!impl_->rt->listen(port, [&](unsigned w) -> flow::application & { return *apps[w]; }))
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
    return out;
}

} // namespace linerate
