/// @file
/// linerate's public API in one include: a TCP endpoint on DPDK that a program embeds.
///
///   - linerate::stack starts it from a configuration file and EAL arguments, listens,
///     runs and reports counters (stack.hpp);
///   - linerate::handler is what the program writes: callbacks that run on the lcore
///     owning the connection (handler.hpp);
///   - linerate::lcore_context is what the callbacks act with: send, shutdown, close,
///     abort, connect, user data, timers (handler.hpp);
///   - the value types and linerate::error are in types.hpp.
///
/// Build a program with `g++ -std=c++20 prog.cpp $(pkg-config --cflags --libs linerate)`.
#pragma once

#include <linerate/handler.hpp>
#include <linerate/stack.hpp>
#include <linerate/types.hpp>
