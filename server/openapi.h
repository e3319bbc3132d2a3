/* openapi.h -- the API's OpenAPI description (api/openapi.yaml) as JSON:
 * a YAML-to-jansson converter the daemon uses once at start-up to serve
 * GET /openapi.json (the tests that check the description use it too).
 * It lives in server/ because only the daemon needs it: nothing else links
 * libyaml. */
#ifndef GRADD_OPENAPI_H
#define GRADD_OPENAPI_H

#include <jansson.h>
#include <stddef.h>

/* Convert the YAML document yaml_text[0..len) (need not be terminated) to
 * a new JSON value, or return NULL with a message naming the line and
 * column in err (errcap bytes, always terminated when errcap > 0; err may
 * be NULL).
 *
 * Mappings become objects (keys are the key scalars' text; a repeated key
 * is an error), sequences arrays. Quoted and block scalars are strings.
 * Plain scalars follow the YAML 1.2 core schema: null, ~ and the empty
 * scalar are null; true/True/TRUE and false/False/FALSE are booleans;
 * [-+]?[0-9]+, 0o[0-7]+ and 0x[0-9a-fA-F]+ are integers (a decimal beyond
 * int64 becomes a real); [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?
 * is a real; anything else is a string. Explicit tags !!str, !!int,
 * !!float, !!bool, !!null, !!map, !!seq and the non-specific ! are
 * honoured.
 *
 * Errors: malformed YAML, no document or more than one, anchors and
 * aliases, other tags, keys that are not scalars or hold a NUL, .inf and
 * .nan (JSON has no such numbers), and out of memory. Nesting costs heap,
 * not stack: the converter keeps its own stack of open containers.
 * Numbers are read with strtod, so call it in the "C" locale (the default
 * of a program that never calls setlocale). */
json_t *srv_openapi_json(const char *yaml_text, size_t len, char *err, size_t errcap);

/* The file at path (YAML or JSON) read and converted by srv_openapi_json,
 * or NULL with err set ("cannot read it", or where it does not parse). */
json_t *srv_openapi_load(const char *path, char *err, size_t errcap);

#endif
