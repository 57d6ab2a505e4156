/* fmt_vfd.c - "dxt-tail", a read-only HDF5 file driver for trace readers.
 * Owner: the format module (format/).
 *
 * Why: a writer killed in the middle of a flush can leave the superblock's
 * end-of-allocation address (EOA) older than the chunk-index nodes that other
 * metadata, written in that flush or before, points to (a B-tree node split
 * moves flushed chunk entries to a new node). The stock drivers then refuse
 * every read past that EOA ("addr overflow"), and rows that were flushed
 * become unreadable although their bytes are in the file. This driver is
 * plain pread(2), but reports EOA as max(EOA, end of file): whatever bytes
 * the file holds can be read. Freed space is never reused by the writer, so
 * such bytes are the right metadata or data, and the reader's checks (HDF5's
 * own structure checks, strictly increasing steps) cut what is incomplete.
 * Writes are refused. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <H5FDpublic.h>

#include "fmt_internal.h"

typedef struct tail_file {
    H5FD_t pub; /* first: HDF5 fills it */
    int fd;
    haddr_t eoa, eof;
    dev_t dev;
    ino_t ino;
} tail_file;

#define TAIL_MAXADDR (((haddr_t)1 << 62) - 1)

static H5FD_t *tail_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr)
{
    struct stat st;
    (void)fapl, (void)maxaddr;
    if (flags & (H5F_ACC_RDWR | H5F_ACC_TRUNC | H5F_ACC_CREAT | H5F_ACC_EXCL))
        return NULL;
    int fd = open(name, O_RDONLY);
    if (fd < 0)
        return NULL;
    tail_file *f = fstat(fd, &st) == 0 ? calloc(1, sizeof *f) : NULL;
    if (!f) {
        close(fd);
        return NULL;
    }
    f->fd = fd;
    f->eof = (haddr_t)st.st_size;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    return &f->pub;
}

static herr_t tail_close(H5FD_t *file)
{
    tail_file *f = (tail_file *)file;
    int rc = close(f->fd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int tail_cmp(const H5FD_t *a, const H5FD_t *b)
{
    const tail_file *f1 = (const tail_file *)a, *f2 = (const tail_file *)b;
    if (f1->dev != f2->dev)
        return f1->dev < f2->dev ? -1 : 1;
    if (f1->ino != f2->ino)
        return f1->ino < f2->ino ? -1 : 1;
    return 0;
}

static herr_t tail_query(const H5FD_t *file, unsigned long *flags)
{
    (void)file;
    *flags = H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE | H5FD_FEAT_POSIX_COMPAT_HANDLE;
    return 0;
}

static haddr_t tail_get_eoa(const H5FD_t *file, H5FD_mem_t type)
{
    const tail_file *f = (const tail_file *)file;
    (void)type;
    return f->eoa > f->eof ? f->eoa : f->eof;
}

static herr_t tail_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t addr)
{
    (void)type;
    ((tail_file *)file)->eoa = addr;
    return 0;
}

static haddr_t tail_get_eof(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return ((const tail_file *)file)->eof;
}

static herr_t tail_get_handle(H5FD_t *file, hid_t fapl, void **handle)
{
    (void)fapl;
    *handle = &((tail_file *)file)->fd;
    return 0;
}

/* pread; bytes past the end of the file read as zeros. */
static herr_t tail_read(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                        void *buf)
{
    tail_file *f = (tail_file *)file;
    unsigned char *p = buf;
    (void)type, (void)dxpl;
    if (addr > TAIL_MAXADDR || size > TAIL_MAXADDR - addr)
        return -1;
    while (size > 0) {
        ssize_t n = pread(f->fd, p, size, (off_t)addr);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            memset(p, 0, size);
            break;
        }
        p += n, addr += (haddr_t)n, size -= (size_t)n;
    }
    return 0;
}

static herr_t tail_write(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                         const void *buf)
{
    (void)file, (void)type, (void)dxpl, (void)addr, (void)size, (void)buf;
    return -1;
}

static const H5FD_class_t tail_class = {
    .name = "dxt-tail",
    .maxaddr = TAIL_MAXADDR,
    .fc_degree = H5F_CLOSE_WEAK,
    .open = tail_open,
    .close = tail_close,
    .cmp = tail_cmp,
    .query = tail_query,
    .get_eoa = tail_get_eoa,
    .set_eoa = tail_set_eoa,
    .get_eof = tail_get_eof,
    .get_handle = tail_get_handle,
    .read = tail_read,
    .write = tail_write,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

static pthread_once_t tail_once = PTHREAD_ONCE_INIT;
static hid_t tail_driver = H5I_INVALID_HID;

static void tail_register(void)
{
    tail_driver = H5FDregister(&tail_class);
}

hid_t dxt_tail_fapl(void)
{
    pthread_once(&tail_once, tail_register);
    if (tail_driver < 0)
        return H5I_INVALID_HID;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_driver(fapl, tail_driver, NULL) < 0) {
        H5Pclose(fapl);
        fapl = H5I_INVALID_HID;
    }
    return fapl;
}
