/* dxt_format.h - trace format v1: every name of the format, file creation,
 * appends, validation and block reads.
 *
 * The one module that knows the on-disk layout (contract:
 * shared/contracts/trace-format.md, project prose: format/FORMAT.md). The
 * recorder's writer thread uses the dxt_writer half, dxt-analyze the
 * dxt_reader half; nobody else calls HDF5 on a trace. No attribute or dataset
 * name is spelled anywhere but in DXT_FORMAT_NAMES below.
 *
 * Errors: every function that can fail returns 0 on success and -1 on error,
 * and fills a dxt_error with one line naming the file and the field
 * ("trace/rank-00003.h5: attribute 'world_size' missing"). No function exits,
 * aborts or prints; HDF5's own error stack printing is switched off.
 *
 * Threads: a dxt_writer or dxt_reader is used by one thread at a time. */
#ifndef DXT_FORMAT_H
#define DXT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define DXT_FORMAT_MAGIC   "dxtrace"
#define DXT_FORMAT_VERSION 1
#define DXT_STR_MAX        256   /* longest string attribute kept (longer: truncated) */
#define DXT_OP_NAME_MAX    64
#define DXT_MAX_OPS        256
#define DXT_MAX_WORLD      (1 << 20)  /* a claimed world_size above this is refused */

/* Every name of the format, once. X(identifier, "on-disk name", "meaning").
 * Contract names first; then this project's extensions, which readers that
 * do not know them ignore (the contract allows added fields). */
#define DXT_FORMAT_NAMES(X)                                                              \
    /* root attributes (contract) */                                                     \
    X(DXT_A_FORMAT, "format", "the literal dxtrace")                                     \
    X(DXT_A_FORMAT_VERSION, "format_version", "major version, 1")                        \
    X(DXT_A_RUN_ID, "run_id", "same for every rank of one job")                          \
    X(DXT_A_RANK, "rank", "0 <= rank < world_size")                                      \
    X(DXT_A_WORLD_SIZE, "world_size", "number of ranks N")                               \
    X(DXT_A_NODE, "node", "host name of the rank")                                       \
    X(DXT_A_LOCAL_RANK, "local_rank", "index of the rank within its node")               \
    X(DXT_A_CLOCK_HZ, "clock_hz", "counter ticks per second for unit=cycles")            \
    X(DXT_A_CREATED_UNIX_NS, "created_unix_ns", "file creation time")                    \
    /* root attributes (extensions) */                                                   \
    X(DXT_A_GPU_NAME, "gpu_name", "name of the rank's GPU")                              \
    X(DXT_A_GPU_UUID, "gpu_uuid", "UUID of the rank's GPU")                              \
    X(DXT_A_WRITER, "writer", "program and version that wrote the file")                 \
    X(DXT_A_CLOSED_UNIX_NS, "closed_unix_ns", "when the writer closed the file (Unix ns); 0 while it is written") \
    /* groups and datasets (contract) */                                                 \
    X(DXT_G_OPS, "ops", "one group per operation")                                       \
    X(DXT_D_WAIT, "wait", "T x N wait of this rank for each peer")                       \
    X(DXT_D_STEP, "step", "T step numbers, strictly increasing")                         \
    X(DXT_D_TIME_NS, "time_ns", "T host wall clock times (Unix ns)")                     \
    X(DXT_D_TOKENS, "tokens", "T x N tokens received from each peer")                    \
    /* datasets (extensions) */                                                          \
    X(DXT_D_CLOCK_HZ, "clock_hz", "T measured counter rate for the interval ending at row t") \
    /* attributes of wait and tokens (contract) */                                       \
    X(DXT_A_UNIT, "unit", "cycles or ns")                                                \
    X(DXT_A_COUNTING, "counting", "cumulative or delta")                                 \
    /* attributes of an op group (extensions): rows the recorder had to drop */          \
    X(DXT_A_ROWS_DROPPED, "rows_dropped", "rows recorded but never written")             \
    X(DXT_A_DROPPED_FIRST_STEP, "dropped_first_step", "first step of a dropped row")     \
    X(DXT_A_DROPPED_LAST_STEP, "dropped_last_step", "last step of a dropped row")        \
    /* attribute values (contract) */                                                    \
    X(DXT_V_CYCLES, "cycles", "unit: GPU clock cycles (convert with clock_hz)")          \
    X(DXT_V_NS, "ns", "unit: nanoseconds")                                               \
    X(DXT_V_CUMULATIVE, "cumulative", "counting: running totals")                        \
    X(DXT_V_DELTA, "delta", "counting: what accrued since the previous row")

typedef enum {
#define DXT_NAME_ENUM(id, str, what) id,
    DXT_FORMAT_NAMES(DXT_NAME_ENUM)
#undef DXT_NAME_ENUM
    DXT_NAME_COUNT
} dxt_name;

/* The on-disk spelling of a name. */
const char *dxt_name_str(dxt_name name);

typedef enum { DXT_UNIT_CYCLES = 0, DXT_UNIT_NS = 1 } dxt_unit;
typedef enum { DXT_COUNTING_CUMULATIVE = 0, DXT_COUNTING_DELTA = 1 } dxt_counting;

const char *dxt_unit_str(dxt_unit unit);             /* "cycles" / "ns" */
const char *dxt_counting_str(dxt_counting counting); /* "cumulative" / "delta" */
int dxt_unit_parse(const char *s, dxt_unit *out);         /* 0 ok, -1 unknown */
int dxt_counting_parse(const char *s, dxt_counting *out); /* 0 ok, -1 unknown */

/* One error line. */
typedef struct dxt_error {
    char msg[512];
} dxt_error;

/* Root attributes of one rank's file. Absent optional fields: local_rank -1,
 * clock_hz 0, created_unix_ns 0, closed_unix_ns -1, strings "". */
typedef struct dxt_meta {
    char run_id[DXT_STR_MAX];
    int64_t rank;
    int64_t world_size;
    char node[DXT_STR_MAX];
    int64_t local_rank;
    double clock_hz;
    int64_t created_unix_ns;
    char gpu_name[DXT_STR_MAX];
    char gpu_uuid[DXT_STR_MAX];
    char writer[DXT_STR_MAX];
    int64_t closed_unix_ns; /* when the writer closed the file; 0: still being written
                             * (or its writer died); -1: absent (an older writer). The
                             * writer sets it itself: a live file is created with 0 and
                             * dxt_writer_close stores the time (meta's value is ignored) */
} dxt_meta;

/* What a reader knows of one /ops/<name> group. */
typedef struct dxt_op_info {
    char name[DXT_OP_NAME_MAX];
    int64_t rows;          /* rows readable (a trailing chunk that fails to inflate is cut off) */
    int64_t rows_stored;   /* the datasets' length; rows < rows_stored: see cut_reason */
    char cut_reason[128];  /* why rows stop early ("" when rows == rows_stored) */
    dxt_unit unit;
    dxt_counting counting;
    int has_tokens;
    dxt_counting tokens_counting;
    int has_time_ns;
    int has_clock_hz;      /* per-row measured counter rate (extension) */
    int64_t rows_dropped;  /* 0 when the attribute is absent or negative (then bad_dropped) */
    int bad_dropped;       /* 1: the file's rows_dropped attribute was negative */
    int64_t dropped_first_step, dropped_last_step; /* -1 when unknown */
    int64_t first_step, last_step; /* the steps of rows 0 and rows - 1 (0 when rows is 0) */
} dxt_op_info;

/* ---- writing (the recorder's writer thread) ---------------------------------- */

typedef struct dxt_writer dxt_writer;

typedef struct dxt_writer_opts {
    int64_t chunk_rows;   /* rows per chunk; 0: chosen from N (a chunk of 64 KiB .. 1 MiB) */
    int has_tokens;       /* create the tokens datasets */
    int has_clock_hz;     /* create the per-row clock_hz datasets */
    int fsync;            /* fsync after every flush (power-loss safety, slower) */
} dxt_writer_opts;

/* Create a rank's file with its root attributes and one group per op. The
 * file is created exclusively, never through a link: when path exists the
 * call fails with errno EEXIST and the file is left as it is.
 * Crash safety (see FORMAT.md): the file is written uncompressed (chunks are
 * rewritten in place, freed space is never reused, metadata is written only by
 * a flush, and no flush splits the chunk index), so what dxt_writer_flush
 * returned for survives a SIGKILL of the writer, readable with plain H5Fopen
 * by any HDF5 reader. */
int dxt_writer_create(const char *path, const dxt_meta *meta, const char *const *ops, int nops,
                      dxt_unit unit, dxt_counting counting, const dxt_writer_opts *opts,
                      dxt_writer **out, dxt_error *err);

/* Append nrows rows to op. wait and tokens are nrows x world_size, row-major.
 * time_ns, tokens, clock_hz may be NULL (tokens/clock_hz only when created). */
int dxt_writer_append(dxt_writer *w, int op, int64_t nrows, const int64_t *step,
                      const int64_t *time_ns, const int64_t *wait, const int64_t *tokens,
                      const double *clock_hz, dxt_error *err);

/* Rows op can still take in this file. A live file holds a bounded number of
 * chunks per dataset (so that no flush ever splits its chunk index); when the
 * room is smaller than a batch, close the file and go on in a new one (the
 * recorder names them rank-NNNNN.K.h5: segments of one rank). */
int64_t dxt_writer_room(const dxt_writer *w, int op);

/* Store the dropped-row count of op and the step range of the drops. */
int dxt_writer_set_dropped(dxt_writer *w, int op, int64_t rows_dropped, int64_t first_step,
                           int64_t last_step, dxt_error *err);

/* Make everything appended so far survive a kill of this process. */
int dxt_writer_flush(dxt_writer *w, dxt_error *err);

/* Store closed_unix_ns (now), flush and close; w is freed even on error. */
int dxt_writer_close(dxt_writer *w, dxt_error *err);

/* Rewrite a closed trace file with shuffle + deflate(level) chunks: written to
 * a private temporary of its directory, then renamed over path if path still
 * is the file that was read (atomic: a kill leaves the old file whole; its
 * orphan temporary is removed by the next compression in that directory).
 * closed_unix_ns is copied (a file without it, or with 0, gets the time of
 * compression: a compressed file is never written again). */
int dxt_file_compress(const char *path, int level, dxt_error *err);

/* ---- files in directories others can write to (fmt_safefile.c) ----------------
 * Never a write through a planted link, never a replaced file we did not create
 * (FORMAT.md, "Files in shared directories"). */

struct stat;

/* Open dir (creating missing directories when create) walking it without
 * following links that another user could have planted. An O_DIRECTORY fd, or
 * -1 with err. */
int dxt_dir_open(const char *dir, int create, dxt_error *err);
/* The same for path's directory; *base: path's last name. */
int dxt_open_parent(const char *path, const char **base, dxt_error *err);

/* Create name in dirfd exclusively (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0666
 * less the umask). The fd, or -1 with errno (EEXIST: the name is taken) and err. */
int dxt_file_create_excl(int dirfd, const char *name, dxt_error *err);

/* "/proc/self/fd/<fd>" into buf: the name of fd's own file for libraries that
 * open by name; -1 when /proc does not lead there. */
int dxt_fd_path(int fd, char *buf, size_t cap);

/* A file written whole before it appears under its name: an anonymous file of
 * the directory (O_TMPFILE), or, when named or where the file system lacks
 * O_TMPFILE, a private ".dxt-<host>-<pid>-<random>.tmp"; written through fd or
 * path, then published. */
typedef struct dxt_newfile {
    int dirfd, fd;
    char path[32];     /* /proc/self/fd/<fd> */
    char tmpname[64];  /* its private name in dirfd, "" while anonymous */
} dxt_newfile;
int dxt_newfile_open(dxt_newfile *nf, int dirfd, int named, dxt_error *err);
/* Remove the private temporaries in dirfd that a killed process of this host
 * left (its pid gone, owned by us). Returns how many. */
int dxt_sweep_temporaries(int dirfd);
/* Put the file at name: without replacing anything (replace NULL: EEXIST when
 * the name is taken), or over the file replace describes (same device and
 * inode, else nothing is replaced). Closes nf either way. 0 or -1 with err. */
int dxt_newfile_publish(dxt_newfile *nf, const char *name, const struct stat *replace,
                        dxt_error *err);
void dxt_newfile_discard(dxt_newfile *nf); /* close, remove its private name if any */

/* A file the user named for our output (a report, a picture): written whole into
 * a new file of path's directory (dxt_output_open: nf and *base, path's last
 * name), then put at path by dxt_output_publish, which replaces only an earlier
 * output of ours there (a regular file we own), never a link or another user's
 * file, and closes nf and its directory either way. 0 or -1 with err. */
int dxt_output_open(const char *path, dxt_newfile *nf, const char **base, dxt_error *err);
int dxt_output_publish(dxt_newfile *nf, const char *path, const char *base, dxt_error *err);

/* ---- reading (dxt-analyze, tests) ---------------------------------------------- */

typedef struct dxt_reader dxt_reader;

/* Open and validate a rank's file: required attributes present with the right
 * type, format == "dxtrace", format_version <= 1, 0 <= rank < world_size <=
 * DXT_MAX_WORLD, every op's datasets of the right rank, shape and type, unit
 * and counting known. Accepts files left flagged open by a killed SWMR writer
 * and files whose last chunk cannot be decompressed (rows before it kept).
 * Opens without HDF5's file lock: a file the recorder is writing reads as its
 * last flush left it (FORMAT.md, "Reading a file while it is written"). */
int dxt_reader_open(const char *path, dxt_reader **out, dxt_error *err);

const dxt_meta *dxt_reader_meta(const dxt_reader *r);
const char *dxt_reader_path(const dxt_reader *r);
int dxt_reader_op_count(const dxt_reader *r);
const dxt_op_info *dxt_reader_op(const dxt_reader *r, int op);
int dxt_reader_find_op(const dxt_reader *r, const char *name); /* index or -1 */

/* Read rows [first, first + nrows) of op into the arrays that are not NULL
 * (wait and tokens: nrows x world_size). Returns the rows read, or -1. */
int64_t dxt_reader_read(dxt_reader *r, int op, int64_t first, int64_t nrows, int64_t *step,
                        int64_t *time_ns, int64_t *wait, int64_t *tokens, double *clock_hz,
                        dxt_error *err);

/* Chunks as stored, for readers that decompress outside HDF5 (fmt_chunks.c;
 * HDF5 runs one call at a time, zlib does not). wait and tokens only. */
typedef struct dxt_chunk_layout {
    int usable;          /* 0: read this dataset with dxt_reader_read (a filter, type or
                          * chunk option the raw path does not know: never guessed) */
    int64_t chunk_rows;  /* rows per chunk (each chunk holds whole rows) */
    int64_t width;       /* columns: world_size */
    int shuffle;         /* 1: HDF5's shuffle filter, 8-byte elements (undone after inflate) */
    int deflate;         /* 1: HDF5's deflate filter (a zlib stream) */
} dxt_chunk_layout;

/* The layout of dataset name (DXT_D_WAIT or DXT_D_TOKENS) of op. 0 or -1. */
int dxt_reader_chunk_layout(dxt_reader *r, int op, dxt_name name, dxt_chunk_layout *out,
                            dxt_error *err);

/* The stored bytes of chunk `chunk` (rows chunk * chunk_rows ..) into *buf
 * (grown with realloc, *cap its size), *len their count. 1 read; 0: read
 * this chunk's rows with dxt_reader_read (not allocated, or stored with a
 * filter skipped); -1 error. Decoding a chunk (inflate, unshuffle: a full
 * chunk of chunk_rows x width little-endian int64, also at the end of the
 * dataset) needs no HDF5 and may run in any thread. */
int dxt_reader_read_chunk(dxt_reader *r, int op, dxt_name name, int64_t chunk_rows,
                          int64_t chunk, void **buf, size_t *cap, size_t *len, dxt_error *err);

/* Where chunk `chunk` of dataset name is stored in the file: *offset and
 * *size such that pread(2) of the file at path dxt_reader_path(r) gives the
 * bytes dxt_reader_read_chunk would (HDF5 >= 1.10.5, H5Dget_chunk_info_by_coord;
 * the first call per file reads one chunk both ways and compares: a userblock
 * or base address HDF5 does not count makes every later call answer 0). 1:
 * read it so, from any thread, without HDF5; 0: use dxt_reader_read_chunk
 * (not allocated, a filter skipped, an older HDF5, addresses unusable); -1 err. */
int dxt_reader_chunk_where(dxt_reader *r, int op, dxt_name name, int64_t chunk_rows,
                           int64_t chunk, uint64_t *offset, uint64_t *size, dxt_error *err);

/* Validation with the tails left to the caller (dxt-analyze decodes them in
 * threads: inflating the last chunk of wait and tokens is most of an open).
 * dxt_reader_open_deferred is dxt_reader_open, except that the last stored
 * chunk of wait and tokens of an op, when it is one the caller decodes itself
 * (dxt_chunk_layout: shuffle + deflate), is not read: the op's rows stand
 * only once dxt_reader_tails_checked says so. dxt_reader_tail_where: where
 * that chunk of dataset name of op is (1 with its layout, chunk index, offset
 * and size for pread, as dxt_reader_chunk_where), 0 when none is left or it
 * cannot be read without HDF5, -1 err. dxt_reader_tails_checked(ok): 1 every
 * tail of op decoded; 0 one did not, or could not be read: HDF5 checks them
 * as dxt_reader_open does (and may cut the rows). 0, or -1 err: the file is
 * then not usable, as if dxt_reader_open had failed. */
int dxt_reader_open_deferred(const char *path, dxt_reader **out, dxt_error *err);
int dxt_reader_tail_where(dxt_reader *r, int op, dxt_name name, dxt_chunk_layout *lay,
                          int64_t *chunk, uint64_t *offset, uint64_t *size, dxt_error *err);
int dxt_reader_tails_checked(dxt_reader *r, int op, int ok, dxt_error *err);

/* The device and inode of the file the reader's HDF5 handles have open (its
 * path may name another file since: replaced when compressed at close): 1, or
 * 0 when unknown (not HDF5's sec2 driver; then no chunk is read by address). */
int dxt_reader_file_identity(dxt_reader *r, uint64_t *dev, uint64_t *ino);

/* Close the file's HDF5 handles and keep what was read (meta, ops, rows): an
 * open HDF5 file costs about 1 MB (HDF5 1.10's metadata cache alone is 0.5
 * MB), so a reader of thousands of files keeps few open. The next read
 * reopens the file by its path (without validating it again). */
void dxt_reader_suspend(dxt_reader *r);
int dxt_reader_is_open(const dxt_reader *r); /* 1: its HDF5 handles are open */

/* A suspended reader of path made from what another reader of the same file
 * and build validated (its dxt_reader_meta, and ops dxt_reader_op 0 .. nops - 1):
 * no HDF5 call here, the first read opens the file (a partitioned dxt-analyze:
 * each process validates its share of the files, the others adopt them).
 * 0, or -1 with err (out of memory, nops out of range). */
int dxt_reader_adopt(const char *path, const dxt_meta *meta, const dxt_op_info *ops, int nops,
                     dxt_reader **out, dxt_error *err);

void dxt_reader_close(dxt_reader *r);

#endif
