/*
 * privdrop.c - no core dumps; root's CLI work as the daemon's user (see privdrop.h)
 */
#include "autoconfig.h"

#include "privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

/* The user to become, and where that choice came from (for messages). */
struct target {
    uid_t uid;
    gid_t gid;
    char name[256];
    int has_name; /* name is a passwd entry: its supplementary groups apply */
    char why[600];
};

/* privdrop_nodump - PR_SET_DUMPABLE 0 and RLIMIT_CORE 0 */
int privdrop_nodump(char *err, size_t errsize)
{
    struct rlimit none = {0, 0};

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        snprintf(err, errsize, "cannot keep tokens out of core dumps: prctl(PR_SET_DUMPABLE): %s",
                 strerror(errno));
        return -1;
    }
    if (setrlimit(RLIMIT_CORE, &none) < 0) {
        snprintf(err, errsize, "cannot keep tokens out of core dumps: setrlimit(RLIMIT_CORE): %s",
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* set_name - fill a target from a passwd entry, if there is one */
static void set_name(struct target *t, const struct passwd *pw)
{
    if (pw != NULL && strlen(pw->pw_name) < sizeof(t->name)) {
        snprintf(t->name, sizeof(t->name), "%s", pw->pw_name);
        t->has_name = 1;
    } else {
        snprintf(t->name, sizeof(t->name), "uid %u", (unsigned)t->uid);
        t->has_name = 0;
    }
}

/* daemon_user - the daemon's user: 1 found, 0 none (the daemon runs as root) */
static int daemon_user(const struct config *cfg, struct target *t)
{
    struct stat sb;
    struct passwd *pw;

    memset(t, 0, sizeof(*t));
    if (cfg->run_uid != (uid_t)-1) {
        t->uid = cfg->run_uid;
        t->gid = cfg->run_gid;
        set_name(t, getpwuid(t->uid));
        if (cfg->user != NULL && strlen(cfg->user) < sizeof(t->name)) {
            snprintf(t->name, sizeof(t->name), "%s", cfg->user);
            t->has_name = 1;
        }
        snprintf(t->why, sizeof(t->why), "user = %s in %s", t->name, cfg->path);
        return t->uid != 0;
    }
    if (stat(cfg->state_dir, &sb) == 0) {
        if (sb.st_uid == 0)
            return 0;
        t->uid = sb.st_uid;
        pw = getpwuid(t->uid);
        t->gid = pw != NULL ? pw->pw_gid : sb.st_gid;
        set_name(t, pw);
        snprintf(t->why, sizeof(t->why), "the owner of state_dir %s", cfg->state_dir);
        return 1;
    }
    pw = getpwnam(PRIVDROP_UNIT_USER);
    if (pw == NULL || pw->pw_uid == 0)
        return 0;
    t->uid = pw->pw_uid;
    t->gid = pw->pw_gid;
    set_name(t, pw);
    snprintf(t->why, sizeof(t->why), "the systemd unit's user, as state_dir %s does not exist yet",
             cfg->state_dir);
    return 1;
}

/* become - set groups, gid, uid for good, and check that root cannot come back */
static int become(const struct target *t, char *err, size_t errsize)
{
    uid_t ru;
    uid_t eu;
    uid_t su;
    gid_t rg;
    gid_t eg;
    gid_t sg;
    int groups_rc;

    groups_rc = t->has_name ? initgroups(t->name, t->gid) : setgroups(1, &t->gid);
    if (groups_rc < 0 || setresgid(t->gid, t->gid, t->gid) < 0 ||
        setresuid(t->uid, t->uid, t->uid) < 0) {
        snprintf(err, errsize, "cannot become %s (%s): %s", t->name, t->why, strerror(errno));
        return -1;
    }
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != t->uid ||
        eu != t->uid || su != t->uid || rg != t->gid || eg != t->gid || sg != t->gid ||
        setuid(0) == 0 || (t->gid != 0 && setgid(0) == 0)) {
        snprintf(err, errsize, "dropping root for %s (%s) did not hold; refusing to go on", t->name,
                 t->why);
        return -1;
    }
    /* A change of uid resets the dumpable flag to fs.suid_dumpable: set it again. */
    return privdrop_nodump(err, errsize);
}

/* privdrop_to_daemon_user - as root, become the daemon's user before the network work */
int privdrop_to_daemon_user(const struct config *cfg, const char *what, char *err, size_t errsize)
{
    struct target t;

    if (geteuid() != 0)
        return 0;
    if (!daemon_user(cfg, &t)) {
        if (what != NULL)
            fprintf(stderr,
                    "oauth2-token-helper: warning: running as root to %s, as the daemon does: "
                    "no unprivileged user is known (no user = in %s, state_dir %s owned by root "
                    "or missing, no user %s). Set user = in %s (or run the daemon with the "
                    "systemd unit) so that the daemon and this command talk to the identity "
                    "platform without root\n",
                    what, cfg->path, cfg->state_dir, PRIVDROP_UNIT_USER, cfg->path);
        return 0;
    }
    /* The daemon's own check; state_dir is created for, or handed to, that user. */
    if (state_prepare_dir(cfg, t.uid, t.gid, err, errsize) < 0 || become(&t, err, errsize) < 0)
        return -1;
    return 0;
}
