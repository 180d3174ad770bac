/*
 * test_sockclient.c - the socketmap client's deadline holds in every state
 * of the daemon's socket: nobody listening, a daemon that accepts and says
 * nothing, a listen queue so full that connect() cannot complete, a reply
 * with a NUL inside
 *
 * A hang is a failure: an alarm ends the test if a query outlives its
 * deadline by far.
 */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sockclient.h"
#include "tap.h"

static char dir[] = "/tmp/test_sockclient.XXXXXX";
static char path[128];

/* elapsed_ms - milliseconds since t0 */
static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* listener - a listening socket at path with the given backlog */
static int listener(int backlog)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    unlink(path);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, backlog) < 0)
        return -1;
    return fd;
}

/* query - one query with a 300 ms deadline; its result and duration */
static sockclient_result query(long *ms, char *data, size_t datasize)
{
    struct timespec t0;
    socketmap_status status;
    char err[300];
    sockclient_result r;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = sockclient_query(path, NULL, PROTOCOL_TOKEN, "alice@contoso.test", 300, &status, data,
                         datasize, err, sizeof(err));
    *ms = elapsed_ms(&t0);
    return r;
}

static void on_alarm(int sig)
{
    (void)sig;
    printf("not ok - a query hung past its deadline\n1..0\n");
    _exit(1);
}

int main(void)
{
    char data[200];
    int fillers[4096];
    size_t nfill = 0;
    long ms;
    int lfd;
    pid_t child;
    sockclient_result r;

    signal(SIGALRM, on_alarm);
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(path, sizeof(path), "%s/sock", dir);

    alarm(10);
    r = query(&ms, data, sizeof(data));
    ok(r == SOCKCLIENT_UNREACHABLE && ms < 100, "no socket: unreachable at once (%ld ms)", ms);

    lfd = listener(16);
    r = query(&ms, data, sizeof(data));
    ok(r == SOCKCLIENT_TIMEOUT && ms >= 250 && ms < 1000,
       "a daemon that accepts nothing and says nothing: timeout at the deadline (%ld ms)", ms);
    close(lfd);

    /* A listen queue that is full: connect() would block for ever. */
    lfd = listener(0);
    while (nfill < sizeof(fillers) / sizeof(fillers[0])) {
        struct sockaddr_un sun;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        memcpy(sun.sun_path, path, strlen(path) + 1);
        if (fd < 0)
            break;
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            close(fd);
            break;
        }
        fillers[nfill++] = fd;
    }
    r = query(&ms, data, sizeof(data));
    ok(r == SOCKCLIENT_TIMEOUT && ms >= 250 && ms < 1000,
       "a full listen queue (%zu waiting): timeout at the deadline, no hang (%ld ms)", nfill, ms);
    while (nfill > 0)
        close(fillers[--nfill]);
    close(lfd);

    /* A reply with a NUL inside is not a socketmap reply. */
    lfd = listener(16);
    child = fork();
    if (child == 0) {
        char buf[100];
        int fd = accept(lfd, NULL, NULL);

        if (recv(fd, buf, sizeof(buf), 0) > 0 && send(fd, "10:OK ab\0cdef,", 14, 0) < 0)
            _exit(1);
        sleep(1);
        _exit(0);
    }
    r = query(&ms, data, sizeof(data));
    ok(r == SOCKCLIENT_PROTOCOL, "a reply with a NUL inside is refused (%d)", (int)r);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    close(lfd);
    unlink(path);
    rmdir(dir);
    return done_testing();
}
