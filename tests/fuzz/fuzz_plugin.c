/*
 * fuzz_plugin.c - libFuzzer target: the SASL plugin's exchange, driven
 * through the mechanism table sasl_client_plug_init() returns, with fake
 * utils and a fake daemon thread that answers with fuzzed bytes
 *
 * Input: a flags byte (mechanism, an "account=" delegate password, a
 * server name, an authname taken from the input), then length-prefixed
 * pieces: [authname,] the daemon's raw reply (any bytes: malformed
 * netstrings, bad replies, tokens), then up to four server challenges.
 * The plugin is compiled in (#include "plugin.c") so that no dlopen is
 * needed; it reaches the daemon over a real UNIX socket, as in Postfix.
 *
 * Checks, besides memory safety: a step that returns SASL_OK produced a
 * well-framed initial response for the login it canonicalised; no message
 * the plugin logged or set for sasl_errdetail() holds the token the
 * daemon sent; the password is never logged; every return code is one
 * Postfix can handle (never SASL_INTERACT).
 */
#include "plugin.c"

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_PASSWORD "P4ssw0rd-never-logged"

static struct {
    pthread_mutex_t lock;
    char reply[OAUTH2_REPLY_MAX + 64];
    size_t reply_len;
} daemon_reply = {.lock = PTHREAD_MUTEX_INITIALIZER};

static char socket_path[108];
static sasl_client_plug_t *plugs;
static int nplugs;

/* What the plugin said, and what the application's callbacks hand out. */
static char logged[8192];
static size_t logged_len;
static char authname[SASLWIRE_MAX_LOGIN + 8];
static char password[SASLWIRE_MAX_LOGIN + 32];
static char canon[SASLWIRE_MAX_LOGIN + 8];

/* note - keep a message the plugin emitted */
__attribute__((format(printf, 1, 0))) static void note(const char *fmt, va_list ap)
{
    char msg[OAUTH2_MSG_MAX + 64];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);

    if (n > 0 && logged_len + (size_t)n + 1 < sizeof(logged)) {
        memcpy(logged + logged_len, msg, (size_t)n);
        logged_len += (size_t)n;
        logged[logged_len++] = '\n';
        logged[logged_len] = '\0';
    }
}

__attribute__((format(printf, 3, 4))) static void fake_log(sasl_conn_t *conn, int level,
                                                           const char *fmt, ...)
{
    va_list ap;

    (void)conn;
    (void)level;
    va_start(ap, fmt);
    note(fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void fake_seterror(sasl_conn_t *conn, unsigned flags,
                                                                const char *fmt, ...)
{
    va_list ap;

    (void)conn;
    (void)flags;
    va_start(ap, fmt);
    note(fmt, ap);
    va_end(ap);
}

static void *fake_malloc(size_t n)
{
    return malloc(n);
}

/* fake_mutex_alloc - no lock (the plugin then keeps no token); one thread calls the plugin */
static void *fake_mutex_alloc(void)
{
    return NULL;
}

/* fake_mutex_free - nothing to free */
static void fake_mutex_free(void *m)
{
    (void)m;
}

static void fake_free(void *p)
{
    free(p);
}

static int get_authname(void *context, int id, const char **result, unsigned *len)
{
    (void)context;
    (void)id;
    *result = authname;
    *len = (unsigned)strlen(authname);
    return SASL_OK;
}

static sasl_secret_t *secret;

static int get_password(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
    (void)conn;
    (void)context;
    (void)id;
    *psecret = secret;
    return SASL_OK;
}

static int fake_getcallback(sasl_conn_t *conn, unsigned long id, sasl_callback_ft *proc,
                            void **context)
{
    (void)conn;
    *context = NULL;
    if (id == SASL_CB_AUTHNAME) {
        *proc = (sasl_callback_ft)(void (*)(void))get_authname;
        return SASL_OK;
    }
    if (id == SASL_CB_PASS) {
        *proc = (sasl_callback_ft)(void (*)(void))get_password;
        return SASL_OK;
    }
    return SASL_FAIL;
}

static int fake_canon_user(sasl_conn_t *conn, const char *in, unsigned len, unsigned flags,
                           sasl_out_params_t *oparams)
{
    (void)conn;
    (void)flags;
    (void)oparams;
    if (len == 0)
        len = (unsigned)strlen(in);
    if (len >= sizeof(canon))
        return SASL_BADPARAM;
    memcpy(canon, in, len);
    canon[len] = '\0';
    return SASL_OK;
}

/* serve - the fake daemon: read one request, send the current reply bytes, hang up */
static void *serve(void *arg)
{
    int lfd = *(int *)arg;

    for (;;) {
        char req[SOCKETMAP_MAX_REQUEST + 32];
        char out[sizeof(daemon_reply.reply)];
        size_t outlen;
        size_t got = 0;
        int fd = accept(lfd, NULL, NULL);

        if (fd < 0)
            continue;
        while (got < sizeof(req)) {
            ssize_t r = recv(fd, req + got, sizeof(req) - got, 0);

            if (r <= 0)
                break;
            got += (size_t)r;
            if (req[got - 1] == ',')
                break;
        }
        pthread_mutex_lock(&daemon_reply.lock);
        outlen = daemon_reply.reply_len;
        memcpy(out, daemon_reply.reply, outlen);
        pthread_mutex_unlock(&daemon_reply.lock);
        if (outlen > 0 && send(fd, out, outlen, MSG_NOSIGNAL) < 0) {
            /* the plugin gave up first */
        }
        close(fd);
    }
    return NULL;
}

/* LLVMFuzzerInitialize - a fake daemon on a temporary socket, a config naming it, the plugin */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static sasl_utils_t utils;
    static int lfd;
    char dir[] = "/tmp/fuzz_plugin.XXXXXX";
    char conf[160];
    struct sockaddr_un sun;
    pthread_t th;
    FILE *fp;
    int version;

    (void)argc;
    (void)argv;
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(socket_path, sizeof(socket_path), "%s/sock", dir);
    snprintf(conf, sizeof(conf), "%s/helper.conf", dir);
    fp = fopen(conf, "w");
    if (fp == NULL)
        abort();
    fprintf(fp, "socket = %s\n", socket_path);
    fclose(fp);
    setenv(OAUTH2_CONFIG_ENV, conf, 1);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, socket_path, strlen(socket_path) + 1);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lfd, 16) < 0)
        abort();
    if (pthread_create(&th, NULL, serve, &lfd) != 0)
        abort();
    utils.malloc = fake_malloc;
    utils.free = fake_free;
    utils.mutex_alloc = fake_mutex_alloc;
    utils.mutex_free = fake_mutex_free;
    utils.log = fake_log;
    utils.seterror = fake_seterror;
    utils.getcallback = fake_getcallback;
    if (sasl_client_plug_init(&utils, SASL_CLIENT_PLUG_VERSION, &version, &plugs, &nplugs) !=
            SASL_OK ||
        nplugs != OAUTH2_MECH_COUNT)
        abort();
    return 0;
}

/* take - the next length-prefixed piece (2 bytes, little-endian); 0 when the input ran out */
static int take(const uint8_t **data, size_t *size, const uint8_t **piece, size_t *len)
{
    size_t n;

    if (*size < 2)
        return 0;
    n = (size_t)(*data)[0] | ((size_t)(*data)[1] << 8);
    *data += 2;
    *size -= 2;
    if (n > *size)
        n = *size;
    *piece = *data;
    *len = n;
    *data += n;
    *size -= n;
    return 1;
}

/*
 * token_of - the token the plugin will use, when the fuzzed bytes make a
 * good "OK login=... token=..." reply, for the leak check; "" when none
 * or when it could appear in a message for another reason (it is short,
 * or part of the login or authname, which are logged)
 */
static void token_of(const char *reply, size_t len, char *out, size_t outsize)
{
    static char login[SASLWIRE_MAX_LOGIN + 1];
    const char *payload;
    size_t plen;
    size_t used;
    long long expires;

    out[0] = '\0';
    if (netstring_decode(reply, len, SOCKETMAP_MAX_REPLY, &payload, &plen, &used) != NETSTRING_OK ||
        plen < 3 || memcmp(payload, "OK ", 3) != 0)
        return;
    if (saslwire_parse_account(payload + 3, plen - 3, login, sizeof(login), out, outsize,
                               &expires) < 0 ||
        strlen(out) < 24 || strstr(login, out) != NULL || strstr(authname, out) != NULL)
        out[0] = '\0';
}

/* occurrences - how often needle occurs in the input */
static size_t occurrences(const uint8_t *hay, size_t size, const char *needle)
{
    size_t n = strlen(needle);
    size_t k = 0;
    const uint8_t *p = hay;

    while (n > 0 && (size_t)(p - hay) + n <= size) {
        const uint8_t *q = memmem(p, size - (size_t)(p - hay), needle, n);

        if (q == NULL)
            break;
        k++;
        p = q + 1;
    }
    return k;
}

/* check_code - every code must be one Postfix handles */
static void check_code(int rc)
{
    if (rc != SASL_OK && rc != SASL_CONTINUE && rc != SASL_FAIL && rc != SASL_TRYAGAIN &&
        rc != SASL_BADPROT && rc != SASL_NOMEM && rc != SASL_BADPARAM)
        abort();
}

/* LLVMFuzzerTestOneInput - one authentication */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sasl_utils_t *utils;
    static char secret_buf[sizeof(sasl_secret_t) + sizeof(password)];
    sasl_client_params_t params;
    sasl_out_params_t oparams;
    const sasl_client_plug_t *mech;
    const uint8_t *piece;
    size_t len;
    void *ctx = NULL;
    const char *out;
    unsigned outlen;
    char token[SASLWIRE_MAX_TOKEN + 8];
    const uint8_t *whole;
    size_t whole_size;
    uint8_t flags;
    int rc;
    int step;

    if (size < 1)
        return 0;
    whole = data;
    whole_size = size;
    flags = data[0];
    data++;
    size--;
    mech = &plugs[flags & 1];
    snprintf(authname, sizeof(authname), "alice@contoso.test");
    if ((flags & 8) && take(&data, &size, &piece, &len)) {
        if (len >= sizeof(authname))
            len = sizeof(authname) - 1;
        memcpy(authname, piece, len);
        authname[len] = '\0';
    }
    snprintf(password, sizeof(password), "%s",
             (flags & 2) ? "account=delegate@contoso.test" : FUZZ_PASSWORD);
    secret = (sasl_secret_t *)secret_buf;
    secret->len = (unsigned)strlen(password);
    memcpy(secret->data, password, secret->len + 1);
    if (!take(&data, &size, &piece, &len))
        return 0;
    if (len > sizeof(daemon_reply.reply))
        len = sizeof(daemon_reply.reply);
    pthread_mutex_lock(&daemon_reply.lock);
    memcpy(daemon_reply.reply, piece, len);
    daemon_reply.reply_len = len;
    pthread_mutex_unlock(&daemon_reply.lock);
    token_of((const char *)piece, len, token, sizeof(token));

    if (utils == NULL) {
        utils = calloc(1, sizeof(*utils));
        utils->malloc = fake_malloc;
        utils->free = fake_free;
        utils->log = fake_log;
        utils->seterror = fake_seterror;
        utils->getcallback = fake_getcallback;
    }
    memset(&params, 0, sizeof(params));
    memset(&oparams, 0, sizeof(oparams));
    params.utils = utils;
    params.canon_user = fake_canon_user;
    if (flags & 4) {
        params.serverFQDN = "smtp.office365.com";
        params.slen = (unsigned)strlen(params.serverFQDN);
    }
    logged_len = 0;
    logged[0] = '\0';
    canon[0] = '\0';
    if (mech->mech_new(mech->glob_context, &params, &ctx) != SASL_OK)
        abort();
    rc = mech->mech_step(ctx, &params, NULL, 0, NULL, &out, &outlen, &oparams);
    check_code(rc);
    if (rc == SASL_OK) {
        const char *lead = (flags & 1) ? "n,a=" : "user=";

        if (out == NULL || outlen < 4 || strncmp(out, lead, strlen(lead)) != 0 ||
            out[outlen - 1] != '\001' || out[outlen - 2] != '\001' || canon[0] == '\0' ||
            strncmp(out + strlen(lead), canon, strlen(canon)) != 0)
            abort();
        for (step = 0; step < 4 && take(&data, &size, &piece, &len); step++) {
            rc = mech->mech_step(ctx, &params, (const char *)piece, (unsigned)len, NULL, &out,
                                 &outlen, &oparams);
            check_code(rc);
            if (rc != SASL_CONTINUE)
                break;
        }
    }
    if (oparams.doneflag)
        abort(); /* an error challenge may always follow */
    mech->mech_dispose(ctx, utils);
    /* A secret in a log line is a leak, unless a server challenge (logged,
     * cut short, as untrusted text) itself carried it. */
    if (token[0] != '\0' && strstr(logged, token) != NULL &&
        occurrences(whole, whole_size, token) < 2)
        abort();
    if (strstr(logged, FUZZ_PASSWORD) != NULL && occurrences(whole, whole_size, FUZZ_PASSWORD) == 0)
        abort();
    return 0;
}
