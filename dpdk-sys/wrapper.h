/* The DPDK headers vnetd binds to. bindgen reads this file; the static inline
 * functions it declares are wrapped into real symbols by bindgen's
 * wrap_static_fns (see build.rs). */
#include <rte_config.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_bus.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ether.h>
#include <rte_ethdev.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_malloc.h>
#include <rte_version.h>
#include <rte_sched.h>
#include <rte_meter.h>
#include <rte_acl.h>
