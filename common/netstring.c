/*
 * netstring.c - the socketmap protocol's codec (see netstring.h)
 */
#include "autoconfig.h"

#include "netstring.h"

#include <stdio.h>
#include <string.h>

/* netstring_encode - write "len:data," into out */
int netstring_encode(char *out, size_t outsize, const char *data, size_t len, size_t *outlen)
{
    int n = snprintf(out, outsize, "%zu:", len);

    if (n < 0 || (size_t)n + len + 1 >= outsize)
        return -1;
    memcpy(out + n, data, len);
    out[n + len] = ',';
    out[n + len + 1] = '\0';
    *outlen = (size_t)n + len + 1;
    return 0;
}

/* netstring_decode - decode the first netstring in buf */
netstring_status netstring_decode(const char *buf, size_t buflen, size_t maxlen,
                                  const char **payload, size_t *payload_len, size_t *consumed)
{
    size_t len = 0;
    size_t i = 0;

    *payload = NULL;
    *payload_len = 0;
    *consumed = 0;
    while (i < buflen && buf[i] >= '0' && buf[i] <= '9') {
        if (i > 0 && len == 0)
            return NETSTRING_ERROR; /* leading zero */
        len = len * 10 + (size_t)(buf[i] - '0');
        if (len > maxlen)
            return NETSTRING_ERROR;
        i++;
        if (i > 10)
            return NETSTRING_ERROR;
    }
    if (i == buflen)
        return NETSTRING_MORE;
    if (i == 0 || buf[i] != ':')
        return NETSTRING_ERROR;
    i++;
    if (buflen - i < len + 1)
        return NETSTRING_MORE;
    if (buf[i + len] != ',')
        return NETSTRING_ERROR;
    *payload = buf + i;
    *payload_len = len;
    *consumed = i + len + 1;
    return NETSTRING_OK;
}

/* socketmap_parse_request - split "name key" */
int socketmap_parse_request(const char *payload, size_t len, char *name, size_t namesize, char *key,
                            size_t keysize)
{
    const char *sp = memchr(payload, ' ', len);
    size_t namelen;
    size_t keylen;

    if (name == NULL || key == NULL || namesize == 0 || keysize == 0)
        return -1;
    name[0] = key[0] = '\0';
    if (sp == NULL || memchr(payload, '\0', len) != NULL)
        return -1;
    namelen = (size_t)(sp - payload);
    keylen = len - namelen - 1;
    if (namelen == 0 || keylen == 0 || namelen >= namesize || keylen >= keysize)
        return -1;
    memcpy(name, payload, namelen);
    name[namelen] = '\0';
    memcpy(key, sp + 1, keylen);
    key[keylen] = '\0';
    return 0;
}

static const struct {
    socketmap_status status;
    const char *word;
} socketmap_words[] = {
    {SOCKETMAP_OK, "OK"},           {SOCKETMAP_NOTFOUND, "NOTFOUND"}, {SOCKETMAP_TEMP, "TEMP"},
    {SOCKETMAP_TIMEOUT, "TIMEOUT"}, {SOCKETMAP_PERM, "PERM"},
};

/* socketmap_parse_reply - classify a reply */
int socketmap_parse_reply(const char *payload, size_t len, socketmap_status *status,
                          const char **data, size_t *datalen)
{
    size_t i;

    *data = NULL;
    *datalen = 0;
    for (i = 0; i < sizeof(socketmap_words) / sizeof(socketmap_words[0]); i++) {
        size_t wl = strlen(socketmap_words[i].word);

        if (len > wl && memcmp(payload, socketmap_words[i].word, wl) == 0 && payload[wl] == ' ') {
            *status = socketmap_words[i].status;
            *data = payload + wl + 1;
            *datalen = len - wl - 1;
            return 0;
        }
        /* "NOTFOUND " may arrive without its space from lax servers. */
        if (len == wl && memcmp(payload, socketmap_words[i].word, wl) == 0) {
            *status = socketmap_words[i].status;
            *data = payload + wl;
            return 0;
        }
    }
    return -1;
}

/* socketmap_status_name - the wire word for a status */
const char *socketmap_status_name(socketmap_status status)
{
    size_t i;

    for (i = 0; i < sizeof(socketmap_words) / sizeof(socketmap_words[0]); i++)
        if (socketmap_words[i].status == status)
            return socketmap_words[i].word;
    return "PERM";
}
