/* Hand-written accessors for what bindgen cannot reach: rte_errno is a
 * per-lcore thread-local macro, not a function or a plain variable. */
#include <rte_errno.h>

int vnetd_rte_errno(void) { return rte_errno; }
