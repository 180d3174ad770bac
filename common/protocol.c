/*
 * protocol.c - the daemon's socket protocol (see protocol.h)
 */
#include "autoconfig.h"

#include "protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "saslwire.h"

const struct protocol_request protocol_requests[PROTOCOL_N_REQUESTS] = {
    {"token", PROTOCOL_TOKEN, PROTOCOL_ANY_ALLOWED, PROTOCOL_SHAPE_TOKEN, NULL},
    {"account", PROTOCOL_ACCOUNT, PROTOCOL_ANY_ALLOWED, PROTOCOL_SHAPE_ACCOUNT, NULL},
    {"status", PROTOCOL_STATUS, PROTOCOL_ANY_ALLOWED, PROTOCOL_SHAPE_JSON, NULL},
    {"reload", PROTOCOL_RELOAD, PROTOCOL_ANY_ALLOWED, PROTOCOL_SHAPE_WORD, "reloaded"},
    {"forget", PROTOCOL_FORGET, PROTOCOL_ADMIN_ONLY, PROTOCOL_SHAPE_WORD, "forgotten"},
};

/* protocol_find - the request named name, or NULL */
const struct protocol_request *protocol_find(const char *name)
{
    size_t i;

    for (i = 0; i < PROTOCOL_N_REQUESTS; i++)
        if (strcmp(protocol_requests[i].name, name) == 0)
            return &protocol_requests[i];
    return NULL;
}

/* protocol_request_list - the request names as a list for messages, built once */
const char *protocol_request_list(void)
{
    static char list[128];
    size_t used = 0;
    size_t i;

    if (list[0] != '\0')
        return list;
    for (i = 0; i < PROTOCOL_N_REQUESTS; i++) {
        const char *sep = i == 0 ? "" : i + 1 == PROTOCOL_N_REQUESTS ? " or " : ", ";
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", sep, protocol_requests[i].name);

        if (n < 0 || (size_t)n >= sizeof(list) - used)
            break;
        used += (size_t)n;
    }
    return list;
}

/* protocol_reply_max - the most a reply to kind may hold, its terminating NUL included */
size_t protocol_reply_max(protocol_kind kind)
{
    switch (protocol_requests[kind].shape) {
    case PROTOCOL_SHAPE_TOKEN:
    case PROTOCOL_SHAPE_ACCOUNT:
        return PROTOCOL_MAX_REPLY;
    case PROTOCOL_SHAPE_JSON:
        return SOCKETMAP_MAX_REPLY;
    case PROTOCOL_SHAPE_WORD:
    default:
        return PROTOCOL_MAX_REASON + 64; /* the word, or a status and its reason */
    }
}

/* protocol_format_token - "<token>" or "login=L expires=N token=T" */
int protocol_format_token(protocol_shape shape, const struct protocol_token_result *r, char *data,
                          size_t datasize)
{
    int n;

    if (shape == PROTOCOL_SHAPE_TOKEN)
        n = snprintf(data, datasize, "%s", r->token);
    else
        n = snprintf(data, datasize, "login=%s expires=%lld token=%s", r->login, r->expires,
                     r->token);
    if (n < 0 || (size_t)n >= datasize) {
        explicit_bzero(data, datasize);
        return -1;
    }
    return 0;
}

/* protocol_encode_reply - "STATUS data" as a netstring */
int protocol_encode_reply(socketmap_status status, const char *data, char *out, size_t outsize,
                          size_t *outlen)
{
    const char *word = socketmap_status_name(status);
    size_t dlen = strlen(data);
    size_t wlen = strlen(word);
    char *body = malloc(wlen + 1 + dlen + 1);
    int rc;

    if (body == NULL)
        return -1;
    memcpy(body, word, wlen);
    body[wlen] = ' ';
    memcpy(body + wlen + 1, data, dlen + 1);
    rc = netstring_encode(out, outsize, body, wlen + 1 + dlen, outlen);
    explicit_bzero(body, wlen + 1 + dlen + 1);
    free(body);
    return rc;
}

/* account_field - find "name=" at a word start in data and return its value's extent */
static const char *account_field(const char *data, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    size_t i = 0;

    while (i < len) {
        size_t end = i;

        while (end < len && data[end] != ' ')
            end++;
        if (end - i > nl && memcmp(data + i, name, nl) == 0 && data[i + nl] == '=') {
            *vlen = end - i - nl - 1;
            return data + i + nl + 1;
        }
        i = end + 1;
    }
    return NULL;
}

/* protocol_decode_account - decode "login=L expires=N token=T" */
int protocol_decode_account(const char *data, size_t len, char *login, size_t loginsize,
                            char *token, size_t tokensize, long long *expires)
{
    const char *v;
    size_t vl;
    char num[24];
    char *end;

    if (loginsize > 0)
        login[0] = '\0';
    if (tokensize > 0)
        token[0] = '\0';
    *expires = 0;
    if (memchr(data, '\0', len) != NULL)
        return -1;
    v = account_field(data, len, "login", &vl);
    if (v == NULL || vl >= loginsize || !saslwire_login_ok(v, vl))
        return -1;
    memcpy(login, v, vl);
    login[vl] = '\0';
    v = account_field(data, len, "expires", &vl);
    if (v == NULL || vl == 0 || vl >= sizeof(num))
        return -1;
    memcpy(num, v, vl);
    num[vl] = '\0';
    *expires = strtoll(num, &end, 10);
    if (*end != '\0' || *expires < 0)
        return -1;
    v = account_field(data, len, "token", &vl);
    if (v == NULL || vl >= tokensize || !saslwire_token_ok(v, vl))
        return -1;
    memcpy(token, v, vl);
    token[vl] = '\0';
    return 0;
}
