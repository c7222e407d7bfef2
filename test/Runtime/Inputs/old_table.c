/* A model library as an older modelc built it: ABI version 1, but its
 * function table ends before trim (appended later within version 1).
 * Programs that call trim must refuse it rather than read past its end. */
#include "modelc/modelc.h"

#include <stddef.h>
#include <string.h>

const modelc_api *modelc_model_entry(void) {
  static modelc_api api;
  memset(&api, 0, sizeof api);
  api.abi_version = MODELC_ABI_VERSION;
  api.size = (uint32_t)offsetof(modelc_api, trim);
  api.name = "Old";
  api.prefix = "Old";
  api.desc_json = "{}";
  return &api;
}
