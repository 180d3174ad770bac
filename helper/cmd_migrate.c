/*
 * cmd_migrate.c - oauth2-token-helper migrate: move a Postfix relay from a password to OAuth2
 *
 * SYNOPSIS
 *     oauth2-token-helper [-c FILE] migrate [-C DIR] [--client-id ID] [--host HOST]
 *                         [--backup-dir DIR] [--dry-run | --apply | --rollback [BACKUP]]
 *
 * DESCRIPTION
 *     Reads Postfix's settings through postconf (relayhost,
 *     smtp_sasl_password_maps, sender-dependent authentication and relay
 *     maps, the SASL mechanism filter, the TLS level) and the password
 *     tables (hash, btree, lmdb: the source file next to the table, else
 *     "postmap -s"; texthash: the file), and finds the entries that log in
 *     to Office 365 (and its national clouds) or Gmail with a password.
 *     For those it proposes: an [account LOGIN] section each in the
 *     helper's config; the password table with each such password
 *     removed (the README's "LOGIN:"); main.cf with
 *     smtp_sasl_mechanism_filter = xoauth2 (only when every password
 *     entry Postfix uses moves, as other relays may need other
 *     mechanisms) and smtp_tls_security_level = encrypt (only when all
 *     relayed mail goes to these providers). Other entries stay as they
 *     are, byte for byte.
 *
 *     --dry-run (the default) prints a unified diff of every file and
 *     changes nothing. --apply copies every file it touches into one
 *     dated backup directory, writes each new file atomically (keeping
 *     owner and mode), runs postmap where the table needs it and
 *     config-check on the result; if any step fails it puts the backup
 *     back. --rollback restores a backup (by default the newest made for
 *     this Postfix configuration directory), the table files included,
 *     byte for byte with their modes, owners and times.
 *
 * DIAGNOSTICS
 *     0 done (or nothing left to do); 64 usage; 69 nothing here that
 *     this command can move (no SASL, no Office 365 or Gmail entry); 78
 *     a configuration it cannot read or rewrite safely (a relay chosen by
 *     a pcre: or ldap: table, a password table of another type, a
 *     master.cf override, a login that is not a mailbox address, a
 *     placeholder left for --apply): nothing is changed then; 75 a write
 *     failed (the backup was put back).
 *
 * SECURITY
 *     Passwords are read only into buffers that are wiped before they
 *     are freed; the diff shows each as ********; nothing is logged. The
 *     backup keeps the old password table as it was (directory 0700,
 *     files 0600), and the output says so. Postfix's tools run from an
 *     argument vector, never through a shell.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "paths.h"
#include "postfixmap.h"
#include "saslwire.h"
#include "udiff.h"

#define MIGRATE_MAX_FILE (4 * 1024 * 1024) /* a main.cf or password table */
#define MIGRATE_MAX_MAPS 16
#define MIGRATE_MAX_HOSTS 16
#define MIGRATE_MAX_ACCOUNTS 1000
#define MIGRATE_BACKUP_ROOT "/var/backups/oauth2-token-helper"
#define MIGRATE_MAX_FILES (2 + 3 * MIGRATE_MAX_MAPS)

#define PLACEHOLDER_CLIENT_ID "REPLACE-WITH-APPLICATION-CLIENT-ID"
#define PLACEHOLDER_TENANT "REPLACE-WITH-DIRECTORY-TENANT-ID"
#define PLACEHOLDER_GOOGLE_ID "REPLACE-WITH-GOOGLE-OAUTH-CLIENT-ID"
#define PLACEHOLDER_GOOGLE_SECRET "REPLACE-WITH-CLIENT-SECRET-FILE"

/*
 * The submission hosts whose password logins move to OAuth2, by provider
 * (REFERENCE: the national clouds have their own hosts). Direct-send
 * hosts (*.mail.protection.outlook.com) take no login and are not here.
 */
static const struct relay_provider {
    const char *host;
    const char *provider; /* the helper's provider = */
    const char *label;
} relay_providers[] = {
    {"smtp.office365.com", "microsoft", "Microsoft 365"},
    {"smtp-legacy.office365.com", "microsoft", "Microsoft 365"},
    {"smtp-hve.office365.com", "microsoft", "Microsoft 365 High Volume Email"},
    {"smtp.office365.us", "microsoft-usgov", "Microsoft 365 US Government"},
    {"smtp.partner.outlook.cn", "microsoft-china", "Microsoft 365 operated by 21Vianet"},
    {"smtp.gmail.com", "google", "Gmail"},
};
#define N_RELAY_PROVIDERS (sizeof(relay_providers) / sizeof(relay_providers[0]))

/* A relay given with --host: treated as Microsoft 365. */
static const struct relay_provider extra_provider = {NULL, "microsoft", "Microsoft 365 (--host)"};

/* One lookup table named in main.cf. */
struct table {
    char *spec;      /* TYPE:NAME as postconf printed it (no secret: types with one are refused) */
    char type[16];   /* hash, btree, lmdb, texthash */
    char *name;      /* its path, as written */
    char *source;    /* the source file (resolved), where the entries are written */
    char *db;        /* the indexed file postmap makes, NULL for texthash */
    int from_source; /* read from the source file; else from postmap -s */
    char *text;      /* the entries (passwords included for a password table) */
    size_t len;
    struct pfmap_entry *ent;
    size_t n;
    char *new_text; /* the rewritten source, NULL while unchanged */
    size_t new_len;
    int is_sasl;
};

/* One account to propose. */
struct maccount {
    char *login;
    const struct relay_provider *prov;
    char *tenant;
    char *client_id;
    char *secret_file; /* Google */
    int exists;        /* already in the helper's config */
    int placeholder;
    char *relay; /* the destination, for the test command */
};

/* One file --apply writes, with what it was. */
struct target {
    char *path;
    int existed;
    struct stat st;
};

struct migration {
    char confdir[PATH_MAX];
    const char *helper_conf; /* the helper's config file */
    const char *client_id;   /* --client-id */
    const char *hosts[MIGRATE_MAX_HOSTS];
    size_t n_hosts;
    const char *backup_root;
    /* postconf's values */
    char *relayhost;
    char *sasl_enable;
    char *sasl_maps;
    char *sender_auth;
    char *relay_maps;
    char *mech_filter;
    char *tls_level;
    char *enforce_tls;
    /* main.cf */
    char *maincf_path;
    char *maincf;
    size_t maincf_len;
    char *new_maincf;
    size_t new_maincf_len;
    struct table sasl[MIGRATE_MAX_MAPS];
    size_t n_sasl;
    struct table relay[MIGRATE_MAX_MAPS];
    size_t n_relay;
    struct maccount acct[MIGRATE_MAX_ACCOUNTS];
    size_t n_acct;
    /* the helper's config */
    struct config *cfg; /* NULL when the file does not exist yet */
    char *conf_text;
    size_t conf_len;
    char *new_conf;
    size_t new_conf_len;
    int moved;     /* password entries to remove */
    int already;   /* entries for these providers already without a password */
    int untouched; /* password entries left for other relays */
    int tls_warn;
};

/* xstrndup - the first n bytes of s as a string, malloc'd; NULL out of memory */
static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* say - a message about the migration on stderr */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    fputs("oauth2-token-helper: migrate: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* table_free - release one table, wiping its text */
static void table_free(struct table *t)
{
    free(t->spec);
    free(t->name);
    free(t->source);
    free(t->db);
    pfmap_wipe_free(t->text, t->len);
    pfmap_wipe_free(t->new_text, t->new_len);
    free(t->ent);
    memset(t, 0, sizeof(*t));
}

/* migration_free - release everything, wiping what held passwords */
static void migration_free(struct migration *m)
{
    size_t i;

    /* A static: or inline: table in a setting would hold a password: wipe them all. */
    char **settings[] = {&m->relayhost,  &m->sasl_enable, &m->sasl_maps, &m->sender_auth,
                         &m->relay_maps, &m->mech_filter, &m->tls_level, &m->enforce_tls};

    for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        if (*settings[i] != NULL)
            pfmap_wipe_free(*settings[i], strlen(*settings[i]));
    free(m->maincf_path);
    pfmap_wipe_free(m->maincf, m->maincf_len);
    pfmap_wipe_free(m->new_maincf, m->new_maincf_len);
    for (i = 0; i < m->n_sasl; i++)
        table_free(&m->sasl[i]);
    for (i = 0; i < m->n_relay; i++)
        table_free(&m->relay[i]);
    for (i = 0; i < m->n_acct; i++) {
        free(m->acct[i].login);
        free(m->acct[i].tenant);
        free(m->acct[i].client_id);
        free(m->acct[i].secret_file);
        free(m->acct[i].relay);
    }
    config_free(m->cfg);
    pfmap_wipe_free(m->conf_text, m->conf_len);
    pfmap_wipe_free(m->new_conf, m->new_conf_len);
}

/* read_file - a whole regular file into a wiped-on-free buffer; 0, 1 absent, -1 with err */
static int read_file(const char *path, char **buf, size_t *len, struct stat *st, char *err,
                     size_t errsize)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    char *b = NULL;
    size_t got = 0;

    *buf = NULL;
    *len = 0;
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errsize, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        snprintf(err, errsize, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (st->st_size > MIGRATE_MAX_FILE) {
        snprintf(err, errsize, "%s is larger than %d bytes", path, MIGRATE_MAX_FILE);
        close(fd);
        return -1;
    }
    b = malloc((size_t)st->st_size + 1);
    if (b == NULL) {
        snprintf(err, errsize, "out of memory reading %s", path);
        close(fd);
        return -1;
    }
    while (got < (size_t)st->st_size) {
        ssize_t r = read(fd, b + got, (size_t)st->st_size - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != (size_t)st->st_size) {
        snprintf(err, errsize, "%s changed while it was read; run migrate again", path);
        pfmap_wipe_free(b, (size_t)st->st_size);
        return -1;
    }
    b[got] = '\0';
    *buf = b;
    *len = got;
    return 0;
}

/* run_postfix - run postconf or postmap with -c confdir and args; see pfmap_run */
static int run_postfix(const struct migration *m, const char *tool, const char *const *args,
                       char **out, size_t *outlen, char *err, size_t errsize)
{
    char path[PATH_MAX];
    char *argv[16];
    size_t n = 0;
    size_t i;

    argv[n++] = (char *)tool;
    argv[n++] = (char *)"-c";
    argv[n++] = (char *)m->confdir;
    for (i = 0; args[i] != NULL && n < sizeof(argv) / sizeof(argv[0]) - 1; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return pfmap_run(pfmap_tool(tool, path, sizeof(path)), argv, out, outlen, MIGRATE_MAX_FILE, err,
                     errsize);
}

/* next_line - the next line of *p as a malloc'd string, *p moved past it; NULL at the end */
static char *next_line(const char **p)
{
    const char *s = *p;
    const char *nl;

    if (*s == '\0')
        return NULL;
    nl = strchr(s, '\n');
    if (nl == NULL) {
        *p = s + strlen(s);
        return strdup(s);
    }
    *p = nl + 1;
    return xstrndup(s, (size_t)(nl - s));
}

/* read_settings - postconf's expanded values of the parameters migrate reads; 0 or -1 */
static int read_settings(struct migration *m)
{
    static const char *const args[] = {"-x",
                                       "-h",
                                       "relayhost",
                                       "smtp_sasl_auth_enable",
                                       "smtp_sasl_password_maps",
                                       "smtp_sender_dependent_authentication",
                                       "sender_dependent_relayhost_maps",
                                       "smtp_sasl_mechanism_filter",
                                       "smtp_tls_security_level",
                                       "smtp_enforce_tls",
                                       NULL};
    char **slots[] = {&m->relayhost,  &m->sasl_enable, &m->sasl_maps, &m->sender_auth,
                      &m->relay_maps, &m->mech_filter, &m->tls_level, &m->enforce_tls};
    char err[600] = "";
    char *out = NULL;
    size_t outlen = 0;
    const char *p;
    size_t i;
    int rc = run_postfix(m, "postconf", args, &out, &outlen, err, sizeof(err));

    if (rc != 0) {
        say("cannot read Postfix's settings in %s: %s; fix: check that %s/main.cf exists "
            "(-C names the Postfix configuration directory)",
            m->confdir, err, m->confdir);
        pfmap_wipe_free(out, outlen);
        return -1;
    }
    p = out;
    for (i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        *slots[i] = next_line(&p);
        if (*slots[i] == NULL) {
            say("postconf -c %s printed fewer values than asked for", m->confdir);
            pfmap_wipe_free(out, outlen);
            return -1;
        }
    }
    pfmap_wipe_free(out, outlen);
    return 0;
}

/* check_master_overrides - refuse when master.cf overrides what migrate reads; 0 or -1 */
static int check_master_overrides(struct migration *m)
{
    static const char *const args[] = {"-P", NULL};
    static const char *const watched[] = {"relayhost",
                                          "smtp_sasl_password_maps",
                                          "smtp_sasl_auth_enable",
                                          "sender_dependent_relayhost_maps",
                                          "smtp_sender_dependent_authentication",
                                          "smtp_sasl_mechanism_filter"};
    char err[600] = "";
    char *out = NULL;
    size_t outlen = 0;
    const char *p;
    char *line;
    int bad = 0;

    if (run_postfix(m, "postconf", args, &out, &outlen, err, sizeof(err)) != 0) {
        pfmap_wipe_free(out, outlen);
        return 0; /* no master.cf parameters to read: nothing overridden */
    }
    p = out;
    for (line = next_line(&p); line != NULL; line = bad ? NULL : next_line(&p)) {
        char *slash = strrchr(line, '/');
        size_t linelen = strlen(line);
        size_t i;

        if (slash != NULL) {
            char *eq = strchr(slash, '=');
            size_t nl = eq != NULL ? (size_t)(eq - slash - 1) : strlen(slash + 1);

            while (nl > 0 && slash[nl] == ' ')
                nl--;
            for (i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
                if (strlen(watched[i]) == nl && strncmp(slash + 1, watched[i], nl) == 0) {
                    *slash = '\0';
                    say("%s/master.cf sets %s for the service %s (-o %s=...); this command "
                        "reads main.cf only and changes nothing; fix: move that setting to "
                        "main.cf, or migrate by hand (README: Configure, step 5)",
                        m->confdir, watched[i], line, watched[i]);
                    bad = 1;
                    break;
                }
        }
        pfmap_wipe_free(line, linelen);
    }
    pfmap_wipe_free(out, outlen);
    return bad ? -1 : 0;
}

/* is_yes - a Postfix boolean that is on */
static int is_yes(const char *v)
{
    return strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0;
}

/* dest_host - the host of a next-hop destination ("[host]:port", "host:port", "host"), lower
 * case, in buf */
static void dest_host(const char *d, size_t n, char *buf, size_t size)
{
    size_t i = 0;
    size_t o = 0;
    size_t end;

    while (i < n && isspace((unsigned char)d[i]))
        i++;
    /* A transport in front ("smtp:[host]:587") is not part of the host. */
    for (end = i; end < n && d[end] != '[' && d[end] != ':' && !isspace((unsigned char)d[end]);
         end++)
        ;
    if (end < n && d[end] == ':' && end + 1 < n && d[end + 1] == '[')
        i = end + 1;
    if (i < n && d[i] == '[') {
        i++;
        while (i < n && d[i] != ']' && o + 1 < size)
            buf[o++] = (char)tolower((unsigned char)d[i++]);
    } else {
        while (i < n && d[i] != ':' && d[i] != ',' && !isspace((unsigned char)d[i]) && o + 1 < size)
            buf[o++] = (char)tolower((unsigned char)d[i++]);
    }
    while (o > 0 && buf[o - 1] == '.')
        o--;
    buf[o] = '\0';
}

/* provider_of - the provider of a next-hop destination, or NULL */
static const struct relay_provider *provider_of(const struct migration *m, const char *d, size_t n)
{
    char host[256];
    size_t i;

    dest_host(d, n, host, sizeof(host));
    if (host[0] == '\0')
        return NULL;
    for (i = 0; i < N_RELAY_PROVIDERS; i++)
        if (strcmp(host, relay_providers[i].host) == 0)
            return &relay_providers[i];
    for (i = 0; i < m->n_hosts; i++)
        if (strcasecmp(host, m->hosts[i]) == 0)
            return &extra_provider;
    return NULL;
}

/* relayhost_provider - the provider every destination of relayhost goes to, or NULL */
static const struct relay_provider *relayhost_provider(const struct migration *m)
{
    const char *p = m->relayhost;
    const struct relay_provider *all = NULL;

    while (*p != '\0') {
        size_t n;
        const struct relay_provider *pr;

        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        n = strcspn(p, ", \t");
        pr = provider_of(m, p, n);
        if (pr == NULL || (all != NULL && strcmp(all->provider, pr->provider) != 0))
            return NULL;
        all = pr;
        p += n;
    }
    return all;
}

/* table_read - a table's entries, from its source file or postmap -s; 0 or -1 with a message */
static int table_read(struct migration *m, struct table *t, const char *param)
{
    char err[600] = "";
    struct stat st;
    char resolved[PATH_MAX];
    int rc;

    if (strcmp(t->type, "hash") == 0 || strcmp(t->type, "btree") == 0 ||
        strcmp(t->type, "lmdb") == 0) {
        size_t nl = strlen(t->name);

        t->db = malloc(nl + 6);
        if (t->db == NULL)
            return -1;
        snprintf(t->db, nl + 6, "%s.%s", t->name, strcmp(t->type, "lmdb") == 0 ? "lmdb" : "db");
    }
    if (realpath(t->name, resolved) != NULL)
        t->source = strdup(resolved);
    else
        t->source = strdup(t->name);
    if (t->source == NULL)
        return -1;
    rc = read_file(t->source, &t->text, &t->len, &st, err, sizeof(err));
    if (rc < 0) {
        say("%s: %s", param, err);
        return -1;
    }
    if (rc == 0) {
        t->from_source = 1;
    } else if (t->db == NULL) {
        say("%s names %s:%s, which does not exist; fix: correct %s in %s/main.cf", param, t->type,
            t->name, param, m->confdir);
        return -1;
    } else {
        const char *args[] = {"-s", t->spec, NULL};

        rc = run_postfix(m, "postmap", args, &t->text, &t->len, err, sizeof(err));
        if (rc != 0) {
            say("%s: there is no source file %s and postmap -s %s:... cannot list the table: "
                "%s; fix: recreate %s from your records",
                param, t->name, t->type, err, t->name);
            return -1;
        }
    }
    if (pfmap_parse(t->text, t->len, &t->ent, &t->n) < 0) {
        say("out of memory");
        return -1;
    }
    return 0;
}

/* tables_parse - the tables named by a parameter's value; 0, or -1 with a message */
static int tables_parse(struct migration *m, const char *param, const char *value,
                        struct table *tables, size_t *n, int is_sasl)
{
    const char *p = value;

    *n = 0;
    while (*p != '\0') {
        size_t len;
        const char *colon;
        struct table *t;

        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        len = strcspn(p, ", \t");
        colon = memchr(p, ':', len);
        if (colon == NULL || (size_t)(colon - p) >= sizeof(tables[0].type)) {
            say("%s: \"%.*s\" is not a TYPE:NAME table; fix: correct %s in %s/main.cf", param,
                (int)(colon == NULL ? len : (size_t)(colon - p)), p, param, m->confdir);
            return -1;
        }
        /* Only the type is named: a static: or inline: table may hold a password. */
        if (!((colon - p == 4 && strncmp(p, "hash", 4) == 0) ||
              (colon - p == 5 && strncmp(p, "btree", 5) == 0) ||
              (colon - p == 4 && strncmp(p, "lmdb", 4) == 0) ||
              (colon - p == 8 && strncmp(p, "texthash", 8) == 0))) {
            say("%s uses a %.*s: table, which this command cannot %s; nothing was changed; "
                "fix: move the %s to a hash:, lmdb: or texthash: table, or migrate by hand "
                "(README: Configure, step 5)",
                param, (int)(colon - p), p, is_sasl ? "rewrite" : "read",
                is_sasl ? "passwords" : "relays");
            return -1;
        }
        if (colon[1] != '/') {
            say("%s: the table %.*s has no absolute path; fix: write it as %.*s:/etc/postfix/...",
                param, (int)len, p, (int)(colon - p), p);
            return -1;
        }
        if (*n == MIGRATE_MAX_MAPS) {
            say("%s names more than %d tables", param, MIGRATE_MAX_MAPS);
            return -1;
        }
        t = &tables[(*n)++];
        memset(t, 0, sizeof(*t));
        t->is_sasl = is_sasl;
        memcpy(t->type, p, (size_t)(colon - p));
        t->spec = xstrndup(p, len);
        t->name = xstrndup(colon + 1, len - (size_t)(colon - p) - 1);
        if (t->spec == NULL || t->name == NULL)
            return -1;
        if (table_read(m, t, param) < 0)
            return -1;
        p += len;
    }
    return 0;
}

/* key_eq - a table key equals s (Postfix folds keys to lower case) */
static int key_eq(const struct table *t, const struct pfmap_entry *e, const char *s, size_t n)
{
    return e->key_len == n && strncasecmp(t->text + e->key, s, n) == 0;
}

/* sender_relay - the destination Postfix relays a sender's mail to: the relay maps, else
 * relayhost; *n its length */
static const char *sender_relay(const struct migration *m, const char *sender, size_t slen,
                                size_t *n)
{
    const char *at = memchr(sender, '@', slen);
    size_t pass;
    size_t i;
    size_t j;

    for (pass = 0; pass < 2; pass++) {
        const char *key = pass == 0 ? sender : at;
        size_t klen = pass == 0 ? slen : (at != NULL ? slen - (size_t)(at - sender) : 0);

        if (key == NULL || klen == 0)
            continue;
        for (i = 0; i < m->n_relay; i++)
            for (j = 0; j < m->relay[i].n; j++)
                if (key_eq(&m->relay[i], &m->relay[i].ent[j], key, klen)) {
                    *n = m->relay[i].ent[j].value_end - m->relay[i].ent[j].value;
                    return m->relay[i].text + m->relay[i].ent[j].value;
                }
    }
    *n = strlen(m->relayhost);
    return m->relayhost;
}

/* domain_is_tenant - the login's domain is a name Entra takes as a tenant (a dotted DNS name) */
static int domain_is_tenant(const char *d)
{
    size_t i;
    size_t label = 0;
    int dots = 0;

    if (*d == '\0' || strlen(d) > 253)
        return 0;
    for (i = 0; d[i] != '\0'; i++) {
        if (d[i] == '.') {
            if (label == 0 || d[i - 1] == '-')
                return 0;
            label = 0;
            dots++;
        } else if (isalnum((unsigned char)d[i]) || (d[i] == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return dots > 0 && label > 0;
}

/* account_add - the account for login (one per login); NULL out of memory or too many */
static struct maccount *account_add(struct migration *m, const char *login, size_t n,
                                    const struct relay_provider *prov, const char *relay,
                                    size_t rlen)
{
    struct maccount *a;
    const struct account_conf *same = NULL;
    const char *at;
    size_t i;

    for (i = 0; i < m->n_acct; i++)
        if (strlen(m->acct[i].login) == n && strncasecmp(m->acct[i].login, login, n) == 0)
            return &m->acct[i];
    if (m->n_acct == MIGRATE_MAX_ACCOUNTS)
        return NULL;
    a = &m->acct[m->n_acct++];
    memset(a, 0, sizeof(*a));
    a->login = xstrndup(login, n);
    a->relay = xstrndup(relay, rlen);
    if (a->login == NULL || a->relay == NULL)
        return NULL;
    a->prov = prov;
    if (m->cfg != NULL && config_find(m->cfg, a->login) != NULL) {
        a->exists = 1;
        return a;
    }
    /* An account of the same provider in the config: the same app registration serves. */
    for (i = 0; m->cfg != NULL && i < m->cfg->n_accounts; i++)
        if (strcmp(m->cfg->accounts[i].provider, prov->provider) == 0 &&
            m->cfg->accounts[i].grant_type == GRANT_REFRESH_TOKEN) {
            same = &m->cfg->accounts[i];
            break;
        }
    at = strrchr(a->login, '@');
    if (strcmp(prov->provider, "google") == 0) {
        a->client_id = strdup(same != NULL ? same->client_id : PLACEHOLDER_GOOGLE_ID);
        a->secret_file =
            strdup(same != NULL && same->client_secret_file[0] ? same->client_secret_file
                                                               : PLACEHOLDER_GOOGLE_SECRET);
    } else {
        if (m->client_id != NULL)
            a->client_id = strdup(m->client_id);
        else
            a->client_id = strdup(same != NULL ? same->client_id : PLACEHOLDER_CLIENT_ID);
        if (same != NULL && m->client_id == NULL && same->tenant != NULL)
            a->tenant = strdup(same->tenant);
        else
            a->tenant =
                strdup(at != NULL && domain_is_tenant(at + 1) ? at + 1 : PLACEHOLDER_TENANT);
        if (a->tenant == NULL)
            return NULL;
        if (strcmp(a->tenant, PLACEHOLDER_TENANT) == 0)
            a->placeholder = 1;
    }
    if (a->client_id == NULL || (strcmp(prov->provider, "google") == 0 && a->secret_file == NULL))
        return NULL;
    if (strncmp(a->client_id, "REPLACE-WITH-", 13) == 0 ||
        (a->secret_file != NULL && strncmp(a->secret_file, "REPLACE-WITH-", 13) == 0))
        a->placeholder = 1;
    return a;
}

/* login_ok - a mailbox address the helper can use as account name and login */
static int login_ok(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);

    return n > 0 && n < CONFIG_ACCOUNT_NAME_MAX && at != NULL && at != s &&
           memchr(at + 1, '@', n - (size_t)(at - s) - 1) == NULL && (size_t)(at - s) + 1 < n &&
           saslwire_login_ok(s, n) && memchr(s, ']', n) == NULL && memchr(s, '[', n) == NULL;
}

/* classify - decide each password entry's fate; rewrite the tables; 0, or -1 (refused) */
static int classify(struct migration *m)
{
    int sender_auth = is_yes(m->sender_auth);
    size_t i;
    size_t j;

    for (i = 0; i < m->n_sasl; i++) {
        struct table *t = &m->sasl[i];
        char *out = NULL;
        size_t o = 0;
        size_t from = 0;
        int changed = 0;

        out = malloc(t->len + 1);
        if (out == NULL)
            return -1;
        for (j = 0; j < t->n; j++) {
            const struct pfmap_entry *e = &t->ent[j];
            const char *key = t->text + e->key;
            const struct relay_provider *prov;
            const char *relay;
            size_t rlen;
            size_t pw = pfmap_password_at(t->text, e); /* after the ':', or value_end */
            size_t login_len;
            int has_password;

            if (memchr(key, '@', e->key_len) != NULL) {
                if (!sender_auth)
                    continue; /* Postfix does not look senders up: not used */
                relay = sender_relay(m, key, e->key_len, &rlen);
            } else {
                relay = key;
                rlen = e->key_len;
            }
            prov = provider_of(m, relay, rlen);
            login_len = (pw < e->value_end || t->text[pw - 1] == ':' ? pw - 1 : pw) - e->value;
            has_password = pw < e->value_end &&
                           !(e->value_end - pw > 8 && memcmp(t->text + pw, "account=", 8) == 0);
            if (prov == NULL) {
                if (has_password)
                    m->untouched++;
                continue;
            }
            if (!has_password) {
                m->already++;
                continue;
            }
            if (!login_ok(t->text + e->value, login_len)) {
                say("%s line %d: the entry for %.*s logs in as \"%.*s\", not a mailbox "
                    "address; nothing was changed; fix: use the mailbox's address "
                    "(user@domain) as the login, or migrate by hand",
                    t->source, e->line, (int)e->key_len, key,
                    (int)(login_len > 64 ? 64 : login_len), t->text + e->value);
                pfmap_wipe_free(out, t->len);
                return -1;
            }
            if (account_add(m, t->text + e->value, login_len, prov, relay, rlen) == NULL) {
                say("out of memory, or more than %d logins to move; nothing was changed",
                    MIGRATE_MAX_ACCOUNTS);
                pfmap_wipe_free(out, t->len);
                return -1;
            }
            /* Keep every byte up to the ':' after the login; drop the password. */
            memcpy(out + o, t->text + from, e->value + login_len - from);
            o += e->value + login_len - from;
            out[o++] = ':';
            from = e->value_end;
            m->moved++;
            changed++;
        }
        if (!changed) {
            pfmap_wipe_free(out, t->len);
            continue;
        }
        memcpy(out + o, t->text + from, t->len - from);
        o += t->len - from;
        out[o] = '\0';
        t->new_text = out;
        t->new_len = o;
    }
    return 0;
}

/* logical_line_end - past the last continuation line of the main.cf line starting at i */
static size_t logical_line_end(const char *text, size_t len, size_t i)
{
    for (;;) {
        const char *nl = memchr(text + i, '\n', len - i);

        i = nl == NULL ? len : (size_t)(nl - text) + 1;
        if (i >= len || !(text[i] == ' ' || text[i] == '\t'))
            return i;
    }
}

/*
 * maincf_set - text with "name = value": the last definition replaced (with
 * its continuation lines), else appended after *appended's comment; malloc'd
 */
static char *maincf_set(const char *text, size_t len, const char *name, const char *value,
                        size_t *outlen, int *appended)
{
    size_t nl = strlen(name);
    size_t i = 0;
    size_t best = (size_t)-1;
    size_t best_end = 0;
    char line[600];
    int ll;
    char *out;
    size_t o = 0;

    while (i < len) {
        size_t end = logical_line_end(text, len, i);
        size_t j = i + nl;

        if (end - i > nl && strncmp(text + i, name, nl) == 0) {
            while (j < end && (text[j] == ' ' || text[j] == '\t'))
                j++;
            if (j < end && text[j] == '=') {
                best = i;
                best_end = end;
            }
        }
        i = end;
    }
    if (best == (size_t)-1 && !*appended) {
        /* A blank line, then the block migrate adds. */
        ll = snprintf(line, sizeof(line),
                      "\n# oauth2-token-helper migrate: log in with OAuth2 (XOAUTH2) through "
                      "the SASL plugin\n%s = %s\n",
                      name, value);
        *appended = 1;
    } else {
        ll = snprintf(line, sizeof(line), "%s = %s\n", name, value);
    }
    if (ll < 0 || (size_t)ll >= sizeof(line))
        return NULL;
    out = malloc(len + (size_t)ll + 2);
    if (out == NULL)
        return NULL;
    if (best == (size_t)-1) {
        memcpy(out, text, len);
        o = len;
        if (len > 0 && text[len - 1] != '\n')
            out[o++] = '\n';
        memcpy(out + o, line, (size_t)ll);
        o += (size_t)ll;
    } else {
        memcpy(out, text, best);
        o = best;
        memcpy(out + o, line, (size_t)ll);
        o += (size_t)ll;
        memcpy(out + o, text + best_end, len - best_end);
        o += len - best_end;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* filter_has_xoauth2 - the mechanism filter lets XOAUTH2 through */
static int filter_has_xoauth2(const char *f)
{
    const char *p = f;

    while (*p != '\0') {
        size_t n;

        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        n = strcspn(p, ", \t");
        if (n == 7 && strncasecmp(p, "xoauth2", 7) == 0)
            return 1;
        p += n;
    }
    return 0;
}

/* plan_maincf - main.cf's new text (NULL when unchanged); 0, or -1 with a message */
static int plan_maincf(struct migration *m)
{
    char err[600] = "";
    struct stat st;
    char resolved[PATH_MAX];
    char path[PATH_MAX + 16];
    const char *sets[2][2];
    char filter[600];
    size_t n_sets = 0;
    size_t i;
    int appended = 0;
    int tls_ok;
    const struct relay_provider *rp = relayhost_provider(m);

    snprintf(path, sizeof(path), "%s/main.cf", m->confdir);
    m->maincf_path = strdup(realpath(path, resolved) != NULL ? resolved : path);
    if (m->maincf_path == NULL)
        return -1;
    if (read_file(m->maincf_path, &m->maincf, &m->maincf_len, &st, err, sizeof(err)) != 0) {
        say("%s", err[0] ? err : "main.cf is missing");
        return -1;
    }
    /* The filter: XOAUTH2 only when no password login is left; else XOAUTH2 added to a list. */
    if (m->untouched == 0) {
        if (strcasecmp(m->mech_filter, "xoauth2") != 0) {
            sets[n_sets][0] = "smtp_sasl_mechanism_filter";
            sets[n_sets][1] = "xoauth2";
            n_sets++;
        }
    } else if (m->mech_filter[0] != '\0' && !filter_has_xoauth2(m->mech_filter)) {
        snprintf(filter, sizeof(filter), "%s, xoauth2", m->mech_filter);
        sets[n_sets][0] = "smtp_sasl_mechanism_filter";
        sets[n_sets][1] = filter;
        n_sets++;
    }
    /* TLS: encrypt, when every relayed message goes to these providers. */
    tls_ok = rp != NULL && m->untouched == 0;
    for (i = 0; tls_ok && i < m->n_relay; i++) {
        size_t j;

        for (j = 0; j < m->relay[i].n; j++)
            if (provider_of(m, m->relay[i].text + m->relay[i].ent[j].value,
                            m->relay[i].ent[j].value_end - m->relay[i].ent[j].value) == NULL)
                tls_ok = 0;
    }
    if (m->tls_level[0] == '\0' || strcmp(m->tls_level, "none") == 0 ||
        strcmp(m->tls_level, "may") == 0) {
        if (m->tls_level[0] == '\0' && is_yes(m->enforce_tls)) {
            /* smtp_enforce_tls = yes: already encrypt */
        } else if (tls_ok) {
            sets[n_sets][0] = "smtp_tls_security_level";
            sets[n_sets][1] = "encrypt";
            n_sets++;
        } else {
            m->tls_warn = 1;
        }
    }
    for (i = 0; i < n_sets; i++) {
        const char *cur = m->new_maincf != NULL ? m->new_maincf : m->maincf;
        size_t curlen = m->new_maincf != NULL ? m->new_maincf_len : m->maincf_len;
        size_t nlen;
        char *next = maincf_set(cur, curlen, sets[i][0], sets[i][1], &nlen, &appended);

        if (next == NULL) {
            say("cannot write %s = %.64s into %s (too long, or out of memory)", sets[i][0],
                sets[i][1], m->maincf_path);
            return -1;
        }
        free(m->new_maincf);
        m->new_maincf = next;
        m->new_maincf_len = nlen;
    }
    return 0;
}

/* plan_config - the helper config's new text with the new [account] sections; 0 or -1 */
static int plan_config(struct migration *m)
{
    size_t cap = m->conf_len + 1024;
    char *out;
    size_t o = 0;
    size_t i;
    int any = 0;

    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;

    for (i = 0; i < m->n_acct; i++)
        cap += 1200 + 3 * strlen(m->acct[i].login) + strlen(m->acct[i].relay) +
               (m->acct[i].secret_file != NULL ? strlen(m->acct[i].secret_file) : 0) +
               (m->acct[i].client_id != NULL ? strlen(m->acct[i].client_id) : 0) +
               (m->acct[i].tenant != NULL ? strlen(m->acct[i].tenant) : 0);

    for (i = 0; i < m->n_acct; i++)
        if (!m->acct[i].exists)
            any = 1;
    if (!any)
        return 0;
    out = malloc(cap);
    if (out == NULL)
        return -1;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d", &tm);
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int put_n = snprintf(out + o, cap - o, __VA_ARGS__);                                       \
        if (put_n < 0 || (size_t)put_n >= cap - o)                                                 \
            goto full;                                                                             \
        o += (size_t)put_n;                                                                        \
    } while (0)
    if (m->conf_text != NULL) {
        memcpy(out, m->conf_text, m->conf_len);
        o = m->conf_len;
        if (o > 0 && out[o - 1] != '\n')
            out[o++] = '\n';
    } else {
        PUT("# oauth2-token-helper configuration, started by \"oauth2-token-helper migrate\".\n"
            "# Every setting: oauth2-token-helper.conf(5). The defaults serve Postfix\n"
            "# (socket under /var/spool/postfix/private, allow_users = postfix).\n");
    }
    for (i = 0; i < m->n_acct; i++) {
        const struct maccount *a = &m->acct[i];

        if (a->exists)
            continue;
        PUT("\n# Added by oauth2-token-helper migrate on %s, for the password login to\n"
            "# %s (%s).\n# Sign in once: oauth2-token-helper authorize %s\n",
            stamp, a->relay, a->prov->label, a->login);
        PUT("[account %s]\nlogin = %s\nprovider = %s\n", a->login, a->login, a->prov->provider);
        if (strcmp(a->prov->provider, "google") != 0) {
            if (strcmp(a->tenant, PLACEHOLDER_TENANT) == 0)
                PUT("# tenant: Entra admin center > App registrations > your app > Overview >\n"
                    "# Directory (tenant) ID\n");
            else if (strcmp(a->tenant, strrchr(a->login, '@') + 1) == 0)
                PUT("# tenant: the login's domain, which Entra takes when it is a verified\n"
                    "# domain of the tenant; else the Directory (tenant) ID\n");
            PUT("tenant = %s\n", a->tenant);
            if (strcmp(a->client_id, PLACEHOLDER_CLIENT_ID) == 0)
                PUT("# client_id: Entra admin center > App registrations > your app > Overview >\n"
                    "# Application (client) ID (README: Getting credentials), or migrate "
                    "--client-id\n");
            PUT("client_id = %s\n", a->client_id);
        } else {
            if (a->placeholder)
                PUT("# client_id and client_secret_file: a Desktop app OAuth client in the\n"
                    "# Google Cloud console (README: Clouds and other providers)\n");
            PUT("client_id = %s\nclient_secret_file = %s\n", a->client_id, a->secret_file);
        }
        PUT("# a mailbox that signs in once (authorize); no password is kept\n"
            "grant = refresh_token\n");
    }
#undef PUT
    out[o] = '\0';
    m->new_conf = out;
    m->new_conf_len = o;
    return 0;
full:
    free(out);
    return -1;
}

/* load_helper_config - the helper's config, when it exists; 0, or -1 with a message */
static int load_helper_config(struct migration *m)
{
    char err[1024] = "";
    struct stat st;
    int rc = read_file(m->helper_conf, &m->conf_text, &m->conf_len, &st, err, sizeof(err));

    if (rc < 0) {
        say("%s", err);
        return -1;
    }
    if (rc == 1)
        return 0;
    m->cfg = config_load(m->helper_conf, err, sizeof(err));
    if (m->cfg == NULL) {
        say("%s; fix it first (oauth2-token-helper config-check lists every problem)", err);
        return -1;
    }
    return 0;
}

/* analyse - read everything and plan every change; a result other than OK means stop */
static helper_result analyse(struct migration *m)
{
    if (read_settings(m) < 0)
        return RESULT_CONFIG;
    if (!is_yes(m->sasl_enable) || m->sasl_maps[0] == '\0') {
        say("Postfix in %s logs in to no relay (smtp_sasl_auth_enable = %s, "
            "smtp_sasl_password_maps = %s): there is no password to move; nothing was changed",
            m->confdir, m->sasl_enable, m->sasl_maps[0] ? "(set)" : "(empty)");
        return RESULT_NEEDS_PERSON;
    }
    if (check_master_overrides(m) < 0)
        return RESULT_CONFIG;
    if (tables_parse(m, "smtp_sasl_password_maps", m->sasl_maps, m->sasl, &m->n_sasl, 1) < 0)
        return RESULT_CONFIG;
    if (tables_parse(m, "sender_dependent_relayhost_maps", m->relay_maps, m->relay, &m->n_relay,
                     0) < 0)
        return RESULT_CONFIG;
    if (load_helper_config(m) < 0)
        return RESULT_CONFIG;
    if (classify(m) < 0)
        return RESULT_CONFIG;
    if (m->moved == 0) {
        if (m->already > 0) {
            printf("Postfix in %s already logs in to Office 365 / Gmail without a password "
                   "(%d entr%s): nothing to do.\n",
                   m->confdir, m->already, m->already == 1 ? "y" : "ies");
            return RESULT_OK;
        }
        say("no entry of smtp_sasl_password_maps (%s) logs in to Office 365 or Gmail "
            "(relayhost = %s); nothing was changed; a relay of your own that reaches Office 365 "
            "can be named with --host",
            m->sasl_maps, m->relayhost[0] ? m->relayhost : "(empty)");
        return RESULT_NEEDS_PERSON;
    }
    if (plan_maincf(m) < 0)
        return RESULT_CONFIG; /* read_file said why, or out of memory */
    if (plan_config(m) < 0) {
        say("out of memory planning %s; nothing was changed", m->helper_conf);
        return RESULT_TEMPORARY;
    }
    return RESULT_OK;
}

/* show_diff - one file's masked diff */
static void show_diff(const char *path, const char *old, size_t oldlen, const char *new_text,
                      size_t newlen, int is_sasl, int is_maincf, const char *old_label)
{
    char *mo = NULL;
    char *mn = NULL;
    size_t mol = 0;
    size_t mnl = 0;
    char la[PATH_MAX + 64];
    char lb[PATH_MAX + 64];

    if (is_sasl) {
        mo = pfmap_mask(old, oldlen, &mol);
        mn = pfmap_mask(new_text, newlen, &mnl);
    } else if (is_maincf) {
        mo = pfmap_mask_maincf(old, oldlen, &mol);
        mn = pfmap_mask_maincf(new_text, newlen, &mnl);
    } else {
        mo = xstrndup(old, oldlen);
        mn = xstrndup(new_text, newlen);
        mol = oldlen;
        mnl = newlen;
    }
    if (mo == NULL || mn == NULL) {
        say("out of memory");
        goto out;
    }
    snprintf(la, sizeof(la), "%s", old_label != NULL ? old_label : path);
    snprintf(lb, sizeof(lb), "%s", path);
    if (udiff_print(stdout, la, mo, mol, lb, mn, mnl, 3) < 0)
        say("out of memory");
out:
    free(mo);
    free(mn);
}

/* show_plan - what was found and the diff of every file */
static void show_plan(const struct migration *m)
{
    size_t i;

    printf("Postfix configuration %s: %d password entr%s to move to OAuth2", m->confdir, m->moved,
           m->moved == 1 ? "y" : "ies");
    if (m->already)
        printf(", %d already without a password", m->already);
    if (m->untouched)
        printf(", %d for other relays left as they are", m->untouched);
    printf(".\nPasswords are never shown: the diff shows each one as ********.\n\n");
    for (i = 0; i < m->n_acct; i++) {
        const struct maccount *a = &m->acct[i];

        if (a->exists)
            printf("account %s (%s): already in %s\n", a->login, a->relay, m->helper_conf);
        else
            printf("account %s (%s, %s): new in %s%s\n", a->login, a->relay, a->prov->label,
                   m->helper_conf, a->placeholder ? ", with a placeholder to fill in" : "");
    }
    if (m->tls_warn)
        printf("note: smtp_tls_security_level is \"%s\" and not every relay is Office 365 or "
               "Gmail, so it stays; the plugin's token should only travel over TLS: add "
               "\"DESTINATION encrypt\" for each such relay to smtp_tls_policy_maps\n",
               m->tls_level[0] ? m->tls_level : "(empty)");
    printf("\n");
    if (m->new_conf != NULL) {
        if (m->conf_text != NULL)
            show_diff(m->helper_conf, m->conf_text, m->conf_len, m->new_conf, m->new_conf_len, 0, 0,
                      NULL);
        else
            show_diff(m->helper_conf, "", 0, m->new_conf, m->new_conf_len, 0, 0, "/dev/null");
    }
    for (i = 0; i < m->n_sasl; i++) {
        const struct table *t = &m->sasl[i];
        char label[PATH_MAX + 64];

        if (t->new_text == NULL)
            continue;
        if (!t->from_source)
            snprintf(label, sizeof(label), "%s (as postmap -s %s:... lists it)", t->source,
                     t->type);
        show_diff(t->source, t->text, t->len, t->new_text, t->new_len, 1, 0,
                  t->from_source ? NULL : label);
    }
    if (m->new_maincf != NULL)
        show_diff(m->maincf_path, m->maincf, m->maincf_len, m->new_maincf, m->new_maincf_len, 0, 1,
                  NULL);
}

/* ---- writing files ------------------------------------------------------ */

/* dir_of - the directory part of path, in buf */
static void dir_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL || slash == path)
        snprintf(buf, size, "%s", slash == path ? "/" : ".");
    else
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

/* fsync_dir - make a rename in dir durable */
static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/*
 * write_atomic - path's new content through a temporary file and rename,
 * with mode, owner (and times, when times is not NULL); 0, or -1 with err
 */
static int write_atomic(const char *path, const char *data, size_t len, mode_t mode, uid_t uid,
                        gid_t gid, const struct timespec *times, char *err, size_t errsize)
{
    char tmp[PATH_MAX + 32];
    char dir[PATH_MAX];
    size_t done = 0;
    int fd;

    if (snprintf(tmp, sizeof(tmp), "%s.migrate-XXXXXX", path) >= (int)sizeof(tmp)) {
        snprintf(err, errsize, "%s: name too long", path);
        return -1;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errsize, "cannot create a temporary file beside %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (fchmod(fd, mode & 07777) < 0 || fchown(fd, uid, gid) < 0) {
        snprintf(err, errsize, "cannot set the mode or owner of %s: %s", tmp, strerror(errno));
        goto fail;
    }
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errsize, "cannot write %s: %s", tmp, strerror(errno));
            goto fail;
        }
        done += (size_t)w;
    }
    if (times != NULL && futimens(fd, times) < 0) {
        snprintf(err, errsize, "cannot set the times of %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (fsync(fd) < 0) {
        snprintf(err, errsize, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) < 0) {
        snprintf(err, errsize, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    dir_of(path, dir, sizeof(dir));
    fsync_dir(dir);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

/* copy_into - a file's bytes into dir/name, mode 0600; 0, or -1 with err */
static int copy_into(const char *src, const char *dir, const char *name, char *err, size_t errsize)
{
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    char dst[PATH_MAX + 64];
    int fd;
    size_t done = 0;
    int rc;

    rc = read_file(src, &buf, &len, &st, err, errsize);
    if (rc != 0) {
        if (rc == 1)
            snprintf(err, errsize, "%s disappeared", src);
        return -1;
    }
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errsize, "cannot create %s: %s", dst, strerror(errno));
        pfmap_wipe_free(buf, len);
        return -1;
    }
    while (done < len) {
        ssize_t w = write(fd, buf + done, len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    pfmap_wipe_free(buf, len);
    if (done != len || fsync(fd) < 0) {
        snprintf(err, errsize, "cannot write %s: %s", dst, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* mkdir_p - make dir and its parents, 0700 for the ones made; 0 or -1 */
static int mkdir_p(const char *dir)
{
    char buf[PATH_MAX];
    size_t i;

    if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
        return -1;
    for (i = 1; buf[i] != '\0'; i++) {
        if (buf[i] == '/') {
            buf[i] = '\0';
            if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                return -1;
            buf[i] = '/';
        }
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* collect_targets - every file --apply will change or create; their number */
static size_t collect_targets(const struct migration *m, struct target *tg)
{
    size_t n = 0;
    size_t i;

    if (m->new_conf != NULL)
        tg[n++].path = (char *)m->helper_conf;
    for (i = 0; i < m->n_sasl; i++) {
        if (m->sasl[i].new_text == NULL)
            continue;
        tg[n++].path = m->sasl[i].source;
        if (m->sasl[i].db != NULL)
            tg[n++].path = m->sasl[i].db;
    }
    if (m->new_maincf != NULL)
        tg[n++].path = m->maincf_path;
    for (i = 0; i < n; i++)
        tg[i].existed = lstat(tg[i].path, &tg[i].st) == 0;
    return n;
}

/* make_backup - copy every target into a new dated directory; its path in dir; 0 or -1 */
static int make_backup(const struct migration *m, const struct target *tg, size_t n, char *dir,
                       size_t dirsize)
{
    char stamp[32];
    char err[PATH_MAX + 200] = "";
    char path[PATH_MAX + 64];
    time_t now = time(NULL);
    struct tm tm;
    FILE *fp;
    size_t i;
    int k;

    if (mkdir_p(m->backup_root) < 0) {
        say("cannot create %s: %s; fix: --backup-dir DIR names another place", m->backup_root,
            strerror(errno));
        return -1;
    }
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    for (k = 1; k < 100; k++) {
        if (k == 1)
            snprintf(dir, dirsize, "%s/migrate-%s", m->backup_root, stamp);
        else
            snprintf(dir, dirsize, "%s/migrate-%s-%02d", m->backup_root, stamp, k);
        if (mkdir(dir, 0700) == 0)
            break;
        if (errno != EEXIST) {
            say("cannot create %s: %s", dir, strerror(errno));
            return -1;
        }
    }
    if (k == 100 || chmod(dir, 0700) < 0) {
        say("cannot create a backup directory under %s", m->backup_root);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/MANIFEST", dir);
    fp = fopen(path, "wx");
    if (fp == NULL) {
        say("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    (void)fchmod(fileno(fp), 0600);
    fprintf(fp,
            "# oauth2-token-helper migrate backup: each file as it was before --apply.\n"
            "# file<TAB>mode<TAB>uid<TAB>gid<TAB>mtime<TAB>mtime_ns<TAB>copy<TAB>path, or\n"
            "# absent<TAB>path for a file --apply created. Restore: oauth2-token-helper "
            "migrate --rollback %s\n"
            "postfix_config_directory\t%s\n",
            dir, m->confdir);
    for (i = 0; i < n; i++) {
        char name[32];

        if (!tg[i].existed) {
            fprintf(fp, "absent\t%s\n", tg[i].path);
            continue;
        }
        snprintf(name, sizeof(name), "file%02zu", i + 1);
        if (copy_into(tg[i].path, dir, name, err, sizeof(err)) < 0) {
            say("backup: %s; nothing was changed", err);
            fclose(fp);
            return -1;
        }
        fprintf(fp, "file\t%04o\t%u\t%u\t%lld\t%ld\t%s\t%s\n", (unsigned)(tg[i].st.st_mode & 07777),
                (unsigned)tg[i].st.st_uid, (unsigned)tg[i].st.st_gid,
                (long long)tg[i].st.st_mtim.tv_sec, (long)tg[i].st.st_mtim.tv_nsec, name,
                tg[i].path);
    }
    if (fflush(fp) != 0 || fsync(fileno(fp)) < 0 || ferror(fp)) {
        say("cannot write %s: %s; nothing was changed", path, strerror(errno));
        fclose(fp);
        return -1;
    }
    fclose(fp);
    fsync_dir(dir);
    return 0;
}

/* manifest_field - the next tab-separated field of *p, NUL-terminated in place */
static char *manifest_field(char **p)
{
    char *s = *p;
    char *tab;

    if (s == NULL)
        return NULL;
    tab = strchr(s, '\t');
    if (tab != NULL) {
        *tab = '\0';
        *p = tab + 1;
    } else {
        *p = NULL;
    }
    return s;
}

/* parse_ull - a decimal (or octal with base 8) number; -1 when it is not */
static int parse_ull(const char *s, int base, unsigned long long *v)
{
    char *end;

    if (s == NULL || *s == '\0' || *s == '-')
        return -1;
    errno = 0;
    *v = strtoull(s, &end, base);
    return errno == 0 && *end == '\0' ? 0 : -1;
}

/* restore_backup - put every file of a backup back as it was; 0, or -1 (messages given) */
static int restore_backup(const char *dir, const char *confdir, int quiet)
{
    char path[PATH_MAX + 64];
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    char err[PATH_MAX + 200] = "";
    char *line;
    char *save = NULL;
    int failed = 0;
    int rc;

    snprintf(path, sizeof(path), "%s/MANIFEST", dir);
    rc = read_file(path, &text, &len, &st, err, sizeof(err));
    if (rc != 0) {
        say("%s is not a migrate backup (%s)", dir, rc == 1 ? "no MANIFEST" : err);
        return -1;
    }
    if (confdir != NULL) {
        char want[PATH_MAX + 64];

        snprintf(want, sizeof(want), "\npostfix_config_directory\t%s\n", confdir);
        if (strstr(text, want) == NULL) {
            say("%s was made for another Postfix configuration directory than %s; nothing was "
                "restored; fix: give -C with the directory named in its MANIFEST",
                dir, confdir);
            free(text);
            return -1;
        }
    }
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *p = line;
        char *kind = manifest_field(&p);

        if (strcmp(kind, "absent") == 0) {
            char *target = p;

            if (target == NULL || target[0] != '/') {
                failed = 1;
                continue;
            }
            if (unlink(target) < 0 && errno != ENOENT) {
                say("cannot remove %s: %s", target, strerror(errno));
                failed = 1;
            } else if (!quiet) {
                printf("removed %s (migrate had created it)\n", target);
            }
        } else if (strcmp(kind, "file") == 0) {
            char *f[7];
            unsigned long long mode;
            unsigned long long uid;
            unsigned long long gid;
            unsigned long long sec;
            unsigned long long nsec;
            struct timespec times[2];
            char *data = NULL;
            size_t dlen = 0;
            struct stat bst;
            size_t i;

            for (i = 0; i < 7; i++)
                f[i] = manifest_field(&p);
            if (f[6] == NULL || f[6][0] != '/' || parse_ull(f[0], 8, &mode) < 0 ||
                parse_ull(f[1], 10, &uid) < 0 || parse_ull(f[2], 10, &gid) < 0 ||
                parse_ull(f[3], 10, &sec) < 0 || parse_ull(f[4], 10, &nsec) < 0 ||
                strchr(f[5], '/') != NULL || nsec >= 1000000000ULL) {
                say("%s: a line of its MANIFEST is damaged; that file was not restored", dir);
                failed = 1;
                continue;
            }
            snprintf(path, sizeof(path), "%s/%s", dir, f[5]);
            if (read_file(path, &data, &dlen, &bst, err, sizeof(err)) != 0) {
                say("cannot read the backup of %s: %s", f[6], err);
                failed = 1;
                continue;
            }
            times[0].tv_sec = (time_t)sec;
            times[0].tv_nsec = (long)nsec;
            times[1] = times[0];
            if (write_atomic(f[6], data, dlen, (mode_t)mode, (uid_t)uid, (gid_t)gid, times, err,
                             sizeof(err)) < 0) {
                say("cannot restore %s: %s", f[6], err);
                failed = 1;
            } else if (!quiet) {
                printf("restored %s\n", f[6]);
            }
            pfmap_wipe_free(data, dlen);
        }
    }
    explicit_bzero(text, len);
    free(text);
    return failed ? -1 : 0;
}

/* run_postmap - postmap TYPE:NAME for a table whose source changed; 0 or -1 */
static int run_postmap(const struct migration *m, const struct table *t)
{
    char err[600] = "";
    char spec[PATH_MAX + 32];
    const char *args[] = {spec, NULL};
    char *out = NULL;
    size_t outlen = 0;
    int rc;

    snprintf(spec, sizeof(spec), "%s:%s", t->type, t->source);
    rc = run_postfix(m, "postmap", args, &out, &outlen, err, sizeof(err));
    pfmap_wipe_free(out, outlen);
    if (rc != 0) {
        say("postmap %s failed: %s", spec, err);
        return -1;
    }
    return 0;
}

/* config_mode - mode and group for a new helper config: 0640 for the daemon's group, else 0600 */
static void config_mode(mode_t *mode, gid_t *gid)
{
    struct group *gr = getgrnam(OAUTH2_DAEMON_USER);

    if (gr != NULL) {
        *mode = 0640;
        *gid = gr->gr_gid;
    } else {
        *mode = 0600;
        *gid = getgid();
    }
}

/* write_new_files - every new text into place; 0 or -1 (message given) */
static int write_new_files(const struct migration *m, const struct target *tg, size_t n)
{
    char err[PATH_MAX + 200] = "";
    size_t i;
    size_t k;

    for (i = 0; i < n; i++) {
        const char *data = NULL;
        size_t len = 0;
        mode_t mode = tg[i].existed ? tg[i].st.st_mode : 0600;
        uid_t uid = tg[i].existed ? tg[i].st.st_uid : getuid();
        gid_t gid = tg[i].existed ? tg[i].st.st_gid : getgid();

        if (tg[i].path == m->helper_conf) {
            data = m->new_conf;
            len = m->new_conf_len;
            if (!tg[i].existed)
                config_mode(&mode, &gid);
        } else if (tg[i].path == m->maincf_path) {
            data = m->new_maincf;
            len = m->new_maincf_len;
        } else {
            for (k = 0; k < m->n_sasl; k++)
                if (tg[i].path == m->sasl[k].source) {
                    data = m->sasl[k].new_text;
                    len = m->sasl[k].new_len;
                    /* A source made from postmap -s: as private as the table it indexes. */
                    if (!tg[i].existed && m->sasl[k].db != NULL) {
                        struct stat dst;

                        if (stat(m->sasl[k].db, &dst) == 0) {
                            uid = dst.st_uid;
                            gid = dst.st_gid;
                        }
                        mode = 0600;
                    }
                }
        }
        if (data == NULL)
            continue; /* an indexed file: postmap writes it */
        if (write_atomic(tg[i].path, data, len, mode, uid, gid, NULL, err, sizeof(err)) < 0) {
            say("%s", err);
            return -1;
        }
    }
    for (k = 0; k < m->n_sasl; k++)
        if (m->sasl[k].new_text != NULL && m->sasl[k].db != NULL && run_postmap(m, &m->sasl[k]) < 0)
            return -1;
    return 0;
}

/* config_arg - "-c FILE " for the commands to print, or "" for the default config */
static const char *config_arg(const struct migration *m, char *buf, size_t size)
{
    if (strcmp(m->helper_conf, OAUTH2_CONFIG_FILE) == 0)
        return "";
    snprintf(buf, size, "-c %s ", m->helper_conf);
    return buf;
}

/* print_next_steps - the sign-in, reload and test commands after --apply */
static void print_next_steps(const struct migration *m, const char *backup)
{
    char carg[PATH_MAX + 8];
    const char *c = config_arg(m, carg, sizeof(carg));
    size_t i;

    int dflt = strcmp(m->confdir, "/etc/postfix") == 0;

    printf("\nBackup of every file changed: %s (mode 0700).\n"
           "It holds the old password table as it was, passwords included (files mode 0600):\n"
           "delete it (rm -r %s) once the relay works. To undo: oauth2-token-helper migrate "
           "%s%s%s--rollback %s\n",
           backup, backup, dflt ? "" : "-C ", dflt ? "" : m->confdir, dflt ? "" : " ", backup);
    printf("\nNext:\n"
           "1. Let a running daemon read the new accounts: systemctl reload "
           "oauth2-token-helper\n"
           "2. Sign in once as each mailbox (until then Postfix defers its mail; it stays "
           "queued):\n");
    for (i = 0; i < m->n_acct; i++)
        printf("     oauth2-token-helper %sauthorize %s\n", c, m->acct[i].login);
    printf("3. Have Postfix read main.cf again: postfix%s%s reload\n", dflt ? "" : " -c ",
           dflt ? "" : m->confdir);
    printf("4. Check each login as the relay will do it:\n");
    for (i = 0; i < m->n_acct; i++) {
        char host[256];
        const char *colon;
        const char *r = m->acct[i].relay;

        dest_host(r, strlen(r), host, sizeof(host));
        colon = strrchr(r, ':');
        if (colon != NULL && (r[0] != '[' || colon > strchr(r, ']')))
            printf("     oauth2-token-helper %stest %s --smtp %s%s\n", c, m->acct[i].login, host,
                   colon);
        else
            printf("     oauth2-token-helper %stest %s --smtp %s:587\n", c, m->acct[i].login, host);
    }
}

/* do_apply - back up, write, postmap, config-check; on a failure put the backup back */
static helper_result do_apply(struct migration *m)
{
    struct target tg[MIGRATE_MAX_FILES];
    char backup[PATH_MAX];
    size_t n;
    size_t i;
    helper_result r;

    for (i = 0; i < m->n_acct; i++)
        if (!m->acct[i].exists && m->acct[i].placeholder) {
            say("account %s would get a placeholder (%s) that the daemon cannot use; nothing "
                "was changed; fix: %s",
                m->acct[i].login,
                strcmp(m->acct[i].prov->provider, "google") == 0 ? "client_id, client_secret_file"
                : strncmp(m->acct[i].client_id, "REPLACE-", 8) == 0 ? "client_id"
                                                                    : "tenant",
                strcmp(m->acct[i].prov->provider, "google") == 0
                    ? "add one Google account to the helper's config by hand first (its client_id "
                      "and client_secret_file are reused), then run migrate again"
                    : "give the app registration's Application (client) ID with --client-id "
                      "(Entra admin center > App registrations > your app > Overview)");
            return RESULT_CONFIG;
        }
    if (m->client_id != NULL && !config_is_guid(m->client_id)) {
        say("--client-id %.64s is not an Application (client) ID, a GUID such as "
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301; nothing was changed",
            m->client_id);
        return RESULT_USAGE;
    }
    memset(tg, 0, sizeof(tg));
    n = collect_targets(m, tg);
    if (make_backup(m, tg, n, backup, sizeof(backup)) < 0)
        return RESULT_TEMPORARY;
    if (write_new_files(m, tg, n) < 0) {
        say("putting every file back from %s", backup);
        restore_backup(backup, NULL, 1);
        return RESULT_TEMPORARY;
    }
    printf("\nWritten:");
    for (i = 0; i < n; i++)
        printf(" %s", tg[i].path);
    printf("\n\nconfig-check:\n");
    fflush(stdout);
    r = cmd_config_check(m->helper_conf, 0, NULL);
    if (r != RESULT_OK) {
        say("config-check found problems in %s (above); every file was put back from %s",
            m->helper_conf, backup);
        restore_backup(backup, NULL, 1);
        return RESULT_CONFIG;
    }
    print_next_steps(m, backup);
    return RESULT_OK;
}

/* newest_backup - the newest backup under root made for confdir, in buf; 0 or -1 */
static int newest_backup(const char *root, const char *confdir, char *buf, size_t size)
{
    DIR *d = opendir(root);
    struct dirent *de;
    char best[256] = "";
    char want[PATH_MAX + 64];

    if (d == NULL)
        return -1;
    snprintf(want, sizeof(want), "\npostfix_config_directory\t%s\n", confdir);
    for (de = readdir(d); de != NULL; de = readdir(d)) {
        char path[PATH_MAX + 300];
        char *text = NULL;
        size_t len = 0;
        struct stat st;
        char err[PATH_MAX + 100] = "";

        if (strncmp(de->d_name, "migrate-", 8) != 0 || strlen(de->d_name) >= sizeof(best))
            continue;
        snprintf(path, sizeof(path), "%s/%s/MANIFEST", root, de->d_name);
        if (read_file(path, &text, &len, &st, err, sizeof(err)) != 0)
            continue;
        if (strstr(text, want) != NULL && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", de->d_name);
        free(text);
    }
    closedir(d);
    if (best[0] == '\0')
        return -1;
    snprintf(buf, size, "%s/%s", root, best);
    return 0;
}

/* do_rollback - restore the given backup, or the newest for this Postfix */
static helper_result do_rollback(struct migration *m, const char *dir)
{
    char found[PATH_MAX];

    if (dir == NULL) {
        if (newest_backup(m->backup_root, m->confdir, found, sizeof(found)) < 0) {
            say("no migrate backup for %s under %s; nothing was restored; fix: name the "
                "backup directory after --rollback",
                m->confdir, m->backup_root);
            return RESULT_CONFIG;
        }
        dir = found;
    }
    printf("Restoring from %s:\n", dir);
    if (restore_backup(dir, m->confdir, 0) < 0)
        return RESULT_TEMPORARY;
    printf("Every file is as it was, the indexed tables (.db, .lmdb) included (no postmap "
           "needed).\nHave Postfix read main.cf again: postfix%s%s reload\n",
           strcmp(m->confdir, "/etc/postfix") == 0 ? "" : " -c ",
           strcmp(m->confdir, "/etc/postfix") == 0 ? "" : m->confdir);
    return RESULT_OK;
}

/* default_confdir - Postfix's config_directory ($MAIL_CONFIG honoured), else /etc/postfix */
static void default_confdir(char *buf, size_t size)
{
    char path[PATH_MAX];
    char *argv[] = {(char *)"postconf", (char *)"-h", (char *)"config_directory", NULL};
    char *out = NULL;
    size_t len = 0;
    char err[300] = "";

    snprintf(buf, size, "/etc/postfix");
    if (pfmap_run(pfmap_tool("postconf", path, sizeof(path)), argv, &out, &len, 4096, err,
                  sizeof(err)) == 0 &&
        out[0] == '/') {
        out[strcspn(out, "\n")] = '\0';
        snprintf(buf, size, "%s", out);
    }
    free(out);
}

/* cmd_migrate - migrate [-C DIR] [--client-id ID] [--host HOST] [--backup-dir DIR] [MODE] */
helper_result cmd_migrate(const char *file, int argc, char **argv)
{
    struct migration *m = calloc(1, sizeof(*m));
    const char *confdir = NULL;
    const char *rollback_dir = NULL;
    enum { MODE_DRY, MODE_APPLY, MODE_ROLLBACK } mode = MODE_DRY;
    int modes = 0;
    helper_result r = RESULT_OK;
    int i;

    if (m == NULL)
        return RESULT_TEMPORARY;
    m->helper_conf = file;
    m->backup_root = MIGRATE_BACKUP_ROOT;
    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-C") == 0 && i + 1 < argc) {
            confdir = argv[++i];
        } else if (strcmp(argv[i], "--client-id") == 0 && i + 1 < argc) {
            m->client_id = argv[++i];
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc &&
                   m->n_hosts < MIGRATE_MAX_HOSTS) {
            m->hosts[m->n_hosts++] = argv[++i];
        } else if (strcmp(argv[i], "--backup-dir") == 0 && i + 1 < argc) {
            m->backup_root = argv[++i];
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            mode = MODE_DRY;
            modes++;
        } else if (strcmp(argv[i], "--apply") == 0) {
            mode = MODE_APPLY;
            modes++;
        } else if (strcmp(argv[i], "--rollback") == 0) {
            mode = MODE_ROLLBACK;
            modes++;
            if (i + 1 < argc && argv[i + 1][0] != '-')
                rollback_dir = argv[++i];
        } else {
            fprintf(stderr, "oauth2-token-helper: migrate: unknown argument %s\n", argv[i]);
            free(m);
            return cli_usage();
        }
    }
    if (modes > 1) {
        fprintf(stderr, "oauth2-token-helper: migrate: give one of --dry-run, --apply and "
                        "--rollback\n");
        free(m);
        return cli_usage();
    }
    if (confdir != NULL) {
        if (realpath(confdir, m->confdir) == NULL) {
            say("-C %s: %s; fix: name Postfix's configuration directory (where main.cf is)",
                confdir, strerror(errno));
            free(m);
            return RESULT_CONFIG;
        }
    } else {
        default_confdir(m->confdir, sizeof(m->confdir));
    }
    if (mode == MODE_ROLLBACK) {
        r = do_rollback(m, rollback_dir);
        goto out;
    }
    r = analyse(m);
    if (r != RESULT_OK || m->moved == 0)
        goto out;
    show_plan(m);
    if (mode == MODE_DRY) {
        char carg[PATH_MAX + 8];
        int need_id = 0;

        for (i = 0; i < (int)m->n_acct; i++)
            if (!m->acct[i].exists && m->acct[i].client_id != NULL &&
                strcmp(m->acct[i].client_id, PLACEHOLDER_CLIENT_ID) == 0)
                need_id = 1;
        if (need_id)
            printf("\nBefore --apply: give the app registration's Application (client) ID with "
                   "--client-id\n(README: Getting credentials; one app serves every mailbox).\n");
        printf("\nDry run: nothing was changed. To make these changes (every file is backed up "
               "first):\n  oauth2-token-helper %smigrate%s%s%s%s --apply\n",
               config_arg(m, carg, sizeof(carg)), confdir != NULL ? " -C " : "",
               confdir != NULL ? m->confdir : "",
               m->client_id != NULL || need_id ? " --client-id " : "",
               m->client_id != NULL ? m->client_id
               : need_id            ? "APPLICATION-CLIENT-ID"
                                    : "");
        goto out;
    }
    r = do_apply(m);
out:
    migration_free(m);
    free(m);
    return r;
}
