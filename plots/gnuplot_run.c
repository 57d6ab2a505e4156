/* gnuplot_run.c - runs gnuplot as a child: posix_spawnp with an argv (no
 * shell), the script and binary data through a socket pair (send with
 * MSG_NOSIGNAL: a gnuplot that dies early cannot kill us with SIGPIPE),
 * gnuplot's messages into a memfd so its last error line can be returned.
 * The picture: gnuplot never opens a file by name (a planted link in a
 * shared output directory would be written through): scripts say a bare
 * `set output` and gnuplot's stdout is an anonymous file we created in the
 * target directory (format/fmt_safefile.c), put in place when gnuplot
 * succeeded, replacing at most an earlier plot of ours, never a link or
 * another user's file. Owned by the plots engineer (plots/); file output:
 * the safety helper. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dxt_format.h"
#include "plot_internal.h"

extern char **environ;

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t sent = send(fd, p, len, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0)
            return -1;
        p += sent;
        len -= (size_t)sent;
    }
    return 0;
}

/* The last non-empty line gnuplot wrote (its error), into buf. */
static void last_output_line(int fd, char *buf, size_t len)
{
    char tail[1024];
    buf[0] = '\0';
    off_t end = lseek(fd, 0, SEEK_END);
    if (end <= 0)
        return;
    off_t from = end > (off_t)(sizeof(tail) - 1) ? end - (off_t)(sizeof(tail) - 1) : 0;
    ssize_t got = pread(fd, tail, sizeof(tail) - 1, from);
    if (got <= 0)
        return;
    tail[got] = '\0';
    while (got > 0 && (tail[got - 1] == '\n' || tail[got - 1] == ' '))
        tail[--got] = '\0';
    char *line = strrchr(tail, '\n');
    line = line ? line + 1 : tail;
    size_t keep = strlen(line);
    if (keep > len - 1)
        keep = len - 1;
    memcpy(buf, line, keep);
    buf[keep] = '\0';
    for (char *c = buf; *c; c++) /* gnuplot may echo binary data: printable ASCII only */
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
}

static int wait_child(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* Spawn program with stdin = in_fd, stdout = picture_fd, stderr = msg_fd. */
static int spawn_gnuplot(const char *program, int in_fd, int picture_fd, int msg_fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0)
        return rc;
    rc = posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, picture_fd, 1);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, msg_fd, 2);
    char *argv[] = {(char *)program, NULL};
    if (rc == 0)
        rc = posix_spawnp(pid, program, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/* A new anonymous file in out_path's directory for the picture. */
static dxt_plot_rc open_picture(const char *out_path, dxt_newfile *nf, const char **base,
                                char *err, size_t errlen)
{
    dxt_error e = {{0}};
    if (dxt_output_open(out_path, nf, base, &e) != 0)
        return plot_fail(DXT_PLOT_EIO, err, errlen, "%s", e.msg);
    return DXT_PLOT_OK;
}

/* Put the finished picture at out_path (see the file comment). */
static dxt_plot_rc publish_picture(const char *out_path, dxt_newfile *nf, const char *base,
                                   char *err, size_t errlen)
{
    dxt_error e = {{0}};
    if (dxt_output_publish(nf, out_path, base, &e) != 0)
        return plot_fail(DXT_PLOT_EIO, err, errlen, "%s", e.msg);
    return DXT_PLOT_OK;
}

dxt_plot_rc plot_run_gnuplot(const char *program, const plot_buf *script, const void *data,
                             size_t datalen, const char *trailer, const char *out_path,
                             char *err, size_t errlen)
{
    dxt_plot_rc rc = DXT_PLOT_OK;
    int sv[2] = {-1, -1}, out_fd = -1, status = 0, send_failed = 0;
    dxt_newfile picture = {.dirfd = -1, .fd = -1};
    const char *base = NULL;
    pid_t pid = -1;
    char line[512];
    if (!program)
        program = "gnuplot";
    if (script->failed)
        return plot_fail(DXT_PLOT_ENOMEM, err, errlen, "out of memory building the gnuplot script");
    if ((rc = open_picture(out_path, &picture, &base, err, errlen)) != DXT_PLOT_OK)
        return rc;
    out_fd = memfd_create("dxt-gnuplot-output", MFD_CLOEXEC);
    if (out_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        rc = plot_fail(DXT_PLOT_EIO, err, errlen, "cannot create a pipe for gnuplot: %s",
                       strerror(errno));
        goto fail;
    }
    int spawn_rc = spawn_gnuplot(program, sv[1], picture.fd, out_fd, &pid);
    if (spawn_rc != 0) {
        pid = -1;
        if (spawn_rc == ENOENT)
            rc = plot_fail(DXT_PLOT_ENOGNUPLOT, err, errlen,
                           "gnuplot not found: install gnuplot-nox (no '%s' in PATH)", program);
        else
            rc = plot_fail(DXT_PLOT_EGNUPLOT, err, errlen, "cannot start %s: %s", program,
                           strerror(spawn_rc));
        goto fail;
    }
    close(sv[1]);
    sv[1] = -1;
    if (send_all(sv[0], script->data, script->len) != 0 ||
        (datalen > 0 && send_all(sv[0], data, datalen) != 0) ||
        (trailer && send_all(sv[0], trailer, strlen(trailer)) != 0))
        send_failed = 1;
    close(sv[0]);
    sv[0] = -1;
    if (wait_child(pid, &status) != 0) {
        rc = plot_fail(DXT_PLOT_EGNUPLOT, err, errlen, "waiting for %s: %s", program,
                       strerror(errno));
        goto fail;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || send_failed) {
        last_output_line(out_fd, line, sizeof(line));
        if (WIFSIGNALED(status))
            rc = plot_fail(DXT_PLOT_EGNUPLOT, err, errlen, "%s killed by signal %d: %s",
                           program, WTERMSIG(status), line);
        else
            rc = plot_fail(DXT_PLOT_EGNUPLOT, err, errlen, "%s failed (exit %d): %s", program,
                           WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                           line[0] ? line : "no message");
        goto fail;
    }
    rc = publish_picture(out_path, &picture, base, err, errlen); /* closes picture and its dir */
fail:
    dxt_newfile_discard(&picture);
    if (picture.dirfd >= 0)
        close(picture.dirfd);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    if (out_fd >= 0)
        close(out_fd);
    return rc;
}
