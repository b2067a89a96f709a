/*
 * defer.h - letting a piece of work finish after the function that did it
 * has returned.
 *
 * A request's reply may have to wait for something another thread
 * completes later (its audit row's commit, ops/audit.c): rather than block
 * the worker until then, the code that starts such a wait takes a hold on
 * the running request's kh_defer, and whoever finishes the wait releases
 * it. The request is done when its runner has returned and every hold has
 * been released; the last release calls fire(), on whichever thread that
 * is.
 *
 * The runner (net/server.c) brackets the work with kh_defer_begin/_end,
 * which also make the kh_defer the calling thread's current one; code that
 * finds no current kh_defer (the CLI, tests, the I/O thread) must do its
 * waiting itself.
 */
#ifndef KH_COMMON_DEFER_H
#define KH_COMMON_DEFER_H

#include <stdatomic.h>

typedef struct kh_defer kh_defer;
struct kh_defer {
    atomic_uint pending;       /* the runner (until _end) + the holds */
    void (*fire)(kh_defer *d); /* once, after the last release */
};

/* Make d this thread's current kh_defer, held by the runner until
 * kh_defer_end. */
void kh_defer_begin(kh_defer *d, void (*fire)(kh_defer *d));
/* The runner is done: no longer current; fires d if nothing holds it. */
void kh_defer_end(kh_defer *d);
/* This thread's current kh_defer, NULL outside kh_defer_begin/_end. */
kh_defer *kh_defer_current(void);
/* Keep d from firing until the matching kh_defer_release. */
void kh_defer_hold(kh_defer *d);
/* Any thread; the last release fires d (which may then be gone). */
void kh_defer_release(kh_defer *d);

#endif
