/*
 * tokenlife.h - the least lifetime an access token must have left to be used
 *
 * While its refreshes fail, the daemon serves a still-valid token only
 * while it has more than this left (helper/cache.c; in normal operation it
 * hands out tokens with min(refresh_ahead, lifetime / 2) left, by default
 * 600 s, so a refresh_ahead under 30 s or tokens shorter than a minute go
 * lower), and the plugin uses no token it kept
 * from an earlier login with this little left when the daemon cannot be
 * reached (plugin/plugin.c). One definition, so that the plugin can never
 * be more lenient than the daemon: a token this close to its expiry may
 * expire between the SMTP AUTH and the server checking it.
 */
#ifndef OAUTH2_TOKENLIFE_H
#define OAUTH2_TOKENLIFE_H

/* Seconds: a token is used only while it has MORE than this left. */
#define OAUTH2_TOKEN_MIN_REMAINING_S 30

#endif
