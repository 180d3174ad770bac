/*
 * b64.h - base64 (RFC 4648 section 4, padded) and base64url (section 5, unpadded)
 *
 * Over OpenSSL's EVP_EncodeBlock. Standard base64 is what a person types
 * into an SMTP session (token --format xoauth2/oauthbearer); base64url is
 * what a JWT, a PKCE challenge and a certificate thumbprint use.
 *
 * Security: the result may hold a token; free it with secret_free().
 */
#ifndef OAUTH2_B64_H
#define OAUTH2_B64_H

#include <stddef.h>

/* b64_std - padded standard base64 of len bytes, malloc'd; NULL on out of memory */
char *b64_std(const unsigned char *data, size_t len);

/* b64_url - unpadded base64url of len bytes, malloc'd; NULL on out of memory */
char *b64_url(const unsigned char *data, size_t len);

/*
 * b64_url_decode - decode len characters of unpadded base64url (a JWT's
 * parts); *out malloc'd, NUL-terminated after *outlen bytes (free it with
 * secret_free() when it may hold a secret); -1 on a character outside the
 * alphabet, an impossible length or out of memory
 */
int b64_url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

#endif
