/*
 * mem.h - allocation helpers.
 *
 * keyhold aborts on allocation failure instead of threading NOMEM through
 * every builder: every buffer sized from the network is bounded first, so
 * running out of memory means the machine is broken, not that a client was
 * hostile. kh_wipe is the one wiping helper for non-secure-heap memory.
 */
#ifndef KH_COMMON_MEM_H
#define KH_COMMON_MEM_H

#include <stddef.h>
#include <stdlib.h>

_Noreturn void kh_oom(void);
void *kh_xmalloc(size_t n);
void *kh_xcalloc(size_t n, size_t size);
void *kh_xrealloc(void *p, size_t n);
char *kh_xstrdup(const char *s);
char *kh_xstrndup(const char *s, size_t n);
/* Overwrite n bytes at p with zeros in a way the compiler cannot elide. */
void kh_wipe(void *p, size_t n);
/* free() after wiping n bytes; accepts NULL. */
void kh_wipe_free(void *p, size_t n);

#endif
