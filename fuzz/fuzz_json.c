/* libFuzzer harness: the JSON reader (jansson's json_loadb and the node array
 * impa-listen walks) on arbitrary bytes, then the writer re-encoding the tree. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "publish/json.h"

static void emit(impa_json_t *j, const impa_json_node_t *n, int i, const char *key)
{
    switch (n[i].type) {
    case IMPA_JSON_OBJ:
    case IMPA_JSON_ARR:
        if (n[i].type == IMPA_JSON_OBJ)
            impa_json_obj_begin(j, key);
        else
            impa_json_arr_begin(j, key);
        for (int c = n[i].first_child; c >= 0; c = n[c].next)
            emit(j, n, c, n[i].type == IMPA_JSON_OBJ ? n[c].key : NULL);
        if (n[i].type == IMPA_JSON_OBJ)
            impa_json_obj_end(j);
        else
            impa_json_arr_end(j);
        break;
    case IMPA_JSON_STR: impa_json_str(j, key, n[i].str); break;
    case IMPA_JSON_NUM: impa_json_num(j, key, n[i].num); break;
    case IMPA_JSON_BOOL: impa_json_bool(j, key, n[i].num != 0); break;
    default: impa_json_null(j, key);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static impa_json_node_t nodes[4096];
    int n = impa_json_parse((const char *)data, size, nodes, 4096);
    if (n <= 0)
        return 0;
    char buf[64];
    (void)impa_json_get_str(nodes, 0, "type", buf, sizeof buf, "");
    (void)impa_json_get_num(nodes, 0, "seq", 0);
    impa_json_t j;
    impa_json_init(&j);
    emit(&j, nodes, 0, NULL);
    (void)impa_json_finish(&j);
    impa_json_deinit(&j);
    impa_json_parse_free(nodes);
    return 0;
}
