/*
 * config.h - the helper's configuration: one table of keys drives parsing,
 *            checking and the dump (config-check -v)
 *
 * Global keys come before any section; each "[account NAME]" section
 * describes one mailbox (or app) whose tokens the daemon keeps. Provider
 * presets fill the token, authorize and device-code endpoints and the
 * delegated and app-only scopes; "authority", "token_endpoint",
 * "authorize_endpoint" and "device_endpoint" override them (national
 * clouds, tests, any RFC 6749 server).
 *
 * An account gets its tokens with one of three grants: refresh_token (a
 * person authorized it once: authorize or import), client_credentials
 * (app-only, no person, no refresh token) or jwt_bearer (a Google service
 * account with domain-wide delegation sending as login, svcacct.h). The client authenticates with
 * nothing (public client), a client secret, or a certificate (a signed JWT
 * client assertion, see clientauth.h).
 *
 * Security: the config holds no secret itself. client_secret_file,
 * client_key_file and client_key_passphrase_file name files that must not
 * be readable by group or others, owned by root or the daemon's user;
 * config_secret_file_read() is the one place that reads them. The config
 * file itself must not be writable by group or others, nor belong to
 * anyone but root or the daemon's user: whoever can edit it can point
 * authority at their own server. Every file is opened with
 * regfile_open(): a FIFO in its place cannot wedge the daemon.
 */
#ifndef OAUTH2_CONFIG_H
#define OAUTH2_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#define CONFIG_MAX_ACCOUNTS 10000
#define CONFIG_MAX_IDS 64
#define CONFIG_ACCOUNT_NAME_MAX 200
#define CONFIG_KEY_MAX (16 * 1024) /* a PEM private key file */

typedef enum {
    GRANT_REFRESH_TOKEN,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_JWT_BEARER /* RFC 7523 grant: a Google service account (svcacct.h) */
} account_grant;

/* config_app_only - an account whose tokens need nobody's sign-in (no refresh token) */
#define config_app_only(a) ((a)->grant_type != GRANT_REFRESH_TOKEN)

/* How a provider is asked for a refresh token during authorization. */
typedef enum {
    OFFLINE_SCOPE,      /* the offline_access scope (Microsoft, most OIDC servers) */
    OFFLINE_ACCESS_TYPE /* access_type=offline and prompt=consent (Google) */
} offline_style;

struct account_conf {
    char *name;
    char *provider;
    char *tenant;
    char *client_id;
    char *client_secret_file;
    char *scope;
    char *login;
    char *authority;
    char *token_endpoint;
    char *ca_file;
    char *client_secret_expires;
    char *grant;
    char *client_certificate_file;
    char *client_key_file;
    char *client_key_passphrase_file;
    char *assertion_alg;
    char *authorize_endpoint;
    char *device_endpoint;
    char *service_account_file;  /* grant = jwt_bearer: Google's JSON key file */
    char *relay;                 /* sendmail: HOST:PORT; NULL when the provider has no preset */
    char *relay_ca_file;         /* sendmail: "" for the system's CAs */
    char *client_assertion_file; /* federated credential: an external JWT, reread each time */
    char *assertion_audience;    /* the aud that JWT must carry */
    char *next_client_certificate_file; /* certificate rollover: the other pair */
    char *next_client_key_file;
    /* Derived by config_load: */
    char *endpoint;           /* the token endpoint actually used */
    long long secret_expires; /* client_secret_expires as unix time, 0 if unset */
    account_grant grant_type;
    char *authorize_url; /* authorization endpoint, NULL when unknown */
    char *device_url;    /* device authorization endpoint, NULL when unknown */
    offline_style offline;
    int microsoft;    /* a Microsoft identity platform preset */
    int line;         /* of the [account NAME] header */
    uid_t daemon_uid; /* copy of config's: may own secret files */
};

struct config {
    char *path;
    char *socket;
    char *state_dir;
    char *allow_users;
    char *allow_groups;
    char *user;
    char *socket_group;
    char *socket_mode;
    char *refresh_ahead;
    /* Derived by config_load: */
    uid_t allow_uids[CONFIG_MAX_IDS];
    size_t n_allow_uids;
    gid_t allow_gids[CONFIG_MAX_IDS];
    size_t n_allow_gids;
    uid_t run_uid; /* (uid_t)-1 when "user" is unset */
    gid_t run_gid;
    gid_t sock_gid; /* (gid_t)-1 when "socket_group" is unset */
    mode_t sock_mode;
    long refresh_ahead_s;
    uid_t daemon_uid; /* run_uid, else (as root, unit installed) OAUTH2_DAEMON_USER's, else ours */
    struct account_conf *accounts;
    size_t n_accounts;
    int *lines; /* private to config.c: the line of each setting */
};

/* config_report_fn - one problem, "FILE:LINE: what; fix: how" */
typedef void (*config_report_fn)(void *ctx, const char *msg);

/*
 * config_load - parse and validate path; NULL with the first problem
 * ("FILE:LINE: what; fix: how", and how many more there are) in err. The
 * file must be a regular file, not writable by group or others, owned by
 * root, the caller or the daemon's user.
 */
struct config *config_load(const char *path, char *err, size_t errsize);

/* config_load_stream - the same from an open stream; path names it in messages */
struct config *config_load_stream(FILE *fp, const char *path, char *err, size_t errsize);

/*
 * config_check_load - parse and validate path, passing every problem to
 * report; *problems counts them. The config is returned even with
 * problems (for config_check_files), NULL only when the file cannot be
 * read at all.
 */
struct config *config_check_load(const char *path, config_report_fn report, void *ctx,
                                 int *problems);

/* config_free - release a config; NULL is fine */
void config_free(struct config *cfg);

/* config_find - the account named name, or NULL */
struct account_conf *config_find(const struct config *cfg, const char *name);

/* config_path - the config file to use: explicit, else $OAUTH2_TOKEN_HELPER_CONFIG, else built-in
 */
const char *config_path(const char *explicit_path);

/*
 * config_check_files - check state_dir and every file the config names:
 * regular files, modes, owners, contents of secrets; run as root, also
 * whether the daemon's user (daemon_uid) can reach and read each of them
 * and the config. One report per problem, with FILE:LINE and the
 * chown/chmod that fixes it; returns the number of problems.
 */
int config_check_files(const struct config *cfg, config_report_fn report, void *ctx);

/*
 * config_state_dir_owner - state_dir (st) must belong to daemon_uid, root
 * or OAUTH2_DAEMON_USER (the unit's user, for whom the CLI run as root
 * creates it); -1 with err naming the owner and the chown that fixes it
 */
int config_state_dir_owner(const struct config *cfg, uid_t daemon_uid, const struct stat *st,
                           char *err, size_t errsize);

/* config_secret_read - read an account's client secret; -1 with err naming the file and fix */
int config_secret_read(const struct account_conf *acct, char **secret, char *err, size_t errsize);

/*
 * config_secret_file_read - read a file holding a secret (client secret,
 * private key, passphrase), named by the account's setting key. The file
 * must be a regular file closed to group and others, at most max bytes.
 * one_line: trailing newlines and spaces are dropped and the rest must be
 * one line. *out is NULL when file is empty; free it with secret_free().
 * -1 with err naming the account, setting, file and fix.
 */
int config_secret_file_read(const struct account_conf *acct, const char *key, const char *file,
                            size_t max, int one_line, char **out, char *err, size_t errsize);

/*
 * config_relay_parse - split a relay setting "HOST:PORT" ("[IPv6]:PORT"
 * too) into host (brackets kept) and port; -1 with err saying what is wrong
 */
int config_relay_parse(const char *relay, char *host, size_t hostsize, unsigned *port, char *err,
                       size_t errsize);

/* config_dump - print the effective configuration, one "key = value" per line */
void config_dump(const struct config *cfg, FILE *fp);

/* config_key_name - the table's i-th key (NULL past the end), for the documentation test */
const char *config_key_name(size_t i, int *is_account);

/* One key's entry in the table, for the documentation test. */
struct config_key_info {
    const char *name;
    int is_account;        /* set in [account NAME] sections, else before them */
    const char *dflt;      /* NULL: none (a provider preset, or required) */
    const char *file_kind; /* "" or the file it names: secret, key, certificate, CA */
    const char *doc;       /* one line */
};

/* config_key_info - the i'th key of the table; -1 past the end */
int config_key_info(size_t i, struct config_key_info *info);

/* config_forbidden_key - the i'th key refused as holding a secret; NULL past the end */
const char *config_forbidden_key(size_t i);

/* config_is_guid - s is a GUID, 8-4-4-4-12 hex digits (client_id, a tenant ID) */
int config_is_guid(const char *s);

#endif
