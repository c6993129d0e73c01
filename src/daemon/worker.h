/* One worker thread that runs one job at a time off the event loop (the
 * forecast cycle: docs/daemon.md, "Threads"). The loop submits a job, keeps
 * polling, and learns that the job has finished when impa_worker_fd becomes
 * readable; it then collects it and may submit the next. The job's data is
 * handed over by the submit and back by the collect (a mutex orders them), so
 * the loop must not touch what the job uses between the two. */
#ifndef IMPA_DAEMON_WORKER_H
#define IMPA_DAEMON_WORKER_H

#include <stddef.h>

typedef struct impa_worker impa_worker_t;
typedef void (*impa_worker_fn)(void *arg);

/* Starts the thread (signals blocked in it: they go to the loop). */
int impa_worker_create(impa_worker_t **out, char *err, size_t errlen);
/* Joins the thread: waits for a job in progress to end first. */
void impa_worker_destroy(impa_worker_t **w);

/* Runs fn(arg) on the thread. IMPA_ESTATE when a job is submitted and not yet
 * collected. */
int impa_worker_submit(impa_worker_t *w, impa_worker_fn fn, void *arg);
/* 1 from submit until collect. */
int impa_worker_busy(const impa_worker_t *w);
/* Readable (POLLIN) once the job has finished. */
int impa_worker_fd(const impa_worker_t *w);
/* Waits at most timeout_s (< 0: for ever) for the job to finish; 1 when it has
 * (then collect), 0 on time-out or when nothing is submitted. */
int impa_worker_wait(impa_worker_t *w, double timeout_s);
/* After the job finished: ends the hand-over (the job's data is the caller's
 * again) and drains the descriptor. 1 when a finished job was collected, 0 when
 * it is still running or nothing was submitted. */
int impa_worker_collect(impa_worker_t *w);

#endif
