// kernel_client: the Linux kernel's side of perf/cps, the client that linerate-client is
// measured against. It keeps exactly --concurrency connections in flight, each doing
// what the case asks (the bytes linerate-client sends with --request-size 16
// --response-size 64), and reports completed connections per second.
//
//   kernel_client --targets A-B --port P --cpu N --concurrency C --duration S
//                 --mode server-close|client-close|no-data|tiny --json FILE [--drain-timeout S]
//
// One thread pinned to one CPU, non-blocking connect() and one edge-triggered epoll
// registration per connection (EPOLLIN | EPOLLOUT), so a connection costs one
// epoll_ctl and is driven until it would block on every event.
//
// The destination cycles over the addresses A-B. Linux picks the ephemeral port per
// destination 4-tuple, so N addresses give N times the port range before a connect()
// finds no free port (EADDRNOTAVAIL) or lands on a TIME-WAIT entry: with 254
// addresses and 64 K ports, about 16 M connections, far above what 10 s can open.
//
// Never hangs: opening stops at --duration, what is still in flight gets
// --drain-timeout seconds, and whatever is left then is counted as unfinished.
// Exit status: 0 when no connection failed, 1 when some did, 2 on bad options.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

enum phase { empty, connecting, reading_response, waiting_eof };

// A slot holds one connection at a time. `generation` tells a stale epoll event (for
// the slot's previous connection, already closed in the same epoll_wait batch) from a
// live one.
struct slot {
    int fd;
    uint32_t generation;
    uint8_t phase;
    uint8_t got;
};

enum error_kind {
    err_refused,         // ECONNREFUSED: RST in answer to the SYN
    err_reset,           // ECONNRESET or EPIPE after the handshake
    err_addr_not_avail,  // EADDRNOTAVAIL: no ephemeral port free for the destination
    err_timeout,         // ETIMEDOUT
    err_short_response,  // EOF before the 64 bytes
    err_unexpected_data, // bytes after the response, where only EOF should come
    err_unfinished,      // still in flight when the drain timeout ran out
    err_other,
    err_count
};
static const char *const error_names[err_count] = {"refused",        "reset",           "addr_not_avail", "timeout",
                                                   "short_response", "unexpected_data", "unfinished",     "other"};

static struct {
    uint64_t attempted, completed, failed, errors[err_count];
} stats;

static struct slot *slots;
static int epfd;
static enum mode run_mode;
static uint32_t first_target, n_targets, next_target;
static uint16_t port;
static double started, opening_until;
static int opening = 1;
static uint64_t in_flight;
// Completions per whole second since the start, for the rows.
static uint64_t *per_second;
static size_t n_seconds;
static double now_cached;

static void usage(void) {
    fprintf(stderr, "usage: kernel_client --targets A-B --port P --cpu N --concurrency C --duration S "
                    "--mode server-close|client-close|no-data|tiny --json FILE [--drain-timeout S]\n");
    exit(2);
}

static int kind_of(int e) {
    switch (e) {
    case ECONNREFUSED: return err_refused;
    case ECONNRESET:
    case EPIPE: return err_reset;
    case EADDRNOTAVAIL: return err_addr_not_avail;
    case ETIMEDOUT: return err_timeout;
    default: return err_other;
    }
}

static void count_other(int e) {
    // The first few unexpected errno values are worth seeing by name.
    static int shown;
    if (shown++ < 5) fprintf(stderr, "kernel_client: error %d (%s)\n", e, strerror(e));
}

// Ends the slot's connection; kind < 0 means completed.
static void finish(struct slot *s, int kind) {
    if (kind < 0) {
        ++stats.completed;
        const size_t sec = (size_t)(now_cached - started);
        if (sec < n_seconds) ++per_second[sec];
    } else {
        ++stats.failed;
        ++stats.errors[kind];
    }
    // close() drops the fd from the epoll set too.
    close(s->fd);
    s->fd = -1;
    s->phase = empty;
    --in_flight;
}

static void open_one(struct slot *s, uint32_t index) {
    ++stats.attempted;
    ++in_flight;
    ++s->generation;
    s->got = 0;
    s->phase = connecting;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0) {
        const int e = errno;
        ++stats.failed;
        ++stats.errors[kind_of(e)];
        if (kind_of(e) == err_other) count_other(e);
        s->phase = empty;
        --in_flight;
        return;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(first_target + next_target)};
    if (++next_target == n_targets) next_target = 0;
    if (connect(s->fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS) {
        const int e = errno;
        if (kind_of(e) == err_other) count_other(e);
        finish(s, kind_of(e));
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)s->generation << 32 | index};
    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

// Runs one connection until it would block or ends.
// A read that returned -1: nothing yet (edge-triggered epoll will say when), or the
// connection failed and is counted by kind.
static void read_failed(struct slot *s) {
    if (errno == EAGAIN || errno == EINTR) return;
    const int e = errno;
    if (kind_of(e) == err_other) count_other(e);
    finish(s, kind_of(e));
}

static void drive(struct slot *s, uint32_t events) {
    char buf[256];
    for (;;) {
        if (s->phase == connecting) {
            if (events & (EPOLLERR | EPOLLHUP)) {
                int e = 0;
                socklen_t len = sizeof e;
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &len);
                if (e == 0) e = ECONNRESET;
                if (kind_of(e) == err_other) count_other(e);
                finish(s, kind_of(e));
                return;
            }
            if (!(events & EPOLLOUT)) return;
            if (run_mode == no_data) {
                // Connected: close at once, so TIME-WAIT is here.
                finish(s, -1);
                return;
            }
            static const char request[request_size] = "0123456789abcdef";
            // 16 bytes at most into an empty send buffer: never short.
            const ssize_t n = write(s->fd, request, (size_t)request_bytes(run_mode));
            if (n != request_bytes(run_mode)) {
                const int e = n < 0 ? errno : EIO;
                if (kind_of(e) == err_other) count_other(e);
                finish(s, kind_of(e));
                return;
            }
            s->phase = reading_response;
        } else if (s->phase == reading_response) {
            const ssize_t n = read(s->fd, buf, (size_t)(response_bytes(run_mode) - s->got));
            if (n < 0) {
                read_failed(s);
                return;
            }
            if (n == 0) {
                finish(s, err_short_response);
                return;
            }
            s->got = (uint8_t)(s->got + n);
            if (s->got < response_bytes(run_mode)) continue;
            if (run_mode == client_close) {
                // The client closes first: TIME-WAIT is here.
                finish(s, -1);
                return;
            }
            s->phase = waiting_eof;
        } else if (s->phase == waiting_eof) {
            const ssize_t n = read(s->fd, buf, sizeof buf);
            if (n < 0) {
                read_failed(s);
                return;
            }
            finish(s, n == 0 ? -1 : err_unexpected_data);
            return;
        } else {
            return;
        }
    }
}

static int parse_targets(const char *arg) {
    char a[32], b[32];
    const char *dash = strchr(arg, '-');
    struct in_addr ia, ib;
    if (dash == NULL) {
        if (strlen(arg) >= sizeof a) return -1;
        strcpy(a, arg);
        strcpy(b, arg);
    } else {
        const size_t la = (size_t)(dash - arg);
        if (la >= sizeof a || strlen(dash + 1) >= sizeof b) return -1;
        memcpy(a, arg, la);
        a[la] = 0;
        strcpy(b, dash + 1);
    }
    if (inet_pton(AF_INET, a, &ia) != 1 || inet_pton(AF_INET, b, &ib) != 1) return -1;
    first_target = ntohl(ia.s_addr);
    if (ntohl(ib.s_addr) < first_target) return -1;
    n_targets = ntohl(ib.s_addr) - first_target + 1;
    return 0;
}

int main(int argc, char **argv) {
    int cpu = -1, p = -1;
    long concurrency = 0;
    double duration = -1, drain_timeout = 5;
    const char *mode = NULL, *json = NULL, *targets = NULL;
    static const struct option longopts[] = {{"targets", required_argument, NULL, 't'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"cpu", required_argument, NULL, 'c'},
                                             {"concurrency", required_argument, NULL, 'n'},
                                             {"duration", required_argument, NULL, 'd'},
                                             {"mode", required_argument, NULL, 'm'},
                                             {"json", required_argument, NULL, 'j'},
                                             {"drain-timeout", required_argument, NULL, 'D'},
                                             {NULL, 0, NULL, 0}};
    for (int o; (o = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        switch (o) {
        case 't': targets = optarg; break;
        case 'p': p = atoi(optarg); break;
        case 'c': cpu = atoi(optarg); break;
        case 'n': concurrency = atol(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'm': mode = optarg; break;
        case 'j': json = optarg; break;
        case 'D': drain_timeout = atof(optarg); break;
        default: usage();
        }
    }
    if (optind != argc || targets == NULL || parse_targets(targets) != 0 || p <= 0 || p > 65535 || cpu < 0 ||
        concurrency <= 0 || concurrency > (1 << 20) || duration <= 0 || duration > 86400 || mode == NULL ||
        json == NULL || drain_timeout < 0 || drain_timeout > 3600)
        usage();
    port = (uint16_t)p;
    if (parse_mode(mode, &run_mode) != 0) usage();

    if (pin_to_cpu(cpu) != 0) return 2;
    const rlim_t nofile = raise_nofile();
    if (nofile < (rlim_t)concurrency + 16) {
        fprintf(stderr, "kernel_client: --concurrency %ld needs more descriptors than RLIMIT_NOFILE (%llu)\n",
                concurrency, (unsigned long long)nofile);
        return 2;
    }

    n_seconds = (size_t)(duration + drain_timeout) + 2;
    slots = calloc((size_t)concurrency, sizeof *slots);
    per_second = calloc(n_seconds, sizeof *per_second);
    epfd = epoll_create1(0);
    if (slots == NULL || per_second == NULL || epfd < 0) {
        perror("kernel_client");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    started = now_cached = now_s();
    opening_until = started + duration;
    double opening_ended = 0, drain_until = 0;
    struct epoll_event events[256];
    for (;;) {
        now_cached = now_s();
        if (opening && (stop_requested || now_cached >= opening_until)) {
            opening = 0;
            opening_ended = now_cached;
            drain_until = now_cached + drain_timeout;
        }
        if (!opening && (in_flight == 0 || stop_requested || now_cached >= drain_until)) break;
        // Refill every empty slot (at start, and after a connect() that failed at once).
        int any_empty = 0;
        if (opening && in_flight < (uint64_t)concurrency)
            for (uint32_t i = 0; i < (uint32_t)concurrency; ++i)
                if (slots[i].phase == empty) {
                    open_one(&slots[i], i);
                    any_empty |= slots[i].phase == empty;
                }
        // A bounded wait: the clock is read every turn. A slot whose connect() failed at
        // once (no port free) is retried after 1 ms rather than at full speed.
        const int n = epoll_wait(epfd, events, 256, any_empty ? 1 : 10);
        now_cached = now_s();
        for (int i = 0; i < n; ++i) {
            const uint32_t index = (uint32_t)events[i].data.u64;
            struct slot *s = &slots[index];
            if (s->phase == empty || s->generation != (uint32_t)(events[i].data.u64 >> 32)) continue;
            drive(s, events[i].events);
            // The slot is refilled at once, so exactly C stay in flight.
            if (s->phase == empty && opening && now_cached < opening_until) open_one(s, index);
        }
    }
    const double ended = now_s();
    if (opening_ended == 0) opening_ended = ended;
    for (uint32_t i = 0; i < (uint32_t)concurrency; ++i)
        if (slots[i].phase != empty) {
            // Unfinished: closed with an RST (SO_LINGER 0), so nothing lingers after the run.
            const struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(slots[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            finish(&slots[i], err_unfinished);
        }

    const double opening_s = opening_ended - started;
    FILE *f = fopen(json, "w");
    if (f == NULL) {
        perror(json);
        return 2;
    }
    fprintf(f,
            "{\n  \"stack\": \"kernel\",\n  \"case\": \"%s\",\n  \"concurrency\": %ld,\n  \"duration_s\": %.3f,\n"
            "  \"seconds\": %.3f,\n  \"attempted\": %llu,\n  \"completed\": %llu,\n  \"failed\": %llu,\n"
            "  \"errors\": {",
            mode, concurrency, opening_s, ended - started, (unsigned long long)stats.attempted,
            (unsigned long long)stats.completed, (unsigned long long)stats.failed);
    for (int k = 0; k < err_count; ++k)
        fprintf(f, "%s\"%s\": %llu", k ? ", " : "", error_names[k], (unsigned long long)stats.errors[k]);
    fprintf(f, "},\n  \"connections_per_second\": %.1f,\n  \"rows\": [",
            (double)stats.completed / (opening_s > 1e-3 ? opening_s : 1e-3));
    // One row per whole second of the opening time (a last partial second would read low).
    const size_t rows = (size_t)opening_s < n_seconds ? (size_t)opening_s : n_seconds;
    for (size_t k = 0; k < rows; ++k)
        fprintf(f, "%s\n    {\"t\": %.1f, \"new_per_s\": %llu}", k ? "," : "", (double)(k + 1),
                (unsigned long long)per_second[k]);
    fprintf(f, "\n  ]\n}\n");
    if (fclose(f) != 0) {
        perror(json);
        return 2;
    }
    printf("kernel_client: %s, concurrency %ld: %llu completed, %llu failed in %.3f s opening: %.0f connections/s\n",
           mode, concurrency, (unsigned long long)stats.completed, (unsigned long long)stats.failed, opening_s,
           (double)stats.completed / (opening_s > 1e-3 ? opening_s : 1e-3));
    return stats.failed == 0 ? 0 : 1;
}
