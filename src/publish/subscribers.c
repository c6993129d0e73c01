/* Bounded per-subscriber queues and the slow-subscriber watch (publish-impl.h).
 *
 * libzmq keeps, per connected subscriber, a pipe of whole messages up to
 * ZMQ_SNDHWM; a subscriber that stops reading holds that many copies of frames
 * in the daemon's memory (at the old default of 1000 messages, about 1 GiB of
 * 512 x 512 float32 frames). The HWM is therefore derived from the frame size
 * (impa_publish_queue_hwm): publish.max_queue_mib of frames per subscriber.
 *
 * libzmq does not say which subscriber is full. A socket monitor reports every
 * accepted connection with its file descriptor; the watch asks the kernel how
 * much of that connection's send buffer is unread (SIOCOUTQ). A subscriber
 * whose kernel buffer holds at least 32 KiB (or a quarter of it) unread for
 * publish.slow_subscriber_s seconds without a pause is not reading: it is reported once and, under the default policy,
 * disconnected (shutdown(2) on its descriptor: libzmq then closes the session
 * and frees the queued messages; the subscriber's libzmq reconnects by itself
 * and is served again from the next message, with the seq gap to tell it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <zmq.h>

#include "impa/error.h"
#include "publish/publish-impl.h"

#define SUBWATCH_MAX 64

typedef struct {
    int fd;
    char peer[96];
    double full_since; /* monotonic time the buffer was first seen full; 0 = not full */
    int reported;      /* this connection was reported stuck */
} sub_t;

struct impa_subwatch {
    void *mon;
    sub_t subs[SUBWATCH_MAX];
    int n;
    int slow_s, disconnect;
    uint64_t n_slow_total, n_disconnected;
    double last_slow;      /* monotonic time of the last report; 0 = none */
    char last_peer[96];
    char seen[8][96];      /* peers reported before (host or pid, no port), a ring */
    int n_seen;
};

/* How many times this peer (its host without the port: a reconnect has a new
 * one) was reported before; remembers it. */
static int seen_before(impa_subwatch_t *w, const char *peer)
{
    char key[96];
    snprintf(key, sizeof key, "%s", peer);
    char *colon = strncmp(key, "tcp://", 6) == 0 ? strrchr(key, ':') : NULL;
    if (colon && colon > key + 5)
        *colon = '\0';
    int lim = w->n_seen < 8 ? w->n_seen : 8;
    for (int i = 0; i < lim; i++)
        if (strcmp(w->seen[i], key) == 0)
            return 1;
    snprintf(w->seen[w->n_seen++ % 8], sizeof w->seen[0], "%s", key);
    return 0;
}

int impa_publish_queue_hwm(const impa_publish_config_t *cfg, int n_leads, size_t frame_bytes)
{
    int cap = cfg->sndhwm > 0 ? cfg->sndhwm : IMPA_PUBLISH_DEFAULT_SNDHWM;
    if (n_leads < 1)
        n_leads = 1;
    if (frame_bytes == 0) /* not known yet: a 512 x 512 grid */
        frame_bytes = (size_t)512 * 512 * (cfg->encoding == IMPA_ENCODING_FLOAT32 ? 4 : 1);
    /* One cycle is n_leads frames, the alerts, cycle_end and a status or
     * verification message, sent in one burst; libzmq learns that the I/O
     * thread took messages off a pipe only every HWM/2 messages, so a queue
     * below twice the burst loses messages of a subscriber that keeps up. */
    long floor_msgs = 2L * (n_leads + 3);
    size_t mib = cfg->max_queue_mib > 0 ? (size_t)cfg->max_queue_mib : IMPA_PUBLISH_DEFAULT_QUEUE_MIB;
    long hwm = (long)((mib << 20) / frame_bytes);
    if (hwm < floor_msgs)
        hwm = floor_msgs;
    return hwm < cap ? (int)hwm : cap;
}

static void peer_name(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(buf, len, "tcp://%s:%u", host, (unsigned)ntohs(a->sin_port));
        return;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(buf, len, "tcp://[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
        return;
    }
    struct ucred uc;
    socklen_t ul = sizeof uc;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0 && uc.pid > 0)
        snprintf(buf, len, "ipc peer pid %ld", (long)uc.pid);
    else
        snprintf(buf, len, "fd %d", fd);
}

int impa_subwatch_start(void *ctx, void *pub, const char *tag, const impa_publish_config_t *cfg,
                        impa_subwatch_t **out, char *err, size_t errlen)
{
    *out = NULL;
    impa_subwatch_t *w = calloc(1, sizeof *w);
    if (!w)
        return impa_err(err, errlen, IMPA_ENOMEM, "subscriber watch: out of memory");
    w->slow_s = cfg->slow_subscriber_s;
    w->disconnect = cfg->slow_policy == IMPA_SLOW_DISCONNECT;
    char ep[128];
    snprintf(ep, sizeof ep, "inproc://impa-pub-monitor-%s", tag);
    int zero = 0;
    if (zmq_socket_monitor(pub, ep, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED) ||
        !(w->mon = zmq_socket(ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(w->mon, ZMQ_LINGER, &zero, sizeof zero) || zmq_connect(w->mon, ep)) {
        int e = zmq_errno();
        impa_subwatch_stop(&w, pub);
        return impa_err(err, errlen, IMPA_ENET, "subscriber watch (socket monitor): %s",
                        zmq_strerror(e));
    }
    *out = w;
    return 0;
}

void impa_subwatch_stop(impa_subwatch_t **wp, void *pub)
{
    if (!wp || !*wp)
        return;
    if (pub)
        zmq_socket_monitor(pub, NULL, 0);
    if ((*wp)->mon)
        zmq_close((*wp)->mon);
    free(*wp);
    *wp = NULL;
}

static void forget(impa_subwatch_t *w, int fd)
{
    for (int i = 0; i < w->n; i++)
        if (w->subs[i].fd == fd) {
            w->subs[i] = w->subs[--w->n];
            return;
        }
}

/* Reads every pending monitor event: connections come and go. */
static void drain_events(impa_subwatch_t *w)
{
    for (;;) {
        unsigned char ev[6];
        int n = zmq_recv(w->mon, ev, sizeof ev, ZMQ_DONTWAIT);
        if (n < 0)
            return;
        int more = 0;
        size_t ml = sizeof more;
        zmq_getsockopt(w->mon, ZMQ_RCVMORE, &more, &ml);
        while (more) { /* the endpoint frame */
            char sink[256];
            zmq_recv(w->mon, sink, sizeof sink, 0);
            zmq_getsockopt(w->mon, ZMQ_RCVMORE, &more, &ml);
        }
        if (n < 6)
            continue;
        uint16_t id;
        uint32_t value;
        memcpy(&id, ev, 2);
        memcpy(&value, ev + 2, 4);
        int fd = (int)value;
        forget(w, fd); /* a reused descriptor is a new connection */
        if (id == ZMQ_EVENT_ACCEPTED && w->n < SUBWATCH_MAX) {
            sub_t *s = &w->subs[w->n++];
            memset(s, 0, sizeof *s);
            s->fd = fd;
            peer_name(fd, s->peer, sizeof s->peer);
        }
    }
}

int impa_subwatch_check(impa_subwatch_t *w, double now, impa_slow_subscriber_t *ev, int max_ev)
{
    if (!w)
        return 0;
    drain_events(w);
    int n_ev = 0;
    for (int i = 0; i < w->n; i++) {
        sub_t *s = &w->subs[i];
        int queued = 0, sndbuf = 0;
        socklen_t sl = sizeof sndbuf;
        if (ioctl(s->fd, SIOCOUTQ, &queued) != 0 ||
            getsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) != 0) {
            s->full_since = 0; /* closed under us: the next event removes it */
            continue;
        }
        /* Messages come in bursts (a cycle, a status): a subscriber that
         * reads empties its buffer between them, within milliseconds on a
         * local link. One that stops leaves it filled (a stuck ipc
         * subscriber here: 73 KiB of 208 KiB; tcp: up to the autotuned
         * buffer, MiBs). Unread: 32 KiB or a quarter of the buffer. */
        int limit = sndbuf / 4 < 32768 ? sndbuf / 4 : 32768;
        if (sndbuf <= 0 || queued < limit) {
            s->full_since = 0;
            continue;
        }
        if (s->full_since == 0)
            s->full_since = now;
        if (s->reported || now - s->full_since < (double)w->slow_s)
            continue;
        s->reported = 1;
        w->n_slow_total++;
        w->last_slow = now;
        snprintf(w->last_peer, sizeof w->last_peer, "%s", s->peer);
        if (n_ev < max_ev) {
            impa_slow_subscriber_t *e = &ev[n_ev++];
            snprintf(e->peer, sizeof e->peer, "%s", s->peer);
            e->queued_bytes = (size_t)queued;
            e->stuck_s = now - s->full_since;
            e->disconnected = w->disconnect;
            e->repeated = seen_before(w, s->peer);
        }
        if (w->disconnect && shutdown(s->fd, SHUT_RDWR) == 0)
            w->n_disconnected++;
    }
    return n_ev;
}

static int impa_subwatch_n_stuck(const impa_subwatch_t *w, double now)
{
    int n = 0;
    for (int i = 0; w && i < w->n; i++)
        n += w->subs[i].full_since > 0 && now - w->subs[i].full_since >= (double)w->slow_s;
    return n;
}

void impa_subwatch_counts(const impa_subwatch_t *w, double now, impa_subscriber_counts_t *c)
{
    memset(c, 0, sizeof *c);
    if (!w)
        return;
    c->connected = w->n;
    c->stuck = impa_subwatch_n_stuck(w, now);
    c->slow_total = w->n_slow_total;
    c->disconnected = w->n_disconnected;
    c->since_last_slow_s = w->last_slow > 0 ? now - w->last_slow : -1;
    snprintf(c->last_peer, sizeof c->last_peer, "%s", w->last_peer);
}
