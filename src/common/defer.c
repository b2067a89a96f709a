/*
 * defer.c - see defer.h. A counter per kh_defer and one thread-local
 * pointer; the atomic decrement orders everything the releasing thread
 * wrote before fire() runs on another.
 */
#include "common/defer.h"

#include <stddef.h>

static _Thread_local kh_defer *current;

void kh_defer_begin(kh_defer *d, void (*fire)(kh_defer *d))
{
    d->fire = fire;
    atomic_store(&d->pending, 1);
    current = d;
}

void kh_defer_end(kh_defer *d)
{
    current = NULL;
    kh_defer_release(d);
}

kh_defer *kh_defer_current(void)
{
    return current;
}

void kh_defer_hold(kh_defer *d)
{
    atomic_fetch_add(&d->pending, 1);
}

void kh_defer_release(kh_defer *d)
{
    if (atomic_fetch_sub(&d->pending, 1) == 1)
        d->fire(d);
}
