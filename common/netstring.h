/*
 * netstring.h - the socketmap protocol's codec
 *
 * Postfix's socketmap_table(5) protocol: every request and reply is a
 * netstring "<length>:<bytes>,". A request holds "<name> <key>"; a reply
 * starts with OK, NOTFOUND, TEMP, TIMEOUT or PERM, a space, and its data.
 * Both the daemon and its clients (plugin, CLI) use this one codec.
 *
 * Security: the decoder is fed by peers. It caps the length before reading
 * the payload, rejects leading zeros, non-digits and a missing comma, and
 * never allocates.
 */
#ifndef OAUTH2_NETSTRING_H
#define OAUTH2_NETSTRING_H

#include <stddef.h>

/* Largest request the daemon accepts; larger ones are a protocol error. */
#define SOCKETMAP_MAX_REQUEST 1024
/* Largest reply a client accepts (Postfix's own socketmap limit). */
#define SOCKETMAP_MAX_REPLY 100000

typedef enum {
    NETSTRING_OK,    /* a whole netstring was decoded */
    NETSTRING_MORE,  /* the buffer holds a valid prefix: read more */
    NETSTRING_ERROR, /* malformed, or longer than the caller's maximum */
} netstring_status;

/* netstring_encode - write "len:data," into out; returns 0, or -1 when out is too small */
int netstring_encode(char *out, size_t outsize, const char *data, size_t len, size_t *outlen);

/* netstring_decode - decode the first netstring in buf, at most maxlen payload bytes */
netstring_status netstring_decode(const char *buf, size_t buflen, size_t maxlen,
                                  const char **payload, size_t *payload_len, size_t *consumed);

typedef enum {
    SOCKETMAP_OK,
    SOCKETMAP_NOTFOUND,
    SOCKETMAP_TEMP,
    SOCKETMAP_TIMEOUT,
    SOCKETMAP_PERM,
} socketmap_status;

/* socketmap_parse_request - split "name key"; -1 on a malformed or oversized request */
int socketmap_parse_request(const char *payload, size_t len, char *name, size_t namesize, char *key,
                            size_t keysize);

/* socketmap_parse_reply - classify a reply; *data points into payload */
int socketmap_parse_reply(const char *payload, size_t len, socketmap_status *status,
                          const char **data, size_t *datalen);

/* socketmap_status_name - "OK", "NOTFOUND", ... as sent on the wire */
const char *socketmap_status_name(socketmap_status status);

#endif
