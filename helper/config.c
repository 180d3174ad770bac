/*
 * config.c - the helper's configuration (see config.h)
 *
 * Diagnostics: every error names the file, the line or account, the key,
 * and what would be accepted.
 */
#include "autoconfig.h"

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ini.h"
#include "paths.h"
#include "saslwire.h"

#define SECRET_MAX 4096

enum key_scope { KEY_GLOBAL, KEY_ACCOUNT };

/* The one table of configuration keys. */
static const struct config_key {
    const char *name;
    enum key_scope scope;
    size_t offset; /* of the char * in struct config or struct account_conf */
    const char *dflt;
} config_keys[] = {
    {"socket", KEY_GLOBAL, offsetof(struct config, socket), OAUTH2_DEFAULT_SOCKET},
    {"state_dir", KEY_GLOBAL, offsetof(struct config, state_dir), OAUTH2_DEFAULT_STATE_DIR},
    {"allow_users", KEY_GLOBAL, offsetof(struct config, allow_users), "postfix"},
    {"allow_groups", KEY_GLOBAL, offsetof(struct config, allow_groups), ""},
    {"user", KEY_GLOBAL, offsetof(struct config, user), ""},
    {"socket_group", KEY_GLOBAL, offsetof(struct config, socket_group), ""},
    {"socket_mode", KEY_GLOBAL, offsetof(struct config, socket_mode), "0660"},
    {"refresh_ahead", KEY_GLOBAL, offsetof(struct config, refresh_ahead), "600"},
    {"provider", KEY_ACCOUNT, offsetof(struct account_conf, provider), "microsoft"},
    {"tenant", KEY_ACCOUNT, offsetof(struct account_conf, tenant), NULL},
    {"client_id", KEY_ACCOUNT, offsetof(struct account_conf, client_id), NULL},
    {"client_secret_file", KEY_ACCOUNT, offsetof(struct account_conf, client_secret_file), ""},
    {"scope", KEY_ACCOUNT, offsetof(struct account_conf, scope), NULL},
    {"login", KEY_ACCOUNT, offsetof(struct account_conf, login), NULL},
    {"authority", KEY_ACCOUNT, offsetof(struct account_conf, authority), NULL},
    {"token_endpoint", KEY_ACCOUNT, offsetof(struct account_conf, token_endpoint), ""},
    {"ca_file", KEY_ACCOUNT, offsetof(struct account_conf, ca_file), ""},
    {"client_secret_expires", KEY_ACCOUNT, offsetof(struct account_conf, client_secret_expires),
     ""},
};
#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* Provider presets: login host, token path and default scope. */
static const struct provider {
    const char *name;
    const char *authority; /* NULL: the endpoint is fixed */
    const char *endpoint;  /* used when authority is NULL */
    const char *tenant;
    const char *scope;
} providers[] = {
    {"microsoft", "https://login.microsoftonline.com", NULL, "common",
     "https://outlook.office.com/SMTP.Send offline_access"},
    {"microsoft-usgov", "https://login.microsoftonline.us", NULL, "common",
     "https://outlook.office365.us/SMTP.Send offline_access"},
    {"microsoft-china", "https://login.partner.microsoftonline.cn", NULL, "common",
     "https://partner.outlook.cn/SMTP.Send offline_access"},
    {"google", NULL, "https://oauth2.googleapis.com/token", "", "https://mail.google.com/"},
    {"custom", NULL, NULL, "", NULL},
};

/* slot - the char * a key's value lives in */
static char **slot(void *base, const struct config_key *k)
{
    return (char **)((char *)base + k->offset);
}

/* config_key_name - the i'th key of the table, NULL past the end */
const char *config_key_name(size_t i, int *is_account)
{
    if (i >= N_KEYS)
        return NULL;
    *is_account = config_keys[i].scope == KEY_ACCOUNT;
    return config_keys[i].name;
}

/* config_path - explicit, else environment, else built-in */
const char *config_path(const char *explicit_path)
{
    const char *env;

    if (explicit_path != NULL)
        return explicit_path;
    env = secure_getenv(OAUTH2_CONFIG_ENV);
    if (env != NULL && *env != '\0')
        return env;
    return OAUTH2_CONFIG_FILE;
}

/* account_name_ok - names become file names in state_dir: keep them tame */
static int account_name_ok(const char *name)
{
    size_t i;
    size_t len = strlen(name);

    if (len == 0 || len > CONFIG_ACCOUNT_NAME_MAX || name[0] == '.' || name[0] == '-')
        return 0;
    for (i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && strchr("._@+-", name[i]) == NULL)
            return 0;
    return 1;
}

/* parse_handler - the ini callback: put each value in its slot */
static int parse_handler(void *ctx, const char *section, const char *name, const char *key,
                         const char *value, char *err, size_t errsize)
{
    struct config *cfg = ctx;
    size_t i;

    if (key == NULL) {
        struct account_conf *grown;

        if (strcmp(section, "account") != 0) {
            snprintf(err, errsize, "unknown section [%s]: sections look like [account NAME]",
                     section);
            return -1;
        }
        if (!account_name_ok(name)) {
            snprintf(err, errsize,
                     "account name \"%.64s\" must be 1-%d characters of letters, digits and "
                     "._@+- (not starting with . or -)",
                     name, CONFIG_ACCOUNT_NAME_MAX);
            return -1;
        }
        if (config_find(cfg, name) != NULL) {
            snprintf(err, errsize, "account %s is defined twice", name);
            return -1;
        }
        if (cfg->n_accounts >= CONFIG_MAX_ACCOUNTS) {
            snprintf(err, errsize, "more than %d accounts", CONFIG_MAX_ACCOUNTS);
            return -1;
        }
        grown = realloc(cfg->accounts, (cfg->n_accounts + 1) * sizeof(*grown));
        if (grown == NULL) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        cfg->accounts = grown;
        memset(&grown[cfg->n_accounts], 0, sizeof(*grown));
        grown[cfg->n_accounts].name = strdup(name);
        if (grown[cfg->n_accounts].name == NULL) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        cfg->n_accounts++;
        return 0;
    }
    for (i = 0; i < N_KEYS; i++) {
        const struct config_key *k = &config_keys[i];
        int in_account = section[0] != '\0';
        char **dst;

        if (strcmp(k->name, key) != 0)
            continue;
        if ((k->scope == KEY_ACCOUNT) != in_account) {
            snprintf(err, errsize, "%s belongs %s", key,
                     k->scope == KEY_ACCOUNT ? "in an [account NAME] section"
                                             : "before the first [account] section");
            return -1;
        }
        dst = slot(in_account ? (void *)&cfg->accounts[cfg->n_accounts - 1] : (void *)cfg, k);
        if (*dst != NULL) {
            snprintf(err, errsize, "%s is set twice", key);
            return -1;
        }
        *dst = strdup(value);
        if (*dst == NULL) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "client_secret") == 0 || strcmp(key, "refresh_token") == 0)
        snprintf(err, errsize,
                 "%s cannot be set here: secrets are read from files only (client_secret_file; "
                 "refresh tokens: oauth2-token-helper import ACCOUNT)",
                 key);
    else
        snprintf(err, errsize, "unknown key \"%.64s\"", key);
    return -1;
}

/* ids_parse - resolve a list of user or group names (or numbers) */
static int ids_parse(const char *list, int groups, unsigned *ids, size_t *n, char *err,
                     size_t errsize)
{
    char *copy = strdup(list);
    char *save = NULL;
    char *w;
    int rc = 0;

    *n = 0;
    if (copy == NULL)
        return -1;
    for (w = strtok_r(copy, " ,\t", &save); w != NULL; w = strtok_r(NULL, " ,\t", &save)) {
        unsigned id;

        if (groups) {
            struct group *gr = getgrnam(w);

            if (gr == NULL) {
                snprintf(err, errsize, "allow_groups: no such group \"%.64s\"", w);
                rc = -1;
                break;
            }
            id = gr->gr_gid;
        } else {
            struct passwd *pw = getpwnam(w);

            if (pw == NULL) {
                snprintf(err, errsize, "allow_users: no such user \"%.64s\"", w);
                rc = -1;
                break;
            }
            id = pw->pw_uid;
        }
        if (*n >= CONFIG_MAX_IDS) {
            snprintf(err, errsize, "allow_%s: more than %d entries", groups ? "groups" : "users",
                     CONFIG_MAX_IDS);
            rc = -1;
            break;
        }
        ids[(*n)++] = id;
    }
    free(copy);
    return rc;
}

/* https_ok - endpoints must be https URLs */
static int https_ok(const char *url)
{
    return strncmp(url, "https://", 8) == 0 && url[8] != '\0' && strpbrk(url, " \t") == NULL;
}

/* finish_account - apply the provider preset and check one account */
static int finish_account(struct config *cfg, struct account_conf *a, char *err, size_t errsize)
{
    const struct provider *p = NULL;
    size_t i;
    char buf[1024];

    for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
        if (strcmp(providers[i].name, a->provider) == 0)
            p = &providers[i];
    if (p == NULL) {
        snprintf(err, errsize,
                 "%s: account %s: provider \"%.32s\" is unknown; use microsoft, "
                 "microsoft-usgov, microsoft-china, google or custom",
                 cfg->path, a->name, a->provider);
        return -1;
    }
    if (a->client_id == NULL || a->client_id[0] == '\0') {
        snprintf(err, errsize,
                 "%s: account %s: client_id is missing (the Application (client) ID of the app "
                 "registration)",
                 cfg->path, a->name);
        return -1;
    }
    if (a->tenant == NULL && (a->tenant = strdup(p->tenant)) == NULL)
        return -1;
    if (a->scope == NULL && p->scope != NULL && (a->scope = strdup(p->scope)) == NULL)
        return -1;
    if (a->scope == NULL || a->scope[0] == '\0') {
        snprintf(err, errsize, "%s: account %s: scope is required with provider %s", cfg->path,
                 a->name, a->provider);
        return -1;
    }
    if (a->login == NULL && (a->login = strdup(a->name)) == NULL)
        return -1;
    if (!saslwire_login_ok(a->login, strlen(a->login))) {
        snprintf(err, errsize,
                 "%s: account %s: login \"%.64s\" may not contain spaces, commas, '=' or "
                 "control characters",
                 cfg->path, a->name, a->login);
        return -1;
    }
    if (a->authority == NULL && p->authority != NULL && (a->authority = strdup(p->authority)) == NULL)
        return -1;
    if (a->token_endpoint[0] != '\0') {
        a->endpoint = strdup(a->token_endpoint);
    } else if (a->authority != NULL && p->authority != NULL) {
        size_t al = strlen(a->authority);

        while (al > 0 && a->authority[al - 1] == '/')
            al--;
        if (a->tenant[0] == '\0' || strpbrk(a->tenant, "/?#% ") != NULL) {
            snprintf(err, errsize,
                     "%s: account %s: tenant \"%.64s\" must be common, organizations, "
                     "consumers, a tenant ID or a domain",
                     cfg->path, a->name, a->tenant);
            return -1;
        }
        snprintf(buf, sizeof(buf), "%.*s/%s/oauth2/v2.0/token", (int)al, a->authority, a->tenant);
        a->endpoint = strdup(buf);
    } else if (p->endpoint != NULL) {
        a->endpoint = strdup(p->endpoint);
    } else {
        snprintf(err, errsize, "%s: account %s: provider %s needs token_endpoint", cfg->path,
                 a->name, a->provider);
        return -1;
    }
    if (a->endpoint == NULL)
        return -1;
    if (a->client_secret_expires[0] != '\0') {
        struct tm tm;
        char *end;

        memset(&tm, 0, sizeof(tm));
        end = strptime(a->client_secret_expires, "%Y-%m-%d", &tm);
        if (end == NULL || *end != '\0' || tm.tm_year < 100) {
            snprintf(err, errsize,
                     "%s: account %s: client_secret_expires \"%.32s\" must be a date such as "
                     "2027-06-30 (the Expires column under Certificates & secrets)",
                     cfg->path, a->name, a->client_secret_expires);
            return -1;
        }
        a->secret_expires = (long long)timegm(&tm);
    }
    if (!https_ok(a->endpoint)) {
        snprintf(err, errsize, "%s: account %s: token endpoint \"%.128s\" must be an https:// URL",
                 cfg->path, a->name, a->endpoint);
        return -1;
    }
    return 0;
}

/* finish_global - check global settings and resolve names */
static int finish_global(struct config *cfg, char *err, size_t errsize)
{
    char *end;
    long v;

    if (strlen(cfg->socket) >= 108 || cfg->socket[0] != '/') {
        snprintf(err, errsize, "%s: socket \"%.128s\" must be an absolute path under 108 bytes",
                 cfg->path, cfg->socket);
        return -1;
    }
    if (cfg->state_dir[0] != '/') {
        snprintf(err, errsize, "%s: state_dir \"%.128s\" must be an absolute path", cfg->path,
                 cfg->state_dir);
        return -1;
    }
    if (ids_parse(cfg->allow_users, 0, cfg->allow_uids, &cfg->n_allow_uids, err, errsize) < 0 ||
        ids_parse(cfg->allow_groups, 1, cfg->allow_gids, &cfg->n_allow_gids, err, errsize) < 0) {
        char tmp[512];

        snprintf(tmp, sizeof(tmp), "%s", err);
        snprintf(err, errsize, "%s: %s", cfg->path, tmp);
        return -1;
    }
    cfg->run_uid = (uid_t)-1;
    cfg->run_gid = (gid_t)-1;
    if (cfg->user[0] != '\0') {
        struct passwd *pw = getpwnam(cfg->user);

        if (pw == NULL) {
            snprintf(err, errsize, "%s: user: no such user \"%.64s\"", cfg->path, cfg->user);
            return -1;
        }
        cfg->run_uid = pw->pw_uid;
        cfg->run_gid = pw->pw_gid;
    }
    cfg->sock_gid = (gid_t)-1;
    if (cfg->socket_group[0] != '\0') {
        struct group *gr = getgrnam(cfg->socket_group);

        if (gr == NULL) {
            snprintf(err, errsize, "%s: socket_group: no such group \"%.64s\"", cfg->path,
                     cfg->socket_group);
            return -1;
        }
        cfg->sock_gid = gr->gr_gid;
    }
    errno = 0;
    v = strtol(cfg->socket_mode, &end, 8);
    if (errno != 0 || *end != '\0' || end == cfg->socket_mode || v < 0 || (v & ~0777) != 0 ||
        (v & 0007) != 0) {
        snprintf(err, errsize,
                 "%s: socket_mode \"%.16s\" must be an octal mode with no access for others, "
                 "such as 0660",
                 cfg->path, cfg->socket_mode);
        return -1;
    }
    cfg->sock_mode = (mode_t)v;
    errno = 0;
    v = strtol(cfg->refresh_ahead, &end, 10);
    if (errno != 0 || *end != '\0' || end == cfg->refresh_ahead || v < 0 || v > 86400) {
        snprintf(err, errsize, "%s: refresh_ahead \"%.16s\" must be seconds, 0 to 86400",
                 cfg->path, cfg->refresh_ahead);
        return -1;
    }
    cfg->refresh_ahead_s = v;
    return 0;
}

/* fill_defaults - give every unset key its default */
static int fill_defaults(void *base, enum key_scope scope)
{
    size_t i;

    for (i = 0; i < N_KEYS; i++) {
        char **dst = slot(base, &config_keys[i]);

        if (config_keys[i].scope != scope || *dst != NULL || config_keys[i].dflt == NULL)
            continue;
        *dst = strdup(config_keys[i].dflt);
        if (*dst == NULL)
            return -1;
    }
    return 0;
}

/* config_load - parse and validate */
struct config *config_load(const char *path, char *err, size_t errsize)
{
    FILE *fp = fopen(path, "re");
    struct config *cfg;

    if (fp == NULL) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return NULL;
    }
    cfg = config_load_stream(fp, path, err, errsize);
    fclose(fp);
    return cfg;
}

/* config_load_stream - parse and validate an open stream */
struct config *config_load_stream(FILE *fp, const char *path, char *err, size_t errsize)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    size_t i;

    if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    if (ini_parse_stream(fp, path, parse_handler, cfg, err, errsize) < 0)
        goto fail;
    if (fill_defaults(cfg, KEY_GLOBAL) < 0) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    if (finish_global(cfg, err, errsize) < 0)
        goto fail;
    for (i = 0; i < cfg->n_accounts; i++) {
        if (fill_defaults(&cfg->accounts[i], KEY_ACCOUNT) < 0) {
            snprintf(err, errsize, "out of memory");
            goto fail;
        }
        if (finish_account(cfg, &cfg->accounts[i], err, errsize) < 0)
            goto fail;
    }
    return cfg;
fail:
    config_free(cfg);
    return NULL;
}

/* config_free - release a config */
void config_free(struct config *cfg)
{
    size_t i;
    size_t j;

    if (cfg == NULL)
        return;
    for (i = 0; i < cfg->n_accounts; i++) {
        for (j = 0; j < N_KEYS; j++)
            if (config_keys[j].scope == KEY_ACCOUNT)
                free(*slot(&cfg->accounts[i], &config_keys[j]));
        free(cfg->accounts[i].name);
        free(cfg->accounts[i].endpoint);
    }
    for (j = 0; j < N_KEYS; j++)
        if (config_keys[j].scope == KEY_GLOBAL)
            free(*slot(cfg, &config_keys[j]));
    free(cfg->accounts);
    free(cfg->path);
    free(cfg);
}

/* config_find - the account named name */
struct account_conf *config_find(const struct config *cfg, const char *name)
{
    size_t i;

    for (i = 0; i < cfg->n_accounts; i++)
        if (strcmp(cfg->accounts[i].name, name) == 0)
            return &cfg->accounts[i];
    return NULL;
}

/* check_secret_fd - a secret file must be a regular file closed to group and others */
static int check_secret_stat(const char *what, const char *file, const struct stat *st, char *err,
                             size_t errsize)
{
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errsize, "%s %s is not a regular file", what, file);
        return -1;
    }
    if ((st->st_mode & 0077) != 0) {
        snprintf(err, errsize,
                 "%s %s is readable or writable by group or others (mode %04o); fix: chmod 600 "
                 "%s",
                 what, file, (unsigned)(st->st_mode & 07777), file);
        return -1;
    }
    return 0;
}

/* config_secret_read - read an account's client secret, refusing lax files */
int config_secret_read(const struct account_conf *acct, char **secret, char *err, size_t errsize)
{
    const char *file = acct->client_secret_file;
    char buf[SECRET_MAX + 2];
    struct stat st;
    ssize_t n;
    size_t len;
    int fd;

    *secret = NULL;
    if (file[0] == '\0')
        return 0;
    fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errsize, "account %s: cannot open client_secret_file %s: %s", acct->name,
                 file, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || check_secret_stat("client_secret_file", file, &st, err, errsize) < 0) {
        close(fd);
        return -1;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0 || (size_t)n > SECRET_MAX) {
        snprintf(err, errsize, "account %s: client_secret_file %s: %s", acct->name, file,
                 n < 0 ? strerror(errno) : "longer than 4096 bytes");
        explicit_bzero(buf, sizeof(buf));
        return -1;
    }
    len = (size_t)n;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    buf[len] = '\0';
    if (len == 0 || memchr(buf, '\0', len) != NULL || strchr(buf, '\n') != NULL) {
        snprintf(err, errsize,
                 "account %s: client_secret_file %s must hold the secret's value on one line",
                 acct->name, file);
        explicit_bzero(buf, sizeof(buf));
        return -1;
    }
    *secret = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    if (*secret == NULL) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    return 0;
}

/* config_check_files - ownership and modes of everything the config names */
int config_check_files(const struct config *cfg, void (*report)(const char *msg))
{
    char msg[1024];
    struct stat st;
    int problems = 0;
    size_t i;

    if (stat(cfg->path, &st) == 0 && (st.st_mode & 0022) != 0) {
        snprintf(msg, sizeof(msg),
                 "%s is writable by group or others (mode %04o); fix: chmod go-w %s", cfg->path,
                 (unsigned)(st.st_mode & 07777), cfg->path);
        report(msg);
        problems++;
    }
    if (stat(cfg->state_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode) || (st.st_mode & 0077) != 0) {
            snprintf(msg, sizeof(msg),
                     "state_dir %s must be a directory closed to group and others (mode %04o); "
                     "fix: chmod 700 %s",
                     cfg->state_dir, (unsigned)(st.st_mode & 07777), cfg->state_dir);
            report(msg);
            problems++;
        }
    } else if (errno != ENOENT) {
        snprintf(msg, sizeof(msg), "state_dir %s: %s", cfg->state_dir, strerror(errno));
        report(msg);
        problems++;
    }
    for (i = 0; i < cfg->n_accounts; i++) {
        const struct account_conf *a = &cfg->accounts[i];
        char *secret = NULL;
        char err[512];

        if (config_secret_read(a, &secret, err, sizeof(err)) < 0) {
            report(err);
            problems++;
        }
        if (secret != NULL) {
            explicit_bzero(secret, strlen(secret));
            free(secret);
        }
        if (a->ca_file[0] != '\0' && access(a->ca_file, R_OK) < 0) {
            snprintf(msg, sizeof(msg), "account %s: ca_file %s: %s", a->name, a->ca_file,
                     strerror(errno));
            report(msg);
            problems++;
        }
    }
    return problems;
}

/* config_dump - the effective configuration */
void config_dump(const struct config *cfg, FILE *fp)
{
    size_t i;
    size_t j;

    for (j = 0; j < N_KEYS; j++)
        if (config_keys[j].scope == KEY_GLOBAL)
            fprintf(fp, "%s = %s\n", config_keys[j].name, *slot((void *)cfg, &config_keys[j]));
    for (i = 0; i < cfg->n_accounts; i++) {
        fprintf(fp, "\n[account %s]\n", cfg->accounts[i].name);
        for (j = 0; j < N_KEYS; j++) {
            char *v;

            if (config_keys[j].scope != KEY_ACCOUNT)
                continue;
            v = *slot(&cfg->accounts[i], &config_keys[j]);
            fprintf(fp, "%s = %s\n", config_keys[j].name, v != NULL ? v : "");
        }
        fprintf(fp, "# token endpoint: %s\n", cfg->accounts[i].endpoint);
    }
}
