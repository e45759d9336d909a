/* What perf/cps's kernel client and server share: the four cases, pinning to one CPU,
 * and descriptors enough for every connection. Header-only: two small programs, no
 * library between them. */
#ifndef LINERATE_PERF_CPS_COMMON_H
#define LINERATE_PERF_CPS_COMMON_H

#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { request_size = 16, response_size = 64 };

/* Who closes first, or no data at all: the same cases as linerate's side. `tiny` is
 * server-close with a 1-byte request and a 1-byte response, the smallest exchange. */
enum mode { server_close, client_close, no_data, tiny };

static inline int request_bytes(enum mode m) { return m == tiny ? 1 : request_size; }
static inline int response_bytes(enum mode m) { return m == tiny ? 1 : response_size; }

/* 0 and *out set when `name` is a case, -1 otherwise. */
static inline int parse_mode(const char *name, enum mode *out) {
    if (strcmp(name, "server-close") == 0)
        *out = server_close;
    else if (strcmp(name, "client-close") == 0)
        *out = client_close;
    else if (strcmp(name, "no-data") == 0)
        *out = no_data;
    else if (strcmp(name, "tiny") == 0)
        *out = tiny;
    else
        return -1;
    return 0;
}

/* The benchmark's point is the same two cores for both stacks: a program that cannot
 * pin itself says so and stops rather than measure something else. */
static inline int pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        perror("sched_setaffinity");
        return -1;
    }
    return 0;
}

/* Raises the descriptor limit to the hard limit (one descriptor per connection) and
 * returns the limit now in force. */
static inline rlim_t raise_nofile(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

/* SIGINT and SIGTERM ask the loop to end at its next turn. */
static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
