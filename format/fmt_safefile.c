/* fmt_safefile.c - creating files in directories that other users can write
 * to (shared scratch, /tmp) without ever writing through a link they planted
 * and without ever replacing a file we did not create.
 * Owner: the format module (format/). Used by the trace writer and compress
 * (format/), the recorder's directory and segment names (recorder/writer.c)
 * and the analyzer's plot files (plots/gnuplot_run.c). FORMAT.md, "Files in
 * shared directories", says why each step is there.
 *
 * - directories are walked component by component with O_NOFOLLOW (created
 *   with mkdirat where missing); a symbolic link on the way is followed only
 *   when nobody else could have planted or swapped it (owned by us or root,
 *   in a directory that others cannot write to, or a sticky one);
 * - new files are created with openat(dirfd, O_CREAT | O_EXCL | O_NOFOLLOW):
 *   a name that exists (file or link) is never opened;
 * - a file that is written whole before it appears (a compressed trace, a
 *   plot) is an anonymous O_TMPFILE of the target directory (a plot), or a
 *   private named temporary ".dxt-<host>-<pid>-<random>.tmp" (a trace: HDF5
 *   needs a real name, it resolves /proc/self/fd/N with realpath; the orphan
 *   of a killed compression is removed by the next one in that directory,
 *   dxt_sweep_temporaries), put in place with
 *   linkat / renameat2(RENAME_NOREPLACE), or renamed over the one file the
 *   caller says it may replace (same device and inode, checked first);
 * - libraries that open by name (HDF5, gnuplot) are given /proc/self/fd/N of
 *   the descriptor we created: the kernel resolves it to our inode, whatever
 *   the directory holds by then. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fmt_internal.h"

/* A link found on the way may be followed: nobody but us or root could have
 * made it, nor swap it (its directory is not writable by others, or sticky). */
static int link_trusted(int parent, const char *name)
{
    struct stat link, dir;
    if (fstatat(parent, name, &link, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(link.st_mode) ||
        fstat(parent, &dir) != 0)
        return 0;
    if (link.st_uid != 0 && link.st_uid != geteuid())
        return 0;
    return !(dir.st_mode & (S_IWGRP | S_IWOTH)) || (dir.st_mode & S_ISVTX);
}

/* Open component name of parent as a directory, creating it when asked. */
static int open_component(int parent, const char *name, int create)
{
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(parent, name, flags);
    if (fd < 0 && errno == ENOENT && create) {
        if (mkdirat(parent, name, 0777) != 0 && errno != EEXIST)
            return -1;
        fd = openat(parent, name, flags);
    }
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR) && link_trusted(parent, name))
        fd = openat(parent, name, flags & ~O_NOFOLLOW);
    else if (fd < 0 && errno == ENOTDIR) {
        struct stat st;
        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            errno = ELOOP;
    }
    return fd;
}

int dxt_dir_open(const char *dir, int create, dxt_error *err)
{
    if (!dir || !dir[0])
        return dxt_fail(err, "directory name empty");
    char *copy = strdup(dir), *save = NULL;
    if (!copy)
        return dxt_fail(err, "%s: out of memory", dir);
    int fd = open(dir[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (char *c = strtok_r(copy, "/", &save); c && fd >= 0; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        int next = open_component(fd, c, create);
        int saved = errno;
        close(fd);
        fd = next;
        errno = saved;
    }
    free(copy);
    if (fd < 0 && errno == ELOOP)
        return dxt_fail(err, "%s: a symbolic link on the way that another user could have "
                        "planted (not owned by us or root, or in a directory others may write "
                        "to): not followed; use the link's target", dir);
    if (fd < 0)
        return dxt_fail(err, "%s: cannot %s the directory: %s", dir,
                        create ? "create or open" : "open", strerror(errno));
    return fd;
}

int dxt_file_create_excl(int dirfd, const char *name, dxt_error *err)
{
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        dxt_fail(err, "%s: cannot create: %s%s", name, strerror(errno),
                 errno == EEXIST ? " (the name is taken: never overwritten)" : "");
    return fd;
}

int dxt_fd_path(int fd, char *buf, size_t cap)
{
    struct stat a, b;
    snprintf(buf, cap, "/proc/self/fd/%d", fd);
    /* the name must lead to fd's own file (no /proc: creation by name is refused) */
    if (fstat(fd, &a) != 0 || stat(buf, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return -1;
    return 0;
}

/* A private temporary name: ".dxt-<host>-<pid>-<random>.tmp" (readers list
 * *.h5 only; host and pid let a later run find the orphans of a killed one). */
static void temp_name(char *buf, size_t cap)
{
    static unsigned counter;
    char host[64] = "";
    struct timespec ts;
    gethostname(host, sizeof host - 1);
    for (char *c = host; *c; c++)
        if (*c == '/' || *c == '-')
            *c = '_';
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long mix = (unsigned long)ts.tv_nsec ^ ((unsigned long)__atomic_add_fetch(
                                                         &counter, 1, __ATOMIC_RELAXED) << 20);
    snprintf(buf, cap, ".dxt-%.24s-%d-%08lx.tmp", host, (int)getpid(), mix & 0xffffffffUL);
}

/* A temporary of ours, from this host, whose process is gone: an orphan. */
static int orphan(int dirfd, const char *name, const char *host)
{
    char who[32];
    int pid = 0, used = 0;
    size_t hl = strlen(host);
    if (strncmp(name, ".dxt-", 5) != 0 || strncmp(name + 5, host, hl) != 0 ||
        name[5 + hl] != '-' || sscanf(name + 6 + hl, "%d-%31[0-9a-f].tmp%n", &pid, who, &used) != 2 ||
        name[6 + hl + used] != '\0' || pid <= 0 || pid == getpid())
        return 0;
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != geteuid())
        return 0;
    return kill(pid, 0) != 0 && errno == ESRCH;
}

int dxt_sweep_temporaries(int dirfd)
{
    char host[64] = "", probe[128];
    int removed = 0, fd = dup(dirfd);
    temp_name(probe, sizeof probe); /* the host part as temp_name spells it */
    sscanf(probe, ".dxt-%63[^-]", host);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (orphan(dirfd, e->d_name, host) && unlinkat(dirfd, e->d_name, 0) == 0)
            removed++;
    closedir(d);
    return removed;
}

int dxt_newfile_open(dxt_newfile *nf, int dirfd, int named, dxt_error *err)
{
    nf->dirfd = dirfd;
    nf->tmpname[0] = '\0';
    nf->fd = named ? -1 : openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
    if (nf->fd >= 0 && dxt_fd_path(nf->fd, nf->path, sizeof nf->path) == 0)
        return 0;
    if (nf->fd >= 0)
        close(nf->fd);
    /* asked for, or no O_TMPFILE here (NFS, older Lustre): a private name,
     * created exclusively */
    for (int tries = 0; tries < 100; tries++) {
        temp_name(nf->tmpname, sizeof nf->tmpname);
        nf->fd = openat(dirfd, nf->tmpname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0666);
        if (nf->fd >= 0 || errno != EEXIST)
            break;
    }
    if (nf->fd < 0) {
        nf->tmpname[0] = '\0';
        return dxt_fail(err, "cannot create a temporary file: %s", strerror(errno));
    }
    if (dxt_fd_path(nf->fd, nf->path, sizeof nf->path) != 0) {
        dxt_newfile_discard(nf);
        return dxt_fail(err, "/proc/self/fd is not available: files cannot be created safely "
                        "(mount /proc)");
    }
    return 0;
}

void dxt_newfile_discard(dxt_newfile *nf)
{
    if (nf->fd >= 0)
        close(nf->fd);
    if (nf->tmpname[0])
        unlinkat(nf->dirfd, nf->tmpname, 0);
    nf->fd = -1;
    nf->tmpname[0] = '\0';
}

/* Give the anonymous file a private name (so that it can be renamed). */
static int name_anonymous(dxt_newfile *nf)
{
    for (int tries = 0; tries < 100; tries++) {
        temp_name(nf->tmpname, sizeof nf->tmpname);
        if (linkat(AT_FDCWD, nf->path, nf->dirfd, nf->tmpname, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != EEXIST)
            break;
    }
    nf->tmpname[0] = '\0';
    return -1;
}

/* name holds exactly the file `expect` (same device and inode, not a link). */
static int holds(int dirfd, const char *name, const struct stat *expect)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
           st.st_dev == expect->st_dev && st.st_ino == expect->st_ino;
}

/* Move the named temporary to name without replacing anything; file systems
 * without RENAME_NOREPLACE get link + unlink (also atomic, also no-replace). */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
    if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (linkat(dirfd, from, dirfd, to, 0) != 0)
        return -1;
    unlinkat(dirfd, from, 0);
    return 0;
}

int dxt_newfile_publish(dxt_newfile *nf, const char *name, const struct stat *replace,
                        dxt_error *err)
{
    int rc = -1;
    if (replace && !holds(nf->dirfd, name, replace)) {
        errno = EEXIST;
        dxt_fail(err, "%s: changed or replaced by someone else while we wrote its new version: "
                 "left as it is", name);
        goto done;
    }
    if (!nf->tmpname[0] && !replace) { /* anonymous: one link, fails if the name exists */
        rc = linkat(AT_FDCWD, nf->path, nf->dirfd, name, AT_SYMLINK_FOLLOW);
    } else if (nf->tmpname[0] || name_anonymous(nf) == 0) {
        rc = replace ? renameat(nf->dirfd, nf->tmpname, nf->dirfd, name)
                     : rename_noreplace(nf->dirfd, nf->tmpname, name);
        if (rc == 0)
            nf->tmpname[0] = '\0';
    }
    if (rc != 0)
        dxt_fail(err, "%s: cannot put the new file in place: %s%s", name, strerror(errno),
                 errno == EEXIST ? " (the name is taken: never overwritten)" : "");
done:
    dxt_newfile_discard(nf);
    return rc;
}

/* What is at base in dirfd: 0 nothing, 1 an earlier output of ours (a regular
 * file owned by us: *st, may be replaced), -1 something we must not replace. */
static int existing_output(int dirfd, const char *base, struct stat *st)
{
    if (fstatat(dirfd, base, st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    return S_ISREG(st->st_mode) && st->st_uid == geteuid() ? 1 : -1;
}

int dxt_output_open(const char *path, dxt_newfile *nf, const char **base, dxt_error *err)
{
    int dirfd = dxt_open_parent(path, base, err);
    if (dirfd < 0)
        return -1;
    if (dxt_newfile_open(nf, dirfd, 0, err) != 0) {
        close(dirfd);
        nf->dirfd = -1;
        return -1;
    }
    return 0;
}

int dxt_output_publish(dxt_newfile *nf, const char *path, const char *base, dxt_error *err)
{
    struct stat old;
    int have = existing_output(nf->dirfd, base, &old), rc = -1;
    if (have < 0) {
        dxt_newfile_discard(nf);
        dxt_fail(err, "%s exists and is not an earlier output of ours (a link, another "
                 "user's file or not a file): not replaced; remove it or choose another name",
                 path);
    } else {
        rc = dxt_newfile_publish(nf, base, have ? &old : NULL, err);
    }
    close(nf->dirfd);
    nf->dirfd = -1;
    return rc;
}
