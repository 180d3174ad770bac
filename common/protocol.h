/*
 * protocol.h - the daemon's socket protocol: its requests, its replies and
 *              their limits, in one place for the daemon, the plugin and
 *              the CLI
 *
 * Framing is Postfix's socketmap_table(5) (netstring.h): a request is
 * "<name> <key>", a reply "OK <data>", "NOTFOUND ", "TEMP <reason>" or
 * "PERM <reason>". Postfix itself can query the daemon as a socketmap
 * table, so the wire format is fixed; tests check it byte for byte.
 *
 * The requests (protocol_requests[], documented in oauth2-token-helper(8),
 * THE SOCKET PROTOCOL; a unit test keeps the two in step):
 *     token ACCOUNT    -> OK <access token>
 *     account ACCOUNT  -> OK login=<login> expires=<unix time> token=<access token>
 *     status ACCOUNT   -> OK <json>
 *     reload ACCOUNT   -> OK reloaded
 *     forget ACCOUNT   -> OK forgotten  (root and the daemon's user only)
 *
 * Security: decoders are fed by the daemon, which the plugin trusts no more
 * than it must: logins and tokens are checked against their grammar
 * (saslwire.h), lengths against the caller's buffers, and embedded NULs
 * refused. Buffers holding a token are wiped by their owner.
 */
#ifndef OAUTH2_PROTOCOL_H
#define OAUTH2_PROTOCOL_H

#include <stddef.h>

#include "netstring.h"

/*
 * The largest access token the daemon serves and the plugin and CLI accept
 * (Entra's are 1,200-2,600 characters, some over 4,096), and the largest
 * login (an address).
 */
#define PROTOCOL_MAX_TOKEN 16384
#define PROTOCOL_MAX_LOGIN 320
/*
 * The one size of a token or account reply's data, NUL included: the
 * daemon refuses to send more ("token too long to send"), the plugin and
 * the CLI read up to this much. An account reply with the longest login and
 * token needs PROTOCOL_MAX_TOKEN + 355 bytes.
 */
#define PROTOCOL_MAX_REPLY (PROTOCOL_MAX_TOKEN + 1024)
/* The longest reason of a TEMP or PERM reply the daemon makes, NUL included. */
#define PROTOCOL_MAX_REASON 1024

/* The requests the daemon answers. */
typedef enum {
    PROTOCOL_TOKEN,   /* the access token */
    PROTOCOL_ACCOUNT, /* login, expiry and access token (the plugin, the CLI) */
    PROTOCOL_STATUS,  /* the account's state as JSON */
    PROTOCOL_RELOAD,  /* reread the account's state file */
    PROTOCOL_FORGET,  /* drop the account's tokens */
    PROTOCOL_N_REQUESTS,
} protocol_kind;

/* Who may make a request (beyond the allow list every request needs). */
typedef enum {
    PROTOCOL_ANY_ALLOWED, /* any allowed peer */
    PROTOCOL_ADMIN_ONLY,  /* root or the daemon's own user */
} protocol_caller;

/* What an OK reply carries. */
typedef enum {
    PROTOCOL_SHAPE_TOKEN,   /* "<access token>" */
    PROTOCOL_SHAPE_ACCOUNT, /* "login=<login> expires=<unix time> token=<access token>" */
    PROTOCOL_SHAPE_JSON,    /* a JSON object */
    PROTOCOL_SHAPE_WORD,    /* a fixed word (reply_word) */
} protocol_shape;

struct protocol_request {
    const char *name;   /* on the wire */
    protocol_kind kind; /* the daemon's handler is server.c's handlers[kind] */
    protocol_caller caller;
    protocol_shape shape;
    const char *reply_word; /* PROTOCOL_SHAPE_WORD: the word; else NULL */
};

/* protocol_requests - every request, indexed by protocol_kind */
extern const struct protocol_request protocol_requests[PROTOCOL_N_REQUESTS];

/* protocol_find - the request named name, or NULL */
const struct protocol_request *protocol_find(const char *name);

/* protocol_request_list - "token, account, status, reload or forget" */
const char *protocol_request_list(void);

/* protocol_reply_max - the most a reply to kind may hold, its terminating NUL included */
size_t protocol_reply_max(protocol_kind kind);

/*
 * A token request's result, as the cache gives it: a token with its login
 * and expiry (status OK; the pointers borrow the cache's memory until the
 * event loop runs again), or a status (TEMP, PERM) with a reason.
 */
struct protocol_token_result {
    socketmap_status status;
    const char *login;
    long long expires; /* unix time */
    const char *token;
    char reason[PROTOCOL_MAX_REASON];
};

/*
 * protocol_format_token - the data of an OK reply of shape (TOKEN or
 * ACCOUNT) for r; -1 (data wiped) when it does not fit datasize
 */
int protocol_format_token(protocol_shape shape, const struct protocol_token_result *r, char *data,
                          size_t datasize);

/* protocol_encode_reply - the netstring "STATUS data" into out; -1 when out is too small */
int protocol_encode_reply(socketmap_status status, const char *data, char *out, size_t outsize,
                          size_t *outlen);

/* protocol_decode_account - decode an account reply's data; -1 when malformed or too long */
int protocol_decode_account(const char *data, size_t len, char *login, size_t loginsize,
                            char *token, size_t tokensize, long long *expires);

#endif
