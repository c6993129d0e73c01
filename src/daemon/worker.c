/* The worker thread (worker.h): a mutex and two condition variables hand one job
 * over and back; an eventfd tells the event loop that it has finished. */
#include "daemon/worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "impa/error.h"

struct impa_worker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, done_cv;
    impa_worker_fn fn;        /* the job submitted, NULL once taken */
    void *arg;
    int submitted, finished;  /* submitted: until collect; finished: the job returned */
    int quit;
    int efd;
};

static void *worker_main(void *p)
{
    impa_worker_t *w = p;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->fn && !w->quit)
            pthread_cond_wait(&w->wake, &w->lock);
        if (!w->fn)
            break;
        impa_worker_fn fn = w->fn;
        void *arg = w->arg;
        w->fn = NULL;
        pthread_mutex_unlock(&w->lock);
        fn(arg);
        pthread_mutex_lock(&w->lock);
        w->finished = 1;
        pthread_cond_broadcast(&w->done_cv);
        uint64_t one = 1;
        ssize_t r = write(w->efd, &one, sizeof one);
        (void)r; /* a counter that is already non-zero wakes the loop anyway */
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int impa_worker_create(impa_worker_t **out, char *err, size_t errlen)
{
    *out = NULL;
    impa_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return impa_err(err, errlen, IMPA_ENOMEM, "worker: out of memory");
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0) {
        int e = errno;
        free(w);
        return impa_err(err, errlen, IMPA_EIO, "worker: eventfd: %s", strerror(e));
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    /* Signals stay with the event loop's thread: the handlers only wake the loop. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        close(w->efd);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        pthread_cond_destroy(&w->done_cv);
        free(w);
        return impa_err(err, errlen, IMPA_ENOMEM, "worker: pthread_create: %s", strerror(rc));
    }
    *out = w;
    return 0;
}

void impa_worker_destroy(impa_worker_t **wp)
{
    if (!wp || !*wp)
        return;
    impa_worker_t *w = *wp;
    pthread_mutex_lock(&w->lock);
    w->quit = 1;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    close(w->efd);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done_cv);
    free(w);
    *wp = NULL;
}

int impa_worker_submit(impa_worker_t *w, impa_worker_fn fn, void *arg)
{
    pthread_mutex_lock(&w->lock);
    if (w->submitted) {
        pthread_mutex_unlock(&w->lock);
        return IMPA_ESTATE;
    }
    w->fn = fn;
    w->arg = arg;
    w->submitted = 1;
    w->finished = 0;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

int impa_worker_busy(const impa_worker_t *w)
{
    /* read by the loop, which alone writes it (submit, collect) */
    return w && w->submitted;
}

int impa_worker_fd(const impa_worker_t *w) { return w->efd; }

int impa_worker_wait(impa_worker_t *w, double timeout_s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_s >= 0) {
        long long ns = until.tv_nsec + (long long)(timeout_s * 1e9);
        until.tv_sec += (time_t)(ns / 1000000000LL);
        until.tv_nsec = (long)(ns % 1000000000LL);
    }
    pthread_mutex_lock(&w->lock);
    while (w->submitted && !w->finished) {
        int rc = timeout_s < 0 ? pthread_cond_wait(&w->done_cv, &w->lock)
                               : pthread_cond_timedwait(&w->done_cv, &w->lock, &until);
        if (rc == ETIMEDOUT)
            break;
    }
    int done = w->submitted && w->finished;
    pthread_mutex_unlock(&w->lock);
    return done;
}

int impa_worker_collect(impa_worker_t *w)
{
    pthread_mutex_lock(&w->lock);
    int done = w->submitted && w->finished;
    if (done)
        w->submitted = w->finished = 0;
    pthread_mutex_unlock(&w->lock);
    uint64_t v;
    while (read(w->efd, &v, sizeof v) > 0)
        ;
    return done;
}
