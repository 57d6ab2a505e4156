/* dxt_probe.cuh - device helpers that let a communication kernel measure how
 * long the receiving rank waited for each source rank, the way DeepEP's
 * low-latency kernels fill dispatch_wait_recv_cost_stats and
 * combine_wait_recv_cost_stats.
 *
 * Owner: the GPU side of dxtrace (recorder/dxt_probe.cuh). Header-only CUDA
 * C++; the host path never includes it.
 *
 * The counters are int64 arrays indexed by the source rank, in device memory,
 * accumulated with atomicAdd and never reset (cumulative): hand them to
 * dxtrec_record_device() after each operation. Cost per waited-for (receiver
 * lane, source) pair: one timer read pair and one atomic.
 *
 *   int64_t t0 = dxt_probe_now_cycles();          // start of the receive wait
 *   while (dxt_ld_acquire_u32(&flag[src]) < seq) {}
 *   dxt_probe_add(wait_stats, src, dxt_probe_now_cycles() - t0);
 *   dxt_probe_add(token_stats, src, num_tokens);   // optional token counter
 *
 * or, for a whole wait, dxt_probe_wait_flag(&flag[src], seq, wait_stats, src).
 * Cycles are clock64() (SM clock, convert with the recorder's clock_hz); the
 * _ns variants use %globaltimer (nanoseconds; on some GPUs it only ticks every
 * microsecond or so: prefer cycles for sub-microsecond waits). Record with the
 * matching dxtrec_config.unit (DXTREC_UNIT_CYCLES or DXTREC_UNIT_NS). */
#ifndef DXT_PROBE_CUH
#define DXT_PROBE_CUH

#include <stdint.h>

/* SM cycles since an arbitrary per-SM origin (differences only). */
__device__ __forceinline__ int64_t dxt_probe_now_cycles(void)
{
    return (int64_t)clock64();
}

/* Nanoseconds of the GPU's global timer (same origin on every SM). */
__device__ __forceinline__ int64_t dxt_probe_now_ns(void)
{
    uint64_t ns;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
    return (int64_t)ns;
}

/* Add value to counters[src] (a wait in cycles or ns, or a token count). */
__device__ __forceinline__ void dxt_probe_add(int64_t *counters, int src, int64_t value)
{
    atomicAdd(reinterpret_cast<unsigned long long *>(counters + src),
              static_cast<unsigned long long>(value));
}

/* Acquire load and release store of a 32-bit flag at GPU scope (ranks of one
 * GPU) or system scope (peers reached over NVLink/PCIe mappings). */
__device__ __forceinline__ uint32_t dxt_ld_acquire_u32(const uint32_t *p)
{
    uint32_t v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

__device__ __forceinline__ void dxt_st_release_u32(uint32_t *p, uint32_t v)
{
    asm volatile("st.release.gpu.global.u32 [%0], %1;" : : "l"(p), "r"(v) : "memory");
}

__device__ __forceinline__ uint32_t dxt_ld_acquire_sys_u32(const uint32_t *p)
{
    uint32_t v;
    asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

__device__ __forceinline__ void dxt_st_release_sys_u32(uint32_t *p, uint32_t v)
{
    asm volatile("st.release.sys.global.u32 [%0], %1;" : : "l"(p), "r"(v) : "memory");
}

/* Spin until *flag >= seq (acquire), then add the cycles waited to
 * wait_stats[src]. Returns the cycles waited. One lane per call. */
__device__ __forceinline__ int64_t dxt_probe_wait_flag(const uint32_t *flag, uint32_t seq,
                                                       int64_t *wait_stats, int src)
{
    const int64_t start = dxt_probe_now_cycles();
    while (dxt_ld_acquire_u32(flag) < seq) {
    }
    const int64_t waited = dxt_probe_now_cycles() - start;
    dxt_probe_add(wait_stats, src, waited);
    return waited;
}

/* The same in nanoseconds of %globaltimer. */
__device__ __forceinline__ int64_t dxt_probe_wait_flag_ns(const uint32_t *flag, uint32_t seq,
                                                          int64_t *wait_stats, int src)
{
    const int64_t start = dxt_probe_now_ns();
    while (dxt_ld_acquire_u32(flag) < seq) {
    }
    const int64_t waited = dxt_probe_now_ns() - start;
    dxt_probe_add(wait_stats, src, waited);
    return waited;
}

/* Busy-wait ns nanoseconds of %globaltimer (a stand-in for compute or an
 * injected delay in test programs). */
__device__ __forceinline__ void dxt_probe_spin_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    const int64_t start = dxt_probe_now_ns();
    while (dxt_probe_now_ns() - start < ns) {
    }
}

#endif
