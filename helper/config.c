/*
 * config.c - the helper's configuration (see config.h)
 *
 * Diagnostics: every problem is one line "FILE:LINE: what; fix: how",
 * naming the account and key. A load goes on after a problem, so that
 * config-check lists every one in a single run; config_load() refuses the
 * file if there was any.
 */
#include "autoconfig.h"

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "explain.h"
#include "assertion.h"
#include "clock.h"
#include "ini.h"
#include "paths.h"
#include "regfile.h"
#include "saslwire.h"
#include "secret.h"
#include "state.h"

#define SECRET_MAX 4096

enum key_scope { KEY_GLOBAL, KEY_ACCOUNT };

/*
 * What a file a key names is to the daemon, for config-check's
 * permission audit and the fix it names. FILE_SECRET is read as one line
 * of at most SECRET_MAX bytes; FILE_KEY is a PEM private key (or a JSON key
 * file holding one, service_account_file) of at most
 * CONFIG_KEY_MAX bytes; both must be closed to everybody but the daemon.
 * FILE_CERT and FILE_CA are public, but only root or the daemon may
 * change them. FILE_CONFIG is the config file itself.
 */
enum file_kind { FILE_NONE, FILE_SECRET, FILE_KEY, FILE_CERT, FILE_CA, FILE_CONFIG };

struct loader;

/* key_check - a global key's own rule: report a bad value at line, resolve a good one */
typedef void (*key_check)(struct loader *ld, int line);

static void check_socket(struct loader *ld, int line);
static void check_state_dir(struct loader *ld, int line);
static void check_allow_users(struct loader *ld, int line);
static void check_allow_groups(struct loader *ld, int line);
static void check_user(struct loader *ld, int line);
static void check_socket_group(struct loader *ld, int line);
static void check_socket_mode(struct loader *ld, int line);
static void check_refresh_ahead(struct loader *ld, int line);

/*
 * The one table of configuration keys: parsing, defaults, the dump,
 * config-check's file audit and the documentation test
 * (tests/unit/test_config.c checks oauth2-token-helper.conf(5) and the
 * sample config against it) all read it. Each global key's rule is its
 * check function, run in table order; account keys, whose rules depend on
 * the provider and the grant, are checked together in finish_account.
 */
static const struct config_key {
    const char *name;     /* as written in the file */
    enum key_scope scope; /* global, or in an [account NAME] section */
    size_t offset;        /* of the char * in struct config or struct account_conf */
    const char *dflt;     /* NULL: none (the provider's preset, or required) */
    enum file_kind file;  /* the kind of file the value names, FILE_NONE if none */
    const char *doc;      /* one line, as in oauth2-token-helper.conf(5) */
    key_check check;      /* global keys: the value's rule, NULL if any value goes */
} config_keys[] = {
    {"socket", KEY_GLOBAL, offsetof(struct config, socket), OAUTH2_DEFAULT_SOCKET, FILE_NONE,
     "the daemon's UNIX socket, an absolute path under 108 bytes", check_socket},
    {"state_dir", KEY_GLOBAL, offsetof(struct config, state_dir), OAUTH2_DEFAULT_STATE_DIR,
     FILE_NONE, "where refresh tokens are kept, an absolute path", check_state_dir},
    {"allow_users", KEY_GLOBAL, offsetof(struct config, allow_users), "postfix", FILE_NONE,
     "users allowed to ask for tokens", check_allow_users},
    {"allow_groups", KEY_GLOBAL, offsetof(struct config, allow_groups), "", FILE_NONE,
     "groups allowed to ask for tokens", check_allow_groups},
    {"user", KEY_GLOBAL, offsetof(struct config, user), "", FILE_NONE,
     "the user the daemon drops to", check_user},
    {"socket_group", KEY_GLOBAL, offsetof(struct config, socket_group), "", FILE_NONE,
     "the socket's group", check_socket_group},
    {"socket_mode", KEY_GLOBAL, offsetof(struct config, socket_mode), "0660", FILE_NONE,
     "the socket's mode, octal, no access for others", check_socket_mode},
    {"refresh_ahead", KEY_GLOBAL, offsetof(struct config, refresh_ahead), "600", FILE_NONE,
     "seconds before expiry to refresh a token, 0 to 86400", check_refresh_ahead},
    {"provider", KEY_ACCOUNT, offsetof(struct account_conf, provider), "microsoft", FILE_NONE,
     "microsoft, microsoft-usgov, microsoft-china, google or custom", NULL},
    {"tenant", KEY_ACCOUNT, offsetof(struct account_conf, tenant), NULL, FILE_NONE,
     "the Directory (tenant) ID or a verified domain (Microsoft)", NULL},
    {"client_id", KEY_ACCOUNT, offsetof(struct account_conf, client_id), NULL, FILE_NONE,
     "the app registration's Application (client) ID", NULL},
    {"client_secret_file", KEY_ACCOUNT, offsetof(struct account_conf, client_secret_file), "",
     FILE_SECRET, "a file holding the client secret", NULL},
    {"scope", KEY_ACCOUNT, offsetof(struct account_conf, scope), NULL, FILE_NONE,
     "the scopes asked for (default: the provider's, by grant)", NULL},
    {"login", KEY_ACCOUNT, offsetof(struct account_conf, login), NULL, FILE_NONE,
     "the mailbox to send as (default: the account name)", NULL},
    {"authority", KEY_ACCOUNT, offsetof(struct account_conf, authority), NULL, FILE_NONE,
     "the Microsoft login host (default: the provider's)", NULL},
    {"token_endpoint", KEY_ACCOUNT, offsetof(struct account_conf, token_endpoint), "", FILE_NONE,
     "the token URL, https (default: derived from the provider)", NULL},
    {"ca_file", KEY_ACCOUNT, offsetof(struct account_conf, ca_file), "", FILE_CA,
     "CA certificates to verify the provider with", NULL},
    {"client_secret_expires", KEY_ACCOUNT, offsetof(struct account_conf, client_secret_expires), "",
     FILE_NONE, "the client secret's expiry date, YYYY-MM-DD", NULL},
    {"grant", KEY_ACCOUNT, offsetof(struct account_conf, grant), "refresh_token", FILE_NONE,
     "refresh_token, client_credentials or jwt_bearer", NULL},
    {"client_certificate_file", KEY_ACCOUNT, offsetof(struct account_conf, client_certificate_file),
     "", FILE_CERT, "the certificate uploaded to the app registration", NULL},
    {"client_key_file", KEY_ACCOUNT, offsetof(struct account_conf, client_key_file), "", FILE_KEY,
     "the certificate's private key", NULL},
    {"client_key_passphrase_file", KEY_ACCOUNT,
     offsetof(struct account_conf, client_key_passphrase_file), "", FILE_SECRET,
     "a file holding the private key's passphrase", NULL},
    {"assertion_alg", KEY_ACCOUNT, offsetof(struct account_conf, assertion_alg), "PS256", FILE_NONE,
     "the client assertion's signature, PS256 or RS256", NULL},
    {"authorize_endpoint", KEY_ACCOUNT, offsetof(struct account_conf, authorize_endpoint), "",
     FILE_NONE, "the authorization URL, https (default: derived from the provider)", NULL},
    {"device_endpoint", KEY_ACCOUNT, offsetof(struct account_conf, device_endpoint), "", FILE_NONE,
     "the device-code URL, https (default: derived from the provider)", NULL},
    {"service_account_file", KEY_ACCOUNT, offsetof(struct account_conf, service_account_file), "",
     FILE_KEY, "a Google service account's JSON key file (grant = jwt_bearer)", NULL},
    {"relay", KEY_ACCOUNT, offsetof(struct account_conf, relay), NULL, FILE_NONE,
     "sendmail: the SMTP submission server, HOST:PORT (default: the provider's)", NULL},
    {"relay_ca_file", KEY_ACCOUNT, offsetof(struct account_conf, relay_ca_file), "", FILE_CA,
     "sendmail: CA certificates to verify the relay with (default: the system's)", NULL},
    {"client_assertion_file", KEY_ACCOUNT, offsetof(struct account_conf, client_assertion_file), "",
     FILE_SECRET, "a file holding an external JWT (federated credential), reread each time", NULL},
    {"assertion_audience", KEY_ACCOUNT, offsetof(struct account_conf, assertion_audience),
     "api://AzureADTokenExchange", FILE_NONE, "the audience client_assertion_file's JWT must have",
     NULL},
    {"next_client_certificate_file", KEY_ACCOUNT,
     offsetof(struct account_conf, next_client_certificate_file), "", FILE_CERT,
     "the next certificate, for a rollover without an outage", NULL},
    {"next_client_key_file", KEY_ACCOUNT, offsetof(struct account_conf, next_client_key_file), "",
     FILE_KEY, "the next certificate's private key", NULL},
};
#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* Keys that would put a secret in the config itself: refused, with the file key to use. */
static const char *const forbidden_keys[] = {
    "client_secret", "refresh_token", "client_key", "client_key_passphrase", "client_assertion",
};
#define N_FORBIDDEN (sizeof(forbidden_keys) / sizeof(forbidden_keys[0]))

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
    const char *tenant;    /* NULL: required (Microsoft: no silent "common") */
    const char *scope;     /* delegated */
    const char *app_scope; /* app-only (client_credentials) */
    offline_style offline;
} providers[] = {
    {"microsoft", "https://login.microsoftonline.com", NULL, NULL, NULL, NULL,
     "https://outlook.office.com/SMTP.Send offline_access",
     "https://outlook.office365.com/.default", OFFLINE_SCOPE},
    {"microsoft-usgov", "https://login.microsoftonline.us", NULL, NULL, NULL, NULL,
     "https://outlook.office365.us/SMTP.Send offline_access",
     "https://outlook.office365.us/.default", OFFLINE_SCOPE},
    {"microsoft-china", "https://login.partner.microsoftonline.cn", NULL, NULL, NULL, NULL,
     "https://partner.outlook.cn/SMTP.Send offline_access", "https://partner.outlook.cn/.default",
     OFFLINE_SCOPE},
    {"google", NULL, "https://oauth2.googleapis.com/token",
     "https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/device/code",
     "", "https://mail.google.com/", NULL, OFFLINE_ACCESS_TYPE},
    {"custom", NULL, NULL, NULL, NULL, "", NULL, NULL, OFFLINE_SCOPE},
};

/*
 * The SMTP submission server of each provider, relay's default (sendmail).
 * Microsoft's national clouds have their own; custom has none.
 */
static const struct {
    const char *provider;
    const char *relay;
} provider_relays[] = {
    {"microsoft", "smtp.office365.com:587"},
    {"microsoft-usgov", "smtp.office365.us:587"},
    {"microsoft-china", "smtp.partner.outlook.cn:587"},
    {"google", "smtp.gmail.com:587"},
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

/* config_key_info - the i'th key's entry for the documentation test; -1 past the end */
int config_key_info(size_t i, struct config_key_info *info)
{
    static const char *const kinds[] = {"", "secret", "key", "certificate", "CA", "config"};

    memset(info, 0, sizeof(*info));
    if (i >= N_KEYS)
        return -1;
    info->name = config_keys[i].name;
    info->is_account = config_keys[i].scope == KEY_ACCOUNT;
    info->dflt = config_keys[i].dflt;
    info->file_kind = kinds[config_keys[i].file];
    info->doc = config_keys[i].doc;
    return 0;
}

/* config_forbidden_key - the i'th key refused because it would hold a secret, NULL past the end */
const char *config_forbidden_key(size_t i)
{
    return i < N_FORBIDDEN ? forbidden_keys[i] : NULL;
}

/* forbidden_index - the index of a refused key, or -1 */
static int forbidden_index(const char *name)
{
    size_t i;

    for (i = 0; i < N_FORBIDDEN; i++)
        if (strcmp(forbidden_keys[i], name) == 0)
            return (int)i;
    return -1;
}

/* config_path - explicit, else environment, else built-in: the plugin's rule too */
const char *config_path(const char *explicit_path)
{
    return ini_config_path(explicit_path);
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

/* One problem kept for config-check, to be reported in line order. */
struct found {
    int line;
    int seq; /* order of discovery, for a stable sort */
    char *msg;
};

/* Where one load's problems go. */
struct loader {
    struct config *cfg;
    struct found *found; /* every problem, sorted by line when the load is done */
    size_t n_found;
    char *err;
    size_t errsize;
    int problems;
};

/* problem - one problem at line (0: none): "FILE:LINE: text" to the report or err */
static void problem(struct loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct loader *ld, int line, const char *fmt, ...)
{
    struct found *grown;
    char text[900];
    char msg[1100];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(msg, sizeof(msg), "%s:%d: %s", ld->cfg->path, line, text);
    else
        snprintf(msg, sizeof(msg), "%s: %s", ld->cfg->path, text);
    ld->problems++;
    if (ld->problems == 1)
        snprintf(ld->err, ld->errsize, "%s", msg);
    grown = realloc(ld->found, (ld->n_found + 1) * sizeof(*grown));
    if (grown == NULL)
        return;
    ld->found = grown;
    grown[ld->n_found].line = line;
    grown[ld->n_found].seq = ld->problems;
    grown[ld->n_found].msg = strdup(msg);
    if (grown[ld->n_found].msg != NULL)
        ld->n_found++;
}

/* found_cmp - by line (the file as a whole first), then as found */
static int found_cmp(const void *a, const void *b)
{
    const struct found *x = a;
    const struct found *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* key_index - the table index of a key name, or -1 */
static int key_index(const char *name)
{
    size_t i;

    for (i = 0; i < N_KEYS; i++)
        if (strcmp(config_keys[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* line_of - where a setting was written: account index or -1 for global; 0 when unset */
static int line_of(const struct config *cfg, long acct, const char *key)
{
    int k = key_index(key);

    if (k < 0 || cfg->lines == NULL)
        return 0;
    return cfg->lines[(size_t)(acct + 1) * N_KEYS + (size_t)k];
}

/* acct_line - a setting's line, else the account's [account] line */
static int acct_line(const struct config *cfg, const struct account_conf *a, const char *key)
{
    int line = line_of(cfg, a - cfg->accounts, key);

    return line > 0 ? line : a->line;
}

/* edit_distance - Levenshtein distance of two short words, capped at 9 */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    size_t prev[64];
    size_t cur[64];
    size_t i;
    size_t j;

    if (la >= 63 || lb >= 63)
        return 9;
    for (j = 0; j <= lb; j++)
        prev[j] = j;
    for (i = 1; i <= la; i++) {
        cur[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t best = prev[j - 1] +
                          (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));

            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            cur[j] = best;
        }
        memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
    }
    return prev[lb] > 9 ? 9 : prev[lb];
}

/* closest - the candidate nearest to word, if near enough to be a typo; NULL otherwise */
static const char *closest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = 9;
    size_t limit = strlen(word) <= 4 ? 1 : 2;
    size_t i;

    for (i = 0; i < n; i++) {
        size_t d = edit_distance(word, candidates[i]);

        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}

/* suggest_key - "; did you mean KEY?" for a misspelt key, else "" */
static void suggest_key(const char *key, char *out, size_t outsize)
{
    const char *names[N_KEYS];
    const char *best;
    size_t i;

    for (i = 0; i < N_KEYS; i++)
        names[i] = config_keys[i].name;
    best = closest(key, names, N_KEYS);
    out[0] = '\0';
    if (best != NULL)
        snprintf(out, outsize, "; did you mean %s?", best);
}

/* add_account - a new [account NAME] section at line */
static int add_account(struct config *cfg, const char *name, int line, char *err, size_t errsize)
{
    struct account_conf *grown;
    int *lines;
    size_t n = cfg->n_accounts;

    grown = realloc(cfg->accounts, (n + 1) * sizeof(*grown));
    if (grown == NULL)
        goto oom;
    cfg->accounts = grown;
    memset(&grown[n], 0, sizeof(*grown));
    lines = realloc(cfg->lines, (n + 2) * N_KEYS * sizeof(*lines));
    if (lines == NULL)
        goto oom;
    cfg->lines = lines;
    memset(&lines[(n + 1) * N_KEYS], 0, N_KEYS * sizeof(*lines));
    grown[n].name = strdup(name);
    if (grown[n].name == NULL)
        goto oom;
    grown[n].line = line;
    cfg->n_accounts++;
    return 0;
oom:
    snprintf(err, errsize, "out of memory");
    return -1;
}

/* parse_handler - the ini callback: put each value in its slot */
static int parse_handler(void *ctx, int line, const char *section, const char *name,
                         const char *key, const char *value, char *err, size_t errsize)
{
    static const char *const sections[] = {"account"};
    struct loader *ld = ctx;
    struct config *cfg = ld->cfg;
    char hint[64];
    int k;

    if (key == NULL) {
        if (strcmp(section, "account") != 0) {
            const char *best = closest(section, sections, 1);

            snprintf(err, errsize,
                     "unknown section [%.64s]; %s%s%sfix: sections look like [account NAME]",
                     section, best != NULL ? "did you mean [" : "", best != NULL ? best : "",
                     best != NULL ? "]? " : "");
            return -1;
        }
        if (!account_name_ok(name)) {
            snprintf(err, errsize,
                     "account name \"%.64s\" must be 1-%d characters of letters, digits and "
                     "._@+- (not starting with . or -); fix: rename the section",
                     name, CONFIG_ACCOUNT_NAME_MAX);
            return -1;
        }
        if (config_find(cfg, name) != NULL) {
            snprintf(err, errsize, "account %s is defined twice; fix: remove or rename one", name);
            return -1;
        }
        if (cfg->n_accounts >= CONFIG_MAX_ACCOUNTS) {
            snprintf(err, errsize, "more than %d accounts; fix: split them over several hosts",
                     CONFIG_MAX_ACCOUNTS);
            return -1;
        }
        return add_account(cfg, name, line, err, errsize);
    }
    k = key_index(key);
    if (k >= 0) {
        const struct config_key *ck = &config_keys[k];
        int in_account = section[0] != '\0';
        char **dst;
        int *kline;

        if ((ck->scope == KEY_ACCOUNT) != in_account) {
            snprintf(err, errsize, "%s belongs %s; fix: move it there", key,
                     ck->scope == KEY_ACCOUNT ? "in an [account NAME] section"
                                              : "before the first [account] section");
            return -1;
        }
        dst = slot(in_account ? (void *)&cfg->accounts[cfg->n_accounts - 1] : (void *)cfg, ck);
        kline = &cfg->lines[(in_account ? cfg->n_accounts : 0) * N_KEYS + (size_t)k];
        if (*dst != NULL) {
            snprintf(err, errsize, "%s is set twice (first on line %d); fix: keep one", key,
                     *kline);
            return -1;
        }
        *dst = strdup(value);
        if (*dst == NULL) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        *kline = line;
        return 0;
    }
    if (forbidden_index(key) >= 0) {
        snprintf(err, errsize,
                 "%s cannot be set here: secrets are read from files only; fix: put it in a "
                 "file (mode 0600) named by client_secret_file, client_key_file or "
                 "client_key_passphrase_file (refresh tokens: oauth2-token-helper authorize or "
                 "import ACCOUNT)",
                 key);
        return -1;
    }
    suggest_key(key, hint, sizeof(hint));
    snprintf(err, errsize, "unknown key \"%.64s\"%s", key,
             hint[0] != '\0' ? hint
                             : "; fix: remove it (oauth2-token-helper.conf(5) lists the keys)");
    return -1;
}

/* ini_problem_cb - the lexer's problems, already carrying their line */
static void ini_problem_cb(void *ctx, int line, const char *msg)
{
    problem(ctx, line, "%s", msg);
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
                snprintf(err, errsize,
                         "allow_groups: no such group \"%.64s\"; fix: create it or remove it from "
                         "the list",
                         w);
                rc = -1;
                break;
            }
            id = gr->gr_gid;
        } else {
            struct passwd *pw = getpwnam(w);

            if (pw == NULL) {
                snprintf(err, errsize,
                         "allow_users: no such user \"%.64s\"; fix: create it or remove it from "
                         "the list",
                         w);
                rc = -1;
                break;
            }
            id = pw->pw_uid;
        }
        if (*n >= CONFIG_MAX_IDS) {
            snprintf(err, errsize, "allow_%s: more than %d entries; fix: use allow_groups",
                     groups ? "groups" : "users", CONFIG_MAX_IDS);
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

/* The multi-tenant aliases of the Microsoft identity platform. */
static const char *const tenant_aliases[] = {"common", "organizations", "consumers"};

/* tenant_is_shared - a multi-tenant alias, where no app-only grant exists */
static int tenant_is_shared(const char *t)
{
    size_t i;

    for (i = 0; i < sizeof(tenant_aliases) / sizeof(tenant_aliases[0]); i++)
        if (strcmp(t, tenant_aliases[i]) == 0)
            return 1;
    return 0;
}

/* tenant_ok - common, organizations, consumers, a GUID or a domain name */
static int tenant_ok(const char *t)
{
    size_t len = strlen(t);
    size_t label = 0;
    size_t dots = 0;
    size_t i;

    if (tenant_is_shared(t))
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

/* Where an admin finds the IDs Microsoft wants (quoted in messages). */
#define ENTRA_APP_PAGE "Entra admin center > App registrations > the app > Overview"
#define EXAMPLE_GUID "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

/* config_is_guid - 8-4-4-4-12 hex digits */
int config_is_guid(const char *s)
{
    size_t i;

    if (strlen(s) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/* looks_like_guid - hex digits and dashes only: meant as a GUID, whether or not it is one */
static int looks_like_guid(const char *s)
{
    size_t len = strlen(s);

    return len >= 8 && strspn(s, "0123456789abcdefABCDEF-") == len &&
           (strchr(s, '-') != NULL || len >= 32);
}

/* derive_endpoints - token, authorize and device-code URLs of one account */
static int derive_endpoints(struct loader *ld, struct account_conf *a, const struct provider *p)
{
    static const char *names[] = {"token_endpoint", "authorize_endpoint", "device_endpoint"};
    char *urls[3];
    size_t i;

    if (a->authority == NULL && p->authority != NULL) {
        a->authority = strdup(p->authority);
        if (a->authority == NULL)
            goto oom;
    }
    if (pick_url(a, p, a->token_endpoint, "token", p->endpoint, &a->endpoint) < 0 ||
        pick_url(a, p, a->authorize_endpoint, "authorize", p->authorize, &a->authorize_url) < 0 ||
        pick_url(a, p, a->device_endpoint, "devicecode", p->device, &a->device_url) < 0)
        goto oom;
    if (a->endpoint == NULL) {
        problem(ld, a->line,
                "account %s: provider %s needs token_endpoint; fix: add token_endpoint = the "
                "server's token URL",
                a->name, a->provider);
        return -1;
    }
    urls[0] = a->endpoint;
    urls[1] = a->authorize_url;
    urls[2] = a->device_url;
    for (i = 0; i < 3; i++)
        if (urls[i] != NULL && !https_ok(urls[i])) {
            const char *key = i == 0 && a->token_endpoint[0] == '\0' ? "authority" : names[i];

            problem(ld, acct_line(ld->cfg, a, key),
                    "account %s: %s \"%.128s\" must be an https:// URL; fix: use https://", a->name,
                    i == 0 ? "token endpoint" : names[i], urls[i]);
            return -1;
        }
    return 0;
oom:
    problem(ld, 0, "out of memory");
    return -1;
}

/*
 * check_jwt_bearer - a Google service account: its key file, the mailbox it
 * sends as, and nothing of an app registration's credentials
 */
static int check_jwt_bearer(struct loader *ld, struct account_conf *a, const struct provider *p)
{
    struct config *cfg = ld->cfg;
    static const char *const unused[] = {
        "client_secret_file",         "client_certificate_file",      "client_key_file",
        "client_key_passphrase_file", "next_client_certificate_file", "next_client_key_file"};
    size_t i;
    size_t k;

    if (p->authority != NULL)
        problem(ld, acct_line(cfg, a, "grant"),
                "account %s: grant = jwt_bearer is Google's service-account grant, not "
                "provider %s's; fix: provider = google (Microsoft app-only accounts use grant = "
                "client_credentials)",
                a->name, p->name);
    if (a->service_account_file[0] == '\0')
        problem(ld, acct_line(cfg, a, "grant"),
                "account %s: grant = jwt_bearer needs the service account's key; fix: add "
                "service_account_file = the JSON key file downloaded from Google Cloud console > "
                "IAM & Admin > Service accounts > Keys (mode 0600)",
                a->name);
    if (a->login == NULL)
        problem(ld, acct_line(cfg, a, "grant"),
                "account %s: grant = jwt_bearer needs login, the Workspace mailbox the service "
                "account sends as (domain-wide delegation); fix: add login = the mailbox",
                a->name);
    for (i = 0; i < sizeof(unused) / sizeof(unused[0]); i++)
        for (k = 0; k < N_KEYS; k++)
            if (strcmp(config_keys[k].name, unused[i]) == 0 && (*slot(a, &config_keys[k]))[0])
                problem(ld, acct_line(cfg, a, unused[i]),
                        "account %s: %s is not used with grant = jwt_bearer (the service "
                        "account's key file signs the request); fix: remove it",
                        a->name, unused[i]);
    return 0;
}

/*
 * check_federated - client_assertion_file and the next certificate pair: the
 * assertion file is the app's only credential and belongs to the app-only
 * grant; next_client_certificate_file and next_client_key_file go together,
 * beside a current pair
 */
static void check_federated(struct loader *ld, struct account_conf *a)
{
    struct config *cfg = ld->cfg;
    int cert = a->client_certificate_file[0] != '\0';
    int next_cert = a->next_client_certificate_file[0] != '\0';

    if (a->client_assertion_file[0] != '\0') {
        if (a->client_secret_file[0] != '\0' || cert)
            problem(ld, acct_line(cfg, a, "client_assertion_file"),
                    "account %s: client_assertion_file conflicts with %s: the app proves itself "
                    "with exactly one credential; fix: keep client_assertion_file (the federated "
                    "credential) and remove %s",
                    a->name,
                    cert && a->client_secret_file[0] != '\0'
                        ? "client_secret_file and client_certificate_file"
                    : cert ? "client_certificate_file"
                           : "client_secret_file",
                    cert ? "client_certificate_file, client_key_file" : "client_secret_file");
        if (a->grant_type != GRANT_CLIENT_CREDENTIALS)
            problem(ld, acct_line(cfg, a, "client_assertion_file"),
                    "account %s: client_assertion_file is for grant = client_credentials (an "
                    "app-only account); fix: add grant = client_credentials and login = the "
                    "mailbox, or remove client_assertion_file",
                    a->name);
    }
    if (a->assertion_audience[0] == '\0')
        problem(ld, acct_line(cfg, a, "assertion_audience"),
                "account %s: assertion_audience is empty; fix: remove it (default "
                "api://AzureADTokenExchange) or set the audience of the federated credential",
                a->name);
    if (next_cert != (a->next_client_key_file[0] != '\0'))
        problem(
            ld,
            acct_line(cfg, a, next_cert ? "next_client_certificate_file" : "next_client_key_file"),
            "account %s: next_client_certificate_file and next_client_key_file go together "
            "(the next certificate and its key); fix: set both (oauth2-token-helper "
            "new-certificate %s makes them) or neither",
            a->name, a->name);
    if (next_cert && !cert)
        problem(ld, acct_line(cfg, a, "next_client_certificate_file"),
                "account %s: next_client_certificate_file needs client_certificate_file and "
                "client_key_file (the pair in use now); fix: name the current pair too, or move "
                "the next pair to client_certificate_file and client_key_file",
                a->name);
}

/* check_credentials - the grant, the client's credential and what they need */
static int check_credentials(struct loader *ld, struct account_conf *a, const struct provider *p)
{
    struct config *cfg = ld->cfg;
    int cert = a->client_certificate_file[0] != '\0';

    if (strcmp(a->grant, "refresh_token") == 0) {
        a->grant_type = GRANT_REFRESH_TOKEN;
    } else if (strcmp(a->grant, "client_credentials") == 0) {
        a->grant_type = GRANT_CLIENT_CREDENTIALS;
    } else if (strcmp(a->grant, "jwt_bearer") == 0) {
        a->grant_type = GRANT_JWT_BEARER;
        return check_jwt_bearer(ld, a, p);
    } else {
        problem(ld, acct_line(cfg, a, "grant"),
                "account %s: grant \"%.32s\" is unknown; fix: use refresh_token (a person "
                "authorizes once), client_credentials (app-only) or jwt_bearer (a Google "
                "service account)",
                a->name, a->grant);
        return -1;
    }
    if (a->service_account_file[0] != '\0')
        problem(ld, acct_line(cfg, a, "service_account_file"),
                "account %s: service_account_file needs grant = jwt_bearer (a Google service "
                "account); fix: add grant = jwt_bearer or remove service_account_file",
                a->name);
    if (cert && a->client_secret_file[0] != '\0')
        problem(ld, acct_line(cfg, a, "client_secret_file"),
                "account %s: set client_secret_file or client_certificate_file, not both; fix: "
                "remove one",
                a->name);
    check_federated(ld, a);
    if (cert != (a->client_key_file[0] != '\0'))
        problem(ld, acct_line(cfg, a, cert ? "client_certificate_file" : "client_key_file"),
                "account %s: client_certificate_file and client_key_file go together (the "
                "certificate uploaded to the app registration and its private key); fix: set both",
                a->name);
    if (a->client_key_passphrase_file[0] != '\0' && !cert)
        problem(ld, acct_line(cfg, a, "client_key_passphrase_file"),
                "account %s: client_key_passphrase_file needs client_key_file; fix: add "
                "client_key_file or remove it",
                a->name);
    if (strcmp(a->assertion_alg, "PS256") != 0 && strcmp(a->assertion_alg, "RS256") != 0)
        problem(ld, acct_line(cfg, a, "assertion_alg"),
                "account %s: assertion_alg \"%.16s\" must be PS256 or RS256; fix: assertion_alg = "
                "PS256",
                a->name, a->assertion_alg);
    if (a->grant_type != GRANT_CLIENT_CREDENTIALS)
        return 0;
    if (!cert && a->client_secret_file[0] == '\0' && a->client_assertion_file[0] == '\0')
        problem(ld, acct_line(cfg, a, "grant"),
                "account %s: grant = client_credentials needs the app's credential; fix: add "
                "client_certificate_file and client_key_file, client_assertion_file (a "
                "federated credential), or client_secret_file",
                a->name);
    if (a->login == NULL)
        problem(ld, acct_line(cfg, a, "grant"),
                "account %s: grant = client_credentials needs login, the mailbox to send "
                "as (the app has no user of its own); fix: add login = the mailbox",
                a->name);
    if (p->authority != NULL && a->tenant != NULL && tenant_is_shared(a->tenant))
        problem(ld, acct_line(cfg, a, "tenant"),
                "account %s: grant = client_credentials needs tenant set to the tenant ID "
                "or a verified domain: Entra refuses app-only tokens over /%s (AADSTS9001023); "
                "fix: use the Directory (tenant) ID shown in " ENTRA_APP_PAGE,
                a->name, a->tenant);
    if (a->scope == NULL && p->app_scope == NULL && strcmp(p->name, "custom") != 0)
        problem(ld, acct_line(cfg, a, "grant"),
                "account %s: provider %s has no client_credentials grant for mail; "
                "fix: authorize a user instead (grant = refresh_token)",
                a->name, p->name);
    return 0;
}

/* check_microsoft_ids - the GUIDs and tenant Microsoft's identity platform wants; 0 if usable */
static int check_microsoft_ids(struct loader *ld, struct account_conf *a)
{
    struct config *cfg = ld->cfg;

    if (a->client_id != NULL && a->client_id[0] != '\0' && !config_is_guid(a->client_id))
        problem(ld, acct_line(cfg, a, "client_id"),
                "account %s: client_id \"%.64s\" is not an Application (client) ID, a GUID "
                "such as %s; fix: copy it from " ENTRA_APP_PAGE " > Application (client) ID",
                a->name, a->client_id, EXAMPLE_GUID);
    if (a->tenant == NULL) {
        problem(ld, a->line,
                "account %s: tenant is missing; fix: add tenant = the Directory (tenant) ID "
                "shown in " ENTRA_APP_PAGE " > Directory (tenant) ID (or a verified domain); "
                "write tenant = common, organizations or consumers only for a multi-tenant "
                "app: a single-tenant app over common fails with AADSTS50194 (%s)",
                a->name, explain_aadsts(50194)->what);
        return -1;
    }
    if (looks_like_guid(a->tenant) && !config_is_guid(a->tenant)) {
        problem(ld, acct_line(cfg, a, "tenant"),
                "account %s: tenant \"%.64s\" looks like a tenant ID but is not a full GUID "
                "(8-4-4-4-12 hex digits, such as %s); fix: copy the Directory (tenant) ID "
                "from " ENTRA_APP_PAGE,
                a->name, a->tenant, EXAMPLE_GUID);
        return -1;
    }
    if (!tenant_ok(a->tenant)) {
        problem(ld, acct_line(cfg, a, "tenant"),
                "account %s: tenant \"%.64s\" must be common, organizations, consumers, "
                "a tenant ID (GUID) or a domain such as contoso.onmicrosoft.com; fix: use the "
                "Directory (tenant) ID shown in " ENTRA_APP_PAGE,
                a->name, a->tenant);
        return -1;
    }
    return 0;
}

/* check_not_special - a file setting must not name a FIFO, device or directory */
static void check_not_special(struct loader *ld, struct account_conf *a, const char *key,
                              const char *file)
{
    struct stat st;

    /* stat() never blocks; a file this user cannot see is config-check's to report. */
    if (file[0] == '\0' || stat(file, &st) < 0 || S_ISREG(st.st_mode))
        return;
    problem(ld, acct_line(ld->cfg, a, key),
            "account %s: %s %s is %s, not a regular file; fix: point %s at the file itself",
            a->name, key, file, regfile_kind(st.st_mode), key);
}

/*
 * config_relay_parse - "HOST:PORT" or "[IPv6]:PORT" into host (brackets
 * kept, as a URL wants them) and port; -1 with err
 */
int config_relay_parse(const char *relay, char *host, size_t hostsize, unsigned *port, char *err,
                       size_t errsize)
{
    const char *colon = strrchr(relay, ':');
    const char *p;
    size_t hostlen;
    unsigned long v;
    char *end;

    if (colon == NULL || colon == relay || (relay[0] == '[' && colon[-1] != ']')) {
        snprintf(err, errsize, "\"%.128s\" is not HOST:PORT", relay);
        return -1;
    }
    hostlen = (size_t)(colon - relay);
    for (p = relay; p < colon; p++) {
        int ok = isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_' ||
                 (relay[0] == '[' && (*p == ':' || *p == '[' || *p == ']'));

        if (!ok) {
            snprintf(err, errsize,
                     "the host in \"%.128s\" may hold letters, digits, '.', '-' (an IPv6 address "
                     "goes in brackets: [::1]:587)",
                     relay);
            return -1;
        }
    }
    errno = 0;
    v = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || v == 0 || v > 65535) {
        snprintf(err, errsize, "the port in \"%.128s\" must be 1 to 65535", relay);
        return -1;
    }
    if (hostlen >= hostsize) {
        snprintf(err, errsize, "the host in \"%.64s...\" is too long", relay);
        return -1;
    }
    memcpy(host, relay, hostlen);
    host[hostlen] = '\0';
    *port = (unsigned)v;
    return 0;
}

/* check_relay - relay: the provider's preset when unset, else HOST:PORT */
static void check_relay(struct loader *ld, struct account_conf *a)
{
    char host[256];
    char err[300];
    unsigned port;
    size_t i;

    if (a->relay == NULL) {
        for (i = 0; i < sizeof(provider_relays) / sizeof(provider_relays[0]); i++)
            if (strcmp(provider_relays[i].provider, a->provider) == 0) {
                a->relay = strdup(provider_relays[i].relay);
                if (a->relay == NULL)
                    problem(ld, 0, "out of memory");
            }
        return;
    }
    if (config_relay_parse(a->relay, host, sizeof(host), &port, err, sizeof(err)) < 0)
        problem(ld, acct_line(ld->cfg, a, "relay"),
                "account %s: relay %s; fix: relay = HOST:PORT, such as smtp.office365.com:587",
                a->name, err);
}

/* finish_account - apply the provider preset and check one account */
static void finish_account(struct loader *ld, struct account_conf *a)
{
    struct config *cfg = ld->cfg;
    const struct provider *p = NULL;
    const char *dflt_scope;
    int usable = 1;
    size_t i;

    a->daemon_uid = cfg->daemon_uid;
    for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
        if (strcmp(providers[i].name, a->provider) == 0)
            p = &providers[i];
    if (p == NULL) {
        const char *names[sizeof(providers) / sizeof(providers[0])];
        const char *best;
        char hint[64] = "";

        for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
            names[i] = providers[i].name;
        best = closest(a->provider, names, sizeof(names) / sizeof(names[0]));
        if (best != NULL)
            snprintf(hint, sizeof(hint), "did you mean %s? ", best);
        problem(ld, acct_line(cfg, a, "provider"),
                "account %s: provider \"%.32s\" is unknown; %suse microsoft, "
                "microsoft-usgov, microsoft-china, google or custom",
                a->name, a->provider, hint);
        return;
    }
    a->offline = p->offline;
    a->microsoft = p->authority != NULL;
    if (strcmp(a->grant, "jwt_bearer") == 0 && a->client_id == NULL) {
        /* A service account's client ID is in its key file; the request does not send it. */
        a->client_id = strdup("");
        if (a->client_id == NULL)
            goto oom;
    } else if (a->client_id == NULL || a->client_id[0] == '\0') {
        problem(ld, acct_line(cfg, a, "client_id"),
                "account %s: client_id is missing; fix: add client_id = the Application "
                "(client) ID of the app registration%s",
                a->name, a->microsoft ? ", shown in " ENTRA_APP_PAGE : "");
        usable = 0;
    }
    if (check_credentials(ld, a, p) < 0)
        usable = 0;
    if (a->microsoft) {
        if (check_microsoft_ids(ld, a) < 0)
            usable = 0;
    } else if (a->tenant == NULL) {
        a->tenant = strdup(p->tenant);
        if (a->tenant == NULL)
            goto oom;
    }
    dflt_scope = a->grant_type == GRANT_CLIENT_CREDENTIALS ? p->app_scope : p->scope;
    if (a->scope == NULL && dflt_scope != NULL) {
        a->scope = strdup(dflt_scope);
        if (a->scope == NULL)
            goto oom;
    }
    if (a->scope == NULL || a->scope[0] == '\0') {
        problem(ld, acct_line(cfg, a, "scope"),
                "account %s: scope is required with provider %s; fix: add scope = the scopes the "
                "server wants",
                a->name, a->provider);
    } else if (a->grant_type == GRANT_CLIENT_CREDENTIALS && a->microsoft) {
        size_t sl = strlen(a->scope);

        if (sl < 9 || strcmp(a->scope + sl - 9, "/.default") != 0 || strchr(a->scope, ' ') != NULL)
            problem(ld, acct_line(cfg, a, "scope"),
                    "account %s: grant = client_credentials takes one scope ending in "
                    "/.default; fix: scope = %s",
                    a->name, p->app_scope);
    }
    if (a->login == NULL) {
        a->login = strdup(a->name);
        if (a->login == NULL)
            goto oom;
    }
    if (!saslwire_login_ok(a->login, strlen(a->login)))
        problem(ld, acct_line(cfg, a, "login"),
                "account %s: login \"%.64s\" may not contain spaces, commas, '=' or "
                "control characters; fix: login = the mailbox address",
                a->name, a->login);
    if (usable)
        derive_endpoints(ld, a, p);
    if (a->client_secret_expires[0] != '\0') {
        struct tm tm;
        char *end;

        memset(&tm, 0, sizeof(tm));
        end = strptime(a->client_secret_expires, "%Y-%m-%d", &tm);
        if (end == NULL || *end != '\0' || tm.tm_year < 100)
            problem(ld, acct_line(cfg, a, "client_secret_expires"),
                    "account %s: client_secret_expires \"%.32s\" must be a date such as "
                    "2027-06-30; fix: copy the Expires column under Certificates & secrets",
                    a->name, a->client_secret_expires);
        else
            a->secret_expires = (long long)timegm(&tm);
    }
    for (i = 0; i < N_KEYS; i++)
        if (config_keys[i].scope == KEY_ACCOUNT && config_keys[i].file != FILE_NONE)
            check_not_special(ld, a, config_keys[i].name, *slot(a, &config_keys[i]));
    check_relay(ld, a);
    return;
oom:
    problem(ld, 0, "out of memory");
}

/* unit_installed - whether systemd would start the daemon from our unit (User=OAUTH2_DAEMON_USER)
 */
static int unit_installed(void)
{
    static const char *const dirs[] = {"/etc/systemd/system", "/run/systemd/system",
                                       "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
                                       "/lib/systemd/system"};
    char unit[128];
    size_t i;

    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(unit, sizeof(unit), "%s/oauth2-token-helper.service", dirs[i]);
        if (access(unit, F_OK) == 0)
            return 1;
    }
    return 0;
}

/* check_socket - an absolute path that fits sun_path (the plugin's rule too) */
static void check_socket(struct loader *ld, int line)
{
    char err[512];

    if (ini_socket_ok(ld->cfg->socket, err, sizeof(err)) < 0)
        problem(ld, line, "%s", err);
}

/* check_state_dir - an absolute path */
static void check_state_dir(struct loader *ld, int line)
{
    if (ld->cfg->state_dir[0] != '/')
        problem(ld, line,
                "state_dir \"%.128s\" must be an absolute path; fix: state_dir "
                "= " OAUTH2_DEFAULT_STATE_DIR,
                ld->cfg->state_dir);
}

/* check_allow_users - users that exist, resolved to uids */
static void check_allow_users(struct loader *ld, int line)
{
    struct config *cfg = ld->cfg;
    char err[512];

    if (ids_parse(cfg->allow_users, 0, cfg->allow_uids, &cfg->n_allow_uids, err, sizeof(err)) < 0)
        problem(ld, line, "%s", err);
}

/* check_allow_groups - groups that exist, resolved to gids */
static void check_allow_groups(struct loader *ld, int line)
{
    struct config *cfg = ld->cfg;
    char err[512];

    if (ids_parse(cfg->allow_groups, 1, cfg->allow_gids, &cfg->n_allow_gids, err, sizeof(err)) < 0)
        problem(ld, line, "%s", err);
}

/* check_user - empty, or a user that exists: run_uid and run_gid */
static void check_user(struct loader *ld, int line)
{
    struct config *cfg = ld->cfg;
    struct passwd *pw;

    cfg->run_uid = (uid_t)-1;
    cfg->run_gid = (gid_t)-1;
    if (cfg->user[0] == '\0')
        return;
    pw = getpwnam(cfg->user);
    if (pw == NULL) {
        problem(ld, line, "user: no such user \"%.64s\"; fix: create it, or leave user empty",
                cfg->user);
    } else {
        cfg->run_uid = pw->pw_uid;
        cfg->run_gid = pw->pw_gid;
    }
}

/* check_socket_group - empty, or a group that exists: sock_gid */
static void check_socket_group(struct loader *ld, int line)
{
    struct config *cfg = ld->cfg;
    struct group *gr;

    cfg->sock_gid = (gid_t)-1;
    if (cfg->socket_group[0] == '\0')
        return;
    gr = getgrnam(cfg->socket_group);
    if (gr == NULL)
        problem(ld, line,
                "socket_group: no such group \"%.64s\"; fix: create it, or leave socket_group "
                "empty",
                cfg->socket_group);
    else
        cfg->sock_gid = gr->gr_gid;
}

/* check_socket_mode - octal, no bits beyond 0777 and none for others: sock_mode */
static void check_socket_mode(struct loader *ld, int line)
{
    struct config *cfg = ld->cfg;
    char *end;
    long v;

    errno = 0;
    v = strtol(cfg->socket_mode, &end, 8);
    if (errno != 0 || *end != '\0' || end == cfg->socket_mode || v < 0 || (v & ~0777) != 0 ||
        (v & 0007) != 0)
        problem(ld, line,
                "socket_mode \"%.16s\" must be an octal mode with no access for others; "
                "fix: socket_mode = 0660",
                cfg->socket_mode);
    else
        cfg->sock_mode = (mode_t)v;
}

/* check_refresh_ahead - seconds, 0 to 86400: refresh_ahead_s */
static void check_refresh_ahead(struct loader *ld, int line)
{
    struct config *cfg = ld->cfg;
    char *end;
    long v;

    errno = 0;
    v = strtol(cfg->refresh_ahead, &end, 10);
    if (errno != 0 || *end != '\0' || end == cfg->refresh_ahead || v < 0 || v > 86400)
        problem(ld, line,
                "refresh_ahead \"%.16s\" must be seconds, 0 to 86400; fix: refresh_ahead = 600",
                cfg->refresh_ahead);
    else
        cfg->refresh_ahead_s = v;
}

/* finish_global - each global key's rule, in table order; then who the daemon runs as */
static void finish_global(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    struct passwd *pw;
    size_t i;

    for (i = 0; i < N_KEYS; i++)
        if (config_keys[i].scope == KEY_GLOBAL && config_keys[i].check != NULL)
            config_keys[i].check(ld, cfg->lines[i]);
    /* Who the daemon runs as: user =, else the unit's User= when the unit and user exist. */
    cfg->daemon_uid = cfg->run_uid;
    if (cfg->daemon_uid == (uid_t)-1) {
        pw = geteuid() == 0 && unit_installed() ? getpwnam(OAUTH2_DAEMON_USER) : NULL;
        cfg->daemon_uid = pw != NULL ? pw->pw_uid : geteuid();
    }
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

/* owner_ok - a file we trust belongs to root, to us, or to the daemon's user */
static int owner_ok(const struct config *cfg, uid_t uid)
{
    return uid == 0 || uid == geteuid() || uid == cfg->daemon_uid ||
           (cfg->run_uid != (uid_t)-1 && uid == cfg->run_uid);
}

/* user_name - a uid's name for messages, or its number */
static const char *user_name(uid_t uid, char *buf, size_t bufsize)
{
    struct passwd *pw = getpwuid(uid);

    if (pw != NULL)
        snprintf(buf, bufsize, "%s", pw->pw_name);
    else
        snprintf(buf, bufsize, "%u", (unsigned)uid);
    return buf;
}

/* check_config_file - who may change the config: root or the daemon's user, nobody else */
static void check_config_file(struct loader *ld, const struct stat *st)
{
    struct config *cfg = ld->cfg;
    char owner[64];

    if (!owner_ok(cfg, st->st_uid))
        problem(ld, 0,
                "owned by %s, who could point authority at their own server and collect "
                "refresh tokens; fix: chown root %s",
                user_name(st->st_uid, owner, sizeof(owner)), cfg->path);
    if ((st->st_mode & 0022) != 0)
        problem(ld, 0,
                "writable by group or others (mode %04o): whoever can edit it can point "
                "authority at their own server and collect refresh tokens; fix: chmod go-w %s",
                (unsigned)(st->st_mode & 07777), cfg->path);
}

/* load - parse fp and check everything; the config (NULL only when out of memory) */
static struct config *load(FILE *fp, const char *path, const struct stat *st, struct loader *ld)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    size_t i;

    ld->cfg = cfg;
    if (cfg == NULL)
        goto oom;
    cfg->path = strdup(path);
    cfg->lines = calloc(N_KEYS, sizeof(*cfg->lines));
    if (cfg->path == NULL || cfg->lines == NULL)
        goto oom;
    ini_parse_stream_all(fp, parse_handler, ini_problem_cb, ld);
    if (fill_defaults(cfg, KEY_GLOBAL) < 0)
        goto oom;
    finish_global(ld);
    if (st != NULL)
        check_config_file(ld, st);
    for (i = 0; i < cfg->n_accounts; i++) {
        if (fill_defaults(&cfg->accounts[i], KEY_ACCOUNT) < 0)
            goto oom;
        finish_account(ld, &cfg->accounts[i]);
    }
    return cfg;
oom:
    config_free(cfg);
    ld->cfg = NULL;
    return NULL;
}

/*
 * found_sort_free - sort the problems by line, report each (when report is
 * set), free them; err keeps the first one found, often the cause of the rest
 */
static void found_sort_free(struct loader *ld, config_report_fn report, void *ctx)
{
    size_t i;

    if (ld->n_found > 1)
        qsort(ld->found, ld->n_found, sizeof(ld->found[0]), found_cmp);
    for (i = 0; i < ld->n_found; i++) {
        if (report != NULL)
            report(ctx, ld->found[i].msg);
        free(ld->found[i].msg);
    }
    free(ld->found);
    ld->found = NULL;
    ld->n_found = 0;
}

/* load_result - config_load's answer: the config when there was no problem, else err */
static struct config *load_result(struct loader *ld, struct config *cfg)
{
    found_sort_free(ld, NULL, NULL);
    if (cfg == NULL) {
        snprintf(ld->err, ld->errsize, "out of memory");
        return NULL;
    }
    if (ld->problems == 0)
        return cfg;
    if (ld->problems > 1) {
        size_t used = strlen(ld->err);

        snprintf(ld->err + used, ld->errsize - used,
                 " (and %d more problem%s: oauth2-token-helper config-check lists them all)",
                 ld->problems - 1, ld->problems == 2 ? "" : "s");
    }
    config_free(cfg);
    return NULL;
}

/* open_config - the config file as a stream, never blocking on it */
static FILE *open_config(const char *path, struct stat *st, char *err, size_t errsize)
{
    FILE *fp;
    int fd = regfile_open(path, st, err, errsize);

    if (fd < 0)
        return NULL;
    fp = fdopen(fd, "r");
    if (fp == NULL) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        close(fd);
    }
    return fp;
}

/* config_load - parse and validate */
struct config *config_load(const char *path, char *err, size_t errsize)
{
    struct loader ld;
    struct stat st;
    struct config *cfg;
    FILE *fp = open_config(path, &st, err, errsize);

    if (fp == NULL)
        return NULL;
    memset(&ld, 0, sizeof(ld));
    ld.err = err;
    ld.errsize = errsize;
    cfg = load(fp, path, &st, &ld);
    fclose(fp);
    return load_result(&ld, cfg);
}

/* config_load_stream - parse and validate an open stream */
struct config *config_load_stream(FILE *fp, const char *path, char *err, size_t errsize)
{
    struct loader ld;

    memset(&ld, 0, sizeof(ld));
    ld.err = err;
    ld.errsize = errsize;
    return load_result(&ld, load(fp, path, NULL, &ld));
}

/* config_check_load - parse and validate, reporting every problem */
struct config *config_check_load(const char *path, config_report_fn report, void *ctx,
                                 int *problems)
{
    struct loader ld;
    struct stat st;
    struct config *cfg;
    char err[1024];
    FILE *fp = open_config(path, &st, err, sizeof(err));

    *problems = 0;
    if (fp == NULL) {
        report(ctx, err);
        *problems = 1;
        return NULL;
    }
    memset(&ld, 0, sizeof(ld));
    ld.err = err;
    ld.errsize = sizeof(err);
    cfg = load(fp, path, &st, &ld);
    fclose(fp);
    found_sort_free(&ld, report, ctx);
    if (cfg == NULL) {
        report(ctx, "out of memory");
        *problems = 1;
        return NULL;
    }
    *problems = ld.problems;
    return cfg;
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
    free(cfg->lines);
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

/* check_secret_stat - a secret file: closed to group and others, owned by root or the daemon */
static int check_secret_stat(const struct account_conf *acct, const char *key, const char *file,
                             const struct stat *st, char *err, size_t errsize)
{
    char owner[64];
    char daemon[64];

    if ((st->st_mode & 0077) != 0) {
        snprintf(err, errsize,
                 "account %s: %s %s is readable or writable by group or others (mode %04o); "
                 "fix: chmod 600 %s",
                 acct->name, key, file, (unsigned)(st->st_mode & 07777), file);
        return -1;
    }
    if (st->st_uid != 0 && st->st_uid != geteuid() && st->st_uid != acct->daemon_uid) {
        snprintf(err, errsize,
                 "account %s: %s %s is owned by %s, not root or the daemon's user, who could "
                 "replace it; fix: chown %s %s",
                 acct->name, key, file, user_name(st->st_uid, owner, sizeof(owner)),
                 user_name(acct->daemon_uid, daemon, sizeof(daemon)), file);
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
    char why[600];
    size_t len = 0;
    ssize_t n;
    int rc = -1;
    int fd;

    *out = NULL;
    if (file[0] == '\0')
        return 0;
    fd = regfile_open(file, &st, why, sizeof(why));
    if (fd < 0) {
        int missing = errno == ENOENT;

        snprintf(err, errsize, "account %s: %s: %s%s%s", acct->name, key, why,
                 missing ? "; fix: put the file there, or correct " : "", missing ? key : "");
        return -1;
    }
    if (check_secret_stat(acct, key, file, &st, err, errsize) < 0)
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
            snprintf(err, errsize, "account %s: %s %s: %s", acct->name, key, file, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        snprintf(err, errsize, "account %s: %s %s is longer than %zu bytes", acct->name, key, file,
                 max);
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
    return config_secret_file_read(acct, "client_secret_file", acct->client_secret_file, SECRET_MAX,
                                   1, secret, err, errsize);
}

/* config_state_dir_owner - state_dir belongs to the daemon's uid or root */
int config_state_dir_owner(const struct config *cfg, uid_t daemon_uid, const struct stat *st,
                           char *err, size_t errsize)
{
    struct passwd *unit_user = getpwnam(OAUTH2_DAEMON_USER);
    char owner[64];
    char daemon[64];

    /* The unit's user is the daemon's too: the CLI, as root, makes state_dir for it. */
    if (st->st_uid == 0 || st->st_uid == daemon_uid ||
        (unit_user != NULL && st->st_uid == unit_user->pw_uid))
        return 0;
    snprintf(err, errsize,
             "state_dir %s is owned by %s, not by root or the daemon's user %s: the refresh "
             "tokens stored there would be handed to its owner; fix: chown %s %s (and check "
             "what is in it)",
             cfg->state_dir, user_name(st->st_uid, owner, sizeof(owner)),
             user_name(daemon_uid, daemon, sizeof(daemon)), daemon, cfg->state_dir);
    return -1;
}

/* The daemon's user, as config-check run by root looks at files for it. */
struct daemon_user {
    uid_t uid;
    gid_t gid;
    char name[64];
    char group[64];
    gid_t groups[64];
    int ngroups;
};

/* daemon_user - who the daemon runs as when that is not root; 0 when known */
static int daemon_user(const struct config *cfg, struct daemon_user *du)
{
    struct passwd *pw;
    struct group *gr;

    if (geteuid() != 0 || cfg->daemon_uid == 0 || cfg->daemon_uid == (uid_t)-1)
        return -1;
    pw = getpwuid(cfg->daemon_uid);
    if (pw == NULL)
        return -1;
    du->uid = pw->pw_uid;
    du->gid = pw->pw_gid;
    snprintf(du->name, sizeof(du->name), "%s", pw->pw_name);
    du->ngroups = (int)(sizeof(du->groups) / sizeof(du->groups[0]));
    if (getgrouplist(du->name, du->gid, du->groups, &du->ngroups) < 0) {
        du->groups[0] = du->gid;
        du->ngroups = 1;
    }
    gr = getgrgid(du->gid);
    if (gr != NULL)
        snprintf(du->group, sizeof(du->group), "%s", gr->gr_name);
    else
        snprintf(du->group, sizeof(du->group), "%u", (unsigned)du->gid);
    return 0;
}

/* may - whether du gets the permission bit want (4 read, 1 search) on st */
static int may(const struct daemon_user *du, const struct stat *st, unsigned want)
{
    int i;

    if (st->st_uid == du->uid)
        return ((st->st_mode >> 6) & want) != 0;
    for (i = 0; i < du->ngroups; i++)
        if (du->groups[i] == st->st_gid)
            return ((st->st_mode >> 3) & want) != 0;
    return (st->st_mode & want) != 0;
}

/* in_group - whether the daemon's user is in gid */
static int in_group(const struct daemon_user *du, gid_t gid)
{
    int i;

    for (i = 0; i < du->ngroups; i++)
        if (du->groups[i] == gid)
            return 1;
    return 0;
}

/*
 * daemon_can_read - whether the daemon's user can reach and read file;
 * if not, why and the chown/chmod that fixes it, in msg
 */
static int daemon_can_read(const struct daemon_user *du, const char *file, enum file_kind kind,
                           char *msg, size_t msgsize)
{
    char dir[4096];
    struct stat st;
    char *slash;

    if (file[0] != '/' || strlen(file) >= sizeof(dir))
        return 1;
    snprintf(dir, sizeof(dir), "%s", file);
    for (slash = strchr(dir + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && !may(du, &st, 1)) {
            if (in_group(du, st.st_gid))
                snprintf(msg, msgsize,
                         "the daemon's user %s cannot enter %s (mode %04o); fix: chmod g+x %s",
                         du->name, dir, (unsigned)(st.st_mode & 07777), dir);
            else
                snprintf(msg, msgsize,
                         "the daemon's user %s cannot enter %s (mode %04o); fix: chgrp %s %s && "
                         "chmod g+x %s",
                         du->name, dir, (unsigned)(st.st_mode & 07777), du->group, dir, dir);
            return 0;
        }
        *slash = '/';
    }
    if (stat(file, &st) < 0 || may(du, &st, 4))
        return 1;
    if (kind == FILE_SECRET || kind == FILE_KEY)
        snprintf(msg, msgsize,
                 "%s is not readable by the daemon's user %s (mode %04o); fix: chown %s %s && "
                 "chmod 600 %s",
                 file, du->name, (unsigned)(st.st_mode & 07777), du->name, file, file);
    else if (kind == FILE_CONFIG)
        snprintf(msg, msgsize,
                 "%s is not readable by the daemon's user %s (mode %04o); fix: chown root:%s %s "
                 "&& chmod 640 %s",
                 file, du->name, (unsigned)(st.st_mode & 07777), du->group, file, file);
    else
        snprintf(msg, msgsize,
                 "%s is not readable by the daemon's user %s (mode %04o); fix: chmod 644 %s", file,
                 du->name, (unsigned)(st.st_mode & 07777), file);
    return 0;
}

/*
 * The audit's passes over an account's files: the private ones first
 * (secret and key), then the certificate, then the CA file, each pass in
 * table order.
 */
static const unsigned audit_passes[] = {
    (1u << FILE_SECRET) | (1u << FILE_KEY),
    1u << FILE_CERT,
    1u << FILE_CA,
};

/* check_public_file - a certificate or CA file: regular, changed only by root or the daemon */
static int check_public_file(const struct config *cfg, const struct account_conf *a,
                             const char *key, const char *file, char *msg, size_t msgsize)
{
    struct stat st;
    char why[600];
    char owner[64];
    int fd = regfile_open(file, &st, why, sizeof(why));

    if (fd < 0) {
        snprintf(msg, msgsize, "account %s: %s: %s", a->name, key, why);
        return -1;
    }
    close(fd);
    if ((st.st_mode & 0022) != 0) {
        snprintf(msg, msgsize,
                 "account %s: %s %s is writable by group or others (mode %04o); fix: chmod go-w %s",
                 a->name, key, file, (unsigned)(st.st_mode & 07777), file);
        return -1;
    }
    if (!owner_ok(cfg, st.st_uid)) {
        snprintf(msg, msgsize,
                 "account %s: %s %s is owned by %s, not root or the daemon's user; fix: chown "
                 "root %s",
                 a->name, key, file, user_name(st.st_uid, owner, sizeof(owner)), file);
        return -1;
    }
    return 0;
}

/* check_report - one config-check finding, prefixed with FILE:LINE */
static void check_report(const struct config *cfg, int line, const char *text,
                         config_report_fn report, void *ctx)
{
    char msg[1200];

    if (line > 0)
        snprintf(msg, sizeof(msg), "%s:%d: %s", cfg->path, line, text);
    else
        snprintf(msg, sizeof(msg), "%s: %s", cfg->path, text);
    report(ctx, msg);
}

/* config_check_files - ownership, modes and readability of everything the config names */
int config_check_files(const struct config *cfg, config_report_fn report, void *ctx)
{
    struct daemon_user du;
    int have_du = daemon_user(cfg, &du) == 0;
    char msg[1024];
    struct stat st;
    int problems = 0;
    size_t i;
    size_t f;

    if (have_du && !daemon_can_read(&du, cfg->path, FILE_CONFIG, msg, sizeof(msg))) {
        check_report(cfg, 0, msg, report, ctx);
        problems++;
    }
    if (stat(cfg->state_dir, &st) == 0) {
        int line = line_of(cfg, -1, "state_dir");

        if (!S_ISDIR(st.st_mode) || (st.st_mode & 0077) != 0) {
            snprintf(msg, sizeof(msg),
                     "state_dir %s must be a directory closed to group and others (mode %04o); "
                     "fix: chmod 700 %s",
                     cfg->state_dir, (unsigned)(st.st_mode & 07777), cfg->state_dir);
            check_report(cfg, line, msg, report, ctx);
            problems++;
        }
        if (config_state_dir_owner(cfg, cfg->daemon_uid, &st, msg, sizeof(msg)) < 0) {
            check_report(cfg, line, msg, report, ctx);
            problems++;
        }
    } else if (errno != ENOENT) {
        snprintf(msg, sizeof(msg), "state_dir %s: %s", cfg->state_dir, strerror(errno));
        check_report(cfg, line_of(cfg, -1, "state_dir"), msg, report, ctx);
        problems++;
    }
    for (i = 0; i < cfg->n_accounts; i++) {
        const struct account_conf *a = &cfg->accounts[i];

        for (f = 0; f < N_KEYS * (sizeof(audit_passes) / sizeof(audit_passes[0])); f++) {
            const struct config_key *k = &config_keys[f % N_KEYS];
            const char *file = *slot((void *)a, k);
            int line;
            char *secret = NULL;
            char why[800];
            int rc;

            if (k->scope != KEY_ACCOUNT || (audit_passes[f / N_KEYS] & (1u << k->file)) == 0 ||
                file == NULL || file[0] == '\0')
                continue;
            line = acct_line(cfg, a, k->name);
            if (strcmp(k->name, "client_assertion_file") == 0) {
                /* The external JWT: its file, form, expiry and audience (assertion.h). */
                rc = assertion_read(a, clock_wall_s(), NULL, NULL, msg, sizeof(msg));
            } else if (k->file == FILE_SECRET || k->file == FILE_KEY) {
                rc = config_secret_file_read(a, k->name, file,
                                             k->file == FILE_KEY ? CONFIG_KEY_MAX : SECRET_MAX,
                                             k->file == FILE_SECRET, &secret, msg, sizeof(msg));
                secret_free(secret);
            } else {
                rc = check_public_file(cfg, a, k->name, file, msg, sizeof(msg));
            }
            if (rc < 0) {
                check_report(cfg, line, msg, report, ctx);
                problems++;
            } else if (have_du && !daemon_can_read(&du, file, k->file, why, sizeof(why))) {
                snprintf(msg, sizeof(msg), "account %s: %s: %s", a->name, k->name, why);
                check_report(cfg, line, msg, report, ctx);
                problems++;
            }
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
        const struct account_conf *a = &cfg->accounts[i];

        fprintf(fp, "\n[account %s]\n", a->name);
        for (j = 0; j < N_KEYS; j++) {
            char *v;

            if (config_keys[j].scope != KEY_ACCOUNT)
                continue;
            v = *slot((void *)a, &config_keys[j]);
            fprintf(fp, "%s = %s\n", config_keys[j].name, v != NULL ? v : "");
        }
        fprintf(fp, "# token endpoint: %s\n", a->endpoint ? a->endpoint : "(none)");
        fprintf(fp, "# authorize endpoint: %s\n", a->authorize_url ? a->authorize_url : "(none)");
        fprintf(fp, "# device-code endpoint: %s\n", a->device_url ? a->device_url : "(none)");
    }
}
