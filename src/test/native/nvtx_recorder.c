/*
 * A stand-in for Nsight Systems in tests: an NVTX injection library, attached the way nsys attaches
 * (NVTX_INJECTION64_PATH names it; NVTX calls InitializeInjectionNvtx2). It appends one line per range
 * push ("push NAME") and pop ("pop") to the file named by NVTX_RECORD_FILE.
 */
#include <stdio.h>
#include <stdlib.h>
#include "nvtx3/nvToolsExt.h"

static FILE* out;

static int record_push(const char* message) {
    fprintf(out, "push %s\n", message);
    fflush(out);
    return 0;
}

static int record_pop(void) {
    fprintf(out, "pop\n");
    fflush(out);
    return 0;
}

int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t getExportTable) {
    const char* path = getenv("NVTX_RECORD_FILE");
    if (path == NULL || (out = fopen(path, "w")) == NULL) return 0;
    const NvtxExportTableCallbacks* callbacks =
        (const NvtxExportTableCallbacks*) getExportTable(NVTX_ETID_CALLBACKS);
    NvtxFunctionTable core = NULL;
    unsigned int size = 0;
    if (callbacks == NULL || !callbacks->GetModuleFunctionTable(NVTX_CB_MODULE_CORE, &core, &size)) return 0;
    if (size <= NVTX_CBID_CORE_RangePop) return 0;
    *core[NVTX_CBID_CORE_RangePushA] = (NvtxFunctionPointer) record_push;
    *core[NVTX_CBID_CORE_RangePop] = (NvtxFunctionPointer) record_pop;
    return 1;
}
