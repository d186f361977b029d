/*
 * The load generator of `npm run bench:tcp`: one thread, epoll, non-blocking sockets. bench/tcp.ts
 * runs one or more of these processes side by side and adds up what they print.
 *
 *   tcp-load rr HOST PORT CONC DURATION_MS MSG_BYTES PROXY_HEADER
 *     CONC connections at a time, each new: connect, write MSG_BYTES, read them back (checked),
 *     close, and the next one at once. PROXY_HEADER 1: write a PROXY v1 header first (what a proxy
 *     would send, for the direct baseline of a machine that wants one). Sources rotate over
 *     127.0.0.2–127.0.0.9 when HOST is 127.0.0.1, so that TIME_WAIT does not run out of ports.
 *     Latency: from connect() to the last echoed byte, into 1 µs buckets up to 200 ms.
 *   tcp-load stream HOST PORT CONNS BYTES TIMEOUT_MS
 *     CONNS connections at once, each writes BYTES (a pattern) while reading the echo back
 *     (checked against the pattern), half-closes once all is written, and is done when BYTES came
 *     back. Times each connection from connect() to its last byte.
 *
 * Prints one JSON object on stdout: counts, errors, the histogram's non-empty buckets, monotonic
 * start/end in µs (comparable across processes), and its own CPU time (getrusage).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define CHUNK (256 * 1024)
#define PERIOD 65521 /* prime: the pattern's period, so chunk edges never line up with it */
#define HIST_US 200000
#define MAX_EVENTS 256
#define SOURCES 8

static char pattern[PERIOD + CHUNK];
static char rbuf[CHUNK];
static uint64_t hist[HIST_US + 1];
static int ep;
static struct sockaddr_in target;
static int rotate_sources;
static unsigned next_source;
static long errors;
static char first_error[128];

static uint64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static void error_seen(const char *what, int err) {
  errors++;
  if (first_error[0] == '\0') snprintf(first_error, sizeof first_error, "%s%s%s", what, err ? ": " : "", err ? strerror(err) : "");
}

static double cpu_ms(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000.0 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000.0;
}

/* A non-blocking socket whose connect() to the target has been started; -1 on failure. */
static int start_connect(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error_seen("socket", errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (rotate_sources) {
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = { .sin_family = AF_INET };
    src.sin_addr.s_addr = htonl(0x7f000002u + (next_source++ % SOURCES));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
      error_seen("bind", errno);
      close(fd);
      return -1;
    }
  }
  if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
    error_seen("connect", errno);
    close(fd);
    return -1;
  }
  return fd;
}

static int socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

/* ------------------------------------------------------------------------------------------ */
/* rr: connect + one round trip */

struct rr {
  int fd;
  int connected;
  size_t got;
  uint64_t t0;
};

static int rr_open(struct rr *c, uint32_t slot) {
  c->fd = start_connect();
  c->connected = 0;
  c->got = 0;
  c->t0 = now_us();
  if (c->fd < 0) return -1;
  struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = slot };
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

static void rr_close(struct rr *c) {
  close(c->fd); /* also removes it from epoll */
  c->fd = -1;
}

static int run_rr(int conc, long duration_ms, size_t msg, int header) {
  if (msg > PERIOD) msg = PERIOD;
  struct rr *conns = calloc((size_t)conc, sizeof *conns);
  uint64_t start = now_us();
  uint64_t deadline = start + (uint64_t)duration_ms * 1000u;
  uint64_t completed = 0, last = start;
  for (int i = 0; i < conc; i++) rr_open(&conns[i], (uint32_t)i);
  struct epoll_event evs[MAX_EVENTS];
  char line[160];
  while (now_us() < deadline) {
    /* A slot whose connect could not even start (EMFILE, EADDRNOTAVAIL) tries again: c=N stays N. */
    for (int i = 0; i < conc; i++)
      if (conns[i].fd < 0) rr_open(&conns[i], (uint32_t)i);
    int n = epoll_wait(ep, evs, MAX_EVENTS, 100);
    for (int i = 0; i < n; i++) {
      uint32_t slot = evs[i].data.u32;
      struct rr *c = &conns[slot];
      if (c->fd < 0) continue;
      if (!c->connected) {
        int err = socket_error(c->fd);
        if (err != 0) {
          error_seen("connect", err);
          rr_close(c);
          rr_open(c, slot);
          continue;
        }
        c->connected = 1;
        const char *out = pattern;
        size_t len = msg;
        if (header) {
          struct sockaddr_in me;
          socklen_t ml = sizeof me;
          getsockname(c->fd, (struct sockaddr *)&me, &ml);
          char src[INET_ADDRSTRLEN];
          inet_ntop(AF_INET, &me.sin_addr, src, sizeof src);
          int h = snprintf(line, sizeof line, "PROXY TCP4 %s 127.0.0.1 %u %u\r\n", src, ntohs(me.sin_port), ntohs(target.sin_port));
          memcpy(line + h, pattern, msg < sizeof line - (size_t)h ? msg : sizeof line - (size_t)h);
          out = line;
          len = (size_t)h + msg;
          if (len > sizeof line) len = sizeof line;
        }
        if (write(c->fd, out, len) != (ssize_t)len) {
          error_seen("write", errno);
          rr_close(c);
          rr_open(c, slot);
          continue;
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = slot };
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        continue;
      }
      ssize_t r = read(c->fd, rbuf, msg - c->got);
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) {
        error_seen(r == 0 ? "closed before the whole echo came back" : "read", r == 0 ? 0 : errno);
        rr_close(c);
        rr_open(c, slot);
        continue;
      }
      if (memcmp(rbuf, pattern + c->got, (size_t)r) != 0) error_seen("the echo differs from what was sent", 0);
      c->got += (size_t)r;
      if (c->got < msg) continue;
      uint64_t t = now_us();
      uint64_t us = t - c->t0;
      hist[us > HIST_US ? HIST_US : us]++;
      completed++;
      last = t;
      rr_close(c);
      rr_open(c, slot);
    }
  }
  for (int i = 0; i < conc; i++) if (conns[i].fd >= 0) rr_close(&conns[i]);
  printf("{\"mode\":\"rr\",\"completed\":%llu,\"errors\":%ld,\"first_error\":\"%s\",\"start_us\":%llu,\"end_us\":%llu,\"last_us\":%llu,\"cpu_ms\":%.1f,\"hist\":[",
         (unsigned long long)completed, errors, first_error, (unsigned long long)start, (unsigned long long)deadline, (unsigned long long)last, cpu_ms());
  int first = 1;
  for (int i = 0; i <= HIST_US; i++) {
    if (hist[i] == 0) continue;
    printf("%s[%d,%llu]", first ? "" : ",", i, (unsigned long long)hist[i]);
    first = 0;
  }
  printf("]}\n");
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* stream: bulk both ways */

struct st {
  int fd;
  int connected, closed_write, done;
  uint64_t sent, got, t0, t1;
};

static int run_stream(int conns, uint64_t bytes, long timeout_ms) {
  struct st *s = calloc((size_t)conns, sizeof *s);
  uint64_t start = now_us();
  uint64_t deadline = start + (uint64_t)timeout_ms * 1000u;
  int left = conns;
  for (int i = 0; i < conns; i++) {
    s[i].t0 = now_us();
    s[i].fd = start_connect();
    if (s[i].fd < 0) {
      s[i].done = 1;
      left--;
      continue;
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i };
    epoll_ctl(ep, EPOLL_CTL_ADD, s[i].fd, &ev);
  }
  struct epoll_event evs[MAX_EVENTS];
  while (left > 0 && now_us() < deadline) {
    int n = epoll_wait(ep, evs, MAX_EVENTS, 100);
    for (int i = 0; i < n; i++) {
      struct st *c = &s[evs[i].data.u32];
      if (c->done) continue;
      if (!c->connected) {
        int err = socket_error(c->fd);
        if (err != 0) {
          error_seen("connect", err);
          close(c->fd);
          c->done = 1;
          left--;
          continue;
        }
        c->connected = 1;
      }
      if ((evs[i].events & EPOLLOUT) && c->sent < bytes) {
        uint64_t want = bytes - c->sent;
        size_t len = want < CHUNK ? (size_t)want : CHUNK;
        ssize_t w = write(c->fd, pattern + (c->sent % PERIOD), len);
        if (w > 0) c->sent += (uint64_t)w;
        else if (w < 0 && errno != EAGAIN) {
          error_seen("write", errno);
          close(c->fd);
          c->done = 1;
          left--;
          continue;
        }
        if (c->sent == bytes && !c->closed_write) {
          shutdown(c->fd, SHUT_WR);
          c->closed_write = 1;
          struct epoll_event ev = { .events = EPOLLIN, .data.u32 = evs[i].data.u32 };
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = read(c->fd, rbuf, CHUNK);
        if (r < 0 && errno == EAGAIN) continue;
        if (r <= 0) {
          error_seen(r == 0 ? "closed before the whole echo came back" : "read", r == 0 ? 0 : errno);
          close(c->fd);
          c->done = 1;
          left--;
          continue;
        }
        if (memcmp(rbuf, pattern + (c->got % PERIOD), (size_t)r) != 0) error_seen("the echo differs from what was sent", 0);
        c->got += (uint64_t)r;
        if (c->got >= bytes) {
          c->t1 = now_us();
          close(c->fd);
          c->done = 1;
          left--;
        }
      }
    }
  }
  if (left > 0) error_seen("timed out", 0);
  uint64_t end = start;
  for (int i = 0; i < conns; i++) if (s[i].t1 > end) end = s[i].t1;
  printf("{\"mode\":\"stream\",\"errors\":%ld,\"first_error\":\"%s\",\"start_us\":%llu,\"end_us\":%llu,\"cpu_ms\":%.1f,\"conns\":[",
         errors, first_error, (unsigned long long)start, (unsigned long long)end, cpu_ms());
  for (int i = 0; i < conns; i++) {
    printf("%s{\"sent\":%llu,\"got\":%llu,\"us\":%llu}", i ? "," : "", (unsigned long long)s[i].sent, (unsigned long long)s[i].got,
           (unsigned long long)(s[i].t1 > 0 ? s[i].t1 - s[i].t0 : 0));
  }
  printf("]}\n");
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  for (size_t i = 0; i < sizeof pattern; i++) {
    size_t k = i % PERIOD;
    pattern[i] = (char)(k * 7 + (k >> 8));
  }
  if (argc < 5) goto usage;
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)atoi(argv[3]));
  if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) goto usage;
  rotate_sources = strcmp(argv[2], "127.0.0.1") == 0;
  ep = epoll_create1(0);
  if (strcmp(argv[1], "rr") == 0 && argc == 8) return run_rr(atoi(argv[4]), atol(argv[5]), (size_t)atol(argv[6]), atoi(argv[7]));
  if (strcmp(argv[1], "stream") == 0 && argc == 7) return run_stream(atoi(argv[4]), (uint64_t)atoll(argv[5]), atol(argv[6]));
usage:
  fprintf(stderr, "usage: tcp-load rr HOST PORT CONC DURATION_MS MSG_BYTES PROXY_HEADER\n       tcp-load stream HOST PORT CONNS BYTES TIMEOUT_MS\n");
  return 2;
}
