/* ring.h - the recorder's bounded lock-free ring of rows (many producers, one consumer).
 *
 * Owner: recorder host path. A Vyukov-style bounded queue: every slot carries a
 * sequence number; a producer claims a position with one CAS on enqueue_pos,
 * copies its row into the slot and publishes it by storing seq = pos + 1
 * (release). The one consumer (the writer thread) reads a slot once its seq
 * says it is published and hands it back with seq = pos + capacity. Producers
 * never wait for each other or for the consumer: a full ring returns NULL.
 * All memory is allocated (and touched, so no page fault happens later) by
 * dxtrec_ring_init. */
#ifndef DXTREC_RING_H
#define DXTREC_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DXTREC_RING_MAX_CAPACITY (1u << 24)
#define DXTREC_RING_MAX_BYTES ((size_t)1 << 30) /* capacity is halved until the ring fits */

/* One row in the ring; wait[world_size] and, when the ring keeps tokens,
 * tokens[world_size] follow the header (see dxtrec_slot_wait/tokens). */
typedef struct dxtrec_slot {
    _Atomic uint64_t seq;
    int32_t op;
    int32_t has_tokens; /* 0: tokens unknown for this row */
    int64_t step;
    int64_t time_ns;
    double clock_hz;    /* NAN when unknown */
} dxtrec_slot;

typedef struct dxtrec_ring {
    unsigned char *mem;    /* capacity * slot_bytes */
    size_t slot_bytes;     /* header + rows, a multiple of 64 */
    uint64_t capacity;     /* a power of two */
    uint64_t mask;
    int world_size;
    int has_tokens;
    _Alignas(64) _Atomic uint64_t enqueue_pos; /* producers */
    _Alignas(64) _Atomic uint64_t dequeue_pos; /* consumer (others only read it) */
    _Alignas(64) char pad_end;
} dxtrec_ring;

/* capacity is rounded up to a power of two (1 .. DXTREC_RING_MAX_CAPACITY), then
 * halved while the ring would take more than DXTREC_RING_MAX_BYTES.
 * Returns 0, or -1 when the sizes are out of range or memory is short. */
int dxtrec_ring_init(dxtrec_ring *ring, uint64_t capacity, int world_size, int has_tokens);
void dxtrec_ring_free(dxtrec_ring *ring);


/* Consumer: the next published slot or NULL; release it after reading. */
dxtrec_slot *dxtrec_ring_peek(dxtrec_ring *ring);
void dxtrec_ring_release(dxtrec_ring *ring, dxtrec_slot *slot);

/* Rows claimed so far (a position to drain up to) and rows consumed so far. */
uint64_t dxtrec_ring_enqueued(const dxtrec_ring *ring);
uint64_t dxtrec_ring_dequeued(const dxtrec_ring *ring);

static inline dxtrec_slot *dxtrec_ring_slot_at(dxtrec_ring *ring, uint64_t pos)
{
    return (dxtrec_slot *)(ring->mem + (pos & ring->mask) * ring->slot_bytes);
}

/* Producer: claim the next free slot (NULL: ring full), fill it, commit it.
 * Inline: this is the record path. */
static inline dxtrec_slot *dxtrec_ring_claim(dxtrec_ring *ring, uint64_t *pos_out)
{
    uint64_t pos = atomic_load_explicit(&ring->enqueue_pos, memory_order_relaxed);
    for (;;) {
        dxtrec_slot *slot = dxtrec_ring_slot_at(ring, pos);
        uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        int64_t diff = (int64_t)(seq - pos);
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&ring->enqueue_pos, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *pos_out = pos;
                return slot;
            }
            /* pos was reloaded by the failed CAS */
        } else if (diff < 0) {
            return NULL; /* the consumer has not released this slot yet: full */
        } else {
            pos = atomic_load_explicit(&ring->enqueue_pos, memory_order_relaxed);
        }
    }
}

static inline void dxtrec_ring_commit(dxtrec_slot *slot, uint64_t pos)
{
    atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);
}

/* Bring the slot at pos into this core's cache for writing, so that the next
 * record (usually much later) finds it there instead of in DRAM. A hint only;
 * lines are fetched in the background. */
static inline void dxtrec_ring_prefetch(dxtrec_ring *ring, uint64_t pos)
{
    const unsigned char *slot = ring->mem + (pos & ring->mask) * ring->slot_bytes;
    for (size_t off = 0; off < ring->slot_bytes; off += 64) {
        __builtin_prefetch(slot + off, 0, 3);
        __asm__ __volatile__("" ::: "memory"); /* GCC 12 drops a loop of prefetches alone */
    }
}

static inline int64_t *dxtrec_slot_wait(dxtrec_slot *slot)
{
    return (int64_t *)(slot + 1);
}

static inline int64_t *dxtrec_slot_tokens(dxtrec_slot *slot, int world_size)
{
    return (int64_t *)(slot + 1) + world_size;
}

#endif
