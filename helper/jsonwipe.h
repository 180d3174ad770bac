/*
 * jsonwipe.h - parse JSON that holds secrets, and leave no copy behind
 *
 * SYNOPSIS
 *     json_object *obj = jsonwipe_parse(text, len);
 *     ...
 *     jsonwipe_put(obj);
 *
 * DESCRIPTION
 *     json-c copies every string it parses twice: into the tokener's
 *     scratch buffer (a printbuf that grows by realloc and is freed
 *     without being cleared) and into the string object. jsonwipe_parse()
 *     sizes the scratch buffer for the whole text before parsing, so it
 *     never moves (a realloc would leave an old copy in freed memory), and
 *     wipes it before it is freed. jsonwipe_put() zeroes every string
 *     value of a tree (json_object_get_string points into the object's
 *     own storage) before releasing it.
 *
 *     What this cannot reach: the caller's text (wipe it yourself), and
 *     json-c's serializer (json_object_to_json_string*), whose printbuf
 *     grows by realloc inside the object: text built that way may leave
 *     copies in freed memory. Object keys are not wiped.
 *
 * DIAGNOSTICS
 *     jsonwipe_parse() returns NULL when the text is not one JSON value
 *     followed only by whitespace, holds a NUL, or memory runs out.
 */
#ifndef OAUTH2_JSONWIPE_H
#define OAUTH2_JSONWIPE_H

#include <json-c/json.h>
#include <stddef.h>

/* jsonwipe_parse - one JSON value from text[0..len), json-c's copies wiped; NULL when bad */
json_object *jsonwipe_parse(const char *text, size_t len);

/* jsonwipe_clear - zero every string value in obj and below */
void jsonwipe_clear(json_object *obj);

/* jsonwipe_put - jsonwipe_clear, then json_object_put; NULL is fine */
void jsonwipe_put(json_object *obj);

#endif
