/* ring.c - the bounded lock-free MPSC ring of rows (see ring.h).
 * Owner: recorder host path. */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

#define SLOT_ALIGN 64

static uint64_t round_up_pow2(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

int dxtrec_ring_init(dxtrec_ring *ring, uint64_t capacity, int world_size, int has_tokens)
{
    memset(ring, 0, sizeof(*ring));
    if (capacity < 1 || capacity > DXTREC_RING_MAX_CAPACITY || world_size < 1 ||
        world_size > (1 << 20))
        return -1;
    size_t row_values = (size_t)world_size * (has_tokens ? 2u : 1u);
    size_t bytes = sizeof(dxtrec_slot) + row_values * sizeof(int64_t);
    bytes = (bytes + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
    uint64_t cap = round_up_pow2(capacity);
    while (cap > 1 && cap * bytes > DXTREC_RING_MAX_BYTES)
        cap /= 2;
    if (cap * bytes > DXTREC_RING_MAX_BYTES)
        return -1;
    void *mem = NULL;
    if (posix_memalign(&mem, SLOT_ALIGN, (size_t)cap * bytes) != 0)
        return -1;
    memset(mem, 0, (size_t)cap * bytes); /* touch every page now, not in record */
    ring->mem = mem;
    ring->slot_bytes = bytes;
    ring->capacity = cap;
    ring->mask = cap - 1;
    ring->world_size = world_size;
    ring->has_tokens = has_tokens ? 1 : 0;
    for (uint64_t i = 0; i < cap; i++) {
        dxtrec_slot *slot = (dxtrec_slot *)(ring->mem + i * bytes);
        atomic_init(&slot->seq, i);
    }
    atomic_init(&ring->enqueue_pos, 0);
    atomic_init(&ring->dequeue_pos, 0);
    return 0;
}

void dxtrec_ring_free(dxtrec_ring *ring)
{
    free(ring->mem);
    ring->mem = NULL;
}

dxtrec_slot *dxtrec_ring_peek(dxtrec_ring *ring)
{
    uint64_t pos = atomic_load_explicit(&ring->dequeue_pos, memory_order_relaxed);
    dxtrec_slot *slot = dxtrec_ring_slot_at(ring, pos);
    uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
    return seq == pos + 1 ? slot : NULL;
}

void dxtrec_ring_release(dxtrec_ring *ring, dxtrec_slot *slot)
{
    uint64_t pos = atomic_load_explicit(&ring->dequeue_pos, memory_order_relaxed);
    atomic_store_explicit(&slot->seq, pos + ring->capacity, memory_order_release);
    atomic_store_explicit(&ring->dequeue_pos, pos + 1, memory_order_release);
}

uint64_t dxtrec_ring_enqueued(const dxtrec_ring *ring)
{
    return atomic_load_explicit(&ring->enqueue_pos, memory_order_acquire);
}

uint64_t dxtrec_ring_dequeued(const dxtrec_ring *ring)
{
    return atomic_load_explicit(&ring->dequeue_pos, memory_order_acquire);
}
