/// @file
/// What an embedding program writes (a handler: callbacks for its connections and
/// timers) and what it is given to act with (an lcore_context: send, close, connect,
/// timers, on the lcore that runs the callback).
///
/// The threading model is DPDK's run-to-completion one: every lcore runs one loop that
/// owns its connections, and every callback about a connection runs on that loop, on
/// that lcore, one at a time. A handler is created for one lcore (see stack::listen)
/// and is only ever called there, so it needs no lock and may keep plain per-lcore
/// state. Callbacks must not block (the lcore's packets wait meanwhile) and must not
/// throw (the loop cannot unwind through the TCP core: std::terminate is called).
///
/// Nothing stands between the TCP core and a handler: the lcore's share of the TCP
/// state calls each connection's handler directly, once the segment behind the
/// callback has been processed (so a callback may send, close or connect at once).
/// linerate's own programs are written as handlers on the same lcore_context.
#pragma once

#include <linerate/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace linerate {

class lcore_context;

/// The application's side of connections and timers on one lcore.
///
/// Override what you need; the others do nothing. Every callback gets the lcore_context
/// of the lcore it runs on, through which it may send, close, abort, connect and arm
/// timers, including on connections other than the one it is about.
class handler {
public:
    /// A handler holds no connection of its own; the stack or the program owns it.
    handler() = default;
    /// Connections and timers refer to a handler by address: it is not copied.
    handler(const handler &) = delete;
    /// Not assignable, for the same reason.
    handler &operator=(const handler &) = delete;
    /// Destroyed by its owner after the stack stopped calling it.
    virtual ~handler();

    /// Once per handler made by a factory (stack::listen, stack::attach), on its lcore,
    /// when run() starts that lcore's loop: the place to open connections and arm the
    /// first timers.
    virtual void on_start(lcore_context &ctx) { (void)ctx; }

    /// A connection to a listening port reached ESTABLISHED. Its user data is 0.
    virtual void on_accepted(lcore_context &ctx, conn c) { (void)ctx, (void)c; }

    /// A connection opened with lcore_context::connect reached ESTABLISHED.
    virtual void on_connected(lcore_context &ctx, conn c) { (void)ctx, (void)c; }

    /// In-order bytes from the peer.
    ///
    /// `payload` points into the received packet itself (no copy was made): it is
    /// valid during this call only. Keep what you need by copying it (send() copies
    /// what it takes). Received bytes count as read once this returns: the receive
    /// window does not wait for the application.
    virtual void on_data(lcore_context &ctx, conn c, std::span<const std::byte> payload) {
        (void)ctx, (void)c, (void)payload;
    }

    /// send() took fewer bytes than offered, and there is room again.
    virtual void on_writable(lcore_context &ctx, conn c) { (void)ctx, (void)c; }

    /// The peer closed its side (its FIN arrived): no more data will come. Sending is
    /// still possible; most servers call close() here.
    virtual void on_peer_closed(lcore_context &ctx, conn c) { (void)ctx, (void)c; }

    /// The connection is gone. The last callback for `c`: afterwards the same id may
    /// name another connection. Also called when a connect() never got through
    /// (close_reason::refused or timeout), and for every connection still open when
    /// the stack stops (close_reason::aborted).
    virtual void on_closed(lcore_context &ctx, conn c, close_reason why) { (void)ctx, (void)c, (void)why; }

    /// A timer armed with lcore_context::schedule(delay, *this, cookie) expired.
    virtual void on_timer(lcore_context &ctx, std::uint64_t cookie) { (void)ctx, (void)cookie; }
};

/// One lcore, as the callbacks that run on it see it.
///
/// Every call acts on this lcore's connections only, and must be made on this lcore
/// (from a callback it is running). None allocates, locks or blocks. Calls on a
/// connection after its on_closed are ignored (or, if its id was reused meanwhile,
/// act on the new connection: keep ids only until on_closed).
///
/// An abstract interface so that a handler can be unit-tested against a fake.
class lcore_context {
public:
    /// This lcore's position among the stack's lcores: 0 .. stack::lcores() - 1.
    [[nodiscard]] virtual unsigned index() const noexcept = 0;

    /// The EAL lcore id this loop runs on.
    [[nodiscard]] virtual unsigned lcore_id() const noexcept = 0;

    /// Microseconds on this lcore's clock, read once per loop turn (the time the TCP
    /// core and the timers use). Monotonic; its epoch is arbitrary.
    [[nodiscard]] virtual std::uint64_t now_us() const noexcept = 0;

    /// Queues bytes on the connection's send stream and returns how many it took
    /// (copied, so `bytes` may go as soon as this returns). Fewer than offered when
    /// the send buffer (`[tcp] send_buffer`) or the packet pool is short: then
    /// handler::on_writable follows when there is room again.
    virtual std::size_t send(conn c, std::span<const std::byte> bytes) noexcept = 0;

    /// send() for text.
    std::size_t send(conn c, std::string_view text) noexcept {
        return send(c, std::span<const std::byte>(reinterpret_cast<const std::byte *>(text.data()), text.size()));
    }

    /// How many bytes send() would take now, as far as the send buffer goes.
    [[nodiscard]] virtual std::size_t send_space(conn c) const noexcept = 0;

    /// Closes the sending side once the queued bytes are out (a FIN follows them);
    /// receiving goes on until the peer closes.
    virtual void shutdown(conn c) noexcept = 0;

    /// shutdown(), and the application reads no more: data that still arrives resets
    /// the connection, and a peer that never closes is timed out (FIN-WAIT-2).
    virtual void close(conn c) noexcept = 0;

    /// Resets the connection now (RST); on_closed(aborted) follows at once.
    virtual void abort(conn c) noexcept = 0;

    /// The connection's user word: 64 bits that the application owns, kept beside the
    /// connection (0 when accepted; connect()'s `user` when opened). Valid until
    /// on_closed returns.
    [[nodiscard]] virtual std::uint64_t &user_data(conn c) noexcept = 0;

    /// This side's address and port of the connection.
    [[nodiscard]] virtual endpoint local(conn c) const noexcept = 0;

    /// The peer's address and port.
    [[nodiscard]] virtual endpoint remote(conn c) const noexcept = 0;

    /// Opens a connection to `address`:`port` from this lcore, with `h` as its handler
    /// (on this lcore: usually the calling handler itself) and `user` as its user word.
    /// The source port is chosen so that the peer's packets come back to this lcore.
    /// handler::on_connected follows when the handshake completes, or on_closed when
    /// it fails. `h` must outlive the connection.
    virtual connect_result connect(ipv4_address address, std::uint16_t port, handler &h,
                                   std::uint64_t user) noexcept = 0;

    /// Arms a timer: `h.on_timer(ctx, cookie)` runs on this lcore once `delay_us`
    /// microseconds have passed from now_us(). Never early; late by at most one
    /// loop turn plus 13 % of the delay (the timer wheel rounds up; delays up to 64 us
    /// are exact). Timers come from a pool sized at start
    /// (stack_options::timers_per_lcore): when it is empty the returned id is not
    /// valid() and the counter AppTimersFull counts it.
    virtual timer_id schedule(std::uint64_t delay_us, handler &h, std::uint64_t cookie) noexcept = 0;

    /// Disarms a timer; false when it already fired or was cancelled.
    virtual bool cancel(timer_id t) noexcept = 0;

    /// Asks every lcore's loop to stop, as stack::stop does.
    virtual void stop_stack() noexcept = 0;

protected:
    /// Not deleted through this interface: the stack owns it.
    ~lcore_context() = default;
};

} // namespace linerate
