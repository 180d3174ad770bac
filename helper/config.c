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
#include "state.h"

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
    {"grant", KEY_ACCOUNT, offsetof(struct account_conf, grant), "refresh_token"},
    {"client_certificate_file", KEY_ACCOUNT, offsetof(struct account_conf, client_certificate_file),
     ""},
    {"client_key_file", KEY_ACCOUNT, offsetof(struct account_conf, client_key_file), ""},
    {"client_key_passphrase_file", KEY_ACCOUNT,
     offsetof(struct account_conf, client_key_passphrase_file), ""},
    {"assertion_alg", KEY_ACCOUNT, offsetof(struct account_conf, assertion_alg), "PS256"},
    {"authorize_endpoint", KEY_ACCOUNT, offsetof(struct account_conf, authorize_endpoint), ""},
    {"device_endpoint", KEY_ACCOUNT, offsetof(struct account_conf, device_endpoint), ""},
};
#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/*
 * Provider presets. Microsoft's clouds derive every endpoint from the
 * login host and the tenant (authority/TENANT/oauth2/v2.0/{token,
 * authorize,devicecode}); Google's endpoints are fixed. app_scope is the
 * client_credentials default, NULL where the provider has no such grant
 * for mail.
 */
static const struct provider {
    const char *name;
    const char *authority; /* NULL: the endpoints are fixed */
    const char *endpoint;  /* token endpoint, used when authority is NULL */
    const char *authorize; /* used when authority is NULL */
    const char *device;    /* used when authority is NULL */
    const char *tenant;
    const char *scope;     /* delegated */
    const char *app_scope; /* app-only (client_credentials) */
    offline_style offline;
} providers[] = {
    {"microsoft", "https://login.microsoftonline.com", NULL, NULL, NULL, "common",
     "https://outlook.office.com/SMTP.Send offline_access",
     "https://outlook.office365.com/.default", OFFLINE_SCOPE},
    {"microsoft-usgov", "https://login.microsoftonline.us", NULL, NULL, NULL, "common",
     "https://outlook.office365.us/SMTP.Send offline_access",
     "https://outlook.office365.us/.default", OFFLINE_SCOPE},
    {"microsoft-china", "https://login.partner.microsoftonline.cn", NULL, NULL, NULL, "common",
     "https://partner.outlook.cn/SMTP.Send offline_access", "https://partner.outlook.cn/.default",
     OFFLINE_SCOPE},
    {"google", NULL, "https://oauth2.googleapis.com/token",
     "https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/device/code",
     "", "https://mail.google.com/", NULL, OFFLINE_ACCESS_TYPE},
    {"custom", NULL, NULL, NULL, NULL, "", NULL, NULL, OFFLINE_SCOPE},
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
    if (strcmp(key, "client_secret") == 0 || strcmp(key, "refresh_token") == 0 ||
        strcmp(key, "client_key") == 0 || strcmp(key, "client_key_passphrase") == 0 ||
        strcmp(key, "client_assertion") == 0)
        snprintf(err, errsize,
                 "%s cannot be set here: secrets are read from files only (client_secret_file, "
                 "client_key_file, client_key_passphrase_file; refresh tokens: "
                 "oauth2-token-helper authorize or import ACCOUNT)",
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

/* tenant_ok - common, organizations, consumers, a GUID or a domain name */
static int tenant_ok(const char *t)
{
    size_t len = strlen(t);
    size_t label = 0;
    size_t dots = 0;
    size_t i;

    if (strcmp(t, "common") == 0 || strcmp(t, "organizations") == 0 ||
        strcmp(t, "consumers") == 0)
        return 1;
    if (len == 36) {
        for (i = 0; i < len; i++) {
            int dash = i == 8 || i == 13 || i == 18 || i == 23;

            if (dash ? t[i] != '-' : !isxdigit((unsigned char)t[i]))
                break;
        }
        if (i == len)
            return 1;
    }
    if (len == 0 || len > 253)
        return 0;
    for (i = 0; i < len; i++) {
        if (t[i] == '.') {
            if (label == 0 || t[i - 1] == '-')
                return 0;
            label = 0;
            dots++;
        } else if (isalnum((unsigned char)t[i]) || (t[i] == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return dots > 0 && label > 0 && t[len - 1] != '-';
}

/* tenant_is_shared - the multi-tenant aliases, where no app-only grant exists */
static int tenant_is_shared(const char *t)
{
    return strcmp(t, "common") == 0 || strcmp(t, "organizations") == 0 ||
           strcmp(t, "consumers") == 0;
}

/* authority_url - authority/TENANT/oauth2/v2.0/WHAT, malloc'd */
static char *authority_url(const struct account_conf *a, const char *what)
{
    size_t al = strlen(a->authority);
    char buf[1024];
    int n;

    while (al > 0 && a->authority[al - 1] == '/')
        al--;
    n = snprintf(buf, sizeof(buf), "%.*s/%s/oauth2/v2.0/%s", (int)al, a->authority, a->tenant,
                 what);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return NULL;
    return strdup(buf);
}

/* pick_url - the explicit setting, else the authority's path, else the fixed preset */
static int pick_url(const struct account_conf *a, const struct provider *p,
                    const char *explicit_url, const char *path, const char *fixed, char **out)
{
    *out = NULL;
    if (explicit_url[0] != '\0')
        *out = strdup(explicit_url);
    else if (p->authority != NULL)
        *out = authority_url(a, path);
    else if (fixed != NULL)
        *out = strdup(fixed);
    else
        return 0;
    return *out == NULL ? -1 : 0;
}

/* derive_endpoints - token, authorize and device-code URLs of one account */
static int derive_endpoints(struct config *cfg, struct account_conf *a, const struct provider *p,
                            char *err, size_t errsize)
{
    static const char *names[] = {"token endpoint", "authorize_endpoint", "device_endpoint"};
    char *urls[3];
    size_t i;

    if (a->authority == NULL && p->authority != NULL &&
        (a->authority = strdup(p->authority)) == NULL)
        goto oom;
    if (p->authority != NULL && !tenant_ok(a->tenant)) {
        snprintf(err, errsize,
                 "%s: account %s: tenant \"%.64s\" must be common, organizations, consumers, "
                 "a tenant ID (GUID) or a domain such as contoso.onmicrosoft.com",
                 cfg->path, a->name, a->tenant);
        return -1;
    }
    if (pick_url(a, p, a->token_endpoint, "token", p->endpoint, &a->endpoint) < 0 ||
        pick_url(a, p, a->authorize_endpoint, "authorize", p->authorize, &a->authorize_url) < 0 ||
        pick_url(a, p, a->device_endpoint, "devicecode", p->device, &a->device_url) < 0)
        goto oom;
    if (a->endpoint == NULL) {
        snprintf(err, errsize, "%s: account %s: provider %s needs token_endpoint", cfg->path,
                 a->name, a->provider);
        return -1;
    }
    urls[0] = a->endpoint;
    urls[1] = a->authorize_url;
    urls[2] = a->device_url;
    for (i = 0; i < 3; i++)
        if (urls[i] != NULL && !https_ok(urls[i])) {
            snprintf(err, errsize, "%s: account %s: %s \"%.128s\" must be an https:// URL",
                     cfg->path, a->name, names[i], urls[i]);
            return -1;
        }
    return 0;
oom:
    snprintf(err, errsize, "out of memory");
    return -1;
}

/* check_credentials - the grant, the client's credential and what they need */
static int check_credentials(struct config *cfg, struct account_conf *a, const struct provider *p,
                             char *err, size_t errsize)
{
    int cert = a->client_certificate_file[0] != '\0';

    if (strcmp(a->grant, "refresh_token") == 0) {
        a->grant_type = GRANT_REFRESH_TOKEN;
    } else if (strcmp(a->grant, "client_credentials") == 0) {
        a->grant_type = GRANT_CLIENT_CREDENTIALS;
    } else {
        snprintf(err, errsize,
                 "%s: account %s: grant \"%.32s\" is unknown; use refresh_token (a person "
                 "authorizes once) or client_credentials (app-only)",
                 cfg->path, a->name, a->grant);
        return -1;
    }
    if (cert && a->client_secret_file[0] != '\0') {
        snprintf(err, errsize,
                 "%s: account %s: set client_secret_file or client_certificate_file, not both",
                 cfg->path, a->name);
        return -1;
    }
    if (cert != (a->client_key_file[0] != '\0')) {
        snprintf(err, errsize,
                 "%s: account %s: client_certificate_file and client_key_file go together (the "
                 "certificate uploaded to the app registration and its private key)",
                 cfg->path, a->name);
        return -1;
    }
    if (a->client_key_passphrase_file[0] != '\0' && !cert) {
        snprintf(err, errsize,
                 "%s: account %s: client_key_passphrase_file needs client_key_file", cfg->path,
                 a->name);
        return -1;
    }
    if (strcmp(a->assertion_alg, "PS256") != 0 && strcmp(a->assertion_alg, "RS256") != 0) {
        snprintf(err, errsize, "%s: account %s: assertion_alg \"%.16s\" must be PS256 or RS256",
                 cfg->path, a->name, a->assertion_alg);
        return -1;
    }
    if (a->grant_type != GRANT_CLIENT_CREDENTIALS)
        return 0;
    if (!cert && a->client_secret_file[0] == '\0') {
        snprintf(err, errsize,
                 "%s: account %s: grant = client_credentials needs the app's credential: "
                 "client_certificate_file and client_key_file, or client_secret_file",
                 cfg->path, a->name);
        return -1;
    }
    if (a->login == NULL) {
        snprintf(err, errsize,
                 "%s: account %s: grant = client_credentials needs login, the mailbox to send "
                 "as (the app has no user of its own)",
                 cfg->path, a->name);
        return -1;
    }
    if (p->authority != NULL && tenant_is_shared(a->tenant)) {
        snprintf(err, errsize,
                 "%s: account %s: grant = client_credentials needs tenant set to the tenant ID "
                 "or a verified domain: Entra refuses app-only tokens over /%s (AADSTS9001023)",
                 cfg->path, a->name, a->tenant);
        return -1;
    }
    if (a->scope == NULL && p->app_scope == NULL && strcmp(p->name, "custom") != 0) {
        snprintf(err, errsize,
                 "%s: account %s: provider %s has no client_credentials grant for mail; "
                 "authorize a user instead (grant = refresh_token)",
                 cfg->path, a->name, p->name);
        return -1;
    }
    return 0;
}

/* finish_account - apply the provider preset and check one account */
static int finish_account(struct config *cfg, struct account_conf *a, char *err, size_t errsize)
{
    const struct provider *p = NULL;
    const char *dflt_scope;
    size_t i;

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
    a->offline = p->offline;
    a->microsoft = p->authority != NULL;
    if (a->client_id == NULL || a->client_id[0] == '\0') {
        snprintf(err, errsize,
                 "%s: account %s: client_id is missing (the Application (client) ID of the app "
                 "registration)",
                 cfg->path, a->name);
        return -1;
    }
    if (a->tenant == NULL && (a->tenant = strdup(p->tenant)) == NULL)
        goto oom;
    if (check_credentials(cfg, a, p, err, errsize) < 0)
        return -1;
    dflt_scope = a->grant_type == GRANT_CLIENT_CREDENTIALS ? p->app_scope : p->scope;
    if (a->scope == NULL && dflt_scope != NULL && (a->scope = strdup(dflt_scope)) == NULL)
        goto oom;
    if (a->scope == NULL || a->scope[0] == '\0') {
        snprintf(err, errsize, "%s: account %s: scope is required with provider %s", cfg->path,
                 a->name, a->provider);
        return -1;
    }
    if (a->grant_type == GRANT_CLIENT_CREDENTIALS && a->microsoft) {
        size_t sl = strlen(a->scope);

        if (sl < 9 || strcmp(a->scope + sl - 9, "/.default") != 0 ||
            strchr(a->scope, ' ') != NULL) {
            snprintf(err, errsize,
                     "%s: account %s: grant = client_credentials takes one scope ending in "
                     "/.default, such as %s",
                     cfg->path, a->name, p->app_scope);
            return -1;
        }
    }
    if (a->login == NULL && (a->login = strdup(a->name)) == NULL)
        goto oom;
    if (!saslwire_login_ok(a->login, strlen(a->login))) {
        snprintf(err, errsize,
                 "%s: account %s: login \"%.64s\" may not contain spaces, commas, '=' or "
                 "control characters",
                 cfg->path, a->name, a->login);
        return -1;
    }
    if (derive_endpoints(cfg, a, p, err, errsize) < 0)
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
    return 0;
oom:
    snprintf(err, errsize, "out of memory");
    return -1;
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
        free(cfg->accounts[i].authorize_url);
        free(cfg->accounts[i].device_url);
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

/* check_secret_stat - a secret file must be a regular file closed to group and others */
static int check_secret_stat(const struct account_conf *acct, const char *key, const char *file,
                             const struct stat *st, char *err, size_t errsize)
{
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errsize, "account %s: %s %s is not a regular file", acct->name, key, file);
        return -1;
    }
    if ((st->st_mode & 0077) != 0) {
        snprintf(err, errsize,
                 "account %s: %s %s is readable or writable by group or others (mode %04o); "
                 "fix: chmod 600 %s",
                 acct->name, key, file, (unsigned)(st->st_mode & 07777), file);
        return -1;
    }
    return 0;
}

/* config_secret_file_read - read a secret-holding file, refusing lax files */
int config_secret_file_read(const struct account_conf *acct, const char *key, const char *file,
                            size_t max, int one_line, char **out, char *err, size_t errsize)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    ssize_t n;
    int rc = -1;
    int fd;

    *out = NULL;
    if (file[0] == '\0')
        return 0;
    fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errsize, "account %s: cannot open %s %s: %s", acct->name, key, file,
                 strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || check_secret_stat(acct, key, file, &st, err, errsize) < 0)
        goto out;
    buf = malloc(max + 2);
    if (buf == NULL) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    /* Read one byte past max to tell "exactly max" from "longer". */
    while (len < max + 1) {
        n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errsize, "account %s: %s %s: %s", acct->name, key, file,
                     strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        snprintf(err, errsize, "account %s: %s %s is longer than %zu bytes", acct->name, key,
                 file, max);
        goto out;
    }
    if (one_line)
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
            len--;
    buf[len] = '\0';
    if (len == 0 || memchr(buf, '\0', len) != NULL ||
        (one_line && (strchr(buf, '\n') != NULL || strchr(buf, '\r') != NULL))) {
        snprintf(err, errsize, "account %s: %s %s must hold %s", acct->name, key, file,
                 one_line ? "the value on one line" : "PEM text");
        goto out;
    }
    *out = buf;
    buf = NULL;
    rc = 0;
out:
    if (buf != NULL) {
        explicit_bzero(buf, max + 2);
        free(buf);
    }
    close(fd);
    return rc;
}

/* config_secret_read - read an account's client secret, refusing lax files */
int config_secret_read(const struct account_conf *acct, char **secret, char *err, size_t errsize)
{
    return config_secret_file_read(acct, "client_secret_file", acct->client_secret_file,
                                   SECRET_MAX, 1, secret, err, errsize);
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
        secret_free(secret);
        if (config_secret_file_read(a, "client_key_file", a->client_key_file, CONFIG_KEY_MAX, 0,
                                    &secret, err, sizeof(err)) < 0) {
            report(err);
            problems++;
        }
        secret_free(secret);
        if (config_secret_file_read(a, "client_key_passphrase_file", a->client_key_passphrase_file,
                                    SECRET_MAX, 1, &secret, err, sizeof(err)) < 0) {
            report(err);
            problems++;
        }
        secret_free(secret);
        if (a->client_certificate_file[0] != '\0' && access(a->client_certificate_file, R_OK) < 0) {
            snprintf(msg, sizeof(msg), "account %s: client_certificate_file %s: %s", a->name,
                     a->client_certificate_file, strerror(errno));
            report(msg);
            problems++;
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
        fprintf(fp, "# authorize endpoint: %s\n",
                cfg->accounts[i].authorize_url ? cfg->accounts[i].authorize_url : "(none)");
        fprintf(fp, "# device-code endpoint: %s\n",
                cfg->accounts[i].device_url ? cfg->accounts[i].device_url : "(none)");
    }
}
