/*
 * privdrop.h - keep secrets out of core dumps, and do the network work of
 *              a CLI command run as root as the daemon's unprivileged user
 *
 * SYNOPSIS
 *     privdrop_nodump(err, errsize)
 *     privdrop_to_daemon_user(cfg, what, err, errsize)
 *
 * DESCRIPTION
 *     privdrop_nodump() makes the process non-dumpable (PR_SET_DUMPABLE 0:
 *     no core file, no ptrace or /proc/PID/mem by other processes of the
 *     same user) and sets RLIMIT_CORE to 0, soft and hard. Every command
 *     calls it at start-up, and again after any change of uid, which may
 *     reset the dumpable flag (to fs.suid_dumpable).
 *
 *     privdrop_to_daemon_user() is what "token" (refreshing without the
 *     daemon) and "authorize"/"import" do when run as root, after root has
 *     read what only root may read (the config; authorize also reads the
 *     client secret or key first), and before any network I/O or parsing
 *     of a peer's data, as OpenSSH's privilege separation does it. The
 *     daemon's user is, in this order: the config's "user"; the owner of
 *     state_dir when that is not root (systemd's StateDirectory= gives it
 *     to the unit's User=); the unit's user PRIVDROP_UNIT_USER when
 *     state_dir does not exist yet. state_dir goes through the daemon's
 *     own state_prepare_dir(): created (0700) for that user if missing,
 *     handed to it, and refused when another user owns it or group or
 *     others may enter it. The process then loses root for good: supplementary
 *     groups, gid and uid (real, effective and saved) are set and checked,
 *     and regaining root must fail. State files it writes afterwards belong
 *     to the daemon's user, as the daemon's own do.
 *
 *     When no unprivileged user can be determined (no "user", state_dir
 *     owned by root), the daemon itself runs as root and talks to the
 *     identity platform as root: the command keeps root as well (its state
 *     files must stay usable by that daemon, and no other user may write
 *     them) and says so on stderr, naming the setting that fixes it.
 *
 * DIAGNOSTICS
 *     -1 with err naming the user, file and fix.
 */
#ifndef OAUTH2_PRIVDROP_H
#define OAUTH2_PRIVDROP_H

#include <stddef.h>

#include "config.h"

/* The user the shipped systemd unit and sysusers file create. */
#define PRIVDROP_UNIT_USER "oauth2-helper"

/* privdrop_nodump - no core dumps, not dumpable; -1 with err */
int privdrop_nodump(char *err, size_t errsize);

/*
 * privdrop_to_daemon_user - as root: become the daemon's user for good
 * (see above); not root: nothing to do. what names the network work in
 * the warning shown when root is kept ("refresh the token", "sign in");
 * NULL: no network work, no warning. 0 done (or nothing to do), -1 with err.
 */
int privdrop_to_daemon_user(const struct config *cfg, const char *what, char *err, size_t errsize);

#endif
