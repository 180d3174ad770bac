/*
 * jsonwipe.c - JSON with secrets, json-c's copies wiped (see jsonwipe.h)
 */
#include "autoconfig.h"

#include "jsonwipe.h"

#include <json-c/printbuf.h>
#include <limits.h>
#include <string.h>

/* jsonwipe_clear - zero every string value, depth first */
void jsonwipe_clear(json_object *obj)
{
    size_t i;

    switch (json_object_get_type(obj)) {
    case json_type_string:
        explicit_bzero((char *)json_object_get_string(obj),
                       (size_t)json_object_get_string_len(obj));
        break;
    case json_type_array:
        for (i = 0; i < json_object_array_length(obj); i++)
            jsonwipe_clear(json_object_array_get_idx(obj, i));
        break;
    case json_type_object: {
        json_object_object_foreach(obj, key, val)
        {
            (void)key;
            jsonwipe_clear(val);
        }
        break;
    }
    default:
        break;
    }
}

/* jsonwipe_put - wipe, then release */
void jsonwipe_put(json_object *obj)
{
    if (obj == NULL)
        return;
    jsonwipe_clear(obj);
    json_object_put(obj);
}

/* only_space - whether text[from..len) is JSON whitespace */
static int only_space(const char *text, size_t from, size_t len)
{
    size_t i;

    for (i = from; i < len; i++)
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t')
            return 0;
    return 1;
}

/* jsonwipe_parse - parse with a scratch buffer that never moves, and wipe it */
json_object *jsonwipe_parse(const char *text, size_t len)
{
    json_tokener *tok;
    json_object *obj = NULL;
    struct printbuf *pb;

    if (text == NULL || len == 0 || len > INT_MAX / 2 || memchr(text, '\0', len) != NULL)
        return NULL;
    tok = json_tokener_new();
    if (tok == NULL)
        return NULL;
    /*
     * The tokener's scratch buffer is published in json_tokener.h but meant
     * to be private: no API reaches it, and it is where json-c collects each
     * string. No string can be longer than the text, so growing it to that
     * size now means it is never reallocated, and wiping it at the end
     * leaves nothing behind.
     */
    pb = tok->pb;
    if (pb != NULL && printbuf_memset(pb, 0, 0, (int)len + 1) == 0) {
        printbuf_reset(pb);
        obj = json_tokener_parse_ex(tok, text, (int)len);
        if (obj != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
                            !only_space(text, json_tokener_get_parse_end(tok), len))) {
            jsonwipe_put(obj);
            obj = NULL;
        }
    }
    if (pb != NULL && pb->buf != NULL && pb->size > 0)
        explicit_bzero(pb->buf, (size_t)pb->size);
    json_tokener_free(tok);
    return obj;
}
