/*
 * regfile.h - open a file we only read (the config, secrets, keys,
 *             certificates) without ever blocking on it
 *
 * SYNOPSIS
 *	fd = regfile_open(path, &st, err, sizeof(err));
 *
 * DESCRIPTION
 *	Every file the plugin or the helper reads by name goes through
 *	regfile_open(): it opens with O_NONBLOCK (a FIFO or device in place
 *	of a file must not wedge the daemon or config-check), O_CLOEXEC and
 *	O_NOCTTY, requires a regular file (fstat, S_ISREG), then clears
 *	O_NONBLOCK. A symbolic link is followed (admins link certificates
 *	into place); what it points to must be a regular file too, and every
 *	ownership or mode check is made on that target.
 *
 * DIAGNOSTICS
 *	-1 with "PATH: reason" in err, naming the fix for a non-regular file.
 */
#ifndef OAUTH2_REGFILE_H
#define OAUTH2_REGFILE_H

#include <stddef.h>
#include <sys/stat.h>

/* regfile_open - open path read-only: a regular file or -1; *st is its fstat */
int regfile_open(const char *path, struct stat *st, char *err, size_t errsize);

/* regfile_kind - "a FIFO", "a directory", ... for a message */
const char *regfile_kind(mode_t mode);

#endif
