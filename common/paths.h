/*
 * paths.h - where the plugin and the helper look for things by default
 *
 * OAUTH2_CONFIG_FILE comes from configure (--with-config-file). The
 * environment variable OAUTH2_TOKEN_HELPER_CONFIG overrides it, read with
 * secure_getenv() so a set-uid caller cannot be steered to another file.
 */
#ifndef OAUTH2_PATHS_H
#define OAUTH2_PATHS_H

#ifndef OAUTH2_CONFIG_FILE
#define OAUTH2_CONFIG_FILE "/etc/oauth2-token-helper.conf"
#endif
#define OAUTH2_CONFIG_ENV "OAUTH2_TOKEN_HELPER_CONFIG"
/*
 * The daemon's socket when the config does not say, for the daemon and the
 * plugin alike: under Postfix's private/. The one place it is defined.
 */
#define OAUTH2_DEFAULT_SOCKET "/var/spool/postfix/private/oauth2-token-helper"
/* A socket path must fit sockaddr_un's sun_path (108 bytes on Linux) with its NUL. */
#define OAUTH2_SOCKET_PATH_MAX 108
#define OAUTH2_DEFAULT_STATE_DIR "/var/lib/oauth2-token-helper"
/* The daemon's user in the systemd unit (User=) and the sysusers file. */
#define OAUTH2_DAEMON_USER "oauth2-helper"

#endif
