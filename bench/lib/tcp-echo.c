/*
 * The machine of `npm run bench:tcp`: a TCP echo server, one thread, epoll, non-blocking sockets,
 * a 256 KiB buffer per connection. It reads only when everything read before has been written
 * back (backpressure), and closes once the client has half-closed and every byte went back.
 *
 *   tcp-echo PORT [proxy]
 *
 * Listens on 127.0.0.1:PORT. With `proxy`, every connection must start with a PROXY protocol
 * header (v1 or v2), which is read and dropped, not echoed: a connection that does not start with
 * one is closed. It prints "ready" on stdout once listening, and exits on SIGTERM/SIGINT.
 *
 * Compiled by bench/tcp.ts with the host's cc into the benchmark's temp dir. C so that the machine
 * costs as little CPU as possible and runs outside every process under test.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CAP (256 * 1024)
#define MAX_EVENTS 256

struct conn {
  int fd;
  int header; /* still waiting for the PROXY header */
  size_t start, end; /* buf[start, end) is read and not yet written back */
  char buf[CAP];
};

static int ep;
static volatile sig_atomic_t stopping = 0;
static void on_signal(int s) { (void)s; stopping = 1; }

static void drop(struct conn *c) {
  close(c->fd);
  free(c);
}

static void watch(struct conn *c, uint32_t events) {
  struct epoll_event ev = { .events = events, .data.ptr = c };
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Length of the PROXY header at buf[0, n): >0 done, 0 need more, -1 not a header. */
static long proxy_header(const char *b, size_t n) {
  static const char v2[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
  size_t k = n < 6 ? n : 6;
  if (memcmp(b, "PROXY ", k) == 0) {
    if (n < 6) return 0;
    for (size_t i = 6; i + 1 < n && i < 107; i++) if (b[i] == '\r' && b[i + 1] == '\n') return (long)(i + 2);
    return n >= 108 ? -1 : 0;
  }
  k = n < 12 ? n : 12;
  if (memcmp(b, v2, k) != 0) return -1;
  if (n < 16) return 0;
  size_t len = 16 + (((unsigned char)b[14] << 8) | (unsigned char)b[15]);
  return n >= len ? (long)len : 0;
}

/* Write back what is buffered; returns 0 when all went, 1 when the socket is full, -1 on error. */
static int flush(struct conn *c) {
  while (c->start < c->end) {
    ssize_t w = write(c->fd, c->buf + c->start, c->end - c->start);
    if (w < 0) return errno == EAGAIN ? 1 : -1;
    c->start += (size_t)w;
  }
  c->start = c->end = 0;
  return 0;
}

static void readable(struct conn *c) {
  for (;;) {
    ssize_t n = read(c->fd, c->buf + c->end, CAP - c->end);
    if (n == 0) return drop(c); /* the client is done and everything went back */
    if (n < 0) {
      if (errno == EAGAIN) return;
      return drop(c);
    }
    c->end += (size_t)n;
    if (c->header) {
      long h = proxy_header(c->buf, c->end);
      if (h < 0) return drop(c);
      if (h == 0) continue;
      c->header = 0;
      c->start = (size_t)h;
    }
    int f = flush(c);
    if (f < 0) return drop(c);
    if (f > 0) return watch(c, EPOLLOUT);
  }
}

static void writable(struct conn *c) {
  int f = flush(c);
  if (f < 0) return drop(c);
  if (f == 0) watch(c, EPOLLIN);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: tcp-echo PORT [proxy]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  int want_header = argc > 2 && strcmp(argv[2], "proxy") == 0;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
    perror("tcp-echo: listen");
    return 1;
  }
  ep = epoll_create1(0);
  struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
  printf("ready\n");
  fflush(stdout);

  struct epoll_event evs[MAX_EVENTS];
  while (!stopping) {
    int n = epoll_wait(ep, evs, MAX_EVENTS, 500);
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *nc = malloc(sizeof *nc);
          if (nc == NULL) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          nc->header = want_header;
          nc->start = nc->end = 0;
          struct epoll_event ev = { .events = EPOLLIN, .data.ptr = nc };
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      if (evs[i].events & EPOLLOUT) writable(c);
      else readable(c);
    }
  }
  return 0;
}
